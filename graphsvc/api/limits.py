"""Request-size limit of the GraphQL endpoint, applied before the body is parsed.

strawberry reads a whole POST body into memory before looking at it; without a
limit one request could hold gigabytes. :class:`GraphQLBodyLimitMiddleware`
answers 413 (problem+json) when the declared ``Content-Length`` or the bytes
actually received exceed the limit, and otherwise hands the buffered body on
unchanged. Other routes are not touched (REST enforces its own limits).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

__all__ = ["GraphQLBodyLimitMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class GraphQLBodyLimitMiddleware:
    """Pure ASGI middleware refusing ``POST /graphql`` bodies above ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int, path: str = "/graphql") -> None:
        self.app = app
        self.limit = limit
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, buffering and measuring the body of GraphQL POSTs."""
        if not (
            scope["type"] == "http" and scope.get("path") == self.path and scope["method"] == "POST"
        ):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
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
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        body = orjson.dumps(
            {
                "type": "about:blank",
                "title": "Payload too large",
                "status": 413,
                "detail": f"GraphQL requests are limited to {self.limit} bytes; "
                "send bulk data to POST /api/v1/ingest",
                "errors": [],
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
