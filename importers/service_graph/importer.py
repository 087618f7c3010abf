"""The ``service-graph`` importer: observed service dependency graphs -> the graph."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult
from importers.service_graph.model import GraphFile
from importers.service_graph.parse import parse_graph_file
from importers.service_graph.transform import transform_graphs

__all__ = ["ServiceGraphImporter"]


class ServiceGraphImporter(Importer[GraphFile]):
    """Imports observed service-to-service calls (Jaeger, Kiali, OpenTelemetry).

    Each file's format is detected from its content, so one run may mix
    formats; calls between the same two services are summed across files.
    See :mod:`importers.service_graph.parse` for the formats and
    :mod:`importers.service_graph.transform` for the mapping.
    """

    name: ClassVar[str] = "service-graph"
    default_source: ClassVar[str] = "service-graph"
    description: ClassVar[str] = (
        "Service dependency graphs: Jaeger dependencies, Kiali graph, OTel service graph metrics"
    )

    def parse(self, path: Path, options: ImporterOptions) -> GraphFile:
        """Read one service graph file.

        Raises:
            ParseError: when the file is unreadable, none of the supported
                formats, or has an element of the wrong shape (names the file,
                the element and the reason).
        """
        del options
        return parse_graph_file(path)

    def transform(
        self, parsed: Sequence[tuple[Path, GraphFile]], options: ImporterOptions
    ) -> ImportResult:
        """Aggregate every parsed file of the run (pure; sorted, deterministic output)."""
        del options
        return transform_graphs([g for _, g in parsed])
