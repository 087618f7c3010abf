"""Reading AWS files: AWS Config configuration items and describe-* responses.

The format is detected from the content, never from the file name:

* **AWS Config configuration items**: one item (an object with
  ``resourceType``), an array of items (the Lambda sample), an object with
  ``configurationItems`` (a configuration snapshot, ``get-resource-config-history``)
  or with ``configurationItem`` (a change notification). ``configuration`` may be
  an object or a JSON-encoded string (as the Config API returns it).
* **describe-* responses** (AWS CLI / boto3 JSON): ``Reservations``
  (``ec2 describe-instances``), ``Vpcs``, ``Subnets``, ``SecurityGroups``,
  ``LoadBalancers`` (``elbv2 describe-load-balancers``), ``DBInstances``
  (``rds describe-db-instances``) and ``Functions`` (``lambda list-functions``).

Anything else is a :class:`~graphsvc.errors.ParseError` naming the file and the
element. Config items of other resource types, deleted items and terminated
instances are skipped with a note (a warning of the run). Config configuration
blocks use the same field names as the describe responses in lower camel case,
so both are read by one case-insensitive extraction per resource type.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

import orjson

from graphsvc.errors import ParseError
from importers._json import (
    field,
    is_object,
    load_json,
    objects,
    opt_str,
    path_field,
    require_list,
    require_object,
    require_str,
    strings,
)
from importers.aws.records import (
    CI_CLASSES,
    EC2_INSTANCE,
    ELBV2_LOAD_BALANCER,
    LAMBDA_FUNCTION,
    RDS_DB_INSTANCE,
    SECURITY_GROUP,
    SUBNET,
    VPC,
    AwsFile,
    AwsLink,
    AwsNote,
    AwsResource,
    Scalar,
    is_cloud_id,
)

__all__ = ["parse_file"]

_DELETED_STATUSES = frozenset({"ResourceDeleted", "ResourceDeletedNotRecorded"})
_GONE_INSTANCE_STATES = frozenset({"terminated", "shutting-down"})
_NOT_A_ZONE = frozenset({"Multiple Availability Zones", "Not Applicable", "Regional"})
_ARN = re.compile(r"^arn:[a-z0-9-]+:[a-z0-9-]+:([a-z0-9-]*):([^:]*):")
_AZ_REGION = re.compile(r"^([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+)[a-z]$")
_ACCOUNT = re.compile(r"^\d{12}$")
_SUBNETS_GROUP = "subnets"


@dataclass(slots=True)
class _Specific:
    """What the type-specific extraction finds in a resource body."""

    name: str | None = None
    ip_address: str | None = None
    fqdn: str | None = None
    zone: str | None = None
    facts: dict[str, Scalar] = dc_field(default_factory=dict)
    links: list[AwsLink] = dc_field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Context:
    """Facts about a resource that the envelope (Config item, reservation) gives."""

    arn: str | None = None
    account: str | None = None
    region: str | None = None
    zone: str | None = None
    name: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


def parse_file(path: Path) -> AwsFile:
    """Read one AWS file (see the module docstring for the formats).

    Raises:
        ParseError: when the file is not JSON, has no recognised shape, or a
            resource lacks its id; the element names the place in the file.
    """
    document = load_json(path)
    if isinstance(document, list):
        return _config_items(path, [(f"[{i}]", item) for i, item in enumerate(document)])
    top = require_object(document, path, "$")
    if "configurationItems" in top:
        items = require_list(top["configurationItems"], path, "configurationItems")
        return _config_items(
            path, [(f"configurationItems[{i}]", item) for i, item in enumerate(items)]
        )
    if "configurationItem" in top:
        return _config_items(path, [("configurationItem", top["configurationItem"])])
    if "resourceType" in top:
        return _config_items(path, [("$", top)])
    for key, (name, reader) in _DESCRIBE.items():
        if key in top:
            rows = require_list(top[key], path, key)
            resources: list[AwsResource] = []
            notes: list[AwsNote] = []
            reader(path, key, rows, resources, notes)
            return AwsFile(name, tuple(resources), tuple(notes))
    keys = ", ".join(sorted(top)[:8]) or "none"
    raise ParseError(
        str(path),
        "$",
        "not an AWS Config configuration item nor a supported describe response "
        f"(Reservations, Vpcs, Subnets, SecurityGroups, LoadBalancers, DBInstances, Functions); "
        f"top-level keys: {keys}",
    )


# ------------------------------------------------------------------ AWS Config


def _config_items(path: Path, items: Sequence[tuple[str, object]]) -> AwsFile:
    """Read Config items, each given with its element (``[0]``, ``$`` for a bare item)."""
    resources: list[AwsResource] = []
    notes: list[AwsNote] = []
    unmapped: dict[str, list[str]] = {}  # resource type -> elements of its items
    for element, raw in items:
        _config_item(path, element, raw, resources, notes, unmapped)
    # one note per type not imported: a configuration snapshot holds thousands of items
    for rtype, elements in unmapped.items():
        count = f"{len(elements)} {rtype} items" if len(elements) > 1 else f"a {rtype} item"
        notes.append(AwsNote(elements[0], f"skipped {count}: resource type not imported"))
    return AwsFile("config", tuple(resources), tuple(notes))


def _config_item(
    path: Path,
    element: str,
    raw: object,
    resources: list[AwsResource],
    notes: list[AwsNote],
    unmapped: dict[str, list[str]],
) -> None:
    item = require_object(raw, path, element)
    if "resourceType" not in item:
        raise ParseError(
            str(path), element, "not an AWS Config configuration item: no resourceType"
        )
    rtype = require_str(item, "resourceType", path, element)
    rid = require_str(item, "resourceId", path, element)
    status = opt_str(item.get("configurationItemStatus"))
    if status in _DELETED_STATUSES:
        notes.append(AwsNote(element, f"skipped {rtype} {rid}: {status}"))
        return
    if rtype not in CI_CLASSES:
        unmapped.setdefault(rtype, []).append(element)
        return
    body = _configuration(path, element, item.get("configuration"))
    tags = _tag_map(item.get("tags")) or _tag_list(field(body, "tags"))
    zone = opt_str(item.get("availabilityZone"))
    context = _Context(
        arn=opt_str(item.get("arn")),
        account=opt_str(item.get("accountId")),
        region=opt_str(item.get("awsRegion")),
        zone=zone if zone not in _NOT_A_ZONE else None,
        name=opt_str(item.get("resourceName")),
        tags=tags,
    )
    relationships = require_list(item.get("relationships") or [], path, f"{element}.relationships")
    links = [
        _config_link(path, f"{element}.relationships[{index}]", rtype, relation)
        for index, relation in enumerate(relationships)
    ]
    resource = _resource(element, rtype, rid, body, context, links)
    if resource is None:
        notes.append(AwsNote(element, f"skipped {rtype} {rid}: terminated"))
    else:
        resources.append(resource)


def _configuration(path: Path, element: str, raw: object) -> Mapping[str, object]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError(
                str(path), f"{element}.configuration", f"not a JSON document: {exc.msg}"
            ) from None
    return require_object(raw, path, f"{element}.configuration")


def _config_link(path: Path, element: str, rtype: str, raw: object) -> AwsLink:
    relation = require_object(raw, path, element)
    target_type = require_str(relation, "resourceType", path, element)
    name = (opt_str(relation.get("relationshipName")) or "").strip()
    target_id = opt_str(relation.get("resourceId"))
    group = (
        _SUBNETS_GROUP
        if target_type == SUBNET and rtype in (LAMBDA_FUNCTION, ELBV2_LOAD_BALANCER)
        else None
    )
    return AwsLink(target_type, target_id, name, "auto", group)


# ---------------------------------------------------------------- describe-*


def _instances(
    path: Path, key: str, rows: Sequence[object], out: list[AwsResource], notes: list[AwsNote]
) -> None:
    for r_index, raw in enumerate(rows):
        r_element = f"{key}[{r_index}]"
        reservation = require_object(raw, path, r_element)
        owner = opt_str(reservation.get("OwnerId"))
        instances = require_list(reservation.get("Instances"), path, f"{r_element}.Instances")
        for i_index, raw_instance in enumerate(instances):
            element = f"{r_element}.Instances[{i_index}]"
            body = require_object(raw_instance, path, element)
            rid = require_str(body, "InstanceId", path, element)
            context = _Context(account=owner, tags=_tag_list(body.get("Tags")))
            resource = _resource(element, EC2_INSTANCE, rid, body, context, [])
            if resource is None:
                notes.append(AwsNote(element, f"skipped {EC2_INSTANCE} {rid}: terminated"))
            else:
                out.append(resource)


def _simple(
    rtype: str, id_field: str, arn_field: str | None = None
) -> Callable[[Path, str, Sequence[object], list[AwsResource], list[AwsNote]], None]:
    def read(
        path: Path, key: str, rows: Sequence[object], out: list[AwsResource], notes: list[AwsNote]
    ) -> None:
        for index, raw in enumerate(rows):
            element = f"{key}[{index}]"
            body = require_object(raw, path, element)
            rid = require_str(body, id_field, path, element)
            tags = _tag_list(body.get("Tags")) or _tag_list(body.get("TagList"))
            arn = opt_str(body.get(arn_field)) if arn_field else None
            context = _Context(arn=arn, account=opt_str(body.get("OwnerId")), tags=tags)
            resource = _resource(element, rtype, rid, body, context, [])
            if resource is None:  # pragma: no cover - only instances terminate
                notes.append(AwsNote(element, f"skipped {rtype} {rid}"))
            else:
                out.append(resource)

    return read


def _db_instances(
    path: Path, key: str, rows: Sequence[object], out: list[AwsResource], notes: list[AwsNote]
) -> None:
    for index, raw in enumerate(rows):
        element = f"{key}[{index}]"
        body = require_object(raw, path, element)
        rid = opt_str(body.get("DbiResourceId"))
        if rid is None:
            rid = require_str(body, "DBInstanceIdentifier", path, element)
            notes.append(
                AwsNote(
                    element,
                    f"{rid} has no DbiResourceId; keyed by DBInstanceIdentifier, "
                    "which AWS Config items of the same instance do not use",
                )
            )
        arn = opt_str(body.get("DBInstanceArn"))
        context = _Context(arn=arn, tags=_tag_list(body.get("TagList")))
        resource = _resource(element, RDS_DB_INSTANCE, rid, body, context, [])
        if resource is not None:
            out.append(resource)


_Reader = Callable[[Path, str, Sequence[object], list[AwsResource], list[AwsNote]], None]

_DESCRIBE: Mapping[str, tuple[str, _Reader]] = {
    "Reservations": ("ec2-describe-instances", _instances),
    "Vpcs": ("ec2-describe-vpcs", _simple(VPC, "VpcId")),
    "Subnets": ("ec2-describe-subnets", _simple(SUBNET, "SubnetId", "SubnetArn")),
    "SecurityGroups": (
        "ec2-describe-security-groups",
        _simple(SECURITY_GROUP, "GroupId", "SecurityGroupArn"),
    ),
    "LoadBalancers": (
        "elbv2-describe-load-balancers",
        _simple(ELBV2_LOAD_BALANCER, "LoadBalancerArn", "LoadBalancerArn"),
    ),
    "DBInstances": ("rds-describe-db-instances", _db_instances),
    "Functions": ("lambda-list-functions", _simple(LAMBDA_FUNCTION, "FunctionName", "FunctionArn")),
}


# ------------------------------------------------------------- one resource


def _resource(
    element: str,
    rtype: str,
    rid: str,
    body: Mapping[str, object],
    context: _Context,
    config_links: list[AwsLink],
) -> AwsResource | None:
    """Build the record; ``None`` for an instance that is terminated or terminating."""
    specific = _SPECIFIC[rtype](rid, body)
    if rtype == EC2_INSTANCE and specific.facts.get("state") in _GONE_INSTANCE_STATES:
        return None
    arn = context.arn
    arn_match = _ARN.match(arn) if arn else None
    zone = context.zone or specific.zone
    region = context.region or (arn_match.group(1) if arn_match and arn_match.group(1) else None)
    if region is None and zone:
        az = _AZ_REGION.match(zone)
        region = az.group(1) if az else None
    account = context.account
    if account is None and arn_match and _ACCOUNT.match(arn_match.group(2)):
        account = arn_match.group(2)
    facts = dict(specific.facts)
    for fact, value in (("accountId", account), ("region", region), ("availabilityZone", zone)):
        if value:
            facts[fact] = value
    tag_name = dict(context.tags).get("Name")
    name = (tag_name if tag_name and tag_name.strip() else None) or specific.name or context.name
    return AwsResource(
        element=element,
        resource_type=rtype,
        resource_id=rid,
        name=name or rid,
        arn=arn,
        cloud_resource_id=rid if is_cloud_id(rid) else None,
        ip_address=specific.ip_address,
        fqdn=specific.fqdn,
        tags=context.tags,
        facts=tuple(sorted(facts.items())),
        links=tuple(config_links + specific.links),
    )


def _scalar(value: object) -> Scalar | None:
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool | int | float):
        return value
    return None


def _facts(body: Mapping[str, object], *pairs: tuple[str, tuple[str, ...]]) -> dict[str, Scalar]:
    out: dict[str, Scalar] = {}
    for name, fields in pairs:
        value = _scalar(path_field(body, *fields))
        if value is not None:
            out[name] = value
    return out


def _link(
    target_type: str, target_id: object, label: str, group: str | None = None
) -> list[AwsLink]:
    value = opt_str(target_id)
    return [AwsLink(target_type, value, label, "out", group)] if value else []


def _instance(_rid: str, body: Mapping[str, object]) -> _Specific:
    links = _link(SUBNET, field(body, "SubnetId"), "SubnetId") + _link(
        VPC, field(body, "VpcId"), "VpcId"
    )
    for group in objects(field(body, "SecurityGroups")):
        links += _link(SECURITY_GROUP, field(group, "GroupId"), "SecurityGroups")
    return _Specific(
        ip_address=opt_str(field(body, "PrivateIpAddress")),
        fqdn=opt_str(field(body, "PrivateDnsName")),
        zone=opt_str(path_field(body, "Placement", "AvailabilityZone")),
        facts=_facts(
            body,
            ("instanceType", ("InstanceType",)),
            ("imageId", ("ImageId",)),
            ("state", ("State", "Name")),
        ),
        links=links,
    )


def _vpc(_rid: str, body: Mapping[str, object]) -> _Specific:
    return _Specific(
        facts=_facts(body, ("cidrBlock", ("CidrBlock",)), ("isDefault", ("IsDefault",)))
    )


def _subnet(_rid: str, body: Mapping[str, object]) -> _Specific:
    return _Specific(
        zone=opt_str(field(body, "AvailabilityZone")),
        facts=_facts(body, ("cidrBlock", ("CidrBlock",))),
        links=_link(VPC, field(body, "VpcId"), "VpcId"),
    )


def _security_group(rid: str, body: Mapping[str, object]) -> _Specific:
    links = _link(VPC, field(body, "VpcId"), "VpcId")
    for permissions in ("IpPermissions", "IpPermissionsEgress"):
        for permission in objects(field(body, permissions)):
            for pair in objects(field(permission, "UserIdGroupPairs")):
                other = opt_str(field(pair, "GroupId"))
                if other and other != rid:
                    links += _link(SECURITY_GROUP, other, f"{permissions}.UserIdGroupPairs")
    return _Specific(name=opt_str(field(body, "GroupName")), links=links)


def _load_balancer(_rid: str, body: Mapping[str, object]) -> _Specific:
    links = _link(VPC, field(body, "VpcId"), "VpcId")
    for group in strings(field(body, "SecurityGroups")):
        links += _link(SECURITY_GROUP, group, "SecurityGroups")
    for zone in objects(field(body, "AvailabilityZones")):
        links += _link(SUBNET, field(zone, "SubnetId"), "AvailabilityZones", _SUBNETS_GROUP)
    return _Specific(
        name=opt_str(field(body, "LoadBalancerName")),
        fqdn=opt_str(field(body, "DNSName")),
        facts=_facts(
            body,
            ("loadBalancerType", ("Type",)),
            ("scheme", ("Scheme",)),
            ("state", ("State", "Code")),
        ),
        links=links,
    )


def _db_instance(_rid: str, body: Mapping[str, object]) -> _Specific:
    zone = opt_str(field(body, "AvailabilityZone"))
    facts = _facts(
        body,
        ("engine", ("Engine",)),
        ("engineVersion", ("EngineVersion",)),
        ("instanceClass", ("DBInstanceClass",)),
        ("multiAz", ("MultiAZ",)),
        ("port", ("Endpoint", "Port")),
        ("state", ("DBInstanceStatus",)),
    )
    links = _link(VPC, path_field(body, "DBSubnetGroup", "VpcId"), "DBSubnetGroup.VpcId")
    for group in objects(field(body, "VpcSecurityGroups")):
        links += _link(SECURITY_GROUP, field(group, "VpcSecurityGroupId"), "VpcSecurityGroups")
    links += _db_subnets(body, zone, multi_az=facts.get("multiAz") is True)
    return _Specific(
        name=opt_str(field(body, "DBInstanceIdentifier")),
        fqdn=opt_str(path_field(body, "Endpoint", "Address")),
        zone=zone,
        facts=facts,
        links=links,
    )


def _db_subnets(body: Mapping[str, object], zone: str | None, *, multi_az: bool) -> list[AwsLink]:
    """The DB subnet group's subnets the instance needs.

    A single-AZ instance lives in the subnet of its own zone: only that one is a
    dependency. A Multi-AZ instance (or one whose zone matches no subnet) needs
    one of them: all, as one redundancy group.
    """
    subnets = [
        (
            opt_str(field(s, "SubnetIdentifier")),
            opt_str(path_field(s, "SubnetAvailabilityZone", "Name")),
        )
        for s in objects(path_field(body, "DBSubnetGroup", "Subnets"))
    ]
    known = [(sid, az) for sid, az in subnets if sid]
    label = "DBSubnetGroup.Subnets"
    in_zone = [sid for sid, az in known if zone and az == zone]
    if not multi_az and in_zone:
        return [link for sid in in_zone for link in _link(SUBNET, sid, label)]
    return [link for sid, _ in known for link in _link(SUBNET, sid, label, _SUBNETS_GROUP)]


def _lambda(_rid: str, body: Mapping[str, object]) -> _Specific:
    config = field(body, "VpcConfig")
    links: list[AwsLink] = []
    if is_object(config):
        for subnet in strings(field(config, "SubnetIds")):
            links += _link(SUBNET, subnet, "VpcConfig.SubnetIds", _SUBNETS_GROUP)
        for group in strings(field(config, "SecurityGroupIds")):
            links += _link(SECURITY_GROUP, group, "VpcConfig.SecurityGroupIds")
        links += _link(VPC, field(config, "VpcId"), "VpcConfig.VpcId")
    return _Specific(
        name=opt_str(field(body, "FunctionName")),
        facts=_facts(body, ("runtime", ("Runtime",)), ("memorySize", ("MemorySize",))),
        links=links,
    )


_SPECIFIC: Mapping[str, Callable[[str, Mapping[str, object]], _Specific]] = {
    EC2_INSTANCE: _instance,
    VPC: _vpc,
    SUBNET: _subnet,
    SECURITY_GROUP: _security_group,
    ELBV2_LOAD_BALANCER: _load_balancer,
    RDS_DB_INSTANCE: _db_instance,
    LAMBDA_FUNCTION: _lambda,
}


# -------------------------------------------------------------------- tags


def _tag_map(raw: object) -> tuple[tuple[str, str], ...]:
    """Config's ``tags``: ``{"Name": "web"}``."""
    if not is_object(raw):
        return ()
    return tuple(sorted((k, v) for k, v in raw.items() if isinstance(v, str)))


def _tag_list(raw: object) -> tuple[tuple[str, str], ...]:
    """The API's ``Tags`` / ``TagList``: ``[{"Key": "Name", "Value": "web"}]`` (any case)."""
    pairs: dict[str, str] = {}
    for tag in objects(raw):
        key, value = field(tag, "Key"), field(tag, "Value")
        if isinstance(key, str) and isinstance(value, str):
            pairs[key] = value
    return tuple(sorted(pairs.items()))
