"""The explorer's health page on a graph that changes (issue 22, "fast on the big graph").

The current document is computed once per commit and shared with ``/metrics``;
the 30-day trend is drawn from the points already computed while the missing
ones are computed in the background (the page says how many), and a page never
computes a trend point itself. The clock is the app's health cache's
(``app.state.health_cache.clock``).
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

from graphsvc.api.health_cache import HealthCache
from tests.api.conftest import Api, MakeApi

_PENDING = re.compile(r"(\d+) of 30 points still being computed")

FIX = {
    "source": "cmdb",
    "entities": [{"kind": "Service", "key": "s-new", "attributes": {"tier": 3}}],
}
"""A new service with no owner and no capability: the checks' figures change."""


def _cache(api: Api) -> HealthCache:
    found: HealthCache = api.app.state.health_cache
    return found


def _pending(html: str) -> int:
    found = _PENDING.search(html)
    return int(found.group(1)) if found else 0


def _score(html: str) -> int:
    found = re.search(r'<span class="key">Score (\d+)</span>', html)
    assert found, html[:500]
    return int(found.group(1))


def _checks(html: str) -> str:
    return html[html.index('<section id="checks">') : html.index('<section id="sources">')]


async def _filled(cache: HealthCache) -> None:
    for _ in range(1000):
        if not cache.pending:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{cache.pending} trend points still pending after 10 s")


async def _page(api: Api, **params: str) -> str:
    r = await api.client.get("/health", params=params)
    assert r.status_code == 200, r.text[-500:]
    return r.text


async def test_the_document_is_computed_once_per_commit_and_shared_with_metrics(
    api: Api,
) -> None:
    cache = _cache(api)
    first = await _page(api)
    assert cache.computations == 1
    assert _score(await _page(api)) == _score(first)
    assert (await api.client.get("/metrics")).status_code == 200
    assert cache.computations == 1  # the gauges took the page's computation
    later = cache.clock
    cache.clock = lambda: later() + timedelta(days=2)  # time passes, nothing is committed
    await _page(api)
    assert cache.computations == 1
    assert (await api.client.post("/api/v1/ingest", json=FIX)).status_code == 200
    after = await _page(api)
    assert cache.computations == 2
    assert _checks(after) != _checks(first)  # one more service, failing checks
    await api.client.get("/metrics")
    assert cache.computations == 2


async def test_missing_trend_points_are_computed_in_the_background_never_by_the_page(
    api: Api,
) -> None:
    cache = _cache(api)
    html = await _page(api)
    # the page drew what was known (nothing) and did not wait: every past point is missing
    assert _pending(html) == 29 and 'id="trend-pending"' in html
    await _filled(cache)
    assert cache.scores.computed == 29
    again = await _page(api)
    assert _pending(again) == 0 and "still being computed" not in again
    assert cache.scores.computed == 29  # the page computed none
    # three days later (the injectable clock): three new midnights, computed in the background
    now = datetime.now(UTC)
    cache.clock = lambda: now + timedelta(days=3)
    assert _pending(await _page(api)) == 3
    await _filled(cache)
    assert _pending(await _page(api)) == 0
    assert cache.scores.computed == 32
    assert cache.computations == 1  # no commit: the document was not computed again


async def test_as_of_pages_are_computed_on_demand_and_say_what_is_not_available(
    make_api: MakeApi,
) -> None:
    api: Api = await make_api()
    await api.load_small_graph()
    cache = _cache(api)
    past = await _page(api, asOf="2000-01-01T00:00:00Z")
    assert "graph as of 2000-01-01T00:00:00+00:00" in past
    assert cache.computations == 0  # asOf pages do not touch the current document
    await _filled(cache)
    future = (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0)
    html = await _page(api, asOf=future.isoformat())
    missing = re.search(r"(\d+) of 30 points are not computed \(days after now", html)
    assert missing and 4 <= int(missing.group(1)) <= 5, html
    repeated = await api.client.get("/health?asOf=2000-01-01T00:00:00Z&asOf=2001-01-01T00:00:00Z")
    assert repeated.status_code == 400 and "asOf" in repeated.text
