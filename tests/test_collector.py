"""The garbage-collector helpers: survivors of older-generation collections are frozen."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable

from graphsvc.collector import freeze_survivors


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_older_generation_collections_freeze_their_survivors_young_ones_do_not() -> None:
    """Freezing after every young collection was tried (759b12a) and reverted: in the
    10-minute soak the server's memory grew steadily and never came back (objects of
    cycles alive at a collection stay frozen), and the p99s were worse than before."""
    scheduled: list[Callable[[], None]] = []
    stop = freeze_survivors(scheduled.append)
    try:
        garbage = _Node()
        garbage.other = _Node()
        garbage.other.other = garbage  # a cycle nobody holds
        dead = weakref.ref(garbage)
        del garbage
        gc.collect(0)
        assert dead() is None, "the cycle was collected"
        assert scheduled == [], "a young collection freezes nothing"
        gc.collect(1)
        assert scheduled == [gc.freeze], "an older one schedules the freeze of its survivors"
    finally:
        stop()
    gc.collect(1)
    assert scheduled == [gc.freeze], "stopped: nothing more is scheduled"
