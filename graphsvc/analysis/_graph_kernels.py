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

__all__ = ["common_hard_cause", "critical_for", "strong_components"]

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
    first_only: bool,
) -> A:
    """Return, per node, whether its failure alone makes ``target`` DOWN.

    With ``first_only`` it stops at the first node other than ``target`` known
    to be critical: the answer then flags ``target``, that node and whatever was
    settled critical on the way (enough to say whether there is one).

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
    if first_only:
        for w in range(n):
            if w != target and status[w] == 1:
                settled: A = status == 1
                return settled
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
            if first_only:
                break
    critical: A = status == 1
    return critical


def _common_hard_cause(n: int, members: A, exclude: int, src: A, dst: A, effective: A) -> bool:
    """Whether one node other than ``exclude`` takes every one of ``members`` down.

    Sufficient, not necessary: it looks only at paths of ``effective`` edges
    (impact edges whose source failing alone fails their target): a node with
    such a path to every member (or that is a member and has one to the others)
    fails them all. Linear in the edges per member.
    """
    in_off, in_edges = _csr(n, dst)
    count = np.zeros(n, dtype=np.int64)
    seen = np.full(n, -1, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    k = members.shape[0]
    for i in range(k):
        start = members[i]
        if seen[start] == i:
            continue
        seen[start] = i
        count[start] += 1
        stack[0] = start
        top = 1
        while top > 0:
            top -= 1
            u = stack[top]
            for j in range(in_off[u], in_off[u + 1]):
                e = in_edges[j]
                w = src[e]
                if effective[e] and seen[w] != i:
                    seen[w] = i
                    count[w] += 1
                    stack[top] = w
                    top += 1
    for w in range(n):  # noqa: SIM110 - a plain loop compiles in numba's nopython mode
        if count[w] == k and w != exclude:
            return True
    return False


strong_components = cast("Callable[[int, A, A], A]", _jit(_strong_components))
critical_for = cast("Callable[[int, int, A, A, A, A, A, A, bool], A]", _jit(_critical_for))
common_hard_cause = cast("Callable[[int, A, int, A, A, A], bool]", _jit(_common_hard_cause))
