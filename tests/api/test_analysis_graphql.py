"""The analysis fields of GraphQL (PRODUCT.md 4.2 to 4.7) on the demo graph, through the app."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest
from strawberry import relay

from graphsvc.analysis.changes import change_impact
from graphsvc.analysis.impact import impact
from graphsvc.demo import demo_batches
from graphsvc.model.vocabulary import EntityKind
from tests.api.conftest import Api, MakeApi

TODAY = datetime.date(2025, 3, 10)


@pytest.fixture
async def demo(make_api: MakeApi) -> Api:
    api: Api = await make_api(env="development")
    for batch in demo_batches(TODAY):
        await api.services.engine.ingest(batch)
    return api


async def gid(api: Api, kind: EntityKind, key: str) -> str:
    (found,) = await api.services.store.resolve([(kind, key)])
    assert found is not None
    return relay.to_base64(kind.value, found)


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


IMPACT = """
query($ids: [ID!]!, $first: Int, $after: String, $depth: Int, $asOf: DateTime) {
  impact(ids: $ids, maxDepth: $depth, asOf: $asOf) {
    starts { key }
    summary { total deepest stale byKind { kind count } byState { state count }
              servicesByTier { tier count down degraded } }
    affected(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { entity { key kind } depth state stale
                            path { type from { key } to { key } } } }
    }
    teamsToNotify { team { key } why inherited via { key } viaCount affected }
    affectedProjects { key }
    projectReasons { project { key } relation count entities { key } }
  }
}"""


async def test_impact_answer_matches_the_analysis_and_pages(demo: Api) -> None:
    start = await gid(demo, EntityKind.CONFIGURATION_ITEM, "nbh-billing-sql-01")
    data = ok(await demo.gql(IMPACT, {"ids": [start], "first": 2}))["impact"]
    assert data["starts"] == [{"key": "nbh-billing-sql-01"}]
    assert data["summary"]["total"] == 4
    # the redundant SQL pair: losing one member degrades the database, nothing is DOWN
    assert data["summary"]["byState"] == [
        {"state": "DOWN", "count": 1},
        {"state": "DEGRADED", "count": 3},
    ]
    assert data["summary"]["servicesByTier"] == [{"tier": 2, "count": 2, "down": 0, "degraded": 2}]
    page = data["affected"]
    assert page["totalCount"] == 4 and page["pageInfo"]["hasNextPage"] is True
    first, second = (e["node"] for e in page["edges"])
    assert (first["entity"]["key"], first["depth"], first["state"], first["path"]) == (
        "nbh-billing-sql-01",
        0,
        "DOWN",
        [],
    )
    assert second["entity"]["key"] == "db-billing" and second["state"] == "DEGRADED"
    assert second["path"] == [
        {"type": "DEPENDS_ON", "from": {"key": "db-billing"}, "to": {"key": "nbh-billing-sql-01"}}
    ]
    teams = {(t["team"]["key"], t["why"], t["inherited"]) for t in data["teamsToNotify"]}
    assert ("team-dba", "OWNER", False) in teams
    assert ("team-service-desk", "SUPPORT", False) in teams

    # the next page continues where the first ended, and agrees with the in-process answer
    rest = ok(
        await demo.gql(
            IMPACT, {"ids": [start], "first": 10, "after": page["pageInfo"]["endCursor"]}
        )
    )["impact"]["affected"]
    keys = [e["node"]["entity"]["key"] for e in rest["edges"]]
    (sql,) = await demo.services.store.resolve(
        [(EntityKind.CONFIGURATION_ITEM, "nbh-billing-sql-01")]
    )
    assert sql is not None
    direct = await impact(demo.services.store, [sql], first=10)
    assert keys == [e.node.entity.key for e in direct.affected.edges][2:]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_depth_limit_and_dependencies(demo: Api) -> None:
    start = await gid(demo, EntityKind.CONFIGURATION_ITEM, "nbh-billing-sql-01")
    data = ok(await demo.gql(IMPACT, {"ids": [start], "depth": 1}))["impact"]
    assert data["summary"]["total"] == 2 and data["summary"]["deepest"] == 1
    billing = await gid(demo, EntityKind.SERVICE, "billing")
    deps = ok(
        await demo.gql(
            """query($ids: [ID!]!) { dependencies(ids: $ids) {
                 summary { total } affected(first: 200) { edges { node { entity { key } state } } } } }""",
            {"ids": [billing]},
        )
    )["dependencies"]
    needed = {e["node"]["entity"]["key"]: e["node"]["state"] for e in deps["affected"]["edges"]}
    assert needed["billing"] == "DOWN"
    # each SQL member alone is covered by the other: not a single point of failure
    assert needed["nbh-billing-sql-01"] == "DEGRADED"
    assert needed["db-billing"] == "DOWN"


async def test_impact_as_of_reads_the_graph_then(demo: Api) -> None:
    store = demo.services.store
    before = (await store.stats()).last_commit
    assert before is not None
    from graphsvc.model.batch import IngestBatch

    await demo.services.engine.ingest(
        IngestBatch.model_validate(
            {
                "source": "late",
                "entities": [{"kind": "Service", "key": "late-report", "attributes": {"tier": 1}}],
                "relations": [
                    {
                        "type": "DEPENDS_ON",
                        "from": {"kind": "Service", "key": "late-report"},
                        "to": {"kind": "Service", "key": "billing"},
                    }
                ],
            }
        )
    )
    billing = await gid(demo, EntityKind.SERVICE, "billing")
    query = """query($ids: [ID!]!, $asOf: DateTime) { impact(ids: $ids, asOf: $asOf) {
                 asOf summary { total servicesByTier { tier count } }
                 affected(first: 100) { edges { node { entity { key } } } } } }"""
    now = ok(await demo.gql(query, {"ids": [billing]}))["impact"]
    then = ok(await demo.gql(query, {"ids": [billing], "asOf": before.isoformat()}))["impact"]
    now_keys = {e["node"]["entity"]["key"] for e in now["affected"]["edges"]}
    then_keys = {e["node"]["entity"]["key"] for e in then["affected"]["edges"]}
    assert now_keys - then_keys == {"late-report"}
    assert then["summary"]["total"] == now["summary"]["total"] - 1
    assert then["asOf"] is not None and now["asOf"] is None


async def test_ownership_orphans_and_ghost_owners(demo: Api) -> None:
    shelf = await gid(demo, EntityKind.CONFIGURATION_ITEM, "sa-vna-shelf-02")
    data = ok(
        await demo.gql(
            """query($id: ID!) { ownership(id: $id) {
                 entity { key }
                 owners { team { key } inherited via { key } chains { key } }
                 supporters { team { key } inherited }
                 escalation { key kind } } }""",
            {"id": shelf},
        )
    )["ownership"]
    assert data["owners"] == [
        {
            "team": {"key": "team-imaging"},
            "inherited": True,
            "via": [{"key": "pacs-staidans"}],
            "chains": [
                [
                    {"key": "sa-vna-shelf-02"},
                    {"key": "sa-vna-array"},
                    {"key": "sa-vna-cluster"},
                    {"key": "pacs-staidans"},
                ]
            ],
        }
    ]
    assert data["escalation"][-1] == {"key": "dept-clinical-systems", "kind": "TEAM"}

    orphans = ok(
        await demo.gql("{ orphans { edges { node { key kind } } pageInfo { hasNextPage } } }")
    )["orphans"]
    assert {e["node"]["key"] for e in orphans["edges"]} == {
        "nbh-dicom-router-old",
        "sa-ftp-legacy",
        "bed-board-staidans",
        "ip-10.10.20.41",  # the host only a network scan knows
    }
    services_only = ok(await demo.gql("{ orphans(kind: SERVICE) { edges { node { key } } } }"))
    assert [e["node"]["key"] for e in services_only["orphans"]["edges"]] == ["bed-board-staidans"]
    # every connection has a totalCount, counting beyond the page
    counted = ok(
        await demo.gql(
            "{ all: orphans(first: 1) { totalCount edges { node { key } } } "
            "services: orphans(kind: SERVICE, first: 1) { totalCount } "
            "ghostOwners(first: 1) { totalCount } identityConflicts { totalCount } }"
        )
    )
    assert (counted["all"]["totalCount"], len(counted["all"]["edges"])) == (4, 1)
    assert counted["services"]["totalCount"] == 1
    assert counted["ghostOwners"]["totalCount"] == 2
    assert counted["identityConflicts"]["totalCount"] >= 0
    history = ok(
        await demo.gql(
            '{ entity(kind: SERVICE, key: "billing") { history(first: 1) { totalCount '
            "edges { cursor } } } }"
        )
    )["entity"]["history"]
    assert len(history["edges"]) == 1 and history["totalCount"] >= 1

    ghosts = ok(
        await demo.gql(
            "{ ghostOwners { edges { node { team { key } noMembers inactive reason } } } }"
        )
    )["ghostOwners"]["edges"]
    by_team = {g["node"]["team"]["key"]: g["node"] for g in ghosts}
    assert set(by_team) == {"team-sa-desktop", "team-sa-interfaces"}
    assert by_team["team-sa-desktop"]["inactive"] is True
    assert by_team["team-sa-interfaces"]["noMembers"] is True
    assert "no members" in by_team["team-sa-interfaces"]["reason"]


CHANGE = """query($key: String!) { changeImpact(key: $key) {
  change { key } startSet { key } riskScore riskFactors { name value points }
  window { start end }
  conflicts { kind other { key } entities { key } explanation totalEntities }
  impact { summary { total } affected(first: 3) { totalCount edges { node { entity { key } } } }
           teamsToNotify { team { key } } affectedProjects { key } }
} }"""


async def test_change_impact_with_conflicts_and_risk(demo: Api) -> None:
    data = ok(await demo.gql(CHANGE, {"key": "CHG0041215"}))["changeImpact"]
    assert data["change"] == {"key": "CHG0041215"}
    (conflict,) = data["conflicts"]
    assert conflict["kind"] == "BLACKOUT"
    assert conflict["other"] == {"key": "blackout-billing-month-end-close"}
    assert {e["key"] for e in conflict["entities"]} == {"billing", "claims-gateway"}
    assert sum(f["points"] for f in data["riskFactors"]) == data["riskScore"]
    assert {f["name"] for f in data["riskFactors"]} >= {"blastRadius", "conflicts", "changeType"}
    # the same numbers as the analysis itself
    direct = await change_impact(demo.services.store, "CHG0041215", first=3)
    assert data["riskScore"] == direct.risk_score
    assert data["impact"]["summary"]["total"] == direct.impact.summary.total
    assert len(data["impact"]["affected"]["edges"]) == min(3, direct.impact.summary.total)

    collision = ok(await demo.gql(CHANGE, {"key": "CHG0041220"}))["changeImpact"]
    assert [(c["kind"], c["other"]["key"]) for c in collision["conflicts"]] == [
        ("COLLISION", "CHG0041221")
    ]
    touching = ok(await demo.gql(CHANGE, {"key": "CHG0041230"}))["changeImpact"]
    assert touching["conflicts"] == []
    outside = ok(await demo.gql(CHANGE, {"key": "CHG0041207"}))["changeImpact"]
    assert [c["kind"] for c in outside["conflicts"]] == ["OUTSIDE_MAINTENANCE"]
    nope = await demo.gql(CHANGE, {"key": "CHG-NOPE"})
    assert nope["data"] is None
    [error] = nope["errors"]
    assert error["extensions"] == {"code": "NOT_FOUND", "unknown": ["Change/CHG-NOPE"]}
    assert "Change/CHG-NOPE" in error["message"]


async def test_consolidation_readiness_and_candidates(demo: Api) -> None:
    data = ok(
        await demo.gql(
            """{ consolidationReadiness(projectKey: "PRJ-0101") {
                 project { key } status score
                 checks { name result entities { key } reason }
                 replacements { source { key } targets { key } } } }"""
        )
    )["consolidationReadiness"]
    assert data["status"] == "BLOCKED"
    checks = {c["name"]: c for c in data["checks"]}
    assert list(checks) == [
        "targets",
        "consumersMigrated",
        "ownership",
        "conflicts",
        "capacity",
        "dataQuality",
    ]
    assert checks["consumersMigrated"]["result"] == "FAIL"
    assert checks["consumersMigrated"]["entities"] == [{"key": "theatre-scheduling"}]
    assert checks["consumersMigrated"]["reason"]
    assert checks["ownership"]["entities"] == [{"key": "bed-board-staidans"}]
    missing = await demo.gql('{ consolidationReadiness(projectKey: "PRJ-NONE") { status } }')
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "Project/PRJ-NONE" in missing["errors"][0]["message"]

    pairs = ok(
        await demo.gql(
            "{ consolidationCandidates { first { key } second { key } capability "
            "sharedConsumers { key } } }"
        )
    )["consolidationCandidates"]
    found = {frozenset((p["first"]["key"], p["second"]["key"])) for p in pairs}
    assert frozenset({"pacs-nbh", "pacs-staidans"}) in found
    assert frozenset({"lis-nbh", "lis-staidans"}) in found


async def test_bad_ids_cursors_and_scopes_are_errors_not_answers(
    demo: Api, make_api: MakeApi
) -> None:
    body = await demo.gql('{ impact(ids: ["not-an-id"]) { summary { total } } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_ID"
    start = await gid(demo, EntityKind.SERVICE, "billing")
    body = await demo.gql(
        'query($ids: [ID!]!) { impact(ids: $ids) { affected(after: "x") { totalCount } } }',
        {"ids": [start]},
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_CURSOR"  # the one cursor scheme
    body = await demo.gql(
        "query($ids: [ID!]!) { impact(ids: $ids, maxDepth: -1) { summary { total } } }",
        {"ids": [start]},
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    body = await demo.gql(
        "query($ids: [ID!]!) { impact(ids: $ids) { affected(first: 100000) { totalCount } } }",
        {"ids": [start]},
    )
    assert body["errors"][0]["extensions"]["code"] == "PAGE_SIZE"


async def test_degraded_entities_name_what_keeps_them_up(demo: Api) -> None:
    data = ok(
        await demo.gql(
            '{ impact(refs: [{kind: CONFIGURATION_ITEM, key: "nbh-dc1-core-sw-a"}]) { '
            "affected(first: 5) { edges { node { entity { key } state savedBy { group members "
            "failed { key } survivors { entity { key } degraded } } } } } } }"
        )
    )
    by_key = {e["node"]["entity"]["key"]: e["node"] for e in data["impact"]["affected"]["edges"]}
    assert by_key["nbh-dc1-core-sw-a"]["savedBy"] == []  # DOWN: nothing keeps it up
    fabric = by_key["nbh-dc1-fabric"]
    assert fabric["state"] == "DEGRADED"
    assert fabric["savedBy"] == [
        {
            "group": "dc1-core-switches",
            "members": 2,
            "failed": [{"key": "nbh-dc1-core-sw-a"}],
            "survivors": [{"entity": {"key": "nbh-dc1-core-sw-b"}, "degraded": False}],
        }
    ]


async def test_readiness_of_a_project_that_consolidates_nothing(demo: Api) -> None:
    data = ok(
        await demo.gql('{ consolidationReadiness(projectKey: "PRJ-0117") { status score reason } }')
    )["consolidationReadiness"]
    assert data["status"] == "NOT_APPLICABLE"
    assert "CONSOLIDATES nothing" in data["reason"]


async def test_affected_pages_use_the_cursor_scheme_of_every_connection(demo: Api) -> None:
    query = (
        "query($after: String) { impact(refs: [{kind: CONFIGURATION_ITEM, key: "
        '"nbh-dc1-core-sw-a"}]) { affected(first: 3, after: $after) { edges { cursor node '
        "{ entity { key } } } pageInfo { endCursor hasNextPage } } } }"
    )
    first = ok(await demo.gql(query))["impact"]["affected"]
    entities = ok(await demo.gql("{ entities(first: 1) { pageInfo { endCursor } } }"))
    # both are base64 of c:<position>, opaque to clients
    for cursor in (first["pageInfo"]["endCursor"], entities["entities"]["pageInfo"]["endCursor"]):
        assert base64.urlsafe_b64decode(cursor).startswith(b"c:")
    second = ok(await demo.gql(query, {"after": first["pageInfo"]["endCursor"]}))["impact"]
    keys = [e["node"]["entity"]["key"] for e in first["edges"]] + [
        e["node"]["entity"]["key"] for e in second["affected"]["edges"]
    ]
    assert len(keys) == len(set(keys)) == 6


async def test_change_impact_names_assignees_and_an_unlinked_ci(demo: Api) -> None:
    query = (
        "query($key: String!) { changeImpact(key: $key) { assignedTo { key kind } startSet "
        "{ key } unlinkedConfigurationItem unlinkedConfigurationItemEntity { key } } }"
    )
    assigned = ok(await demo.gql(query, {"key": "CHG0041220"}))["changeImpact"]
    assert {a["key"] for a in assigned["assignedTo"]} == {"team-identity", "grace.obi"}
    assert assigned["unlinkedConfigurationItem"] is None
    unlinked = ok(await demo.gql(query, {"key": "CHG0041262"}))["changeImpact"]
    assert unlinked["startSet"] == []
    assert unlinked["unlinkedConfigurationItem"] == "nbh-esx-03"
    assert unlinked["unlinkedConfigurationItemEntity"] == {"key": "nbh-esx-03"}
