"""REST reports: ``GET /api/v1/reports/changes/{key}`` renders the CAB change report.

``GET /api/v1/reports/health`` renders the CMDB health document (checks, worst
sources, the score over the last 30 days as an inline SVG chart; PRODUCT.md 9)
with the same ``format`` and ``asOf``; its JSON is the document as REST writes
answers (camelCase).

``?format=html`` (the default) answers one self-contained HTML document with
the impact diagram, ``md`` Markdown, ``json`` the report model
(``schema/change-report.schema.json``); ``asOf`` reads the graph as it was
then. Needs the ``read`` scope. An unknown change is a 404 problem document.
Rendering (and Graphviz, for HTML) runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from graphsvc.api.answers import AnswerShape
from graphsvc.api.problems import Problem
from graphsvc.api.rest import IsoTime, Reader, Svc
from graphsvc.errors import InvalidInput
from graphsvc.report import MEDIA_TYPES, ReportFormat, build_change_report, render_report
from graphsvc.report.health_report import (
    HealthDocument,
    build_health_document,
    render_health_html,
    render_health_markdown,
)
from graphsvc.report.model import ChangeReport

__all__ = ["router"]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (400, 401, 403, 404, 422, 503)
}
_REPORT_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report in the requested format.",
        "content": {
            "text/html": {"schema": {"type": "string"}},
            "text/markdown": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "See schema/change-report.schema.json.",
                }
            },
        },
    }
}
_EXTENSIONS = {ReportFormat.HTML: "html", ReportFormat.MARKDOWN: "md", ReportFormat.JSON: "json"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

router = APIRouter(prefix="/api/v1", responses=_PROBLEMS, tags=["reports"])


@router.get(
    "/reports/changes/{key:path}",
    response_class=Response,
    responses=_REPORT_CONTENT,
    summary="The CAB change review report of a change",
)
async def change_report(
    key: Annotated[str, Path(description="The change's key (or an alias).")],
    _principal: Reader,
    svc: Svc,
    format_: Annotated[
        ReportFormat, Query(alias="format", description="html (default), md or json")
    ] = ReportFormat.HTML,
    as_of: Annotated[
        IsoTime | None,
        Query(alias="asOf", description="Read the graph as it was then (with a time zone)."),
    ] = None,
) -> Response:
    """Render the report: summary, conflicts, services by tier, teams, projects, entities."""
    if as_of is not None and (as_of.tzinfo is None or as_of.utcoffset() is None):
        msg = f"asOf {as_of.isoformat()} has no time zone; add Z or an offset such as +00:00"
        raise InvalidInput(msg)

    async def build_and_render() -> tuple[ChangeReport, str]:
        report = await build_change_report(svc.store, key, as_of=as_of)
        return report, render_report(report, format_)

    report, text = await svc.run(build_and_render)
    filename = f"{_UNSAFE.sub('_', report.change.change.key)}.{_EXTENSIONS[format_]}"
    return Response(
        content=text.encode("utf-8"),
        media_type=MEDIA_TYPES[format_],
        headers={"Content-Disposition": f'inline; filename="change-report-{filename}"'},
    )


HEALTH_DOCUMENT_SHAPE = AnswerShape(HealthDocument)


@router.get(
    "/reports/health",
    response_class=Response,
    responses=_REPORT_CONTENT,
    summary="The CMDB health report: checks, worst sources, 30-day score chart",
)
async def health_report(
    _principal: Reader,
    svc: Svc,
    format_: Annotated[
        ReportFormat, Query(alias="format", description="html (default), md or json")
    ] = ReportFormat.HTML,
    as_of: Annotated[
        IsoTime | None,
        Query(alias="asOf", description="Describe the graph as it was then (with a time zone)."),
    ] = None,
) -> Response:
    """Render the health report (the 30-day points are computed once per day and kept)."""
    if as_of is not None and (as_of.tzinfo is None or as_of.utcoffset() is None):
        msg = f"asOf {as_of.isoformat()} has no time zone; add Z or an offset such as +00:00"
        raise InvalidInput(msg)

    async def build_and_render() -> str:
        document = await build_health_document(svc.store, as_of=as_of)
        if format_ is ReportFormat.HTML:
            return render_health_html(document)
        if format_ is ReportFormat.MARKDOWN:
            return render_health_markdown(document)
        return json.dumps(HEALTH_DOCUMENT_SHAPE.dump(document), indent=2, ensure_ascii=False)

    text = await svc.run(build_and_render)
    return Response(
        content=text.encode("utf-8"),
        media_type=MEDIA_TYPES[format_],
        headers={"Content-Disposition": f'inline; filename="health-report.{_EXTENSIONS[format_]}"'},
    )
