"""Compiled graph kernels of the embedded store (numba).

The adjacency is held as CSR arrays per direction, in two layers: a *base*
built over the relations that existed when it was last rebuilt, and a small
*delta* over the relations added since. Each CSR is ``(indptr, nbr, rel,
code)``: for the edges of node ``u`` in slots ``indptr[u]:indptr[u + 1]``, the
neighbour (the relation's ``to`` for out-edges, its ``from`` for in-edges), the
relation id, and a code packing the relation's type (bits 0-4) and current
status (bits 5-6) beside it, so that the tests of a walk read that memory in
order. A fifth array, ``tm``, holds per node the bitmask of relation types it
has in that CSR: a walk skips a node's edges in a direction that holds none
of the types it follows, without touching them. Entities carry one byte too,
``e_code``: kind (bits 0-3) and status (bits 4-5).

A step mask ``mask[type_code, direction]`` (direction 0 out, 1 in) packs which
kinds the walk may leave (bits 0-15) and reach (bits 16-31); 0 means the type is
not walked that way. Status codes are those of
:class:`~graphsvc.model.vocabulary.Status` (0 active, 1 stale, 2 retired) and 3
for merged items; an item is walkable when its status is at most ``max_status``.

For walks *as of* a past time (``check_time``), the caller passes ``e_code``
rebuilt with the statuses of that time and ``slot_status=False`` so that the
relation status is read from ``r_status`` (also as of then) instead of the
slot code; relations and entities created after ``as_of`` are skipped.

The four (layer, direction) loops of each kernel are written out one after the
other on purpose: selecting arrays inside the loop, or calling a helper with
this many array arguments, made numba's code several times slower. For the
same reason the CSR arrays, ``e_code``, ``stamp`` and the walk order are
unsigned: numba checks every signed index for wrap-around, which halved the
speed of a walk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["bfs", "collect_edges", "count_groups", "counting_order", "one_hop"]

A = NDArray[Any]

_jit = numba.njit(cache=True, nogil=True)


def _bfs(
    starts: A,
    max_depth: int,
    bo_ip: A,
    bo_nbr: A,
    bo_rel: A,
    bo_code: A,
    bo_tm: A,
    bi_ip: A,
    bi_nbr: A,
    bi_rel: A,
    bi_code: A,
    bi_tm: A,
    do_ip: A,
    do_nbr: A,
    do_rel: A,
    do_code: A,
    do_tm: A,
    di_ip: A,
    di_nbr: A,
    di_rel: A,
    di_code: A,
    di_tm: A,
    r_status: A,
    r_created: A,
    e_code: A,
    e_created: A,
    mask: A,
    as_of: int,
    check_time: bool,
    slot_status: bool,
    max_status: int,
    stamp: A,
    mark: int,
    order: A,
    depth: A,
    parent: A,
    via: A,
) -> tuple[A, A, A, A]:
    """Breadth-first walk; returns (entities, depth, parent index, relation walked).

    ``order`` (uint32), ``depth``, ``parent`` and ``via`` are scratch buffers of at
    least one slot per entity, reused from walk to walk; the results are int64
    copies. ``stamp`` (uint32) and ``mark`` (uint32) mark visited entities.
    """
    n = e_code.shape[0]
    out_types = 0
    in_types = 0
    for t in range(mask.shape[0]):
        if mask[t, 0] != 0:
            out_types |= 1 << t
        if mask[t, 1] != 0:
            in_types |= 1 << t
    count = 0
    for start in starts:
        if start < 0 or start >= n:
            continue
        s = np.uint32(start)
        if stamp[s] == mark:
            continue
        if e_code[s] >> 4 > max_status or (check_time and e_created[s] > as_of):
            continue
        stamp[s] = mark
        order[count] = s
        depth[count] = 0
        parent[count] = -1
        via[count] = -1
        count += 1
    head = 0
    while head < count:
        u = order[head]
        u1 = u + np.uint32(1)
        du = depth[head]
        if max_depth >= 0 and du >= max_depth:
            head += 1
            continue
        ku = e_code[u] & 15
        if u1 < bo_ip.shape[0] and bo_tm[u] & out_types:
            for j in range(bo_ip[u], bo_ip[u1]):
                c = bo_code[j]
                m = mask[c & 31, 0]
                if m == 0 or not (m >> ku) & 1:
                    continue
                v = bo_nbr[j]
                if stamp[v] == mark:
                    continue
                r = bo_rel[j]
                if (c >> 5 if slot_status else r_status[r]) > max_status:
                    continue
                ev = e_code[v]
                if ev >> 4 > max_status or not (m >> (16 + (ev & 15))) & 1:
                    continue
                if check_time and (r_created[r] > as_of or e_created[v] > as_of):
                    continue
                stamp[v] = mark
                order[count] = v
                depth[count] = du + 1
                parent[count] = head
                via[count] = r
                count += 1
        if u1 < bi_ip.shape[0] and bi_tm[u] & in_types:
            for j in range(bi_ip[u], bi_ip[u1]):
                c = bi_code[j]
                m = mask[c & 31, 1]
                if m == 0 or not (m >> ku) & 1:
                    continue
                v = bi_nbr[j]
                if stamp[v] == mark:
                    continue
                r = bi_rel[j]
                if (c >> 5 if slot_status else r_status[r]) > max_status:
                    continue
                ev = e_code[v]
                if ev >> 4 > max_status or not (m >> (16 + (ev & 15))) & 1:
                    continue
                if check_time and (r_created[r] > as_of or e_created[v] > as_of):
                    continue
                stamp[v] = mark
                order[count] = v
                depth[count] = du + 1
                parent[count] = head
                via[count] = r
                count += 1
        if u1 < do_ip.shape[0] and do_tm[u] & out_types:
            for j in range(do_ip[u], do_ip[u1]):
                c = do_code[j]
                m = mask[c & 31, 0]
                if m == 0 or not (m >> ku) & 1:
                    continue
                v = do_nbr[j]
                if stamp[v] == mark:
                    continue
                r = do_rel[j]
                if (c >> 5 if slot_status else r_status[r]) > max_status:
                    continue
                ev = e_code[v]
                if ev >> 4 > max_status or not (m >> (16 + (ev & 15))) & 1:
                    continue
                if check_time and (r_created[r] > as_of or e_created[v] > as_of):
                    continue
                stamp[v] = mark
                order[count] = v
                depth[count] = du + 1
                parent[count] = head
                via[count] = r
                count += 1
        if u1 < di_ip.shape[0] and di_tm[u] & in_types:
            for j in range(di_ip[u], di_ip[u1]):
                c = di_code[j]
                m = mask[c & 31, 1]
                if m == 0 or not (m >> ku) & 1:
                    continue
                v = di_nbr[j]
                if stamp[v] == mark:
                    continue
                r = di_rel[j]
                if (c >> 5 if slot_status else r_status[r]) > max_status:
                    continue
                ev = e_code[v]
                if ev >> 4 > max_status or not (m >> (16 + (ev & 15))) & 1:
                    continue
                if check_time and (r_created[r] > as_of or e_created[v] > as_of):
                    continue
                stamp[v] = mark
                order[count] = v
                depth[count] = du + 1
                parent[count] = head
                via[count] = r
                count += 1
        head += 1
    return (
        order[:count].astype(np.int64),
        depth[:count].copy(),
        parent[:count].copy(),
        via[:count].copy(),
    )


def _collect_edges(
    order: A,
    bo_ip: A,
    bo_nbr: A,
    bo_rel: A,
    bo_code: A,
    bo_tm: A,
    bi_ip: A,
    bi_nbr: A,
    bi_rel: A,
    bi_code: A,
    bi_tm: A,
    do_ip: A,
    do_nbr: A,
    do_rel: A,
    do_code: A,
    do_tm: A,
    di_ip: A,
    di_nbr: A,
    di_rel: A,
    di_code: A,
    di_tm: A,
    r_status: A,
    r_created: A,
    e_code: A,
    mask: A,
    as_of: int,
    check_time: bool,
    slot_status: bool,
    max_status: int,
    stamp: A,
    pos: A,
    mark: int,
) -> tuple[A, A, A]:
    """Every walkable relation between two reached entities.

    Returns (source index, target index, relation id), indexes into ``order``,
    in the walk direction. ``stamp``/``mark`` are those of the walk; ``pos`` is
    filled here with each reached entity's index in ``order``.
    """
    for i in range(order.shape[0]):
        pos[order[i]] = i
    out_types = 0
    in_types = 0
    for t in range(mask.shape[0]):
        if mask[t, 0] != 0:
            out_types |= 1 << t
        if mask[t, 1] != 0:
            in_types |= 1 << t
    # visit entities in ascending id order: the CSR arrays are then read in memory order
    visit = np.sort(order)
    total = 0
    for k in range(visit.shape[0]):
        u = visit[k]
        if u + 1 < bo_ip.shape[0] and bo_tm[u] & out_types:
            total += int(bo_ip[u + 1] - bo_ip[u])
        if u + 1 < bi_ip.shape[0] and bi_tm[u] & in_types:
            total += int(bi_ip[u + 1] - bi_ip[u])
        if u + 1 < do_ip.shape[0] and do_tm[u] & out_types:
            total += int(do_ip[u + 1] - do_ip[u])
        if u + 1 < di_ip.shape[0] and di_tm[u] & in_types:
            total += int(di_ip[u + 1] - di_ip[u])
    src = np.empty(total, dtype=np.int64)
    dst = np.empty(total, dtype=np.int64)
    rels = np.empty(total, dtype=np.int64)
    count = 0
    for k in range(visit.shape[0]):
        u = visit[k]
        i = pos[u]
        ku = e_code[u] & 15
        if u + 1 < bo_ip.shape[0] and bo_tm[u] & out_types:
            for j in range(bo_ip[u], bo_ip[u + 1]):
                c = bo_code[j]
                m = mask[c & 31, 0]
                if m == 0 or not (m >> ku) & 1:
                    continue
                v = bo_nbr[j]
                if stamp[v] != mark or not (m >> (16 + (e_code[v] & 15))) & 1:
                    continue
                r = bo_rel[j]
                if (c >> 5 if slot_status else r_status[r]) > max_status:
                    continue
                if check_time and r_created[r] > as_of:
                    continue
                src[count] = i
                dst[count] = pos[v]
                rels[count] = r
                count += 1
        if u + 1 < bi_ip.shape[0] and bi_tm[u] & in_types:
            for j in range(bi_ip[u], bi_ip[u + 1]):
                c = bi_code[j]
                m = mask[c & 31, 1]
                if m == 0 or not (m >> ku) & 1:
                    continue
                v = bi_nbr[j]
                if stamp[v] != mark or not (m >> (16 + (e_code[v] & 15))) & 1:
                    continue
                r = bi_rel[j]
                if (c >> 5 if slot_status else r_status[r]) > max_status:
                    continue
                if check_time and r_created[r] > as_of:
                    continue
                src[count] = i
                dst[count] = pos[v]
                rels[count] = r
                count += 1
        if u + 1 < do_ip.shape[0] and do_tm[u] & out_types:
            for j in range(do_ip[u], do_ip[u + 1]):
                c = do_code[j]
                m = mask[c & 31, 0]
                if m == 0 or not (m >> ku) & 1:
                    continue
                v = do_nbr[j]
                if stamp[v] != mark or not (m >> (16 + (e_code[v] & 15))) & 1:
                    continue
                r = do_rel[j]
                if (c >> 5 if slot_status else r_status[r]) > max_status:
                    continue
                if check_time and r_created[r] > as_of:
                    continue
                src[count] = i
                dst[count] = pos[v]
                rels[count] = r
                count += 1
        if u + 1 < di_ip.shape[0] and di_tm[u] & in_types:
            for j in range(di_ip[u], di_ip[u + 1]):
                c = di_code[j]
                m = mask[c & 31, 1]
                if m == 0 or not (m >> ku) & 1:
                    continue
                v = di_nbr[j]
                if stamp[v] != mark or not (m >> (16 + (e_code[v] & 15))) & 1:
                    continue
                r = di_rel[j]
                if (c >> 5 if slot_status else r_status[r]) > max_status:
                    continue
                if check_time and r_created[r] > as_of:
                    continue
                src[count] = i
                dst[count] = pos[v]
                rels[count] = r
                count += 1
    return src[:count].copy(), dst[:count].copy(), rels[:count].copy()


def _one_hop(
    ids: A,
    bo_ip: A,
    bo_nbr: A,
    bo_rel: A,
    bo_code: A,
    bo_tm: A,
    bi_ip: A,
    bi_nbr: A,
    bi_rel: A,
    bi_code: A,
    bi_tm: A,
    do_ip: A,
    do_nbr: A,
    do_rel: A,
    do_code: A,
    do_tm: A,
    di_ip: A,
    di_nbr: A,
    di_rel: A,
    di_code: A,
    di_tm: A,
    r_status: A,
    r_created: A,
    e_code: A,
    e_created: A,
    mask: A,
    as_of: int,
    check_time: bool,
    slot_status: bool,
    max_status: int,
) -> tuple[A, A, A]:
    """One hop from each of ``ids``: (index into ids, entity reached, relation id)."""
    n = e_code.shape[0]
    out_types = 0
    in_types = 0
    for t in range(mask.shape[0]):
        if mask[t, 0] != 0:
            out_types |= 1 << t
        if mask[t, 1] != 0:
            in_types |= 1 << t
    total = 0
    for i in range(ids.shape[0]):
        u = ids[i]
        if 0 <= u < n:
            if u + 1 < bo_ip.shape[0] and bo_tm[u] & out_types:
                total += int(bo_ip[u + 1] - bo_ip[u])
            if u + 1 < bi_ip.shape[0] and bi_tm[u] & in_types:
                total += int(bi_ip[u + 1] - bi_ip[u])
            if u + 1 < do_ip.shape[0] and do_tm[u] & out_types:
                total += int(do_ip[u + 1] - do_ip[u])
            if u + 1 < di_ip.shape[0] and di_tm[u] & in_types:
                total += int(di_ip[u + 1] - di_ip[u])
    origin = np.empty(total, dtype=np.int64)
    ent = np.empty(total, dtype=np.int64)
    rels = np.empty(total, dtype=np.int64)
    count = 0
    for i in range(ids.shape[0]):
        u = ids[i]
        if u < 0 or u >= n:
            continue
        ku = e_code[u] & 15
        if u + 1 < bo_ip.shape[0] and bo_tm[u] & out_types:
            for j in range(bo_ip[u], bo_ip[u + 1]):
                c = bo_code[j]
                m = mask[c & 31, 0]
                if m == 0 or not (m >> ku) & 1:
                    continue
                v = bo_nbr[j]
                r = bo_rel[j]
                ev = e_code[v]
                if not (m >> (16 + (ev & 15))) & 1 or ev >> 4 > max_status:
                    continue
                if (c >> 5 if slot_status else r_status[r]) > max_status:
                    continue
                if check_time and (r_created[r] > as_of or e_created[v] > as_of):
                    continue
                origin[count] = i
                ent[count] = v
                rels[count] = r
                count += 1
        if u + 1 < bi_ip.shape[0] and bi_tm[u] & in_types:
            for j in range(bi_ip[u], bi_ip[u + 1]):
                c = bi_code[j]
                m = mask[c & 31, 1]
                if m == 0 or not (m >> ku) & 1:
                    continue
                v = bi_nbr[j]
                r = bi_rel[j]
                ev = e_code[v]
                if not (m >> (16 + (ev & 15))) & 1 or ev >> 4 > max_status:
                    continue
                if (c >> 5 if slot_status else r_status[r]) > max_status:
                    continue
                if check_time and (r_created[r] > as_of or e_created[v] > as_of):
                    continue
                origin[count] = i
                ent[count] = v
                rels[count] = r
                count += 1
        if u + 1 < do_ip.shape[0] and do_tm[u] & out_types:
            for j in range(do_ip[u], do_ip[u + 1]):
                c = do_code[j]
                m = mask[c & 31, 0]
                if m == 0 or not (m >> ku) & 1:
                    continue
                v = do_nbr[j]
                r = do_rel[j]
                ev = e_code[v]
                if not (m >> (16 + (ev & 15))) & 1 or ev >> 4 > max_status:
                    continue
                if (c >> 5 if slot_status else r_status[r]) > max_status:
                    continue
                if check_time and (r_created[r] > as_of or e_created[v] > as_of):
                    continue
                origin[count] = i
                ent[count] = v
                rels[count] = r
                count += 1
        if u + 1 < di_ip.shape[0] and di_tm[u] & in_types:
            for j in range(di_ip[u], di_ip[u + 1]):
                c = di_code[j]
                m = mask[c & 31, 1]
                if m == 0 or not (m >> ku) & 1:
                    continue
                v = di_nbr[j]
                r = di_rel[j]
                ev = e_code[v]
                if not (m >> (16 + (ev & 15))) & 1 or ev >> 4 > max_status:
                    continue
                if (c >> 5 if slot_status else r_status[r]) > max_status:
                    continue
                if check_time and (r_created[r] > as_of or e_created[v] > as_of):
                    continue
                origin[count] = i
                ent[count] = v
                rels[count] = r
                count += 1
    return origin[:count].copy(), ent[:count].copy(), rels[:count].copy()


def _count_groups(
    from_ids: A,
    groups: A,
    bo_ip: A,
    bo_rel: A,
    do_ip: A,
    do_rel: A,
    r_type: A,
    r_status: A,
    r_created: A,
    r_group: A,
    redundancy_types: A,
    as_of: int,
    check_time: bool,
    max_status: int,
) -> A:
    """Count live redundancy-type relations per (from entity, group) pair."""
    out = np.zeros(from_ids.shape[0], dtype=np.int64)
    for i in range(from_ids.shape[0]):
        u = from_ids[i]
        g = groups[i]
        c = 0
        for ip, rel in ((bo_ip, bo_rel), (do_ip, do_rel)):
            if u + 1 >= ip.shape[0]:
                continue
            for j in range(ip[u], ip[u + 1]):
                r = rel[j]
                if r_group[r] != g or redundancy_types[r_type[r]] == 0:
                    continue
                if r_status[r] > max_status or (check_time and r_created[r] > as_of):
                    continue
                c += 1
        out[i] = c
    return out


def _counting_order(keys: A, n_nodes: int) -> A:
    """Return the stable order that sorts ``keys`` (node ids below ``n_nodes``), in O(n)."""
    counts = np.zeros(n_nodes + 1, dtype=np.int64)
    for k in keys:
        counts[k + 1] += 1
    for i in range(n_nodes):
        counts[i + 1] += counts[i]
    order = np.empty(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        k = keys[i]
        order[counts[k]] = i
        counts[k] += 1
    return order


bfs = cast("Callable[..., tuple[A, A, A, A]]", _jit(_bfs))
collect_edges = cast("Callable[..., tuple[A, A, A]]", _jit(_collect_edges))
one_hop = cast("Callable[..., tuple[A, A, A]]", _jit(_one_hop))
count_groups = cast("Callable[..., A]", _jit(_count_groups))
counting_order = cast("Callable[[A, int], A]", _jit(_counting_order))
