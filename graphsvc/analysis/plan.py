"""A project's plan (PRODUCT.md 7, ``projectPlan``): its prerequisites and what holds it up.

The *plan* of a project is every task it ``REQUIRES`` and every task ``PART_OF``
it, and, transitively, every task those tasks ``REQUIRES``. Each task of the
plan is listed with its status, assignees, due date, effort and problems. A
task that is done or cancelled has no problems; the others can have:

* ``UNASSIGNED``: nobody (no live team or person) is ``ASSIGNED_TO`` it;
* ``ASSIGNEE_GHOST``: an assignee team has no active members or is not active;
* ``BLOCKED``: its status is ``blocked``;
* ``OVERDUE``: its due date has passed;
* ``LATE``: it is due after the project's ``plannedStart``;
* ``BLACKOUT``: its interval (see :func:`~graphsvc.analysis.work.work_interval`)
  overlaps a blackout window that ``APPLIES_TO`` something it ``MODIFIES``;
* ``TEAM_OVERBOOKED``: a team carrying it (an assignee team, or a team of an
  assignee person) is not OK in a week its load falls in;
* ``CYCLE``: it is on a ``REQUIRES`` cycle (the problem names the cycle's tasks).

The *critical path* is the chain of open tasks, following ``REQUIRES``, with
the largest total effort (missing effort counts 0), listed in the order the work
must be done (the deepest prerequisite first); edges inside a cycle are left
out, and among chains of equal effort the one whose keys sort first wins. The
*earliest start* is the latest due date of the open tasks, unknown when one of
them has none, and *now* when every task is done. The status is ``READY`` when
no open task has a problem (or the plan is empty or done), ``AT_RISK`` when the
only problems are ``BLACKOUT`` and ``TEAM_OVERBOOKED``, else ``BLOCKED``.

The REQUIRES graph is handled with networkx on the plan's tasks only; a plan
larger than :data:`MAX_PLAN_TASKS` is refused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import networkx as nx

from graphsvc.analysis._common import (
    MEMBERS,
    WINDOWS_ON,
    Interval,
    as_ids,
    number,
    records,
    when,
    window_interval,
)
from graphsvc.analysis.work import (
    ASSIGNEES,
    PLAN_OF_PROJECT,
    TEAMS_OF_PERSON,
    LoadBook,
    WeekState,
    is_open_work,
    load_book,
    weeks_spanned,
    work_interval,
)
from graphsvc.deadline import check_deadline
from graphsvc.errors import AnswerTooLarge, NotFound
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import VOCABULARY, Direction, EntityKind, RelationType, Status
from graphsvc.store.base import GraphStore

__all__ = [
    "MAX_PLAN_TASKS",
    "PlanStatus",
    "PlanTask",
    "ProblemKind",
    "ProjectPlan",
    "TaskProblem",
    "overbooked_teams",
    "plan_tasks",
    "project_plan",
]

MAX_PLAN_TASKS = 50_000
"""The largest plan :func:`project_plan` answers (tasks)."""

_TASK, _TEAM, _PERSON, _PROJECT = (
    EntityKind.TASK,
    EntityKind.TEAM,
    EntityKind.PERSON,
    EntityKind.PROJECT,
)
TASK_MODIFIES = VOCABULARY.steps(RelationType.MODIFIES, Direction.OUT, leaving={_TASK})
PROJECT_REQUIRES = VOCABULARY.steps(RelationType.REQUIRES, Direction.OUT, leaving={_PROJECT})
TASK_REQUIRES = VOCABULARY.steps(RelationType.REQUIRES, Direction.OUT, leaving={_TASK})


class ProblemKind(StrEnum):
    """What is wrong with an open task of a plan (see the module docstring)."""

    __hash__ = str.__hash__

    UNASSIGNED = "UNASSIGNED"
    ASSIGNEE_GHOST = "ASSIGNEE_GHOST"
    BLOCKED = "BLOCKED"
    OVERDUE = "OVERDUE"
    LATE = "LATE"
    BLACKOUT = "BLACKOUT"
    TEAM_OVERBOOKED = "TEAM_OVERBOOKED"
    CYCLE = "CYCLE"


RISKS = frozenset({ProblemKind.BLACKOUT, ProblemKind.TEAM_OVERBOOKED})
"""Problems that put a plan AT_RISK; every other one BLOCKS it."""


class PlanStatus(StrEnum):
    """Whether the project can start as planned."""

    __hash__ = str.__hash__

    READY = "READY"
    """No open task has a problem (or every task is done)."""
    AT_RISK = "AT_RISK"
    """The only problems are blackouts and overbooked teams."""
    BLOCKED = "BLOCKED"
    """Some task is unassigned, ghost-assigned, blocked, overdue, late or on a cycle."""


@dataclass(frozen=True, slots=True)
class TaskProblem:
    """One problem of one task.

    Attributes:
        kind: What is wrong.
        explanation: The problem in words, naming what causes it.
        entities: What causes it: the ghost team, the blackout window, the
            overbooked team, the tasks of the cycle (none for the others).
    """

    kind: ProblemKind
    explanation: str
    entities: tuple[EntityRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanTask:
    """One task of a plan.

    Attributes:
        task: The task.
        status: Its ``status`` attribute (``open`` when absent).
        open: Whether it is still to be done (not done or cancelled).
        assignees: The live teams and people it is ``ASSIGNED_TO``, teams first.
        due: Its due date, if it has one.
        effort_hours: Its ``effortHours``, if stated.
        requires: The tasks of the plan it ``REQUIRES`` directly, by key.
        problems: Its problems (none when it is not open).
    """

    task: EntityRecord
    status: str
    open: bool
    assignees: tuple[EntityRecord, ...]
    due: datetime | None
    effort_hours: float | None
    requires: tuple[EntityRecord, ...]
    problems: tuple[TaskProblem, ...]


@dataclass(frozen=True, slots=True)
class ProjectPlan:
    """The answer of :func:`project_plan`.

    Attributes:
        project: The project.
        status: READY, AT_RISK or BLOCKED.
        reason: The status in one sentence: the problems and how many tasks have each.
        tasks: Every task of the plan: open ones first, by due date (none last), then key.
        critical_path: The chain of open tasks with the largest total effort, in the
            order the work must be done.
        critical_path_hours: The total effort of the critical path.
        earliest_start: The latest due date of the open tasks; now when none is
            open; ``None`` (unknown) when an open task has no due date.
        earliest_start_reason: Why the earliest start is what it is.
        cycles: Each ``REQUIRES`` cycle, as its tasks by key.
        as_of: The time the graph was read at (``None``: now).
    """

    project: EntityRecord
    status: PlanStatus
    reason: str
    tasks: tuple[PlanTask, ...]
    critical_path: tuple[EntityRecord, ...]
    critical_path_hours: float
    earliest_start: datetime | None
    earliest_start_reason: str
    cycles: tuple[tuple[EntityRecord, ...], ...]
    as_of: datetime | None = None


async def plan_tasks(
    store: GraphStore, project_id: int, as_of: datetime | None
) -> tuple[list[int], nx.DiGraph[int]]:
    """Return the ids of a project's plan and its ``REQUIRES`` graph over them.

    Raises:
        AnswerTooLarge: when the plan holds more than :data:`MAX_PLAN_TASKS` tasks.
    """
    first = await store.neighbours([project_id], (*PROJECT_REQUIRES, *PLAN_OF_PROJECT), as_of=as_of)
    found = set(as_ids(first.entity))
    graph: nx.DiGraph[int] = nx.DiGraph()
    graph.add_nodes_from(found)
    frontier = sorted(found)
    while frontier:
        check_deadline()
        hop = await store.neighbours(frontier, TASK_REQUIRES, as_of=as_of)
        fresh = []
        for row in range(len(hop.origin)):
            a, b = frontier[int(hop.origin[row])], int(hop.entity[row])
            graph.add_edge(a, b)
            if b not in found:
                found.add(b)
                fresh.append(b)
        if len(found) > MAX_PLAN_TASKS:
            msg = (
                f"the plan holds more than {MAX_PLAN_TASKS:,} tasks; ask for the load of the "
                "teams (teamLoad) or split the project"
            )
            raise AnswerTooLarge(msg)
        frontier = sorted(fresh)
    return sorted(found), graph


async def project_plan(
    store: GraphStore,
    project_key: str,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
) -> ProjectPlan:
    """Return a project's prerequisites, their problems, critical path and status.

    Args:
        store: The graph.
        project_key: The project's key or alias.
        as_of: Read the graph as it was then (also *now*).
        now: *Now* when ``as_of`` is not given (default: the current time).

    Raises:
        NotFound: when no project has the key.
        AnswerTooLarge: when the plan holds more than :data:`MAX_PLAN_TASKS` tasks.
    """
    moment = as_of or now or datetime.now(UTC)
    [pid] = await store.resolve([(_PROJECT, project_key)], as_of=as_of)
    project = (await store.entities([pid], as_of=as_of))[0] if pid is not None else None
    if project is None:
        raise NotFound(f"{_PROJECT.value}/{project_key}")
    ids, graph = await plan_tasks(store, project.id, as_of)
    tasks = await records(store, ids, as_of)
    found = [tasks[i] for i in ids if i in tasks]
    facts = await _Facts.gather(store, found, moment, as_of)
    cycles = _cycles(graph, tasks)
    on_cycle = {t.id: cycle for cycle in cycles for t in cycle}
    start = when(project.attributes.get("plannedStart"))
    listed = []
    for task in found:
        is_open = is_open_work(task)
        problems: list[TaskProblem] = []
        if is_open:
            problems = facts.problems(task, start, moment)
            if task.id in on_cycle:
                problems.append(_cycle_problem(on_cycle[task.id]))
        listed.append(
            PlanTask(
                task,
                str(task.attributes.get("status") or "open"),
                is_open,
                facts.assignees_of(task),
                when(task.attributes.get("due")),
                number(task.attributes.get("effortHours")),
                tuple(
                    sorted(
                        (tasks[b] for b in graph.successors(task.id) if b in tasks),
                        key=lambda r: r.key,
                    )
                ),
                tuple(problems),
            )
        )
    listed.sort(key=_listing_order)
    path = _critical_path(graph, tasks, {t.task.id for t in listed if t.open})
    earliest, why = _earliest_start(listed, moment)
    status, reason = _status(listed)
    return ProjectPlan(
        project,
        status,
        reason,
        tuple(listed),
        tuple(path),
        sum(number(t.attributes.get("effortHours")) or 0.0 for t in path),
        earliest,
        why,
        tuple(cycles),
        as_of,
    )


def _listing_order(t: PlanTask) -> tuple[bool, bool, datetime, str]:
    far = datetime.max.replace(tzinfo=UTC)
    return (not t.open, t.due is None, t.due or far, t.task.key)


class _Facts:
    """What the problems of a plan's tasks are decided from, read in a few batched calls."""

    def __init__(self) -> None:
        self.assignees: dict[int, list[EntityRecord]] = defaultdict(list)
        self.ghosts: dict[int, str] = {}
        self.carriers: dict[int, set[int]] = defaultdict(set)
        self.blackouts: dict[int, list[tuple[EntityRecord, Interval, EntityRecord]]] = {}
        self.team_records: dict[int, EntityRecord] = {}
        self.not_ok: dict[int, dict[int, WeekState]] = {}
        self.book_weeks: dict[int, list[int]] = {}
        self._book: LoadBook | None = None

    @classmethod
    async def gather(
        cls,
        store: GraphStore,
        tasks: Sequence[EntityRecord],
        moment: datetime,
        as_of: datetime | None,
    ) -> _Facts:
        facts = cls()
        if tasks:
            await facts._assignees(store, tasks, as_of)
        open_tasks = [t for t in tasks if is_open_work(t)]
        if not open_tasks:
            return facts
        await facts._blackouts(store, open_tasks, as_of)
        await facts._loads(store, open_tasks, moment, as_of)
        return facts

    async def _assignees(
        self, store: GraphStore, tasks: Sequence[EntityRecord], as_of: datetime | None
    ) -> None:
        ids = [t.id for t in tasks]
        hop = await store.neighbours(ids, ASSIGNEES, as_of=as_of)
        people: set[int] = set()
        teams: set[int] = set()
        pairs = []
        for row in range(len(hop.origin)):
            task_id, who = ids[int(hop.origin[row])], int(hop.entity[row])
            pairs.append((task_id, who))
        found = await records(store, [w for _, w in pairs], as_of)
        for task_id, who in pairs:
            record = found.get(who)
            if record is None:
                continue
            self.assignees[task_id].append(record)
            if record.kind is _TEAM:
                teams.add(who)
                self.carriers[task_id].add(who)
            else:
                people.add(who)
        person_list = sorted(people)
        if person_list:
            memberships = await store.neighbours(person_list, TEAMS_OF_PERSON, as_of=as_of)
            teams_of: dict[int, set[int]] = defaultdict(set)
            for row in range(len(memberships.origin)):
                teams_of[person_list[int(memberships.origin[row])]].add(
                    int(memberships.entity[row])
                )
            for task_id, who in pairs:
                self.carriers[task_id] |= teams_of.get(who, set())
        team_list = sorted(teams | {t for c in self.carriers.values() for t in c})
        self.team_records = await records(store, team_list, as_of)
        members = await store.neighbours(sorted(teams), MEMBERS, as_of=as_of)
        people_of: dict[int, list[int]] = defaultdict(list)
        member_list = sorted(teams)
        for row in range(len(members.origin)):
            people_of[member_list[int(members.origin[row])]].append(int(members.entity[row]))
        member_records = await records(store, [p for ps in people_of.values() for p in ps], as_of)
        for team_id in teams:
            team = self.team_records.get(team_id)
            if team is None:
                continue
            active = [
                p
                for p in people_of.get(team_id, [])
                if (r := member_records.get(p)) is not None and r.status is Status.ACTIVE
            ]
            facts = []
            if not active:
                facts.append("has no active members")
            if team.status is not Status.ACTIVE:
                facts.append(f"is {team.status.value}")
            if facts:
                self.ghosts[team_id] = " and ".join(facts)

    async def _blackouts(
        self, store: GraphStore, tasks: Sequence[EntityRecord], as_of: datetime | None
    ) -> None:
        timed = [t for t in tasks if work_interval(t) is not None]
        if not timed:
            return
        ids = [t.id for t in timed]
        touched = await store.neighbours(ids, TASK_MODIFIES, as_of=as_of)
        targets = sorted(set(as_ids(touched.entity)))
        windows = await store.neighbours(targets, WINDOWS_ON, as_of=as_of) if targets else None
        if windows is None:
            return
        target_records = await records(store, targets, as_of)
        window_records = await records(store, as_ids(windows.entity), as_of)
        windows_of: dict[int, list[int]] = defaultdict(list)
        for row in range(len(windows.origin)):
            windows_of[targets[int(windows.origin[row])]].append(int(windows.entity[row]))
        for row in range(len(touched.origin)):
            task = timed[int(touched.origin[row])]
            planned = work_interval(task)
            assert planned is not None
            span = Interval(*planned)
            target = int(touched.entity[row])
            for window_id in windows_of.get(target, []):
                window = window_records.get(window_id)
                if window is None or window.attributes.get("windowType") != "blackout":
                    continue
                covered = window_interval(window)
                if covered is not None and _touches(span, covered):
                    self.blackouts.setdefault(task.id, []).append(
                        (window, covered, target_records[target])
                    )

    async def _loads(
        self,
        store: GraphStore,
        tasks: Sequence[EntityRecord],
        moment: datetime,
        as_of: datetime | None,
    ) -> None:
        spans = [s for s in (work_interval(t) for t in tasks) if s is not None]
        teams = [self.team_records[t] for t in sorted(self.team_records)]
        if not spans or not teams:
            return
        first = max(moment, min(s[0] for s in spans))
        last = max(moment, max(s[1] for s in spans))
        book = await load_book(store, teams, first, last, as_of=as_of, now=moment)
        for i, team in enumerate(book.teams):
            states = {
                w: WeekState(_STATE_NAMES[int(code)])
                for w, code in enumerate(book.states[i].tolist())
                if code
            }
            self.not_ok[team.record.id] = states
        self._book = book
        for task in tasks:
            self.book_weeks[task.id] = weeks_spanned(book, task, moment)

    def assignees_of(self, task: EntityRecord) -> tuple[EntityRecord, ...]:
        return tuple(
            sorted(self.assignees.get(task.id, []), key=lambda r: (r.kind is not _TEAM, r.key))
        )

    def problems(
        self, task: EntityRecord, project_start: datetime | None, moment: datetime
    ) -> list[TaskProblem]:
        out: list[TaskProblem] = []
        if not self.assignees.get(task.id):
            out.append(TaskProblem(ProblemKind.UNASSIGNED, "nobody is assigned to it"))
        for who in self.assignees_of(task):
            if who.id in self.ghosts:
                out.append(
                    TaskProblem(
                        ProblemKind.ASSIGNEE_GHOST,
                        f"it is assigned to {_label(who)}, which {self.ghosts[who.id]}",
                        (who,),
                    )
                )
        if task.attributes.get("status") == "blocked":
            out.append(TaskProblem(ProblemKind.BLOCKED, "its status is blocked"))
        due = when(task.attributes.get("due"))
        if due is not None and due < moment:
            out.append(TaskProblem(ProblemKind.OVERDUE, f"it was due {due.date().isoformat()}"))
        if due is not None and project_start is not None and due > project_start:
            out.append(
                TaskProblem(
                    ProblemKind.LATE,
                    f"it is due {due.date().isoformat()}, after the project's planned start "
                    f"{project_start.date().isoformat()}",
                )
            )
        for window, covered, target in self.blackouts.get(task.id, []):
            out.append(
                TaskProblem(
                    ProblemKind.BLACKOUT,
                    f"it modifies {_label(target)} during {_label(window)} "
                    f"({covered.start.date().isoformat()} to {covered.end.date().isoformat()})",
                    (window, target),
                )
            )
        out += self._overbooked(task)
        return out

    def _overbooked(self, task: EntityRecord) -> list[TaskProblem]:
        out: list[TaskProblem] = []
        weeks = self.book_weeks.get(task.id, [])
        if not weeks or self._book is None:
            return out
        starts = self._book.week_starts()
        for team_id in sorted(self.carriers.get(task.id, set())):
            states = self.not_ok.get(team_id, {})
            bad = [w for w in weeks if w in states]
            if not bad:
                continue
            team = self.team_records[team_id]
            said = []
            for state in (WeekState.OVERBOOKED, WeekState.OVER_PROJECT_SHARE):
                these = [w for w in bad if states[w] is state]
                if these:
                    named = ", ".join(
                        f"the week of {starts[w].date().isoformat()}" for w in these[:3]
                    )
                    more = f" and {len(these) - 3} more" if len(these) > 3 else ""
                    said.append(f"{state.value} in {named}{more}")
            out.append(
                TaskProblem(
                    ProblemKind.TEAM_OVERBOOKED,
                    f"{_label(team)} is " + "; ".join(said),
                    (team,),
                )
            )
        return out

    def overbooked(self, tasks: Iterable[EntityRecord]) -> dict[int, list[datetime]]:
        """Teams carrying some of ``tasks`` that are OVERBOOKED in a week those tasks span.

        Team id -> the Mondays of those weeks, in order.
        """
        found: dict[int, set[int]] = defaultdict(set)
        for task in tasks:
            weeks = self.book_weeks.get(task.id, [])
            for team_id in self.carriers.get(task.id, set()):
                states = self.not_ok.get(team_id, {})
                found[team_id] |= {w for w in weeks if states.get(w) is WeekState.OVERBOOKED}
        starts = self._book.week_starts() if self._book is not None else []
        return {t: [starts[w] for w in sorted(ws)] for t, ws in found.items() if ws}


_STATE_NAMES = {1: "OVER_PROJECT_SHARE", 2: "OVERBOOKED"}


async def overbooked_teams(
    store: GraphStore, project_id: int, *, as_of: datetime | None, now: datetime
) -> list[tuple[EntityRecord, list[datetime]]]:
    """The teams doing a project's open tasks that are OVERBOOKED in a week those tasks span.

    Each with the Mondays of those weeks; teams by key. The tasks are the
    project's plan (see the module docstring); a team *does* a task when it or
    one of its members is ``ASSIGNED_TO`` it.
    """
    ids, _graph = await plan_tasks(store, project_id, as_of)
    found = await records(store, ids, as_of)
    open_tasks = [found[i] for i in ids if i in found and is_open_work(found[i])]
    facts = await _Facts.gather(store, open_tasks, now, as_of)
    weeks = facts.overbooked(open_tasks)
    teams = [(facts.team_records[t], ws) for t, ws in weeks.items() if t in facts.team_records]
    return sorted(teams, key=lambda tw: tw[0].key)


def _touches(span: Interval, window: Interval) -> bool:
    """Overlap, counting a task that is a moment (empty interval) inside the window."""
    if span.start == span.end:
        return window.start <= span.start < window.end
    return span.overlaps(window)


def _label(record: EntityRecord) -> str:
    name = f" ({record.name})" if record.name and record.name != record.key else ""
    return f"{record.kind.value}/{record.key}{name}"


def _cycles(
    graph: nx.DiGraph[int], tasks: dict[int, EntityRecord]
) -> list[tuple[EntityRecord, ...]]:
    """Each strongly connected group of tasks that ``REQUIRES`` itself, by key."""
    out = []
    for component in nx.strongly_connected_components(graph):
        if len(component) == 1:
            (only,) = component
            if not graph.has_edge(only, only):
                continue
        members = sorted((tasks[i] for i in component if i in tasks), key=lambda r: r.key)
        if members:
            out.append(tuple(members))
    out.sort(key=lambda c: c[0].key)
    return out


def _cycle_problem(cycle: tuple[EntityRecord, ...]) -> TaskProblem:
    keys = ", ".join(t.key for t in cycle[:10]) + (
        f" and {len(cycle) - 10} more" if len(cycle) > 10 else ""
    )
    return TaskProblem(
        ProblemKind.CYCLE,
        f"it is on a REQUIRES cycle of {len(cycle)} task{'s' if len(cycle) != 1 else ''}: {keys}",
        cycle,
    )


def _critical_path(
    graph: nx.DiGraph[int], tasks: dict[int, EntityRecord], open_ids: set[int]
) -> list[EntityRecord]:
    """The chain of open tasks with the largest total effort, deepest prerequisite first."""
    sub = graph.subgraph(i for i in open_ids if i in tasks).copy()
    component_of = {}
    for n, component in enumerate(nx.strongly_connected_components(sub)):
        for i in component:
            component_of[i] = n
    sub.remove_edges_from(
        [(a, b) for a, b in list(sub.edges) if component_of[a] == component_of[b]]
    )
    if not sub:
        return []
    effort = {i: max(0.0, number(tasks[i].attributes.get("effortHours")) or 0.0) for i in sub}
    key = {i: tasks[i].key for i in sub}
    # best[i]: the heaviest chain that starts at i and follows REQUIRES down to a leaf
    best: dict[int, tuple[float, tuple[str, ...], list[int]]] = {}
    order = list(nx.lexicographical_topological_sort(sub, key=lambda i: key[i]))
    for i in reversed(order):
        check_deadline()
        options = [best[j] for j in sub.successors(i)]
        below = max(options, key=_heavier) if options else (0.0, (), [])
        best[i] = (below[0] + effort[i], (key[i], *below[1]), [i, *below[2]])
    top = max(best.values(), key=_heavier)
    return [tasks[i] for i in reversed(top[2])]


def _heavier(chain: tuple[float, tuple[str, ...], list[int]]) -> tuple[float, tuple[str, ...]]:
    """Sort key: the larger effort; for equal effort, the keys that sort first."""
    return (round(chain[0], 9), tuple(_Inverted(k) for k in chain[1]))


class _Inverted(str):
    """A string that sorts backwards (so that ``max`` prefers the smallest keys)."""

    __slots__ = ()

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:
        return str.__lt__(self, other)


def _earliest_start(tasks: Iterable[PlanTask], moment: datetime) -> tuple[datetime | None, str]:
    open_tasks = [t for t in tasks if t.open]
    if not open_tasks:
        return moment, "every prerequisite is done: the project can start now"
    undated = [t for t in open_tasks if t.due is None]
    if undated:
        keys = ", ".join(t.task.key for t in undated[:5])
        more = f" and {len(undated) - 5} more" if len(undated) > 5 else ""
        return None, f"unknown: {len(undated)} open task(s) have no due date ({keys}{more})"
    last = max(open_tasks, key=lambda t: (t.due, t.task.key))
    assert last.due is not None
    return last.due, f"when the last open prerequisite, {last.task.key}, is due"


def _status(tasks: Sequence[PlanTask]) -> tuple[PlanStatus, str]:
    counts: dict[ProblemKind, int] = defaultdict(int)
    for t in tasks:
        for kind in {p.kind for p in t.problems}:
            counts[kind] += 1
    if not tasks:
        return PlanStatus.READY, "the project has no prerequisites"
    if not counts:
        if not any(t.open for t in tasks):
            return PlanStatus.READY, "every prerequisite is done"
        return PlanStatus.READY, "no open prerequisite has a problem"
    status = PlanStatus.AT_RISK if set(counts) <= RISKS else PlanStatus.BLOCKED
    ordered = [k for k in ProblemKind if k in counts]
    parts = [f"{counts[k]} task{'s' if counts[k] != 1 else ''} {k.value}" for k in ordered]
    return status, f"{status.value}: " + ", ".join(parts)
