"""Parsing a Terraform state (format version 4) into typed records.

:func:`parse_state` is the only place that reads a file. It checks the shape of
the state, skips what is not infrastructure (``data`` resources, deposed
objects) and extracts from every managed resource instance exactly the facts the
graph needs. The rest of the attributes is never kept: a state holds secrets
(database passwords, private keys) that must not end up in the CMDB.

What is extracted (see :class:`ResourceInstance`):

* the address parts (module path, mode, type, name, ``index_key``);
* cloud identity: ``attributes.id``, ``attributes.arn`` and, where the id has
  the shape of a cloud provider's resource id (AWS ``i-…``, ``vpc-…``,
  ``subnet-…``, ``sg-…``; RDS ``db-…``; Azure ``/subscriptions/…``; GCP
  ``projects/…``), that id as ``cloudResourceId``;
* ``fqdn`` (instances: ``private_dns``; databases: ``address`` or the host of
  ``endpoint``; load balancers: ``dns_name``) and, for ``aws_instance``,
  ``ipAddress`` = ``private_ip``;
* tags (``tags_all`` when present, which includes provider default tags, else
  ``tags``), region, zone, account and a few class-specific facts whose
  attribute names are shared with the ``aws`` importer;
* ``dependencies`` (and the legacy ``depends_on``) and every attribute value
  that has the shape of a cloud resource id or ARN (for implicit edges).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from graphsvc.errors import ParseError
from importers._json import (
    is_object,
    load_json,
    opt_str,
    require_list,
    require_object,
    require_str,
)

__all__ = [
    "ResourceInstance",
    "Scalar",
    "StateNote",
    "TerraformState",
    "is_cloud_id",
    "parse_state",
]

Scalar = str | int | float | bool
"""A JSON scalar kept as a fact."""

SUPPORTED_VERSION = 4

_AWS_PREFIXES = (
    "i|vpc|subnet|sg|sgr|igw|eigw|nat|eipalloc|eipassoc|rtb|rtbassoc|acl|aclassoc|eni|eni-attach"
    "|vol|snap|ami|pcx|tgw|tgw-attach|tgw-rtb|vpce|vpce-svc|dopt|cgw|vgw|vpn|lt|fs|fsmt|fsap|pl"
    "|key|h|ipam|ipam-pool|vpc-cidr-assoc|subnet-cidr-assoc"
)
_AWS_SHORT_ID = re.compile(rf"^(?:{_AWS_PREFIXES})-(?:[0-9a-f]{{8}}|[0-9a-f]{{17}})$")
_RDS_RESOURCE_ID = re.compile(r"^(?:db|cluster)-[0-9A-Z]{20,}$")
_AZURE_ID = re.compile(r"^/subscriptions/[0-9A-Fa-f-]{36}/", re.IGNORECASE)
_GCP_ID = re.compile(r"^projects/[^/\s]+/[^\s]+$")
_ARN = re.compile(r"^arn:[a-z0-9-]+:[a-z0-9-]+:([a-z0-9-]*):([^:]*):\S")
_AZ_REGION = re.compile(r"^([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+)[a-z]$")
_ACCOUNT = re.compile(r"^\d{12}$")
_PROVIDER_SOURCE = re.compile(r'provider\["([^"]+)"\]')
_PROVIDER_LEGACY = re.compile(r"(?:^|\.)provider\.([A-Za-z0-9_-]+)")
_MODULE_KEY = re.compile(r'\[(?:"(?:[^"\\]|\\.)*"|[^\]]*)\]')

# Top-level attributes never scanned for references: the resource's own identity,
# free text, and computed back-references (a VPC's default security group depends
# on the VPC, not the other way round).
_NOT_REFERENCES = frozenset(
    {
        "id",
        "arn",
        "tags",
        "tags_all",
        "owner_id",
        "default_security_group_id",
        "default_network_acl_id",
        "default_route_table_id",
        "main_route_table_id",
        "description",
        "user_data",
        "policy",
    }
)

# Class-specific facts: (state attribute names, first present wins) -> graph attribute.
# The graph attribute names are the ones the ``aws`` importer uses for the same fact.
_FACTS: Mapping[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "aws_instance": ((("instance_type",), "instanceType"), (("ami",), "imageId")),
    "aws_vpc": ((("cidr_block",), "cidrBlock"),),
    "aws_subnet": ((("cidr_block",), "cidrBlock"),),
    "aws_lb": ((("load_balancer_type",), "loadBalancerType"),),
    "aws_alb": ((("load_balancer_type",), "loadBalancerType"),),
    "aws_db_instance": (
        (("engine",), "engine"),
        (("engine_version_actual", "engine_version"), "engineVersion"),
        (("instance_class",), "instanceClass"),
        (("multi_az",), "multiAz"),
        (("port",), "port"),
    ),
    "aws_lambda_function": ((("runtime",), "runtime"), (("memory_size",), "memorySize")),
}

_FQDN_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    "aws_instance": ("private_dns",),
    "aws_db_instance": ("address", "endpoint"),
    "aws_rds_cluster": ("endpoint",),
    "aws_rds_cluster_instance": ("endpoint",),
    "aws_lb": ("dns_name",),
    "aws_alb": ("dns_name",),
    "aws_elb": ("dns_name",),
}

# ``identifier`` before ``name``: an aws_db_instance's ``name`` is its database name.
_NAME_ATTRIBUTES = ("identifier", "function_name", "name", "bucket")


def is_cloud_id(value: str) -> bool:
    """Return whether ``value`` has the shape of a cloud provider's resource id.

    AWS short ids (``i-0abc…``, ``vpc-…``, ``subnet-…``, ``sg-…``; 8 or 17 hex
    digits), RDS resource ids (``db-`` + 20 or more upper-case letters and
    digits), Azure resource ids (``/subscriptions/<uuid>/…``) and GCP resource
    paths (``projects/…``). ARNs are not included: they are ``awsArn``.
    """
    return bool(
        _AWS_SHORT_ID.match(value)
        or _RDS_RESOURCE_ID.match(value)
        or _AZURE_ID.match(value)
        or _GCP_ID.match(value)
    )


def is_arn(value: str) -> bool:
    """Return whether ``value`` is an Amazon Resource Name."""
    return _ARN.match(value) is not None


@dataclass(frozen=True, slots=True)
class StateNote:
    """Something skipped while parsing (reported as an import warning).

    Attributes:
        element: Where in the file.
        message: What was skipped and why.
    """

    element: str
    message: str


@dataclass(frozen=True, slots=True)
class ResourceInstance:
    """One instance of a managed resource, reduced to what the graph needs.

    Attributes:
        element: Where it is in the file (``resources[3].instances[0]``).
        module: The module path as written in the state (``module.a[0].module.b``),
            ``""`` for the root module.
        type: The resource type (``aws_instance``).
        name: The resource name in the configuration.
        index_key: ``count`` index or ``for_each`` key; ``None`` for a single instance.
        provider: The provider's type name (``aws``, ``azurerm``).
        resource_id: ``attributes.id``.
        arn: ``attributes.arn`` (or the id when the id is an ARN).
        cloud_resource_id: The provider's resource id when it has a recognised
            shape (see :func:`is_cloud_id`); for ``aws_db_instance`` the RDS
            ``resource_id`` (``db-…``).
        fqdn: Host name that identifies it (see the module docstring).
        ip_address: Private IP address (``aws_instance`` only).
        display_name: ``Name`` tag, else a name-like attribute, else ``None``.
        tags: Tags, sorted by key.
        facts: Further graph attributes (region, availabilityZone, accountId and
            class-specific facts), sorted by name.
        dependencies: Addresses from ``dependencies`` / ``depends_on``, in file order.
        references: ``(attribute, value)`` for every value of another attribute
            that looks like a cloud resource id or ARN.
        tainted: Terraform marked the object tainted (it will be replaced).
    """

    element: str
    module: str
    type: str
    name: str
    index_key: str | int | None
    provider: str
    resource_id: str | None
    arn: str | None
    cloud_resource_id: str | None
    fqdn: str | None
    ip_address: str | None
    display_name: str | None
    tags: tuple[tuple[str, str], ...]
    facts: tuple[tuple[str, Scalar], ...]
    dependencies: tuple[str, ...]
    references: tuple[tuple[str, str], ...]
    tainted: bool

    @property
    def resource_address(self) -> str:
        """The resource's address with module instance keys (``module.a[0].aws_x.y``)."""
        prefix = f"{self.module}." if self.module else ""
        return f"{prefix}{self.type}.{self.name}"

    @property
    def config_address(self) -> str:
        """The address of the resource in the configuration (module keys removed).

        This is how ``dependencies`` name resources: every instance of the
        resource, in every instance of its modules.
        """
        module = _MODULE_KEY.sub("", self.module)
        prefix = f"{module}." if module else ""
        return f"{prefix}{self.type}.{self.name}"

    @property
    def address(self) -> str:
        """The full instance address (``module.a.aws_x.y[0]``, ``aws_x.y["k"]``)."""
        if self.index_key is None:
            return self.resource_address
        if isinstance(self.index_key, int):
            return f"{self.resource_address}[{self.index_key}]"
        return f"{self.resource_address}[{orjson.dumps(self.index_key).decode()}]"


@dataclass(frozen=True, slots=True)
class TerraformState:
    """A parsed state file.

    Attributes:
        terraform_version: The Terraform version that wrote it.
        lineage: The state's lineage (stable for the life of the state).
        serial: The state's serial number.
        instances: Managed resource instances, in file order.
        notes: What was skipped.
    """

    terraform_version: str | None
    lineage: str | None
    serial: int | None
    instances: tuple[ResourceInstance, ...]
    notes: tuple[StateNote, ...]


def parse_state(path: Path) -> TerraformState:
    """Read and parse one state file.

    Raises:
        ParseError: when the file is not JSON, not a Terraform state, not of
            format version 4, or a resource or instance has the wrong shape.
    """
    top = require_object(load_json(path), path, "$")
    version = top.get("version")
    if version is None:
        raise ParseError(str(path), "version", "not a Terraform state: no format version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ParseError(str(path), "version", f"format version must be a number, got {version!r}")
    if version != SUPPORTED_VERSION:
        raise ParseError(
            str(path),
            "version",
            f"unsupported state format version {version}; only version 4 "
            "(Terraform 0.12 and later) is supported",
        )
    raw_resources = top.get("resources", [])
    resources = require_list(raw_resources, path, "resources")
    instances: list[ResourceInstance] = []
    notes: list[StateNote] = []
    for r_index, raw in enumerate(resources):
        element = f"resources[{r_index}]"
        resource = require_object(raw, path, element)
        mode = require_str(resource, "mode", path, element)
        if mode not in ("managed", "data"):
            raise ParseError(str(path), f"{element}.mode", f"unknown mode {mode!r}")
        rtype = require_str(resource, "type", path, element)
        name = require_str(resource, "name", path, element)
        module = resource.get("module", "")
        if not isinstance(module, str):
            raise ParseError(str(path), f"{element}.module", "expected a string")
        provider = _provider_name(resource.get("provider"))
        raw_instances = require_list(resource.get("instances"), path, f"{element}.instances")
        if mode == "data":
            continue
        for i_index, raw_instance in enumerate(raw_instances):
            i_element = f"{element}.instances[{i_index}]"
            obj = require_object(raw_instance, path, i_element)
            if obj.get("deposed") is not None:
                deposed = obj.get("deposed")
                message = f"skipped deposed object {deposed!s} (being destroyed)"
                notes.append(StateNote(i_element, message))
                continue
            instances.append(
                _instance(
                    path, i_element, obj, module=module, rtype=rtype, name=name, provider=provider
                )
            )
    return TerraformState(
        terraform_version=opt_str(top.get("terraform_version")),
        lineage=opt_str(top.get("lineage")),
        serial=_opt_int(top.get("serial")),
        instances=tuple(instances),
        notes=tuple(notes),
    )


def _instance(
    path: Path,
    element: str,
    obj: Mapping[str, object],
    *,
    module: str,
    rtype: str,
    name: str,
    provider: str,
) -> ResourceInstance:
    attributes = _attributes(path, element, obj)
    index_key = obj.get("index_key")
    if isinstance(index_key, bool) or not isinstance(index_key, int | str | None):
        raise ParseError(str(path), f"{element}.index_key", "expected a number or a string")
    dependencies = _dependencies(path, element, obj)
    resource_id = opt_str(attributes.get("id"))
    arn = _arn(attributes, resource_id)
    tags = _tags(attributes)
    return ResourceInstance(
        element=element,
        module=module,
        type=rtype,
        name=name,
        index_key=index_key,
        provider=provider,
        resource_id=resource_id,
        arn=arn,
        cloud_resource_id=_cloud_resource_id(rtype, attributes, resource_id),
        fqdn=_fqdn(rtype, attributes),
        ip_address=opt_str(attributes.get("private_ip")) if rtype == "aws_instance" else None,
        display_name=_display_name(attributes, tags),
        tags=tags,
        facts=_facts(rtype, attributes, arn),
        dependencies=dependencies,
        references=_references(attributes, {v for v in (resource_id, arn) if v}),
        tainted=obj.get("status") == "tainted",
    )


def _attributes(path: Path, element: str, obj: Mapping[str, object]) -> Mapping[str, object]:
    raw = obj.get("attributes")
    if raw is not None:
        return require_object(raw, path, f"{element}.attributes")
    flat = obj.get("attributes_flat")
    if flat is not None:
        return require_object(flat, path, f"{element}.attributes_flat")
    raise ParseError(str(path), element, "instance has neither attributes nor attributes_flat")


def _dependencies(path: Path, element: str, obj: Mapping[str, object]) -> tuple[str, ...]:
    out: list[str] = []
    for key in ("dependencies", "depends_on"):
        raw = obj.get(key)
        if raw is None:
            continue
        for d_index, dep in enumerate(require_list(raw, path, f"{element}.{key}")):
            if not isinstance(dep, str) or not dep.strip():
                raise ParseError(
                    str(path), f"{element}.{key}[{d_index}]", "expected a resource address"
                )
            if dep not in out:
                out.append(dep)
    return tuple(out)


def _provider_name(raw: object) -> str:
    """``provider.aws``, ``provider["registry.terraform.io/hashicorp/aws"].west`` -> ``aws``."""
    if not isinstance(raw, str):
        return ""
    source = _PROVIDER_SOURCE.search(raw)
    if source:
        return source.group(1).rsplit("/", 1)[-1]
    legacy = _PROVIDER_LEGACY.search(raw)
    return legacy.group(1) if legacy else raw


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _arn(attributes: Mapping[str, object], resource_id: str | None) -> str | None:
    arn = opt_str(attributes.get("arn"))
    if arn and is_arn(arn):
        return arn
    if resource_id and is_arn(resource_id):
        return resource_id
    return None


def _cloud_resource_id(
    rtype: str, attributes: Mapping[str, object], resource_id: str | None
) -> str | None:
    if rtype in ("aws_db_instance", "aws_rds_cluster"):
        rds = opt_str(attributes.get("resource_id")) or opt_str(
            attributes.get("cluster_resource_id")
        )
        if rds and _RDS_RESOURCE_ID.match(rds):
            return rds
    if resource_id and is_cloud_id(resource_id):
        return resource_id
    return None


def _fqdn(rtype: str, attributes: Mapping[str, object]) -> str | None:
    for key in _FQDN_ATTRIBUTES.get(rtype, ()):
        value = opt_str(attributes.get(key))
        if value:
            host = value.rsplit(":", 1)[0] if key == "endpoint" and ":" in value else value
            return host.strip()
    return None


def _tags(attributes: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    for key in ("tags_all", "tags"):
        raw = attributes.get(key)
        if is_object(raw) and raw:
            return tuple(sorted((k, v) for k, v in raw.items() if isinstance(v, str)))
    return ()


def _display_name(
    attributes: Mapping[str, object], tags: tuple[tuple[str, str], ...]
) -> str | None:
    for key, value in tags:
        if key == "Name" and value.strip():
            return value
    for key in _NAME_ATTRIBUTES:
        named = opt_str(attributes.get(key))
        if named:
            return named
    return None


def _facts(
    rtype: str, attributes: Mapping[str, object], arn: str | None
) -> tuple[tuple[str, Scalar], ...]:
    facts: dict[str, Scalar] = {}
    arn_match = _ARN.match(arn) if arn else None
    zone = opt_str(attributes.get("availability_zone")) or opt_str(attributes.get("zone"))
    region = opt_str(attributes.get("region"))
    if region is None and arn_match and arn_match.group(1):
        region = arn_match.group(1)
    if region is None and zone:
        az = _AZ_REGION.match(zone)
        region = az.group(1) if az else None
    region = region or opt_str(attributes.get("location"))
    if region:
        facts["region"] = region
    if zone:
        facts["availabilityZone"] = zone
    account = arn_match.group(2) if arn_match and _ACCOUNT.match(arn_match.group(2)) else None
    owner = opt_str(attributes.get("owner_id"))
    if account is None and owner and _ACCOUNT.match(owner):
        account = owner
    if account:
        facts["accountId"] = account
    for sources, target in _FACTS.get(rtype, ()):
        for source in sources:
            value = attributes.get(source)
            if isinstance(value, str | int | float | bool) and value != "":
                facts[target] = value
                break
    if rtype in ("aws_lb", "aws_alb") and isinstance(attributes.get("internal"), bool):
        facts["scheme"] = "internal" if attributes.get("internal") else "internet-facing"
    return tuple(sorted(facts.items()))


def _references(attributes: Mapping[str, object], own: set[str]) -> tuple[tuple[str, str], ...]:
    found: set[tuple[str, str]] = set()
    for key, value in attributes.items():
        if key in _NOT_REFERENCES:
            continue
        for text in _strings(value):
            if text not in own and (is_cloud_id(text) or is_arn(text)):
                found.add((key, text))
    return tuple(sorted(found))


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif is_object(value):
        for item in value.values():
            yield from _strings(item)
