"""The periodic sweep of the young generations (graphsvc.collector, issue 17)."""

from __future__ import annotations

import gc
import weakref

import anyio

from graphsvc.collector import sweep_young_generations


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


async def test_a_sweep_frees_cycles_then_freezes_what_survives() -> None:
    frozen_before = gc.get_freeze_count()
    survivor = [_Node() for _ in range(100)]  # alive: frozen by the sweep
    cycle = _Node()
    cycle.other = cycle  # garbage only the collector can free
    gone = weakref.ref(cycle)
    del cycle
    was_enabled = gc.isenabled()
    gc.disable()  # only the sweep collects here
    try:
        with anyio.move_on_after(0.3):
            await sweep_young_generations(0.05)
        frozen_after = gc.get_freeze_count()
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()  # leave the process as the other tests expect it
    assert gone() is None, "the cycle was frozen instead of freed"
    assert frozen_after >= frozen_before + len(survivor)  # the survivors left the generations
