"""Breadth-first walks over adjacency read level by level (pure, no driver).

The store reads the relations around one frontier at a time
(:func:`~graphsvc.store.neo4j.cypher.expand_level`) and hands them here as
:class:`Edge` lists; this module applies exactly the rules of the embedded
store's kernels (``store/embedded/kernel.py``):

* a relation of type ``T`` is walked in direction ``D`` from ``u`` to ``v`` when
  some step ``(T, D)`` lists ``u``'s kind among its ``from_kinds`` and ``v``'s
  among its ``to_kinds``;
* the relation and ``v`` must have a status at most ``max_status`` (0 active,
  1 stale; retired 2 and merged 3 never) and, as of a past time, must have
  been created by then; statuses are those of that time;
* each entity is reached once, at its smallest depth, from the first entity
  of the previous level (in breadth-first order) that reaches it; the edges
  of one entity are taken outgoing first, then incoming, each by relation id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from graphsvc.model.vocabulary import VOCABULARY, Direction, RelationType, TraversalStep, Vocabulary
from graphsvc.store.base import Neighbours, Traversal, WalkedEdges

__all__ = ["Edge", "Node", "StepMask", "bfs", "one_hop", "walked_edges"]


@dataclass(frozen=True, slots=True)
class Node:
    """An entity as a walk sees it (status already as of the walk's time)."""

    id: int
    kind: int
    status: int
    first_seen: int


@dataclass(frozen=True, slots=True)
class Edge:
    """One relation around an entity ``u``, leading to ``v``.

    ``is_out`` is true when ``u`` is the relation's ``from``; ``status`` and
    ``group`` are as of the walk's time.
    """

    relation: int
    type: RelationType
    is_out: bool
    status: int
    first_seen: int
    group: str | None
    v: Node


def edge_order(edge: Edge) -> tuple[int, int]:
    """Sort key of the edges of one entity: outgoing first, then by relation id."""
    return (0 if edge.is_out else 1, edge.relation)


class StepMask:
    """Which (type, direction) may leave which kinds for which kinds."""

    def __init__(self, steps: Iterable[TraversalStep], vocabulary: Vocabulary = VOCABULARY) -> None:
        self._rules: dict[tuple[RelationType, bool], tuple[set[int], set[int]]] = {}
        for step in steps:
            key = (step.type, step.direction is Direction.OUT)
            from_kinds, to_kinds = self._rules.setdefault(key, (set(), set()))
            from_kinds.update(vocabulary.kind_code(k) for k in step.from_kinds)
            to_kinds.update(vocabulary.kind_code(k) for k in step.to_kinds)

    @property
    def types(self) -> frozenset[RelationType]:
        """Every relation type some step follows."""
        return frozenset(t for t, _ in self._rules)

    @property
    def outgoing(self) -> frozenset[RelationType]:
        """The relation types some step follows from their ``from`` end."""
        return frozenset(t for t, is_out in self._rules if is_out)

    @property
    def incoming(self) -> frozenset[RelationType]:
        """The relation types some step follows from their ``to`` end."""
        return frozenset(t for t, is_out in self._rules if not is_out)

    def leaves(self, type_: RelationType, is_out: bool, u_kind: int) -> tuple[bool, set[int]]:
        """Return whether a ``u_kind`` entity may be left this way, and which kinds it may reach."""
        rule = self._rules.get((type_, is_out))
        if rule is None or u_kind not in rule[0]:
            return False, set()
        return True, rule[1]


Fetch = Callable[[Sequence[int]], Awaitable[Mapping[int, Sequence[Edge]]]]
"""Reads the edges of a frontier: entity id -> its edges (any order)."""


def _walkable(edge: Edge, max_status: int, as_of: int | None) -> bool:
    if edge.status > max_status:
        return False
    return as_of is None or edge.first_seen <= as_of


async def bfs(
    starts: Sequence[Node | None],
    mask: StepMask,
    fetch: Fetch,
    *,
    max_depth: int | None,
    max_status: int,
    as_of: int | None,
    collect_edges: bool,
    redundancy_sizes: Callable[
        [Sequence[tuple[int, str]]], Awaitable[Mapping[tuple[int, str], int]]
    ]
    | None = None,
) -> Traversal:
    """Walk breadth-first from ``starts`` (see the module docstring).

    Args:
        starts: The start entities, resolved (``None`` for unknown ids).
        mask: The steps.
        fetch: Reads the edges of a frontier.
        max_depth: Deepest level to reach (``None``: unbounded).
        max_status: 1 to walk stale items, 0 for active only.
        as_of: Walk the graph as it was then (micros), ``None`` for now.
        collect_edges: Also return every walkable relation between reached entities.
        redundancy_sizes: With ``collect_edges``, counts the live relations of
            the redundancy types per (from entity, group name).
    """
    order: list[Node] = []
    depth: list[int] = []
    parent: list[int] = []
    via: list[int] = []
    position: dict[int, int] = {}
    for node in starts:
        if node is None or node.id in position:
            continue
        if node.status > max_status or (as_of is not None and node.first_seen > as_of):
            continue
        position[node.id] = len(order)
        order.append(node)
        depth.append(0)
        parent.append(-1)
        via.append(-1)
    seen_edges: dict[int, list[Edge]] = {}
    level_start = 0
    level = 0
    while level_start < len(order) and (max_depth is None or level < max_depth):
        level_end = len(order)
        frontier = [order[i].id for i in range(level_start, level_end)]
        fetched = await fetch(frontier)
        for i in range(level_start, level_end):
            u = order[i]
            edges = sorted(fetched.get(u.id, ()), key=edge_order)
            seen_edges[u.id] = edges
            for edge in edges:
                ok, to_kinds = mask.leaves(edge.type, edge.is_out, u.kind)
                v = edge.v
                if not ok or v.id in position or not _walkable(edge, max_status, as_of):
                    continue
                if v.status > max_status or v.kind not in to_kinds:
                    continue
                if as_of is not None and v.first_seen > as_of:
                    continue
                position[v.id] = len(order)
                order.append(v)
                depth.append(level + 1)
                parent.append(i)
                via.append(edge.relation)
        level_start = level_end
        level += 1
    edges_out = None
    if collect_edges:
        missing = [n.id for n in order if n.id not in seen_edges]
        if missing:
            fetched = await fetch(missing)
            for node_id in missing:
                seen_edges[node_id] = sorted(fetched.get(node_id, ()), key=edge_order)
        edges_out = await walked_edges(
            order, position, seen_edges, mask, max_status, as_of, redundancy_sizes
        )
    return Traversal(
        entities=np.asarray([n.id for n in order], dtype=np.int64),
        depth=np.asarray(depth, dtype=np.int64),
        parent=np.asarray(parent, dtype=np.int64),
        via=np.asarray(via, dtype=np.int64),
        stale=np.asarray([n.status == 1 for n in order], dtype=np.bool_),
        kind=np.asarray([n.kind for n in order], dtype=np.int8),
        edges=edges_out,
    )


async def walked_edges(
    order: Sequence[Node],
    position: Mapping[int, int],
    edges_of: Mapping[int, Sequence[Edge]],
    mask: StepMask,
    max_status: int,
    as_of: int | None,
    redundancy_sizes: Callable[
        [Sequence[tuple[int, str]]], Awaitable[Mapping[tuple[int, str], int]]
    ]
    | None,
) -> WalkedEdges:
    """Every walkable relation between two reached entities, in the walk direction.

    ``group`` codes number the group names in order of first appearance;
    ``group_size`` comes from ``redundancy_sizes`` keyed by the relation's
    ``from`` entity and group name.
    """
    src: list[int] = []
    dst: list[int] = []
    rel: list[int] = []
    names: list[str | None] = []
    owners: list[int] = []
    for i, u in enumerate(order):
        for edge in edges_of.get(u.id, ()):
            ok, to_kinds = mask.leaves(edge.type, edge.is_out, u.kind)
            j = position.get(edge.v.id)
            if not ok or j is None or edge.v.kind not in to_kinds:
                continue
            if not _walkable(edge, max_status, as_of):
                continue
            src.append(i)
            dst.append(j)
            rel.append(edge.relation)
            names.append(edge.group)
            owners.append(u.id if edge.is_out else edge.v.id)
    codes: dict[str, int] = {}
    group = np.full(len(rel), -1, dtype=np.int64)
    for k, g in enumerate(names):
        if g is not None:
            group[k] = codes.setdefault(g, len(codes))
    sizes = np.zeros(len(rel), dtype=np.int64)
    pairs = sorted({(owners[k], g) for k, g in enumerate(names) if g is not None})
    if pairs and redundancy_sizes is not None:
        counted = await redundancy_sizes(pairs)
        for k, g in enumerate(names):
            if g is not None:
                sizes[k] = counted.get((owners[k], g), 0)
    return WalkedEdges(
        source=np.asarray(src, dtype=np.int64),
        target=np.asarray(dst, dtype=np.int64),
        relation=np.asarray(rel, dtype=np.int64),
        group=group,
        group_size=sizes,
    )


def count_groups(
    members: Iterable[tuple[int, str | None, int, int]],
    pairs: Iterable[tuple[int, str]],
    max_status: int,
    as_of: int | None,
) -> dict[tuple[int, str], int]:
    """Count, per wanted (from entity, group), the walkable members of that group.

    ``members`` are (from entity, group as of then, status as of then,
    first_seen) of the redundancy-type relations leaving the entities.
    """
    wanted = set(pairs)
    out = dict.fromkeys(wanted, 0)
    for owner, group, status, first_seen in members:
        if group is None or (owner, group) not in wanted or status > max_status:
            continue
        if as_of is not None and first_seen > as_of:
            continue
        out[(owner, group)] += 1
    return out


def one_hop(
    sources: Sequence[Node | None],
    edges_of: Mapping[int, Sequence[Edge]],
    mask: StepMask,
    *,
    max_status: int,
    as_of: int | None,
    vocabulary: Vocabulary = VOCABULARY,
) -> Neighbours:
    """Expand one hop from each source (``None``: unknown id, skipped).

    The source's own status is not checked (as in the embedded store); the
    relation and the entity reached follow the walk rules. Duplicated sources
    are expanded each time.
    """
    origin: list[int] = []
    entity: list[int] = []
    relation: list[int] = []
    kinds: list[int] = []
    types: list[int] = []
    for i, u in enumerate(sources):
        if u is None:
            continue
        for edge in sorted(edges_of.get(u.id, ()), key=edge_order):
            ok, to_kinds = mask.leaves(edge.type, edge.is_out, u.kind)
            v = edge.v
            if not ok or v.kind not in to_kinds or v.status > max_status:
                continue
            if not _walkable(edge, max_status, as_of):
                continue
            if as_of is not None and v.first_seen > as_of:
                continue
            origin.append(i)
            entity.append(v.id)
            relation.append(edge.relation)
            kinds.append(v.kind)
            types.append(vocabulary.type_code(edge.type))
    return Neighbours(
        origin=np.asarray(origin, dtype=np.int64),
        entity=np.asarray(entity, dtype=np.int64),
        relation=np.asarray(relation, dtype=np.int64),
        kind=np.asarray(kinds, dtype=np.int8),
        type=np.asarray(types, dtype=np.int8),
    )
