"""The three formats of the change report and their media types."""

from __future__ import annotations

from enum import StrEnum

from graphsvc.report.build import gc_paused
from graphsvc.report.diagram import DEFAULT_MAX_NODES, DOT_TIMEOUT_SECONDS, draw
from graphsvc.report.model import ChangeReport
from graphsvc.report.render_html import render_html
from graphsvc.report.render_markdown import render_markdown

__all__ = ["MEDIA_TYPES", "ReportFormat", "render_json", "render_report"]


class ReportFormat(StrEnum):
    """A format of the change report."""

    __hash__ = str.__hash__

    HTML = "html"
    """One self-contained HTML document with the impact diagram."""
    MARKDOWN = "md"
    """Markdown (CommonMark with GFM tables), without the diagram."""
    JSON = "json"
    """The report model as JSON (schema/change-report.schema.json)."""


MEDIA_TYPES: dict[ReportFormat, str] = {
    ReportFormat.HTML: "text/html; charset=utf-8",
    ReportFormat.MARKDOWN: "text/markdown; charset=utf-8",
    ReportFormat.JSON: "application/json",
}
"""The Content-Type of each format."""


def render_json(report: ChangeReport) -> str:
    """Return the report as indented JSON (camelCase names, UTC times), ending with a newline."""
    return report.model_dump_json(indent=2) + "\n"


def render_report(
    report: ChangeReport,
    fmt: ReportFormat,
    *,
    max_nodes: int = DEFAULT_MAX_NODES,
    dot_timeout: float = DOT_TIMEOUT_SECONDS,
    dot_binary: str | None = None,
) -> str:
    """Render ``report`` in ``fmt``.

    Only HTML runs Graphviz (``dot_binary``, default ``dot`` on ``PATH``, with
    ``dot_timeout`` seconds and at most ``max_nodes`` nodes), and only when the
    impact set holds something to draw; without Graphviz the HTML carries a
    note in the diagram's place. Markdown and JSON never need it.
    """
    with gc_paused():
        if fmt is ReportFormat.JSON:
            return render_json(report)
        if fmt is ReportFormat.MARKDOWN:
            return render_markdown(report)
        if report.summary.impact_set == 0:
            return render_html(report, None)  # nothing to draw: no Graphviz run
        diagram = draw(report, max_nodes=max_nodes, timeout=dot_timeout, dot_binary=dot_binary)
        return render_html(report, diagram)
