"""The garbage-collector helpers: survivors of every collection are frozen, garbage is not."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable

from graphsvc.collector import freeze_survivors


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_every_collection_freezes_its_survivors_and_frees_its_garbage() -> None:
    scheduled: list[Callable[[], None]] = []
    gc.collect()
    gc.unfreeze()
    stop = freeze_survivors(scheduled.append)
    try:
        garbage, alive = _Node(), _Node()
        garbage.other = _Node()
        garbage.other.other = garbage  # a cycle nobody holds
        dead = weakref.ref(garbage)
        del garbage
        before = gc.get_freeze_count()
        gc.collect(0)  # the youngest generation only
        assert dead() is None, "the cycle was collected, not frozen"
        assert scheduled == [gc.freeze]
        scheduled.pop()()
        assert gc.get_freeze_count() > before
        assert not gc.is_tracked(alive) or alive not in gc.get_objects(0)
    finally:
        stop()
        gc.unfreeze()
    gc.collect(0)
    assert scheduled == [], "stopped: nothing is scheduled any more"
