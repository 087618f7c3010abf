"""Turning parsed Terraform states into graph items (pure, deterministic).

Entities
    One ``ConfigurationItem`` per managed resource instance (see
    :func:`entity_key` for its key). ``ciClass`` is the resource type
    (``aws_alb``, an alias, is written ``aws_lb``). Attributes:
    ``terraformAddress``, ``provider``, ``tags``, ``environment`` (from a tag
    named ``environment`` or ``env``, any case), ``region``,
    ``availabilityZone``, ``accountId``, class-specific facts (for example
    ``instanceType``, ``cidrBlock``, ``engine``) and ``tainted`` (true, or
    removed). Shared attributes (tags, region, facts …) are only sent when the
    state has a value, so that a CI merged with another source (the ``aws``
    importer) never loses that source's value to a ``null``.

Relations (all ``DEPENDS_ON``, from the dependent to what it needs)
    * ``dependencies`` of an instance: to every instance of each addressed
      resource (a dependency names a resource in the configuration, so it
      covers all its ``count`` / ``for_each`` instances and all instances of
      its modules) -- unless the dependent's attributes name some of those
      instances by id or ARN (``subnet_id = subnet-1`` of ``aws_subnet.private``
      with two instances): then only the named ones, because an instance in
      one subnet does not go down with the other. Dependencies on ``data``
      resources are dropped silently; addresses that name nothing in the state
      are reported as warnings.
    * Implicit edges: an attribute value (at any depth: ``vpc_id``,
      ``subnet_id``, ``vpc_security_group_ids``, ``ingress[].security_groups``
      …) equal to the id or ARN of another imported instance, unless the two
      are already linked by ``dependencies`` in either direction (a reference
      against the declared dependency is a computed back-reference). These
      carry ``inferredFrom`` (the attribute names); relations from
      ``dependencies`` send ``inferredFrom: null``, which clears it once the
      dependency is recorded. Cycles are kept as they are: a graph may
      contain them.

Identity
    Identifier values held by two different CIs of one import are ambiguous:
    they are removed from both (with a warning) so that the ingest engine does
    not merge two resources into one. Two instances with the same key (the same
    cloud resource managed twice) are one CI; the first (in path order) is
    kept, with a warning, and relations between them are dropped (a relation
    cannot loop on one entity).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import JsonValue

from graphsvc.ingest.importer import ImportResult, ImportWarning
from graphsvc.model.batch import EntityItem, EntityRef, RelationItem
from graphsvc.model.vocabulary import VOCABULARY, EntityKind, RelationType
from importers.terraform.state import ResourceInstance, TerraformState, is_arn, is_cloud_id

__all__ = ["entity_key", "transform_states"]

_CI = EntityKind.CONFIGURATION_ITEM
_CI_CLASS_ALIASES: Mapping[str, str] = {"aws_alb": "aws_lb"}
_ENVIRONMENT_TAGS = ("environment", "env")
_DATA_ADDRESS = re.compile(r'(?:^|\.)data\.[^.\[]+\.[^.\[]+(?:\[(?:"(?:[^"\\]|\\.)*"|[^\]]*)\])?$')


def entity_key(instance: ResourceInstance, scope: str) -> str:
    """Return the natural key of the CI for ``instance``.

    ``<type>/<id>`` when the id is a cloud resource id or an ARN (globally
    unique, so the same resource gets the same key from every state);
    ``<type>/<arn>`` when only the ARN is; otherwise
    ``terraform/<scope>/<address>``: an address is only unique inside one
    state, so the import scope keeps two states' ``tls_private_key.key`` apart.
    """
    rid = instance.resource_id
    if rid and (is_cloud_id(rid) or is_arn(rid)):
        return f"{instance.type}/{rid}"
    if instance.arn:
        return f"{instance.type}/{instance.arn}"
    return f"terraform/{scope}/{instance.address}"


@dataclass(slots=True)
class _Draft:
    key: str
    name: str
    path: Path
    instance: ResourceInstance
    identifiers: dict[str, str]
    attributes: dict[str, JsonValue]


@dataclass(slots=True)
class _Edges:
    explicit: set[tuple[str, str]] = field(default_factory=set)
    implicit: dict[tuple[str, str], set[str]] = field(default_factory=dict)


def transform_states(parsed: Sequence[tuple[Path, TerraformState]], scope: str) -> ImportResult:
    """Turn parsed states into one import result (see the module docstring).

    Files are processed in path order, so the result does not depend on the
    order the paths were given in; entities come out sorted by key, relations
    by (type, from, to).
    """
    warnings: list[ImportWarning] = []
    files = sorted(parsed, key=lambda item: str(item[0]))
    drafts: dict[str, _Draft] = {}
    keys_of: dict[tuple[int, int], str] = {}  # (file index, instance index) -> key
    for f_index, (path, state) in enumerate(files):
        warnings.extend(ImportWarning(str(path), n.element, n.message) for n in state.notes)
        for i_index, instance in enumerate(state.instances):
            key = entity_key(instance, scope)
            keys_of[(f_index, i_index)] = key
            existing = drafts.get(key)
            if existing is not None:
                warnings.append(
                    ImportWarning(
                        str(path),
                        instance.element,
                        f"{instance.address} is the same resource as {existing.instance.address} "
                        f"in {existing.path} ({key}); kept the first",
                    )
                )
                continue
            drafts[key] = _draft(path, instance, key)
    _drop_ambiguous_identifiers(drafts, warnings)
    edges = _Edges()
    by_value = _ids_index(drafts)
    for f_index, (path, state) in enumerate(files):
        index = _address_index(state, f_index, keys_of)
        for i_index, instance in enumerate(state.instances):
            key = keys_of[(f_index, i_index)]
            _explicit(path, instance, key, index, drafts, edges, warnings)
    for draft in drafts.values():
        for attribute, value in draft.instance.references:
            target = by_value.get(value)
            if target is not None and target != draft.key:
                edges.implicit.setdefault((draft.key, target), set()).add(attribute)
    relations = _relations(edges)
    entities = [_entity(d) for d in sorted(drafts.values(), key=lambda d: d.key)]
    return ImportResult(tuple(entities), tuple(relations), tuple(warnings))


def _draft(path: Path, instance: ResourceInstance, key: str) -> _Draft:
    identifiers: dict[str, str] = {}
    if instance.cloud_resource_id:
        identifiers["cloudResourceId"] = instance.cloud_resource_id
    if instance.arn:
        identifiers["awsArn"] = instance.arn
    if instance.fqdn:
        identifiers["fqdn"] = instance.fqdn
    if instance.ip_address:
        identifiers["ipAddress"] = instance.ip_address
    attributes: dict[str, JsonValue] = {
        "ciClass": _CI_CLASS_ALIASES.get(instance.type, instance.type),
        "terraformAddress": instance.address,
        "tainted": True if instance.tainted else None,
    }
    if instance.provider:
        attributes["provider"] = instance.provider
    if instance.tags:
        attributes["tags"] = dict(instance.tags)
        environment = _environment(instance.tags)
        if environment:
            attributes["environment"] = environment
    for name, value in instance.facts:
        attributes[name] = value
    rid = instance.resource_id
    name = instance.display_name or (rid if rid and is_cloud_id(rid) else None) or instance.address
    return _Draft(key, name, path, instance, identifiers, attributes)


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
    """Remove identifier values held by several CIs of this import (with a warning).

    Afterwards no two drafts share an identifier value, so the engine keeps them
    apart and no relation of this import can join two drafts into one entity.
    """
    holders: dict[tuple[str, str], list[str]] = {}
    for draft in drafts.values():
        for id_type, value in draft.identifiers.items():
            normal = VOCABULARY.normalize_identifier(id_type, value)
            holders.setdefault((id_type, normal), []).append(draft.key)
    for (id_type, normal), keys in sorted(holders.items()):
        if len(keys) < 2:
            continue
        for key in keys:
            draft = drafts[key]
            draft.identifiers.pop(id_type, None)
            warnings.append(
                ImportWarning(
                    str(draft.path),
                    draft.instance.element,
                    f"identifier {id_type}={normal} is held by {len(keys)} resources "
                    f"({', '.join(sorted(keys))}); not used to identify {draft.instance.address}",
                )
            )


def _ids_index(drafts: Mapping[str, _Draft]) -> dict[str, str]:
    """Id and ARN values of every imported instance -> key (for implicit edges)."""
    out: dict[str, str] = {}
    for draft in sorted(drafts.values(), key=lambda d: d.key):
        rid = draft.instance.resource_id
        for value in (rid, draft.instance.arn):
            if value and (is_cloud_id(value) or is_arn(value)):
                out.setdefault(value, draft.key)
    return out


def _address_index(
    state: TerraformState, f_index: int, keys_of: Mapping[tuple[int, int], str]
) -> dict[str, list[str]]:
    """Every way a dependency may name an instance -> the keys it names."""
    index: dict[str, list[str]] = {}
    for i_index, instance in enumerate(state.instances):
        key = keys_of[(f_index, i_index)]
        for address in {instance.address, instance.resource_address, instance.config_address}:
            keys = index.setdefault(address, [])
            if key not in keys:
                keys.append(key)
    return index


def _explicit(
    path: Path,
    instance: ResourceInstance,
    key: str,
    index: Mapping[str, list[str]],
    drafts: Mapping[str, _Draft],
    edges: _Edges,
    warnings: list[ImportWarning],
) -> None:
    referenced = {value for _, value in instance.references}
    for dependency in instance.dependencies:
        targets = index.get(dependency)
        if targets is None:
            if not _DATA_ADDRESS.search(dependency):
                warnings.append(
                    ImportWarning(
                        str(path),
                        instance.element,
                        f"{instance.address} depends on {dependency}, which is not in the state",
                    )
                )
            continue
        named = [t for t in targets if _identity_values(drafts[t]) & referenced]
        for target in named or targets:
            if target != key:
                edges.explicit.add((key, target))


def _identity_values(draft: _Draft) -> set[str]:
    return {v for v in (draft.instance.resource_id, draft.instance.arn) if v}


def _relations(edges: _Edges) -> list[RelationItem]:
    # explicit edges clear an inferredFrom left by an earlier import that only inferred them
    out = [
        _depends_on(source, target, {"inferredFrom": None})
        for source, target in sorted(edges.explicit)
    ]
    for (source, target), attributes in sorted(edges.implicit.items()):
        if (source, target) in edges.explicit or (target, source) in edges.explicit:
            continue
        out.append(_depends_on(source, target, {"inferredFrom": ", ".join(sorted(attributes))}))
    out.sort(key=lambda r: (r.from_.key or "", r.to.key or ""))
    return out


def _depends_on(source: str, target: str, attributes: dict[str, JsonValue]) -> RelationItem:
    return RelationItem.model_validate(
        {
            "type": RelationType.DEPENDS_ON,
            "from": EntityRef(kind=_CI, key=source),
            "to": EntityRef(kind=_CI, key=target),
            "attributes": attributes,
        }
    )


def _entity(draft: _Draft) -> EntityItem:
    return EntityItem(
        kind=_CI,
        key=draft.key,
        name=draft.name,
        identifiers=dict(sorted(draft.identifiers.items())),
        attributes=dict(sorted(draft.attributes.items())),
    )
