"""Pausing Python's cyclic garbage collector around work that builds many objects.

A collection stops every thread of the process, for as long as it takes to walk
the young objects. Work that builds a large structure which stays alive until it
ends (a report of a large blast radius, an ingest batch of thousands of items)
would have every automatic collection walk it again and again: slower work, and
pauses of many milliseconds for every request served beside it. Reference
counting still frees what such work drops while the collector is paused.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

__all__ = [
    "collect_when_idle",
    "collecting_when_idle",
    "collector_paused",
    "freeze_survivors",
    "gc_paused",
]

P = ParamSpec("P")
T = TypeVar("T")

_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the block runs.

    Measured: a report of a 50,000-entity blast radius took twice as long with
    the collector running; an ingest batch of 5,000 items made collections of up
    to 18 ms while it was applied. Cycles made while paused are collected once
    the collector resumes. Nested and
    concurrent uses (threads, interleaved coroutines) are counted: the
    collector resumes when the last one ends, and only if it was running before
    the first began.
    """
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


def collector_paused(
    work: Callable[P, Awaitable[T]],
) -> Callable[P, Awaitable[T]]:
    """``work`` (a coroutine function) with the collector paused while it runs (:func:`gc_paused`).

    For work that keeps many objects alive until it ends: an ingest batch of
    thousands of items (collections walking them paused every request served
    beside it for up to 18 ms at 5,000 items), the health of a large graph (up
    to 36 ms at 1M entities).
    """

    @functools.wraps(work)
    async def paused(*args: P.args, **kwargs: P.kwargs) -> T:
        with gc_paused():
            return await work(*args, **kwargs)

    return paused


def freeze_survivors(schedule: Callable[[Callable[[], None]], object]) -> Callable[[], None]:
    """After every collection of an older generation, freeze what survived it.

    A server's long-lived objects (caches filled while serving, the store's
    in-memory rows) would otherwise be walked again by every collection of the
    generation they sit in, a pause of every thread that grows with them (17 ms
    measured for one collection at 1M entities). Frozen objects are never walked
    again; reference counting still frees them when they are dropped. The cost:
    a frozen object that later becomes part of a reference cycle is not freed;
    requests leave no such cycles (``tests/api/test_no_cyclic_garbage.py``), and
    ``gc.get_freeze_count()`` (the ``graphsvc_gc_frozen_objects`` gauge) shows it.

    Args:
        schedule: Runs a function soon, outside the collection (the server's
            ``loop.call_soon_threadsafe``); the collector's own callback must not
            move objects between generations while it runs.

    Returns:
        The function that stops it.
    """

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info.get("generation", 0) >= 1:
            schedule(gc.freeze)

    gc.callbacks.append(callback)
    return lambda: gc.callbacks.remove(callback)


_idle_collection = threading.local()


def collecting_when_idle() -> bool:
    """Whether the collection running in this thread is one :func:`collect_when_idle` started.

    Read by the collector's callbacks (which run in the thread that collects): such
    a collection stops no request, so the pause metrics count it apart.
    """
    return bool(getattr(_idle_collection, "active", False))


async def collect_when_idle(
    busy: Callable[[], int],
    *,
    check_every: float = 0.02,
    quiet_for: float = 0.04,
    min_young: int = 1000,
) -> None:
    """Collect the young generations at moments no request is being worked on; run forever.

    Left to itself the collector runs when allocations cross its thresholds,
    that is in the middle of requests, and a collection of the middle generation
    walks everything that survived the youngest ten (21 ms measured at 1M
    entities, all of it added to the requests in flight). Run at a quiet
    moment instead, the same collection delays nobody, and the automatic ones
    that still come under continuous load find little left to walk. With
    :func:`freeze_survivors` on, what such a collection leaves is frozen: at a
    quiet moment that is what outlives requests (caches, open connections),
    not a request's working set.

    Args:
        busy: The number of requests being worked on (0: quiet), read on this loop.
        check_every: Seconds between two looks.
        quiet_for: Seconds ``busy`` must have stayed 0 before a collection.
        min_young: Fewer new objects than this in the youngest generation, and
            none in the middle one: nothing worth a collection.
    """
    quiet_since: float | None = None
    while True:
        await asyncio.sleep(check_every)
        if busy():
            quiet_since = None
            continue
        now = time.monotonic()
        if quiet_since is None:
            quiet_since = now
            continue
        young, middle, _ = gc.get_count()
        if now - quiet_since < quiet_for or (young < min_young and middle == 0):
            continue
        _idle_collection.active = True
        try:
            gc.collect(1)
        finally:
            _idle_collection.active = False
        quiet_since = None
