"""A project's plan (PRODUCT.md 7): prerequisites, each problem on its own, cycles, critical path.

*Now* is Monday 2030-01-07 00:00 UTC; prj-x plans to start 2030-02-01. The healthy
plan: prj-x REQUIRES tsk-a REQUIRES tsk-b REQUIRES tsk-c; tsk-d is PART_OF prj-x
and REQUIRES tsk-c. t-dev (capacity 100, one member) does all of it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from graphsvc.analysis.plan import PlanStatus, ProblemKind, project_plan
from graphsvc.errors import NotFound
from graphsvc.ingest.engine import IngestEngine
from graphsvc.store.base import GraphStore
from tests.analysis.helpers import ent, load, rel

NOW = datetime(2030, 1, 7, tzinfo=UTC)


def at(day: str) -> str:
    return f"2030-{day}T00:00:00+00:00"


def task(key: str, **attributes: Any) -> dict[str, Any]:
    """A Task item (``status`` is the task's attribute, not the entity status)."""
    return {"kind": "Task", "key": key, "attributes": attributes}


HEALTHY = {
    "tsk-a": {"effortHours": 10, "plannedStart": at("01-22"), "due": at("01-24")},
    "tsk-b": {"effortHours": 20, "plannedStart": at("01-15"), "due": at("01-18")},
    "tsk-c": {"effortHours": 5, "plannedStart": at("01-08"), "due": at("01-10")},
    "tsk-d": {"effortHours": 40, "plannedStart": at("01-14"), "due": at("01-28")},
}
EDGES = [
    ("prj-x", "REQUIRES", "tsk-a"),
    ("tsk-a", "REQUIRES", "tsk-b"),
    ("tsk-b", "REQUIRES", "tsk-c"),
    ("tsk-d", "PART_OF", "prj-x"),
    ("tsk-d", "REQUIRES", "tsk-c"),
]


async def plan_graph(
    engine: IngestEngine,
    *,
    tasks: dict[str, dict[str, Any]] | None = None,
    extra: list[dict[str, Any]] | None = None,
    edges: list[tuple[str, str, str]] | None = None,
    assign: dict[str, str] | None = None,
) -> None:
    """The healthy plan, with tasks' attributes replaced, and extra entities and relations."""
    attrs = {**HEALTHY, **(tasks or {})}
    assignees = dict.fromkeys(attrs, "t-dev") | (assign or {})
    await load(
        engine,
        [
            ent("prj-x", plannedStart=at("02-01")),
            ent("t-dev", capacityHoursPerWeek=100),
            ent("p-dev"),
            *(task(k, **v) for k, v in attrs.items()),
            *(extra or []),
        ],
        [
            rel("p-dev", "MEMBER_OF", "t-dev"),
            *(rel(a, t, b) for a, t, b in [*EDGES, *(edges or [])]),
            *(rel(k, "ASSIGNED_TO", who) for k, who in assignees.items() if who),
        ],
    )


def problems(answer: Any) -> dict[str, list[str]]:
    return {t.task.key: [p.kind.value for p in t.problems] for t in answer.tasks if t.problems}


async def test_a_healthy_plan_is_ready(engine: IngestEngine, store: GraphStore) -> None:
    await plan_graph(engine)
    answer = await project_plan(store, "prj-x", now=NOW)
    assert answer.status is PlanStatus.READY, answer.reason
    assert [t.task.key for t in answer.tasks] == ["tsk-c", "tsk-b", "tsk-a", "tsk-d"]
    assert problems(answer) == {}
    # c -> d (45 h) outweighs c -> b -> a (35 h); the deepest prerequisite comes first
    assert [t.key for t in answer.critical_path] == ["tsk-c", "tsk-d"]
    assert answer.critical_path_hours == 45
    assert answer.earliest_start == datetime(2030, 1, 28, tzinfo=UTC)
    assert "tsk-d" in answer.earliest_start_reason
    [d] = [t for t in answer.tasks if t.task.key == "tsk-d"]
    assert [r.key for r in d.requires] == ["tsk-c"]
    assert [a.key for a in d.assignees] == ["t-dev"]


@pytest.mark.parametrize(
    ("change", "expected", "status"),
    [
        ({"assign": {"tsk-b": ""}}, {"tsk-b": ["UNASSIGNED"]}, "BLOCKED"),
        (
            {"extra": [ent("t-ghost", capacityHoursPerWeek=100)], "assign": {"tsk-b": "t-ghost"}},
            {"tsk-b": ["ASSIGNEE_GHOST"]},
            "BLOCKED",
        ),
        (
            {"tasks": {"tsk-b": {**HEALTHY["tsk-b"], "status": "blocked"}}},
            {"tsk-b": ["BLOCKED"]},
            "BLOCKED",
        ),
        (
            {"tasks": {"tsk-c": {"effortHours": 5, "due": "2030-01-03T00:00:00+00:00"}}},
            {"tsk-c": ["OVERDUE"]},
            "BLOCKED",
        ),
        (
            {"tasks": {"tsk-a": {"effortHours": 10, "due": at("02-03")}}},
            {"tsk-a": ["LATE"]},
            "BLOCKED",
        ),
        (
            {
                "extra": [
                    ent("s-ehr"),
                    ent("w-freeze", windowType="blackout", start=at("01-16"), end=at("01-20")),
                ],
                "edges": [("tsk-b", "MODIFIES", "s-ehr"), ("w-freeze", "APPLIES_TO", "s-ehr")],
            },
            {"tsk-b": ["BLACKOUT"]},
            "AT_RISK",
        ),
        (
            {"tasks": {"tsk-b": {**HEALTHY["tsk-b"], "effortHours": 120}}},
            # tsk-b overbooks t-dev in the week of 01-14, which tsk-d spans too
            {"tsk-b": ["TEAM_OVERBOOKED"], "tsk-d": ["TEAM_OVERBOOKED"]},
            "AT_RISK",
        ),
    ],
    ids=["unassigned", "ghost", "blocked", "overdue", "late", "blackout", "overbooked"],
)
async def test_each_problem_on_its_own(
    engine: IngestEngine,
    store: GraphStore,
    change: dict[str, Any],
    expected: dict[str, list[str]],
    status: str,
) -> None:
    await plan_graph(engine, **change)
    answer = await project_plan(store, "prj-x", now=NOW)
    assert problems(answer) == expected
    assert answer.status.value == status
    assert answer.reason.startswith(f"{status}: {len(expected)} task")


async def test_problems_name_what_causes_them(engine: IngestEngine, store: GraphStore) -> None:
    await plan_graph(
        engine,
        extra=[
            ent("t-ghost", capacityHoursPerWeek=100),
            ent("s-ehr"),
            ent("w-freeze", windowType="blackout", start=at("01-16"), end=at("01-20")),
        ],
        edges=[("tsk-b", "MODIFIES", "s-ehr"), ("w-freeze", "APPLIES_TO", "s-ehr")],
        assign={"tsk-a": "t-ghost"},
        tasks={"tsk-b": {**HEALTHY["tsk-b"], "effortHours": 120}},
    )
    answer = await project_plan(store, "prj-x", now=NOW)
    found = {(t.task.key, p.kind): p for t in answer.tasks for p in t.problems}
    ghost = found["tsk-a", ProblemKind.ASSIGNEE_GHOST]
    assert [e.key for e in ghost.entities] == [
        "t-ghost"
    ] and "no active members" in ghost.explanation
    blackout = found["tsk-b", ProblemKind.BLACKOUT]
    assert [e.key for e in blackout.entities] == ["w-freeze", "s-ehr"]
    overbooked = found["tsk-b", ProblemKind.TEAM_OVERBOOKED]
    assert "is OVERBOOKED in the week of 2030-01-14" in overbooked.explanation
    assert answer.status is PlanStatus.BLOCKED
    assert (
        answer.reason == "BLOCKED: 1 task ASSIGNEE_GHOST, 1 task BLACKOUT, 2 tasks TEAM_OVERBOOKED"
    )


async def test_a_requires_cycle_is_a_problem_naming_its_tasks(
    engine: IngestEngine, store: GraphStore
) -> None:
    await plan_graph(engine, edges=[("tsk-c", "REQUIRES", "tsk-a")])
    answer = await project_plan(store, "prj-x", now=NOW)
    assert [[t.key for t in c] for c in answer.cycles] == [["tsk-a", "tsk-b", "tsk-c"]]
    assert problems(answer) == {k: ["CYCLE"] for k in ("tsk-a", "tsk-b", "tsk-c")}
    assert answer.status is PlanStatus.BLOCKED
    # the cycle's own edges are left out of the critical path; tsk-d still requires tsk-c
    assert [t.key for t in answer.critical_path] == ["tsk-c", "tsk-d"]


async def test_the_critical_path_breaks_ties_by_key(
    engine: IngestEngine, store: GraphStore
) -> None:
    # c -> d: 5 + 30 = 35, the same as c -> b -> a: 5 + 20 + 10
    await plan_graph(engine, tasks={"tsk-d": {**HEALTHY["tsk-d"], "effortHours": 30}})
    answer = await project_plan(store, "prj-x", now=NOW)
    # from tsk-c, the chains continue with tsk-b or tsk-d: tsk-b sorts first
    assert [t.key for t in answer.critical_path] == ["tsk-c", "tsk-b", "tsk-a"]
    assert answer.critical_path_hours == 35


async def test_done_work_has_no_problems_and_leaves_the_path(
    engine: IngestEngine, store: GraphStore
) -> None:
    done = {k: {**v, "status": "done"} for k, v in HEALTHY.items()}
    done["tsk-c"] = {"effortHours": 5, "due": "2030-01-03T00:00:00+00:00", "status": "done"}
    await plan_graph(engine, tasks=done, assign={"tsk-b": ""})
    answer = await project_plan(store, "prj-x", now=NOW)
    assert problems(answer) == {}
    assert answer.status is PlanStatus.READY and answer.reason == "every prerequisite is done"
    assert answer.critical_path == () and answer.earliest_start == NOW
    assert [[a.key for a in t.assignees] for t in answer.tasks] == [
        ["t-dev"],
        [],
        ["t-dev"],
        ["t-dev"],
    ]


async def test_an_undated_open_task_makes_the_earliest_start_unknown(
    engine: IngestEngine, store: GraphStore
) -> None:
    await plan_graph(engine, tasks={"tsk-a": {"effortHours": 10}})
    answer = await project_plan(store, "prj-x", now=NOW)
    assert answer.earliest_start is None
    assert "tsk-a" in answer.earliest_start_reason
    assert answer.tasks[-1].task.key == "tsk-a"  # undated open tasks after the dated ones


async def test_an_empty_plan_and_an_unknown_project(
    engine: IngestEngine, store: GraphStore
) -> None:
    await load(engine, [ent("prj-empty")])
    answer = await project_plan(store, "prj-empty", now=NOW)
    assert answer.status is PlanStatus.READY and answer.tasks == ()
    with pytest.raises(NotFound):
        await project_plan(store, "prj-nope", now=NOW)
