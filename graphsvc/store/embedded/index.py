"""The embedded store's in-memory index: structure, keys and traversal state.

The SQLite file is the source of truth; this index is rebuilt from it on open and
updated after every commit, under :attr:`GraphIndex.lock`, so that a reader
holding the lock sees the state before or after a batch and never part of one.

What it holds, per entity id: kind, status and creation time (numpy arrays); per
relation id: type, endpoints, status, creation time and redundancy group code;
keys and aliases per kind; identifiers; the (type, from, to) -> relation id
index; CSR adjacency in both directions (a base layer plus a delta of relations
added since the base was built); and the logs of status and redundancy-group
changes that answer ``as_of`` walks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import orjson
from numpy.typing import NDArray
from pydantic import JsonValue

from graphsvc.model.vocabulary import VOCABULARY, TraversalStep, Vocabulary
from graphsvc.store.embedded.kernel import counting_order

__all__ = ["Adjacency", "GraphIndex", "Layers", "triple_key"]

Layers = tuple[NDArray[Any], ...]
"""CSR arrays: (indptr, neighbour, relation id, type code) per direction and layer."""

_TYPE_SHIFT = 58
_SRC_SHIFT = 29
_ID_LIMIT = 1 << 29
MAX_MICROS = np.iinfo(np.int64).max
_AS_OF_MEMO = 8  # past-state arrays kept per index (each up to a few tens of MB)
_T = TypeVar("_T")


def triple_key(type_code: int, src: int, dst: int) -> int:
    """Pack (type code, from id, to id) into one int64 (ids below 2**29)."""
    return (type_code << _TYPE_SHIFT) | (src << _SRC_SHIFT) | dst


class _Column:
    """A growable numpy column indexed by id."""

    __slots__ = ("data", "fill")

    def __init__(self, dtype: type[np.generic], fill: int = 0, capacity: int = 1024) -> None:
        self.fill = fill
        self.data: NDArray[Any] = np.full(capacity, fill, dtype=dtype)

    def ensure(self, size: int) -> None:
        if size > self.data.shape[0]:
            new = np.full(max(size, self.data.shape[0] * 2), self.fill, dtype=self.data.dtype)
            new[: self.data.shape[0]] = self.data
            self.data = new


class AttributeIndex:
    """One indexed attribute of every entity, dictionary-encoded in memory.

    ``codes.data[entity id]`` is an index into ``values`` (``-1``: not stated).
    Values are JSON scalars; ``1``, ``1.0``, ``true`` and ``"1"`` stay distinct
    (they are told apart by their JSON text).
    """

    __slots__ = ("codes", "lookup", "name", "values")

    def __init__(self, name: str) -> None:
        self.name = name
        self.codes = _Column(np.int32, -1)
        self.values: list[JsonValue] = []
        self.lookup: dict[str, int] = {}

    def code_of(self, value: JsonValue) -> int:
        """Return the code of ``value``, adding it to the dictionary when new (-1 for None)."""
        if value is None:
            return -1
        marker = orjson.dumps(value).decode()
        code = self.lookup.get(marker)
        if code is None:
            code = self.lookup[marker] = len(self.values)
            self.values.append(value)
        return code

    def set(self, entity_id: int, value: JsonValue) -> None:
        """Record the value an entity states now (``None``: states none)."""
        self.codes.ensure(entity_id + 1)
        self.codes.data[entity_id] = self.code_of(value)


@dataclass(frozen=True, slots=True)
class Adjacency:
    """Both CSR layers in both directions, as the kernels take them.

    ``arrays`` holds 20 arrays: base-out, base-in, delta-out, delta-in, each as
    (indptr, neighbour, relation id, slot code, per-node type bitmask).
    """

    arrays: Layers

    def csr(self, delta: bool, direction_in: bool) -> Layers:
        """Return one (indptr, neighbour, relation, code, type bitmask) CSR."""
        start = (10 if delta else 0) + (5 if direction_in else 0)
        return self.arrays[start : start + 5]


def slot_codes(types: NDArray[Any], statuses: NDArray[Any]) -> NDArray[np.uint8]:
    """Pack relation type codes (bits 0-4) and statuses (bits 5-6) into slot codes."""
    return (types.astype(np.uint8) | (statuses.astype(np.uint8) << 5)).astype(np.uint8)


def _csr(
    n_nodes: int,
    keys: NDArray[Any],
    values: NDArray[Any],
    rel_ids: NDArray[np.int64],
    codes: NDArray[Any],
) -> tuple[Layers, NDArray[np.int64]]:
    """Build one CSR; also return, per position of ``rel_ids``, the slot it went to."""
    order = counting_order(keys, n_nodes)
    counts = np.bincount(keys, minlength=n_nodes)
    indptr = np.zeros(n_nodes + 1, dtype=np.uint64)
    np.cumsum(counts, out=indptr[1:])
    slots = np.empty(order.shape[0], dtype=np.int64)
    slots[order] = np.arange(order.shape[0], dtype=np.int64)
    sorted_codes = codes[order].astype(np.uint8)
    type_bits = np.zeros(n_nodes, dtype=np.uint32)
    if sorted_codes.shape[0]:
        bits = np.left_shift(np.uint32(1), (sorted_codes & 31).astype(np.uint32))
        present = np.flatnonzero(counts)
        type_bits[present] = np.bitwise_or.reduceat(bits, indptr[present].astype(np.int64))
    return (
        indptr,
        values[order].astype(np.uint32),
        rel_ids[order].astype(np.uint32),
        sorted_codes,
        type_bits,
    ), slots


class GraphIndex:
    """In-memory state of the embedded store (see the module docstring).

    Entity and relation ids start at 1; slot 0 is unused. Not thread-safe by
    itself: callers hold :attr:`lock` (readers and the committing writer alike).
    """

    def __init__(self, vocabulary: Vocabulary = VOCABULARY) -> None:
        self.vocabulary = vocabulary
        self.lock = threading.RLock()
        self.n_entities = 0  # highest entity id in use
        self.n_relations = 0  # highest relation id in use
        self.e_kind = _Column(np.int8, -1)
        self.e_status = _Column(np.int8, 3)
        self.e_code = _Column(np.uint8, 3 << 4)  # kind | status << 4, what kernels read
        self.e_created = _Column(np.int64, int(MAX_MICROS))
        self.r_type = _Column(np.int8, 0)
        self.r_src = _Column(np.int32, 0)
        self.r_dst = _Column(np.int32, 0)
        self.r_status = _Column(np.int8, 3)
        self.r_created = _Column(np.int64, int(MAX_MICROS))
        self.r_group = _Column(np.int32, -1)
        self.attributes: dict[str, AttributeIndex] = {
            name: AttributeIndex(name) for name in vocabulary.indexed_attributes
        }
        n_kinds = vocabulary.max_kind_code + 1
        self.keys: list[dict[str, int]] = [{} for _ in range(n_kinds)]
        # identifier key -> the one unmerged entity holding it (any status), and
        # for the rare values several hold (a retired host's IP reused, or
        # holders from before the identification rule), every holder
        self.identifiers: dict[str, int] = {}
        self.shared_identifiers: dict[str, set[int]] = {}
        self.survivor: dict[int, int] = {}
        self.group_codes: dict[str, int] = {}
        self.group_names: list[str] = []
        self._triples_base_keys: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._triples_base_ids: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._triples_delta: dict[int, int] = {}
        self._csr_n = 0  # relations [1, csr_n] are in the base layer
        self._base: Layers = self._empty_layers()
        self._slot_out: NDArray[np.int64] = np.empty(0, dtype=np.int64)  # relation id -> base slot
        self._slot_in: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._delta: Layers | None = None
        self._delta_ids: list[int] = []
        self.status_log_at: list[int] = []
        self.status_log_item: list[int] = []
        self.status_log_old: list[int] = []
        self.group_log_at: list[int] = []
        self.group_log_rel: list[int] = []
        self.group_log_old: list[int] = []
        self.last_commit = 0
        self.version = 0  # bumped by every commit
        self._as_of_memo: dict[tuple[str, int], tuple[int, Any]] = {}
        # when each entity last had a history event; built on first need (asOf reads)
        self.e_changed: _Column | None = None
        self._stamp = np.zeros(1, dtype=np.uint32)
        self._pos = np.zeros(1, dtype=np.int64)
        self._mark = 0
        self._buffers: tuple[NDArray[Any], ...] = (
            np.zeros(1, dtype=np.uint32),
            *(np.zeros(1, dtype=np.int64) for _ in range(3)),
        )
        self.kernel_lock = threading.Lock()

    @staticmethod
    def _empty_layers() -> Layers:
        z64 = np.zeros(1, dtype=np.uint64)
        z32 = np.empty(0, dtype=np.uint32)
        z8 = np.empty(0, dtype=np.uint8)
        return (z64, z32, z32, z8, z32, z64, z32, z32, z8, z32)

    # ------------------------------------------------------------------ entities
    @staticmethod
    def identifier_key(kind_code: int, id_type: str, value: str) -> str:
        """Return the dictionary key of an identifier of a kind."""
        return f"{kind_code}\x1f{id_type}\x1f{value}"

    def identifier_holders(self, key: str) -> tuple[int, ...]:
        """Every unmerged entity holding identifier ``key``, any status, by id."""
        shared = self.shared_identifiers.get(key)
        if shared is not None:
            return tuple(sorted(shared))
        one = self.identifiers.get(key)
        return () if one is None else (one,)

    def hold_identifier(self, key: str, entity_id: int) -> None:
        """Record that ``entity_id`` holds identifier ``key``."""
        shared = self.shared_identifiers.get(key)
        if shared is not None:
            shared.add(entity_id)
            return
        one = self.identifiers.setdefault(key, entity_id)
        if one != entity_id:
            del self.identifiers[key]
            self.shared_identifiers[key] = {one, entity_id}

    def release_identifier(self, key: str, entity_id: int) -> None:
        """Record that ``entity_id`` no longer holds identifier ``key`` (no-op if it did not)."""
        shared = self.shared_identifiers.get(key)
        if shared is None:
            if self.identifiers.get(key) == entity_id:
                del self.identifiers[key]
            return
        shared.discard(entity_id)
        if len(shared) == 1:
            self.identifiers[key] = shared.pop()
            del self.shared_identifiers[key]

    def add_entity(self, entity_id: int, kind_code: int, status: int, created: int) -> None:
        """Record a new entity (its keys and identifiers are added separately)."""
        if entity_id >= _ID_LIMIT:
            msg = "the embedded store holds at most 2**29 entities"
            raise OverflowError(msg)
        for col in (self.e_kind, self.e_status, self.e_code, self.e_created):
            col.ensure(entity_id + 1)
        self.e_kind.data[entity_id] = kind_code
        self.e_status.data[entity_id] = status
        self.e_code.data[entity_id] = kind_code | (status << 4)
        self.e_created.data[entity_id] = created
        self.n_entities = max(self.n_entities, entity_id)

    def add_entities(
        self,
        ids: NDArray[np.int64],
        kinds: NDArray[np.int8],
        statuses: NDArray[np.int8],
        created: NDArray[np.int64],
    ) -> None:
        """Record many new entities at once (bulk form of :meth:`add_entity`)."""
        if ids.shape[0] == 0:
            return
        top = int(ids.max())
        if top >= _ID_LIMIT:
            msg = "the embedded store holds at most 2**29 entities"
            raise OverflowError(msg)
        for col in (self.e_kind, self.e_status, self.e_code, self.e_created):
            col.ensure(top + 1)
        self.e_kind.data[ids] = kinds
        self.e_status.data[ids] = statuses
        self.e_code.data[ids] = kinds.astype(np.uint8) | (statuses.astype(np.uint8) << 4)
        self.e_created.data[ids] = created
        self.n_entities = max(self.n_entities, top)

    def load_changed(self, ids: NDArray[np.int64], at: NDArray[np.int64]) -> None:
        """Start tracking when each entity last had a history event (``ids``/``at`` pairs)."""
        column = _Column(np.int64, 0, capacity=self.n_entities + 2)
        column.data[ids] = at
        self.e_changed = column

    def mark_changed(self, ids: Iterable[int], at: int) -> None:
        """Record that these entities had a history event at ``at`` (once tracking started)."""
        column = self.e_changed
        if column is None:
            return
        for entity_id in ids:
            column.ensure(entity_id + 1)
            column.data[entity_id] = at

    def set_attributes(self, entity_id: int, attributes: Mapping[str, JsonValue]) -> None:
        """Record the indexed attributes of an entity's current attributes."""
        for name, column in self.attributes.items():
            column.set(entity_id, attributes.get(name))

    def set_attributes_many(
        self, entity_ids: Sequence[int], attributes: Sequence[Mapping[str, JsonValue]]
    ) -> None:
        """:meth:`set_attributes` for many entities at once (one array write per column).

        A commit of thousands of entities holds the index lock, which every read
        waits for, while it indexes them: one write per column and batch instead
        of one per column and entity. An id given twice takes its last attributes.
        """
        last = dict(zip(entity_ids, attributes, strict=True))
        if not last:
            return
        columns = self.attributes
        codes = {name: [-1] * len(last) for name in columns}
        for row, stated in enumerate(last.values()):
            for name, value in stated.items():  # an entity's own few, not every column
                column_codes = codes.get(name)
                if column_codes is not None and value is not None:
                    column_codes[row] = columns[name].code_of(value)
        ids = np.fromiter(last, dtype=np.int64, count=len(last))
        top = int(ids.max()) + 1
        for name, column in columns.items():
            column.codes.ensure(top)
            column.codes.data[ids] = codes[name]

    def resolve_many(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Return the survivors of merged ids (vectorised :meth:`resolve`).

        Ids outside ``[1, n_entities]`` become ``0`` (no entity).
        """
        out = np.where((ids > 0) & (ids <= self.n_entities), ids, 0).astype(np.int64)
        if self.survivor:
            merged = np.fromiter(self.survivor, dtype=np.int64, count=len(self.survivor))
            hit = np.flatnonzero(np.isin(out, merged))
            for i in hit.tolist():
                out[i] = self.resolve(int(out[i]))
        return out

    def set_entity_status(self, entity_id: int, status: int) -> None:
        """Change an entity's status (the kernels' packed code follows)."""
        self.e_status.data[entity_id] = status
        self.e_code.data[entity_id] = int(self.e_kind.data[entity_id]) | (status << 4)

    def set_relation_status(self, relation_id: int, status: int) -> None:
        """Change a relation's status, in its column and in the CSR slots that hold it."""
        self.r_status.data[relation_id] = status
        if relation_id <= self._csr_n and relation_id < self._slot_out.shape[0]:
            code = int(self.r_type.data[relation_id]) | (status << 5)
            self._base[3][self._slot_out[relation_id]] = code
            self._base[8][self._slot_in[relation_id]] = code
        else:
            self._delta = None  # rebuilt with the new status on the next walk

    def resolve(self, entity_id: int) -> int:
        """Return the survivor of a merged id (the id itself otherwise)."""
        seen = 0
        while entity_id in self.survivor and seen < 64:
            entity_id = self.survivor[entity_id]
            seen += 1
        return entity_id

    # ----------------------------------------------------------------- relations
    def add_relations(
        self,
        ids: NDArray[np.int64],
        types: NDArray[np.int8],
        srcs: NDArray[np.int64],
        dsts: NDArray[np.int64],
        statuses: NDArray[np.int8],
        created: NDArray[np.int64],
        groups: NDArray[np.int32],
    ) -> None:
        """Record new relations (ids above every existing relation id)."""
        if ids.shape[0] == 0:
            return
        top = int(ids.max())
        for col in (
            self.r_type,
            self.r_src,
            self.r_dst,
            self.r_status,
            self.r_created,
            self.r_group,
        ):
            col.ensure(top + 1)
        self.r_type.data[ids] = types
        self.r_src.data[ids] = srcs
        self.r_dst.data[ids] = dsts
        self.r_status.data[ids] = statuses
        self.r_created.data[ids] = created
        self.r_group.data[ids] = groups
        keys = (
            (types.astype(np.int64) << _TYPE_SHIFT)
            | (srcs.astype(np.int64) << _SRC_SHIFT)
            | dsts.astype(np.int64)
        )
        self._triples_delta.update(zip(keys.tolist(), ids.tolist(), strict=True))
        self._delta_ids.extend(ids.tolist())
        self._delta = None
        self.n_relations = max(self.n_relations, top)
        if len(self._triples_delta) > max(200_000, self._triples_base_keys.shape[0] // 4):
            self._merge_triples()

    def reserve_relations(self, top: int) -> None:
        """Size the relation columns for ids up to ``top`` at once (before a bulk load)."""
        for col in (
            self.r_type,
            self.r_src,
            self.r_dst,
            self.r_status,
            self.r_created,
            self.r_group,
        ):
            col.ensure(top + 1)

    def load_relation_columns(self, first_id: int, rows: NDArray[np.int64]) -> None:
        """Fill the columns of relations ``first_id``, ``first_id + 1``, … from stored rows.

        Each row is (src << 30 | dst, type << 8 | status, created). Used when the
        store is opened; the (type, from, to) index and the adjacency are
        rebuilt afterwards with :meth:`rebuild_triples` and :meth:`rebuild_base`.
        """
        if rows.shape[0] == 0:
            return
        top = first_id + rows.shape[0] - 1
        self.reserve_relations(top)
        span = slice(first_id, top + 1)
        self.r_src.data[span] = rows[:, 0] >> 30
        self.r_dst.data[span] = rows[:, 0] & ((1 << 30) - 1)
        self.r_type.data[span] = rows[:, 1] >> 8
        self.r_status.data[span] = rows[:, 1] & 255
        self.r_created.data[span] = rows[:, 2]
        self.n_relations = max(self.n_relations, top)

    def group_code(self, name: str | None) -> int:
        """Return the integer code of a redundancy group name (``-1`` for none)."""
        if name is None:
            return -1
        code = self.group_codes.get(name)
        if code is None:
            code = len(self.group_names)
            self.group_codes[name] = code
            self.group_names.append(name)
        return code

    def _merge_triples(self) -> None:
        if not self._triples_delta:
            return
        dk = np.fromiter(self._triples_delta.keys(), dtype=np.int64, count=len(self._triples_delta))
        dv = np.fromiter(
            self._triples_delta.values(), dtype=np.int64, count=len(self._triples_delta)
        )
        keys = np.concatenate([self._triples_base_keys, dk])
        vals = np.concatenate([self._triples_base_ids, dv])
        order = np.argsort(keys, kind="stable")
        self._triples_base_keys = keys[order]
        self._triples_base_ids = vals[order]
        self._triples_delta = {}

    def rebuild_triples(self) -> None:
        """Rebuild the (type, from, to) index from the relation columns.

        Live and retired relations are indexed; merged ones are not.
        """
        n = self.n_relations
        ids = np.arange(1, n + 1, dtype=np.int64)
        keep = self.r_status.data[1 : n + 1] != 3
        ids = ids[keep]
        keys = (
            (self.r_type.data[ids].astype(np.int64) << _TYPE_SHIFT)
            | (self.r_src.data[ids].astype(np.int64) << _SRC_SHIFT)
            | self.r_dst.data[ids].astype(np.int64)
        )
        order = np.argsort(keys, kind="stable")
        self._triples_base_keys = keys[order]
        self._triples_base_ids = ids[order]
        self._triples_delta = {}

    def find_relations(self, keys: Sequence[int]) -> list[int]:
        """Return the relation id of each packed triple key, ``0`` when absent."""
        if not keys:
            return []
        arr = np.asarray(keys, dtype=np.int64)
        out = np.zeros(arr.shape[0], dtype=np.int64)
        base = self._triples_base_keys
        if base.shape[0]:
            idx = np.searchsorted(base, arr)
            idx_c = np.minimum(idx, base.shape[0] - 1)
            hit = base[idx_c] == arr
            out[hit] = self._triples_base_ids[idx_c[hit]]
        result = out.tolist()
        delta = self._triples_delta
        if delta:
            for i, key in enumerate(keys):
                found = delta.get(key)
                if found is not None:
                    result[i] = found
        # a relation merged away keeps its slot in the base arrays until the
        # next rebuild: filter those out
        status = self.r_status.data
        return [r if r and status[r] != 3 else 0 for r in result]

    def forget_triple(self, key: int) -> None:
        """Drop a packed triple from the delta index (the base is filtered by status)."""
        self._triples_delta.pop(key, None)

    # ----------------------------------------------------------------- adjacency
    def rebuild_base(self) -> None:
        """Rebuild the base CSR layers over every relation (delta becomes empty)."""
        n = self.n_relations
        n_nodes = self.n_entities + 1
        ids = np.arange(1, n + 1, dtype=np.int64)
        src = self.r_src.data[1 : n + 1]
        dst = self.r_dst.data[1 : n + 1]
        codes = slot_codes(self.r_type.data[1 : n + 1], self.r_status.data[1 : n + 1])
        out, out_slots = _csr(n_nodes, src, dst, ids, codes)
        inn, in_slots = _csr(n_nodes, dst, src, ids, codes)
        self._base = (*out, *inn)
        self._slot_out = np.concatenate([[-1], out_slots])
        self._slot_in = np.concatenate([[-1], in_slots])
        self._csr_n = n
        self._delta_ids = []
        self._delta = None

    def adjacency(self) -> Adjacency:
        """Return the CSR layers, rebuilding the delta (or the base) when stale."""
        if len(self._delta_ids) > max(100_000, self._csr_n // 8):
            self.rebuild_base()
        if self._delta is None:
            n_nodes = self.n_entities + 1
            if self._delta_ids:
                ids = np.asarray(self._delta_ids, dtype=np.int64)
                src = self.r_src.data[ids]
                dst = self.r_dst.data[ids]
                codes = slot_codes(self.r_type.data[ids], self.r_status.data[ids])
                self._delta = (
                    *_csr(n_nodes, src, dst, ids, codes)[0],
                    *_csr(n_nodes, dst, src, ids, codes)[0],
                )
            else:
                self._delta = self._empty_layers()
        return Adjacency((*self._base, *self._delta))

    def walkable_rows(self) -> int:
        """Return the number of entity slots the kernels may index (ids 0..n)."""
        return self.n_entities + 1

    def walk_buffers(self) -> tuple[NDArray[Any], ...]:
        """Return the four reusable output buffers of a walk (order, depth, parent, via).

        Reusing them spares a walk the page faults of fresh memory. Callers hold
        :attr:`kernel_lock` while they use them.
        """
        size = self.n_entities + 1
        if self._buffers[0].shape[0] < size:
            grown = max(size, self._buffers[0].shape[0] * 2)
            self._buffers = (
                np.zeros(grown, dtype=np.uint32),
                *(np.zeros(grown, dtype=np.int64) for _ in range(3)),
            )
        return self._buffers

    def scratch(self) -> tuple[NDArray[np.uint32], NDArray[np.int64], np.uint32]:
        """Return the visited-stamp array, the position array and a fresh mark.

        Callers hold :attr:`kernel_lock` while they use them.
        """
        size = self.n_entities + 1
        if self._stamp.shape[0] < size:
            self._stamp = np.zeros(max(size, self._stamp.shape[0] * 2), dtype=np.uint32)
            self._pos = np.zeros(self._stamp.shape[0], dtype=np.int64)
            self._mark = 0
        self._mark += 1
        if self._mark >= np.iinfo(np.uint32).max:
            self._stamp[:] = 0
            self._mark = 1
        return self._stamp, self._pos, np.uint32(self._mark)

    # --------------------------------------------------------------------- masks
    def step_mask(self, steps: Iterable[TraversalStep]) -> NDArray[np.int64]:
        """Pack traversal steps into the kernels' ``mask[type_code, direction]``."""
        vocab = self.vocabulary
        mask = np.zeros((vocab.max_type_code + 1, 2), dtype=np.int64)
        for step in steps:
            code = vocab.type_code(step.type)
            d = 0 if step.direction.value == "out" else 1
            m = int(mask[code, d])
            for k in step.from_kinds:
                m |= 1 << vocab.kind_code(k)
            for k in step.to_kinds:
                m |= 1 << (16 + vocab.kind_code(k))
            mask[code, d] = m
        return mask

    # -------------------------------------------------------------------- as of
    def log_status(self, at: int, item: int, old: int) -> None:
        """Remember that ``item`` (encoded ref) left status ``old`` at ``at``."""
        self.status_log_at.append(at)
        self.status_log_item.append(item)
        self.status_log_old.append(old)

    def log_group(self, at: int, relation_id: int, old_code: int) -> None:
        """Remember that a relation's redundancy group was ``old_code`` until ``at``."""
        self.group_log_at.append(at)
        self.group_log_rel.append(relation_id)
        self.group_log_old.append(old_code)

    def _memo(self, what: str, as_of: int, build: Callable[[], _T]) -> _T:
        """Return ``build()``, reused while no commit happened since.

        One analysis asks for the same past arrays several times. Callers must
        not modify what this returns.
        """
        key = (what, as_of)
        hit = self._as_of_memo.get(key)
        if hit is not None and hit[0] == self.version:
            return cast("_T", hit[1])
        value = build()
        if len(self._as_of_memo) >= _AS_OF_MEMO:
            self._as_of_memo.clear()
        self._as_of_memo[key] = (self.version, value)
        return value

    def entity_codes_as_of(self, as_of: int) -> tuple[NDArray[Any], NDArray[Any]]:
        """Return (entity code, relation status) arrays as they were at ``as_of``."""
        return self._memo("codes", as_of, lambda: self._entity_codes_as_of(as_of))

    def _entity_codes_as_of(self, as_of: int) -> tuple[NDArray[Any], NDArray[Any]]:
        e_status, r_status = self.statuses_as_of(as_of)
        n = self.n_entities + 1
        codes = self.e_kind.data[:n].astype(np.uint8) | (e_status[:n].astype(np.uint8) << 4)
        return codes, r_status

    def statuses_as_of(self, as_of: int) -> tuple[NDArray[Any], NDArray[Any]]:
        """Return (entity status, relation status) arrays as they were at ``as_of``."""
        return self._memo("statuses", as_of, lambda: self._statuses_as_of(as_of))

    def _statuses_as_of(self, as_of: int) -> tuple[NDArray[Any], NDArray[Any]]:
        e = self.e_status.data[: self.n_entities + 1].copy()
        r = self.r_status.data[: self.n_relations + 1].copy()
        if not self.status_log_at:
            return e, r
        at = np.asarray(self.status_log_at, dtype=np.int64)
        start = int(np.searchsorted(at, as_of, side="right"))
        if start >= at.shape[0]:
            return e, r
        items = np.asarray(self.status_log_item[start:], dtype=np.int64)
        old = np.asarray(self.status_log_old[start:], dtype=np.int8)
        _, first = np.unique(items, return_index=True)
        items, old = items[first], old[first]
        is_rel = (items & 1).astype(bool)
        ids = items >> 1
        e[ids[~is_rel]] = old[~is_rel]
        r[ids[is_rel]] = old[is_rel]
        return e, r

    def groups_as_of(self, as_of: int) -> NDArray[Any]:
        """Return the relation redundancy-group codes as they were at ``as_of``."""
        return self._memo("groups", as_of, lambda: self._groups_as_of(as_of))

    def _groups_as_of(self, as_of: int) -> NDArray[Any]:
        g = self.r_group.data[: self.n_relations + 1].copy()
        if not self.group_log_at:
            return g
        at = np.asarray(self.group_log_at, dtype=np.int64)
        start = int(np.searchsorted(at, as_of, side="right"))
        if start >= at.shape[0]:
            return g
        rels = np.asarray(self.group_log_rel[start:], dtype=np.int64)
        old = np.asarray(self.group_log_old[start:], dtype=np.int32)
        _, first = np.unique(rels, return_index=True)
        g[rels[first]] = old[first]
        return g
