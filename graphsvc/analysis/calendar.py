"""What is planned in a span of time: changes by planned window, blackout and maintenance windows.

The change calendar (PRODUCT.md 10) reads these. Windows are half-open
``[start, end)`` as everywhere (:mod:`graphsvc.analysis.changes`): a change
planned ``[20:00, 23:00)`` is in a span when the two share a moment.

Changes are found without reading every change's record: the port's
:class:`~graphsvc.store.base.EntityQuery` filters by equal values only (no
ranges) and reads no past, so the finder takes the ids of every change at
``as_of`` (:meth:`~graphsvc.store.base.GraphStore.entity_columns`) and their
indexed ``plannedStart``/``plannedEnd`` (:meth:`~graphsvc.store.base.GraphStore.attribute_column`,
kept in memory by the embedded store, one query on Neo4j), and reads the
records of at most ``most`` changes that fall in the span. Both calls take
``as_of`` on both backends.

Windows' ``start``/``end`` are not indexed attributes, so window records are
read, at most :data:`MAX_WINDOWS_READ` of them (windows are few: a handful per
service); beyond that the answer says how many were not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from graphsvc.analysis._common import Interval, change_window, records, when, window_interval
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import EntityKind, Status
from graphsvc.store.base import GraphStore

__all__ = [
    "MAX_WINDOWS_READ",
    "PlannedChanges",
    "PlannedWindows",
    "changes_planned",
    "windows_in",
]

MAX_WINDOWS_READ = 10_000
"""Most Window records one :func:`windows_in` call reads."""

_RETIRED = Status.RETIRED.code


@dataclass(frozen=True, slots=True)
class PlannedChanges:
    """Changes whose planned window overlaps a span.

    Attributes:
        changes: The first ``most`` of them by planned start (then end, then id),
            each with its planned window.
        total: How many changes overlap the span (``changes`` may be cut).
    """

    changes: tuple[tuple[EntityRecord, Interval], ...]
    total: int


@dataclass(frozen=True, slots=True)
class PlannedWindows:
    """Blackout and maintenance windows overlapping a span, by start.

    Attributes:
        windows: Each window with its interval.
        unread: Windows not read because the graph holds more than
            :data:`MAX_WINDOWS_READ` (``0`` normally).
    """

    windows: tuple[tuple[EntityRecord, Interval], ...]
    unread: int


async def changes_planned(
    store: GraphStore, span: Interval, *, most: int, as_of: datetime | None = None
) -> PlannedChanges:
    """Return the changes (not retired) whose planned window overlaps ``span``.

    A change without a usable planned window (missing, malformed, end not after
    start) is in no span. Closed and cancelled changes are included: the
    calendar shows what was planned; their state says the rest.

    Args:
        store: The store.
        span: The half-open span of time.
        most: Read and answer at most this many changes (``total`` counts all).
        as_of: Read the graph as it was then.
    """
    cols = await store.entity_columns(frozenset({EntityKind.CHANGE}), as_of=as_of)
    ids = cols.ids[cols.statuses != _RETIRED]
    if not ids.shape[0]:
        return PlannedChanges((), 0)
    starts = await store.attribute_column(ids, "plannedStart", as_of=as_of)
    ends = await store.attribute_column(ids, "plannedEnd", as_of=as_of)
    start_at = [when(v) for v in starts.values]
    end_at = [when(v) for v in ends.values]
    found: list[tuple[datetime, datetime, int]] = []
    for entity_id, s, e in zip(
        ids.tolist(), starts.codes.tolist(), ends.codes.tolist(), strict=True
    ):
        a = start_at[s] if s >= 0 else None
        b = end_at[e] if e >= 0 else None
        if a is not None and b is not None and a < b and a < span.end and span.start < b:
            found.append((a, b, int(entity_id)))
    found.sort()
    chosen = found[: max(0, most)]
    recs = await records(store, np.asarray([i for _, _, i in chosen], dtype=np.int64), as_of)
    out = []
    for _, _, i in chosen:
        record = recs.get(i)
        window = change_window(record) if record is not None else None
        if record is not None and window is not None:
            out.append((record, window))
    return PlannedChanges(tuple(out), len(found))


async def windows_in(
    store: GraphStore, span: Interval, *, as_of: datetime | None = None
) -> PlannedWindows:
    """Return the blackout and maintenance windows (not retired) overlapping ``span``, by start.

    A window without a usable ``start``/``end`` is left out; so is one whose
    ``windowType`` is neither ``blackout`` nor ``maintenance``.
    """
    cols = await store.entity_columns(frozenset({EntityKind.WINDOW}), as_of=as_of)
    ids = cols.ids[cols.statuses != _RETIRED]
    unread = max(0, int(ids.shape[0]) - MAX_WINDOWS_READ)
    recs = await records(store, ids[:MAX_WINDOWS_READ], as_of)
    found = []
    for record in recs.values():
        interval = window_interval(record)
        kind = record.attributes.get("windowType")
        if interval is None or kind not in ("blackout", "maintenance"):
            continue
        if interval.overlaps(span):
            found.append((record, interval))
    found.sort(key=lambda pair: (pair[1].start, pair[1].end, pair[0].key))
    return PlannedWindows(tuple(found), unread)
