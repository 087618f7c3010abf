"""CMDB health as Prometheus gauges (PRODUCT.md 9): computed at most once per commit.

``graphsvc_health_score`` is the score (0-100) and
``graphsvc_health_check_figure{check="..."}`` each check's figure; the label
values come only from the fixed list of evaluated checks
(:data:`graphsvc.analysis.health.CHECK_NAMES`), so the series are bounded.

**When they are computed: lazily, on a scrape.** ``/metrics`` reads the
store's sizes already; the last commit time among them is the key. When it
differs from the key of the figures held (a commit happened since, in this
process or, for a replica, in the writer), the health is computed again, in
the worker loops (never on the event loop) and under the scrape's request
deadline; otherwise the gauges keep their values. After a commit the figures
are recomputed only when they are at least ``interval`` seconds old
(``GRAPHSVC_HEALTH_METRICS_INTERVAL_SECONDS``, 60: a store written every second
and scraped every 15 s would otherwise spend a third of a core on it at 1M
entities); a document the health page computed for the commit is taken at once.
Concurrent scrapes wait for one computation. A computation that fails or runs out of time leaves the
previous figures (and their key), so the next scrape tries again. Nothing is
computed while nobody scrapes.

The computation is the app's :class:`~graphsvc.api.health_cache.HealthCache`'s,
shared with the explorer's health page: a page viewed after a commit computes
the figures the next scrape sets, and the other way round.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime

import structlog
from prometheus_client import CollectorRegistry, Gauge

from graphsvc.analysis.health import CHECK_NAMES
from graphsvc.api.health_cache import HealthCache, Runner
from graphsvc.errors import GraphSvcError
from graphsvc.report.health_report import HealthDocument
from graphsvc.store.base import GraphStore

__all__ = ["HealthGauges"]

_UNSET = object()


class HealthGauges:
    """The health gauges of one app and the commit they were computed for."""

    def __init__(
        self,
        registry: CollectorRegistry,
        cache: HealthCache | None = None,
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
        self._set_at = -math.inf
        self.interval = interval
        """Shortest time in seconds between two computations for the gauges."""
        self.clock = clock
        self.cache = cache or HealthCache()
        self.log = structlog.get_logger("graphsvc.health")

    async def refresh(
        self,
        store: GraphStore,
        last_commit: datetime | None,
        run: Runner[HealthDocument],
    ) -> None:
        """Compute the gauges again when ``last_commit`` differs from the one they hold.

        Args:
            store: The store.
            last_commit: The store's last commit time (the cache key).
            run: Runs the computation off the event loop (``Services.run``).
        """
        if self._key == last_commit:
            return
        recent = self.clock() - self._set_at < self.interval
        if recent and not self.cache.holds(last_commit):
            return
        try:
            document = await self.cache.current(store, last_commit, run)
        except GraphSvcError as exc:
            self.log.warning("health metrics not computed", error=str(exc))
            return
        report = document.report
        self.score.set(report.score)
        for check in report.checks:
            if check.name in CHECK_NAMES:
                self.figure.labels(check.name).set(check.figure)
        self._key = last_commit
        self._set_at = self.clock()

    @property
    def computations(self) -> int:
        """How many times the health was computed (tests count them)."""
        return self.cache.computations
