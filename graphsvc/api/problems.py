"""Errors as ``application/problem+json`` (RFC 9457), saying what and where.

Every error the REST API returns is a problem document: ``type``, ``title``,
``status``, ``detail`` and, for a rejected batch or invalid request, an
``errors`` list naming each offending item or field.

Problem documents are bounded: every text in them (detail, key, field, reason)
is cut to a short prefix with the length it had, and at most
:data:`MAX_PROBLEM_ITEMS` items are listed (the detail says how many more there
were), so a client that sends a 1 MB key gets a few hundred bytes back, not an
echo of its megabyte.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from graphsvc.errors import (
    BatchRejected,
    Conflict,
    DeadlineExceeded,
    GraphSvcError,
    InvalidInput,
    NotFound,
    ParseError,
    StoreCorrupted,
    StoreTimeout,
    StoreUnavailable,
)

__all__ = ["Problem", "ProblemItem", "install_problem_handlers", "problem_response"]

PROBLEM = "application/problem+json"
MAX_PROBLEM_ITEMS = 1000
"""Most offending items one problem document lists."""
MAX_ITEM_TEXT = 200
"""Longest key, field or reason in a problem item."""
MAX_DETAIL = 1000
"""Longest ``detail`` of a problem document."""
log = structlog.get_logger("graphsvc.api")


class ProblemItem(BaseModel):
    """One offending item or field."""

    section: str = Field(description="entities, relations, batch, body, query, path")
    index: int | None = Field(
        default=None, description="Position of the item (or line of an NDJSON stream)"
    )
    key: str = ""
    field: str = ""
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] = Field(default_factory=list)


def shorten(text: str, limit: int) -> str:
    """Return ``text``, or its first characters and its length when longer than ``limit``."""
    if len(text) <= limit:
        return text
    return f"{text[: max(limit - 32, 8)]}… ({len(text):,} characters)"


def problem_response(
    status: int,
    title: str,
    detail: str,
    errors: list[ProblemItem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Return a problem document response, bounded as the module docstring says."""
    items = errors or []
    if len(items) > MAX_PROBLEM_ITEMS:
        detail = f"{detail} ({len(items):,} errors; the first {MAX_PROBLEM_ITEMS:,} are listed)"
        items = items[:MAX_PROBLEM_ITEMS]
    items = [
        ProblemItem(
            section=shorten(item.section, MAX_ITEM_TEXT),
            index=item.index,
            key=shorten(item.key, MAX_ITEM_TEXT),
            field=shorten(item.field, MAX_ITEM_TEXT),
            reason=shorten(item.reason, MAX_ITEM_TEXT * 2),
        )
        for item in items
    ]
    body = Problem(title=title, status=status, detail=shorten(detail, MAX_DETAIL), errors=items)
    return JSONResponse(body.model_dump(), status_code=status, media_type=PROBLEM, headers=headers)


def _status_of(exc: GraphSvcError) -> tuple[int, str]:
    if isinstance(exc, BatchRejected):
        return 422, "Batch rejected"
    if isinstance(exc, InvalidInput | ParseError):
        return 400, "Invalid input"
    if isinstance(exc, NotFound):
        return 404, "Not found"
    if isinstance(exc, Conflict):
        return 409, "Conflict"
    if isinstance(exc, DeadlineExceeded):
        return 503, "Service unavailable"
    if isinstance(exc, StoreUnavailable | StoreTimeout):
        return 503, "Store unavailable"
    if isinstance(exc, StoreCorrupted):
        return 503, "Store damaged"
    return 500, "Internal error"


def install_problem_handlers(app: FastAPI) -> None:
    """Map graphsvc errors, HTTP errors and request validation errors to problems.

    HTTP errors are Starlette's (FastAPI's are a subclass of it), so the ones
    raised by the framework itself (a body that is not JSON, an unknown route, a
    wrong method) are problem documents too.
    """

    async def graphsvc_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GraphSvcError)
        status, title = _status_of(exc)
        items: list[ProblemItem] = []
        if isinstance(exc, BatchRejected):
            items = [
                ProblemItem(
                    section=e.section, index=e.index, key=e.key, field=e.field, reason=e.reason
                )
                for e in exc.errors
            ]
        detail = str(exc)
        if status == 500:
            log.error("internal error", path=request.url.path, error=repr(exc))
            detail = "the server could not complete the request; see its log"
        return problem_response(status, title, detail, items)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(
            exc.status_code, _title(exc.status_code), str(exc.detail), headers=headers
        )

    async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        items = []
        for err in exc.errors():
            loc: list[Any] = list(err.get("loc", ()))
            section = str(loc[0]) if loc else "request"
            items.append(
                ProblemItem(
                    section=section,
                    field=".".join(str(p) for p in loc[1:]),
                    reason=str(err.get("msg")),
                )
            )
        return problem_response(
            422, "Invalid request", "the request does not have the expected shape", items
        )

    app.add_exception_handler(GraphSvcError, graphsvc_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def _title(status: int) -> str:
    return {
        400: "Bad request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
        409: "Conflict",
        413: "Payload too large",
        415: "Unsupported media type",
        422: "Invalid request",
        503: "Service unavailable",
    }.get(status, "Error")
