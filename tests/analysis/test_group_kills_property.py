"""The batch single-points kernel against the DOWN rule itself, on random graphs.

``group_kills`` answers, for every node at once, whether another node's failure
alone makes it DOWN (what the health check counts per tier-1/2 service). Here
its answer is compared with a brute force over every node ``x``: ``Down(x)`` by
the rule of PRODUCT.md 4.2 (a hard edge from a DOWN node fails its target; a
redundancy group fails when all its edges come from DOWN nodes), on graphs
with nested redundancy groups, shared members, cycles, groups of one and groups
with a member missing (which can never fail whole).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from graphsvc.analysis._graph_kernels import group_kills

NODES = 8


def down_of(x: int, n: int, src: Any, dst: Any, slot: Any, size: Any) -> set[int]:
    """The least fixpoint from ``{x}`` (the propagation of the impact analysis)."""
    down = {x}
    while True:
        counts: dict[int, int] = {}
        for e in range(len(src)):
            if src[e] in down and slot[e] >= 0:
                counts[slot[e]] = counts.get(slot[e], 0) + 1
        grown = set(down)
        for e in range(len(src)):
            if src[e] not in down:
                continue
            if slot[e] < 0 or counts[slot[e]] >= size[slot[e]]:
                grown.add(int(dst[e]))
        if grown == down:
            return down
        down = grown


def _check(edges: list[tuple[int, int, str | None]], missing: list[bool], depth: list[int]) -> None:
    chosen = sorted({(a, b, g) for a, b, g in edges if a != b}, key=str)
    slots: dict[tuple[int, str], int] = {}
    src, dst, slot = [], [], []
    for a, b, g in chosen:
        src.append(b)  # impact order: the needed node fails -> the dependent
        dst.append(a)
        slot.append(-1 if g is None else slots.setdefault((a, g), len(slots)))
    size = np.zeros(len(slots), dtype=np.int64)
    for s in slot:
        if s >= 0:
            size[s] += 1
    # a member the walk did not reach: the group counts it, its edge is absent
    size += np.asarray([int(missing[i]) for i in range(len(slots))], dtype=np.int64)
    s_, d_, sl = (np.asarray(v, dtype=np.int64) for v in (src, dst, slot))
    grouped = sl >= 0
    effective = ~grouped
    effective[grouped] = size[sl[grouped]] <= 1
    got = group_kills(NODES, s_, d_, sl, size, effective, np.asarray(depth, dtype=np.int64))
    downs = [down_of(x, NODES, src, dst, slot, size) for x in range(NODES)]
    expected = [any(v in downs[x] for x in range(NODES) if x != v) for v in range(NODES)]
    assert got.tolist() == expected, (chosen, size.tolist())


def test_group_kills_on_uniformly_drawn_graphs() -> None:
    """1,500 seeded graphs drawn uniformly (hypothesis favours small ones, where
    a kill found late in a pass, or one through another group, is rare)."""
    rng = random.Random(20261207)
    for _ in range(1500):
        edges = [
            (rng.randrange(NODES), rng.randrange(NODES), rng.choice([None, "a", "a", "b"]))
            for _ in range(rng.randrange(4, 25))
        ]
        missing = [rng.random() < 0.2 for _ in range(2 * NODES)]
        depth = [rng.randrange(6) for _ in range(NODES)]
        _check(edges, missing, depth)


@settings(max_examples=300, deadline=None)
@given(
    edges=st.lists(
        st.tuples(
            st.integers(0, NODES - 1),  # the dependent
            st.integers(0, NODES - 1),  # what it needs
            st.sampled_from([None, "a", "a", "b"]),  # its redundancy group
        ),
        min_size=8,
        max_size=24,
    ),
    missing=st.lists(st.booleans(), min_size=2 * NODES, max_size=2 * NODES),
    depth=st.lists(st.integers(0, 5), min_size=NODES, max_size=NODES),
)
def test_group_kills_is_the_down_rule(
    edges: list[tuple[int, int, str | None]], missing: list[bool], depth: list[int]
) -> None:
    _check(edges, missing, depth)
