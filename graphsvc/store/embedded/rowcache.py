"""Rows of the embedded store's file kept in memory, valid for one state of the index.

Portals read the same entities again and again (a service page, its owners).
Each read from SQLite costs statements, row steps and a hand-over of the GIL per
row, which, while another thread computes (an ingest batch being planned), means
waiting up to a switch interval each time. :class:`RowCache` keeps the rows the
store last read, by id, for as long as the store's state does not change.

Validity: every commit bumps :attr:`GraphIndex.version
<graphsvc.store.embedded.index.GraphIndex.version>` (after its SQLite ``COMMIT``,
under the index lock), and a reload replaces the index. An entry is served only
while the (index, version) it was read at is still current; rows read are stored
only when the state did not change between just before the read and just after
it. At the bump, :meth:`RowCache.advance` drops the rows the commit wrote and
carries the others over to the new version: an importer that writes a batch
every second then no longer empties the cache a portal reads from. A row read
at a snapshot older than a commit can therefore never be served after that
commit: either it was stored before the bump, and the bump drops it if the
commit wrote it (an unwritten row is the same at both versions), or it was
stored after, which the state check refuses. One read just after the ``COMMIT``
but stored under the previous version is the new row, or is dropped at the bump.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

__all__ = ["RowCache", "State"]

V = TypeVar("V")

State = tuple[object, int]
"""The state rows are valid for: the index object and its version."""


class RowCache(Generic[V]):
    """Values by id for one state of the store; oldest entries dropped past ``capacity``.

    Args:
        capacity: Most entries kept (0 disables the cache).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._state: State | None = None
        self._values: dict[int, V] = {}
        self.hits = 0
        self.misses = 0

    def _valid_for(self, state: State) -> bool:
        current = self._state
        return current is not None and current[0] is state[0] and current[1] == state[1]

    def read(
        self,
        ids: Iterable[int],
        state: Callable[[], State],
        load: Callable[[list[int]], Mapping[int, V]],
    ) -> dict[int, V]:
        """Return the values of ``ids`` that exist, from memory or from ``load``.

        Args:
            ids: The ids wanted (duplicates allowed).
            state: The store's current state (called before and after ``load``).
            load: Reads the missing ids from the file; ids it leaves out do not
                exist (they are not remembered).
        """
        wanted = set(ids)
        before = state()
        found: dict[int, V] = {}
        if self.capacity:
            with self._lock:
                if self._valid_for(before):
                    values = self._values
                    for i in wanted:
                        value = values.get(i)
                        if value is not None:
                            found[i] = value
            self.hits += len(found)
        missing = sorted(wanted - found.keys())
        if not missing:
            return found
        self.misses += len(missing)
        loaded = load(missing)
        found.update(loaded)
        if self.capacity and loaded and state() == before:
            self._remember(before, loaded)
        return found

    def advance(self, was: State, now: State, written: Iterable[int] | None) -> None:
        """Carry the entries over a commit that moved the store from ``was`` to ``now``.

        Called by the committer just after the bump, under the index lock. A
        reader that saw ``now`` before this call may already have moved the cache
        to ``now`` (with rows read after the ``COMMIT``): those are kept.

        Args:
            was: The state just before the commit.
            now: The state the commit made.
            written: Ids whose rows the commit inserted, updated or deleted;
                ``None`` when the commit may have changed any row (all are dropped).
                A cache that does not hold ``was`` rows keeps nothing: it
                cannot know what the commits in between wrote.
        """
        with self._lock:
            if self._valid_for(now):
                return
            if not self._valid_for(was):
                self._state = None
                self._values.clear()
                return
            values = self._values
            if written is None:
                values.clear()
            elif values:
                stale = values.keys() & set(written)
                for i in stale:
                    del values[i]
            self._state = now

    def _remember(self, state: State, loaded: Mapping[int, V]) -> None:
        with self._lock:
            if not self._valid_for(state):
                current = self._state
                if current is not None and current[0] is state[0] and current[1] > state[1]:
                    return  # read at an older version than the cache has moved on to
                self._state = state
                self._values.clear()  # the same (old, frozen) dict: no young container
            values = self._values
            values.update(loaded)
            overflow = len(values) - self.capacity
            if overflow > 0:
                for stale in list(values)[:overflow]:
                    del values[stale]
