"""Requests leave no cyclic garbage (issue 17: garbage-collector pauses).

A collection of Python's cyclic garbage collector stops every thread; what it
frees, it frees during the pause. Requests that leave reference cycles (closures
calling each other, bound methods stored on their owner, tracebacks holding
their frames) make collections frequent and long: before the fixes, 178 objects
per GraphQL request, every request's context, loaders and answer among them,
and pauses of up to 80 ms at 1M entities. Here each kind of request runs after a
warm-up (the first run of a query text validates it, which leaves a fixed amount
of garbage, cached afterwards) while the collector saves what it finds, and no
object of graphsvc, strawberry, graphql-core or the web stack may be among it.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from graphsvc.api.app import create_app
from graphsvc.config import Settings
from tests.api.conftest import Api
from tests.api.serving import chain_batch, chain_query

SERVER_MODULES = ("graphsvc", "strawberry", "graphql", "starlette", "fastapi", "uvicorn")
IMPACT = (
    "query Impact($ids: [ID!]!) { impact(ids: $ids) { summary { total byState { state count } }"
    " affected(first: 20) { totalCount edges { node { entity { key } depth state path { type } }"
    " } } teamsToNotify { team { key } why } } }"
)


def _module_of(found: object) -> str:
    module = getattr(found, "__module__", None)
    if isinstance(module, str) and type(found).__name__ in ("function", "method", "coroutine"):
        return module
    return type(found).__module__


def server_garbage() -> Counter[str]:
    """Collect, and count by type the unreachable objects that belong to the server side."""
    gc.collect()
    found: Counter[str] = Counter()
    for item in gc.garbage:
        module = _module_of(item)
        if module.startswith(SERVER_MODULES):
            found[f"{module}.{getattr(item, '__qualname__', type(item).__qualname__)}"] += 1
    return found


async def _garbage_of(work: Callable[[], Awaitable[None]], times: int) -> Counter[str]:
    await work()  # warm-up: validation of a new query text, caches
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(times):
            await work()
        return server_garbage()
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.collect()


@pytest.fixture
async def embedded_api(tmp_path: Path) -> AsyncIterator[Api]:
    """The app on the embedded store (the Neo4j driver's objects are outside this guarantee)."""
    settings = Settings(
        data=tmp_path / "g.db",
        tokens_file=tmp_path / "tokens.db",
        durability="normal",
        graphql_max_path_steps=2000,
        # survivors frozen by the server would hide garbage from the collector
        gc_freeze_survivors=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 51000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            yield Api(app, client)


async def test_reads_writes_and_refusals_leave_no_cyclic_garbage(embedded_api: Api) -> None:
    api = embedded_api
    assert (await api.client.post("/api/v1/ingest", json=chain_batch(300))).status_code == 200
    await api.load_small_graph()
    head = (await api.gql('{ entity(kind: SERVICE, key: "s0") { id } }'))["data"]["entity"]["id"]
    middle = (await api.gql('{ entity(kind: SERVICE, key: "s290") { id } }'))["data"]["entity"][
        "id"
    ]

    async def entity() -> None:
        body = await api.gql(
            '{ entity(kind: SERVICE, key: "s5") { key name incoming { totalCount edges '
            "{ node { from { key } } } } outgoing(types: [DEPENDS_ON]) { edges { node "
            "{ to { key } } } } } }"
        )
        assert body["data"]["entity"]["key"] == "s5"

    async def impact() -> None:
        body = await api.gql(IMPACT, {"ids": [middle]})
        assert body["data"]["impact"]["summary"]["total"] > 0

    async def refused() -> None:  # ANSWER_TOO_LARGE: an error with a traceback
        body = await api.gql(chain_query(head, 0))
        assert body["errors"][0]["extensions"]["code"] == "ANSWER_TOO_LARGE"

    async def bad_field() -> None:
        body = await api.gql('{ entity(kind: SERVICE, key: "s5") { nope } }')
        assert body["errors"]

    async def ingest() -> None:
        r = await api.client.post("/api/v1/ingest", json=chain_batch(50))
        assert r.status_code == 200

    async def rest_read() -> None:
        r = await api.client.get("/api/v1/entities/Service/s7")
        assert r.status_code == 200

    for work in (entity, impact, refused, bad_field, ingest, rest_read):
        assert await _garbage_of(work, 15) == Counter(), work.__name__
