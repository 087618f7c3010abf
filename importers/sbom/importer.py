"""The ``sbom`` importer: CycloneDX and SPDX 2.x JSON SBOMs -> software CIs and services."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult
from importers.sbom.mapping import transform_documents
from importers.sbom.parse import parse_sbom
from importers.sbom.records import SbomDocument

__all__ = ["SbomImporter"]


class SbomImporter(Importer[SbomDocument]):
    """Imports software bills of materials: CycloneDX JSON (1.2-1.6) and SPDX 2.x JSON.

    Components and packages become ``ConfigurationItem`` entities of class
    ``software``, CycloneDX services (SaaSBOM) become ``Service`` entities;
    dependencies become ``DEPENDS_ON`` and containment ``PART_OF``. The format
    is detected from each file's content (see :mod:`importers.sbom.parse`);
    keys, identifiers and the relationship mapping are described in
    :mod:`importers.sbom.mapping`.
    """

    name: ClassVar[str] = "sbom"
    default_source: ClassVar[str] = "sbom"
    description: ClassVar[str] = (
        "CycloneDX and SPDX 2.x JSON SBOMs: components, services, dependencies"
    )

    def parse(self, path: Path, options: ImporterOptions) -> SbomDocument:  # noqa: ARG002
        """Read one SBOM.

        Raises:
            ParseError: when the file is not JSON, is neither CycloneDX nor SPDX
                2.x, has an unsupported spec version or lacks a required field
                (the error names the element, e.g. ``components[3].name``).
        """
        return parse_sbom(path)

    def transform(
        self,
        parsed: Sequence[tuple[Path, SbomDocument]],
        options: ImporterOptions,  # noqa: ARG002
    ) -> ImportResult:
        """Turn the parsed SBOMs of a run into entities and relations (pure)."""
        return transform_documents(parsed)
