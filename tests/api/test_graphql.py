"""GraphQL at /graphql through the real app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphsvc.api.graphql.schema import build_schema
from graphsvc.config import Settings
from graphsvc.store.base import GraphStore
from tests.api.conftest import Api, MakeApi

ROOT = Path(__file__).parents[2]


def test_committed_sdl_matches_the_code() -> None:
    committed = (ROOT / "schema" / "schema.graphql").read_text()
    assert committed == build_schema(Settings(env="development")).as_str() + "\n", (
        "run `graphsvc export-schema`"
    )


async def test_entity_by_kind_and_key_with_typed_attributes_and_relations(api: Api) -> None:
    body = await api.gql(
        """{ entity(kind: SERVICE, key: "payments-api") {
              id kind key name status
              ... on Service { tier lifecycle capability }
              outgoing { totalCount edges { node { type to { key ... on ConfigurationItem { ciClass } } } } }
              incoming { totalCount edges { node { type from { key } } } }
              history { edges { node { op source actor } } }
           } }"""
    )
    e = body["data"]["entity"]
    assert (e["kind"], e["key"], e["status"], e["tier"], e["lifecycle"], e["capability"]) == (
        "SERVICE",
        "payments-api",
        "ACTIVE",
        2,
        "live",
        None,
    )
    assert e["outgoing"]["edges"][0]["node"] == {
        "type": "DEPENDS_ON",
        "to": {"key": "pg-main", "ciClass": "database"},
    }
    assert e["incoming"]["edges"][0]["node"] == {"type": "DEPENDS_ON", "from": {"key": "checkout"}}
    assert e["history"]["edges"][0]["node"] == {
        "op": "created",
        "source": "handwritten",
        "actor": "local",
    }
    missing = await api.gql('{ entity(kind: SERVICE, key: "nope") { key } }')
    assert missing["data"] is None
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "Service/nope" in missing["errors"][0]["message"]


async def test_node_round_trips_global_ids(api: Api) -> None:
    first = await api.gql(
        '{ entity(kind: CONFIGURATION_ITEM, key: "pg-main") { id incoming { edges { node { id type } } } } }'
    )
    entity_id = first["data"]["entity"]["id"]
    relation_id = first["data"]["entity"]["incoming"]["edges"][0]["node"]["id"]
    node = await api.gql(
        "query($id: ID!) { node(id: $id) { id ... on ConfigurationItem { key } } }",
        {"id": entity_id},
    )
    assert node["data"]["node"] == {"id": entity_id, "key": "pg-main"}
    rel = await api.gql(
        "query($id: ID!) { node(id: $id) { ... on Relation { type from { key } } } }",
        {"id": relation_id},
    )
    assert rel["data"]["node"] == {"type": "DEPENDS_ON", "from": {"key": "payments-api"}}
    bad = await api.gql('{ node(id: "nonsense") { id } }')
    assert bad["errors"][0]["extensions"]["code"] == "BAD_ID"


async def test_entities_filter_paginate_and_count(api: Api) -> None:
    teams = [
        {"kind": "Team", "key": f"team-{i:02d}", "attributes": {"email": f"t{i}@x.org"}}
        for i in range(30)
    ]
    await api.client.post("/api/v1/ingest", json={"source": "hr", "entities": teams})
    q = """query($after: String) { entities(kind: TEAM, first: 12, after: $after) {
             totalCount pageInfo { hasNextPage endCursor } edges { node { key } } } }"""
    keys: list[str] = []
    after = None
    pages = 0
    while True:
        page = (await api.gql(q, {"after": after}))["data"]["entities"]
        assert page["totalCount"] == 31
        keys += [e["node"]["key"] for e in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3 and len(keys) == 31 and len(set(keys)) == 31
    filtered = await api.gql(
        '{ entities(filter: {text: "TEAM-0", attributes: {email: "t3@x.org"}}) { totalCount edges { node { key } } } }'
    )
    assert filtered["data"]["entities"]["totalCount"] == 1
    assert filtered["data"]["entities"]["edges"][0]["node"]["key"] == "team-03"


class CountingStore:
    """Counts the store calls the GraphQL layer makes (a proxy over the real store)."""

    def __init__(self, store: GraphStore) -> None:
        self._store = store
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return target(*args, **kwargs)

        return counted


async def test_listing_100_services_with_owners_costs_a_bounded_number_of_store_calls(
    make_api: MakeApi,
) -> None:
    api: Api = await make_api()
    services = [{"kind": "Service", "key": f"svc-{i:03d}"} for i in range(100)]
    teams = [{"kind": "Team", "key": f"owner-{i:02d}"} for i in range(10)]
    owns = [
        {
            "type": "OWNS",
            "from": {"kind": "Team", "key": f"owner-{i % 10:02d}"},
            "to": {"kind": "Service", "key": f"svc-{i:03d}"},
        }
        for i in range(100)
    ]
    r = await api.client.post(
        "/api/v1/ingest", json={"source": "cmdb", "entities": services + teams, "relations": owns}
    )
    assert r.status_code == 200
    counting = CountingStore(api.services.store)
    api.services.store = counting  # type: ignore[assignment]
    body = await api.gql(
        """{ entities(kind: SERVICE, first: 100) { edges { node { key
             incoming(types: [OWNS]) { edges { node { from { key name } } } } } } } }"""
    )
    edges = body["data"]["entities"]["edges"]
    assert len(edges) == 100
    assert all(len(e["node"]["incoming"]["edges"]) == 1 for e in edges)
    assert edges[7]["node"]["incoming"]["edges"][0]["node"]["from"]["key"] == "owner-07"
    total = sum(counting.calls.values())
    assert total <= 6, (
        counting.calls
    )  # find_entities, entities, neighbours, relations_by_id, entities: not 100+


async def test_mutations_with_user_errors_and_runs(api: Api) -> None:
    ok = await api.gql(
        """mutation { ingest(input: {source: "gql", entities: [{kind: TEAM, key: "sre", attributes: {email: "sre@x.org"}}],
             relations: [{type: OWNS, from: {kind: TEAM, key: "sre"}, to: {kind: CONFIGURATION_ITEM, key: "vm-17"}}]}) {
             summary { entitiesCreated relationsCreated runState } userErrors { field message } } }"""
    )
    assert ok["data"]["ingest"] == {
        "summary": {"entitiesCreated": 1, "relationsCreated": 1, "runState": "incomplete"},
        "userErrors": [],
    }
    bad = await api.gql(
        """mutation { ingest(input: {source: "gql", relations: [{type: OWNS, from: {kind: TEAM, key: "ghost"},
             to: {kind: SERVICE, key: "checkout"}}]}) { summary { entitiesCreated } userErrors { field message code } } }"""
    )
    assert bad["data"]["ingest"]["summary"] is None
    assert bad["data"]["ingest"]["userErrors"] == [
        {
            "field": ["input", "relations", "0", "from"],
            "message": "no Team with key 'ghost' in the store or the batch (OWNS Team/ghost -> Service/checkout)",
            "code": "INVALID",
        }
    ]
    run = (
        await api.gql(
            'mutation { startRun(input: {source: "k8s", scope: "eu"}) { run { runId state } userErrors { message } } }'
        )
    )["data"]["startRun"]
    assert run["run"]["state"] == "open"
    run_id = run["run"]["runId"]
    await api.gql(
        'mutation($r: String!) { ingest(input: {source: "k8s", scope: "eu", runId: $r, entities: [{kind: TEAM, key: "k"}]}) { userErrors { message } } }',
        {"r": run_id},
    )
    done = await api.gql(
        "mutation($r: String!) { finishRun(input: {runId: $r, complete: true}) { summary { runState markedStale } userErrors { message } } }",
        {"r": run_id},
    )
    assert done["data"]["finishRun"]["summary"] == {"runState": "complete", "markedStale": 0}
    again = await api.gql(
        "mutation($r: String!) { finishRun(input: {runId: $r, complete: true}) { summary { runState } userErrors { message code } } }",
        {"r": run_id},
    )
    assert again["data"]["finishRun"]["userErrors"][0]["code"] == "CONFLICT"
    runs = await api.gql('{ runs(source: "k8s") { runId state batches } }')
    assert runs["data"]["runs"][0] == {"runId": run_id, "state": "complete", "batches": 1}
