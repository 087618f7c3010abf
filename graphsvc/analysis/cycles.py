"""Dependency cycles over the whole graph (PRODUCT.md 9).

:func:`dependency_cycles` finds the groups of services and configuration items
that depend on each other in a circle: the strongly connected groups of the
impact-carrying relations (the "impact flows" column of the vocabulary, as
``impact`` walks them: retired entities and relations never, stale ones yes),
each with one cycle as a path.

How it is computed, and what it costs:

* One ``step_edges`` call reads every impact-carrying relation of the graph as
  arrays; ids are compacted to ``0 .. n-1`` (only entities with a relation).
* A compiled iterative Tarjan (:func:`~graphsvc.analysis._graph_kernels.strong_components`)
  labels every entity's strongly connected group in time linear in entities plus
  relations, with no recursion.
* Only the groups of two or more entities, or of one entity with a relation to
  itself, go on: one cycle per group is found with ``networkx.find_cycle`` on
  that group's own subgraph (from its smallest-id member), and one
  ``entities`` and one ``relations_by_id`` call read what the answer shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import networkx as nx
import numpy as np
from numpy.typing import NDArray

from graphsvc.analysis._common import as_ids, records
from graphsvc.analysis._graph_kernels import strong_components
from graphsvc.analysis.impact import PathStep
from graphsvc.deadline import check_deadline
from graphsvc.errors import InvalidInput
from graphsvc.model.cursor import decode_cursor, encode_cursor
from graphsvc.model.records import EntityRecord, RelationRecord
from graphsvc.model.vocabulary import VOCABULARY
from graphsvc.store.base import GraphStore, StepEdges

I64 = NDArray[np.int64]

__all__ = [
    "CycleGroup",
    "CycleGroupPage",
    "CycleReport",
    "cycle_page",
    "cyclic_groups",
    "dependency_cycles",
]


@dataclass(frozen=True, slots=True)
class CycleGroup:
    """Services and configuration items that depend on each other in a circle.

    Attributes:
        members: Every entity of the group (a strongly connected group of the
            impact-carrying relations: each one's failure reaches every other),
            by key, then kind.
        cycle: One cycle through some of the members, in impact order: each
            step's failure flows to the next step, and the last step leads back
            to the first step's start. Each step is the relation as stored (its
            own ``from`` and ``to``). One step for an entity with a relation to
            itself.
    """

    members: tuple[EntityRecord, ...]
    cycle: tuple[PathStep, ...]


@dataclass(frozen=True, slots=True)
class CycleReport:
    """The answer of :func:`dependency_cycles`.

    Attributes:
        groups: Every cycle group, largest first, then by the smallest member
            key (then kind).
        entities: How many entities are in some group.
        relations: How many impact-carrying relations were looked at (the whole
            graph's).
        as_of: The time the graph was read at (``None``: now).
    """

    groups: tuple[CycleGroup, ...]
    entities: int
    relations: int
    as_of: datetime | None


@dataclass(frozen=True, slots=True)
class CyclicGroups:
    """Strongly connected groups with a cycle, by entity id (before records are read).

    Attributes:
        members: Per group, its member entity ids (ascending).
        edges: Per group, its internal relations as (relation id, source id,
            target id) in impact direction.
    """

    members: tuple[tuple[int, ...], ...]
    edges: tuple[tuple[tuple[int, int, int], ...], ...]


def _dense(src: NDArray[np.int64], dst: NDArray[np.int64]) -> tuple[I64, I64, I64]:
    """Number the entities of some edges ``0..n-1``: (their ids ascending, src, dst).

    Entity ids are small counters, so a table as long as the largest id does it
    in linear time (``np.unique`` sorts the ten million endpoints of a 1M graph:
    seven times slower); very sparse ids are sorted instead.
    """
    m = int(src.shape[0])
    top = int(max(int(src.max()), int(dst.max()))) + 1
    if top > 8 * m + 1024:
        ids, inverse = np.unique(np.concatenate([src, dst]), return_inverse=True)
        inverse = inverse.reshape(-1).astype(np.int64)
        return ids.astype(np.int64), inverse[:m], inverse[m:]
    seen = np.zeros(top, dtype=np.bool_)
    seen[src] = True
    seen[dst] = True
    ids = np.flatnonzero(seen).astype(np.int64)
    number = np.cumsum(seen, dtype=np.int64) - 1
    return ids, number[src], number[dst]


def cyclic_groups(edges: StepEdges) -> CyclicGroups:
    """Return the strongly connected groups of ``edges`` that hold a cycle.

    A group holds a cycle when it has two or more entities, or one entity with
    an edge to itself. Groups come in no particular order.
    """
    src, dst, rel = edges.source, edges.target, edges.relation
    if src.shape[0] == 0:
        return CyclicGroups((), ())
    ids, s, t = _dense(src, dst)
    comp = strong_components(int(ids.shape[0]), s, t)
    sizes = np.bincount(comp)
    cyclic = sizes >= 2
    loops = s == t
    cyclic[comp[s[loops]]] = True
    inside = (comp[s] == comp[t]) & cyclic[comp[s]]
    node_rows = np.flatnonzero(cyclic[comp])
    node_order = node_rows[np.argsort(comp[node_rows], kind="stable")]
    edge_rows = np.flatnonzero(inside)
    edge_order = edge_rows[np.argsort(comp[s[edge_rows]], kind="stable")]
    members: list[tuple[int, ...]] = []
    internal: list[tuple[tuple[int, int, int], ...]] = []
    node_comp = comp[node_order]
    edge_comp = comp[s[edge_order]]
    n_bounds = np.flatnonzero(np.diff(node_comp)) + 1
    e_bounds = np.flatnonzero(np.diff(edge_comp)) + 1
    for nodes, group_edges in zip(
        np.split(node_order, n_bounds), np.split(edge_order, e_bounds), strict=True
    ):
        if nodes.shape[0] == 0:
            continue
        members.append(tuple(sorted(as_ids(ids[nodes]))))
        internal.append(
            tuple(
                zip(
                    as_ids(rel[group_edges]),
                    as_ids(ids[s[group_edges]]),
                    as_ids(ids[t[group_edges]]),
                    strict=True,
                )
            )
        )
    return CyclicGroups(tuple(members), tuple(internal))


def one_cycle(members: tuple[int, ...], edges: tuple[tuple[int, int, int], ...]) -> list[int]:
    """Return the relation ids of one cycle of a strongly connected group, in order.

    ``networkx.find_cycle`` on the group's own subgraph, from its smallest member.
    """
    graph: nx.MultiDiGraph[int] = nx.MultiDiGraph()
    graph.add_nodes_from(members)
    for rid, a, b in sorted(edges):
        graph.add_edge(a, b, key=rid)
    found = nx.find_cycle(graph, source=members[0])
    return [int(step[2]) for step in found]


async def dependency_cycles(store: GraphStore, *, as_of: datetime | None = None) -> CycleReport:
    """Return the groups of services and CIs that depend on each other in a circle.

    Semantics (PRODUCT.md 9, over the relations impact walks, PRODUCT.md 4.2):
    a group is a strongly connected set of Services and ConfigurationItems over
    the impact-carrying relations (each member's failure reaches every other
    member), of two or more entities, or one entity with a relation to itself.
    Retired entities and relations are not walked (a cycle closed only by a
    retired relation is no cycle); stale ones are. Found over the whole graph.

    Args:
        store: The store.
        as_of: Answer from the graph as it was then (every store call gets it).

    Returns:
        Every group with its members and one cycle as a path (see
        :class:`CycleReport` for the order).
    """
    edges = await store.step_edges(VOCABULARY.impact_steps, as_of=as_of)
    check_deadline()
    found = cyclic_groups(edges)
    check_deadline()
    cycles: list[list[int]] = []
    for members, group_edges in zip(found.members, found.edges, strict=True):
        cycles.append(one_cycle(members, group_edges))
        check_deadline()
    rel_list = sorted({r for c in cycles for r in c})
    rels: dict[int, RelationRecord] = {}
    if rel_list:
        got = await store.relations_by_id(rel_list, as_of=as_of)
        rels = {i: r for i, r in zip(rel_list, got, strict=True) if r is not None}
    recs = await records(store, (i for m in found.members for i in m), as_of)

    def order(r: EntityRecord) -> tuple[str, str]:
        return (r.key, r.kind.value)

    groups: list[CycleGroup] = []
    for members, cycle in zip(found.members, cycles, strict=True):
        member_recs = sorted((recs[i] for i in members if i in recs), key=order)
        steps: list[PathStep] = []
        for rid in cycle:
            rel = rels.get(rid)
            if rel is None:  # pragma: no cover - the relations were just listed
                continue
            a, b = recs.get(rel.from_id), recs.get(rel.to_id)
            if a is not None and b is not None:
                steps.append(PathStep(rel.type, a, b, rel.id))
        groups.append(CycleGroup(tuple(member_recs), tuple(steps)))
    groups.sort(key=lambda g: (-len(g.members), *(order(g.members[0]) if g.members else ("", ""))))
    return CycleReport(tuple(groups), sum(len(m) for m in found.members), len(edges), as_of)


@dataclass(frozen=True, slots=True)
class CycleGroupPage:
    """One page of a :class:`CycleReport`'s groups (the REST answer).

    Attributes:
        groups: The groups of this page, in the report's order.
        total: Every group, not only this page.
        entities: How many entities are in some group.
        relations: How many impact-carrying relations were looked at.
        end_cursor: Pass as ``after`` for the next page (``None``: an empty page).
        has_next_page: Whether groups follow this page.
        as_of: The time the graph was read at (``None``: now).
    """

    groups: tuple[CycleGroup, ...]
    total: int
    entities: int
    relations: int
    end_cursor: str | None
    has_next_page: bool
    as_of: datetime | None


def cycle_page(report: CycleReport, *, first: int, after: str | None) -> CycleGroupPage:
    """Return the ``first`` groups of ``report`` after the cursor ``after``.

    Raises:
        InvalidInput: for a negative ``first``.
        InvalidCursor: for a cursor this service did not hand out.
    """
    if first < 0:
        msg = f"first must be 0 or more, got {first}"
        raise InvalidInput(msg)
    position = decode_cursor(after)
    begin = 0 if position is None else position + 1
    groups = report.groups[begin : begin + first]
    return CycleGroupPage(
        groups,
        len(report.groups),
        report.entities,
        report.relations,
        encode_cursor(begin + len(groups) - 1) if groups else None,
        begin + len(groups) < len(report.groups),
        report.as_of,
    )
