"""Consolidation readiness: a ready project, then each check failing on its own."""

from __future__ import annotations

from typing import Any

import pytest

from graphsvc.analysis.readiness import (
    ReadinessStatus,
    consolidation_candidates,
    consolidation_readiness,
)
from graphsvc.errors import NotFound
from graphsvc.ingest.engine import IngestEngine
from graphsvc.store.base import GraphStore
from tests.analysis.helpers import ent, load, rel

WINDOW = {"plannedStart": "2030-02-01T00:00:00+00:00", "plannedEnd": "2030-03-01T00:00:00+00:00"}


def when(day: str) -> str:
    return f"2030-{day}T00:00:00+00:00"


async def consolidation(engine: IngestEngine, *, new: dict[str, Any] | None = None) -> None:
    """prj-merge moves s-old onto s-new; s-app already uses both; t-apps owns everything."""
    await load(
        engine,
        [
            ent("prj-merge", projectType="consolidation", **WINDOW),
            ent("s-old", load=10, lifecycle="retiring"),
            ent("s-new", **(new or {"load": 20, "capacity": 100, "lifecycle": "live"})),
            ent("s-app", tier=2),
            ent("t-apps"),
            ent("p-ann"),
        ],
        [
            rel("prj-merge", "CONSOLIDATES", "s-old"),
            rel("s-old", "REPLACED_BY", "s-new"),
            rel("s-app", "DEPENDS_ON", "s-old"),
            rel("s-app", "DEPENDS_ON", "s-new"),
            rel("t-apps", "OWNS", "s-old"),
            rel("t-apps", "OWNS", "s-new"),
            rel("t-apps", "OWNS", "s-app"),
            rel("p-ann", "MEMBER_OF", "t-apps"),
        ],
    )


def results(answer: Any) -> dict[str, str]:
    return {c.name: c.result.value for c in answer.checks}


ALL_PASS = {
    "targets": "PASS",
    "consumersMigrated": "PASS",
    "ownership": "PASS",
    "conflicts": "PASS",
    "capacity": "PASS",
    "dataQuality": "PASS",
}


async def test_ready(store: GraphStore, engine: IngestEngine) -> None:
    await consolidation(engine)
    answer = await consolidation_readiness(store, "prj-merge")
    assert results(answer) == ALL_PASS
    assert list(results(answer)) == list(ALL_PASS)  # the specification's order
    assert (answer.status, answer.score) == (ReadinessStatus.READY, 100)
    assert answer.reason == "READY: all 6 checks pass."
    assert [(r.source.key, [t.key for t in r.targets]) for r in answer.replacements] == [
        ("s-old", ["s-new"])
    ]
    with pytest.raises(NotFound):
        await consolidation_readiness(store, "prj-none")


async def check_alone(store: GraphStore, name: str, result: str) -> Any:
    answer = await consolidation_readiness(store, "prj-merge")
    assert results(answer) == {**ALL_PASS, name: result}
    return next(c for c in answer.checks if c.name == name)


async def test_targets_fails_when_target_is_itself_consolidated(
    store: GraphStore, engine: IngestEngine
) -> None:
    await consolidation(engine)
    await load(engine, [ent("prj-other")], [rel("prj-other", "CONSOLIDATES", "s-new")])
    check = await check_alone(store, "targets", "FAIL")
    assert [e.key for e in check.entities] == ["s-new"]
    assert "s-new is itself being consolidated" in check.reason
    answer = await consolidation_readiness(store, "prj-merge")
    assert (answer.status, answer.score) == (ReadinessStatus.BLOCKED, 75)
    assert answer.reason == "BLOCKED: targets fails."


async def test_targets_fails_when_a_source_has_none(
    store: GraphStore, engine: IngestEngine
) -> None:
    await consolidation(engine)
    await load(
        engine,
        [ent("c-orphan-src"), ent("t-ops")],
        [
            rel("prj-merge", "CONSOLIDATES", "c-orphan-src"),
            rel("t-ops", "OWNS", "c-orphan-src"),
            rel("p-ann", "MEMBER_OF", "t-ops"),
        ],
    )
    check = await check_alone(store, "targets", "FAIL")
    assert [e.key for e in check.entities] == ["c-orphan-src"]
    assert "no target to move to" in check.reason


async def test_consumers_not_migrated(store: GraphStore, engine: IngestEngine) -> None:
    await consolidation(engine)
    await load(
        engine,
        [ent("s-stuck"), ent("s-covered"), ent("chg-move", state="implement")],
        [
            rel("s-stuck", "DEPENDS_ON", "s-old"),
            rel("s-covered", "DEPENDS_ON", "s-old"),
            rel("t-apps", "OWNS", "s-stuck"),
            rel("t-apps", "OWNS", "s-covered"),
            rel("chg-move", "MODIFIES", "s-covered"),
            rel("chg-move", "IMPLEMENTS", "prj-merge"),
        ],
    )
    check = await check_alone(store, "consumersMigrated", "FAIL")
    assert [e.key for e in check.entities] == ["s-stuck"]
    assert "s-stuck still depends on s-old" in check.reason


async def test_ownership_fails_for_an_unowned_target(
    store: GraphStore, engine: IngestEngine
) -> None:
    await consolidation(engine)
    await load(engine, relations=[rel("t-apps", "OWNS", "s-new", status="retired")])
    check = await check_alone(store, "ownership", "FAIL")
    assert [e.key for e in check.entities] == ["s-new"]


async def test_ownership_warns_for_ghost_owner(store: GraphStore, engine: IngestEngine) -> None:
    await consolidation(engine)
    await load(engine, relations=[rel("p-ann", "MEMBER_OF", "t-apps", status="retired")])
    check = await check_alone(store, "ownership", "WARN")
    assert [e.key for e in check.entities] == ["t-apps"]
    assert "without members" in check.reason


async def test_conflicts_warn_for_an_outside_change_and_fail_for_tier1_blackout(
    store: GraphStore, engine: IngestEngine
) -> None:
    await consolidation(engine)
    await load(
        engine,
        [
            ent(
                "chg-other", state="scheduled", plannedStart=when("02-10"), plannedEnd=when("02-11")
            ),
            ent(
                "chg-after", state="scheduled", plannedStart=when("03-01"), plannedEnd=when("03-02")
            ),
        ],
        [rel("chg-other", "MODIFIES", "s-new"), rel("chg-after", "MODIFIES", "s-new")],
    )
    check = await check_alone(store, "conflicts", "WARN")
    assert {e.key for e in check.entities} == {"s-new", "chg-other"}
    assert "chg-after" not in check.reason  # touches the window's end: no clash
    await load(
        engine,
        [
            ent("s-app", tier=1),
            ent("w-freeze", windowType="blackout", start=when("02-20"), end=when("02-25")),
        ],
        [rel("w-freeze", "APPLIES_TO", "s-app")],
    )
    check = await check_alone(store, "conflicts", "FAIL")
    assert "w-freeze" in check.reason and "tier-1" in check.reason


async def test_capacity_fails_and_warns(store: GraphStore, engine: IngestEngine) -> None:
    await consolidation(engine, new={"load": 20, "capacity": 25})
    check = await check_alone(store, "capacity", "FAIL")
    assert [e.key for e in check.entities] == ["s-new"]
    assert "would carry 30 but can take 25" in check.reason


async def test_capacity_warns_without_figures(store: GraphStore, engine: IngestEngine) -> None:
    await consolidation(engine, new={"load": 20})
    check = await check_alone(store, "capacity", "WARN")
    assert [e.key for e in check.entities] == ["s-new"]


async def test_capacity_fails_when_a_team_doing_the_work_is_overbooked(
    store: GraphStore, engine: IngestEngine
) -> None:
    await consolidation(engine)
    cutover = {"effortHours": 80, "plannedStart": when("02-04"), "due": when("02-08")}
    await load(
        engine,
        [
            ent("t-apps", capacityHoursPerWeek=40),
            {"kind": "Task", "key": "tsk-cutover", "attributes": cutover},
            {"kind": "Task", "key": "tsk-done", "attributes": {**cutover, "status": "done"}},
        ],
        [
            rel("tsk-cutover", "PART_OF", "prj-merge"),
            rel("tsk-done", "PART_OF", "prj-merge"),
            rel("tsk-cutover", "ASSIGNED_TO", "t-apps"),
            rel("tsk-done", "ASSIGNED_TO", "t-apps"),
        ],
    )
    check = await check_alone(store, "capacity", "FAIL")
    assert [e.key for e in check.entities] == ["t-apps"]
    assert "team t-apps, which does open tasks of this project, is OVERBOOKED in the week of " in (
        check.reason
    )
    assert "2030-02-04" in check.reason
    # 40 hours in the week fit: the check passes again
    await load(
        engine,
        [{"kind": "Task", "key": "tsk-cutover", "attributes": {**cutover, "effortHours": 40}}],
    )
    await check_alone(store, "capacity", "PASS")


async def test_data_quality_warns_for_stale_consumer(
    store: GraphStore, engine: IngestEngine
) -> None:
    await consolidation(engine)
    await load(
        engine,
        [ent("c-worker")],
        [
            rel("c-worker", "DEPENDS_ON", "s-old"),
            rel("c-worker", "DEPENDS_ON", "s-new"),
            rel("t-apps", "OWNS", "c-worker"),
        ],
        source="disco",
        complete=True,
    )
    await load(engine, [], [], source="disco", complete=True)
    check = await check_alone(store, "dataQuality", "WARN")
    assert [e.key for e in check.entities] == ["c-worker"]
    answer = await consolidation_readiness(store, "prj-merge")
    assert (answer.status, answer.score) == (ReadinessStatus.AT_RISK, 95)
    assert answer.reason == "AT_RISK: dataQuality warns."


async def test_a_project_that_consolidates_nothing_is_not_applicable(
    store: GraphStore, engine: IngestEngine
) -> None:
    await consolidation(engine)
    await load(
        engine,
        [
            ent("prj-portal", **WINDOW),
            ent("prj-merge-2", projectType="consolidation"),
        ],
        [rel("prj-portal", "DELIVERS", "s-app"), rel("prj-portal", "DEPENDS_ON", "s-new")],
    )
    portal = await consolidation_readiness(store, "prj-portal")
    assert portal.status is ReadinessStatus.NOT_APPLICABLE
    assert (portal.score, portal.checks, portal.replacements) == (0, (), ())
    assert portal.reason.startswith(
        "Project/prj-portal CONSOLIDATES nothing, so it is not a "
        "consolidation: there is nothing to move"
    )
    assert "projectType" not in portal.reason
    # said to be a consolidation, but names no source yet: say what to add
    planned = await consolidation_readiness(store, "prj-merge-2")
    assert planned.status is ReadinessStatus.NOT_APPLICABLE
    assert "projectType is 'consolidation'" in planned.reason
    assert "add a CONSOLIDATES relation" in planned.reason


async def test_a_consolidation_whose_sources_are_retired_is_not_applicable(
    store: GraphStore, engine: IngestEngine
) -> None:
    await consolidation(engine)
    then = (await store.stats()).last_commit
    await load(engine, [ent("s-old", status="retired")])
    done = await consolidation_readiness(store, "prj-merge")
    assert done.status is ReadinessStatus.NOT_APPLICABLE and done.checks == ()
    assert "CONSOLIDATES nothing, so it is not a consolidation any more" in done.reason
    assert "Service/s-old" in done.reason and "retired" in done.reason
    # as of before the source was retired, the consolidation was ready
    assert (await consolidation_readiness(store, "prj-merge", as_of=then)).status is (
        ReadinessStatus.READY
    )
    # a retired CONSOLIDATES relation alike
    await load(engine, [ent("s-old", status="active")])
    assert (await consolidation_readiness(store, "prj-merge")).status is ReadinessStatus.READY
    await load(engine, relations=[rel("prj-merge", "CONSOLIDATES", "s-old", "retired")])
    dropped = await consolidation_readiness(store, "prj-merge")
    assert dropped.status is ReadinessStatus.NOT_APPLICABLE
    assert "Service/s-old" in dropped.reason


async def test_readiness_as_of(store: GraphStore, engine: IngestEngine) -> None:
    await consolidation(engine)
    then = (await store.stats()).last_commit
    await load(engine, [ent("s-new", capacity=5)])
    assert results(await consolidation_readiness(store, "prj-merge"))["capacity"] == "FAIL"
    past = await consolidation_readiness(store, "prj-merge", as_of=then)
    assert results(past) == ALL_PASS


async def test_candidates_ranked_by_shared_consumers(
    store: GraphStore, engine: IngestEngine
) -> None:
    await load(
        engine,
        [
            ent("s-ehr-a", capability="ehr", lifecycle="live"),
            ent("s-ehr-b", capability="ehr", lifecycle="live"),
            ent("s-ehr-c", capability="ehr"),
            ent("s-ehr-old", capability="ehr", lifecycle="retired"),
            ent("s-pay-a", capability="payroll"),
            ent("s-pay-b", capability="payroll"),
            ent("s-solo", capability="crm"),
            ent("s-u1"),
            ent("s-u2"),
            ent("s-u3"),
        ],
        [
            rel("s-u1", "DEPENDS_ON", "s-ehr-a"),
            rel("s-u1", "DEPENDS_ON", "s-ehr-b"),
            rel("s-u2", "DEPENDS_ON", "s-ehr-a"),
            rel("s-u2", "DEPENDS_ON", "s-ehr-b"),
            rel("s-u3", "DEPENDS_ON", "s-pay-a"),
            rel("s-u3", "DEPENDS_ON", "s-pay-b"),
            rel("s-u3", "DEPENDS_ON", "s-ehr-c"),
            rel("s-u1", "DEPENDS_ON", "s-ehr-old"),
        ],
    )
    pairs = await consolidation_candidates(store)
    got = [
        (p.first.key, p.second.key, p.capability, [c.key for c in p.shared_consumers])
        for p in pairs
    ]
    assert got == [
        ("s-ehr-a", "s-ehr-b", "ehr", ["s-u1", "s-u2"]),
        ("s-pay-a", "s-pay-b", "payroll", ["s-u3"]),
        ("s-ehr-a", "s-ehr-c", "ehr", []),
        ("s-ehr-b", "s-ehr-c", "ehr", []),
    ]
    only = await consolidation_candidates(store, capability="payroll")
    assert [(p.first.key, p.second.key) for p in only] == [("s-pay-a", "s-pay-b")]
