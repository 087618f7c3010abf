"""Work and capacity through GraphQL and REST (issue 19): teamLoad, capacityForecast, projectPlan.

The service spreads work from the real *now*, so the small plan below is dated
relative to the Monday of the week after next: a project that starts then,
requiring an interface-engine task (40 h over that week, for team t-int with 20
hours a week: OVERBOOKED) that requires an unassigned HL7 task.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graphsvc.analysis.work import week_start
from tests.api.conftest import Api, MakeApi

MONDAY = week_start(datetime.now(UTC)) + timedelta(days=14)


def iso(moment: datetime) -> str:
    return moment.isoformat()


PLAN_BATCH: dict[str, Any] = {
    "source": "ppm",
    "entities": [
        {"kind": "Project", "key": "prj-ehr", "attributes": {"plannedStart": iso(MONDAY)}},
        {"kind": "Team", "key": "t-int", "attributes": {"capacityHoursPerWeek": 20}},
        {"kind": "Person", "key": "p-ida"},
        {
            "kind": "Task",
            "key": "tsk-engine",
            "name": "Interface engine capacity",
            "attributes": {
                "effortHours": 40,
                "plannedStart": iso(MONDAY - timedelta(days=7)),
                "due": iso(MONDAY),
                "status": "open",
            },
        },
        {
            "kind": "Task",
            "key": "tsk-hl7",
            "attributes": {"effortHours": 8, "due": iso(MONDAY - timedelta(days=8))},
        },
    ],
    "relations": [
        {
            "type": "MEMBER_OF",
            "from": {"kind": "Person", "key": "p-ida"},
            "to": {"kind": "Team", "key": "t-int"},
        },
        {
            "type": "REQUIRES",
            "from": {"kind": "Project", "key": "prj-ehr"},
            "to": {"kind": "Task", "key": "tsk-engine"},
        },
        {
            "type": "REQUIRES",
            "from": {"kind": "Task", "key": "tsk-engine"},
            "to": {"kind": "Task", "key": "tsk-hl7"},
        },
        {
            "type": "ASSIGNED_TO",
            "from": {"kind": "Task", "key": "tsk-engine"},
            "to": {"kind": "Team", "key": "t-int"},
        },
    ],
}


@pytest.fixture
async def work_api(make_api: MakeApi) -> Api:
    api: Api = await make_api()
    r = await api.client.post("/api/v1/ingest", json=PLAN_BATCH)
    assert r.status_code == 200, r.text
    return api


async def test_team_load_in_graphql_and_rest(work_api: Api) -> None:
    period = {"from": iso(MONDAY - timedelta(days=7)), "to": iso(MONDAY)}
    body = await work_api.gql(
        'query($from: DateTime!, $to: DateTime!) { teamLoad(teamKey: "t-int", from: $from,'
        " to: $to) { capacity worst weeks { weekStart state projectLoad totalLoad"
        " work { work { key } hours projectWork } } } }",
        period,
    )
    assert "errors" not in body, body
    load = body["data"]["teamLoad"]
    assert load["capacity"] == 20 and load["worst"] == "OVERBOOKED"
    week = load["weeks"][0]
    assert week["state"] == "OVERBOOKED" and week["projectLoad"] == 40 and week["totalLoad"] == 40
    assert week["work"] == [{"work": {"key": "tsk-engine"}, "hours": 40, "projectWork": True}]
    assert [w["state"] for w in load["weeks"][1:]] == ["OK"]

    r = await work_api.client.get(
        "/api/v1/teams/t-int/load", params={"from": period["from"], "to": period["to"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["weeks"][0]["projectLoad"] == 40
    assert r.json()["team"]["key"] == "t-int"


async def test_project_plan_in_graphql_and_rest(work_api: Api) -> None:
    body = await work_api.gql(
        '{ projectPlan(projectKey: "prj-ehr") { status reason criticalPath { key }'
        " tasks { task { key } problems { kind entities { key } } } } }"
    )
    assert "errors" not in body, body
    plan = body["data"]["projectPlan"]
    assert plan["status"] == "BLOCKED"
    assert plan["criticalPath"] == [{"key": "tsk-hl7"}, {"key": "tsk-engine"}]
    kinds = {t["task"]["key"]: [p["kind"] for p in t["problems"]] for t in plan["tasks"]}
    assert kinds == {"tsk-hl7": ["UNASSIGNED"], "tsk-engine": ["TEAM_OVERBOOKED"]}

    r = await work_api.client.get("/api/v1/projects/prj-ehr/plan")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "BLOCKED"
    assert r.json()["tasks"][0]["problems"][0]["kind"] == "UNASSIGNED"


async def test_capacity_forecast_in_graphql_and_rest(work_api: Api) -> None:
    period = {"from": iso(MONDAY - timedelta(days=7)), "to": iso(MONDAY + timedelta(days=7))}
    body = await work_api.gql(
        "query($from: DateTime!, $to: DateTime!) { capacityForecast(from: $from, to: $to)"
        " { teamsLookedAt teams { team { key } worst peakExcessHours } } }",
        period,
    )
    assert "errors" not in body, body
    assert body["data"]["capacityForecast"] == {
        "teamsLookedAt": 1,
        "teams": [{"team": {"key": "t-int"}, "worst": "OVERBOOKED", "peakExcessHours": 20}],
    }
    r = await work_api.client.get("/api/v1/capacity-forecast", params=period)
    assert r.status_code == 200 and r.json()["teams"][0]["peakExcessHours"] == 20


async def test_unknown_keys_and_bad_periods_are_refused(work_api: Api) -> None:
    body = await work_api.gql('{ projectPlan(projectKey: "nope") { status } }')
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "Project/nope" in body["errors"][0]["message"]
    body = await work_api.gql(
        '{ teamLoad(teamKey: "t-int", from: "2030-02-01T00:00:00Z", to: "2030-01-01T00:00:00Z")'
        " { worst } }"
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "before it starts" in body["errors"][0]["message"]
    r = await work_api.client.get(
        "/api/v1/teams/t-int/load", params={"from": "2030-01-01", "to": "2045-01-01"}
    )
    assert r.status_code == 400 and "at most 260" in r.json()["detail"]
    r = await work_api.client.get(
        "/api/v1/teams/nobody/load", params={"from": "2030-01-01", "to": "2030-01-08"}
    )
    assert r.status_code == 404 and "Team/nobody" in r.json()["detail"]
    r = await work_api.client.get("/api/v1/capacity-forecast", params={"from": "not a date"})
    assert r.status_code == 422
    # a number is not a time (pydantic alone would read it as Unix seconds)
    for path, params in (
        ("/api/v1/capacity-forecast", {"from": "0", "to": "2030-01-01"}),
        ("/api/v1/projects/prj-ehr/plan", {"asOf": "1700000000"}),
        ("/api/v1/impact", {"ref": "Task/tsk-hl7", "asOf": "0"}),
    ):
        r = await work_api.client.get(path, params=params)
        assert r.status_code == 422, (path, r.text)
        assert "not an ISO 8601 date or time" in r.text


async def test_the_fields_take_references_too(work_api: Api) -> None:
    """A PPM tool names its project by the id it knows (an identifier), not our key."""
    r = await work_api.client.post(
        "/api/v1/ingest",
        json={
            "source": "jira",
            "entities": [{"kind": "Project", "key": "prj-ehr", "identifiers": {"jiraKey": "EHR"}}],
        },
    )
    assert r.status_code == 200, r.text
    body = await work_api.gql(
        '{ projectPlan(project: {kind: PROJECT, identifiers: {jiraKey: "EHR"}}) { status } '
        'teamLoad(team: {kind: Team, key: "t-int"}, from: "2030-01-07T00:00:00Z",'
        ' to: "2030-01-08T00:00:00Z") { capacity } }'
    )
    assert "errors" not in body, body
    assert body["data"]["projectPlan"]["status"] == "BLOCKED"
    assert body["data"]["teamLoad"]["capacity"] == 20
    for query, code in (
        ('{ projectPlan(project: {kind: TEAM, key: "t-int"}) { status } }', "BAD_INPUT"),
        (
            '{ projectPlan(projectKey: "prj-ehr", project: {kind: PROJECT, key: "x"}) { status } }',
            "BAD_INPUT",
        ),
        ("{ projectPlan { status } }", "BAD_INPUT"),
        ('{ projectPlan(project: {kind: PROJECT, key: "nope"}) { status } }', "NOT_FOUND"),
    ):
        answer = await work_api.gql(query)
        assert answer["errors"][0]["extensions"]["code"] == code, (query, answer)
