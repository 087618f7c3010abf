"""The current CMDB health, computed once per commit, and its trend filled in the background.

One :class:`HealthCache` per app (``app.state.health_cache``) serves the
explorer's ``/health`` page and the ``/metrics`` gauges (issue 22, "fast on the
big graph"; PRODUCT.md 9).

**The current document, per commit.** The key is the store's last commit time
(``GraphStore.stats().last_commit``, as the gauges had it): while it does not
change, :meth:`HealthCache.current` answers the document it holds (a page then
costs milliseconds); when it changes (a commit in this process or, for a
replica, in the writer) the next caller computes it again in the worker loops,
under its request's deadline. Concurrent callers wait for one computation (an
:class:`asyncio.Lock` on the server's loop); one that fails or runs out of time
leaves the previous document and key, so the next caller tries again. The
first, cold computation is not done ahead: the first page view (or scrape)
after a start or a commit waits for it (about 5 s at 1,000,000 entities, well
within the 30 s deadline); later ones do not.

**The 30-day trend never makes a page wait.** A page draws the points the
:class:`~graphsvc.analysis.health.ScoreCache` already holds
(:func:`~graphsvc.analysis.health.known_trend`) and asks for the missing ones
(:meth:`HealthCache.want`); :meth:`HealthCache.fill_forever`, started by the
app's lifespan, computes them one at a time in the worker loops (off the event
loop, with no request deadline) while any is wanted, and sleeps otherwise. At
most :data:`MAX_WANTED` points wait at once (a page asking for more while the
queue is full gets them later, on a later view). A point at a past midnight
never changes, so once computed it is drawn by every later page.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import structlog

from graphsvc.analysis.health import TREND_DAYS, KnownTrend, ScoreCache, known_trend
from graphsvc.errors import GraphSvcError
from graphsvc.model.records import to_micros
from graphsvc.report.health_report import HealthDocument, build_health_document
from graphsvc.store.base import GraphStore

__all__ = ["MAX_WANTED", "HealthCache", "Runner"]

T = TypeVar("T")
Runner = Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]
"""Runs work off the event loop (``Services.run``)."""

MAX_WANTED = 4 * TREND_DAYS
"""Most trend points waiting to be computed at once."""

_UNSET = object()


class HealthCache:
    """The current health document of one app's store, and its trend points.

    Args:
        clock: The time (the trend's days; the document's ``generated``); tests set it.
        scores: The past scores (a new cache by default: one per app).
    """

    def __init__(
        self,
        clock: Callable[[], datetime] | None = None,
        scores: ScoreCache | None = None,
    ) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.scores = scores or ScoreCache()
        self.computations = 0
        """How many times the current document was computed (tests count them)."""
        self._key: object = _UNSET
        self._document: HealthDocument | None = None
        self._lock: asyncio.Lock | None = None
        self._wanted: dict[int, datetime] = {}
        self._wake: asyncio.Event | None = None
        self.log = structlog.get_logger("graphsvc.health")

    async def current(
        self,
        store: GraphStore,
        last_commit: datetime | None,
        run: Runner[HealthDocument],
    ) -> HealthDocument:
        """Return the current document (without trend) for the commit ``last_commit``.

        Computed by ``run`` when the key differs from the one held (see the module).

        Raises:
            GraphSvcError: the computation failed (the store, the deadline); the
                previous document is kept for the next caller.
        """
        held = self._document
        if self._key == last_commit and held is not None:
            return held
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            held = self._document
            if self._key == last_commit and held is not None:
                return held
            now = self.clock
            document = await run(lambda: _current_document(store, now))
            self.computations += 1
            self._document, self._key = document, last_commit
            return document

    def holds(self, last_commit: datetime | None) -> bool:
        """Whether the document of the commit ``last_commit`` is held (asking costs nothing)."""
        return self._key == last_commit and self._document is not None

    def trend(self, store: GraphStore, document: HealthDocument) -> tuple[KnownTrend, int]:
        """The document's report with the trend points known now, and how many are being computed.

        The missing points before now are asked for (:meth:`want`); the second
        value is how many of them are queued (missing points after now, for an
        ``as_of`` in the future, or beyond :data:`MAX_WANTED`, are not). A
        current document (no ``as_of``) is drawn up to now (the clock): no
        commit happened since it was computed, so its score is still the
        score now. A past one (``as_of``) up to its moment.
        """
        report = document.report
        now = self.clock()
        at = report.as_of or max(now, report.generated)
        found = known_trend(store, report, cache=self.scores, at=at)
        queued = self.want(tuple(m for m in found.missing if m < now))
        return found, queued

    def want(self, moments: tuple[datetime, ...]) -> int:
        """Ask the background filler for the scores at ``moments``; return how many were queued.

        Moments already queued count as queued; none is queued beyond :data:`MAX_WANTED`.
        """
        queued = 0
        for moment in moments:
            key = to_micros(moment)
            if key not in self._wanted:
                if len(self._wanted) >= MAX_WANTED:
                    continue
                self._wanted[key] = moment
            queued += 1
        if queued and self._wake is not None:
            self._wake.set()
        return queued

    @property
    def pending(self) -> int:
        """Trend points asked for and not computed yet."""
        return len(self._wanted)

    async def fill_forever(self, store: GraphStore, run: Runner[int | None]) -> None:
        """Compute wanted trend points one at a time, oldest asked first; sleep when none is.

        Started by the app's lifespan and cancelled at its end. A point that
        cannot be computed (the store is away) is dropped with a warning: the
        next page that misses it asks again.
        """
        self._wake = asyncio.Event()
        while True:
            if not self._wanted:
                self._wake.clear()
                await self._wake.wait()
                continue
            key, moment = next(iter(self._wanted.items()))
            try:
                await run(functools.partial(self.scores.score_at, store, moment, self.clock()))
            except GraphSvcError as exc:
                self.log.warning("health trend point not computed", at=str(moment), error=str(exc))
            self._wanted.pop(key, None)


async def _current_document(store: GraphStore, now: Callable[[], datetime]) -> HealthDocument:
    return await build_health_document(store, trend=False, now=now)
