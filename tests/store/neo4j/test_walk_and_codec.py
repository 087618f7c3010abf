"""The pure parts of the Neo4j store: status and group replay, history undo, JSON filters,
the breadth-first walk over level reads, and the write transaction's commit rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from graphsvc.errors import StoreError
from graphsvc.model.vocabulary import VOCABULARY, Direction, EntityKind, RelationType, TraversalStep
from graphsvc.store.base import ChangeSet
from graphsvc.store.neo4j.codec import group_at, indexed_mirror, json_equal, status_at
from graphsvc.store.neo4j.store import Neo4jStore
from graphsvc.store.neo4j.walk import Edge, Node, StepMask, bfs, one_hop
from tests.store.neo4j.cypher_model import ModelGateway

SVC = VOCABULARY.kind_code(EntityKind.SERVICE)
CI = VOCABULARY.kind_code(EntityKind.CONFIGURATION_ITEM)


def test_status_replay_takes_the_first_change_after_the_time() -> None:
    assert status_at(2, [10, 20], [0, 1], None) == 2
    assert status_at(2, [10, 20], [0, 1], 5) == 0
    assert status_at(2, [10, 20], [0, 1], 10) == 1
    assert status_at(2, [10, 20], [0, 1], 25) == 2
    assert status_at(1, None, None, 5) == 1


def test_group_replay_reads_json_texts() -> None:
    assert group_at("b", [10, 20], ["null", '"a"'], 5) is None
    assert group_at("b", [10, 20], ["null", '"a"'], 15) == "a"
    assert group_at("b", [10], ["null"], 15) == "b"


def test_json_equality_follows_the_embedded_store() -> None:
    stored = {"n": 1, "b": True, "s": "x", "o": {"a": 1}, "z": None}
    assert json_equal(stored, "n", 1.0)
    assert not json_equal(stored, "n", True)
    assert json_equal(stored, "b", True) and not json_equal(stored, "s", "X")
    assert json_equal(stored, "o", {"a": 1}) and json_equal(stored, "z", None)
    assert not json_equal(stored, "missing", None)


def test_indexed_mirror_holds_scalars_only() -> None:
    mirror = indexed_mirror({"tier": 1, "capability": {"x": 1}, "ciClass": "db"})
    assert mirror["attr_tier"] == 1 and mirror["attr_ciClass"] == "db"
    assert mirror["attr_capability"] is None and mirror["attr_lifecycle"] is None
    assert indexed_mirror({"tier": 2**70})["attr_tier"] is None


def node(i: int, kind: int = SVC, status: int = 0, first: int = 0) -> Node:
    return Node(i, kind, status, first)


def edge(rel: int, v: Node, *, out: bool = False, status: int = 0, first: int = 0) -> Edge:
    return Edge(rel, RelationType.DEPENDS_ON, out, status, first, None, v)


IMPACT_IN = [
    TraversalStep(
        RelationType.DEPENDS_ON, Direction.IN, frozenset(EntityKind), frozenset(EntityKind)
    )
]


def graph(adjacency: Mapping[int, Sequence[Edge]]):  # type: ignore[no-untyped-def]
    calls: list[list[int]] = []

    async def fetch(ids: Sequence[int]) -> Mapping[int, Sequence[Edge]]:
        calls.append(list(ids))
        return {i: adjacency.get(i, []) for i in ids}

    return fetch, calls


async def test_bfs_levels_parents_and_tie_breaks() -> None:
    # 1 <- 2, 1 <- 3, 2 <- 4, 3 <- 4 (4 depends on both): 4 is reached from 2 (first in order)
    n1, n2, n3, n4 = node(1), node(2), node(3), node(4)
    adjacency = {
        1: [edge(11, n3), edge(10, n2)],
        2: [edge(12, n4), edge(10, n1, out=True)],
        3: [edge(13, n4)],
    }
    fetch, calls = graph(adjacency)
    t = await bfs(
        [n1, None, n1],
        StepMask(IMPACT_IN),
        fetch,
        max_depth=None,
        max_status=1,
        as_of=None,
        collect_edges=False,
    )
    assert t.entities.tolist() == [1, 2, 3, 4]
    assert t.depth.tolist() == [0, 1, 1, 2]
    assert t.parent.tolist() == [-1, 0, 0, 1]
    assert t.via.tolist() == [-1, 10, 11, 12]
    assert calls == [[1], [2, 3], [4]]


async def test_bfs_respects_depth_status_time_and_kinds() -> None:
    stale, retired, late, team = (
        node(2, status=1),
        node(3, status=2),
        node(4, first=50),
        node(5, kind=1),
    )
    fetch, _ = graph({1: [edge(1, stale), edge(2, retired), edge(3, late), edge(4, team)]})
    mask = StepMask(
        [
            TraversalStep(
                RelationType.DEPENDS_ON,
                Direction.IN,
                frozenset(EntityKind),
                frozenset({EntityKind.SERVICE}),
            )
        ]
    )
    t = await bfs([node(1)], mask, fetch, max_depth=1, max_status=1, as_of=40, collect_edges=False)
    assert t.entities.tolist() == [1, 2] and t.stale.tolist() == [False, True]
    t0 = await bfs(
        [node(1)], mask, fetch, max_depth=1, max_status=0, as_of=None, collect_edges=False
    )
    assert t0.entities.tolist() == [1, 4]
    assert t0.kind.tolist() == [SVC, SVC]
    none = await bfs(
        [node(1, first=99)],
        mask,
        fetch,
        max_depth=None,
        max_status=1,
        as_of=40,
        collect_edges=False,
    )
    assert len(none) == 0


async def test_collected_edges_and_redundancy_groups() -> None:
    app, db1, db2 = node(1), node(2, CI), node(3, CI)
    e1 = Edge(21, RelationType.DEPENDS_ON, False, 0, 0, "g", app)
    e2 = Edge(22, RelationType.DEPENDS_ON, False, 0, 0, "g", app)
    fetch, _ = graph({2: [e1], 3: [e2], 1: []})

    async def sizes(pairs: Sequence[tuple[int, str]]) -> Mapping[tuple[int, str], int]:
        assert list(pairs) == [(1, "g")]
        return {(1, "g"): 2}

    t = await bfs(
        [db1, db2],
        StepMask(IMPACT_IN),
        fetch,
        max_depth=None,
        max_status=1,
        as_of=None,
        collect_edges=True,
        redundancy_sizes=sizes,
    )
    assert t.edges is not None
    assert t.edges.relation.tolist() == [21, 22]
    assert t.edges.source.tolist() == [0, 1] and t.edges.target.tolist() == [2, 2]
    assert t.edges.group.tolist() == [0, 0] and t.edges.group_size.tolist() == [2, 2]


def test_one_hop_reports_kind_and_type_and_keeps_duplicates() -> None:
    v = node(2, CI)
    hop = one_hop(
        [node(1), None, node(1)], {1: [edge(7, v)]}, StepMask(IMPACT_IN), max_status=1, as_of=None
    )
    assert hop.origin.tolist() == [0, 2] and hop.entity.tolist() == [2, 2]
    assert hop.kind.tolist() == [CI, CI]
    assert hop.type.tolist() == [VOCABULARY.type_code(RelationType.DEPENDS_ON)] * 2


async def test_write_commits_rolls_back_and_takes_one_change_set() -> None:
    gateway = ModelGateway()
    store = Neo4jStore(gateway=gateway)
    await store.open()
    async with store.write():
        pass
    assert gateway.log[-1] == "ROLLBACK"  # nothing staged: nothing committed
    with pytest.raises(RuntimeError):
        async with store.write() as tx:
            at = await tx.next_commit_time()
            await tx.apply(
                ChangeSet(at=at, source="s", scope="d", actor="", run_id=None, run_seq=0)
            )
            raise RuntimeError("the caller failed")
    assert gateway.log[-1] == "ROLLBACK" and gateway.state.meta is not None
    assert gateway.state.meta["last_commit"] == 0
    async with store.write() as tx:
        at = await tx.next_commit_time()
        cs = ChangeSet(at=at, source="s", scope="d", actor="", run_id=None, run_seq=0)
        await tx.apply(cs)
        with pytest.raises(StoreError, match="one change set"):
            await tx.apply(cs)
    assert gateway.log[-1] == "COMMIT" and gateway.state.meta["last_commit"] == at
