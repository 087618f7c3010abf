"""A bounded search count, the same in the search page, REST and GraphQL (issue 22).

The store stops counting text matches above ``ENTITY_COUNT_BOUND`` (10,000; 3
here, patched in the embedded store) and says so; each interface shows it as
"more than": the page's count, REST ``totalIsLowerBound``, GraphQL
``totalCountIsLowerBound``. The store-level behaviour is checked on both
backends in ``tests/contract/test_text_search.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

import graphsvc.store.embedded.store as embedded
from graphsvc.api.app import create_app
from graphsvc.config import Settings
from graphsvc.model.batch import IngestBatch

SERVICES = 6


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """Six services named ``svc-<n>`` and one ``Quoted "OR" name``, in one app (local mode)."""
    home = tmp_path_factory.mktemp("search")
    settings = Settings(
        data=home / "g.db", tokens_file=home / "tokens.db", durability="normal", log_format="json"
    )
    app: FastAPI = create_app(settings)
    entities = [{"kind": "Service", "key": f"svc-{n}"} for n in range(SERVICES)]
    entities.append({"kind": "Service", "key": "odd", "name": 'Quoted "OR" name'})
    async with app.router.lifespan_context(app):
        await app.state.services.engine.ingest(
            IngestBatch.model_validate({"source": "cmdb", "entities": entities})
        )
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 51000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            yield c


@pytest.fixture
def bound(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(embedded, "ENTITY_COUNT_BOUND", 3)
    return 3


QUERY = """query($t: String!) { entities(filter: {text: $t}, first: 2) {
  totalCount totalCountIsLowerBound edges { node { key } } } }"""


@pytest.mark.anyio
async def test_a_bounded_count_says_more_than_everywhere(
    client: httpx.AsyncClient, bound: int
) -> None:
    rest = (await client.get("/api/v1/entities", params={"q": "svc-", "first": 2})).json()
    assert (rest["total"], rest["totalIsLowerBound"]) == (bound, True)
    gql = await client.post("/graphql", json={"query": QUERY, "variables": {"t": "svc-"}})
    found = gql.json()["data"]["entities"]
    assert (found["totalCount"], found["totalCountIsLowerBound"]) == (bound, True)
    page = await client.get("/search", params={"q": "svc-"})
    assert page.status_code == 200
    assert '<span class="n">more than 3</span>' in page.text


@pytest.mark.anyio
async def test_an_exact_count_is_shown_as_it_is(client: httpx.AsyncClient, bound: int) -> None:
    rest = (await client.get("/api/v1/entities", params={"q": "svc-1"})).json()
    assert (rest["total"], rest["totalIsLowerBound"]) == (1, False)
    gql = await client.post("/graphql", json={"query": QUERY, "variables": {"t": '"or"'}})
    found = gql.json()["data"]["entities"]
    assert (found["totalCount"], found["totalCountIsLowerBound"]) == (1, False)
    assert [e["node"]["key"] for e in found["edges"]] == ["odd"]
    page = await client.get("/search", params={"q": 'svc" OR "odd'})
    assert page.status_code == 200
    assert '<span class="n">0</span>' in page.text
