"""Work and capacity across PPM and ITSM (PRODUCT.md 7): team capacity, weekly load.

**Capacity.** A team's weekly capacity ``C`` is its ``capacityHoursPerWeek``,
or else the sum over its ``active`` members of ``hoursPerWeek`` (40 when
absent) times the ``MEMBER_OF`` ``allocation`` (1 when absent). Project work may
take ``C * projectShare`` (0.4 when absent).

**Work.** A *work item* is a ``Task`` or a ``Change`` assigned (``ASSIGNED_TO``)
to a team or a person. It is *open* unless a task's ``status`` is ``done`` or
``cancelled`` or a change's ``state`` is ``closed`` or ``cancelled``; only open
work loads anybody. A task is *project work* when it is in a project's plan
(``PART_OF`` a project, or required by a project, directly or through tasks
that are themselves in the plan: ``REQUIRES`` is followed from the plan's
tasks) or when its ``origin`` is ``ppm``; every other task and every change is
*operational work*.

**Spreading.** Open work with ``effortHours`` and an end (a task's ``due``, a
change's ``plannedEnd``) is spread evenly over its interval. The interval ends
at the end and starts at ``plannedStart``, or without one ``effortHours / 8``
days before the end; it never starts before *now* (work not done is not put in
the past), and work whose end has passed counts whole in the week of *now*. A
``plannedStart`` at or after the end makes the whole effort fall on the end.
Each ISO week (Monday 00:00 UTC) gets the share of the effort that falls in it.
Open work without effort or end is *unscheduled*: listed, not counted.

**Who carries it.** Each assignee (team or person) of a work item carries an
equal share of its effort; a person's share is split over the person's teams in
proportion to the ``MEMBER_OF`` allocations (so a ServiceNow task assigned to a
group and to one of its members loads that group with the whole effort).

**Week states.** ``OVERBOOKED`` when the week's total load is above ``C``;
``OVER_PROJECT_SHARE`` when the project load is above ``C * projectShare``
but the total is within ``C``; ``OK`` otherwise.

*Now* is the ``as_of`` time when one is given, else the ``now`` argument, else
the current time. The spreading is done for many teams at once with numpy
(:class:`LoadBook`); :func:`team_load` and :func:`capacity_forecast` are views of
one book.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from graphsvc.analysis._common import as_ids, number, records, when
from graphsvc.deadline import check_deadline
from graphsvc.errors import InvalidInput, NotFound
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import (
    VOCABULARY,
    Direction,
    EntityKind,
    RelationType,
    Status,
)
from graphsvc.store.base import EntityQuery, GraphStore, Neighbours

__all__ = [
    "DEFAULT_HOURS_PER_WEEK",
    "DEFAULT_PROJECT_SHARE",
    "MAX_WEEKS",
    "CapacityForecast",
    "LoadBook",
    "TeamForecast",
    "TeamLoad",
    "UnscheduledWork",
    "WeekLoad",
    "WeekState",
    "WorkShare",
    "capacity_forecast",
    "is_open_work",
    "load_book",
    "team_load",
    "week_start",
    "week_states",
    "work_interval",
]

DEFAULT_HOURS_PER_WEEK = 40.0
"""A person's ``hoursPerWeek`` when absent."""
DEFAULT_PROJECT_SHARE = 0.4
"""A team's ``projectShare`` when absent."""
HOURS_PER_DAY = 8.0
"""Work without ``plannedStart`` starts ``effortHours / HOURS_PER_DAY`` days before its end."""
MAX_WEEKS = 260
"""The longest period one load or forecast covers (five years)."""
SHOWN_WORK = 20
"""At most this many work items are listed for one week of one team (largest first)."""
_CHUNK = 16_384
"""Work items spread per numpy block (bounds the memory of the overlap matrix)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WEEK = 7 * 24 * 3600.0
_CLOSED_TASK = frozenset({"done", "cancelled"})
_CLOSED_CHANGE = frozenset({"closed", "cancelled"})
_TASK, _CHANGE, _TEAM, _PERSON, _PROJECT = (
    EntityKind.TASK,
    EntityKind.CHANGE,
    EntityKind.TEAM,
    EntityKind.PERSON,
    EntityKind.PROJECT,
)
_V, _R, _IN, _OUT = VOCABULARY, RelationType, Direction.IN, Direction.OUT
MEMBERS_OF_TEAM = _V.steps(_R.MEMBER_OF, _IN)
TEAMS_OF_PERSON = _V.steps(_R.MEMBER_OF, _OUT)
WORK_OF = _V.steps(_R.ASSIGNED_TO, _IN)
ASSIGNEES = _V.steps(_R.ASSIGNED_TO, _OUT)
REQUIRED_BY = _V.steps(_R.REQUIRES, _IN)
PLAN_OF_PROJECT = _V.steps(_R.PART_OF, _IN, leaving={_PROJECT}, reaching={_TASK})
PROJECT_OF_TASK = _V.steps(_R.PART_OF, _OUT, leaving={_TASK}, reaching={_PROJECT})


class WeekState(StrEnum):
    """How a team's week stands (PRODUCT.md 7), best first."""

    __hash__ = str.__hash__

    OK = "OK"
    """Total load within capacity, project load within the project share."""
    OVER_PROJECT_SHARE = "OVER_PROJECT_SHARE"
    """Project load above ``C * projectShare``; total within ``C``."""
    OVERBOOKED = "OVERBOOKED"
    """Total load above ``C``."""

    @property
    def rank(self) -> int:
        """0 for OK, 1 for OVER_PROJECT_SHARE, 2 for OVERBOOKED."""
        return _RANK[self]


_RANK = {WeekState.OK: 0, WeekState.OVER_PROJECT_SHARE: 1, WeekState.OVERBOOKED: 2}


@dataclass(frozen=True, slots=True)
class WorkShare:
    """What one work item puts on one team in one week.

    Attributes:
        work: The task or change.
        hours: The hours of it that fall in the week and on the team.
        project_work: Whether it is project work (else operational).
    """

    work: EntityRecord
    hours: float
    project_work: bool


@dataclass(frozen=True, slots=True)
class WeekLoad:
    """One ISO week of one team.

    Attributes:
        week_start: Monday 00:00 UTC of the week.
        capacity: ``C``, hours the team has this week.
        project_capacity: ``C * projectShare``.
        project_load: Hours of project work that fall in the week.
        operational_load: Hours of operational work that fall in the week.
        state: OK, OVER_PROJECT_SHARE or OVERBOOKED.
        work: The work that makes up the load, largest share first (at most 20;
            see ``work_count``).
        work_count: How many work items put load on the week.
    """

    week_start: datetime
    capacity: float
    project_capacity: float
    project_load: float
    operational_load: float
    state: WeekState
    work: tuple[WorkShare, ...] = ()
    work_count: int = 0

    @property
    def total_load(self) -> float:
        """Project and operational load together."""
        return self.project_load + self.operational_load


@dataclass(frozen=True, slots=True)
class UnscheduledWork:
    """Open work that loads nobody because it lacks effort or an end.

    Attributes:
        work: The task or change.
        project_work: Whether it is project work.
        missing: What it lacks, e.g. ``effortHours`` or ``due``.
    """

    work: EntityRecord
    project_work: bool
    missing: str


@dataclass(frozen=True, slots=True)
class TeamLoad:
    """The answer of :func:`team_load`: a team's weekly capacity and load.

    Attributes:
        team: The team.
        capacity: ``C``, hours per week.
        capacity_source: Where ``C`` comes from, in words (``capacityHoursPerWeek``,
            or the members and their hours).
        project_share: The share of ``C`` project work may take.
        weeks: Every week from the one holding ``from`` to the one holding ``to``.
        unscheduled: Open work assigned to the team (or its members) that lacks
            effort or an end.
        worst: The worst state of any week.
        as_of: The time the graph was read at (``None``: now).
    """

    team: EntityRecord
    capacity: float
    capacity_source: str
    project_share: float
    weeks: tuple[WeekLoad, ...]
    unscheduled: tuple[UnscheduledWork, ...]
    worst: WeekState
    as_of: datetime | None = None


@dataclass(frozen=True, slots=True)
class TeamForecast:
    """A team with a week that is not OK.

    Attributes:
        team: The team.
        capacity: ``C``, hours per week.
        project_capacity: ``C * projectShare``.
        worst: The worst state of its weeks.
        peak_excess_hours: The most hours any week is above what it may carry
            (above ``C`` when OVERBOOKED, else above the project capacity).
        weeks: Its weeks that are not OK (without the work lists).
    """

    team: EntityRecord
    capacity: float
    project_capacity: float
    worst: WeekState
    peak_excess_hours: float
    weeks: tuple[WeekLoad, ...]


@dataclass(frozen=True, slots=True)
class CapacityForecast:
    """The answer of :func:`capacity_forecast`.

    Attributes:
        start: Monday of the first week looked at.
        end: Monday after the last week looked at.
        teams: Every team with a week that is not OK, worst first (OVERBOOKED
            before OVER_PROJECT_SHARE, then the largest peak excess, then key).
        teams_looked_at: How many teams were looked at.
        as_of: The time the graph was read at (``None``: now).
    """

    start: datetime
    end: datetime
    teams: tuple[TeamForecast, ...]
    teams_looked_at: int
    as_of: datetime | None = None


def week_start(moment: datetime) -> datetime:
    """Return Monday 00:00 UTC of the ISO week holding ``moment``."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def is_open_work(record: EntityRecord) -> bool:
    """Whether a task or change is open (a task not done/cancelled, a change not closed)."""
    if record.kind is _CHANGE:
        return record.attributes.get("state") not in _CLOSED_CHANGE
    return record.attributes.get("status") not in _CLOSED_TASK


def work_interval(record: EntityRecord) -> tuple[datetime, datetime] | None:
    """Return the interval a work item's effort is planned over, before clipping to now.

    ``[plannedStart, end)``, or without ``plannedStart`` ``[end - effort/8 days, end)``;
    the end is a task's ``due`` or a change's ``plannedEnd``. ``None`` when the
    work has no end or (without ``plannedStart``) no effort. A ``plannedStart``
    at or after the end gives the empty interval ``[end, end)``.
    """
    end = when(record.attributes.get("plannedEnd" if record.kind is _CHANGE else "due"))
    if end is None:
        return None
    start = when(record.attributes.get("plannedStart"))
    if start is None:
        effort = number(record.attributes.get("effortHours"))
        if effort is None:
            return None
        start = end - timedelta(days=effort / HOURS_PER_DAY)
    return (min(start, end), end)


def _missing(record: EntityRecord) -> str | None:
    """What keeps open work from being scheduled (``None``: it can be spread)."""
    lacks = []
    if number(record.attributes.get("effortHours")) is None:
        lacks.append("effortHours")
    end = "plannedEnd" if record.kind is _CHANGE else "due"
    if when(record.attributes.get(end)) is None:
        lacks.append(end)
    return " and ".join(lacks) or None


def _seconds(moment: datetime) -> float:
    return (moment - _EPOCH).total_seconds()


def spread(
    starts: NDArray[np.float64],
    ends: NDArray[np.float64],
    efforts: NDArray[np.float64],
    week_edges: NDArray[np.float64],
    now: float,
) -> NDArray[np.float64]:
    """Return the hours of each work item in each week (rows: items; columns: weeks).

    Times are seconds since the epoch; ``week_edges`` holds the Mondays of the
    weeks and the Monday after the last. Each item's interval is clipped to start
    at ``now``; an item whose end is not after ``now`` lands whole in the week of
    ``now``, one with an empty interval whole in the week of its end. Hours outside
    the weeks are dropped.
    """
    n, weeks = len(efforts), len(week_edges) - 1
    out = np.zeros((n, weeks))
    if n == 0 or weeks <= 0:
        return out
    passed = ends <= now
    begin = np.where(passed, now, np.maximum(starts, now))
    finish = np.where(passed, now, ends)
    point = finish <= begin
    lo, hi = week_edges[:-1], week_edges[1:]
    for a in range(0, n, _CHUNK):
        b = min(n, a + _CHUNK)
        s, e, eff = begin[a:b, None], finish[a:b, None], efforts[a:b, None]
        overlap = np.clip(np.minimum(e, hi) - np.maximum(s, lo), 0.0, None)
        length = np.where(point[a:b, None], 1.0, e - s)
        block = overlap / length * eff
        at = point[a:b]
        if at.any():
            # the whole effort falls in the week holding the moment
            hit = (lo <= e[at]) & (e[at] < hi)
            block[at] = np.where(hit, eff[at], 0.0)
        out[a:b] = block
    return out


@dataclass(frozen=True, slots=True)
class _Team:
    record: EntityRecord
    capacity: float
    capacity_source: str
    project_share: float


class LoadBook:
    """Weekly loads of a set of teams over a period, computed once with numpy.

    Build it with :func:`load_book`. ``project[t, w]`` and ``operational[t, w]``
    are the hours team ``t`` (index into :attr:`teams`) carries in week ``w``.
    """

    def __init__(
        self,
        teams: Sequence[_Team],
        week_edges: NDArray[np.float64],
        work: Sequence[EntityRecord],
        project_work: NDArray[np.bool_],
        hours: NDArray[np.float64],
        rows: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]],
        unscheduled: dict[int, list[UnscheduledWork]],
    ) -> None:
        self.teams = tuple(teams)
        self.week_edges = week_edges
        self.work = tuple(work)
        self.project_work = project_work
        self._hours = hours
        self._rows = rows
        self._unscheduled = unscheduled
        n_teams, n_weeks = len(self.teams), len(week_edges) - 1
        self.project = np.zeros((n_teams, n_weeks))
        self.operational = np.zeros((n_teams, n_weeks))
        work_idx, team_idx, weight = rows
        if len(work_idx):
            weighted = hours[work_idx] * weight[:, None]
            is_project = project_work[work_idx]
            np.add.at(self.project, team_idx[is_project], weighted[is_project])
            np.add.at(self.operational, team_idx[~is_project], weighted[~is_project])
        self.capacity = np.array([t.capacity for t in self.teams], dtype=np.float64)
        share = np.array([t.project_share for t in self.teams], dtype=np.float64)
        self.project_capacity = self.capacity * share
        self.states = week_states(
            self.project, self.operational, self.capacity, self.project_capacity
        )

    def week_starts(self) -> list[datetime]:
        """The Mondays of the weeks, in order."""
        return [_EPOCH + timedelta(seconds=float(s)) for s in self.week_edges[:-1]]

    def weeks(self, t: int, *, details: bool = True, only_not_ok: bool = False) -> list[WeekLoad]:
        """The weeks of team ``t`` (with the work lists when ``details``)."""
        shares = self._shares(t) if details else None
        out = []
        for w, monday in enumerate(self.week_starts()):
            state = _STATE_OF[int(self.states[t, w])]
            if only_not_ok and state is WeekState.OK:
                continue
            listed: tuple[WorkShare, ...] = ()
            count = 0
            if shares is not None:
                listed, count = _largest(shares, w, self.work, self.project_work)
            out.append(
                WeekLoad(
                    monday,
                    float(self.capacity[t]),
                    float(self.project_capacity[t]),
                    float(self.project[t, w]),
                    float(self.operational[t, w]),
                    state,
                    listed,
                    count,
                )
            )
        return out

    def unscheduled(self, t: int) -> list[UnscheduledWork]:
        """Open work of team ``t`` that lacks effort or an end, by kind and key."""
        return sorted(self._unscheduled.get(t, []), key=lambda u: (u.work.kind, u.work.key))

    def worst(self, t: int) -> WeekState:
        """The worst state of team ``t``'s weeks (OK when there are none)."""
        row = self.states[t]
        return _STATE_OF[int(row.max())] if row.size else WeekState.OK

    def _shares(self, t: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The work items on team ``t`` and their hours per week (items by weeks)."""
        work_idx, team_idx, weight = self._rows
        mine = team_idx == t
        items = work_idx[mine]
        return items, self._hours[items] * weight[mine][:, None]


_STATE_OF = {0: WeekState.OK, 1: WeekState.OVER_PROJECT_SHARE, 2: WeekState.OVERBOOKED}
_EPS = 1e-9


def week_states(
    project: NDArray[np.float64],
    operational: NDArray[np.float64],
    capacity: NDArray[np.float64],
    project_capacity: NDArray[np.float64],
) -> NDArray[np.int8]:
    """Return each team's week state code (:attr:`WeekState.rank`; teams by weeks).

    OVERBOOKED where project plus operational load is above the capacity, else
    OVER_PROJECT_SHARE where the project load is above the project capacity,
    else OK (a billionth of an hour of tolerance for rounding).
    """
    total = project + operational
    over = total > capacity[:, None] + _EPS
    over_share = project > project_capacity[:, None] + _EPS
    return np.where(over, 2, np.where(over_share, 1, 0)).astype(np.int8)


def _largest(
    shares: tuple[NDArray[np.int64], NDArray[np.float64]],
    week: int,
    work: Sequence[EntityRecord],
    project_work: NDArray[np.bool_],
) -> tuple[tuple[WorkShare, ...], int]:
    items, hours = shares
    column = hours[:, week] if len(items) else np.zeros(0)
    present = np.flatnonzero(column > _EPS)
    if not len(present):
        return (), 0
    # merge the rows of one item carried twice (as a team's and as a member's work)
    merged: dict[int, float] = defaultdict(float)
    for row in present.tolist():
        merged[int(items[row])] += float(column[row])
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], work[kv[0]].key))[:SHOWN_WORK]
    listed = tuple(WorkShare(work[i], h, bool(project_work[i])) for i, h in ranked)
    return listed, len(merged)


def _week_edges(start: datetime, end: datetime) -> NDArray[np.float64]:
    """Mondays from the week holding ``start`` to the one after the week holding ``end``."""
    if end < start:
        msg = f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})"
        raise InvalidInput(msg)
    first = week_start(start)
    last = week_start(end)
    count = (last - first).days // 7 + 1
    if count > MAX_WEEKS:
        msg = f"the period spans {count} weeks; at most {MAX_WEEKS} can be asked for at once"
        raise InvalidInput(msg)
    return np.array([_seconds(first) + i * _WEEK for i in range(count + 1)], dtype=np.float64)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _now(now: datetime | None, as_of: datetime | None) -> datetime:
    if as_of is not None:
        return _utc(as_of)
    return _utc(now) if now is not None else datetime.now(UTC)


async def _capacities(
    store: GraphStore, teams: Sequence[EntityRecord], as_of: datetime | None
) -> tuple[list[_Team], dict[int, list[tuple[int, float]]]]:
    """Each team's capacity, and each member's teams with allocations (person -> [(team, a)]).

    The allocations are those of every team the members belong to, so that a
    person's work can be split over all of them.
    """
    ids = [t.id for t in teams]
    members = await store.neighbours(ids, MEMBERS_OF_TEAM, as_of=as_of, include_stale=True)
    person_ids = sorted(set(as_ids(members.entity)))
    memberships = (
        await store.neighbours(person_ids, TEAMS_OF_PERSON, as_of=as_of) if person_ids else None
    )
    allocation: dict[int, float] = {}
    person_teams: dict[int, list[tuple[int, float]]] = defaultdict(list)
    if memberships is not None and len(memberships.origin):
        relations = await store.relations_by_id(as_ids(memberships.relation), as_of=as_of)
        for row, rel in enumerate(relations):
            share = number(rel.attributes.get("allocation")) if rel is not None else None
            value = 1.0 if share is None else max(0.0, share)
            person = person_ids[int(memberships.origin[row])]
            allocation[int(memberships.relation[row])] = value
            person_teams[person].append((int(memberships.entity[row]), value))
    people = await records(store, person_ids, as_of)
    hours_of: dict[int, float] = defaultdict(float)
    count_of: dict[int, int] = defaultdict(int)
    for row in range(len(members.origin)):
        member = people.get(int(members.entity[row]))
        if member is None or member.status is not Status.ACTIVE:
            continue
        team_id = ids[int(members.origin[row])]
        hours = number(member.attributes.get("hoursPerWeek"))
        hours = DEFAULT_HOURS_PER_WEEK if hours is None else hours
        hours_of[team_id] += hours * allocation.get(int(members.relation[row]), 1.0)
        count_of[team_id] += 1
    out = []
    for team in teams:
        stated = number(team.attributes.get("capacityHoursPerWeek"))
        share = number(team.attributes.get("projectShare"))
        share = DEFAULT_PROJECT_SHARE if share is None else min(1.0, max(0.0, share))
        if stated is not None:
            capacity, source = max(0.0, stated), "capacityHoursPerWeek"
        else:
            capacity = hours_of.get(team.id, 0.0)
            n = count_of.get(team.id, 0)
            source = (
                f"{n} active member{'s' if n != 1 else ''}: hoursPerWeek * allocation"
                if n
                else "no capacityHoursPerWeek and no active members: 0"
            )
        out.append(_Team(team, capacity, source, share))
    return out, person_teams


async def project_work_of(
    store: GraphStore, tasks: Sequence[EntityRecord], as_of: datetime | None
) -> set[int]:
    """Return the ids of the tasks that are project work (see the module docstring).

    Walks up from the tasks: who ``REQUIRES`` them and which project they are
    ``PART_OF``, until no new task is found; a task is project work when its
    ``origin`` is ``ppm`` or a project is reached from it that way.
    """
    ids = [t.id for t in tasks]
    parents: dict[int, set[int]] = defaultdict(set)
    in_plan: set[int] = set()
    seen = set(ids)
    frontier = ids
    while frontier:
        check_deadline()
        up = await store.neighbours(frontier, (*REQUIRED_BY, *PROJECT_OF_TASK), as_of=as_of)
        project_code = VOCABULARY.kind_code(_PROJECT)
        fresh: list[int] = []
        for row in range(len(up.origin)):
            child = frontier[int(up.origin[row])]
            parent = int(up.entity[row])
            if int(up.kind[row]) == project_code:
                in_plan.add(child)
                continue
            parents[child].add(parent)
            if parent not in seen:
                seen.add(parent)
                fresh.append(parent)
        frontier = fresh
    children: dict[int, list[int]] = defaultdict(list)
    for child, ups in parents.items():
        for parent in ups:
            children[parent].append(child)
    stack = list(in_plan)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in in_plan:
                in_plan.add(child)
                stack.append(child)
    out = {t.id for t in tasks if t.id in in_plan}
    out |= {t.id for t in tasks if t.attributes.get("origin") == "ppm"}
    return out


async def load_book(
    store: GraphStore,
    teams: Sequence[EntityRecord],
    start: datetime,
    end: datetime,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
) -> LoadBook:
    """Compute the weekly loads of ``teams`` from the week holding ``start`` to that of ``end``.

    Raises:
        InvalidInput: when ``end`` is before ``start`` or the period spans more than
            :data:`MAX_WEEKS` weeks.
    """
    edges = _week_edges(_utc(start), _utc(end))
    moment = _now(now, as_of)
    capacities, person_teams = await _capacities(store, teams, as_of)
    team_index = {t.record.id: i for i, t in enumerate(capacities)}
    people = sorted(set(person_teams))
    direct = await store.neighbours([t.id for t in teams], WORK_OF, as_of=as_of)
    via_people = (
        await store.neighbours(people, WORK_OF, as_of=as_of)
        if people
        else direct.subset(np.zeros(0, dtype=np.int64))
    )
    work_ids = sorted(set(as_ids(direct.entity)) | set(as_ids(via_people.entity)))
    found = await records(store, work_ids, as_of)
    work = [found[i] for i in work_ids if i in found and is_open_work(found[i])]
    index = {w.id: i for i, w in enumerate(work)}
    check_deadline()
    assignees = await store.neighbours([w.id for w in work], ASSIGNEES, as_of=as_of)
    n_assignees = np.bincount(assignees.origin, minlength=len(work)).astype(np.int64)
    tasks = [w for w in work if w.kind is _TASK]
    project_ids = await project_work_of(store, tasks, as_of)
    project_work = np.array([w.id in project_ids for w in work], dtype=np.bool_)
    rows = _assignment_rows(
        direct,
        via_people,
        [t.id for t in teams],
        people,
        person_teams,
        team_index,
        index,
        n_assignees,
    )
    scheduled = np.zeros(len(work), dtype=np.bool_)
    starts = np.zeros(len(work))
    ends = np.zeros(len(work))
    efforts = np.zeros(len(work))
    unscheduled: dict[int, list[UnscheduledWork]] = defaultdict(list)
    lacking: dict[int, str] = {}
    for i, record in enumerate(work):
        gap = _missing(record)
        planned = work_interval(record) if gap is None else None
        if gap is not None or planned is None:
            lacking[i] = gap or "an interval"
            continue
        scheduled[i] = True
        starts[i], ends[i] = _seconds(planned[0]), _seconds(planned[1])
        efforts[i] = max(0.0, number(record.attributes.get("effortHours")) or 0.0)
    work_idx, team_idx, _weight = rows
    for w, t in zip(work_idx.tolist(), team_idx.tolist(), strict=True):
        if w in lacking:
            unscheduled[t].append(UnscheduledWork(work[w], bool(project_work[w]), lacking[w]))
    for t, items in unscheduled.items():
        unique = {u.work.id: u for u in items}
        unscheduled[t] = list(unique.values())
    check_deadline()
    hours = spread(starts, ends, efforts * scheduled, edges, _seconds(moment))
    return LoadBook(capacities, edges, work, project_work, hours, rows, unscheduled)


def _assignment_rows(
    direct: Neighbours,
    via_people: Neighbours,
    team_ids: Sequence[int],
    people: Sequence[int],
    person_teams: dict[int, list[tuple[int, float]]],
    team_index: dict[int, int],
    work_index: dict[int, int],
    n_assignees: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """(work index, team index, weight) for every way a work item loads a team of the book."""
    work_rows: list[int] = []
    team_rows: list[int] = []
    weights: list[float] = []
    for row in range(len(direct.origin)):
        w = work_index.get(int(direct.entity[row]))
        if w is None:
            continue
        work_rows.append(w)
        team_rows.append(team_index[team_ids[int(direct.origin[row])]])
        weights.append(1.0 / max(1, int(n_assignees[w])))
    for row in range(len(via_people.origin)):
        w = work_index.get(int(via_people.entity[row]))
        if w is None:
            continue
        person = people[int(via_people.origin[row])]
        teams = person_teams.get(person, [])
        total = sum(a for _, a in teams)
        if total <= 0:
            continue
        each = 1.0 / max(1, int(n_assignees[w]))
        for team, allocation in teams:
            t = team_index.get(team)
            if t is None:
                continue
            work_rows.append(w)
            team_rows.append(t)
            weights.append(each * allocation / total)
    return (
        np.array(work_rows, dtype=np.int64),
        np.array(team_rows, dtype=np.int64),
        np.array(weights, dtype=np.float64),
    )


async def _team(store: GraphStore, key: str, as_of: datetime | None) -> EntityRecord:
    [tid] = await store.resolve([(_TEAM, key)], as_of=as_of)
    found = (await store.entities([tid], as_of=as_of))[0] if tid is not None else None
    if found is None:
        raise NotFound(f"{_TEAM.value}/{key}")
    return found


async def team_load(
    store: GraphStore,
    team_key: str,
    start: datetime,
    end: datetime,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
) -> TeamLoad:
    """Return a team's capacity and load per ISO week (PRODUCT.md 7, ``teamLoad``).

    Args:
        store: The graph.
        team_key: The team's key or alias.
        start: A moment in the first week (the week holding it is the first).
        end: A moment in the last week.
        as_of: Read the graph as it was then (also *now* for the spreading).
        now: *Now* for the spreading when ``as_of`` is not given (default: the
            current time).

    Raises:
        NotFound: when no team has the key.
        InvalidInput: for a period that ends before it starts or spans more than
            :data:`MAX_WEEKS` weeks.
    """
    team = await _team(store, team_key, as_of)
    book = await load_book(store, [team], start, end, as_of=as_of, now=now)
    info = book.teams[0]
    return TeamLoad(
        team,
        info.capacity,
        info.capacity_source,
        info.project_share,
        tuple(book.weeks(0)),
        tuple(book.unscheduled(0)),
        book.worst(0),
        as_of,
    )


async def all_teams(store: GraphStore, as_of: datetime | None) -> list[EntityRecord]:
    """Every team that is not retired (as the graph is now; then re-read ``as_of``)."""
    ids: list[int] = []
    after: int | None = None
    query = EntityQuery(kind=_TEAM, statuses=frozenset({Status.ACTIVE, Status.STALE}))
    while True:
        check_deadline()
        page = await store.find_entities(query, first=1000, after=after)
        ids += [r.id for r in page.items]
        if not page.has_next:
            break
        after = page.end_cursor
    found = await records(store, ids, as_of)
    return [found[i] for i in ids if i in found]


async def capacity_forecast(
    store: GraphStore,
    start: datetime,
    end: datetime,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
) -> CapacityForecast:
    """Return every team with a week that is not OK, worst first (``capacityForecast``).

    Teams are those of the graph that are not retired; their loads are computed
    as :func:`team_load` does, all at once.

    Raises:
        InvalidInput: for a period that ends before it starts or spans more than
            :data:`MAX_WEEKS` weeks.
    """
    teams = await all_teams(store, as_of)
    book = await load_book(store, teams, start, end, as_of=as_of, now=now)
    flagged = np.flatnonzero(book.states.max(axis=1) > 0) if len(teams) else np.zeros(0, int)
    out = []
    for t in flagged.tolist():
        weeks = book.weeks(t, details=False, only_not_ok=True)
        out.append(
            TeamForecast(
                book.teams[t].record,
                float(book.capacity[t]),
                float(book.project_capacity[t]),
                book.worst(t),
                max(_excess(w) for w in weeks),
                tuple(weeks),
            )
        )
    out.sort(key=lambda f: (-f.worst.rank, -f.peak_excess_hours, f.team.key))
    edges = book.week_edges
    return CapacityForecast(
        _EPOCH + timedelta(seconds=float(edges[0])),
        _EPOCH + timedelta(seconds=float(edges[-1])),
        tuple(out),
        len(teams),
        as_of,
    )


def _excess(week: WeekLoad) -> float:
    if week.state is WeekState.OVERBOOKED:
        return week.total_load - week.capacity
    return week.project_load - week.project_capacity


def weeks_spanned(book: LoadBook, record: EntityRecord, now: datetime) -> list[int]:
    """Indexes of the book's weeks a work item's load falls in (empty: it is unscheduled).

    The interval is clipped as the spreading clips it: from *now* at the earliest,
    and the week of *now* for work whose end has passed.
    """
    planned = work_interval(record)
    if planned is None:
        return []
    moment = _seconds(now)
    lo, hi = max(_seconds(planned[0]), moment), max(_seconds(planned[1]), moment)
    edges = book.week_edges
    if hi <= lo:  # a moment: the week that holds it
        return [w for w in range(len(edges) - 1) if edges[w] <= hi < edges[w + 1]]
    return [w for w in range(len(edges) - 1) if edges[w] < hi and lo < edges[w + 1]]
