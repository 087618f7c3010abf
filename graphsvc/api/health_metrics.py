"""CMDB health as Prometheus gauges (PRODUCT.md 9): computed at most once per commit.

``graphsvc_health_score`` is the score (0-100) and
``graphsvc_health_check_figure{check="..."}`` each check's figure; the label
values come only from the fixed list of evaluated checks
(:data:`graphsvc.analysis.health.CHECK_NAMES`), so the series are bounded.

**When they are computed: lazily, on a scrape.** ``/metrics`` reads the
store's sizes already; the last commit time among them is the key. When it
differs from the key of the figures held (a commit happened since, in this
process or, for a replica, in the writer), and the figures are at least
``interval`` seconds old (``GRAPHSVC_HEALTH_METRICS_INTERVAL_SECONDS``, 60: a
store written every second and scraped every 15 s would otherwise spend a third
of a core on it at 1M entities), the health is computed again, in the worker
loops (never on the event loop) and under the scrape's request deadline;
otherwise the gauges keep their values. Concurrent scrapes wait for
one computation (an :class:`asyncio.Lock` on the server's loop). A computation
that fails or runs out of time leaves the previous figures (and their key), so
the next scrape tries again. Nothing is computed while nobody scrapes.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog
from prometheus_client import CollectorRegistry, Gauge

from graphsvc.analysis.health import CHECK_NAMES, HealthReport, health
from graphsvc.errors import GraphSvcError
from graphsvc.store.base import GraphStore

__all__ = ["HealthGauges"]

_UNSET = object()


class HealthGauges:
    """The health gauges of one app and the commit they were computed for."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.score = Gauge(
            "graphsvc_health_score",
            "CMDB health score 0-100 (PRODUCT.md 9; formula in the README), as of the last "
            "commit seen by a scrape.",
            registry=registry,
        )
        self.figure = Gauge(
            "graphsvc_health_check_figure",
            "The figure of each CMDB health check (percent or count, see the check).",
            ["check"],
            registry=registry,
        )
        self._key: object = _UNSET
        self._computed_at = -math.inf
        self.interval = interval
        """Shortest time in seconds between two computations."""
        self.clock = clock
        self._lock: asyncio.Lock | None = None
        self.computations = 0
        """How many times the health was computed (tests count them)."""
        self.log = structlog.get_logger("graphsvc.health")

    async def refresh(
        self,
        store: GraphStore,
        last_commit: datetime | None,
        run: Callable[[Callable[[], Awaitable[HealthReport]]], Awaitable[HealthReport]],
    ) -> None:
        """Compute the gauges again when ``last_commit`` differs from the one they hold.

        Args:
            store: The store.
            last_commit: The store's last commit time (the cache key).
            run: Runs the computation off the event loop (``Services.run``).
        """
        if self._fresh(last_commit):
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._fresh(last_commit):
                return
            try:
                report = await run(lambda: health(store))
            except GraphSvcError as exc:
                self.log.warning("health metrics not computed", error=str(exc))
                return
            self.computations += 1
            self.score.set(report.score)
            for check in report.checks:
                if check.name in CHECK_NAMES:
                    self.figure.labels(check.name).set(check.figure)
            self._key = last_commit
            self._computed_at = self.clock()

    def _fresh(self, last_commit: datetime | None) -> bool:
        """Whether the figures held may be served: of this commit, or too recent to redo."""
        return self._key == last_commit or self.clock() - self._computed_at < self.interval
