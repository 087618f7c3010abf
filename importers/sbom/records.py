"""Parsed SBOM documents: CycloneDX BOMs and SPDX 2.x documents, as typed records.

Only what the graph needs is kept: identity (``bom-ref``, ``SPDXID``, purl),
descriptive facts (name, version, type, licenses, supplier) and the edges
(CycloneDX ``dependencies`` and nesting, SPDX ``relationships``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CdxDependency",
    "CdxItem",
    "CycloneDxBom",
    "SbomDocument",
    "SbomNote",
    "SpdxDocument",
    "SpdxPackage",
    "SpdxRelationship",
]


@dataclass(frozen=True, slots=True)
class SbomNote:
    """Something skipped or doubtful while parsing (reported as an import warning)."""

    element: str
    message: str


@dataclass(frozen=True, slots=True)
class CdxItem:
    """A CycloneDX component or service (or the BOM's ``metadata.component``).

    Attributes:
        element: Where it is (``components[3]``, ``services[0].services[2]``,
            ``metadata.component``).
        kind: ``component`` or ``service``.
        is_root: It is ``metadata.component``, the subject of the BOM.
        parent: Index (into :attr:`CycloneDxBom.items`) of the component or
            service it is nested in; ``None`` at the top level.
        bom_ref: Its ``bom-ref`` (unique inside the BOM only).
        name: ``name``.
        group: ``group``.
        version: ``version``.
        component_type: A component's ``type`` (``library``, ``application`` …).
        purl: A component's package URL.
        licenses: License ids, names or expressions, in document order.
        supplier: ``supplier.name`` (components) or ``provider.name`` (services).
        description: ``description``.
        scope: A component's ``scope`` (``required``, ``optional``, ``excluded``).
        endpoints: A service's endpoint URLs.
        authenticated: A service's ``authenticated`` flag.
        trust_boundary: A service's ``x-trust-boundary`` flag.
    """

    element: str
    kind: Literal["component", "service"]
    is_root: bool
    parent: int | None
    bom_ref: str | None
    name: str
    group: str | None
    version: str | None
    component_type: str | None
    purl: str | None
    licenses: tuple[str, ...]
    supplier: str | None
    description: str | None
    scope: str | None
    endpoints: tuple[str, ...]
    authenticated: bool | None
    trust_boundary: bool | None


@dataclass(frozen=True, slots=True)
class CdxDependency:
    """One entry of ``dependencies``: ``ref`` depends on each of ``depends_on``."""

    element: str
    ref: str
    depends_on: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CycloneDxBom:
    """A parsed CycloneDX JSON BOM (spec 1.2 to 1.6).

    Attributes:
        spec_version: ``specVersion``.
        serial_number: ``serialNumber`` (``urn:uuid:…``), when given.
        items: The root (first, when there is one), then components and
            services in document order, nested ones after their parent.
        dependencies: The ``dependencies`` entries.
        has_dependency_graph: The BOM has a ``dependencies`` array at all.
        notes: Doubtful content that was skipped.
    """

    spec_version: str
    serial_number: str | None
    items: tuple[CdxItem, ...]
    dependencies: tuple[CdxDependency, ...]
    has_dependency_graph: bool
    notes: tuple[SbomNote, ...]

    @property
    def root(self) -> CdxItem | None:
        """The BOM's subject (``metadata.component``), if it has one."""
        return self.items[0] if self.items and self.items[0].is_root else None


@dataclass(frozen=True, slots=True)
class SpdxPackage:
    """An SPDX package.

    Attributes:
        element: Where it is (``packages[2]``).
        spdx_id: ``SPDXID`` (unique inside the document only; opaque).
        name: ``name``.
        version: ``versionInfo``.
        purl: The first ``externalRefs`` entry of type ``purl``.
        cpe: The first ``cpe23Type`` (or ``cpe22Type``) reference.
        licenses: ``licenseConcluded``, else ``licenseDeclared`` (``NOASSERTION``
            and ``NONE`` are no license information).
        supplier: ``supplier`` without its ``Organization:`` / ``Person:`` prefix.
        purpose: ``primaryPackagePurpose`` in lower case (``library``, ``source`` …).
    """

    element: str
    spdx_id: str
    name: str
    version: str | None
    purl: str | None
    cpe: str | None
    licenses: tuple[str, ...]
    supplier: str | None
    purpose: str | None


@dataclass(frozen=True, slots=True)
class SpdxRelationship:
    """An SPDX relationship ``source relationship_type target``."""

    element: str
    source: str
    relationship_type: str
    target: str


@dataclass(frozen=True, slots=True)
class SpdxDocument:
    """A parsed SPDX 2.x JSON document.

    Attributes:
        spdx_version: ``spdxVersion`` (``SPDX-2.3``).
        namespace: ``documentNamespace`` (unique per document).
        name: The document's ``name``.
        packages: Its packages, in document order.
        relationships: Its ``relationships``, in document order.
        describes: ``documentDescribes``.
        other_elements: SPDX ids of the document's files and snippets.
        notes: Doubtful content that was skipped.
    """

    spdx_version: str
    namespace: str
    name: str | None
    packages: tuple[SpdxPackage, ...]
    relationships: tuple[SpdxRelationship, ...]
    describes: tuple[str, ...]
    other_elements: frozenset[str]
    notes: tuple[SbomNote, ...]


SbomDocument = CycloneDxBom | SpdxDocument
"""What :meth:`importers.sbom.SbomImporter.parse` returns for one file."""
