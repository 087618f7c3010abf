"""Event retention: which events a retention setting removes, and removing them in batches.

The history is the event feed (PRODUCT.md 8); by default it is kept forever.
``GRAPHSVC_EVENT_RETENTION_DAYS`` and ``GRAPHSVC_EVENT_RETENTION_MAX`` bound it
(:class:`Retention`); the server's writing process prunes periodically, and
``graphsvc events prune`` does it by hand. Each batch is one short write
transaction of :meth:`~graphsvc.store.base.GraphStore.prune_events`; between
batches other writers get the store (:func:`prune_in_batches` pauses).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio

from graphsvc.store.base import EventPrune

__all__ = ["PruneTotal", "Retention", "prune_in_batches"]


@dataclass(frozen=True, slots=True)
class Retention:
    """How long events are kept.

    Attributes:
        days: Events older than this many days go (``0``: no age limit).
        max_events: At most about this many of the newest events stay (``0``: no
            limit; counted by seq, so gaps make it a little fewer).
    """

    days: float = 0.0
    max_events: int = 0

    @property
    def active(self) -> bool:
        """Whether any rule removes anything."""
        return self.days > 0 or self.max_events > 0

    def before(self, now: datetime) -> datetime | None:
        """The commit time before which events go, as of ``now`` (``None``: no age rule)."""
        return now - timedelta(days=self.days) if self.days > 0 else None

    @property
    def keep(self) -> int | None:
        """How many of the newest seqs stay (``None``: no count rule)."""
        return self.max_events if self.max_events > 0 else None


@dataclass(frozen=True, slots=True)
class PruneTotal:
    """What :func:`prune_in_batches` did: events removed, batches, the oldest seq held now."""

    removed: int
    batches: int
    oldest_seq: int


async def prune_in_batches(
    prune_once: Callable[[], Awaitable[EventPrune]],
    *,
    pause: float = 0.05,
    most_batches: int | None = None,
) -> PruneTotal:
    """Call ``prune_once()`` until it has nothing more to remove.

    Args:
        prune_once: One :meth:`GraphStore.prune_events` call with the rules bound.
        pause: Seconds between two batches, so that writers waiting on the store's
            write lock get it (a large backlog never holds it for long).
        most_batches: Stop after this many batches (``None``: until done); the next
            run goes on.
    """
    removed = batches = 0
    while True:
        done = await prune_once()
        removed += done.removed
        batches += 1
        if not done.more or (most_batches is not None and batches >= most_batches):
            return PruneTotal(removed, batches, done.oldest_seq)
        await anyio.sleep(pause)
