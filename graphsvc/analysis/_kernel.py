"""Compiled helper of the impact analysis (numba): DOWN/DEGRADED states in linear time.

Kept apart from :mod:`graphsvc.analysis.impact` so that the typed code there does
not depend on numba's untyped decorators. The kernel is compiled on first use and
cached on disk next to this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["propagate_down"]

A = NDArray[Any]


def _propagate_down(
    n: int,
    starts: A,
    src: A,
    dst: A,
    slot: A,
    slot_size: A,
    hard: A,
) -> A:
    """Return a boolean DOWN flag per walked entity.

    Args:
        n: Number of walked entities (indexes ``0 .. n-1``).
        starts: Indexes of the start entities (DOWN by definition).
        src: Walk-direction source index of each walked edge.
        dst: Walk-direction target index of each walked edge.
        slot: Per edge, the dense id of its (target, redundancy group) pair, or ``-1``.
        slot_size: Per slot, how many DOWN member edges make the whole group DOWN.
        hard: Per edge, whether a DOWN source alone makes the target DOWN
            (``slot`` is then ignored).

    Each entity is popped from the worklist at most once and each edge is looked
    at once, when its source becomes DOWN: linear in entities plus edges, and
    cycles cannot loop.
    """
    m = src.shape[0]
    down = np.zeros(n, dtype=np.bool_)
    # CSR of the edges by source
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
    counter = np.zeros(slot_size.shape[0], dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    tail = 0
    for s in starts:
        if not down[s]:
            down[s] = True
            queue[tail] = s
            tail += 1
    head = 0
    while head < tail:
        u = queue[head]
        head += 1
        for k in range(offsets[u], offsets[u + 1]):
            e = by_src[k]
            v = dst[e]
            if down[v]:
                continue
            if hard[e]:
                down[v] = True
                queue[tail] = v
                tail += 1
                continue
            g = slot[e]
            if g < 0:
                continue
            counter[g] += 1
            if counter[g] >= slot_size[g]:
                down[v] = True
                queue[tail] = v
                tail += 1
    return down


propagate_down = cast(
    "Callable[[int, A, A, A, A, A, A], A]", numba.njit(cache=True, nogil=True)(_propagate_down)
)
