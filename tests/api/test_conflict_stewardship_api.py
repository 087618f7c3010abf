"""Resolving identity conflicts through the API: GraphQL ``mergeEntities`` and
``dismissIdentityConflict``, REST ``POST /api/v1/entities/merge`` and
``POST /api/v1/identity-conflicts/{seq}/dismiss``, and the listings' state filter,
with the hostile cases (the admin scope is checked by the authorization sweep)."""

from __future__ import annotations

from typing import Any

from graphsvc.model.records import HistoryOp
from graphsvc.store.base import EventQuery
from tests.api.conftest import Api, MakeApi

HOSTS = {
    "source": "s1",
    "entities": [
        {
            "kind": "ConfigurationItem",
            "key": "mc4-A",
            "identifiers": {"serial": "4SA", "fqdn": "a4.example.org"},
            "attributes": {"ciClass": "server"},
        },
        {
            "kind": "ConfigurationItem",
            "key": "mc4-B",
            "identifiers": {"serial": "4SB", "macAddress": "00:44:22:33:44:55"},
            "attributes": {"ciClass": "server"},
        },
        {"kind": "Service", "key": "svc"},
    ],
}
CLAIMANT = {
    "source": "s2",
    "entities": [
        {
            "kind": "ConfigurationItem",
            "key": "mc4-X",
            "identifiers": {"fqdn": "a4.example.org", "macAddress": "00:44:22:33:44:55"},
            "attributes": {"ciClass": "vm"},
        }
    ],
    "relations": [
        {
            "type": "RUNS_ON",
            "from": {"kind": "Service", "key": "svc"},
            "to": {"kind": "ConfigurationItem", "key": "mc4-X"},
        }
    ],
}
CONFLICTS = """query($state: IdentityConflictState) {
  identityConflicts(state: $state) {
    totalCount
    edges { node { id seq state closedAt closedBy closeReason identifierType
                   entity { id key } holder { id key } } }
  }
}"""
MERGE = """mutation($s: ID!, $o: ID!) {
  mergeEntities(survivor: $s, other: $o) {
    survivor { key aliases identifiers }
    mergedKey relationsMoved relationsDropped resolvedConflictIds
    userErrors { field message code }
  }
}"""
DISMISS = """mutation($id: ID!, $reason: String!) {
  dismissIdentityConflict(id: $id, reason: $reason) {
    conflict { id state closedBy closeReason closedAt }
    userErrors { field message code }
  }
}"""


async def _loaded(make_api: MakeApi) -> Api:
    api: Api = await make_api()
    for body in (HOSTS, CLAIMANT):
        r = await api.client.post("/api/v1/ingest", json=body)
        assert r.status_code == 200, r.text
    return api


async def _conflicts(api: Api, state: str | None = None) -> dict[str, Any]:
    body = await api.gql(CONFLICTS, {"state": state})
    assert "errors" not in body, body
    page: dict[str, Any] = body["data"]["identityConflicts"]
    return page


async def test_graphql_merges_and_dismisses(make_api: MakeApi) -> None:
    api = await _loaded(make_api)
    page = await _conflicts(api, "OPEN")
    assert page["totalCount"] == 2
    nodes = {n["identifierType"]: n for n in (e["node"] for e in page["edges"])}
    fqdn, mac = nodes["fqdn"], nodes["macAddress"]
    assert (fqdn["state"], fqdn["closedAt"], fqdn["closeReason"]) == ("OPEN", None, None)

    async def dismiss(conflict_id: str, reason: str) -> dict[str, Any]:
        body = await api.gql(DISMISS, {"id": conflict_id, "reason": reason})
        assert "errors" not in body, body
        answer: dict[str, Any] = body["data"]["dismissIdentityConflict"]
        return answer

    for bad_id, reason, field, code in (
        ("@@@", "why", ["id"], "BAD_ID"),
        (fqdn["entity"]["id"], "why", ["id"], "BAD_ID"),  # an entity's id, not a conflict's
        ("99999999", "why", ["id"], "NOT_FOUND"),
        (mac["id"], "   ", ["reason"], "INVALID"),
        (mac["id"], "x" * 100_000, ["reason"], "INVALID"),
    ):
        answer = await dismiss(bad_id, reason)
        assert answer["conflict"] is None
        [error] = answer["userErrors"]
        assert (error["field"], error["code"]) == (field, code), (bad_id, error)
    answer = await dismiss(str(mac["seq"]), "one NIC moved between two hosts")
    assert answer["userErrors"] == []
    assert answer["conflict"]["id"] == mac["id"]  # the seq and the global id name it alike
    assert answer["conflict"]["state"] == "DISMISSED"
    assert answer["conflict"]["closedBy"] == "local"
    assert answer["conflict"]["closeReason"] == "one NIC moved between two hosts"
    again = await dismiss(mac["id"], "twice")
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [(["id"], "CONFLICT")]
    assert "already dismissed" in again["userErrors"][0]["message"]

    async def merge(survivor: str, other: str) -> dict[str, Any]:
        body = await api.gql(MERGE, {"s": survivor, "o": other})
        assert "errors" not in body, body
        answer: dict[str, Any] = body["data"]["mergeEntities"]
        return answer

    a, x = fqdn["holder"]["id"], fqdn["entity"]["id"]
    for survivor, other, field, code in (
        ("@@@", x, ["survivor"], "BAD_ID"),
        (a, fqdn["id"], ["other"], "BAD_ID"),  # a conflict's id, not an entity's
        (a, a, ["other"], "INVALID"),
    ):
        answer = await merge(survivor, other)
        assert answer["survivor"] is None
        assert [(e["field"], e["code"]) for e in answer["userErrors"]] == [(field, code)]
    answer = await merge(a, x)
    assert answer["userErrors"] == []
    assert answer["survivor"]["key"] == "mc4-A" and "mc4-X" in answer["survivor"]["aliases"]
    assert (answer["mergedKey"], answer["relationsMoved"], answer["relationsDropped"]) == (
        "mc4-X",
        1,
        0,
    )
    assert answer["resolvedConflictIds"] == [fqdn["id"]]
    gone = await merge(x, a)
    assert [e["code"] for e in gone["userErrors"]] == ["CONFLICT"]
    assert "was merged into" in gone["userErrors"][0]["message"]

    assert (await _conflicts(api, "OPEN"))["totalCount"] == 0
    everything = await _conflicts(api)
    states = {e["node"]["identifierType"]: e["node"] for e in everything["edges"]}
    assert {k: v["state"] for k, v in states.items()} == {
        "fqdn": "RESOLVED",
        "macAddress": "DISMISSED",
    }
    assert states["fqdn"]["closeReason"] == (
        "merged ConfigurationItem/mc4-X into ConfigurationItem/mc4-A"
    )
    admin = await api.services.store.events(EventQuery(sources=frozenset({"admin"})), first=50)
    assert {(e.op, e.actor) for e in admin.items} >= {
        (HistoryOp.MERGED, "local"),
        (HistoryOp.MERGED_INTO, "local"),
        (HistoryOp.CONFLICT_DISMISSED, "local"),
    }


async def test_rest_merges_and_dismisses_with_problem_documents(make_api: MakeApi) -> None:
    api = await _loaded(make_api)
    c = api.client
    listed = (await c.get("/api/v1/identity-conflicts", params={"state": "open"})).json()
    assert listed["total"] == 2 and {i["state"] for i in listed["items"]} == {"open"}
    seqs = {i["identifierType"]: i["seq"] for i in listed["items"]}
    assert (
        await c.get("/api/v1/identity-conflicts", params={"state": "closed"})
    ).status_code == 422

    def merge(body: object) -> Any:
        return c.post("/api/v1/entities/merge", json=body)

    for body, status, words in (
        ({"survivor": "ConfigurationItem/mc4-A"}, 422, "other"),
        ({"survivor": "a", "other": "b", "also": 1}, 422, "also"),
        ({"survivor": "ConfigurationItem/mc4-A", "other": "nonsense"}, 400, "other: 'nonsense'"),
        ({"survivor": "ConfigurationItem/mc4-A", "other": "ConfigurationItem/nope"}, 404, "other"),
        ({"survivor": "Service/svc", "other": "ConfigurationItem/mc4-X"}, 400, "a Service"),
        ({"survivor": "ConfigurationItem/mc4-A", "other": "x" * 3000}, 422, "other"),
    ):
        r = await merge(body)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert words in r.text, (body, r.text)
    r = await merge({"survivor": "ConfigurationItem/mc4-A", "other": "CONFIGURATION_ITEM/mc4-X"})
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["survivor"]["key"] == "mc4-A" and merged["mergedKey"] == "mc4-X"
    assert merged["resolvedConflicts"] == [seqs["fqdn"]]
    again = await merge({"survivor": "ConfigurationItem/mc4-B", "other": "ConfigurationItem/mc4-X"})
    assert again.status_code == 409 and "is an alias of ConfigurationItem/mc4-A" in again.text

    def dismiss(seq: object, body: object) -> Any:
        return c.post(f"/api/v1/identity-conflicts/{seq}/dismiss", json=body)

    mac = seqs["macAddress"]
    for seq, body, status, words in (
        (mac, {"reason": ""}, 400, "give a reason"),
        (mac, {"reason": "x" * 100_000}, 422, "reason"),
        (mac, {}, 422, "reason"),
        (0, {"reason": "ok"}, 422, "seq"),
        ("abc", {"reason": "ok"}, 422, "seq"),
        (99_999_999, {"reason": "ok"}, 404, "no identity conflict 99999999"),
        (seqs["fqdn"], {"reason": "ok"}, 409, "already resolved"),
    ):
        r = await dismiss(seq, body)
        assert r.status_code == status, (seq, body, r.text)
        assert words in r.text, (seq, r.text)
    r = await dismiss(mac, {"reason": "known: lab switch"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["state"], out["closedBy"], out["closeReason"]) == (
        "dismissed",
        "local",
        "known: lab switch",
    )
    assert (await dismiss(mac, {"reason": "again"})).status_code == 409
    for state, total in (("open", 0), ("dismissed", 1), ("resolved", 1)):
        page = (await c.get("/api/v1/identity-conflicts", params={"state": state})).json()
        assert page["total"] == total, (state, page)
    assert (await c.get("/api/v1/identity-conflicts")).json()["total"] == 2
