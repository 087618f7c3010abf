"""The explorer's team and project pages (PRODUCT.md 10; issue 22).

``/team/{key}``: what a team owns and supports, its members, sub-teams and the
teams it is ``PART_OF`` (its escalation, PRODUCT.md 4.3: the members, then the
team it is part of), the work assigned to it, and its load against capacity as
a chart and a week table. The load is :func:`graphsvc.analysis.work.team_load`,
as ``/api/v1/teams/{key}/load`` and ``graphsvc report team`` answer it, shown by
the team load document's own fragments
(:mod:`graphsvc.report.team_report`: summary, :func:`load_chart_svg`, weeks,
unscheduled work) with a link hook.

``/project/{key}``: a project's consolidation readiness
(:func:`graphsvc.analysis.readiness.consolidation_readiness`, as GraphQL's
``consolidationReadiness``; "does not apply" for a project that consolidates
nothing), its plan (:func:`graphsvc.analysis.plan.project_plan`, as
``/api/v1/projects/{key}/plan``, shown by the plan document's fragments: status,
critical path, prerequisites, cycles) and the capacity of the teams doing its
open tasks (:func:`graphsvc.analysis.work.capacity_forecast`, as
``/api/v1/capacity-forecast`` answers it, asked about those teams only).

Everything listed is bounded: relations and tasks by pages of
:data:`PAGE_SIZE` with "next" links, a readiness check's entities, the
replacements, the critical path, cycles and the teams by "and N more". Every
entity named is a link: teams to ``/team/``, projects to ``/project/``,
changes to ``/change/``, anything else to ``/entity/``; every link keeps
``asOf``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from graphsvc.analysis._common import PARENT_TEAMS, as_ids
from graphsvc.analysis.plan import project_plan
from graphsvc.analysis.readiness import Readiness, ReadinessStatus, consolidation_readiness
from graphsvc.analysis.work import (
    TEAMS_OF_PERSON,
    CapacityForecast,
    capacity_forecast,
    is_open_work,
    team_load,
    week_start,
)
from graphsvc.api.explorer.routes import (
    _CONTROL,
    PAGE_SIZE,
    PageRequest,
    RelationRow,
    RelationsView,
    _count,
    _param,
    _render,
)
from graphsvc.api.rest import Services
from graphsvc.errors import AnswerTooLarge, InvalidInput, NotFound
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import Direction, EntityKind, RelationType
from graphsvc.report.pages import EntityLink
from graphsvc.report.plan_report import (
    PlanReport,
    plan_cycles_html,
    plan_path_html,
    plan_report,
    plan_summary_html,
    plan_tasks_html,
)
from graphsvc.report.team_report import (
    TeamReport,
    team_chart_html,
    team_report,
    team_summary_html,
    team_unscheduled_html,
    team_weeks_html,
)

__all__ = ["DEFAULT_WEEKS", "MAX_PAGE_WEEKS", "team_pages"]

DEFAULT_WEEKS = 12
"""Weeks of load a team page shows unless ``weeks`` says otherwise."""

MAX_PAGE_WEEKS = 52
"""Most weeks one team page shows (the analysis takes up to five years)."""

SHOWN = 10
"""Entities named per readiness check; the others are counted."""

LISTED = 25
"""Replacements, critical-path tasks, cycles, parent teams and project teams listed."""

PARENT_LEVELS = 10
"""``PART_OF`` levels above a team that its page follows (escalation)."""

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

Serve = Callable[[Request, Callable[[PageRequest], Awaitable[HTMLResponse]]], Awaitable[Response]]
"""The explorer's page runner: authentication, ``asOf``, errors as pages."""


def _html(pieces: list[str]) -> Markup:
    """Report fragments (escaped by the report renderers) as template markup."""
    return Markup("\n".join(pieces))  # noqa: S704 - each piece is escaped by its renderer


def link_hook(page: PageRequest) -> EntityLink:
    """The link hook of the report fragments on a page: the page of each entity, with ``asOf``.

    Teams go to ``/team/``, projects to ``/project/``, changes to ``/change/``,
    everything else to its entity page.
    """

    def link(kind: EntityKind, key: str) -> str:
        if kind is EntityKind.CHANGE:
            return page.href(f"/change/{quote(key, safe='')}")
        return page.href(page.page_path(kind, key))

    return link


def _key(key: str) -> str:
    if len(key) > 1000 or not key or _CONTROL.search(key):
        msg = "the key in the address is empty, too long or holds a control character"
        raise InvalidInput(msg)
    return key


def _monday(request: Request, page: PageRequest) -> datetime:
    """``from`` (a day, ``YYYY-MM-DD``), else the time the page is read at: its week's Monday."""
    text = _param(request, "from", most=10)
    if not text:
        return week_start(page.as_of or datetime.now(UTC))
    try:
        day = date.fromisoformat(text) if _DAY.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None:
        msg = f"query parameter from must be a day such as 2030-01-07, not {text!r}"
        raise InvalidInput(msg)
    return week_start(datetime(day.year, day.month, day.day, tzinfo=UTC))


async def _resolve(
    svc: Services, kind: EntityKind, key: str, as_of: datetime | None
) -> EntityRecord:
    [found] = await svc.store.resolve([(kind, key)], as_of=as_of)
    record = None if found is None else (await svc.store.entities([found], as_of=as_of))[0]
    if record is None:
        when = f" at {as_of.isoformat()}" if as_of else ""
        msg = f"no {kind.value} has the key or alias {key[:80]!r}{when}"
        raise NotFound(msg)
    return record


async def _related(
    svc: Services,
    entity_id: int,
    direction: Direction,
    kind: RelationType,
    after: int | None,
    as_of: datetime | None,
) -> RelationsView:
    """One page of an entity's relations of one type, with the entity at the other end."""
    page = await svc.store.relations(
        entity_id, direction, types=frozenset({kind}), first=PAGE_SIZE, after=after, as_of=as_of
    )
    others = [r.to_id if direction is Direction.OUT else r.from_id for r in page.items]
    records = await svc.store.entities(others, as_of=as_of) if others else []
    return RelationsView(
        direction=direction,
        rows=tuple(RelationRow(r, o) for r, o in zip(page.items, records, strict=True)),
        total=page.total,
        next_after=page.end_cursor if page.has_next else None,
    )


# --------------------------------------------------------------------- team


@dataclass(frozen=True, slots=True)
class TeamView:
    """What the team page shows.

    Attributes:
        team: The team.
        sections: ``owns``, ``supports``, ``members``, ``subteams`` and ``work``:
            one page each of the team's ``OWNS``/``SUPPORTS`` (out), ``MEMBER_OF``,
            ``PART_OF`` and ``ASSIGNED_TO`` (in) relations.
        parents: The teams above it, level by level (``PART_OF``, at most
            :data:`PARENT_LEVELS` levels and :data:`LISTED` teams).
        load: The team load document for the period.
        weeks: How many weeks the period has.
        unscheduled_at: The first unscheduled item shown.
    """

    team: EntityRecord
    sections: dict[str, RelationsView]
    parents: tuple[tuple[EntityRecord, ...], ...]
    load: TeamReport
    weeks: int
    unscheduled_at: int


_TEAM_SECTIONS: dict[str, tuple[Direction, RelationType]] = {
    "owns": (Direction.OUT, RelationType.OWNS),
    "supports": (Direction.OUT, RelationType.SUPPORTS),
    "members": (Direction.IN, RelationType.MEMBER_OF),
    "subteams": (Direction.IN, RelationType.PART_OF),
    "work": (Direction.IN, RelationType.ASSIGNED_TO),
}


async def _parents(
    svc: Services, team: EntityRecord, as_of: datetime | None
) -> tuple[tuple[EntityRecord, ...], ...]:
    levels: list[tuple[EntityRecord, ...]] = []
    seen = {team.id}
    frontier = [team.id]
    listed = 0
    while frontier and len(levels) < PARENT_LEVELS and listed < LISTED:
        hop = await svc.store.neighbours(frontier, PARENT_TEAMS, as_of=as_of)
        fresh = sorted(set(as_ids(hop.entity)) - seen)[: LISTED - listed]
        records = [r for r in await svc.store.entities(fresh, as_of=as_of) if r is not None]
        if not records:
            break
        records.sort(key=lambda r: r.key)
        levels.append(tuple(records))
        seen.update(fresh)
        listed += len(records)
        frontier = [r.id for r in records]
    return tuple(levels)


async def _team(
    svc: Services,
    key: str,
    as_of: datetime | None,
    cursors: dict[str, int | None],
    start: datetime,
    weeks: int,
    unscheduled_at: int,
) -> TeamView:
    team = await _resolve(svc, EntityKind.TEAM, key, as_of)
    sections = {
        name: await _related(svc, team.id, direction, kind, cursors[name], as_of)
        for name, (direction, kind) in _TEAM_SECTIONS.items()
    }
    end = start + timedelta(weeks=weeks - 1)
    load = await team_load(svc.store, team.key, start, end, as_of=as_of)
    return TeamView(
        team=team,
        sections=sections,
        parents=await _parents(svc, team, as_of),
        load=team_report(load),
        weeks=weeks,
        unscheduled_at=unscheduled_at,
    )


# --------------------------------------------------------------------- project


@dataclass(frozen=True, slots=True)
class TeamCapacity:
    """One team doing a project's open tasks, and its capacity forecast.

    Attributes:
        team: The team.
        capacity: ``C``, hours a week (``None`` when every week is OK: the
            forecast names only teams with a week that is not OK).
        worst: The worst week state (``OK`` when the forecast does not name it).
        weeks_not_ok: Weeks of the period that are not OK.
        peak_excess_hours: The most hours above capacity (or the project capacity) in a week.
    """

    team: EntityRecord
    capacity: float | None
    worst: str
    weeks_not_ok: int
    peak_excess_hours: float


@dataclass(frozen=True, slots=True)
class ProjectView:
    """What the project page shows.

    Attributes:
        project: The project.
        readiness: Its consolidation readiness (``NOT_APPLICABLE`` when it
            consolidates nothing), or why it cannot be answered (a plan too large).
        plan: Its plan document (``None`` when too large to answer: ``plan_problem`` says why).
        plan_problem: Why there is no plan.
        forecast: The capacity forecast of the teams doing its open tasks.
        teams: Those teams with their forecast, worst first (at most :data:`LISTED`).
        team_count: How many teams do its open tasks.
        tasks_at: The first task of the prerequisites shown.
    """

    project: EntityRecord
    readiness: Readiness | str
    plan: PlanReport | None
    plan_problem: str | None
    forecast: CapacityForecast | None
    teams: tuple[TeamCapacity, ...]
    team_count: int
    tasks_at: int


async def _project(svc: Services, key: str, as_of: datetime | None, tasks_at: int) -> ProjectView:
    store = svc.store
    project = await _resolve(svc, EntityKind.PROJECT, key, as_of)
    try:
        readiness: Readiness | str = await consolidation_readiness(store, project.key, as_of=as_of)
    except AnswerTooLarge as exc:  # its capacity check reads the plan
        readiness = str(exc)
    try:
        plan = await project_plan(store, project.key, as_of=as_of)
    except AnswerTooLarge as exc:
        return ProjectView(project, readiness, None, str(exc), None, (), 0, tasks_at)
    report = plan_report(plan)
    # the teams doing its open tasks: assignee teams, and the teams of assignee people
    team_ids: set[int] = set()
    people: set[int] = set()
    for task in plan.tasks:
        if task.open:
            for a in task.assignees:
                (team_ids if a.kind is EntityKind.TEAM else people).add(a.id)
    if people:
        hop = await store.neighbours(sorted(people), TEAMS_OF_PERSON, as_of=as_of)
        team_ids.update(as_ids(hop.entity))
    teams = [t for t in await store.entities(sorted(team_ids), as_of=as_of) if t is not None]
    now = as_of or datetime.now(UTC)
    start = week_start(now)
    latest = max((t.due for t in plan.tasks if t.open and t.due is not None), default=start)
    end = min(max(latest, start + timedelta(weeks=7)), start + timedelta(weeks=MAX_PAGE_WEEKS - 1))
    forecast = await capacity_forecast(store, start, end, as_of=as_of, teams=teams)
    flagged = {f.team.id: f for f in forecast.teams}
    rows = [
        TeamCapacity(
            t,
            flagged[t.id].capacity if t.id in flagged else None,
            flagged[t.id].worst.value if t.id in flagged else "OK",
            len(flagged[t.id].weeks) if t.id in flagged else 0,
            flagged[t.id].peak_excess_hours if t.id in flagged else 0.0,
        )
        for t in teams
    ]
    order = {f.team.id: n for n, f in enumerate(forecast.teams)}
    rows.sort(key=lambda r: (order.get(r.team.id, len(order)), r.team.key))
    return ProjectView(
        project, readiness, report, None, forecast, tuple(rows[:LISTED]), len(rows), tasks_at
    )


def _period(forecast: CapacityForecast | None) -> tuple[str, str, int]:
    """The forecast's first and last Mondays and how many weeks it spans."""
    if forecast is None:
        return ("", "", 0)
    last = forecast.end - timedelta(weeks=1)
    weeks = round((forecast.end - forecast.start) / timedelta(weeks=1))
    return (forecast.start.date().isoformat(), last.date().isoformat(), weeks)


# --------------------------------------------------------------------- routes


def team_pages(serve: Serve, services: Callable[[Request], Services]) -> APIRouter:
    """Return the routes of ``/team/{key}`` and ``/project/{key}``.

    Args:
        serve: The explorer's page runner (authentication, ``asOf``, errors as pages).
        services: The app's services of a request.
    """
    router = APIRouter(include_in_schema=False)

    @router.get("/team/{key:path}")
    async def team_page(request: Request, key: str) -> Response:
        async def build(page: PageRequest) -> HTMLResponse:
            the_key = _key(key)
            cursors = {name: _count(request, name) for name in _TEAM_SECTIONS}
            start = _monday(request, page)
            weeks = _count(request, "weeks", most=MAX_PAGE_WEEKS) or DEFAULT_WEEKS
            unscheduled_at = _count(request, "unscheduled") or 0
            svc = services(request)
            view = await svc.run(
                lambda: _team(svc, the_key, page.as_of, cursors, start, weeks, unscheduled_at)
            )
            link = link_hook(page)
            load = view.load
            fragments = {
                "summary": _html(team_summary_html(load)),
                "chart": _html(team_chart_html(load)),
                "weeks": _html(team_weeks_html(load, link)),
                "unscheduled": _html(
                    team_unscheduled_html(load, link, start=unscheduled_at, count=PAGE_SIZE)
                ),
            }
            params = {
                **cursors,
                "from": start.date().isoformat() if _param(request, "from") else None,
                "weeks": weeks if weeks != DEFAULT_WEEKS else None,
            }
            return _render(
                "team.html",
                page,
                view=view,
                fragments=fragments,
                link=link,
                params=params,
                is_open=is_open_work,
                unscheduled_next=(
                    unscheduled_at + PAGE_SIZE
                    if unscheduled_at + PAGE_SIZE < len(load.unscheduled)
                    else None
                ),
                start=start,
            )

        return await serve(request, build)

    @router.get("/project/{key:path}")
    async def project_page(request: Request, key: str) -> Response:
        async def build(page: PageRequest) -> HTMLResponse:
            the_key = _key(key)
            tasks_at = _count(request, "tasks", most=2**31) or 0
            svc = services(request)
            view = await svc.run(lambda: _project(svc, the_key, page.as_of, tasks_at))
            link = link_hook(page)
            fragments: dict[str, Markup] = {}
            tasks_next = None
            if view.plan is not None:
                plan = view.plan
                fragments = {
                    "summary": _html(plan_summary_html(plan, section_id="plan")),
                    "path": _html(plan_path_html(plan, link, most=LISTED)),
                    "tasks": _html(plan_tasks_html(plan, link, start=tasks_at, count=PAGE_SIZE)),
                    "cycles": _html(plan_cycles_html(plan, link, most=LISTED)),
                }
                if tasks_at + PAGE_SIZE < len(plan.tasks):
                    tasks_next = tasks_at + PAGE_SIZE
            return _render(
                "project.html",
                page,
                view=view,
                fragments=fragments,
                link=link,
                tasks_next=tasks_next,
                readiness_problem=view.readiness if isinstance(view.readiness, str) else None,
                not_applicable=not isinstance(view.readiness, str)
                and view.readiness.status is ReadinessStatus.NOT_APPLICABLE,
                shown=SHOWN,
                listed=LISTED,
                period=_period(view.forecast),
            )

        return await serve(request, build)

    return router
