"""Compiled kernels of the CMDB health analyses (numba): cycles and single points of failure.

Kept apart from the typed analysis modules so that they do not depend on numba's
untyped decorators (as :mod:`graphsvc.analysis._kernel`). Compiled on first use
and cached on disk next to this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["critical_for", "group_kills", "strong_components"]

A = NDArray[Any]


def _csr_impl(n: int, src: A) -> tuple[A, A]:
    """Return (offsets, edge indexes grouped by ``src``) of edges leaving ``src`` nodes."""
    m = src.shape[0]
    offsets = np.zeros(n + 1, dtype=np.int64)
    for e in range(m):
        offsets[src[e] + 1] += 1
    for i in range(n):
        offsets[i + 1] += offsets[i]
    fill = offsets[:-1].copy()
    by_src = np.empty(m, dtype=np.int64)
    for e in range(m):
        s = src[e]
        by_src[fill[s]] = e
        fill[s] += 1
    return offsets, by_src


_jit = numba.njit(cache=True, nogil=True)
_csr = _jit(_csr_impl)


def _strong_components(n: int, src: A, dst: A) -> A:
    """Return the strongly connected component of each node (iterative Tarjan).

    Args:
        n: Number of nodes (indexes ``0 .. n-1``).
        src: Source node of each edge.
        dst: Target node of each edge.

    Returns:
        Per node, its component number (``0 ..``), numbered in the order Tarjan's
        algorithm closes them (a reverse topological order of the condensation).

    Linear in nodes plus edges; no recursion (explicit call stack), so a chain of
    a million nodes does not overflow anything.
    """
    m = src.shape[0]
    offsets = np.zeros(n + 1, dtype=np.int64)
    for e in range(m):
        offsets[src[e] + 1] += 1
    for i in range(n):
        offsets[i + 1] += offsets[i]
    fill = offsets[:-1].copy()
    adj = np.empty(m, dtype=np.int64)
    for e in range(m):
        s = src[e]
        adj[fill[s]] = dst[e]
        fill[s] += 1
    index = np.full(n, -1, dtype=np.int64)
    low = np.zeros(n, dtype=np.int64)
    on_stack = np.zeros(n, dtype=np.bool_)
    comp = np.full(n, -1, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)  # Tarjan's stack
    calls = np.empty(n, dtype=np.int64)  # DFS call stack: node
    cursor = np.empty(n, dtype=np.int64)  # DFS call stack: next edge position
    top = 0
    counter = 0
    n_comp = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        depth = 0
        calls[0] = root
        cursor[0] = offsets[root]
        index[root] = counter
        low[root] = counter
        counter += 1
        stack[top] = root
        top += 1
        on_stack[root] = True
        while depth >= 0:
            u = calls[depth]
            k = cursor[depth]
            if k < offsets[u + 1]:
                cursor[depth] = k + 1
                v = adj[k]
                if index[v] < 0:
                    index[v] = counter
                    low[v] = counter
                    counter += 1
                    stack[top] = v
                    top += 1
                    on_stack[v] = True
                    depth += 1
                    calls[depth] = v
                    cursor[depth] = offsets[v]
                elif on_stack[v] and index[v] < low[u]:
                    low[u] = index[v]
                continue
            if low[u] == index[u]:
                while True:
                    top -= 1
                    w = stack[top]
                    on_stack[w] = False
                    comp[w] = n_comp
                    if w == u:
                        break
                n_comp += 1
            depth -= 1
            if depth >= 0:
                p = calls[depth]
                if low[u] < low[p]:
                    low[p] = low[u]
    return comp


def _critical_for(
    n: int,
    target: int,
    order: A,
    src: A,
    dst: A,
    slot: A,
    slot_size: A,
    hard: A,
) -> A:
    """Return, per node, whether its failure alone makes ``target`` DOWN.

    The edges are impact edges (``src`` fails -> ``dst`` is affected) with the
    meaning of :func:`graphsvc.analysis._kernel.propagate_down`: a ``hard`` edge
    from a DOWN node makes its target DOWN; otherwise the edge counts towards its
    ``slot`` (a target's redundancy group), DOWN when ``slot_size`` members are.

    Exact, by the monotonicity of the rule: write ``Down(x)`` for what fails with
    ``x`` alone (the least fixpoint from ``{x}``). If ``y`` is in ``Down(x)`` then
    ``Down(y)`` is within ``Down(x)``. So (a) every node with a path of hard edges
    (or groups of one) to a critical node is critical; (b) when ``Down(x)``
    misses ``target``, nothing in ``Down(x)`` is critical; (c) a propagation from
    ``x`` that reaches a known critical node proves ``x`` critical and may stop.
    Candidates are tried in ``order`` (the nodes nearest ``target`` first, whose
    propagations are short); each unknown one costs one propagation, cut short by
    (c), and settles every node it downs by (b).
    """
    m = src.shape[0]
    effective = np.empty(m, dtype=np.bool_)
    for e in range(m):
        g = slot[e]
        effective[e] = hard[e] or (g >= 0 and slot_size[g] <= 1)
    out_off, out_edges = _csr(n, src)
    in_off, in_edges = _csr(n, dst)
    status = np.zeros(n, dtype=np.int8)  # 0 unknown, 1 critical, 2 not critical
    stack = np.empty(n, dtype=np.int64)
    # (a) from the target: whatever reaches it over effective-hard edges
    status[target] = 1
    stack[0] = target
    top = 1
    while top > 0:
        top -= 1
        u = stack[top]
        for k in range(in_off[u], in_off[u + 1]):
            e = in_edges[k]
            w = src[e]
            if effective[e] and status[w] == 0:
                status[w] = 1
                stack[top] = w
                top += 1
    down = np.zeros(n, dtype=np.bool_)
    counter = np.zeros(slot_size.shape[0], dtype=np.int64)
    touched = np.empty(m, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    for x in order:
        if status[x] != 0:
            continue
        down[x] = True
        queue[0] = x
        tail = 1
        head = 0
        n_touched = 0
        hit = False
        while head < tail and not hit:
            u = queue[head]
            head += 1
            for k in range(out_off[u], out_off[u + 1]):
                e = out_edges[k]
                v = dst[e]
                if down[v]:
                    continue
                fails = False
                if hard[e]:
                    fails = True
                else:
                    g = slot[e]
                    if g >= 0:
                        if counter[g] == 0:
                            touched[n_touched] = g
                            n_touched += 1
                        counter[g] += 1
                        fails = counter[g] >= slot_size[g]
                if fails:
                    down[v] = True
                    queue[tail] = v
                    tail += 1
                    if status[v] == 1:
                        hit = True
                        break
        for i in range(tail):
            w = queue[i]
            down[w] = False
            if not hit:
                status[w] = 2
        for i in range(n_touched):
            counter[touched[i]] = 0
        if hit:  # (a) from x
            status[x] = 1
            stack[0] = x
            top = 1
            while top > 0:
                top -= 1
                u = stack[top]
                for k in range(in_off[u], in_off[u + 1]):
                    e = in_edges[k]
                    w = src[e]
                    if effective[e] and status[w] == 0:
                        status[w] = 1
                        stack[top] = w
                        top += 1
    critical: A = status == 1
    return critical


def _ancestors_count_impl(
    start: int,
    mark: int,
    seen: A,
    count: A,
    touched: A,
    n_touched: int,
    stack: A,
    in_off: A,
    in_edges: A,
    src: A,
    effective: A,
    extra_head: A,
    extra_next: A,
    extra_src: A,
) -> int:
    """Add one to ``count`` of ``start`` and of every node with a path to it.

    Paths over ``effective`` edges and the extra edges (a linked list per
    target: ``extra_head[u]``, ``extra_next[k]``, ``extra_src[k]``); ``seen``
    holds ``mark`` for the nodes counted in this call. A node counted for the
    first time (its count was 0) is appended to ``touched``; returns the new
    length of ``touched``.
    """
    seen[start] = mark
    if count[start] == 0:
        touched[n_touched] = start
        n_touched += 1
    count[start] += 1
    stack[0] = start
    top = 1
    while top > 0:
        top -= 1
        u = stack[top]
        for j in range(in_off[u], in_off[u + 1]):
            e = in_edges[j]
            w = src[e]
            if effective[e] and seen[w] != mark:
                seen[w] = mark
                if count[w] == 0:
                    touched[n_touched] = w
                    n_touched += 1
                count[w] += 1
                stack[top] = w
                top += 1
        q = extra_head[u]
        while q >= 0:
            w = extra_src[q]
            if seen[w] != mark:
                seen[w] = mark
                if count[w] == 0:
                    touched[n_touched] = w
                    n_touched += 1
                count[w] += 1
                stack[top] = w
                top += 1
            q = extra_next[q]
    return n_touched


_ancestors_count = _jit(_ancestors_count_impl)


def _group_kills(
    n: int,
    src: A,
    dst: A,
    slot: A,
    slot_size: A,
    effective: A,
    depth: A,
) -> A:
    """Return, per node, whether another node's failure alone makes it DOWN.

    The edges are impact edges as in :func:`_critical_for`; ``depth`` orders
    the nodes (the walk's depth: the dependents first). Write ``x => v`` when
    ``v`` is in ``Down(x)``. Over *effective* edges (no redundancy group, or a
    group of one) ``x => v`` whenever there is a path. A redundancy group of
    ``u`` (a slot) with all its edges present is failed by ``x`` exactly when
    ``x`` fails every member, i.e. when ``x`` is, or has a path to, every member
    over the effective edges and the edges added so far: then ``x -> u`` is
    added, from a few elements of that common set that every other element has
    a path to (the set is closed under "has a path to"). Groups are visited
    deepest first, then again, pass after pass, only those with a member at or
    below a node that gained an edge (only their common sets can have grown),
    until a pass adds nothing. At that fixpoint ``x => v`` exactly when ``x``
    has a path to ``v`` over effective and added edges: each edge is a true
    implication, and, by induction on the propagation from ``x``, every node it
    fails is reached. So a node has a single point of failure exactly when such
    an edge enters it from another node. A group with an edge the walk did not
    reach can never fail whole and is skipped.
    """
    m = src.shape[0]
    in_off, in_edges = _csr(n, dst)
    n_slots = slot_size.shape[0]
    present = np.zeros(n_slots, dtype=np.int64)
    for e in range(m):
        if slot[e] >= 0:
            present[slot[e]] += 1
    slot_key = np.where(slot >= 0, slot, n_slots)
    slot_off, slot_edges = _csr(n_slots + 1, slot_key)
    extra_head = np.full(n, -1, dtype=np.int64)
    extra_next = np.empty(1024, dtype=np.int64)
    extra_src = np.empty(1024, dtype=np.int64)
    n_extra = 0
    seen = np.full(n, -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    covered = np.zeros(n, dtype=np.bool_)
    stack = np.empty(n, dtype=np.int64)
    touched = np.empty(n, dtype=np.int64)
    members = np.empty(max(m, 1), dtype=np.int64)
    stack_gain = np.empty(n, dtype=np.int64)
    mark = 0
    # groups deepest first (a group's members lie below it: their kills come first),
    # then again only those with a member below a node that gained an edge
    slot_depth = np.zeros(n_slots, dtype=np.int64)
    for e in range(m):
        if slot[e] >= 0:
            slot_depth[slot[e]] = depth[dst[e]]
    todo = np.argsort(-slot_depth, kind="mergesort")
    out_off, out_edges = _csr(n, src)
    gained = np.zeros(n, dtype=np.bool_)
    below = np.zeros(n, dtype=np.bool_)
    while todo.shape[0] > 0:
        n_gained = 0
        for gi in range(todo.shape[0]):
            g = todo[gi]
            if present[g] != slot_size[g] or slot_size[g] <= 1:
                continue
            u = -1
            k = 0
            for j in range(slot_off[g], slot_off[g + 1]):
                e = slot_edges[j]
                u = dst[e]
                w = src[e]
                dup = False
                for i in range(k):
                    if members[i] == w:
                        dup = True
                        break
                if not dup:
                    members[k] = w
                    k += 1
            n_touched = 0
            for i in range(k):
                mark += 1
                n_touched = _ancestors_count(
                    members[i],
                    mark,
                    seen,
                    count,
                    touched,
                    n_touched,
                    stack,
                    in_off,
                    in_edges,
                    src,
                    effective,
                    extra_head,
                    extra_next,
                    extra_src,
                )
            common = touched[:n_touched][count[touched[:n_touched]] == k]
            # generators: nearest the dependents first; each covers what has a path to it
            common = common[np.argsort(depth[common], kind="mergesort")]
            mark += 1
            for x in common:
                if covered[x] or x == u:
                    continue
                exists = False
                q = extra_head[u]
                while q >= 0:
                    if extra_src[q] == x:
                        exists = True
                        break
                    q = extra_next[q]
                if not exists:
                    if n_extra == extra_src.shape[0]:
                        bigger_next = np.empty(2 * n_extra, dtype=np.int64)
                        bigger_src = np.empty(2 * n_extra, dtype=np.int64)
                        bigger_next[:n_extra] = extra_next[:n_extra]
                        bigger_src[:n_extra] = extra_src[:n_extra]
                        extra_next = bigger_next
                        extra_src = bigger_src
                    extra_src[n_extra] = x
                    extra_next[n_extra] = extra_head[u]
                    extra_head[u] = n_extra
                    n_extra += 1
                    if not gained[u]:
                        gained[u] = True
                        stack_gain[n_gained] = u
                        n_gained += 1
                # what has a path to x (within the common set) is covered by x
                covered[x] = True
                stack[0] = x
                top = 1
                while top > 0:
                    top -= 1
                    y = stack[top]
                    for j in range(in_off[y], in_off[y + 1]):
                        e = in_edges[j]
                        w = src[e]
                        if effective[e] and not covered[w] and count[w] == k:
                            covered[w] = True
                            stack[top] = w
                            top += 1
                    q = extra_head[y]
                    while q >= 0:
                        w = extra_src[q]
                        if not covered[w] and count[w] == k:
                            covered[w] = True
                            stack[top] = w
                            top += 1
                        q = extra_next[q]
            for t in range(n_touched):
                count[touched[t]] = 0
                covered[touched[t]] = False
        # what lies below a node that gained an edge (its ancestor sets grew)
        top = 0
        for i in range(n_gained):
            v = stack_gain[i]
            gained[v] = False
            if not below[v]:
                below[v] = True
                stack[top] = v
                top += 1
        n_below = 0
        while top > 0:
            top -= 1
            v = stack[top]
            touched[n_below] = v
            n_below += 1
            for j in range(out_off[v], out_off[v + 1]):
                e = out_edges[j]
                w = dst[e]
                if not below[w]:  # every edge: an added edge x -> u follows a path of them
                    below[w] = True
                    stack[top] = w
                    top += 1
        again = np.zeros(n_slots, dtype=np.bool_)
        for e in range(m):
            if slot[e] >= 0 and below[src[e]]:
                again[slot[e]] = True
        for i in range(n_below):
            below[touched[i]] = False
        todo = todo[again[todo]]
    has = np.zeros(n, dtype=np.bool_)
    for e in range(m):
        if effective[e] and src[e] != dst[e]:
            has[dst[e]] = True
    for u in range(n):
        q = extra_head[u]
        while q >= 0:
            if extra_src[q] != u:
                has[u] = True
            q = extra_next[q]
    return has


strong_components = cast("Callable[[int, A, A], A]", _jit(_strong_components))
critical_for = cast("Callable[[int, int, A, A, A, A, A, A], A]", _jit(_critical_for))
group_kills = cast("Callable[[int, A, A, A, A, A, A], A]", _jit(_group_kills))
