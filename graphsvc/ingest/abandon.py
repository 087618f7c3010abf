"""Abandoning open runs that nobody feeds any more.

An importer that dies between batches leaves its run open for good: nothing
would ever go stale for that source and scope, and the run list would fill
with open runs. :class:`IdleRunWatch` watches the open runs' batch counts (read
from the store, so every server process sees the batches any other one applied)
and finishes a run incomplete (abandoned: no staleness is applied) once its count
has not moved for ``after_seconds`` of watching. A restart of the server starts
the clock again, which can only delay an abandonment, never hasten it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from graphsvc.errors import Conflict, NotFound
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.records import RunRecord, RunState
from graphsvc.store.base import GraphStore

__all__ = ["ABANDONED_BY", "IdleRunWatch"]

ABANDONED_BY = "graphsvc (run idle)"
"""The actor recorded when the server abandons a run."""

WATCHED_RUNS = 1000
"""How many of the latest runs each sweep reads."""

log = structlog.get_logger("graphsvc.ingest")


@dataclass
class IdleRunWatch:
    """Remembers since when each open run's batch count has stood still.

    Args:
        after_seconds: How long a count may stand still before the run is abandoned.
        clock: Monotonic seconds (tests pass their own).
    """

    after_seconds: float
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, tuple[int, float]] = field(default_factory=dict)

    def idle(self, runs: list[RunRecord]) -> list[str]:
        """Note the runs read now; return the open ones idle for ``after_seconds`` or more."""
        now = self.clock()
        seen: dict[str, tuple[int, float]] = {}
        due: list[str] = []
        for run in runs:
            if run.state is not RunState.OPEN:
                continue
            batches, since = self._seen.get(run.run_id, (run.batches, now))
            if batches != run.batches:
                batches, since = run.batches, now
            seen[run.run_id] = (batches, since)
            if now - since >= self.after_seconds:
                due.append(run.run_id)
        self._seen = seen
        return due

    async def sweep(self, store: GraphStore, engine: IngestEngine) -> list[str]:
        """Abandon the runs idle long enough; return their ids.

        A run finished meanwhile by its importer (or another server) is skipped.
        """
        abandoned = []
        for run_id in self.idle(await store.runs(first=WATCHED_RUNS)):
            try:
                await engine.finish_run(run_id, complete=False, actor=ABANDONED_BY)
            except (Conflict, NotFound):
                continue
            log.warning("run abandoned", run=run_id, idle_seconds=self.after_seconds)
            abandoned.append(run_id)
            self._seen.pop(run_id, None)
        return abandoned
