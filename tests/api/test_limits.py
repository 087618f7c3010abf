"""Query limits hold before any store work; production hides introspection and GraphiQL."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.conftest import Api, MakeApi
from tests.api.test_graphql import CountingStore


def errors(body: dict[str, Any]) -> str:
    return " ".join(e["message"] for e in body.get("errors", []))


async def counted(api: Api) -> CountingStore:
    store = CountingStore(api.services.store)
    api.services.store = store  # type: ignore[assignment]
    return store


async def test_excessive_depth_is_refused_before_store_work(api: Api) -> None:
    store = await counted(api)
    nested = "incoming { edges { node { from { " * 6 + "key" + " } } } }" * 6
    body = await api.gql('{ entity(kind: SERVICE, key: "checkout") { ' + nested + " } }")
    assert "exceeds maximum operation depth" in errors(body)
    assert body.get("data") is None
    assert store.calls == {}


async def test_alias_overloading_is_refused(api: Api) -> None:
    store = await counted(api)
    query = "{ " + " ".join(f"a{i}: runs {{ runId }}" for i in range(30)) + " }"
    body = await api.gql(query)
    assert "aliases found" in errors(body) or "alias" in errors(body).lower()
    assert store.calls == {}


async def test_huge_documents_are_refused_by_the_token_limit(api: Api) -> None:
    store = await counted(api)
    query = "{ runs { " + " ".join(["runId"] * 5000) + " } }"
    body = await api.gql(query)
    assert "token" in errors(body).lower()
    assert store.calls == {}


async def test_directive_overloading_is_refused(api: Api) -> None:
    store = await counted(api)
    query = "{ runs { runId " + "@include(if: true) " * 50 + "} }"
    body = await api.gql(query)
    assert "directives" in errors(body)
    assert store.calls == {}


async def test_page_size_above_the_limit_is_refused(api: Api) -> None:
    store = await counted(api)
    body = await api.gql("{ entities(first: 100000) { totalCount } }")
    assert "the largest page is 500" in errors(body)
    assert store.calls == {}


async def test_introspection_and_suggestions_are_off_in_production(api: Api) -> None:
    body = await api.gql("{ __schema { types { name } } }")
    assert "introspection" in errors(body).lower()
    typo = await api.gql("{ entitys { totalCount } }")
    assert "Did you mean" not in errors(typo)


async def test_introspection_and_graphiql_in_development(make_api: MakeApi) -> None:
    dev: Api = await make_api(env="development")
    body = await dev.gql("{ __schema { queryType { name } } }")
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    page = await dev.client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_graphiql_is_off_in_production(api: Api) -> None:
    page = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code != 200 or "graphiql" not in page.text.lower()


async def test_queries_via_get_cannot_mutate(api: Api) -> None:
    ok = await api.client.get("/graphql", params={"query": "{ runs { runId } }"})
    assert ok.status_code == 200 and "errors" not in ok.json()
    r = await api.client.get(
        "/graphql",
        params={"query": 'mutation { startRun(input: {source: "x"}) { run { runId } } }'},
    )
    assert r.status_code in (400, 405)
    runs = await api.gql('{ runs(source: "x") { runId } }')
    assert runs["data"]["runs"] == []


async def test_urlencoded_and_multipart_posts_are_refused(api: Api) -> None:
    r = await api.client.post("/graphql", data={"query": "{ runs { runId } }"})
    assert r.status_code in (400, 415)
    r = await api.client.post(
        "/graphql", files={"operations": (None, '{"query": "{ runs { runId } }"}')}
    )
    assert r.status_code in (400, 415)


async def test_slow_requests_time_out_with_503(make_api: MakeApi) -> None:
    api: Api = await make_api(request_timeout_seconds=0.2)
    real = api.services.store.find_entities

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(5)
        return await real(*args, **kwargs)

    api.services.store.find_entities = slow  # type: ignore[method-assign]
    r = await api.client.post("/graphql", json={"query": "{ entities { totalCount } }"})
    assert r.status_code == 503
    assert "longer than 0.2 s" in r.json()["detail"]
