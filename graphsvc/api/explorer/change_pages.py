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

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic

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
from graphsvc.deadline import current_deadline, deadline
from graphsvc.errors import DeadlineExceeded, InvalidInput
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import EntityKind
from graphsvc.report.build import build_change_report, gc_paused
from graphsvc.report.diagram import draw
from graphsvc.report.formats import MEDIA_TYPES, ReportFormat, render_report
from graphsvc.report.model import ChangeReport, EntityRef
from graphsvc.report.render_html import render_html_body
from graphsvc.store.base import GraphStore

__all__ = [
    "CALENDAR_ANALYSED",
    "CALENDAR_CHANGES",
    "MAX_WEEKS",
    "PAGE_ENTITIES",
    "PAGE_ROWS",
    "PAGE_SERVICES_PER_TIER",
    "change_router",
]

PAGE_ENTITIES = 100
"""The change page lists at most this many affected entities (the counts stay complete;
the downloads hold the whole report). With their paths, 500 made a 4 MB page for a
change reaching half the 1M graph."""
PAGE_SERVICES_PER_TIER = 25
"""The change page lists at most this many services of each tier with their paths."""
PAGE_ROWS = 50
"""The change page lists at most this many conflicts, teams to notify and projects (a
change on the 1M graph's largest hub has 8,000 teams to notify: a 4 MB page)."""
MAX_WEEKS = 12
"""Most weeks one calendar page shows."""
DEFAULT_WEEKS = 4
"""Weeks a calendar page shows when ``weeks`` is not given."""
CALENDAR_CHANGES = 200
"""Most changes one calendar page lists."""
CALENDAR_ANALYSED = 50
"""Most changes whose conflicts one calendar page shows (the earliest first)."""
CALENDAR_BUDGET_SECONDS = 1.0
"""Most time one calendar page spends computing conflicts it does not hold yet.

A change whose impact reaches half the graph takes seconds to compare; the page
stops computing when the budget is spent (cooperatively, inside the walk) and
says which changes it did not get to. What it computed is kept until the next
commit (:class:`ConflictBook`), so the next view of the page goes further; a
change cut while it had the whole budget is marked too large and not tried
again on the calendar until the next commit (its own page shows its conflicts)."""
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
        too_large: Ids of the changes whose conflicts took more than a whole
            page's budget: not tried again on the calendar until the next commit.
    """

    first: date
    weeks: tuple[CalendarWeek, ...]
    total: int
    listed: int
    analysed: int
    windows_unread: int
    too_large: frozenset[int] = frozenset()


def monday_of(day: date) -> date:
    """The Monday of ``day``'s week (ISO weeks start on Monday)."""
    return day - timedelta(days=day.weekday())


def _at_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


class ConflictBook:
    """The conflicts of changes computed for calendar pages, kept until the next commit.

    Keyed by (change id, ``asOf``); all entries are dropped when the store's last
    commit differs from the one they were computed at. At most ``size`` entries
    (the oldest dropped first).
    """

    def __init__(self, size: int = 5000) -> None:
        self.size = size
        self._commit: datetime | None = None
        self._entries: dict[tuple[int, datetime | None], tuple[Conflict, ...]] = {}
        self._too_large: set[tuple[int, datetime | None]] = set()
        self._lock = threading.Lock()  # pages run in several worker threads

    def at_commit(self, last_commit: datetime | None) -> None:
        """Forget everything when ``last_commit`` is not the commit the entries are of."""
        with self._lock:
            if last_commit != self._commit:
                self._entries.clear()
                self._too_large.clear()
                self._commit = last_commit

    def get(self, change: int, as_of: datetime | None) -> tuple[Conflict, ...] | None:
        """The conflicts held for ``change`` at ``as_of`` (``None``: not computed)."""
        with self._lock:
            return self._entries.get((change, as_of))

    def too_large(self, change: int, as_of: datetime | None) -> bool:
        """Whether ``change`` at ``as_of`` is marked too large for the calendar."""
        with self._lock:
            return (change, as_of) in self._too_large

    def mark_too_large(self, change: int, as_of: datetime | None) -> None:
        """Mark ``change`` at ``as_of`` as too large to compare on the calendar."""
        with self._lock:
            if len(self._too_large) < self.size:
                self._too_large.add((change, as_of))

    def put(self, change: int, as_of: datetime | None, found: tuple[Conflict, ...]) -> None:
        """Keep ``found`` for ``change`` at ``as_of``."""
        with self._lock:
            self._entries[(change, as_of)] = found
            while len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]


async def _conflicts_within(
    store: GraphStore,
    changes: list[EntityRecord],
    as_of: datetime | None,
    book: ConflictBook,
    budget: float,
) -> tuple[dict[int, tuple[Conflict, ...]], frozenset[int]]:
    """The conflicts of ``changes``: held ones, then computed ones until ``budget`` is spent.

    Each computation runs under a deadline of the budget left (or the request's,
    when sooner); one cut by the budget is left out, and so are the changes after
    it (that are not held). One cut while it had the whole budget is marked too
    large in ``book``. A cut by the request's own deadline is raised as usual.

    Returns:
        The conflicts by change id, and the ids of the changes marked too large.
    """
    book.at_commit((await store.stats()).last_commit)
    request = current_deadline()
    ends = monotonic() + budget
    out: dict[int, tuple[Conflict, ...]] = {}
    too_large: set[int] = set()
    whole = True  # no computation has spent any of the budget yet
    for record in changes:
        held = book.get(record.id, as_of)
        if held is not None:
            out[record.id] = held
            continue
        if book.too_large(record.id, as_of):
            too_large.add(record.id)
            continue
        started = monotonic()
        left = ends - started
        if request is not None:
            left = min(left, request.at - started)
        if left <= 0:
            continue
        try:
            # the deadline stops the walks of the embedded store between two steps;
            # the timeout cancels at the next await (the Neo4j driver's)
            async with asyncio.timeout(left):
                with deadline(left):
                    found = await change_conflicts(store, record, as_of=as_of)
        except (DeadlineExceeded, TimeoutError):
            if request is not None and request.expired():
                raise
            if whole:
                book.mark_too_large(record.id, as_of)
                too_large.add(record.id)
            ends = 0.0  # the budget is spent: only held conflicts from here on
            continue
        whole = False
        book.put(record.id, as_of, found.conflicts)
        out[record.id] = found.conflicts
    return out, frozenset(too_large)


async def build_calendar(
    svc: Services,
    first: date,
    weeks: int,
    as_of: datetime | None,
    *,
    book: ConflictBook | None = None,
    budget: float = CALENDAR_BUDGET_SECONDS,
) -> CalendarView:
    """Read the changes and windows of ``weeks`` weeks from the Monday ``first``, with conflicts.

    Conflicts are those of the first :data:`CALENDAR_ANALYSED` changes that are
    held in ``book`` or computed within ``budget`` seconds (see
    :data:`CALENDAR_BUDGET_SECONDS`); the others are ``None`` in the view.
    """
    store = svc.store
    mondays = [first + timedelta(weeks=i) for i in range(weeks)]
    span = Interval(_at_midnight(first), _at_midnight(first + timedelta(weeks=weeks)))
    planned = await changes_planned(store, span, most=CALENDAR_CHANGES, as_of=as_of)
    windows = await windows_in(store, span, as_of=as_of)
    conflicts, too_large = await _conflicts_within(
        store,
        [record for record, _ in planned.changes[:CALENDAR_ANALYSED]],
        as_of,
        book or ConflictBook(),
        budget,
    )
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
        too_large,
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
    conflict_book = ConflictBook()  # the calendar's conflicts, until the next commit
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

                    body = render_html_body(report, diagram, link=link, most_rows=PAGE_ROWS)
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
            view = await svc.run(
                lambda: build_calendar(svc, first, count, page.as_of, book=conflict_book)
            )
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
                budget_ms=round(CALENDAR_BUDGET_SECONDS * 1000),
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
