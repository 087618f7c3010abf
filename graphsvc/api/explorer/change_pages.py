"""The explorer's change page and change calendar (PRODUCT.md 10, issue 22).

``/change/{key}`` is the change's CAB report inside the explorer's layout: the
report is built by :func:`graphsvc.report.build.build_change_report` and its body
written by :func:`graphsvc.report.render_html.render_html_body`, the code of the
HTML report itself, with a link hook that points every entity it names at the
explorer's pages. ``?download=html|md|json`` answers the whole report in that
format, as the REST route ``/api/v1/reports/changes/{key}`` does (the explorer's
session is enough; the API wants a bearer token).

``/calendar?from=YYYY-MM-DD&weeks=N`` lists, week by week (weeks start on
Monday, UTC), the changes whose planned window falls in the week, the blackout
and maintenance windows, and the conflicts of each change as ``changeImpact``
reports them (:func:`graphsvc.analysis.changes.change_conflicts`, the same
finder). Bounded: at most :data:`CALENDAR_CHANGES` changes are listed and the
conflicts of the first :data:`CALENDAR_ANALYSED` are computed; the page says how
many were left out.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from graphsvc.analysis._common import Interval
from graphsvc.analysis.calendar import changes_planned, windows_in
from graphsvc.analysis.changes import Conflict, change_conflicts
from graphsvc.api.explorer.routes import (
    _CONTROL,
    _HEADERS,
    PageRequest,
    _count,
    _param,
    _render,
    explorer_path,
)
from graphsvc.api.rest import Services
from graphsvc.errors import InvalidInput
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import EntityKind
from graphsvc.report.build import build_change_report, gc_paused
from graphsvc.report.diagram import draw
from graphsvc.report.formats import MEDIA_TYPES, ReportFormat, render_report
from graphsvc.report.model import ChangeReport, EntityRef
from graphsvc.report.render_html import render_html_body

__all__ = [
    "CALENDAR_ANALYSED",
    "CALENDAR_CHANGES",
    "MAX_WEEKS",
    "PAGE_ENTITIES",
    "PAGE_SERVICES_PER_TIER",
    "change_router",
]

PAGE_ENTITIES = 500
"""The change page lists at most this many affected entities (the counts stay complete)."""
PAGE_SERVICES_PER_TIER = 100
"""The change page lists at most this many services of each tier with their paths."""
MAX_WEEKS = 12
"""Most weeks one calendar page shows."""
DEFAULT_WEEKS = 4
"""Weeks a calendar page shows when ``weeks`` is not given."""
CALENDAR_CHANGES = 200
"""Most changes one calendar page lists."""
CALENDAR_ANALYSED = 50
"""Most changes whose conflicts one calendar page computes (the earliest first)."""
CONFLICT_ENTITIES = 5
"""Entities named on one conflict of the calendar (the change page names more)."""

Builder = Callable[[PageRequest], Awaitable[Response]]
Serve = Callable[[Request, Builder], Awaitable[Response]]
"""The explorer's page runner: authenticates, reads ``asOf``, turns errors into pages."""

FIRST_DAY = date(1900, 1, 1)
"""The earliest ``from`` a calendar takes."""
LAST_DAY = date(9000, 12, 31)
"""The latest ``from`` a calendar takes (its links stay far from the end of the calendar)."""

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class CalendarChange:
    """A change in one week of the calendar.

    Attributes:
        change: The change.
        window: Its planned window.
        conflicts: Its conflicts, ``None`` when the page did not compute them
            (beyond :data:`CALENDAR_ANALYSED`).
        carried: Whether the window began in an earlier week.
    """

    change: EntityRecord
    window: Interval
    conflicts: tuple[Conflict, ...] | None
    carried: bool


@dataclass(frozen=True, slots=True)
class CalendarWindow:
    """A blackout or maintenance window in one week, and whether it began earlier."""

    window: EntityRecord
    interval: Interval
    carried: bool


@dataclass(frozen=True, slots=True)
class CalendarWeek:
    """One week (Monday 00:00 UTC to the next Monday) of the calendar."""

    monday: date
    changes: tuple[CalendarChange, ...]
    windows: tuple[CalendarWindow, ...]


@dataclass(frozen=True, slots=True)
class CalendarView:
    """What the calendar page shows.

    Attributes:
        first: The Monday of the first week.
        weeks: The weeks, in order.
        total: How many changes are planned in the weeks shown.
        listed: How many of them are listed (the first by planned start).
        analysed: How many listed changes had their conflicts computed.
        windows_unread: Windows not read (more than the finder reads).
    """

    first: date
    weeks: tuple[CalendarWeek, ...]
    total: int
    listed: int
    analysed: int
    windows_unread: int


def monday_of(day: date) -> date:
    """The Monday of ``day``'s week (ISO weeks start on Monday)."""
    return day - timedelta(days=day.weekday())


def _at_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


async def build_calendar(
    svc: Services, first: date, weeks: int, as_of: datetime | None
) -> CalendarView:
    """Read the changes and windows of ``weeks`` weeks from the Monday ``first``, with conflicts."""
    store = svc.store
    mondays = [first + timedelta(weeks=i) for i in range(weeks)]
    span = Interval(_at_midnight(first), _at_midnight(first + timedelta(weeks=weeks)))
    planned = await changes_planned(store, span, most=CALENDAR_CHANGES, as_of=as_of)
    windows = await windows_in(store, span, as_of=as_of)
    conflicts: dict[int, tuple[Conflict, ...]] = {}
    for record, _ in planned.changes[:CALENDAR_ANALYSED]:
        found = await change_conflicts(store, record, as_of=as_of)
        conflicts[record.id] = found.conflicts
    out = []
    for monday in mondays:
        week = Interval(_at_midnight(monday), _at_midnight(monday + timedelta(weeks=1)))
        out.append(
            CalendarWeek(
                monday,
                tuple(
                    CalendarChange(r, w, conflicts.get(r.id), w.start < week.start)
                    for r, w in planned.changes
                    if w.overlaps(week)
                ),
                tuple(
                    CalendarWindow(r, w, w.start < week.start)
                    for r, w in windows.windows
                    if w.overlaps(week)
                ),
            )
        )
    return CalendarView(
        first,
        tuple(out),
        planned.total,
        len(planned.changes),
        len(conflicts),
        windows.unread,
    )


def _day(text: str) -> date:
    """``from``: a date ``YYYY-MM-DD`` (400 otherwise)."""
    try:
        if not _DATE.match(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        msg = f"query parameter from must be a date YYYY-MM-DD, not {text[:40]!r}"
        raise InvalidInput(msg) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        msg = f"query parameter from must be between {FIRST_DAY} and {LAST_DAY}, not {text}"
        raise InvalidInput(msg)
    return day


def _key_in_path(key: str) -> str:
    if len(key) > 1000 or not key or _CONTROL.search(key):
        msg = "the key in the address is empty, too long or holds a control character"
        raise InvalidInput(msg)
    return key


def change_router(serve: Serve) -> APIRouter:
    """Return the routes ``/change/{key}`` and ``/calendar``.

    Args:
        serve: The explorer's page runner (``explorer_router``'s), so these pages
            share its sign-in, ``asOf`` and error pages.
    """
    router = APIRouter(include_in_schema=False)

    def services(request: Request) -> Services:
        found: Services = request.app.state.services
        return found

    @router.get("/change/{key:path}")
    async def change_page(request: Request, key: str) -> Response:
        async def build(page: PageRequest) -> Response:
            the_key = _key_in_path(key)
            download = _param(request, "download", most=10)
            svc = services(request)
            if download is not None:
                try:
                    fmt = ReportFormat(download)
                except ValueError:
                    msg = f"query parameter download must be html, md or json, not {download!r}"
                    raise InvalidInput(msg) from None
                return await _download(svc, the_key, fmt, page.as_of)

            async def work() -> tuple[ChangeReport, Markup]:
                with gc_paused():
                    report = await build_change_report(
                        svc.store,
                        the_key,
                        as_of=page.as_of,
                        max_entities=PAGE_ENTITIES,
                        max_services_per_tier=PAGE_SERVICES_PER_TIER,
                    )
                    diagram = draw(report) if report.summary.impact_set else None

                    def link(ref: EntityRef) -> str:
                        return page.href(explorer_path(ref.kind, ref.key))

                    body = render_html_body(report, diagram, link=link)
                return report, Markup(body)  # noqa: S704 - written by the report's escaping renderer

            report, body = await svc.run(work)
            change = report.change.change
            downloads = [
                (label, page.href(explorer_path(EntityKind.CHANGE, change.key), download=f.value))
                for label, f in (
                    ("HTML", ReportFormat.HTML),
                    ("Markdown", ReportFormat.MARKDOWN),
                    ("JSON", ReportFormat.JSON),
                )
            ]
            return _render(
                "change.html",
                page,
                report=report,
                body=body,
                downloads=downloads,
                path=explorer_path(EntityKind.CHANGE, change.key),
                calendar=page.href(
                    "/calendar",
                    **{"from": monday_of(report.change.window.start.date()).isoformat()}
                    if report.change.window
                    else {},
                ),
            )

        return await serve(request, build)

    @router.get("/calendar")
    async def calendar_page(request: Request) -> Response:
        async def build(page: PageRequest) -> Response:
            text = _param(request, "from", most=10)
            weeks = _count(request, "weeks", most=MAX_WEEKS)
            if weeks == 0:
                msg = f"query parameter weeks must be a whole number from 1 to {MAX_WEEKS}"
                raise InvalidInput(msg)
            count = weeks or DEFAULT_WEEKS
            today = (page.as_of or datetime.now(UTC)).astimezone(UTC).date()
            first = monday_of(_day(text) if text else today)
            svc = services(request)
            view = await svc.run(lambda: build_calendar(svc, first, count, page.as_of))
            step = timedelta(weeks=count)

            def at(monday: date) -> str:
                return page.href("/calendar", **{"from": monday.isoformat(), "weeks": count})

            def link(record: EntityRecord) -> str:
                return page.href(explorer_path(record.kind, record.key))

            return _render(
                "calendar.html",
                page,
                view=view,
                count=count,
                previous=at(first - step),
                following=at(first + step),
                this_week=at(monday_of(today)),
                link=link,
                last_day=first + step - timedelta(days=1),
                conflict_entities=CONFLICT_ENTITIES,
                analysed_most=CALENDAR_ANALYSED,
            )

        return await serve(request, build)

    return router


async def _download(svc: Services, key: str, fmt: ReportFormat, as_of: datetime | None) -> Response:
    """The whole report in ``fmt``, as the REST route renders it."""

    async def work() -> tuple[ChangeReport, str]:
        report = await build_change_report(svc.store, key, as_of=as_of)
        return report, render_report(report, fmt)

    report, text = await svc.run(work)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", report.change.change.key)
    extension = {ReportFormat.HTML: "html", ReportFormat.MARKDOWN: "md", ReportFormat.JSON: "json"}
    return Response(
        content=text.encode("utf-8"),
        media_type=MEDIA_TYPES[fmt],
        headers={
            **_HEADERS,
            "content-disposition": (
                f'attachment; filename="change-report-{name}.{extension[fmt]}"'
            ),
        },
    )
