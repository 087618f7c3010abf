"""Hostile GraphQL, one test per attack class: each is refused before any store work.

Classes (reliability-and-conventions.md 1.1, GraphQL Cop and graphql-armor checks):
excessive depth, circular fragments, alias overloading (also inside fragments),
field duplication, directive overloading, array batching, huge documents (tokens and
bytes), introspection and field suggestions in production, GraphiQL in production,
mutation via GET, urlencoded and multipart POST (CSRF), debug or tracing leakage,
page sizes above the limit.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from graphql import parse

from graphsvc.api.graphql.guards import requested_items
from graphsvc.api.graphql.schema import build_schema
from graphsvc.config import Settings
from tests.api.conftest import Api, MakeApi
from tests.api.test_graphql import CountingStore

ROOT = Path(__file__).parents[2]


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


PAGED_FIELDS = [
    "{ entities(first: %d) { totalCount } }",
    "{ runs(first: %d) { runId } }",
    "{ identityConflicts(first: %d) { pageInfo { hasNextPage } } }",
    "{ orphans(first: %d) { pageInfo { hasNextPage } } }",
    "{ ghostOwners(first: %d) { pageInfo { hasNextPage } } }",
    "{ health { checks { entities(first: %d) { totalCount } } } }",
    "{ consolidationCandidates(first: %d) { capability } }",
    '{ entity(kind: SERVICE, key: "checkout") { outgoing(first: %d) { totalCount } } }',
    '{ entity(kind: SERVICE, key: "checkout") { incoming(first: %d) { totalCount } } }',
    '{ entity(kind: SERVICE, key: "checkout") { history(first: %d) { pageInfo { hasNextPage } } } }',
    '{ impact(ids: ["x"]) { affected(first: %d) { totalCount } } }',
    "{ events(first: %d) { pageInfo { hasNextPage } } }",
    "{ dependencyCycles(first: %d) { totalCount } }",
    "{ webhooks { deliveries(first: %d) { hasMore } } }",
]


def test_every_paged_field_is_in_the_sweep() -> None:
    sdl = (ROOT / "schema" / "schema.graphql").read_text()
    paged = set(re.findall(r"^  (\w+)\([^)]*\bfirst: Int", sdl, flags=re.MULTILINE))
    swept = {re.findall(r"(\w+)\(first: %d\)", q)[0] for q in PAGED_FIELDS}
    swept |= {re.findall(r"(\w+)\([^()]*first: %d\)", q)[0] for q in PAGED_FIELDS}
    assert paged <= swept, f"add {sorted(paged - swept)} to PAGED_FIELDS"


async def test_page_size_above_the_limit_is_refused(api: Api) -> None:
    store = await counted(api)
    for query in PAGED_FIELDS:
        body = await api.gql(query % 501)
        assert "first is 501; the largest page is 500" in errors(body), query
        assert body.get("data") is None, query
        body = await api.gql(query % -1)
        assert "must not be negative" in errors(body), query
    assert store.calls == {}
    # through a variable and inside a fragment, the same
    body = await api.gql(
        "query Q($n: Int) { ...F } fragment F on Query { entities(first: $n) { totalCount } }",
        {"n": 10_000},
    )
    assert "first is 10000" in errors(body)
    assert store.calls == {}
    ok = await api.gql("{ entities(first: 500) { totalCount } }")
    assert ok["data"]["entities"]["totalCount"] > 0


async def test_circular_fragments_are_refused(api: Api) -> None:
    store = await counted(api)
    for query in (
        "fragment A on Query { ...B } fragment B on Query { ...A } { ...A }",
        "fragment A on Query { runs { runId } ...A } { ...A }",
        "fragment A on Entity { key ...B } fragment B on Entity { ...A }"
        ' { entity(kind: SERVICE, key: "checkout") { ...A } }',
    ):
        body = await api.gql(query)
        assert "Cannot spread fragment 'A' within itself" in errors(body), query
        assert body.get("data") is None
    assert store.calls == {}


async def test_aliases_inside_fragments_count(api: Api) -> None:
    store = await counted(api)
    fragment = " ".join(f"a{i}: runs {{ runId }}" for i in range(15))
    body = await api.gql(
        f"fragment F on Query {{ {fragment} }} {{ ...F x: runs {{ runId }} ...F }}"
    )
    assert "aliases found" in errors(body)
    assert store.calls == {}


async def test_field_duplication_is_merged_or_refused(api: Api) -> None:
    store = await counted(api)
    # a few hundred copies of a field are merged by GraphQL: the work is done once
    body = await api.gql("{ " + "entities { totalCount } " * 300 + "}")
    assert body["data"]["entities"]["totalCount"] > 0
    assert store.calls == {"find_entities": 1}
    # thousands are refused by the token limit before any work
    store.calls.clear()
    body = await api.gql("{ " + "entities { totalCount } " * 2000 + "}")
    assert "token" in errors(body).lower()
    assert store.calls == {}


async def test_array_batching_is_refused(api: Api) -> None:
    store = await counted(api)
    r = await api.client.post("/graphql", json=[{"query": "{ entities { totalCount } }"}] * 50)
    assert r.status_code == 400
    assert "Batching is not enabled" in r.text
    assert store.calls == {}


async def test_huge_bodies_are_refused_before_parsing(make_api: MakeApi) -> None:
    api: Api = await make_api(graphql_max_body_bytes=64 * 1024)
    store = await counted(api)
    padding = "x" * (100 * 1024)
    r = await api.client.post(
        "/graphql", json={"query": f'{{ entity(kind: SERVICE, key: "{padding}") {{ key }} }}'}
    )
    assert r.status_code == 413
    assert "limited to 65536 bytes" in r.json()["detail"]
    # streamed without a length: counted as it arrives

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    r = await api.client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert store.calls == {}
    ok = await api.gql("{ runs { runId } }")
    assert ok["data"]["runs"] == []


async def test_no_debug_or_tracing_leaks(api: Api) -> None:
    store = api.services.store

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret /srv/graphsvc/data.db password=hunter2")

    store.find_entities = broken  # type: ignore[method-assign]
    r = await api.client.post(
        "/graphql",
        json={"query": "{ entities { totalCount } }", "extensions": {"tracing": True}},
        headers={"x-debug": "1", "apollo-require-preflight": "true"},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["errors"][0]["message"] == "Unexpected error."
    assert set(body) <= {"data", "errors"}, "no extensions (tracing, timings) in answers"
    text = r.text
    for leak in ("hunter2", "RuntimeError", "Traceback", "/srv/", "graphsvc/", ".py"):
        assert leak not in text, leak
    # client errors keep their message: they say what was wrong
    bad = await api.gql('{ node(id: "zzz") { id } }')
    assert "'zzz' is not a global id" in errors(bad)
    assert set(bad) <= {"data", "errors"}
    # GraphQL syntax errors name the place, not the server's internals
    syntax = await api.gql("{ entities { ")
    assert "Syntax Error" in errors(syntax) and ".py" not in str(syntax)


async def test_introspection_exemptions_cannot_bypass_the_depth_limit(api: Api) -> None:
    store = await counted(api)
    nested = "incoming { edges { node { from { " * 6 + "key" + " } } } }" * 6
    for name in ("__schema", "IntrospectionQuery"):
        body = await api.gql(
            f'query {name} {{ ...__type }} fragment __type on Query {{ entity(kind: SERVICE, key: "checkout") {{ {nested} }} }}'
        )
        assert "exceeds maximum operation depth" in errors(body), name
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


async def test_nested_pages_are_bounded_in_total(api: Api) -> None:
    store = await counted(api)
    nested = (
        "{ entities(first: 500) { edges { node { key "
        "outgoing(first: %d) { edges { node { to { key outgoing(first: %d) { totalCount } } } } }"
        " } } } }"
    )
    body = await api.gql(nested % (500, 500))
    assert "may ask for 125,250,500 items in nested pages" in errors(body)
    body = await api.gql(nested % (10, 50))  # 500 + 5,000 + 250,000
    assert "255,500 items" in errors(body)
    assert store.calls == {}
    # pages not given count at the default size (50): 500 + 25,000 + 1,250,000
    body = await api.gql(nested.replace("(first: %d)", ""))
    assert "1,275,500 items" in errors(body)
    ok = await api.gql(nested % (10, 10))  # 500 + 5,000 + 50,000
    assert "errors" not in ok and ok["data"]["entities"]["edges"]


def test_requested_items_counts_fragments_and_variables() -> None:
    schema = build_schema(Settings())._schema
    document = parse(
        "query Q($n: Int) { ...F } fragment F on Query {"
        " entities(first: $n) { edges { node { ... on Service { outgoing(first: 3) { totalCount } } } } }"
        " runs { runId } }"
    )
    assert requested_items(schema, document, {"n": 7}, 50) == 7 + 7 * 3 + 50
    assert requested_items(schema, document, {}, 50) == 50 + 50 * 3 + 50
