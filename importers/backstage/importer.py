"""The ``backstage`` importer: Backstage catalog descriptor files -> the graph."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult
from importers.backstage.model import CatalogFile
from importers.backstage.parse import parse_catalog_file
from importers.backstage.transform import transform_catalog

__all__ = ["BackstageImporter"]


class BackstageImporter(Importer[CatalogFile]):
    """Imports Backstage catalog descriptors (``catalog-info.yaml``, org files ...).

    Pass every descriptor file of the catalog: ``Location`` entities are not
    followed (they are skipped with a warning), and references between files
    resolve only within the files of one run. See
    :mod:`importers.backstage.transform` for the mapping and
    :mod:`importers.backstage.parse` for what makes a file malformed.
    """

    name: ClassVar[str] = "backstage"
    default_source: ClassVar[str] = "backstage"
    description: ClassVar[str] = (
        "Backstage catalog descriptor YAML (Component, API, System, Resource, Group, User)"
    )

    def parse(self, path: Path, options: ImporterOptions) -> CatalogFile:
        """Read one descriptor file.

        Raises:
            ParseError: when the file is unreadable, not YAML, or holds a document
                that is not a Backstage entity of a known kind (names the file,
                the document and its line, and the reason).
        """
        del options
        return parse_catalog_file(path)

    def transform(
        self, parsed: Sequence[tuple[Path, CatalogFile]], options: ImporterOptions
    ) -> ImportResult:
        """Map every parsed file of the run (pure; sorted, deterministic output)."""
        del options
        return transform_catalog([catalog for _, catalog in parsed])
