"""The explorer's stylesheet, served as one cached file instead of inlined in every page.

The stylesheet is the change report's (same look) plus the explorer's own rules,
assembled once at import. It is served at ``/assets/explorer-<digest>.css``,
where ``<digest>`` is the first 16 hex digits of the SHA-256 of its text: a new
version of the text has a new address, so the file is cached for a year as
``immutable``, and pages need no inline style (the explorer's CSP allows styles
from this server only: ``style-src 'self'``). It also answers ``ETag`` and
``304 Not Modified`` for browsers that revalidate anyway. Another digest is a
404 (a page of an older version asks for the current text by its new name
once reloaded). The file holds no graph data: it is served without a session,
like ``/static``.

The path is outside ``/static``, whose files are read from the package folder
by :func:`graphsvc.api.pages.pages_router`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

__all__ = ["ASSETS_PREFIX", "Stylesheet", "stylesheet_router"]

ASSETS_PREFIX = "/assets"
"""Where the explorer's generated assets are served (under the app's ``root_path``)."""

_IMMUTABLE = "public, max-age=31536000, immutable"
_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


@dataclass(frozen=True, slots=True)
class Stylesheet:
    """A stylesheet's text and its versioned address (build it with :meth:`of`).

    Attributes:
        body: The CSS, UTF-8.
        digest: The first 16 hex digits of the SHA-256 of ``body``.
        path: Where it is served: ``/assets/explorer-<digest>.css``.
        etag: Its strong entity tag (the digest, quoted).
    """

    body: bytes
    digest: str
    path: str
    etag: str

    @classmethod
    def of(cls, text: str) -> Stylesheet:
        """Version ``text`` by its digest."""
        body = text.encode("utf-8")
        digest = hashlib.sha256(body).hexdigest()[:16]
        return cls(body, digest, f"{ASSETS_PREFIX}/explorer-{digest}.css", f'"{digest}"')


def stylesheet_router(sheet: Stylesheet) -> APIRouter:
    """Return the route serving ``sheet`` at its versioned path (GET and HEAD)."""
    router = APIRouter(include_in_schema=False)

    @router.api_route(ASSETS_PREFIX + "/explorer-{digest}.css", methods=["GET", "HEAD"])
    async def stylesheet(digest: str, request: Request) -> Response:
        if digest != sheet.digest:
            return Response(
                "no such stylesheet\n",
                status_code=404,
                media_type="text/plain; charset=utf-8",
                headers={**_HEADERS, "cache-control": "no-store"},
            )
        headers = {**_HEADERS, "cache-control": _IMMUTABLE, "etag": sheet.etag}
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None:
            tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
            if "*" in tags or sheet.etag in tags:
                return Response(status_code=304, headers=headers)
        return Response(sheet.body, media_type="text/css; charset=utf-8", headers=headers)

    return router
