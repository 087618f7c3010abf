"""The pages graphsvc serves to people, and the browser code they load.

Three pages, each loading only what graphsvc itself serves (PRODUCT.md 5: they
work on a network without internet access):

* ``/`` is the explorer's home (:mod:`graphsvc.api.explorer`): its search box, and
  in its footer what graphsvc is with links to its interfaces (nothing about how
  this server is configured beyond whether GraphiQL and ``/docs`` are on).
* GraphiQL at ``/graphql`` (development only; strawberry's router answers a
  browser's GET with :func:`graphiql_page`).
* ``/docs``, the OpenAPI page (Swagger UI; development only).

Their scripts and styles are served at ``/static/<name>`` from
``graphsvc/api/static``: third-party code under ``vendor/<package>-<version>/``
with its licence beside it (``vendor/README.md`` lists what, from where, and
how to refresh it), graphsvc's own under ``graphsvc/``.

A static name is looked up in an index of the files that were there when the
first one was asked for, never joined to a filesystem path: ``..``, encoded
separators, NUL bytes and the like are simply names that are not in it (404),
and no folder is ever listed. Only GET and HEAD are answered (405 otherwise).

Caching: files under ``vendor/`` have the version in their path and are cached
for a year as ``immutable``; graphsvc's own files and the pages are revalidated
on every use (``no-cache``, with an ``ETag`` the static files honour).

Every page carries a Content-Security-Policy that lets the browser load only
from this server (and ``data:`` images): a page that named another host would
have that load refused, not just flagged by the tests.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import html
import os
import re
from dataclasses import dataclass
from email.utils import parsedate
from functools import cache
from pathlib import Path

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import Headers
from starlette.responses import FileResponse

from graphsvc.api.problems import problem_response

__all__ = [
    "DOCS_ASSETS",
    "GRAPHIQL_ASSETS",
    "STATIC_PREFIX",
    "STATIC_ROOT",
    "StaticFile",
    "docs_page",
    "graphiql_page",
    "pages_router",
    "static_index",
]

STATIC_ROOT = Path(__file__).parent / "static"
"""The folder served at :data:`STATIC_PREFIX`."""

STATIC_PREFIX = "/static"
"""Where the static files are served (under the app's ``root_path``)."""

GRAPHIQL_ASSETS = (
    "vendor/graphiql-3.8.3/graphiql.min.css",
    "vendor/graphiql-plugin-explorer-1.0.2/style.css",
    "vendor/react-18.2.0/react.production.min.js",
    "vendor/react-dom-18.2.0/react-dom.production.min.js",
    "vendor/graphiql-3.8.3/graphiql.min.js",
    "vendor/graphiql-plugin-explorer-1.0.2/index.umd.js",
    "graphsvc/graphiql.js",
)
"""What the GraphiQL page loads, in order: the styles, then the scripts."""

SWAGGER_UI = "vendor/swagger-ui-dist-5.36.0"
DOCS_ASSETS = (
    f"{SWAGGER_UI}/swagger-ui.css",
    f"{SWAGGER_UI}/favicon-32x32.png",
    f"{SWAGGER_UI}/swagger-ui-bundle.js",
)
"""What ``/docs`` loads: Swagger UI's style, icon and script."""

MAX_NAME = 512
"""Longer static names are answered 404 before any lookup."""

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}
_PLAIN_TEXT_NAMES = {"LICENSE", "NOTICE"}

_COMMON_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
_PAGE_POLICY = (
    "default-src 'none'; {script}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file served at ``/static/<name>``.

    Attributes:
        path: The file (resolved, inside :data:`STATIC_ROOT`).
        media_type: Its ``Content-Type``.
        cache_control: ``immutable`` for versioned third-party files, else ``no-cache``.
    """

    path: Path
    media_type: str
    cache_control: str


def _media_type(name: str) -> str | None:
    """Return the ``Content-Type`` of a file served under that name, or ``None`` if not served."""
    if name in _PLAIN_TEXT_NAMES:
        return "text/plain; charset=utf-8"
    return _MEDIA_TYPES.get(Path(name).suffix)


@cache
def static_index(root: Path = STATIC_ROOT) -> dict[str, StaticFile]:
    """Return the files served from ``root``, by their name relative to it (``/`` separated).

    Built once per ``root`` (the first time a static file is asked for), from
    what is on disk then. Served: ``.js``, ``.css``, ``.png``, ``.txt`` files
    and files named ``LICENSE`` or ``NOTICE``. Not served: anything else (the
    vendor README, HTML, Python), hidden files and folders (a leading dot), and
    anything whose real path (after symbolic links) is outside ``root``.
    """
    base = root.resolve()
    found: dict[str, StaticFile] = {}
    for path in sorted(base.rglob("*")):
        relative = path.relative_to(base)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        media_type = _media_type(path.name)
        real = path.resolve()
        if media_type is None or not real.is_relative_to(base):
            continue
        name = relative.as_posix()
        cache_control = IMMUTABLE if name.startswith("vendor/") else REVALIDATE
        found[name] = StaticFile(real, media_type, cache_control)
    return found


def _not_modified(etag: str, modified: float, request: Headers) -> bool:
    """Whether a conditional request already holds this version (RFC 9110 13.1.2, 13.1.3).

    ``If-None-Match`` (weak comparison; ``*`` matches) decides when present;
    otherwise ``If-Modified-Since`` at or after ``modified`` (a POSIX time); a
    date that does not parse is ignored.
    """
    if if_none_match := request.get("if-none-match"):
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags
    if_modified_since = parsedate(request.get("if-modified-since", ""))
    return if_modified_since is not None and calendar.timegm(if_modified_since) >= int(modified)


def _no_such_file() -> Response:
    """The 404 of a static name that is not served (the name is not echoed back)."""
    return problem_response(404, "Not found", "no such static file", headers=_COMMON_HEADERS)


def _root(request: Request) -> str:
    """The app's ``root_path`` (set by whoever runs the server, never by a caller), escaped."""
    return html.escape(str(request.scope.get("root_path", "")).rstrip("/"), quote=True)


def _policy(script: str) -> dict[str, str]:
    """The headers of a page whose scripts may come from ``script`` (a CSP source list)."""
    return {
        **_COMMON_HEADERS,
        "content-security-policy": _PAGE_POLICY.format(script=script),
        "cache-control": REVALIDATE,
    }


_GRAPHIQL_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL - graphsvc</title>
<link rel="icon" href="data:,">
{styles}
<style>
  body {{ height: 100%; margin: 0; width: 100%; overflow: hidden; }}
  #graphiql {{ height: 100vh; display: flex; }}
  .docExplorerHide {{ display: none; }}
  .doc-explorer-contents {{ overflow-y: hidden !important; }}
  .docExplorerWrap {{ width: unset !important; min-width: unset !important; }}
  .graphiql-explorer-actions select {{ margin-left: 4px; }}
</style>
</head>
<body>
<div id="graphiql" class="graphiql-container">Loading GraphiQL...</div>
<noscript>GraphiQL needs JavaScript. Queries can also be sent as POST requests
to this address with a JSON body: {{"query": "..."}}.</noscript>
{scripts}
</body>
</html>
"""


def graphiql_page(request: Request) -> HTMLResponse:
    """Return GraphiQL's page, loading its scripts and styles from this server only.

    The page holds nothing from the request (the query a link carries in
    ``?q=`` is read by the script, in the browser). Its CSP allows scripts from
    this server and no inline script.
    """
    static = f"{_root(request)}{STATIC_PREFIX}"
    styles = "\n".join(
        f'<link rel="stylesheet" href="{static}/{name}">'
        for name in GRAPHIQL_ASSETS
        if name.endswith(".css")
    )
    scripts = "\n".join(
        f'<script src="{static}/{name}"></script>'
        for name in GRAPHIQL_ASSETS
        if name.endswith(".js")
    )
    return HTMLResponse(
        _GRAPHIQL_HTML.format(styles=styles, scripts=scripts), headers=_policy("script-src 'self'")
    )


def docs_page(request: Request, openapi_url: str, title: str) -> HTMLResponse:
    """Return the OpenAPI page (Swagger UI) for ``openapi_url``, from this server's copies.

    Swagger UI's online validator (which would send the OpenAPI document to
    another host and show its badge) is off. FastAPI writes a small inline
    script that starts Swagger UI; the CSP allows exactly that script, by its
    SHA-256, and scripts from this server.
    """
    root = _root(request)
    static = f"{root}{STATIC_PREFIX}"
    page = get_swagger_ui_html(
        openapi_url=f"{root}{openapi_url}",
        title=f"{title} - OpenAPI",
        swagger_js_url=f"{static}/{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{static}/{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=f"{static}/{SWAGGER_UI}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},
    )
    body = bytes(page.body).decode()
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(body)
    )
    return HTMLResponse(body, headers=_policy(f"script-src 'self' {hashes}"))


def pages_router(
    *, development: bool, title: str = "graphsvc", openapi_url: str = "/openapi.json"
) -> APIRouter:
    """Return the routes of ``/static/<name>`` and, in development, ``/docs``.

    Args:
        development: Whether ``/docs`` is served.
        title: The API's title, shown by ``/docs``.
        openapi_url: Where the app serves its OpenAPI document (``/docs`` loads it).

    None of these routes needs a token: they hold no data (the OpenAPI page
    reads ``openapi_url``, which is public too; what it then calls is
    authenticated as usual).
    """
    router = APIRouter(include_in_schema=False)

    @router.api_route(STATIC_PREFIX + "/{name:path}", methods=["GET", "HEAD"])
    async def static_file(name: str, request: Request) -> Response:
        if len(name) > MAX_NAME:
            return _no_such_file()
        found = (await anyio.to_thread.run_sync(static_index)).get(name)
        try:
            stat = None if found is None else await anyio.to_thread.run_sync(os.stat, found.path)
        except OSError:  # removed since the index was built
            stat = None
        if found is None or stat is None:
            return _no_such_file()
        answer = FileResponse(
            found.path,
            media_type=found.media_type,
            stat_result=stat,
            headers={**_COMMON_HEADERS, "cache-control": found.cache_control},
        )
        etag, last_modified = answer.headers["etag"], answer.headers["last-modified"]
        if _not_modified(etag, stat.st_mtime, request.headers):
            return Response(
                status_code=304,
                headers={
                    **_COMMON_HEADERS,
                    "etag": etag,
                    "last-modified": last_modified,
                    "cache-control": found.cache_control,
                },
            )
        return answer

    if development:

        @router.api_route("/docs", methods=["GET", "HEAD"])
        async def docs(request: Request) -> HTMLResponse:
            return docs_page(request, openapi_url, title)

    return router
