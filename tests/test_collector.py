"""The garbage-collector helpers: survivors of older-generation collections are frozen."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable

from graphsvc.collector import collect_when_idle, collecting_when_idle, freeze_survivors


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


async def test_young_generations_are_collected_at_quiet_moments_only() -> None:
    """``collect_when_idle`` collects once no request has been worked on for a while,
    and its collections are told apart (they stop no request)."""
    seen: list[tuple[int, bool]] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            seen.append((info["generation"], collecting_when_idle()))

    busy = [1]
    keep = [[_Node() for _ in range(50)] for _ in range(100)]  # 5,000 young survivors
    gc.callbacks.append(callback)
    task = asyncio.create_task(
        collect_when_idle(lambda: busy[0], check_every=0.005, quiet_for=0.01, min_young=100)
    )
    try:
        await asyncio.sleep(0.1)
        assert (1, True) not in seen, "nothing collected while a request is worked on"
        busy[0] = 0
        for _ in range(100):
            await asyncio.sleep(0.01)
            if (1, True) in seen:
                break
        assert (1, True) in seen, "collected once quiet"
        assert all(not idle for gen, idle in seen if gen != 1), "only its own are marked"
    finally:
        task.cancel()
        gc.callbacks.remove(callback)
    assert keep
    assert not collecting_when_idle()
