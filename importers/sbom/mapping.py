"""Turning parsed SBOMs into graph items (pure, deterministic).

Keys and identifiers
    A component or package with a package URL is keyed by its purl, so the
    same package in several SBOMs (or in the next release's SBOM) is one CI.
    Anything else is keyed ``<document>#<bom-ref or SPDXID>``: bom-refs and
    SPDX ids are only unique inside their document. ``<document>`` is the SPDX
    ``documentNamespace``; for CycloneDX the ``serialNumber``, else the purl of
    ``metadata.component``, else its ``group/name@version``, else the file name
    (with a warning). Re-importing the same file gives the same keys; a
    regenerated SBOM with a new serial number or namespace gives its purl-less
    items new keys (the old ones go stale in that scope). Identifiers: ``purl``
    and ``bomRef`` = ``<document>#<bom-ref or SPDXID>`` (prefixed so that two
    documents' ``SPDXRef-Package`` never merge).

CycloneDX
    * components (and ``metadata.component``, the root) -> ``ConfigurationItem``
      with ``ciClass: software`` and ``name``, ``group``, ``version``,
      ``componentType``, ``licenses``, ``supplier``, ``scope``, ``description``;
    * services -> ``Service`` with ``name``, ``group``, ``version``,
      ``description``, ``endpoints``, ``authenticated``, ``trustBoundary``,
      ``provider``;
    * ``dependencies`` (``ref`` -> each of ``dependsOn``) -> ``DEPENDS_ON``;
    * a nested component or service -> ``PART_OF`` its parent (a component of
      the whole: its failure hits the parent, and it inherits the parent's owner);
    * a BOM without any ``dependencies`` array: its top-level components and
      services are ``PART_OF`` the root, so the inventory stays attached to its
      application.

SPDX 2.x
    * packages -> ``ConfigurationItem`` (``ciClass: software``; ``name``,
      ``version``, ``componentType`` from ``primaryPackagePurpose``,
      ``licenses``, ``supplier``, ``cpe``); files and snippets are not CIs;
    * ``A DEPENDS_ON B`` -> A ``DEPENDS_ON`` B; ``A DEPENDENCY_OF B`` and
      ``A RUNTIME_DEPENDENCY_OF B`` -> B ``DEPENDS_ON`` A; ``A DYNAMIC_LINK B``
      and ``A STATIC_LINK B`` (A links B in) -> A ``DEPENDS_ON`` B;
    * ``A CONTAINS B`` -> B ``PART_OF`` A; ``A CONTAINED_BY B`` -> A ``PART_OF`` B;
    * ``DESCRIBES`` / ``DESCRIBED_BY`` only say which packages are the
      document's subject: no relation, no warning;
    * any other type (build, dev, test and optional dependencies,
      ``GENERATED_FROM``, ``COPY_OF`` …), and any relationship whose end is not
      a package of the document (a file, the document itself, an external
      document's element, ``NOASSERTION``), is skipped with a warning.

Attributes are only sent when the document has a value. Identifier values
that two entities of one import share (other than through the same key) are
dropped from both, with a warning, so the engine does not merge them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import JsonValue

from graphsvc.ingest.importer import ImportResult, ImportWarning
from graphsvc.model.batch import EntityItem, EntityRef, RelationItem
from graphsvc.model.vocabulary import VOCABULARY, EntityKind, RelationType
from importers.sbom.records import CdxItem, CycloneDxBom, SbomDocument, SpdxDocument

__all__ = ["cyclonedx_document_id", "transform_documents"]

_CI = EntityKind.CONFIGURATION_ITEM
_SERVICE = EntityKind.SERVICE
_DEPENDS_ON = RelationType.DEPENDS_ON
_PART_OF = RelationType.PART_OF

_Ref = tuple[EntityKind, str]

# SPDX relationship type -> (relation type, reversed: the relation goes from the related element)
_SPDX_TYPES: Mapping[str, tuple[RelationType, bool]] = {
    "DEPENDS_ON": (_DEPENDS_ON, False),
    "DEPENDENCY_OF": (_DEPENDS_ON, True),
    "RUNTIME_DEPENDENCY_OF": (_DEPENDS_ON, True),
    "DYNAMIC_LINK": (_DEPENDS_ON, False),
    "STATIC_LINK": (_DEPENDS_ON, False),
    "CONTAINS": (_PART_OF, True),
    "CONTAINED_BY": (_PART_OF, False),
}
_SPDX_STRUCTURAL = frozenset({"DESCRIBES", "DESCRIBED_BY"})


@dataclass(slots=True)
class _Draft:
    kind: EntityKind
    key: str
    name: str
    path: Path
    element: str
    identifiers: dict[str, str]
    attributes: dict[str, JsonValue]


class _Builder:
    """Collects drafts and relations over every document of a run."""

    def __init__(self) -> None:
        self.drafts: dict[_Ref, _Draft] = {}
        self.relations: dict[tuple[RelationType, _Ref, _Ref], None] = {}
        self.warnings: list[ImportWarning] = []

    def warn(self, path: Path, element: str, message: str) -> None:
        self.warnings.append(ImportWarning(str(path), element, message))

    def add(self, draft: _Draft) -> _Ref:
        ref = (draft.kind, draft.key)
        known = self.drafts.get(ref)
        if known is None:
            self.drafts[ref] = draft
            return ref
        if known.path == draft.path:
            self.warn(
                draft.path,
                draft.element,
                f"{draft.key} is described again (first at {known.element}); merged into one",
            )
        known.attributes.update(draft.attributes)
        for id_type, value in draft.identifiers.items():
            known.identifiers.setdefault(id_type, value)
        known.name = draft.name
        return ref

    def relate(self, type_: RelationType, source: _Ref, target: _Ref) -> None:
        if source != target:
            self.relations.setdefault((type_, source, target), None)

    def result(self) -> ImportResult:
        _drop_ambiguous_identifiers(self.drafts, self.warnings)
        entities = [
            EntityItem(
                kind=d.kind,
                key=d.key,
                name=d.name,
                identifiers=dict(sorted(d.identifiers.items())),
                attributes=dict(sorted(d.attributes.items())),
            )
            for _, d in sorted(self.drafts.items())
        ]
        relations = [
            RelationItem.model_validate(
                {
                    "type": type_,
                    "from": EntityRef(kind=source[0], key=source[1]),
                    "to": EntityRef(kind=target[0], key=target[1]),
                }
            )
            for type_, source, target in sorted(self.relations)
        ]
        return ImportResult(tuple(entities), tuple(relations), tuple(self.warnings))


def transform_documents(parsed: Sequence[tuple[Path, SbomDocument]]) -> ImportResult:
    """Turn parsed SBOMs into one import result (see the module docstring).

    Documents are taken in path order; an entity described by several of them
    (the same purl) is one entity whose attributes the later document wins.
    """
    builder = _Builder()
    for path, document in sorted(parsed, key=lambda item: str(item[0])):
        builder.warnings.extend(
            ImportWarning(str(path), n.element, n.message) for n in document.notes
        )
        if isinstance(document, CycloneDxBom):
            _cyclonedx(builder, path, document)
        else:
            _spdx(builder, path, document)
    return builder.result()


# ------------------------------------------------------------------ CycloneDX


def cyclonedx_document_id(bom: CycloneDxBom) -> str | None:
    """Return the name that scopes a BOM's bom-refs (see the module docstring).

    ``None`` when the BOM has neither a serial number nor a root component.
    """
    if bom.serial_number:
        return bom.serial_number
    root = bom.root
    if root is None:
        return None
    return root.purl or _coordinates(root)


def _coordinates(item: CdxItem) -> str:
    name = f"{item.group}/{item.name}" if item.group else item.name
    return f"{name}@{item.version}" if item.version else name


def _cyclonedx(builder: _Builder, path: Path, bom: CycloneDxBom) -> None:
    document = cyclonedx_document_id(bom)
    if document is None:
        document = path.name
        builder.warn(
            path,
            "$",
            "no serialNumber and no metadata.component: "
            f"bom-refs are scoped by the file name {document!r}",
        )
    refs: list[_Ref] = []
    by_bom_ref: dict[str, _Ref] = {}
    for item in bom.items:
        ref = builder.add(_cdx_draft(path, document, item))
        refs.append(ref)
        if item.bom_ref is not None:
            by_bom_ref.setdefault(item.bom_ref, ref)
    for index, item in enumerate(bom.items):
        if item.parent is not None:
            builder.relate(_PART_OF, refs[index], refs[item.parent])
    root = bom.root
    if not bom.has_dependency_graph and root is not None:
        for index, item in enumerate(bom.items):
            if item.parent is None and not item.is_root:
                builder.relate(_PART_OF, refs[index], refs[0])
    for dependency in bom.dependencies:
        source = by_bom_ref.get(dependency.ref)
        if source is None:
            builder.warn(
                path, dependency.element, f"ref {dependency.ref!r} names no component or service"
            )
            continue
        for target_ref in dependency.depends_on:
            target = by_bom_ref.get(target_ref)
            if target is None:
                builder.warn(
                    path,
                    dependency.element,
                    f"{dependency.ref} depends on {target_ref!r}, "
                    "which names no component or service",
                )
                continue
            builder.relate(_DEPENDS_ON, source, target)


def _cdx_draft(path: Path, document: str, item: CdxItem) -> _Draft:
    local = item.bom_ref or f"{item.kind}:{_coordinates(item)}"
    identifiers: dict[str, str] = {}
    if item.purl:
        identifiers["purl"] = item.purl
    if item.bom_ref:
        identifiers["bomRef"] = f"{document}#{item.bom_ref}"
    if item.kind == "component":
        attributes = _present(
            {
                "ciClass": "software",
                "name": item.name,
                "group": item.group,
                "version": item.version,
                "componentType": item.component_type,
                "licenses": list(item.licenses) or None,
                "supplier": item.supplier,
                "scope": item.scope,
                "description": item.description,
            }
        )
        return _Draft(
            _CI,
            item.purl or f"{document}#{local}",
            _coordinates(item),
            path,
            item.element,
            identifiers,
            attributes,
        )
    attributes = _present(
        {
            "name": item.name,
            "group": item.group,
            "version": item.version,
            "description": item.description,
            "endpoints": list(item.endpoints) or None,
            "authenticated": item.authenticated,
            "trustBoundary": item.trust_boundary,
            "provider": item.supplier,
        }
    )
    return _Draft(
        _SERVICE, f"{document}#{local}", item.name, path, item.element, identifiers, attributes
    )


def _present(values: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    return {k: v for k, v in values.items() if v is not None}


# ----------------------------------------------------------------------- SPDX


def _spdx(builder: _Builder, path: Path, document: SpdxDocument) -> None:
    namespace = document.namespace
    by_id: dict[str, _Ref] = {}
    for package in document.packages:
        identifiers = {"bomRef": f"{namespace}#{package.spdx_id}"}
        if package.purl:
            identifiers["purl"] = package.purl
        attributes = _present(
            {
                "ciClass": "software",
                "name": package.name,
                "version": package.version,
                "componentType": package.purpose,
                "licenses": list(package.licenses) or None,
                "supplier": package.supplier,
                "cpe": package.cpe,
            }
        )
        name = f"{package.name}@{package.version}" if package.version else package.name
        key = package.purl or f"{namespace}#{package.spdx_id}"
        ref = builder.add(_Draft(_CI, key, name, path, package.element, identifiers, attributes))
        by_id.setdefault(package.spdx_id, ref)
    for relationship in document.relationships:
        kind = relationship.relationship_type
        if kind in _SPDX_STRUCTURAL:
            continue
        label = f"{relationship.source} {kind} {relationship.target}"
        mapped = _SPDX_TYPES.get(kind)
        if mapped is None:
            builder.warn(
                path, relationship.element, f"{label}: relationship type not mapped; skipped"
            )
            continue
        ends = [by_id.get(relationship.source), by_id.get(relationship.target)]
        missing = [
            _not_a_package(element, document)
            for element, ref in zip((relationship.source, relationship.target), ends, strict=True)
            if ref is None
        ]
        if missing:
            builder.warn(path, relationship.element, f"{label}: {'; '.join(missing)}; skipped")
            continue
        source, target = ends
        assert source is not None and target is not None
        type_, reverse = mapped
        builder.relate(type_, *((target, source) if reverse else (source, target)))


def _not_a_package(element: str, document: SpdxDocument) -> str:
    if element in ("NOASSERTION", "NONE"):
        return f"{element} is not an element"
    if element.startswith("DocumentRef-"):
        return f"{element} is in another document"
    if element == "SPDXRef-DOCUMENT":
        return f"{element} is the document itself"
    if element in document.other_elements:
        return f"{element} is a file or snippet, not a package"
    return f"{element} names no element of the document"


# ------------------------------------------------------------------- identity


def _drop_ambiguous_identifiers(
    drafts: Mapping[_Ref, _Draft], warnings: list[ImportWarning]
) -> None:
    holders: dict[tuple[EntityKind, str, str], list[_Draft]] = {}
    for draft in drafts.values():
        for id_type, value in draft.identifiers.items():
            normal = VOCABULARY.normalize_identifier(id_type, value)
            holders.setdefault((draft.kind, id_type, normal), []).append(draft)
    for (_, id_type, normal), holding in sorted(holders.items(), key=lambda item: item[0]):
        if len(holding) < 2:
            continue
        keys = ", ".join(sorted(d.key for d in holding))
        for draft in holding:
            draft.identifiers.pop(id_type, None)
            warnings.append(
                ImportWarning(
                    str(draft.path),
                    draft.element,
                    f"identifier {id_type}={normal} is held by {len(holding)} entities ({keys}); "
                    f"not used to identify {draft.key}",
                )
            )
