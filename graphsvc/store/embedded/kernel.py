"""Compiled graph kernels of the embedded store (numba).

The adjacency is held as two CSR layers per direction: a *base* built over the
relations that existed when it was last rebuilt, and a small *delta* over the
relations added since. Each layer is ``(indptr, neighbour, relation)``; the
neighbour of an out-edge is the relation's ``to``, of an in-edge its ``from``.

A step mask ``mask[type_code, direction]`` packs which kinds the walk may leave
(bits 0-15) and reach (bits 16-31); 0 means the relation type is not walked in
that direction. Status arrays use the codes of
:class:`~graphsvc.model.vocabulary.Status` (0 active, 1 stale, 2 retired) and 3
for merged items; an item is walkable when its status is at most
``max_status`` and it was created at or before ``as_of``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["bfs", "collect_edges", "count_groups", "one_hop"]

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
I8 = NDArray[np.int8]

_jit = numba.njit(cache=True, nogil=True)


def _grow(buf: I64, size: int) -> I64:
    out = np.empty(buf.shape[0] * 2 + size, dtype=np.int64)
    out[: buf.shape[0]] = buf
    return out


_grow_jit = _jit(_grow)


def _bfs(
    starts: I64,
    max_depth: int,
    layers: tuple[I64, I32, I32, I64, I32, I32, I64, I32, I32, I64, I32, I32],
    r_type: I8,
    r_status: I8,
    r_created: I64,
    e_kind: I8,
    e_status: I8,
    e_created: I64,
    mask: I64,
    as_of: int,
    max_status: int,
    stamp: I32,
    pos: I64,
    mark: int,
) -> tuple[I64, I64, I64, I64]:
    n = starts.shape[0]
    cap = max(64, n * 2)
    order = np.empty(cap, dtype=np.int64)
    depth = np.empty(cap, dtype=np.int64)
    parent = np.empty(cap, dtype=np.int64)
    via = np.empty(cap, dtype=np.int64)
    count = 0
    n_ent = e_kind.shape[0]
    for i in range(n):
        s = starts[i]
        if s < 0 or s >= n_ent or stamp[s] == mark:
            continue
        if e_status[s] > max_status or e_created[s] > as_of:
            continue
        stamp[s] = mark
        pos[s] = count
        order[count] = s
        depth[count] = 0
        parent[count] = -1
        via[count] = -1
        count += 1
    head = 0
    while head < count:
        u = order[head]
        du = depth[head]
        if max_depth >= 0 and du >= max_depth:
            head += 1
            continue
        ku = e_kind[u]
        for layer in range(4):
            if layer == 0:
                indptr, nbr, rel, direction = layers[0], layers[1], layers[2], 0
            elif layer == 1:
                indptr, nbr, rel, direction = layers[3], layers[4], layers[5], 1
            elif layer == 2:
                indptr, nbr, rel, direction = layers[6], layers[7], layers[8], 0
            else:
                indptr, nbr, rel, direction = layers[9], layers[10], layers[11], 1
            if u + 1 >= indptr.shape[0]:
                continue
            for j in range(indptr[u], indptr[u + 1]):
                r = rel[j]
                m = mask[r_type[r], direction]
                if m == 0 or not (m >> ku) & 1:
                    continue
                if r_status[r] > max_status or r_created[r] > as_of:
                    continue
                v = nbr[j]
                if stamp[v] == mark:
                    continue
                if not (m >> (16 + e_kind[v])) & 1:
                    continue
                if e_status[v] > max_status or e_created[v] > as_of:
                    continue
                if count == order.shape[0]:
                    order = _grow_jit(order, 0)
                    depth = _grow_jit(depth, 0)
                    parent = _grow_jit(parent, 0)
                    via = _grow_jit(via, 0)
                stamp[v] = mark
                pos[v] = count
                order[count] = v
                depth[count] = du + 1
                parent[count] = head
                via[count] = r
                count += 1
        head += 1
    return order[:count].copy(), depth[:count].copy(), parent[:count].copy(), via[:count].copy()


def _collect_edges(
    order: I64,
    layers: tuple[I64, I32, I32, I64, I32, I32, I64, I32, I32, I64, I32, I32],
    r_type: I8,
    r_status: I8,
    r_created: I64,
    e_kind: I8,
    mask: I64,
    as_of: int,
    max_status: int,
    stamp: I32,
    pos: I64,
    mark: int,
) -> tuple[I64, I64, I64]:
    cap = max(64, order.shape[0] * 2)
    src = np.empty(cap, dtype=np.int64)
    dst = np.empty(cap, dtype=np.int64)
    rels = np.empty(cap, dtype=np.int64)
    count = 0
    for i in range(order.shape[0]):
        u = order[i]
        ku = e_kind[u]
        for layer in range(4):
            if layer == 0:
                indptr, nbr, rel, direction = layers[0], layers[1], layers[2], 0
            elif layer == 1:
                indptr, nbr, rel, direction = layers[3], layers[4], layers[5], 1
            elif layer == 2:
                indptr, nbr, rel, direction = layers[6], layers[7], layers[8], 0
            else:
                indptr, nbr, rel, direction = layers[9], layers[10], layers[11], 1
            if u + 1 >= indptr.shape[0]:
                continue
            for j in range(indptr[u], indptr[u + 1]):
                r = rel[j]
                m = mask[r_type[r], direction]
                if m == 0 or not (m >> ku) & 1:
                    continue
                if r_status[r] > max_status or r_created[r] > as_of:
                    continue
                v = nbr[j]
                if stamp[v] != mark or not (m >> (16 + e_kind[v])) & 1:
                    continue
                if count == src.shape[0]:
                    src = _grow_jit(src, 0)
                    dst = _grow_jit(dst, 0)
                    rels = _grow_jit(rels, 0)
                src[count] = i
                dst[count] = pos[v]
                rels[count] = r
                count += 1
    return src[:count].copy(), dst[:count].copy(), rels[:count].copy()


def _one_hop(
    ids: I64,
    layers: tuple[I64, I32, I32, I64, I32, I32, I64, I32, I32, I64, I32, I32],
    r_type: I8,
    r_status: I8,
    r_created: I64,
    e_kind: I8,
    e_status: I8,
    e_created: I64,
    mask: I64,
    as_of: int,
    max_status: int,
) -> tuple[I64, I64, I64]:
    cap = max(64, ids.shape[0] * 4)
    origin = np.empty(cap, dtype=np.int64)
    ent = np.empty(cap, dtype=np.int64)
    rels = np.empty(cap, dtype=np.int64)
    count = 0
    n_ent = e_kind.shape[0]
    for i in range(ids.shape[0]):
        u = ids[i]
        if u < 0 or u >= n_ent:
            continue
        ku = e_kind[u]
        for layer in range(4):
            if layer == 0:
                indptr, nbr, rel, direction = layers[0], layers[1], layers[2], 0
            elif layer == 1:
                indptr, nbr, rel, direction = layers[3], layers[4], layers[5], 1
            elif layer == 2:
                indptr, nbr, rel, direction = layers[6], layers[7], layers[8], 0
            else:
                indptr, nbr, rel, direction = layers[9], layers[10], layers[11], 1
            if u + 1 >= indptr.shape[0]:
                continue
            for j in range(indptr[u], indptr[u + 1]):
                r = rel[j]
                m = mask[r_type[r], direction]
                if m == 0 or not (m >> ku) & 1:
                    continue
                if r_status[r] > max_status or r_created[r] > as_of:
                    continue
                v = nbr[j]
                if not (m >> (16 + e_kind[v])) & 1:
                    continue
                if e_status[v] > max_status or e_created[v] > as_of:
                    continue
                if count == origin.shape[0]:
                    origin = _grow_jit(origin, 0)
                    ent = _grow_jit(ent, 0)
                    rels = _grow_jit(rels, 0)
                origin[count] = i
                ent[count] = v
                rels[count] = r
                count += 1
    return origin[:count].copy(), ent[:count].copy(), rels[:count].copy()


def _count_groups(
    from_ids: I64,
    groups: I64,
    out_layers: tuple[I64, I32, I32, I64, I32, I32],
    r_type: I8,
    r_status: I8,
    r_created: I64,
    r_group: I32,
    redundancy_types: I64,
    as_of: int,
    max_status: int,
) -> I64:
    """Count live redundancy-type relations per (from entity, group) pair."""
    out = np.zeros(from_ids.shape[0], dtype=np.int64)
    for i in range(from_ids.shape[0]):
        u = from_ids[i]
        g = groups[i]
        c = 0
        for layer in range(2):
            if layer == 0:
                indptr, rel = out_layers[0], out_layers[2]
            else:
                indptr, rel = out_layers[3], out_layers[5]
            if u + 1 >= indptr.shape[0]:
                continue
            for j in range(indptr[u], indptr[u + 1]):
                r = rel[j]
                if r_group[r] != g or redundancy_types[r_type[r]] == 0:
                    continue
                if r_status[r] > max_status or r_created[r] > as_of:
                    continue
                c += 1
        out[i] = c
    return out


bfs = cast("Callable[..., tuple[I64, I64, I64, I64]]", _jit(_bfs))
collect_edges = cast("Callable[..., tuple[I64, I64, I64]]", _jit(_collect_edges))
one_hop = cast("Callable[..., tuple[I64, I64, I64]]", _jit(_one_hop))
count_groups = cast("Callable[..., I64]", _jit(_count_groups))
