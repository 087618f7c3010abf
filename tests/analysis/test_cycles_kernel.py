"""The compiled strongly-connected-components kernel against scipy's, on random graphs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from graphsvc.analysis._graph_kernels import strong_components
from graphsvc.analysis.cycles import cyclic_groups
from graphsvc.store.base import StepEdges


def partition(labels: np.ndarray) -> set[frozenset[int]]:  # type: ignore[type-arg]
    groups: dict[int, set[int]] = {}
    for node, label in enumerate(labels.tolist()):
        groups.setdefault(label, set()).add(node)
    return {frozenset(g) for g in groups.values()}


graphs = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=90)
    )
)


@settings(max_examples=300, deadline=None)
@given(graph=graphs)
def test_components_match_scipy(graph: tuple[int, list[tuple[int, int]]]) -> None:
    n, pairs = graph
    src = np.asarray([a for a, _ in pairs], dtype=np.int64)
    dst = np.asarray([b for _, b in pairs], dtype=np.int64)
    ours = strong_components(n, src, dst)
    matrix = coo_matrix((np.ones(len(pairs)), (src, dst)), shape=(n, n)).tocsr()
    _, theirs = connected_components(matrix, directed=True, connection="strong")
    assert partition(ours) == partition(theirs)
    # groups with a cycle: two or more nodes, or one node with an edge to itself
    found = cyclic_groups(
        StepEdges(src + 100, dst + 100, np.arange(1, len(pairs) + 1, dtype=np.int64))
    )
    loops = {a for a, b in pairs if a == b}
    expected = {
        frozenset(i + 100 for i in g)
        for g in partition(theirs)
        if len(g) >= 2 or next(iter(g)) in loops
    }
    assert {frozenset(m) for m in found.members} == expected
    for members, edges in zip(found.members, found.edges, strict=True):
        assert all(a in members and b in members for _, a, b in edges)


def test_a_long_chain_closed_into_one_cycle_needs_no_recursion() -> None:
    n = 200_000
    src = np.arange(n, dtype=np.int64)
    dst = (src + 1) % n
    assert len(set(strong_components(n, src, dst).tolist())) == 1
