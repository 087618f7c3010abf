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
from graphsvc.store.base import AttributeColumn, EntityQuery, GraphStore, Neighbours

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
    The book holds the work as ids and arrays; the records of the work a view
    lists are read with :meth:`read_details`.
    """

    def __init__(
        self,
        teams: Sequence[_Team],
        week_edges: NDArray[np.float64],
        work: _Work,
        hours: NDArray[np.float64],
        rows: _Rows,
    ) -> None:
        self.teams = tuple(teams)
        self.week_edges = week_edges
        self.work = work
        self._hours = hours
        self._rows = rows
        self._records: dict[int, EntityRecord] = {}
        n_teams, n_weeks = len(self.teams), len(week_edges) - 1
        self.project = np.zeros((n_teams, n_weeks))
        self.operational = np.zeros((n_teams, n_weeks))
        if len(rows.work):
            weighted = hours[rows.work] * rows.weight[:, None]
            is_project = work.project[rows.work]
            np.add.at(self.project, rows.team[is_project], weighted[is_project])
            np.add.at(self.operational, rows.team[~is_project], weighted[~is_project])
        self.capacity = np.array([t.capacity for t in self.teams], dtype=np.float64)
        share = np.array([t.project_share for t in self.teams], dtype=np.float64)
        self.project_capacity = self.capacity * share
        self.states = week_states(
            self.project, self.operational, self.capacity, self.project_capacity
        )

    def week_starts(self) -> list[datetime]:
        """The Mondays of the weeks, in order."""
        return [_EPOCH + timedelta(seconds=float(s)) for s in self.week_edges[:-1]]

    async def read_details(self, store: GraphStore, t: int, as_of: datetime | None) -> None:
        """Read the records :meth:`weeks` and :meth:`unscheduled` list for team ``t``."""
        items, hours = self._shares(t)
        wanted: set[int] = set()
        for w in range(hours.shape[1]):
            wanted.update(self._largest_items(items, hours[:, w]))
        wanted.update(int(i) for i in self._unscheduled_items(t))
        ids = [int(self.work.ids[i]) for i in sorted(wanted)]
        self._records.update(await records(store, ids, as_of))

    def weeks(self, t: int, *, details: bool = True, only_not_ok: bool = False) -> list[WeekLoad]:
        """The weeks of team ``t`` (with the work lists when ``details``).

        The work lists need :meth:`read_details` first (work whose record is
        missing is left out of them).
        """
        items, hours = self._shares(t) if details else (np.zeros(0, np.int64), np.zeros((0, 0)))
        out = []
        for w, monday in enumerate(self.week_starts()):
            state = _STATE_OF[int(self.states[t, w])]
            if only_not_ok and state is WeekState.OK:
                continue
            listed: tuple[WorkShare, ...] = ()
            count = 0
            if details and len(items):
                listed, count = self._listed(items, hours[:, w])
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
        """Open work of team ``t`` that lacks effort or an end, by kind and key.

        Needs :meth:`read_details` first.
        """
        out = []
        for i in self._unscheduled_items(t):
            record = self._records.get(int(self.work.ids[i]))
            if record is not None:
                out.append(
                    UnscheduledWork(record, bool(self.work.project[i]), self.work.missing(int(i)))
                )
        return sorted(out, key=lambda u: (u.work.kind, u.work.key))

    def worst(self, t: int) -> WeekState:
        """The worst state of team ``t``'s weeks (OK when there are none)."""
        row = self.states[t]
        return _STATE_OF[int(row.max())] if row.size else WeekState.OK

    def _unscheduled_items(self, t: int) -> NDArray[np.int64]:
        mine = self._rows.work[self._rows.team == t]
        return np.unique(mine[~self.work.scheduled[mine]])

    def _shares(self, t: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The work items on team ``t`` (one row each) and their hours per week."""
        mine = self._rows.team == t
        items = self._rows.work[mine]
        hours = self._hours[items] * self._rows.weight[mine][:, None]
        unique, inverse = np.unique(items, return_inverse=True)
        merged = np.zeros((len(unique), hours.shape[1]))
        np.add.at(merged, inverse.reshape(-1), hours)
        return unique, merged

    def _largest_items(self, items: NDArray[np.int64], column: NDArray[np.float64]) -> list[int]:
        present = np.flatnonzero(column > _EPS)
        if len(present) > SHOWN_WORK:
            present = present[np.argsort(-column[present], kind="stable")[: SHOWN_WORK * 2]]
        return [int(items[r]) for r in present]

    def _listed(
        self, items: NDArray[np.int64], column: NDArray[np.float64]
    ) -> tuple[tuple[WorkShare, ...], int]:
        count = int(np.count_nonzero(column > _EPS))
        ranked = []
        for i in self._largest_items(items, column):
            record = self._records.get(int(self.work.ids[i]))
            if record is not None:
                hours = float(column[np.searchsorted(items, i)])
                ranked.append((hours, record, bool(self.work.project[i])))
        ranked.sort(key=lambda x: (-x[0], x[1].key))
        listed = tuple(WorkShare(r, h, p) for h, r, p in ranked[:SHOWN_WORK])
        return listed, count


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
) -> tuple[list[_Team], _Memberships]:
    """Each team's capacity, and the memberships of its members in every team they are in.

    The allocations are those of every team the members belong to, so that a
    person's work can be split over all of them.
    """
    ids = [t.id for t in teams]
    members = await store.neighbours(ids, MEMBERS_OF_TEAM, as_of=as_of, include_stale=True)
    person_ids = np.unique(members.entity)
    memberships = await store.neighbours(person_ids, TEAMS_OF_PERSON, as_of=as_of)
    allocation = await _allocations(store, memberships.relation, as_of)
    by_relation = dict(zip(as_ids(memberships.relation), allocation.tolist(), strict=True))
    active = await _active_hours(store, person_ids, as_of)
    member_rows = np.searchsorted(person_ids, members.entity)
    hours = active[member_rows] * np.array(
        [by_relation.get(r, 1.0) for r in as_ids(members.relation)], dtype=np.float64
    )
    counted = ~np.isnan(hours)
    per_team = np.bincount(members.origin[counted], hours[counted], minlength=len(ids))
    heads = np.bincount(members.origin[counted], minlength=len(ids))
    out = []
    for i, team in enumerate(teams):
        stated = number(team.attributes.get("capacityHoursPerWeek"))
        share = number(team.attributes.get("projectShare"))
        share = DEFAULT_PROJECT_SHARE if share is None else min(1.0, max(0.0, share))
        if stated is not None:
            capacity, source = max(0.0, stated), "capacityHoursPerWeek"
        else:
            capacity = float(per_team[i])
            n = int(heads[i])
            source = (
                f"{n} active member{'s' if n != 1 else ''}: hoursPerWeek * allocation"
                if n
                else "no capacityHoursPerWeek and no active members: 0"
            )
        out.append(_Team(team, capacity, source, share))
    person_of = person_ids[memberships.origin] if len(person_ids) else np.zeros(0, np.int64)
    return out, _Memberships(person_of, memberships.entity, allocation)


async def _allocations(
    store: GraphStore, relation_ids: NDArray[np.int64], as_of: datetime | None
) -> NDArray[np.float64]:
    """The ``allocation`` of each ``MEMBER_OF`` relation (1 when absent, never below 0)."""
    if not len(relation_ids):
        return np.zeros(0)
    found = await store.relations_by_id(as_ids(relation_ids), as_of=as_of)
    out = np.ones(len(found))
    for i, rel in enumerate(found):
        share = number(rel.attributes.get("allocation")) if rel is not None else None
        if share is not None:
            out[i] = max(0.0, share)
    return out


async def _active_hours(
    store: GraphStore, person_ids: NDArray[np.int64], as_of: datetime | None
) -> NDArray[np.float64]:
    """Each person's ``hoursPerWeek`` (40 when absent); NaN for one not active."""
    found = await records(store, person_ids, as_of)
    out = np.full(len(person_ids), np.nan)
    for i, pid in enumerate(as_ids(person_ids)):
        person = found.get(pid)
        if person is not None and person.status is Status.ACTIVE:
            hours = number(person.attributes.get("hoursPerWeek"))
            out[i] = DEFAULT_HOURS_PER_WEEK if hours is None else hours
    return out


@dataclass(frozen=True, slots=True)
class _Memberships:
    """Who is in which team, with the allocation: three arrays of equal length."""

    person: NDArray[np.int64]
    team: NDArray[np.int64]
    allocation: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Rows:
    """Each way a work item loads a team of the book: work index, team index, weight."""

    work: NDArray[np.int64]
    team: NDArray[np.int64]
    weight: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Work:
    """The open work of a book, as arrays (one entry per work item, by id)."""

    ids: NDArray[np.int64]
    project: NDArray[np.bool_]
    scheduled: NDArray[np.bool_]
    start: NDArray[np.float64]
    end: NDArray[np.float64]
    effort: NDArray[np.float64]
    has_effort: NDArray[np.bool_]
    has_end: NDArray[np.bool_]
    is_change: NDArray[np.bool_]

    def missing(self, i: int) -> str:
        """What keeps work item ``i`` from being scheduled, in words."""
        lacks = [] if self.has_effort[i] else ["effortHours"]
        if not self.has_end[i]:
            lacks.append("plannedEnd" if self.is_change[i] else "due")
        return " and ".join(lacks) or "an interval"


async def project_work_of(
    store: GraphStore,
    task_ids: NDArray[np.int64],
    origin_ppm: NDArray[np.bool_],
    as_of: datetime | None,
) -> NDArray[np.bool_]:
    """Return which of the tasks are project work (see the module docstring).

    Walks up from the tasks: who ``REQUIRES`` them and which project they are
    ``PART_OF``, until no new task is found; a task is project work when its
    ``origin`` is ``ppm`` (``origin_ppm``) or a project is reached from it that way.
    """
    project_code = VOCABULARY.kind_code(_PROJECT)
    children: list[NDArray[np.int64]] = []
    parents: list[NDArray[np.int64]] = []
    planned: list[NDArray[np.int64]] = []
    seen = np.unique(task_ids)
    frontier = seen
    while len(frontier):
        check_deadline()
        up = await store.neighbours(frontier, (*REQUIRED_BY, *PROJECT_OF_TASK), as_of=as_of)
        child = frontier[up.origin]
        to_project = up.kind == project_code
        planned.append(child[to_project])
        children.append(child[~to_project])
        parents.append(up.entity[~to_project])
        fresh = np.setdiff1d(up.entity[~to_project], seen)
        seen = np.union1d(seen, fresh)
        frontier = fresh
    in_plan = np.unique(np.concatenate(planned)) if planned else np.zeros(0, np.int64)
    child_all = np.concatenate(children) if children else np.zeros(0, np.int64)
    parent_all = np.concatenate(parents) if parents else np.zeros(0, np.int64)
    marked = in_plan
    while True:  # what a planned task requires is planned too
        reached = np.setdiff1d(child_all[np.isin(parent_all, marked)], in_plan)
        if not len(reached):
            break
        in_plan = np.union1d(in_plan, reached)
        marked = reached
    return np.isin(task_ids, in_plan) | origin_ppm


def _column_mask(column: AttributeColumn, accepted: frozenset[str]) -> NDArray[np.bool_]:
    """Where the column's value is one of ``accepted``."""
    hits = [i for i, v in enumerate(column.values) if isinstance(v, str) and v in accepted]
    return np.isin(column.codes, np.array(hits, dtype=np.int32))


def _column_numbers(column: AttributeColumn) -> NDArray[np.float64]:
    """The column as floats (NaN where it states none, or no number)."""
    table = np.array(
        [n if (n := number(v)) is not None else np.nan for v in column.values] + [np.nan]
    )
    return table[column.codes]


def _column_seconds(column: AttributeColumn) -> NDArray[np.float64]:
    """The column's times as seconds since the epoch (NaN where none or malformed)."""
    table = np.array(
        [_seconds(t) if (t := when(v)) is not None else np.nan for v in column.values] + [np.nan]
    )
    return table[column.codes]


async def _read_work(
    store: GraphStore, ids: NDArray[np.int64], kinds: NDArray[np.int8], as_of: datetime | None
) -> _Work:
    """The open work among ``ids`` (Tasks and Changes), read in bulk from indexed attributes."""
    columns = {
        name: await store.attribute_column(ids, name, as_of=as_of)
        for name in (
            "state",
            "status",
            "effortHours",
            "due",
            "plannedEnd",
            "plannedStart",
            "origin",
        )
    }
    is_change = kinds == VOCABULARY.kind_code(_CHANGE)
    closed = np.where(
        is_change,
        _column_mask(columns["state"], _CLOSED_CHANGE),
        _column_mask(columns["status"], _CLOSED_TASK),
    )
    keep = ~closed
    ids, is_change = ids[keep], is_change[keep]
    effort = _column_numbers(columns["effortHours"])[keep]
    due = _column_seconds(columns["due"])[keep]
    planned_end = _column_seconds(columns["plannedEnd"])[keep]
    start = _column_seconds(columns["plannedStart"])[keep]
    ppm = _column_mask(columns["origin"], frozenset({"ppm"}))[keep] & ~is_change
    end = np.where(is_change, planned_end, due)
    has_effort, has_end = ~np.isnan(effort), ~np.isnan(end)
    scheduled = has_effort & has_end
    start = np.where(np.isnan(start), end - effort / HOURS_PER_DAY * 86_400.0, start)
    start = np.minimum(start, end)
    tasks = ~is_change
    project = np.zeros(len(ids), dtype=np.bool_)
    project[tasks] = await project_work_of(store, ids[tasks], ppm[tasks], as_of)
    return _Work(
        ids,
        project,
        scheduled,
        np.where(scheduled, start, 0.0),
        np.where(scheduled, end, 0.0),
        np.where(scheduled, np.maximum(effort, 0.0), 0.0),
        has_effort,
        has_end,
        is_change,
    )


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
    capacities, members = await _capacities(store, teams, as_of)
    people = np.unique(members.person)
    direct = await store.neighbours([t.id for t in teams], WORK_OF, as_of=as_of)
    via = await store.neighbours(people, WORK_OF, as_of=as_of)
    all_ids = np.concatenate([direct.entity, via.entity])
    all_kinds = np.concatenate([direct.kind, via.kind])
    ids, first = np.unique(all_ids, return_index=True)
    check_deadline()
    work = await _read_work(store, ids, all_kinds[first], as_of)
    assignees = await store.neighbours(work.ids, ASSIGNEES, as_of=as_of)
    n_assignees = np.bincount(assignees.origin, minlength=len(work.ids))
    team_index = {t.record.id: i for i, t in enumerate(capacities)}
    rows = _assignment_rows(direct, via, people, members, team_index, work.ids, n_assignees)
    check_deadline()
    hours = spread(work.start, work.end, work.effort, edges, _seconds(moment))
    return LoadBook(capacities, edges, work, hours, rows)


def _assignment_rows(
    direct: Neighbours,
    via: Neighbours,
    people: NDArray[np.int64],
    members: _Memberships,
    team_index: dict[int, int],
    work_ids: NDArray[np.int64],
    n_assignees: NDArray[np.int64],
) -> _Rows:
    """Every way an open work item loads a team of the book (see the module docstring).

    ``direct`` are the teams' own assignments (origin: the team's index), ``via``
    their members' (origin: index into ``people``). Each assignee carries an equal
    share; a person's share is split over the person's teams by allocation.
    """
    known = np.isin(direct.entity, work_ids)
    d_work = np.searchsorted(work_ids, direct.entity[known])
    d_team = direct.origin[known]
    d_weight = 1.0 / np.maximum(1, n_assignees[d_work])
    order = np.argsort(members.person, kind="stable")
    m_person = members.person[order]
    m_team = np.array([team_index.get(int(t), -1) for t in members.team[order]], dtype=np.int64)
    m_share = members.allocation[order]
    total = np.bincount(np.searchsorted(people, m_person), m_share, minlength=len(people))
    known = np.isin(via.entity, work_ids)
    v_work = np.searchsorted(work_ids, via.entity[known])
    v_person = people[via.origin[known]]
    lo = np.searchsorted(m_person, v_person, side="left")
    hi = np.searchsorted(m_person, v_person, side="right")
    count = hi - lo
    rep_work = np.repeat(v_work, count)
    rep_person = np.repeat(np.searchsorted(people, v_person), count)
    # the membership rows of each assignment's person, one after the other
    slot = (
        np.repeat(lo, count)
        + np.arange(int(count.sum()))
        - np.repeat(np.cumsum(count) - count, count)
    ).astype(np.int64)
    share = np.divide(
        m_share[slot], total[rep_person], out=np.zeros(len(slot)), where=total[rep_person] > 0
    )
    v_weight = share / np.maximum(1, n_assignees[rep_work])
    v_team = m_team[slot]
    inside = (v_team >= 0) & (v_weight > 0)
    return _Rows(
        np.concatenate([d_work, rep_work[inside]]).astype(np.int64),
        np.concatenate([d_team, v_team[inside]]).astype(np.int64),
        np.concatenate([d_weight, v_weight[inside]]).astype(np.float64),
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
    await book.read_details(store, 0, as_of)
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
    teams: list[EntityRecord] = []
    after: int | None = None
    query = EntityQuery(kind=_TEAM, statuses=frozenset({Status.ACTIVE, Status.STALE}))
    while True:
        check_deadline()
        page = await store.find_entities(query, first=1000, after=after)
        teams += page.items
        if not page.has_next:
            break
        after = page.end_cursor
    if as_of is None:
        return teams
    found = await records(store, [t.id for t in teams], as_of)
    return [found[t.id] for t in teams if t.id in found]


async def capacity_forecast(
    store: GraphStore,
    start: datetime,
    end: datetime,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
    teams: Sequence[EntityRecord] | None = None,
) -> CapacityForecast:
    """Return every team with a week that is not OK, worst first (``capacityForecast``).

    Teams are those of the graph that are not retired (or only ``teams``, when
    given: the explorer's project page asks about the teams doing the project's
    work); their loads are computed as :func:`team_load` does, all at once.
    ``teams_looked_at`` counts the teams looked at.

    Raises:
        InvalidInput: for a period that ends before it starts or spans more than
            :data:`MAX_WEEKS` weeks.
    """
    if teams is None:
        teams = await all_teams(store, as_of)
    else:
        teams = list(teams)
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
