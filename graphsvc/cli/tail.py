"""``graphsvc events tail``: follow a running graphsvc's event feed from the terminal.

The client long-polls ``GET /api/v1/events?after=…&wait=…`` (PRODUCT.md 8): an
answer comes as soon as an event commits, and every answer carries the cursor to
ask again from. So it needs nothing but plain HTTP through any proxy, and when
the connection drops or the server restarts it asks again from the last cursor
(after a short, growing pause): nothing is printed twice and nothing is missed.

A cursor the server no longer holds events after (pruned, 410) ends the tail
with the server's advice; so do a bad token (401/403) and refused filters (422).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

import graphsvc
from graphsvc.cli.remote import normalise_url
from graphsvc.errors import GraphSvcError, InvalidInput

__all__ = ["FeedGone", "TailFilter", "tail_events"]

POLL_WAIT = 25.0
"""Seconds each long poll waits for an event (below every usual proxy timeout)."""
PAGE = 500
"""Events asked for at once."""
RETRY_PAUSES = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Pauses before asking again after a failure, growing; the last one repeats."""


class FeedGone(GraphSvcError):
    """The server no longer holds the events after the cursor (they were pruned)."""


@dataclass(frozen=True)
class TailFilter:
    """The filters of ``GET /api/v1/events`` (see there); empty ones are left out."""

    kinds: Sequence[str] = ()
    types: Sequence[str] = ()
    sources: Sequence[str] = ()
    exclude_sources: Sequence[str] = ()
    item: str | None = None

    def params(self) -> list[tuple[str, str]]:
        """The query parameters."""
        out = [("kind", k) for k in self.kinds] + [("type", t) for t in self.types]
        out += [("source", s) for s in self.sources]
        out += [("excludeSource", s) for s in self.exclude_sources]
        if self.item:
            out.append(("item", self.item))
        return out


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = str(body.get("detail", "")) if isinstance(body, dict) else ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        detail += ": " + "; ".join(
            f"{e.get('field') or e.get('section')}: {e.get('reason')}" for e in errors[:5]
        )
    return detail


async def tail_events(
    url: str,
    token: str | None,
    filters: TailFilter,
    *,
    after: int | None,
    on_event: Callable[[dict[str, Any]], None],
    on_retry: Callable[[str, float], None] = lambda _why, _pause: None,
    wait: float = POLL_WAIT,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> None:
    """Follow the feed until cancelled, calling ``on_event`` for each event in seq order.

    Args:
        url: The service's base URL.
        token: An API token (read scope), or ``None`` for a local server.
        filters: Which events.
        after: Start after this seq (``None``: with the events committed from now on).
        on_event: Called with each event as the server wrote it (a JSON object).
        on_retry: Called with why and how long it pauses before asking again.
        wait: Seconds each long poll waits.
        sleep: How to pause (tests pass their own).

    Raises:
        InvalidInput: a bad URL, token, scope or filter (the server's words).
        FeedGone: the events after the cursor were pruned (the server's advice).
    """
    base = normalise_url(url)
    headers = {"User-Agent": f"graphsvc-cli/{graphsvc.__version__}"}
    if token:
        headers["Authorization"] = f"Bearer {token.strip()}"
    timeout = httpx.Timeout(wait + 15, connect=10)
    failures = 0
    cursor = after
    async with httpx.AsyncClient(base_url=f"{base}/api/v1", headers=headers, timeout=timeout) as c:
        while True:
            if cursor is None:  # only to learn where the feed ends now
                params = [("limit", "1")]
            else:
                params = filters.params()
                params += [("limit", str(PAGE)), ("after", str(cursor)), ("wait", f"{wait:g}")]
            try:
                response = await c.get("/events", params=tuple(params))
            except httpx.TransportError as exc:
                why = f"cannot reach {base}: {str(exc) or type(exc).__name__}"
            else:
                if response.status_code == 200:
                    failures = 0
                    page = response.json()
                    if cursor is None:
                        cursor = int(page["lastSeq"])
                        continue
                    for event in page["items"]:
                        on_event(event)
                    cursor = int(page["next"])
                    continue
                if response.status_code == 410:
                    raise FeedGone(_detail(response))
                if response.status_code in (400, 401, 403, 404, 422):
                    msg = f"GET {base}/api/v1/events: {response.status_code} {_detail(response)}"
                    raise InvalidInput(msg)
                why = f"{base} answered {response.status_code}"
            pause = RETRY_PAUSES[min(failures, len(RETRY_PAUSES) - 1)]
            failures += 1
            on_retry(why, pause)
            await sleep(pause)
