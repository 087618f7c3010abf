"""Backstage catalog entities -> graph entities and relations (pure, deterministic).

Entities (key = the canonical lower-case entity ref ``kind:namespace/name``,
identifier ``backstageRef`` = the same ref):

=============  =====================  ==============================================
Backstage      graphsvc kind          attributes
=============  =====================  ==============================================
Component      ``Service``            ``serviceType`` = ``spec.type`` (else ``component``)
API            ``Service``            ``serviceType`` = ``spec.type`` (else ``api``)
System         ``Service``            ``serviceType`` = ``spec.type`` (else ``system``),
                                      ``domain`` = the ref of ``spec.domain``
Resource       ``ConfigurationItem``  ``ciClass`` = ``spec.type`` (else ``resource``)
Group          ``Team``               ``email`` = ``spec.profile.email``, ``groupType``
User           ``Person``             ``email`` = ``spec.profile.email``
=============  =====================  ==============================================

Every entity also gets ``backstageKind``, ``backstageNamespace`` and, when
given, ``description`` and ``tags``. ``spec.lifecycle`` is kept as written in
``backstageLifecycle``; on services it is also mapped onto the well-known
``lifecycle``: ``production`` -> ``live``, ``experimental`` -> ``planned``,
``deprecated`` -> ``retiring`` (other values set no ``lifecycle``). The name is
``metadata.title``, else ``spec.profile.displayName``, else ``metadata.name``.
An e-mail address that is not one is dropped with a warning.

Identifiers from annotations (``metadata.annotations``), so that what other
tools know about the same thing joins it:

=====================================  ==========================================
annotation                             identifier
=====================================  ==========================================
``backstage.io/kubernetes-id``         ``backstageKubernetesId`` (verbatim): the
                                       ``kubernetes`` importer links the objects
                                       labelled with it (``RUNS_ON``)
``amazonaws.com/arn`` (Backstage's     ``awsArn``: the entity *is* that AWS
AWS module), else ``amazon.com/*-arn`` resource, so a Resource merges with the CI
(Roadie's AWS modules)                 that Terraform state or AWS Config report
=====================================  ==========================================

An ARN annotation whose value is not an ARN (``arn:…``) is ignored with a
warning. An identifier value held by two entities of the same graph kind in one
import is ambiguous: it is removed from both, with a warning, so that the ingest
engine never merges two catalog entities into one.

``Location``, ``Domain`` and ``Template`` entities are skipped with a warning.
When two documents define the same entity ref, the first (in the order the
files were given) is used and the other is reported.

Relations (reference defaults as in Backstage: the field's default kind, and
the *referring* entity's namespace):

==================  ============  =====================================================
field               default kind  relation
==================  ============  =====================================================
``owner``           Group         Team ``OWNS`` entity (a User owner: warning)
``system``          System        entity ``PART_OF`` system
``subcomponentOf``  Component     component ``PART_OF`` parent component
``dependsOn``       (none)        entity ``DEPENDS_ON`` target
``dependencyOf``    (none)        target ``DEPENDS_ON`` entity
``providesApis``    API           API ``DEPENDS_ON`` the providing component
``consumesApis``    API           component ``DEPENDS_ON`` API
``memberOf``        Group         Person ``MEMBER_OF`` Team
``members``         User          Person ``MEMBER_OF`` Team
``parent``          Group         Team ``PART_OF`` parent Team
``children``        Group         child Team ``PART_OF`` Team
==================  ============  =====================================================

A reference that names no entity of this import (dangling), names an entity of
a kind the field does not accept, or lacks a kind where the field has no
default, is reported as a warning and its relation is not emitted. Relations
stated from both ends (``parent`` and ``children``, ``memberOf`` and
``members``) are emitted once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import JsonValue

from graphsvc.ingest.importer import ImportResult, ImportWarning
from graphsvc.model.batch import EntityItem, EntityRef, RelationItem
from graphsvc.model.vocabulary import VOCABULARY, EntityKind, RelationType
from importers.backstage.model import (
    MAPPED_KINDS,
    CatalogEntity,
    CatalogFile,
    EntityName,
)

__all__ = [
    "ARN_ANNOTATION",
    "KUBERNETES_ID_ANNOTATION",
    "LIFECYCLES",
    "annotation_identifiers",
    "resolve_ref",
    "transform_catalog",
]

KUBERNETES_ID_ANNOTATION = "backstage.io/kubernetes-id"
"""Names the Kubernetes objects (by the label of the same name) an entity runs as."""

ARN_ANNOTATION = "amazonaws.com/arn"
"""Backstage's AWS catalog module: the ARN of the AWS resource the entity is."""

_ROADIE_ARN = re.compile(r"^amazon\.com/[a-z0-9-]+-arn$")
_ARN_VALUE = re.compile(r"^arn:[a-z0-9-]+:[a-z0-9-]+:[a-z0-9-]*:[0-9]*:\S+$")

LIFECYCLES: dict[str, str] = {
    "production": "live",
    "experimental": "planned",
    "deprecated": "retiring",
}
"""Backstage ``spec.lifecycle`` -> the well-known ``lifecycle`` of a ``Service``."""

_GRAPH_KINDS: dict[str, EntityKind] = {
    "Component": EntityKind.SERVICE,
    "API": EntityKind.SERVICE,
    "System": EntityKind.SERVICE,
    "Resource": EntityKind.CONFIGURATION_ITEM,
    "Group": EntityKind.TEAM,
    "User": EntityKind.PERSON,
}

_DEFAULT_SERVICE_TYPES = {"Component": "component", "API": "api", "System": "system"}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

_RUNNABLE = frozenset({"Component", "API", "System", "Resource"})


@dataclass(frozen=True, slots=True)
class _FieldRule:
    """How one reference field becomes a relation."""

    default_kind: str | None
    target_kinds: frozenset[str]
    type: RelationType
    reverse: bool
    """``True``: the relation goes from the target to the referring entity."""


_RULES: dict[str, _FieldRule] = {
    "owner": _FieldRule("Group", frozenset({"Group"}), RelationType.OWNS, reverse=True),
    "system": _FieldRule("System", frozenset({"System"}), RelationType.PART_OF, reverse=False),
    "subcomponentOf": _FieldRule(
        "Component", frozenset({"Component"}), RelationType.PART_OF, reverse=False
    ),
    "dependsOn": _FieldRule(None, _RUNNABLE, RelationType.DEPENDS_ON, reverse=False),
    "dependencyOf": _FieldRule(None, _RUNNABLE, RelationType.DEPENDS_ON, reverse=True),
    "providesApis": _FieldRule("API", frozenset({"API"}), RelationType.DEPENDS_ON, reverse=True),
    "consumesApis": _FieldRule("API", frozenset({"API"}), RelationType.DEPENDS_ON, reverse=False),
    "memberOf": _FieldRule("Group", frozenset({"Group"}), RelationType.MEMBER_OF, reverse=False),
    "members": _FieldRule("User", frozenset({"User"}), RelationType.MEMBER_OF, reverse=True),
    "parent": _FieldRule("Group", frozenset({"Group"}), RelationType.PART_OF, reverse=False),
    "children": _FieldRule("Group", frozenset({"Group"}), RelationType.PART_OF, reverse=True),
}


def resolve_ref(
    target: EntityName, *, default_kind: str | None, default_namespace: str
) -> str | None:
    """Return the canonical lower-case ref a reference stands for, or ``None`` without a kind.

    The kind falls back to ``default_kind`` and the namespace to
    ``default_namespace`` (the referring entity's namespace in Backstage).
    """
    kind = target.kind if target.kind is not None else default_kind
    if kind is None:
        return None
    namespace = target.namespace if target.namespace is not None else default_namespace
    return f"{kind.lower()}:{namespace.lower()}/{target.name.lower()}"


def transform_catalog(files: Sequence[CatalogFile]) -> ImportResult:
    """Turn the parsed files of one run into entities, relations and warnings.

    See the module docstring for the mapping. Output is sorted (entities by
    kind and key, relations by type and endpoint keys), so equal input gives
    equal output.
    """
    warnings: list[ImportWarning] = [w for f in files for w in f.warnings]
    index: dict[str, CatalogEntity] = {}
    for entity in (e for f in files for e in f.entities):
        first = index.get(entity.ref)
        if first is not None:
            warnings.append(
                _warn(
                    entity,
                    f"duplicate entity; the definition in {first.path} {first.element} is used",
                )
            )
            continue
        index[entity.ref] = entity

    entities: list[EntityItem] = []
    relations: dict[tuple[RelationType, str, str], RelationItem] = {}
    for entity in index.values():
        if entity.kind not in MAPPED_KINDS:
            warnings.append(_warn(entity, f"{entity.kind} entities are not imported; skipped"))
            continue
        item, problems = _entity_item(entity)
        entities.append(item)
        warnings.extend(_warn(entity, p) for p in problems)
        for field, target in ((r.field, t) for r in entity.refs for t in r.targets):
            rule = _RULES.get(field)
            if rule is None:
                continue
            relation = _relation(entity, field, target, rule, index, warnings)
            if relation is not None:
                key = (relation.type, relation.from_.key or "", relation.to.key or "")
                relations.setdefault(key, relation)

    entities = _without_ambiguous_identifiers(entities, index, warnings)
    entities.sort(key=lambda e: (e.kind.value, e.key))
    ordered = [relations[k] for k in sorted(relations, key=lambda k: (k[0].value, k[1], k[2]))]
    return ImportResult(tuple(entities), tuple(ordered), tuple(warnings))


def _entity_item(entity: CatalogEntity) -> tuple[EntityItem, list[str]]:
    problems: list[str] = []
    kind = _GRAPH_KINDS[entity.kind]
    attributes: dict[str, JsonValue] = {}
    if kind is EntityKind.SERVICE:
        attributes["serviceType"] = entity.spec_type or _DEFAULT_SERVICE_TYPES[entity.kind]
        if entity.lifecycle is not None and entity.lifecycle.lower() in LIFECYCLES:
            attributes["lifecycle"] = LIFECYCLES[entity.lifecycle.lower()]
        domain = next((r.targets[0] for r in entity.refs if r.field == "domain"), None)
        if domain is not None:
            attributes["domain"] = resolve_ref(
                domain, default_kind="Domain", default_namespace=entity.namespace
            )
    elif kind is EntityKind.CONFIGURATION_ITEM:
        attributes["ciClass"] = entity.spec_type or "resource"
    elif kind is EntityKind.TEAM and entity.spec_type is not None:
        attributes["groupType"] = entity.spec_type
    if kind in (EntityKind.TEAM, EntityKind.PERSON) and entity.email is not None:
        if _EMAIL.match(entity.email):
            attributes["email"] = entity.email
        else:
            problems.append(
                f"spec.profile.email {entity.email!r} is not an e-mail address; dropped"
            )
    if entity.lifecycle is not None:
        attributes["backstageLifecycle"] = entity.lifecycle
    attributes["backstageKind"] = entity.kind
    attributes["backstageNamespace"] = entity.namespace
    if entity.description is not None:
        attributes["description"] = entity.description
    if entity.tags:
        attributes["tags"] = list(entity.tags)
    identifiers, notes = annotation_identifiers(entity.annotations)
    problems.extend(notes)
    item = EntityItem(
        kind=kind,
        key=entity.ref,
        name=entity.title or entity.display_name or entity.name,
        identifiers={"backstageRef": entity.ref, **identifiers},
        attributes=attributes,
    )
    return item, problems


def annotation_identifiers(
    annotations: Sequence[tuple[str, str]],
) -> tuple[dict[str, str], list[str]]:
    """Return the identifiers the annotations give, and problems to report (module docstring).

    Args:
        annotations: (name, value) pairs, values stripped and non-empty.

    Returns:
        ``backstageKubernetesId`` and ``awsArn`` when the annotations give them,
        and one message per ARN annotation that was not used.
    """
    found = dict(annotations)
    identifiers: dict[str, str] = {}
    problems: list[str] = []
    kubernetes_id = found.get(KUBERNETES_ID_ANNOTATION)
    if kubernetes_id:
        identifiers["backstageKubernetesId"] = kubernetes_id
    candidates = [(ARN_ANNOTATION, found[ARN_ANNOTATION])] if ARN_ANNOTATION in found else []
    candidates += [(k, v) for k, v in annotations if _ROADIE_ARN.match(k)]
    for name, value in candidates:
        if not _ARN_VALUE.match(value):
            problems.append(f"annotation {name}: {value!r} is not an ARN; not used as awsArn")
        elif "awsArn" not in identifiers:
            identifiers["awsArn"] = value
        elif identifiers["awsArn"] != value:
            problems.append(
                f"annotation {name}: {value} differs from the ARN already used "
                f"({identifiers['awsArn']}); not used"
            )
    return identifiers, problems


def _without_ambiguous_identifiers(
    entities: list[EntityItem], index: dict[str, CatalogEntity], warnings: list[ImportWarning]
) -> list[EntityItem]:
    """Remove annotation identifiers held by several entities of one kind (with warnings)."""
    holders: dict[tuple[EntityKind, str, str], list[str]] = {}
    for item in entities:
        for id_type, value in item.identifiers.items():
            if id_type != "backstageRef":
                normal = VOCABULARY.normalize_identifier(id_type, value)
                holders.setdefault((item.kind, id_type, normal), []).append(item.key)
    drop: dict[str, set[str]] = {}
    for (_, id_type, value), keys in sorted(holders.items()):
        if len(keys) < 2:
            continue
        for key in keys:
            drop.setdefault(key, set()).add(id_type)
            warnings.append(
                _warn(
                    index[key],
                    f"identifier {id_type}={value} is held by {len(keys)} entities "
                    f"({', '.join(sorted(keys))}); not used to identify this one",
                )
            )
    if not drop:
        return entities
    return [
        item.model_copy(
            update={
                "identifiers": {
                    t: v for t, v in item.identifiers.items() if t not in drop[item.key]
                }
            }
        )
        if item.key in drop
        else item
        for item in entities
    ]


def _relation(
    entity: CatalogEntity,
    field: str,
    target: EntityName,
    rule: _FieldRule,
    index: dict[str, CatalogEntity],
    warnings: list[ImportWarning],
) -> RelationItem | None:
    where = f"spec.{field}"
    ref = resolve_ref(target, default_kind=rule.default_kind, default_namespace=entity.namespace)
    if ref is None:
        warnings.append(
            _warn(
                entity,
                f"{where}: {target.text()!r} has no kind and {field} has no default kind "
                "(write it as kind:name); relation not emitted",
            )
        )
        return None
    other = index.get(ref)
    if other is None:
        warnings.append(
            _warn(entity, f"{where}: {ref} is not in this import (dangling); relation not emitted")
        )
        return None
    if other.kind not in rule.target_kinds:
        if field == "owner" and other.kind == "User":
            reason = f"{ref} is a User; only a Group (Team) can own in graphsvc"
        else:
            expected = " or ".join(sorted(rule.target_kinds))
            reason = f"{ref} is a {other.kind}, expected {expected}"
        warnings.append(_warn(entity, f"{where}: {reason}; relation not emitted"))
        return None
    if other.ref == entity.ref:
        warnings.append(
            _warn(entity, f"{where}: refers to the entity itself; relation not emitted")
        )
        return None
    here = EntityRef(kind=_GRAPH_KINDS[entity.kind], key=entity.ref)
    there = EntityRef(kind=_GRAPH_KINDS[other.kind], key=other.ref)
    from_, to = (there, here) if rule.reverse else (here, there)
    return RelationItem.model_validate({"type": rule.type, "from": from_, "to": to})


def _warn(entity: CatalogEntity, message: str) -> ImportWarning:
    return ImportWarning(entity.path, f"{entity.element}: {entity.ref}", message)
