"""CMDB health through GraphQL, REST and the report route (PRODUCT.md 9), hostile inputs included.

The graph: t-ops (with a member) owns and supports s-good; s-bare is live and
states nothing (incomplete, an orphan); t-ghost has no members and owns c-lonely.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from graphsvc.analysis.health import CHECK_NAMES
from tests.api.conftest import Api, MakeApi

BATCH: dict[str, Any] = {
    "source": "cmdb",
    "entities": [
        {"kind": "Team", "key": "t-ops"},
        {"kind": "Team", "key": "t-ghost"},
        {"kind": "Person", "key": "p-ann"},
        {
            "kind": "Service",
            "key": "s-good",
            "attributes": {"tier": 1, "capability": "billing", "lifecycle": "live"},
        },
        {"kind": "Service", "key": "s-bare", "attributes": {"lifecycle": "live"}},
        {
            "kind": "ConfigurationItem",
            "key": "c-lonely",
            "attributes": {"ciClass": "server", "environment": "dev"},
        },
    ],
    "relations": [
        {"type": t, "from": {"kind": "Team", "key": "t-ops"}, "to": {"kind": k, "key": e}}
        for t, k, e in (("OWNS", "Service", "s-good"), ("SUPPORTS", "Service", "s-good"))
    ]
    + [
        {
            "type": "MEMBER_OF",
            "from": {"kind": "Person", "key": "p-ann"},
            "to": {"kind": "Team", "key": "t-ops"},
        },
        {
            "type": "OWNS",
            "from": {"kind": "Team", "key": "t-ghost"},
            "to": {"kind": "ConfigurationItem", "key": "c-lonely"},
        },
    ],
}


@pytest.fixture
async def health_api(make_api: MakeApi) -> Api:
    api: Api = await make_api()
    r = await api.client.post("/api/v1/ingest", json=BATCH)
    assert r.status_code == 200, r.text
    return api


async def test_health_in_graphql_with_paged_entities_and_trend(health_api: Api) -> None:
    body = await health_api.gql(
        "{ health { score result checks { name result figure unit warnAbove failAbove "
        "population failing entityCount entities(first: 1) { totalCount "
        "pageInfo { hasNextPage endCursor } edges { node { entity { key } reason } } } } "
        "sources { source items missingRequired } trend { at score } } }"
    )
    assert "errors" not in body, body
    h = body["data"]["health"]
    checks = {c["name"]: c for c in h["checks"]}
    assert checks["serviceCompleteness"]["result"] == "FAIL"
    assert checks["serviceCompleteness"]["figure"] == 50
    assert checks["ghostOwners"]["result"] == "WARN"
    orphans = checks["orphans"]
    assert (orphans["failing"], orphans["population"]) == (1, 3)
    [edge] = orphans["entities"]["edges"]
    assert edge["node"] == {
        "entity": {"key": "s-bare"},
        "reason": "no owner, direct or inherited",
    }
    assert orphans["entities"]["totalCount"] == 1
    assert not orphans["entities"]["pageInfo"]["hasNextPage"]
    assert 0 < h["score"] < 100 and h["result"] == "FAIL"
    assert h["sources"] == [{"source": "cmdb", "items": 6, "missingRequired": 1}]
    assert len(h["trend"]) == 30 and h["trend"][-1]["score"] == h["score"]

    cursor = orphans["entities"]["pageInfo"]["endCursor"]
    after = await health_api.gql(
        "query($c: String) { health { checks { name entities(first: 5, after: $c) "
        "{ edges { cursor } } } } }",
        {"c": cursor},
    )
    assert "errors" not in after, after
    assert all(
        c["entities"]["edges"] == []
        for c in after["data"]["health"]["checks"]
        if c["name"] == "orphans"
    )
    bad = await health_api.gql('{ health { checks { entities(after: "nope") { totalCount } } } }')
    assert bad["errors"][0]["extensions"]["code"] == "BAD_CURSOR"
    for first in (-1, 10**9):
        refused = await health_api.gql(
            f"{{ health {{ checks {{ entities(first: {first}) {{ totalCount }} }} }} }}"
        )
        assert refused.get("data") is None and "first" in refused["errors"][0]["message"]
    old = await health_api.gql('{ health(asOf: "2001-01-01T00:00:00Z") { score checks { name } } }')
    assert "errors" not in old, old
    assert old["data"]["health"]["score"] == 100
    wrong = await health_api.gql('{ health(asOf: "yesterday") { score } }')
    assert wrong["errors"]


async def test_health_in_rest_with_hostile_parameters(health_api: Api) -> None:
    c = health_api.client
    r = await c.get("/api/v1/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert {x["name"] for x in body["checks"]} >= {"orphans", "staleShare", "ghostOwners"}
    assert "entityIds" not in body["checks"][0] and body["trend"] == []
    with_trend = (await c.get("/api/v1/health", params={"trend": "true"})).json()
    assert len(with_trend["trend"]) == 30

    page = await c.get("/api/v1/health/checks/orphans/entities", params={"first": 1})
    assert page.status_code == 200, page.text
    assert page.json()["total"] == 1
    assert page.json()["items"][0]["entity"]["key"] == "s-bare"

    missing = await c.get("/api/v1/health/checks/nope/entities")
    assert missing.status_code == 404
    assert "nope" in missing.text and "orphans" in missing.text
    for params in ({"first": -1}, {"first": 10**9}, {"after": -5}, {"asOf": "0"}):
        r = await c.get("/api/v1/health/checks/orphans/entities", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await c.get("/api/v1/health", params={"asOf": "soon"})).status_code == 422


async def test_health_report_formats(health_api: Api) -> None:
    c = health_api.client
    html = await c.get("/api/v1/reports/health")
    assert html.status_code == 200, html.text
    assert html.headers["content-type"].startswith("text/html")
    assert "<svg" in html.text and "Score over the last 30 days" in html.text
    assert "s-bare" in html.text and "t-ghost" in html.text
    assert re.search(r"https?://", html.text) is None
    md = await c.get("/api/v1/reports/health", params={"format": "md"})
    assert md.status_code == 200 and md.text.startswith("# CMDB health:")
    doc = await c.get("/api/v1/reports/health", params={"format": "json"})
    assert doc.status_code == 200, doc.text
    assert len(doc.json()["report"]["trend"]) == 30
    assert doc.json()["samples"][0]["entities"]
    assert (await c.get("/api/v1/reports/health", params={"format": "pdf"})).status_code == 422
    naive = await c.get("/api/v1/reports/health", params={"asOf": "2030-01-01T00:00:00"})
    assert naive.status_code == 400 and "time zone" in naive.text


def _gauges(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("graphsvc_health_"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


async def test_metrics_are_computed_once_per_commit(health_api: Api) -> None:
    gauges = health_api.app.state.health_gauges
    gauges.interval = 0  # after every commit (the default waits 60 s between two)
    first = await health_api.client.get("/metrics")
    assert first.status_code == 200
    values = _gauges(first.text)
    assert values['graphsvc_health_check_figure{check="serviceCompleteness"}'] == 50
    assert 0 < values["graphsvc_health_score"] < 100
    assert {k for k in values if "check=" in k} == {
        f'graphsvc_health_check_figure{{check="{name}"}}' for name in CHECK_NAMES
    }
    assert gauges.computations == 1
    await health_api.client.get("/metrics")
    await health_api.client.get("/metrics")
    assert gauges.computations == 1  # no commit since
    fix = {
        "source": "cmdb",
        "entities": [
            {"kind": "Service", "key": "s-bare", "attributes": {"tier": 2, "capability": "x"}}
        ],
        "relations": [
            {
                "type": t,
                "from": {"kind": "Team", "key": "t-ops"},
                "to": {"kind": "Service", "key": "s-bare"},
            }
            for t in ("OWNS", "SUPPORTS")
        ],
    }
    assert (await health_api.client.post("/api/v1/ingest", json=fix)).status_code == 200
    after = _gauges((await health_api.client.get("/metrics")).text)
    assert gauges.computations == 2
    assert after["graphsvc_health_score"] > values["graphsvc_health_score"]


async def test_metrics_wait_the_interval_between_two_computations(health_api: Api) -> None:
    gauges = health_api.app.state.health_gauges
    now = [1000.0]
    gauges.clock = lambda: now[0]
    gauges.interval = 60
    await health_api.client.get("/metrics")
    assert gauges.computations == 1
    bare = {"source": "cmdb", "entities": [{"kind": "Service", "key": "s-later"}]}
    assert (await health_api.client.post("/api/v1/ingest", json=bare)).status_code == 200
    now[0] += 59
    await health_api.client.get("/metrics")
    assert gauges.computations == 1  # a commit, but the figures are 59 s old
    now[0] += 2
    await health_api.client.get("/metrics")
    assert gauges.computations == 2
    now[0] += 600
    await health_api.client.get("/metrics")
    assert gauges.computations == 2  # old, but no commit since
