"""Single points of failure and dependency cycles over GraphQL and REST, with hostile inputs.

The small graph: checkout DEPENDS_ON payments-api DEPENDS_ON pg-main RUNS_ON vm-17;
the team payments OWNS checkout. A cycle is added: pg-main DEPENDS_ON checkout.
"""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api

CYCLE = {
    "source": "loop",
    "relations": [
        {
            "type": "DEPENDS_ON",
            "from": {"kind": "ConfigurationItem", "key": "pg-main"},
            "to": {"kind": "Service", "key": "checkout"},
        }
    ],
}


def errors(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["extensions"]["code"], e["message"]) for e in body.get("errors") or []]


async def test_spof_and_cycles_over_graphql_and_rest(api: Api) -> None:
    r = await api.client.get("/api/v1/single-points-of-failure?ref=Service/checkout")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["service"]["key"] == "checkout" and answer["dependencies"] == 3
    assert [
        (p["entity"]["key"], p["depth"], [s["type"] for s in p["path"]]) for p in answer["points"]
    ] == [
        ("payments-api", 1, ["DEPENDS_ON"]),
        ("pg-main", 2, ["DEPENDS_ON", "DEPENDS_ON"]),
        ("vm-17", 3, ["RUNS_ON", "DEPENDS_ON", "DEPENDS_ON"]),
    ]
    node = await api.gql('{ entity(kind: SERVICE, key: "checkout") { id } }')
    checkout = node["data"]["entity"]["id"]
    body = await api.gql(
        "query($id: ID!) { singlePointsOfFailure(id: $id) { dependencies points { depth "
        "entity { key } path { type from { key } to { key } relationId } } } }",
        {"id": checkout},
    )
    assert not body.get("errors"), body
    points = body["data"]["singlePointsOfFailure"]["points"]
    assert [p["entity"]["key"] for p in points] == ["payments-api", "pg-main", "vm-17"]
    assert points[0]["path"][0]["from"]["key"] == "checkout"
    # no cycles yet; then one
    empty = (await api.client.get("/api/v1/dependency-cycles")).json()
    assert empty["groups"] == [] and empty["total"] == 0 and empty["endCursor"] is None
    loaded = await api.client.post("/api/v1/ingest", json=CYCLE)
    assert loaded.status_code == 200, loaded.text
    page = (await api.client.get("/api/v1/dependency-cycles?first=1")).json()
    assert page["total"] == 1 and not page["hasNextPage"]
    assert [m["key"] for m in page["groups"][0]["members"]] == [
        "checkout",
        "payments-api",
        "pg-main",
    ]
    assert len(page["groups"][0]["cycle"]) == 3
    after = await api.client.get(f"/api/v1/dependency-cycles?after={page['endCursor']}")
    assert after.json()["groups"] == [] and after.json()["total"] == 1
    gql = await api.gql(
        "{ dependencyCycles(first: 5) { totalCount entities relations "
        "edges { cursor node { members { key } cycle { type from { key } to { key } } } } "
        "pageInfo { hasNextPage endCursor } } }"
    )
    cycles = gql["data"]["dependencyCycles"]
    assert cycles["totalCount"] == 1 and cycles["entities"] == 3 and cycles["relations"] == 4
    assert [m["key"] for m in cycles["edges"][0]["node"]["members"]] == [
        "checkout",
        "payments-api",
        "pg-main",
    ]
    # in the cycle every entity is a single point of every other
    again = (
        await api.client.get("/api/v1/single-points-of-failure?ref=Service/payments-api")
    ).json()
    assert {p["entity"]["key"] for p in again["points"]} == {"checkout", "pg-main", "vm-17"}


async def test_hostile_inputs_get_clear_errors(api: Api) -> None:
    for path, status, words in (
        ("/api/v1/single-points-of-failure?ref=Service/nope", 404, "Service/nope"),
        ("/api/v1/single-points-of-failure?ref=Team/payments", 400, "not a Service"),
        ("/api/v1/single-points-of-failure?ref=nonsense", 400, "Kind/key"),
        ("/api/v1/single-points-of-failure", 422, "ref"),
        ("/api/v1/single-points-of-failure?ref=Service/checkout&asOf=12", 422, "asOf"),
        ("/api/v1/dependency-cycles?first=-1", 422, "first"),
        ("/api/v1/dependency-cycles?first=501", 422, "first"),
        ("/api/v1/dependency-cycles?after=garbage", 400, "cursor"),
        ("/api/v1/dependency-cycles?after=" + "x" * 41, 422, "after"),
    ):
        r = await api.client.get(path)
        assert r.status_code == status, (path, r.text)
        assert words.lower() in r.text.lower(), (path, r.text)
    team = await api.gql('{ entity(kind: TEAM, key: "payments") { id } }')
    body = await api.gql(
        "query($id: ID!) { singlePointsOfFailure(id: $id) { dependencies } }",
        {"id": team["data"]["entity"]["id"]},
    )
    assert errors(body)[0][0] == "BAD_INPUT" and "not a Service" in errors(body)[0][1]
    body = await api.gql('{ singlePointsOfFailure(id: "RW50aXR5OjEyMzQ1Ng==") { dependencies } }')
    assert errors(body) and errors(body)[0][0] in ("NOT_FOUND", "BAD_ID"), body
    body = await api.gql('{ dependencyCycles(after: "garbage") { totalCount } }')
    assert errors(body)[0][0] == "BAD_CURSOR"
