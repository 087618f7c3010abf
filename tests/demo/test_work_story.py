"""The demo tells the work story (issue 19, 5): showcase 9 of the demo graph holds.

PRJ-0101 gains its IT prerequisites (tasks, PRODUCT.md 1 and 7) and one team
has no time for them in the week of the clinical go-live freeze. The demo is
loaded into an embedded store and everything is checked on the stored data with
plain arithmetic written out here (PRODUCT.md 7's rules), not through the
analysis code: so the figures of showcase 9 are a check for that code.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from graphsvc.demo import demo_batches
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.records import EntityRecord, RelationRecord
from graphsvc.model.vocabulary import Direction, EntityKind, RelationType, Status
from graphsvc.store.base import EntityQuery, GraphStore

TODAY = dt.date(2025, 3, 10)
"""A Monday; the load-day sweep below starts here and covers every weekday."""

PAGE = 1000
TASKS = [f"TASK-EHR-{n}" for n in range(101, 109)]
FREEZE = "blackout-lims-go-live-freeze"
DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(days=7)

Ref = tuple[EntityKind, str]
T, TEAM, PERSON, PROJECT = (
    EntityKind.TASK,
    EntityKind.TEAM,
    EntityKind.PERSON,
    EntityKind.PROJECT,
)
R = RelationType


@dataclass
class Graph:
    """Every live entity and relation of the loaded demo, in memory."""

    entities: dict[int, EntityRecord] = field(default_factory=dict)
    ids: dict[Ref, int] = field(default_factory=dict)
    relations: list[RelationRecord] = field(default_factory=list)

    def get(self, kind: EntityKind, key: str) -> EntityRecord:
        return self.entities[self.ids[kind, key]]

    def out(self, kind: EntityKind, key: str, type_: RelationType) -> list[EntityRecord]:
        me = self.ids[kind, key]
        return [
            self.entities[r.to_id] for r in self.relations if r.type is type_ and r.from_id == me
        ]

    def into(self, kind: EntityKind, key: str, type_: RelationType) -> list[RelationRecord]:
        me = self.ids[kind, key]
        return [r for r in self.relations if r.type is type_ and r.to_id == me]

    def keys_out(self, kind: EntityKind, key: str, type_: RelationType) -> set[str]:
        return {e.key for e in self.out(kind, key, type_)}


async def load(store: GraphStore, today: dt.date) -> Graph:
    engine = IngestEngine(store)
    for batch in demo_batches(today):
        await engine.ingest(batch)
    graph = Graph()
    after: int | None = None
    while True:
        page = await store.find_entities(EntityQuery(), first=PAGE, after=after)
        for e in page.items:
            if e.status is not Status.RETIRED:
                graph.entities[e.id] = e
                graph.ids[e.kind, e.key] = e.id
        if not page.has_next:
            break
        after = page.end_cursor
    for eid in graph.entities:
        rels = await store.relations(eid, Direction.OUT, first=PAGE)
        assert not rels.has_next
        graph.relations += [
            r for r in rels.items if r.status is not Status.RETIRED and r.to_id in graph.entities
        ]
    return graph


# ------------------------------------------------------------------ plain arithmetic


def when(value: object) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


def hours(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def week_of(moment: dt.datetime) -> dt.datetime:
    """Monday 00:00 UTC of the ISO week holding ``moment``."""
    monday = moment.astimezone(dt.UTC).date() - dt.timedelta(days=moment.weekday())
    return dt.datetime.combine(monday, dt.time(), tzinfo=dt.UTC)


def is_open(work: EntityRecord) -> bool:
    if work.kind is T:
        return work.attributes.get("status") not in ("done", "cancelled")
    return work.attributes.get("state") not in ("closed", "cancelled")


def interval(work: EntityRecord) -> tuple[dt.datetime, dt.datetime] | None:
    """[start, end) of scheduled work, as planned (before clipping to now)."""
    effort = hours(work.attributes.get("effortHours"))
    end = when(work.attributes.get("due" if work.kind is T else "plannedEnd"))
    if effort is None or end is None:
        return None
    start = when(work.attributes.get("plannedStart")) or end - dt.timedelta(days=effort / 8)
    return start, end


def spread(work: EntityRecord, now: dt.datetime) -> dict[dt.datetime, float]:
    """The effort of open, scheduled work per ISO week: evenly over [max(start, now), end)."""
    span = interval(work)
    effort = hours(work.attributes.get("effortHours"))
    if span is None or effort is None or not is_open(work):
        return {}
    start, end = max(span[0], now), span[1]
    if end <= now:
        return {week_of(now): effort}
    total = (end - start).total_seconds()
    out: dict[dt.datetime, float] = {}
    week = week_of(start)
    while week < end:
        overlap = (min(week + WEEK, end) - max(week, start)).total_seconds()
        if overlap > 0:
            out[week] = effort * overlap / total
        week += WEEK
    return out


def is_project_work(graph: Graph, work: EntityRecord) -> bool:
    if work.kind is not T:
        return False  # every change is operational work
    in_plan = any(p.kind is PROJECT for p in graph.out(T, work.key, R.PART_OF))
    required = any(
        graph.entities[r.from_id].kind is PROJECT for r in graph.into(T, work.key, R.REQUIRES)
    )
    return in_plan or required or work.attributes.get("origin") == "ppm"


def capacity(graph: Graph, team: str) -> tuple[float, float]:
    """(C, C x projectShare) of a team."""
    attrs = graph.get(TEAM, team).attributes
    stated = hours(attrs.get("capacityHoursPerWeek"))
    if stated is None:
        stated = 0.0
        for m in graph.into(TEAM, team, R.MEMBER_OF):
            person = graph.entities[m.from_id]
            if person.status is Status.ACTIVE:
                week = hours(person.attributes.get("hoursPerWeek"))
                share = hours(m.attributes.get("allocation"))
                stated += (40.0 if week is None else week) * (1.0 if share is None else share)
    share = hours(attrs.get("projectShare"))
    return stated, stated * (0.4 if share is None else share)


@dataclass
class Week:
    project: float = 0.0
    operational: float = 0.0
    work: set[str] = field(default_factory=set)

    @property
    def total(self) -> float:
        return self.project + self.operational


def team_loads(graph: Graph, now: dt.datetime) -> dict[str, dict[dt.datetime, Week]]:
    """Team key -> ISO week -> load: an equal share per assignee; a person's share
    split over the person's teams by MEMBER_OF allocation."""
    loads: dict[str, dict[dt.datetime, Week]] = defaultdict(lambda: defaultdict(Week))
    assignments = [r for r in graph.relations if r.type is R.ASSIGNED_TO]
    assignees: dict[int, int] = defaultdict(int)
    for r in assignments:
        assignees[r.from_id] += 1
    for r in assignments:
        work, who = graph.entities[r.from_id], graph.entities[r.to_id]
        each = 1.0 / assignees[work.id]
        if who.kind is TEAM:
            teams = [(who.key, each)]
        else:
            member_of = [
                m for m in graph.relations if m.type is R.MEMBER_OF and m.from_id == who.id
            ]
            shares = [hours(m.attributes.get("allocation")) or 1.0 for m in member_of]
            teams = [
                (graph.entities[m.to_id].key, each * s / sum(shares))
                for m, s in zip(member_of, shares, strict=True)
            ]
        project = is_project_work(graph, work)
        for week, h in spread(work, now).items():
            for team, weight in teams:
                slot = loads[team][week]
                if project:
                    slot.project += h * weight
                else:
                    slot.operational += h * weight
                slot.work.add(work.key)
    return loads


def state(graph: Graph, team: str, week: Week) -> str:
    cap, project_cap = capacity(graph, team)
    if week.total > cap + 1e-9:
        return "OVERBOOKED"
    if week.project > project_cap + 1e-9:
        return "OVER_PROJECT_SHARE"
    return "OK"


def load_days() -> list[dt.date]:
    return [TODAY + dt.timedelta(days=n) for n in range(7)]


# ------------------------------------------------------------------ the tasks


async def test_prj_0101_has_its_it_tasks(store: GraphStore) -> None:
    graph = await load(store, TODAY)
    tasks = [graph.get(T, key) for key in TASKS]
    for task in tasks:
        assert task.attributes["origin"] == "ppm", task.key
        assert graph.keys_out(T, task.key, R.PART_OF) == {"PRJ-0101"}, task.key
        assert when(task.attributes["plannedStart"]) is not None
        assert when(task.attributes["due"]) is not None
    statuses = {t.key: t.attributes["status"] for t in tasks}
    assert statuses == {
        "TASK-EHR-101": "done",
        "TASK-EHR-102": "in_progress",
        **dict.fromkeys(TASKS[2:], "open"),
    }
    efforts = {t.key: t.attributes.get("effortHours") for t in tasks}
    assert efforts == {
        "TASK-EHR-101": 60,
        "TASK-EHR-102": 36,
        "TASK-EHR-103": 40,
        "TASK-EHR-104": 160,
        "TASK-EHR-105": 48,
        "TASK-EHR-106": 60,
        "TASK-EHR-107": 24,
        "TASK-EHR-108": None,  # the ghost team's task: nobody to estimate it
    }
    # every task kind in the graph is one of PRJ-0101's
    assert sorted(e.key for e in graph.entities.values() if e.kind is T) == TASKS
    # what they touch: the interface engine, identity, the freeze's LIMS, the MPLS link
    assert graph.keys_out(T, "TASK-EHR-103", R.MODIFIES) == {"integration-engine"}
    assert graph.keys_out(T, "TASK-EHR-104", R.MODIFIES) == {"integration-engine", "lis-staidans"}
    assert graph.keys_out(T, "TASK-EHR-102", R.MODIFIES) == {"identity-sso"}
    assert graph.keys_out(T, "TASK-EHR-107", R.MODIFIES) == {"wan-mpls-nbh-sa"}
    assert graph.keys_out(T, "TASK-EHR-106", R.ASSIGNED_TO) == {"team-service-desk"}


async def test_the_requires_chain_and_its_critical_path(store: GraphStore) -> None:
    graph = await load(store, TODAY)
    assert graph.keys_out(PROJECT, "PRJ-0101", R.REQUIRES) == {"TASK-EHR-105", "TASK-EHR-106"}
    requires = {key: graph.keys_out(T, key, R.REQUIRES) for key in TASKS}
    assert requires == {
        "TASK-EHR-101": set(),
        "TASK-EHR-102": set(),
        "TASK-EHR-103": set(),
        "TASK-EHR-104": {"TASK-EHR-103", "TASK-EHR-108"},
        "TASK-EHR-105": {"TASK-EHR-104", "TASK-EHR-102", "TASK-EHR-101"},
        "TASK-EHR-106": set(),
        "TASK-EHR-107": set(),
        "TASK-EHR-108": set(),
    }

    # the chain of open prerequisites with the largest total effort (no cycle to guard)
    def heaviest(key: str) -> tuple[float, list[str]]:
        task = graph.get(T, key)
        if not is_open(task):
            return 0.0, []
        below = [heaviest(k) for k in sorted(requires[key])] or [(0.0, [])]
        effort, chain = max(below, key=lambda c: c[0])
        return effort + (hours(task.attributes.get("effortHours")) or 0.0), [*chain, key]

    best = max((heaviest(k) for k in ("TASK-EHR-105", "TASK-EHR-106")), key=lambda c: c[0])
    assert best == (248.0, ["TASK-EHR-103", "TASK-EHR-104", "TASK-EHR-105"])
    # each prerequisite is due before what requires it starts
    for key, needs in requires.items():
        start = when(graph.get(T, key).attributes["plannedStart"])
        for need in needs:
            due = when(graph.get(T, need).attributes["due"])
            assert due is not None and start is not None and due <= start, (key, need)


async def test_an_unassigned_task_and_a_ghost_assignee(store: GraphStore) -> None:
    graph = await load(store, TODAY)
    assert graph.out(T, "TASK-EHR-107", R.ASSIGNED_TO) == []
    assert graph.keys_out(T, "TASK-EHR-108", R.ASSIGNED_TO) == {"team-sa-interfaces"}
    assert graph.into(TEAM, "team-sa-interfaces", R.MEMBER_OF) == []
    assert capacity(graph, "team-sa-interfaces") == (0.0, 0.0)
    # every other open task has an assignee with active members
    for key in TASKS:
        if key in ("TASK-EHR-107", "TASK-EHR-108"):
            continue
        for team in graph.out(T, key, R.ASSIGNED_TO):
            assert team.kind is TEAM and team.status is Status.ACTIVE
            assert graph.into(TEAM, team.key, R.MEMBER_OF), (key, team.key)


async def test_capacities_shares_and_allocations(store: GraphStore) -> None:
    graph = await load(store, TODAY)
    working = {
        t.key
        for key in TASKS
        if is_open(graph.get(T, key))
        for t in graph.out(T, key, R.ASSIGNED_TO)
        if t.key != "team-sa-interfaces"
    }
    assert working == {"team-identity", "team-integration", "team-ehr", "team-service-desk"}
    for team in working:
        share = graph.get(TEAM, team).attributes["projectShare"]
        assert isinstance(share, float) and 0.3 <= share <= 0.5, team
    assert {team: capacity(graph, team) for team in sorted(working)} == {
        "team-ehr": (225.0, 90.0),
        "team-identity": (75.0, 30.0),
        "team-integration": (110.0, 55.0),
        "team-service-desk": (300.0, 90.0),
    }
    yara = graph.ids[PERSON, "yara.haddad"]
    allocations = {
        graph.entities[r.to_id].key: r.attributes.get("allocation")
        for r in graph.relations
        if r.type is R.MEMBER_OF and r.from_id == yara
    }
    assert allocations == {"team-integration": 0.75, "team-lab-systems": 0.25}
    with_hours = {
        p.key
        for p in graph.entities.values()
        if p.kind is PERSON and "hoursPerWeek" in p.attributes
    }
    assert {"sean.murphy", "yara.haddad"} <= with_hours


# ------------------------------------------------------------------ the freeze week


@pytest.mark.parametrize("today", load_days(), ids=lambda d: d.strftime("%a"))
async def test_team_integration_is_overbooked_in_the_freeze_week(
    store: GraphStore, today: dt.date
) -> None:
    """On whatever weekday the demo is loaded (now: 12:00 that day)."""
    graph = await load(store, today)
    now = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
    freeze = graph.get(EntityKind.WINDOW, FREEZE).attributes
    start, end = when(freeze["start"]), when(freeze["end"])
    assert start is not None and end is not None
    assert freeze["windowType"] == "blackout"

    # W: the ISO week holding @+27d lies wholly inside the freeze
    w = week_of(dt.datetime.combine(today + 27 * DAY, dt.time(), tzinfo=dt.UTC))
    assert start <= w and w + WEEK <= end

    loads = team_loads(graph, now)
    week = loads["team-integration"][w]
    assert week.work == {"TASK-EHR-104", "CHG0041266"}
    assert week.project == pytest.approx(80.0)  # 160 h over 14 days, a full week of it
    assert week.operational == pytest.approx(40.0)  # the clearing-house change
    assert capacity(graph, "team-integration") == (110.0, 55.0)
    assert state(graph, "team-integration", week) == "OVERBOOKED"  # 120 > 110

    # the only OVERBOOKED week of any team; the other teams are OK throughout
    not_ok = {
        (team, wk, state(graph, team, load))
        for team, weeks in loads.items()
        for wk, load in weeks.items()
        if state(graph, team, load) != "OK"
    }
    assert {(t, wk) for t, wk, s in not_ok if s == "OVERBOOKED"} == {("team-integration", w)}
    assert {t for t, _, _ in not_ok} == {"team-integration"}
    # the other weeks of TASK-EHR-104: OVER_PROJECT_SHARE with 5+ of its days, else OK
    task = graph.get(T, "TASK-EHR-104")
    for wk, h in spread(task, now).items():
        days = round(h / (160 / 14))
        assert h == pytest.approx(days * 160 / 14)
        if wk != w:
            expected = "OVER_PROJECT_SHARE" if days >= 5 else "OK"
            assert state(graph, "team-integration", loads["team-integration"][wk]) == expected

    # and the change is the clearing-house one, open, assigned to the team
    change = graph.get(EntityKind.CHANGE, "CHG0041266")
    assert is_open(change)
    assert graph.keys_out(EntityKind.CHANGE, "CHG0041266", R.ASSIGNED_TO) == {"team-integration"}


async def test_the_problems_of_the_plan(store: GraphStore) -> None:
    """projectPlan(PRJ-0101)'s problems by PRODUCT.md 7's rules, as showcase 9 lists them."""
    graph = await load(store, TODAY)
    now = dt.datetime.combine(TODAY, dt.time(12), tzinfo=dt.UTC)
    project_start = when(graph.get(PROJECT, "PRJ-0101").attributes["plannedStart"])
    assert project_start is not None
    loads = team_loads(graph, now)
    blackouts = [
        w
        for w in graph.entities.values()
        if w.kind is EntityKind.WINDOW and w.attributes.get("windowType") == "blackout"
    ]
    problems: dict[str, set[str]] = {}
    for key in TASKS:
        task = graph.get(T, key)
        found: set[str] = set()
        due = when(task.attributes.get("due"))
        span = (when(task.attributes.get("plannedStart")), due)
        if is_open(task):
            teams = graph.out(T, key, R.ASSIGNED_TO)
            if not teams:
                found.add("UNASSIGNED")
            for team in teams:
                if not graph.into(TEAM, team.key, R.MEMBER_OF) or team.status is not Status.ACTIVE:
                    found.add("ASSIGNEE_GHOST")
                for wk in spread(task, now):
                    if state(graph, team.key, loads[team.key][wk]) != "OK":
                        found.add("TEAM_OVERBOOKED")
            if task.attributes.get("status") == "blocked":
                found.add("BLOCKED")
            if due is not None and due < now:
                found.add("OVERDUE")
            if due is not None and due > project_start:
                found.add("LATE")
            touched = {e.id for e in graph.out(T, key, R.MODIFIES)}
            for window in blackouts:
                w_start, w_end = when(window.attributes["start"]), when(window.attributes["end"])
                covers = {
                    r.to_id
                    for r in graph.relations
                    if r.type is R.APPLIES_TO and r.from_id == window.id
                }
                (s0, s1) = span
                assert s0 is not None and s1 is not None
                assert w_start is not None and w_end is not None
                if touched & covers and s0 < w_end and w_start < s1:
                    found.add("BLACKOUT")
        problems[key] = found
    late = {"LATE"}  # PRJ-0101 started @-150d: every open prerequisite is due after that
    assert problems == {
        "TASK-EHR-101": set(),
        "TASK-EHR-102": late,
        "TASK-EHR-103": late,
        "TASK-EHR-104": late | {"BLACKOUT", "TEAM_OVERBOOKED"},
        "TASK-EHR-105": late,
        "TASK-EHR-106": late,
        "TASK-EHR-107": late | {"UNASSIGNED"},
        "TASK-EHR-108": late | {"ASSIGNEE_GHOST"},
    }
    # earliest start: the latest due of the open prerequisites, @+38d
    dues = [when(graph.get(T, k).attributes["due"]) for k in TASKS if is_open(graph.get(T, k))]
    latest = max(d for d in dues if d is not None)
    assert latest == dt.datetime.combine(TODAY + 38 * DAY, dt.time(), tzinfo=dt.UTC)
