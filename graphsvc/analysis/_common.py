"""Shared building blocks of the analyses: traversal steps, batched lookups, windows.

Everything here works over the store port only and passes ``as_of`` through to
every store call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from pydantic import JsonValue

from graphsvc.model.records import EntityRecord
from graphsvc.model.validation import parse_datetime
from graphsvc.model.vocabulary import (
    ALL_KINDS,
    VOCABULARY,
    Direction,
    EntityKind,
    RelationType,
    Status,
    TraversalStep,
)
from graphsvc.store.base import GraphStore

I64 = NDArray[np.int64]

SVC = EntityKind.SERVICE
CI = EntityKind.CONFIGURATION_ITEM
SVC_CI = frozenset({SVC, CI})
OPEN_EXCLUDED = frozenset({"closed", "cancelled"})
MAX_PART_OF_LEVELS = 64
"""Inheritance looks at most this many PART_OF hops up (a guard; real hierarchies are shallow)."""


def step(
    type_: RelationType,
    direction: Direction,
    from_kinds: Iterable[EntityKind] = ALL_KINDS,
    to_kinds: Iterable[EntityKind] = ALL_KINDS,
) -> TraversalStep:
    """Return a traversal step (kinds default to every kind)."""
    return TraversalStep(type_, direction, frozenset(from_kinds), frozenset(to_kinds))


# The steps the analyses walk, their kinds taken from the vocabulary's relation rules.
_V, _R, _IN, _OUT = VOCABULARY, RelationType, Direction.IN, Direction.OUT
OWNED_BY = _V.steps(_R.OWNS, _IN)
SUPPORTED_BY = _V.steps(_R.SUPPORTS, _IN)
PART_OF_UP = _V.steps(_R.PART_OF, _OUT, leaving=SVC_CI)
MEMBERS = _V.steps(_R.MEMBER_OF, _IN)
PARENT_TEAMS = _V.steps(_R.PART_OF, _OUT, leaving={EntityKind.TEAM})
MODIFIED_BY = _V.steps(_R.MODIFIES, _IN, reaching={EntityKind.CHANGE})
MODIFIES = _V.steps(_R.MODIFIES, _OUT, leaving={EntityKind.CHANGE})
IMPLEMENTS = _V.steps(_R.IMPLEMENTS, _OUT, reaching={EntityKind.PROJECT})
WINDOWS_ON = _V.steps(_R.APPLIES_TO, _IN)
CONSUMERS = _V.steps(_R.DEPENDS_ON, _IN) + _V.steps(_R.RUNS_ON, _IN)
NEEDS = _V.steps(_R.DEPENDS_ON, _OUT) + _V.steps(_R.RUNS_ON, _OUT)


def restrict(
    steps: Sequence[TraversalStep], to_kinds: frozenset[EntityKind]
) -> list[TraversalStep]:
    """Return ``steps`` narrowed to reach only entities of ``to_kinds`` (empty steps dropped)."""
    out = []
    for s in steps:
        kinds = s.to_kinds & to_kinds
        if kinds:
            out.append(TraversalStep(s.type, s.direction, s.from_kinds, kinds))
    return out


def as_ids(values: Iterable[int] | I64) -> list[int]:
    """Return plain Python ints (the port takes sequences of ints)."""
    if isinstance(values, np.ndarray):
        out: list[int] = values.astype(np.int64, copy=False).tolist()
        return out
    return [int(v) for v in values]


async def records(
    store: GraphStore, ids: Iterable[int], as_of: datetime | None
) -> dict[int, EntityRecord]:
    """Fetch entity records in one store call; unknown ids are left out."""
    unique = sorted(set(as_ids(ids)))
    if not unique:
        return {}
    found = await store.entities(unique, as_of=as_of)
    return {i: r for i, r in zip(unique, found, strict=True) if r is not None}


def is_open(change: EntityRecord) -> bool:
    """Return whether a change is open: its state is not ``closed`` or ``cancelled``."""
    return change.attributes.get("state") not in OPEN_EXCLUDED


def number(value: JsonValue) -> float | None:
    """Return a JSON number as float (``None`` for anything else, booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def when(value: JsonValue) -> datetime | None:
    """Parse an ISO 8601 attribute with a time zone (``None`` when absent or malformed)."""
    return parse_datetime(value) if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open time interval ``[start, end)``."""

    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        """Return whether the two intervals share a moment (touching ones do not)."""
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        """Return whether ``other`` lies wholly inside this interval."""
        return self.start <= other.start and other.end <= self.end

    def describe(self) -> str:
        """Return ``[start, end)`` in ISO 8601."""
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def interval(record: EntityRecord, start: str, end: str) -> Interval | None:
    """Return ``[start, end)`` of two datetime attributes.

    ``None`` when either is missing or malformed, or when end <= start.
    """
    a, b = when(record.attributes.get(start)), when(record.attributes.get(end))
    if a is None or b is None or b <= a:
        return None
    return Interval(a, b)


def change_window(change: EntityRecord) -> Interval | None:
    """Return a change's planned window ``[plannedStart, plannedEnd)``."""
    return interval(change, "plannedStart", "plannedEnd")


def window_interval(window: EntityRecord) -> Interval | None:
    """Return a Window entity's ``[start, end)``."""
    return interval(window, "start", "end")


def label(record: EntityRecord) -> str:
    """Return ``Kind/key`` (``name``) for explanations."""
    text = f"{record.kind.value}/{record.key}"
    if record.name and record.name != record.key:
        text += f" ({record.name})"
    return text


def labels(items: Iterable[EntityRecord], limit: int = 5) -> str:
    """Return up to ``limit`` labels joined with commas, and how many more there are."""
    items = list(items)
    shown = ", ".join(label(r) for r in items[:limit])
    if len(items) > limit:
        shown += f" and {len(items) - limit} more"
    return shown


def missing_required(record: EntityRecord) -> list[str]:
    """Return the required attributes of the record's kind that it lacks."""
    spec = VOCABULARY.kinds[record.kind]
    return [a for a in spec.required_attributes if record.attributes.get(a) is None]


def is_stale(record: EntityRecord) -> bool:
    """Return whether the record is stale."""
    return record.status is Status.STALE


def segment_join(frontier_key: I64, nb_origin: I64, nb_entity: I64, n_keys: int) -> tuple[I64, I64]:
    """Join frontier rows to one-hop results.

    ``frontier_key[i]`` is the index (into the ids passed to ``neighbours``) of
    frontier row ``i``; return ``(row, reached entity)`` for every neighbour of
    every row.
    """
    order = np.argsort(nb_origin, kind="stable")
    ent = nb_entity[order]
    counts = np.bincount(nb_origin, minlength=n_keys).astype(np.int64)
    offsets = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    per_row = counts[frontier_key]
    rows = np.repeat(np.arange(frontier_key.shape[0], dtype=np.int64), per_row)
    if rows.shape[0] == 0:
        return rows, rows.copy()
    starts = np.repeat(offsets[frontier_key], per_row)
    within = np.arange(rows.shape[0], dtype=np.int64) - np.repeat(
        np.cumsum(per_row) - per_row, per_row
    )
    return rows, ent[starts + within]


@dataclass(frozen=True, slots=True)
class Inherited:
    """Batched inheritance result, one row per inherited (entity, team, ancestor).

    ``origin`` (index into the input ids) inherits ``team`` from ``via`` (an
    ancestor that the team serves directly) found ``distance`` PART_OF hops up.
    """

    origin: I64
    team: I64
    via: I64
    distance: I64


async def inherit(
    store: GraphStore,
    ids: I64,
    team_steps: Sequence[TraversalStep],
    as_of: datetime | None,
) -> Inherited:
    """Find inherited teams for many entities at once (PRODUCT.md 4.3).

    For each entity of ``ids`` (services and CIs; other kinds inherit nothing),
    walk ``PART_OF`` upwards level by level; at the first level where some
    ancestors are served directly (``team_steps``: OWNS or SUPPORTS), every team
    of every such ancestor is inherited. Two store calls per level for all the
    entities together; cycles stop because each (entity, ancestor) pair is seen
    once.
    """
    empty = np.zeros(0, dtype=np.int64)
    origin = np.arange(ids.shape[0], dtype=np.int64)
    node = ids.astype(np.int64)
    base = 1 << 31  # entity ids are below 2**31: (origin, ancestor) packs into one int64
    out_o, out_t, out_v, out_d = [empty], [empty], [empty], [empty]
    visited = np.zeros(0, dtype=np.int64)
    level = 0
    while node.shape[0] and level < MAX_PART_OF_LEVELS:
        level += 1
        uniq, inv = np.unique(node, return_inverse=True)
        nb = await store.neighbours(uniq, PART_OF_UP, as_of=as_of)
        if nb.entity.shape[0] == 0:
            break
        rows, up = segment_join(inv.reshape(-1), nb.origin, nb.entity, uniq.shape[0])
        o = origin[rows]
        keys = np.unique(o * base + up)
        # the same (origin, ancestor) pair is never expanded twice: cycles end
        keys = keys[~np.isin(keys, visited, assume_unique=True)]
        visited = np.union1d(visited, keys)
        o, up = keys // base, keys % base
        if o.shape[0] == 0:
            break
        anc, anc_inv = np.unique(up, return_inverse=True)
        teams = await store.neighbours(anc, team_steps, as_of=as_of)
        served = np.zeros(anc.shape[0], dtype=np.bool_)
        served[teams.origin] = True
        hit = served[anc_inv.reshape(-1)]
        if hit.any():
            done = np.unique(o[hit])
            ro, ra = segment_join(
                anc_inv.reshape(-1)[hit], teams.origin, teams.entity, anc.shape[0]
            )
            hit_o, hit_up = o[hit], up[hit]
            out_o.append(hit_o[ro])
            out_v.append(hit_up[ro])
            out_t.append(ra)
            out_d.append(np.full(ro.shape[0], level, dtype=np.int64))
            keep = ~np.isin(o, done)
            o, up = o[keep], up[keep]
        origin, node = o, up
    return Inherited(
        np.concatenate(out_o), np.concatenate(out_t), np.concatenate(out_v), np.concatenate(out_d)
    )
