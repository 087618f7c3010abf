"""Limits count what will run, and hostile values get a coded 4xx, never "Unexpected error."

Issue 17, item 3: variables and their defaults count as literals do; deep JSON
variables, out-of-range or undecodable ids and cursors, lone surrogates get a
client error; production suggests no schema name of any sort; error answers echo
at most a short prefix of what they were sent.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from strawberry import relay

from tests.api.conftest import Api, MakeApi

HUGE = 2**64


def codes(body: dict[str, Any]) -> list[str]:
    return [str((e.get("extensions") or {}).get("code")) for e in body.get("errors", [])]


def messages(body: dict[str, Any]) -> str:
    return " ".join(e["message"] for e in body.get("errors", []))


async def test_variable_defaults_count_like_literals(api: Api) -> None:
    nested = "query($n: Int = 500) { entities(first: $n) { edges { node { key outgoing(first: $n) { edges { node { type } } } } } } }"
    body = await api.gql(nested)
    assert codes(body) == ["TOO_MANY_ITEMS"], body
    too_big = "query($n: Int = 501) { entities(first: $n) { totalCount } }"
    assert codes(await api.gql(too_big)) == ["PAGE_SIZE"]
    given = await api.gql(too_big, variables={"n": 3})
    assert given.get("errors") is None, given


async def test_deeply_nested_json_variables_are_a_bad_request(api: Api) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    raw = '{"query": "query($v: JSON) { runs { runId } }", "variables": {"v": ' + deep + "}}"
    r = await api.client.post("/graphql", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text[:300]
    assert r.headers["content-type"] == "application/problem+json"
    assert "nested" in r.json()["detail"]
    moderate = {"v": json.loads("[" * 200 + "]" * 200)}
    r = await api.client.post(
        "/graphql", json={"query": "{ runs { runId } }", "variables": moderate}
    )
    assert r.status_code == 400 and "nested" in r.json()["detail"]
    r = await api.client.get(
        "/graphql", params={"query": "{ runs { runId } }", "variables": json.dumps(moderate)}
    )
    assert r.status_code == 400 and "nested" in r.json()["detail"]


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


_HUGE_SERVICE = relay.to_base64("Service", HUGE)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (f'{{ node(id: "{_HUGE_SERVICE}") {{ id }} }}', "BAD_ID"),
        (f'{{ impact(ids: ["{_HUGE_SERVICE}"]) {{ summary {{ total }} }} }}', "BAD_ID"),
        (
            f'{{ impact(ids: ["{relay.to_base64("Service", -5)}"]) {{ summary {{ total }} }} }}',
            "BAD_ID",
        ),
        (
            f'{{ entities(first: 2, after: "{_cursor(f"c:{HUGE}")}") {{ totalCount }} }}',
            "BAD_CURSOR",
        ),
        (f'{{ entities(first: 2, after: "{_cursor("c:-3")}") {{ totalCount }} }}', "BAD_CURSOR"),
        ('{ identityConflicts(after: "@@@") { edges { cursor } } }', "BAD_CURSOR"),
    ],
)
async def test_out_of_range_ids_and_cursors_are_client_errors(
    api: Api, query: str, code: str
) -> None:
    body = await api.gql(query)
    assert codes(body) == [code], body
    assert "Unexpected error" not in messages(body)


async def test_lone_surrogates_are_a_bad_request(api: Api) -> None:
    literal = await api.gql('{ entities(filter: {text: "a\\ud800"}) { totalCount } }')
    assert "Invalid Unicode escape" in messages(literal), literal  # GraphQL's own syntax rule
    raw = '{"query": "query($p: String) { entities(filter: {text: $p}) { totalCount } }", "variables": {"p": "a\\ud800"}}'
    r = await api.client.post("/graphql", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "surrogate" in r.json()["detail"], r.text
    r = await api.client.get("/api/v1/entities/Service/a%ED%A0%80")
    assert r.status_code in (404, 422), r.text


async def test_production_suggests_no_schema_name(api: Api) -> None:
    for query, hidden in (
        ('{ entity(kind: SERVIC, key: "x") { key } }', "SERVICE"),  # enum value
        ("{ entities(filter: {status: [ACTIV]}) { totalCount } }", "ACTIVE"),
        ("query($f: EntityFiltr) { entities(filter: $f) { totalCount } }", "EntityFilter"),
        ('{ entities(filter: {txt: "a"}) { totalCount } }', "'text'"),  # input field
        ("{ entities(frist: 3) { totalCount } }", "'first'"),  # argument
        ("{ entitie { totalCount } }", "'entities'"),  # field
    ):
        body = await api.gql(query)
        assert body.get("errors"), query
        assert "Did you mean" not in messages(body), (query, messages(body))
        assert hidden not in messages(body), (query, messages(body))


async def test_development_still_suggests(make_api: MakeApi) -> None:
    dev: Api = await make_api(env="development")
    body = await dev.gql('{ entity(kind: SERVIC, key: "x") { key } }')
    # the REST spelling is an accepted alias, and suggested too
    assert "Did you mean the enum value 'SERVICE' or 'Service'?" in messages(body)


async def test_error_answers_echo_only_a_short_prefix(api: Api) -> None:
    key = "k" * 1_000_000
    batch = {"source": "s", "entities": [{"kind": "Nope", "key": key}]}
    r = await api.client.post("/api/v1/ingest", json=batch)
    assert r.status_code == 422
    assert len(r.content) < 8_000, len(r.content)
    body = await api.gql('{ node(id: "' + "x" * 100_000 + '") { id } }')
    assert len(json.dumps(body)) < 2_000
    r = await api.client.get("/api/v1/entities/Service/" + "y" * 60_000)
    assert r.status_code == 404 and len(r.content) < 2_000
