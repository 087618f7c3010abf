"""Parsed form of service dependency graph files (Jaeger, Kiali, OpenTelemetry).

:mod:`importers.service_graph.parse` reads one file into a :class:`GraphFile`:
the services it names and the calls it observed, whatever the format;
:mod:`importers.service_graph.transform` aggregates the files of a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from graphsvc.ingest.importer import ImportWarning

__all__ = ["GraphFile", "GraphFormat", "ObservedCall"]


class GraphFormat(StrEnum):
    """The formats the importer reads (detected from the content)."""

    JAEGER = "jaeger"
    """Jaeger dependency links ``[{parent, child, callCount}]``, bare or under ``data``."""
    KIALI = "kiali"
    """A Kiali graph (cytoscape ``elements`` with ``nodes`` and ``edges``)."""
    OTEL = "otel"
    """OpenTelemetry service graph connector metrics (OTLP ``resourceMetrics``, YAML or JSON)."""


@dataclass(frozen=True, slots=True)
class ObservedCall:
    """Calls from one service to another, as one element of a file reports them.

    Attributes:
        caller: The calling service's name.
        callee: The called service's name.
        call_count: How many calls; ``None`` when the element has no request
            count (a Kiali TCP edge reports bytes, not requests).
        error_count: How many of them failed; ``None`` when the format does not say.
        connection_type: The OTel ``connection_type`` (``database``,
            ``messaging_system``, ``virtual_node``), when not empty.
        protocol: The Kiali edge protocol (``http``, ``grpc``, ``tcp``).
        element: Where in the file, as a JSON-path-like string (``[3]``,
            ``elements.edges[2]``, ``resourceMetrics[0]...dataPoints[1]``).
    """

    caller: str
    callee: str
    call_count: int | None
    error_count: int | None = None
    connection_type: str | None = None
    protocol: str | None = None
    element: str = ""


@dataclass(frozen=True, slots=True)
class GraphFile:
    """Everything read from one file.

    Attributes:
        path: The file.
        format: Its detected format.
        services: Every service the file names (callers, callees, and Kiali
            nodes without edges), without placeholders such as OTel's ``user``.
        calls: The observed calls, in file order (not yet aggregated).
        warnings: What was skipped: calls from or to placeholder nodes.
    """

    path: str
    format: GraphFormat
    services: tuple[str, ...]
    calls: tuple[ObservedCall, ...]
    warnings: tuple[ImportWarning, ...] = ()
