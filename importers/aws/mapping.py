"""Turning parsed AWS resources into graph items (pure, deterministic).

Entities
    One ``ConfigurationItem`` per resource, keyed
    ``aws/<resourceType>/<resourceId>`` (``aws/AWS::EC2::Instance/i-0abc…``;
    the resource id is the one AWS Config uses, see
    :class:`~importers.aws.records.AwsResource`), so AWS Config and describe
    output give the same key. ``ciClass`` is the Terraform resource type name
    (``aws_instance``, ``aws_vpc``, ``aws_subnet``, ``aws_security_group``,
    ``aws_lb``, ``aws_db_instance``, ``aws_lambda_function``).
    Attributes: ``resourceType``, ``accountId``, ``region``,
    ``availabilityZone``, ``tags``, ``environment`` (tag ``environment`` or
    ``env``, any case) and class facts (``instanceType``, ``imageId``,
    ``state``, ``cidrBlock``, ``isDefault``, ``loadBalancerType``, ``scheme``,
    ``engine``, ``engineVersion``, ``instanceClass``, ``multiAz``, ``port``,
    ``runtime``, ``memorySize``) -- named as the ``terraform`` importer names
    the same facts, so a merged CI does not flip between two spellings.

Identifiers (identical types and values to the ``terraform`` importer, so the
same resource from both merges into one CI)
    ``cloudResourceId`` (instance, VPC, subnet, security group id; RDS
    ``DbiResourceId``), ``awsArn``, ``ipAddress`` (an instance's private IP) and
    ``fqdn`` (an instance's private DNS name, the RDS endpoint address, the load
    balancer's DNS name). Identifier values that two resources of one import
    share are dropped from both (with a warning) so they are not merged.

Relations (all ``DEPENDS_ON``: the dependent needs the other to work)
    * instance -> subnet, VPC, security groups;
    * subnet -> VPC; security group -> VPC;
    * security group -> every other group its rules (ingress or egress) name
      in ``UserIdGroupPairs``: its definition depends on that group;
    * load balancer -> VPC, security groups, and its subnets with
      ``redundancyGroup: subnets`` (one surviving zone keeps it up);
    * RDS instance -> VPC, security groups, and subnets: for a single-AZ
      instance only the subnet of its zone; Multi-AZ, all of the DB subnet
      group as one redundancy group;
    * Lambda function -> VPC, security groups, subnets (redundancy group);
    * AWS Config ``relationships`` between imported types, directed by layer
      (load balancer > instance, RDS, Lambda > security group > subnet > VPC;
      see :data:`~importers.aws.records.LAYERS`), because Config names them
      symmetrically from both ends.

    Nothing is ``PART_OF`` or ``RUNS_ON``: a subnet failing does not take its
    VPC down (``PART_OF`` would carry the impact from the subnet to the VPC and
    on to everything in it), and an instance is not hosted on a subnet; it
    needs it, which ``DEPENDS_ON`` says with the right impact direction.

    A target that is not in the import is named by its identifier
    (``cloudResourceId`` or ``awsArn``), so it links to the CI another source
    (or an earlier AWS import) created; the import runner drops the relation
    with a warning when no such CI exists. Relationships to types this
    importer does not map (network interfaces, volumes, IAM roles …) are
    skipped with one warning per resource.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import JsonValue

from graphsvc.ingest.importer import ImportResult, ImportWarning
from graphsvc.model.batch import EntityItem, EntityRef, RelationItem
from graphsvc.model.vocabulary import VOCABULARY, EntityKind, RelationType
from importers.aws.records import (
    CI_CLASSES,
    ELBV2_LOAD_BALANCER,
    LAYERS,
    AwsFile,
    AwsLink,
    AwsResource,
    is_arn,
    is_cloud_id,
)

__all__ = ["resource_key", "transform_files"]

_CI = EntityKind.CONFIGURATION_ITEM
_ENVIRONMENT_TAGS = ("environment", "env")


def resource_key(resource_type: str, resource_id: str) -> str:
    """Return the natural key ``aws/<resourceType>/<resourceId>``."""
    return f"aws/{resource_type}/{resource_id}"


@dataclass(slots=True)
class _Draft:
    key: str
    resource_type: str
    resource_id: str
    name: str
    path: Path
    element: str
    identifiers: dict[str, str]
    attributes: dict[str, JsonValue]
    links: list[tuple[Path, str, AwsLink]] = field(default_factory=list)


def transform_files(parsed: Sequence[tuple[Path, AwsFile]]) -> ImportResult:
    """Turn parsed AWS files into one import result (see the module docstring).

    Files are taken in path order; a resource found in several files (an AWS
    Config item and a describe response) is one CI whose attributes are the
    union, later files winning on conflicts. Entities come out sorted by key,
    relations by (from, to).
    """
    warnings: list[ImportWarning] = []
    drafts: dict[str, _Draft] = {}
    for path, parsed_file in sorted(parsed, key=lambda item: str(item[0])):
        warnings.extend(ImportWarning(str(path), n.element, n.message) for n in parsed_file.notes)
        for resource in parsed_file.resources:
            _add(drafts, path, resource)
    _drop_ambiguous_identifiers(drafts, warnings)
    relations: dict[tuple[str, str], RelationItem] = {}
    for draft in sorted(drafts.values(), key=lambda d: d.key):
        _relations_of(draft, drafts, relations, warnings)
    entities = [_entity(d) for d in sorted(drafts.values(), key=lambda d: d.key)]
    ordered = [relations[k] for k in sorted(relations)]
    return ImportResult(tuple(entities), tuple(ordered), tuple(warnings))


def _add(drafts: dict[str, _Draft], path: Path, resource: AwsResource) -> None:
    key = resource_key(resource.resource_type, resource.resource_id)
    identifiers: dict[str, str] = {}
    if resource.cloud_resource_id:
        identifiers["cloudResourceId"] = resource.cloud_resource_id
    if resource.arn:
        identifiers["awsArn"] = resource.arn
    if resource.ip_address:
        identifiers["ipAddress"] = resource.ip_address
    if resource.fqdn:
        identifiers["fqdn"] = resource.fqdn
    attributes: dict[str, JsonValue] = {
        "ciClass": CI_CLASSES[resource.resource_type],
        "resourceType": resource.resource_type,
    }
    if resource.tags:
        attributes["tags"] = dict(resource.tags)
        environment = _environment(resource.tags)
        if environment:
            attributes["environment"] = environment
    attributes.update(resource.facts)
    links = [(path, resource.element, link) for link in resource.links]
    existing = drafts.get(key)
    if existing is None:
        drafts[key] = _Draft(
            key,
            resource.resource_type,
            resource.resource_id,
            resource.name,
            path,
            resource.element,
            identifiers,
            attributes,
            links,
        )
        return
    if resource.name != resource.resource_id or existing.name == existing.resource_id:
        existing.name = resource.name
    existing.identifiers.update(identifiers)
    existing.attributes.update(attributes)
    existing.links.extend(links)


def _environment(tags: Iterable[tuple[str, str]]) -> str | None:
    lowered = {k.lower(): v for k, v in tags}
    for candidate in _ENVIRONMENT_TAGS:
        value = lowered.get(candidate)
        if value and value.strip():
            return value
    return None


def _drop_ambiguous_identifiers(
    drafts: Mapping[str, _Draft], warnings: list[ImportWarning]
) -> None:
    holders: dict[tuple[str, str], list[str]] = {}
    for draft in drafts.values():
        for id_type, value in draft.identifiers.items():
            holders.setdefault(
                (id_type, VOCABULARY.normalize_identifier(id_type, value)), []
            ).append(draft.key)
    for (id_type, normal), keys in sorted(holders.items()):
        if len(keys) < 2:
            continue
        for key in sorted(keys):
            draft = drafts[key]
            draft.identifiers.pop(id_type, None)
            warnings.append(
                ImportWarning(
                    str(draft.path),
                    draft.element,
                    f"identifier {id_type}={normal} is held by {len(keys)} resources "
                    f"({', '.join(sorted(keys))}); not used to identify {key}",
                )
            )


def _target_ref(target_type: str, target_id: str, drafts: Mapping[str, _Draft]) -> EntityRef:
    key = resource_key(target_type, target_id)
    if key in drafts:
        return EntityRef(kind=_CI, key=key)
    if target_type == ELBV2_LOAD_BALANCER and is_arn(target_id):
        return EntityRef(kind=_CI, identifiers={"awsArn": target_id})
    if is_cloud_id(target_id):
        return EntityRef(kind=_CI, identifiers={"cloudResourceId": target_id})
    return EntityRef(kind=_CI, key=key)


def _dependent_is_self(resource_type: str, link: AwsLink) -> bool:
    if link.direction == "out":
        return True
    mine, theirs = LAYERS[resource_type], LAYERS[link.target_type]
    if mine != theirs:
        return mine > theirs
    return not link.label.lower().startswith("contains")


def _relations_of(
    draft: _Draft,
    drafts: Mapping[str, _Draft],
    relations: dict[tuple[str, str], RelationItem],
    warnings: list[ImportWarning],
) -> None:
    skipped: Counter[str] = Counter()
    origin: tuple[Path, str] = (draft.path, draft.element)
    me = EntityRef(kind=_CI, key=draft.key)
    for path, element, link in draft.links:
        if link.target_type not in CI_CLASSES:
            skipped[link.target_type] += 1
            origin = (path, element)
            continue
        if link.target_id is None:
            warnings.append(
                ImportWarning(
                    str(path), element, f"{link.label!r} names a {link.target_type} without an id"
                )
            )
            continue
        if resource_key(link.target_type, link.target_id) == draft.key:
            continue
        other = _target_ref(link.target_type, link.target_id, drafts)
        source, target = (
            (me, other) if _dependent_is_self(draft.resource_type, link) else (other, me)
        )
        attributes: dict[str, JsonValue] = {}
        if link.redundancy_group:
            attributes["redundancyGroup"] = link.redundancy_group
        triple = (source.label(), target.label())
        known = relations.get(triple)
        if known is not None:
            attributes = {**known.attributes, **attributes}
        relations[triple] = RelationItem.model_validate(
            {
                "type": RelationType.DEPENDS_ON,
                "from": source,
                "to": target,
                "attributes": attributes,
            }
        )
    if skipped:
        counts = ", ".join(f"{t} ({n})" for t, n in sorted(skipped.items()))
        warnings.append(
            ImportWarning(
                str(origin[0]),
                origin[1],
                f"{draft.key}: skipped {sum(skipped.values())} relationship(s) to resource types "
                f"this importer does not map: {counts}",
            )
        )


def _entity(draft: _Draft) -> EntityItem:
    return EntityItem(
        kind=_CI,
        key=draft.key,
        name=draft.name,
        identifiers=dict(sorted(draft.identifiers.items())),
        attributes=dict(sorted(draft.attributes.items())),
    )
