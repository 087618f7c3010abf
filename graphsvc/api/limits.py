"""Size and shape limits of the GraphQL endpoint, applied before strawberry parses.

strawberry reads a whole POST body into memory before looking at it; without a
limit one request could hold gigabytes. :class:`GraphQLBodyLimitMiddleware`
answers 413 (problem+json) when the declared ``Content-Length`` or the bytes
actually received exceed the limit. A JSON body (and the ``variables`` of a GET)
must then be JSON that strict decoders accept, with variables nested at most
``max_depth`` levels: a body nested 100,000 deep would otherwise exhaust the
stack of a recursive decoder, and a lone surrogate reach the store. Those are
answered 400 (problem+json) saying what is wrong; anything else is handed on
unchanged. Other routes are not touched (REST enforces its own limits).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

__all__ = ["GraphQLBodyLimitMiddleware", "json_problem", "nesting_depth"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class GraphQLBodyLimitMiddleware:
    """Pure ASGI middleware refusing ``POST /graphql`` bodies above ``limit`` bytes."""

    def __init__(
        self, app: ASGIApp, limit: int, max_depth: int = 32, path: str = "/graphql"
    ) -> None:
        self.app = app
        self.limit = limit
        self.max_depth = max_depth
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, buffering and measuring the body of GraphQL POSTs."""
        if not (scope["type"] == "http" and scope.get("path") == self.path):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            variables = query.get("variables", [""])[0]
            problem = (
                json_problem(variables.encode(), self.max_depth, variables_only=True)
                if variables
                else None
            )
            if problem is not None:
                await _send_problem(send, 400, "Bad request", problem)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type == b"application/json":
            problem = json_problem(body, self.max_depth)
            if problem is not None:
                await _send_problem(send, 400, "Bad request", problem)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        detail = (
            f"GraphQL requests are limited to {self.limit} bytes; "
            "send bulk data to POST /api/v1/ingest"
        )
        await _send_problem(send, 413, "Payload too large", detail)


def nesting_depth(value: object) -> int:
    """Return how deeply ``value`` nests lists and objects (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def json_problem(raw: bytes, max_depth: int, *, variables_only: bool = False) -> str | None:
    """Return why ``raw`` is not a GraphQL request body (or variables) we accept, or ``None``.

    Refused: what a strict JSON decoder refuses (lone surrogates among it), nesting
    deeper than the decoder's 1,024 levels, and variables nested deeper than
    ``max_depth``. ``raw`` is a request body, or with ``variables_only`` the
    ``variables`` parameter of a GET.
    """
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = str(exc)
        if "depth limit" in reason:
            return "the JSON is nested more than 1,024 levels deep"
        if "surrogate" in reason:
            return f"the JSON holds a lone UTF-16 surrogate, which is not text ({reason[:80]})"
        return f"the body is not valid JSON: {reason[:120]}"
    if variables_only:
        variables = document
    else:
        variables = document.get("variables") if isinstance(document, dict) else None
    depth = nesting_depth(variables) - 1  # the object of all variables is not a level
    if depth > max_depth:
        return f"variables are nested {depth} levels deep; at most {max_depth} are allowed"
    return None


async def _send_problem(send: Send, status: int, title: str, detail: str) -> None:
    body = orjson.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, "errors": []}
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
