"""Team capacity and weekly load (PRODUCT.md 7): hand-drawn cases, then a property.

*Now* is Monday 2030-01-07 00:00 UTC throughout, so week 0 starts then, week 1
on 2030-01-14, week 2 on 2030-01-21.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphsvc.analysis.work import (
    WeekState,
    capacity_forecast,
    spread,
    team_load,
    week_start,
    week_states,
)
from graphsvc.errors import InvalidInput, NotFound
from graphsvc.ingest.engine import IngestEngine
from graphsvc.store.base import GraphStore
from tests.analysis.helpers import ent, load, rel

NOW = datetime(2030, 1, 7, tzinfo=UTC)
END = datetime(2030, 1, 27, tzinfo=UTC)  # a Sunday: weeks 0, 1 and 2


def at(day: str, hour: int = 0) -> str:
    """2030-<day> at ``hour`` UTC, ISO 8601."""
    return f"2030-{day}T{hour:02d}:00:00+00:00"


def task(key: str, **attributes: Any) -> dict[str, Any]:
    """A Task item (``status`` is the task's attribute, not the entity status)."""
    return {"kind": "Task", "key": key, "attributes": attributes}


def hours(answer: Any) -> list[tuple[float, float]]:
    """(project, operational) load of each week, rounded to 1e-6."""
    return [(round(w.project_load, 6), round(w.operational_load, 6)) for w in answer.weeks]


async def one_team(engine: IngestEngine, *tasks: dict[str, Any], **team: Any) -> None:
    """t-ops with capacity 40 (unless ``team`` says otherwise) and the tasks assigned to it."""
    await load(
        engine,
        [ent("t-ops", **({"capacityHoursPerWeek": 40} | team)), *tasks],
        [rel(t["key"], "ASSIGNED_TO", "t-ops") for t in tasks],
    )


async def test_a_task_inside_one_week(engine: IngestEngine, store: GraphStore) -> None:
    await one_team(engine, task("tsk-a", effortHours=10, plannedStart=at("01-08"), due=at("01-10")))
    answer = await team_load(store, "t-ops", NOW, END, now=NOW)
    assert [w.week_start for w in answer.weeks] == [NOW + timedelta(days=7 * i) for i in range(3)]
    assert hours(answer) == [(0, 10), (0, 0), (0, 0)]
    assert [s.work.key for s in answer.weeks[0].work] == ["tsk-a"]
    assert answer.weeks[0].work_count == 1 and answer.weeks[1].work == ()


async def test_a_task_across_three_weeks(engine: IngestEngine, store: GraphStore) -> None:
    # 21 h over the 14 days from Friday 01-11 to Friday 01-25: 3 + 7 + 4 days
    await one_team(engine, task("tsk-b", effortHours=21, plannedStart=at("01-11"), due=at("01-25")))
    answer = await team_load(store, "t-ops", NOW, END, now=NOW)
    assert hours(answer) == [(0, 4.5), (0, 10.5), (0, 6)]


async def test_a_task_started_in_the_past_is_spread_from_now(
    engine: IngestEngine, store: GraphStore
) -> None:
    await one_team(
        engine,
        task("tsk-c", effortHours=28, plannedStart="2029-12-31T00:00:00+00:00", due=at("01-21")),
    )
    answer = await team_load(store, "t-ops", NOW, END, now=NOW)
    assert hours(answer) == [(0, 14), (0, 14), (0, 0)]


async def test_a_task_without_a_start_takes_effort_over_8_hours_a_day(
    engine: IngestEngine, store: GraphStore
) -> None:
    # 16 h, due Wednesday 01-16 00:00: it starts 2 days before, on Monday 01-14
    await one_team(engine, task("tsk-d", effortHours=16, due=at("01-16")))
    answer = await team_load(store, "t-ops", NOW, END, now=NOW)
    assert hours(answer) == [(0, 0), (0, 16), (0, 0)]


async def test_overdue_work_counts_whole_in_the_current_week(
    engine: IngestEngine, store: GraphStore
) -> None:
    await one_team(engine, task("tsk-e", effortHours=5, due=at("01-01"), status="in_progress"))
    answer = await team_load(store, "t-ops", NOW, END, now=NOW)
    assert hours(answer) == [(0, 5), (0, 0), (0, 0)]


async def test_work_without_effort_or_end_is_unscheduled_and_done_work_is_gone(
    engine: IngestEngine, store: GraphStore
) -> None:
    await one_team(
        engine,
        task("tsk-f", due=at("01-10")),
        task("tsk-g", effortHours=3),
        task("tsk-h", effortHours=50, due=at("01-10"), status="done"),
        task("tsk-i", effortHours=50, due=at("01-10"), status="cancelled"),
    )
    answer = await team_load(store, "t-ops", NOW, END, now=NOW)
    assert hours(answer) == [(0, 0), (0, 0), (0, 0)]
    assert [(u.work.key, u.missing) for u in answer.unscheduled] == [
        ("tsk-f", "effortHours"),
        ("tsk-g", "due"),
    ]


async def test_a_person_in_two_teams_splits_by_allocation(
    engine: IngestEngine, store: GraphStore
) -> None:
    await load(
        engine,
        [
            ent("t-a"),
            ent("t-b"),
            ent("p-ann", hoursPerWeek=40),
            ent("p-bob", hoursPerWeek=20),
            task("tsk-j", effortHours=8, plannedStart=at("01-08"), due=at("01-09")),
        ],
        [
            rel("p-ann", "MEMBER_OF", "t-a", allocation=0.75),
            rel("p-ann", "MEMBER_OF", "t-b", allocation=0.25),
            rel("p-bob", "MEMBER_OF", "t-b"),
            rel("tsk-j", "ASSIGNED_TO", "p-ann"),
        ],
    )
    a = await team_load(store, "t-a", NOW, END, now=NOW)
    b = await team_load(store, "t-b", NOW, END, now=NOW)
    assert hours(a)[0] == (0, 6) and hours(b)[0] == (0, 2)
    # capacity from the members: 40 * 0.75; 40 * 0.25 + 20 * 1
    assert (a.capacity, b.capacity) == (30, 30)
    assert "member" in a.capacity_source


async def test_project_work_and_operational_work(engine: IngestEngine, store: GraphStore) -> None:
    week0 = {"plannedStart": at("01-08"), "due": at("01-09")}
    await load(
        engine,
        [
            ent("t-ops", capacityHoursPerWeek=40, projectShare=0.25),
            ent("prj-x"),
            task("tsk-part", effortHours=1, **week0),
            task("tsk-req", effortHours=2, **week0),
            task("tsk-deep", effortHours=4, **week0),
            task("tsk-ppm", effortHours=8, origin="ppm", **week0),
            task("tsk-ops", effortHours=16, origin="itsm", **week0),
            ent(
                "chg-1",
                effortHours=32,
                state="scheduled",
                plannedStart=at("01-08"),
                plannedEnd=at("01-09"),
            ),
            ent("chg-2", effortHours=64, state="closed", plannedEnd=at("01-09")),
        ],
        [
            rel("tsk-part", "PART_OF", "prj-x"),
            rel("prj-x", "REQUIRES", "tsk-req"),
            rel("tsk-req", "REQUIRES", "tsk-deep"),
            *(
                rel(k, "ASSIGNED_TO", "t-ops")
                for k in ("tsk-part", "tsk-req", "tsk-deep", "tsk-ppm", "tsk-ops", "chg-1", "chg-2")
            ),
        ],
    )
    answer = await team_load(store, "t-ops", NOW, END, now=NOW)
    week = answer.weeks[0]
    assert (week.project_load, week.operational_load) == (15, 48)
    # total 63 > 40: OVERBOOKED; the largest share first
    assert week.state is WeekState.OVERBOOKED and answer.worst is WeekState.OVERBOOKED
    assert [(s.work.key, s.hours, s.project_work) for s in week.work][:2] == [
        ("chg-1", 32, False),
        ("tsk-ops", 16, False),
    ]
    assert week.project_capacity == 10


@pytest.mark.parametrize(
    ("project", "operational", "state"),
    [(10, 30, "OK"), (11, 20, "OVER_PROJECT_SHARE"), (5, 36, "OVERBOOKED"), (30, 20, "OVERBOOKED")],
)
async def test_week_states(
    engine: IngestEngine, store: GraphStore, project: int, operational: int, state: str
) -> None:
    week0 = {"plannedStart": at("01-08"), "due": at("01-09")}
    await one_team(
        engine,
        task("tsk-p", effortHours=project, origin="ppm", **week0),
        task("tsk-o", effortHours=operational, **week0),
        projectShare=0.25,
    )
    answer = await team_load(store, "t-ops", NOW, END, now=NOW)
    assert answer.weeks[0].state.value == state
    assert [w.state for w in answer.weeks[1:]] == [WeekState.OK, WeekState.OK]


async def test_work_assigned_to_a_team_and_its_member_is_counted_once(
    engine: IngestEngine, store: GraphStore
) -> None:
    await load(
        engine,
        [
            ent("t-ops", capacityHoursPerWeek=40),
            ent("p-ann"),
            task("tsk-k", effortHours=12, plannedStart=at("01-08"), due=at("01-09")),
        ],
        [
            rel("p-ann", "MEMBER_OF", "t-ops"),
            rel("tsk-k", "ASSIGNED_TO", "t-ops"),
            rel("tsk-k", "ASSIGNED_TO", "p-ann"),
        ],
    )
    answer = await team_load(store, "t-ops", NOW, END, now=NOW)
    assert hours(answer)[0] == (0, 12)
    assert [(s.work.key, s.hours) for s in answer.weeks[0].work] == [("tsk-k", 12)]


async def test_capacity_forecast_lists_teams_worst_first(
    engine: IngestEngine, store: GraphStore
) -> None:
    week1 = {"plannedStart": at("01-15"), "due": at("01-16")}
    await load(
        engine,
        [
            ent("t-calm", capacityHoursPerWeek=40),
            ent("t-busy", capacityHoursPerWeek=10),
            ent("t-ppm", capacityHoursPerWeek=40, projectShare=0.3),
            task("tsk-1", effortHours=5, **week1),
            task("tsk-2", effortHours=25, **week1),
            task("tsk-3", effortHours=20, origin="ppm", **week1),
        ],
        [
            rel("tsk-1", "ASSIGNED_TO", "t-calm"),
            rel("tsk-2", "ASSIGNED_TO", "t-busy"),
            rel("tsk-3", "ASSIGNED_TO", "t-ppm"),
        ],
    )
    answer = await capacity_forecast(store, NOW, END, now=NOW)
    assert answer.teams_looked_at == 3
    assert [(f.team.key, f.worst.value, f.peak_excess_hours) for f in answer.teams] == [
        ("t-busy", "OVERBOOKED", 15),
        ("t-ppm", "OVER_PROJECT_SHARE", 8),
    ]
    assert [w.week_start for w in answer.teams[0].weeks] == [NOW + timedelta(days=7)]
    assert answer.start == NOW and answer.end == NOW + timedelta(days=21)


async def test_refusals(engine: IngestEngine, store: GraphStore) -> None:
    await one_team(engine)
    with pytest.raises(NotFound):
        await team_load(store, "t-nobody", NOW, END)
    with pytest.raises(InvalidInput, match="before it starts"):
        await team_load(store, "t-ops", END, NOW)
    with pytest.raises(InvalidInput, match="at most 260"):
        await team_load(store, "t-ops", NOW, NOW + timedelta(days=7 * 300))


def test_week_start_is_monday_midnight_utc() -> None:
    sunday_night = datetime(2030, 1, 13, 23, 59, tzinfo=UTC)
    assert week_start(sunday_night) == NOW
    assert week_start(NOW) == NOW


_MONDAY = NOW.timestamp()
_DAY = 86_400.0


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(
        st.tuples(
            st.floats(-30, 60),  # start, days from now
            st.floats(-30, 60),  # end, days from now
            st.floats(0, 500),  # effort
        ),
        max_size=25,
    ),
    now_offset=st.floats(0, 6.9),
    capacity=st.floats(0, 200),
    share=st.floats(0, 1),
)
def test_weekly_loads_sum_to_the_effort_and_states_follow(
    items: list[tuple[float, float, float]], now_offset: float, capacity: float, share: float
) -> None:
    """Every scheduled hour lands in exactly one week; the state is a function of the sums."""
    now = _MONDAY + now_offset * _DAY
    starts = np.array([_MONDAY + s * _DAY for s, _, _ in items])
    ends = np.array([_MONDAY + e * _DAY for _, e, _ in items])
    efforts = np.array([x for _, _, x in items])
    edges = np.array([_MONDAY + 7 * _DAY * w for w in range(11)])  # covers -0 .. +70 days
    per_week = spread(starts, ends, efforts, edges, now)
    assert per_week.shape == (len(items), 10)
    assert np.all(per_week >= 0)
    assert np.allclose(per_week.sum(axis=1), efforts, rtol=1e-9, atol=1e-6)
    project = per_week[: len(items) // 2].sum(axis=0)[None, :]
    operational = per_week[len(items) // 2 :].sum(axis=0)[None, :]
    states = week_states(project, operational, np.array([capacity]), np.array([capacity * share]))
    for w in range(10):
        total = project[0, w] + operational[0, w]
        expected = (
            2 if total > capacity + 1e-9 else 1 if project[0, w] > capacity * share + 1e-9 else 0
        )
        assert states[0, w] == expected
