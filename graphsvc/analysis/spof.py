"""Single points of failure of one service (PRODUCT.md 9, in the sense of 4.2).

:func:`single_points_of_failure` answers "which entities, failing alone, take
this service DOWN?": exactly the entities ``x`` for which ``impact([x])``
(unbounded, redundancy groups honoured) marks the service DOWN.

How it is computed, and what it costs:

* One ``traverse`` with ``collect_edges`` along the dependency steps (the walk of
  :func:`~graphsvc.analysis.impact.dependencies`) gives the service's dependency
  closure: every entity whose failure can reach the service, and every walkable
  relation between them, with redundancy groups and their sizes. An entity
  outside the closure cannot reach the service in an impact walk; an entity in
  it is DOWN or not in ``impact([x])`` by the relations inside the closure only
  (every relation into a closure entity comes from a closure entity), so the
  closure is all that is read.
* A compiled kernel (:func:`~graphsvc.analysis._graph_kernels.critical_for`)
  decides every entity of the closure exactly, with the DOWN rule of the impact
  kernel: entities with a path of relations without a redundancy group to the
  service are single points at once; the others are decided by propagating
  their failure, cut short as soon as it reaches a known single point, and each
  propagation that misses the service clears everything it reached.
* Each single point's path is the walk's shortest path from the service,
  reversed (in impact order: its first step leaves the single point), as
  ``impact([x])`` would give it. One ``relations_by_id`` and one ``entities``
  call read what the answer shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from graphsvc.analysis._common import SVC_CI, as_ids, records
from graphsvc.analysis._graph_kernels import critical_for, group_kills
from graphsvc.analysis.impact import PathStep
from graphsvc.deadline import check_deadline
from graphsvc.errors import InvalidInput, NotFound
from graphsvc.model.records import EntityRecord, RelationRecord
from graphsvc.model.vocabulary import VOCABULARY
from graphsvc.store.base import GraphStore, Traversal, TraversalSpec

__all__ = [
    "SinglePoint",
    "SinglePoints",
    "critical_indexes",
    "have_single_points",
    "single_points_of_failure",
]


@dataclass(frozen=True, slots=True)
class SinglePoint:
    """An entity whose failure alone makes the service DOWN.

    Attributes:
        entity: The entity (as of the query time).
        depth: Fewest hops between it and the service.
        stale: Whether the entity is stale (no source asserts it any more).
        path: One shortest path from the entity to the service, in impact order:
            the first step leaves ``entity``, the last reaches the service (the
            path ``impact([entity])`` gives the service). Each step is the
            relation as stored (its own ``from`` and ``to``).
    """

    entity: EntityRecord
    depth: int
    stale: bool
    path: tuple[PathStep, ...]


@dataclass(frozen=True, slots=True)
class SinglePoints:
    """The answer of :func:`single_points_of_failure`.

    Attributes:
        service: The service (or configuration item) asked about.
        points: Every single point of failure, nearest first, then by kind and key.
        dependencies: How many entities the service depends on, directly or not
            (its dependency closure, the service itself left out): the candidates.
        as_of: The time the graph was read at (``None``: now).
    """

    service: EntityRecord
    points: tuple[SinglePoint, ...]
    dependencies: int
    as_of: datetime | None


@dataclass(frozen=True, slots=True)
class _ImpactEdges:
    """A dependency walk's edges in impact order, as the kernels take them."""

    src: NDArray[np.int64]  # the needed entity (its failure flows to dst)
    dst: NDArray[np.int64]  # the dependent
    slot: NDArray[np.int64]  # dense id of (dependent, redundancy group), -1 for none
    slot_size: NDArray[np.int64]  # per slot: live members
    hard: NDArray[np.bool_]  # no redundancy group: a DOWN src alone fails dst

    @property
    def effective(self) -> NDArray[np.bool_]:
        """Edges whose source failing alone fails their target (hard, or a group of one)."""
        sized = np.zeros(self.slot.shape[0], dtype=np.bool_)
        grouped = self.slot >= 0
        sized[grouped] = self.slot_size[self.slot[grouped]] <= 1
        out: NDArray[np.bool_] = self.hard | sized
        return out


def _impact_edges(walk: Traversal) -> _ImpactEdges | None:
    e = walk.edges
    if len(walk) <= 1 or e is None or e.source.shape[0] == 0:
        return None
    # impact direction: the needed entity (walk target) fails -> the dependent (walk source)
    src = e.target.astype(np.int64)
    dst = e.source.astype(np.int64)
    grouped = (e.group >= 0) & (e.group_size > 0)
    slot = np.full(src.shape[0], -1, dtype=np.int64)
    slot_size = np.zeros(0, dtype=np.int64)
    if grouped.any():
        width = int(e.group.max()) + 1
        keys = dst[grouped] * width + e.group[grouped]
        uniq, inv = np.unique(keys, return_inverse=True)
        slot[grouped] = inv.reshape(-1)
        slot_size = np.zeros(uniq.shape[0], dtype=np.int64)
        slot_size[inv.reshape(-1)] = e.group_size[grouped]
    return _ImpactEdges(src, dst, slot, slot_size, ~grouped)


def critical_indexes(walk: Traversal) -> np.ndarray[tuple[int], np.dtype[np.bool_]]:
    """Return, per entity of a dependency walk from one entity, whether it is a single point.

    ``walk`` is a ``traverse`` along the dependency steps from one start with
    ``collect_edges`` (index 0 is the start). The start itself is flagged
    ``False``. See the module docstring for the method.
    """
    n = len(walk)
    edges = _impact_edges(walk)
    if edges is None:
        return np.zeros(n, dtype=np.bool_)
    order = np.arange(n, dtype=np.int64)  # breadth-first: nearest the service first
    flags = critical_for(n, 0, order, edges.src, edges.dst, edges.slot, edges.slot_size, edges.hard)
    flags[0] = False
    return flags


def have_single_points(walk: Traversal, starts: Sequence[int]) -> list[bool]:
    """Whether each of some entities has at least one single point of failure.

    ``walk`` is one ``traverse`` along the dependency steps with
    ``collect_edges`` (from these entities, or more); ``starts`` are their
    indexes in it. Each one's dependency closure lies inside the walk, with
    every relation into a closure entity, so each answer is the one
    :func:`single_points_of_failure` gives: decided for all of them at once by
    :func:`~graphsvc.analysis._graph_kernels.group_kills` (an entity has one
    exactly when a dependency without redundancy, or an entity that fails a
    whole redundancy group of it, exists), in time near-linear in the walk per
    redundancy group instead of one propagation per candidate.
    """
    edges = _impact_edges(walk)
    if edges is None:
        return [False] * len(starts)
    has = group_kills(
        len(walk),
        edges.src,
        edges.dst,
        edges.slot,
        edges.slot_size,
        edges.effective,
        walk.depth.astype(np.int64),
    )
    return [bool(has[s]) for s in starts]


async def single_points_of_failure(
    store: GraphStore, entity_id: int, *, as_of: datetime | None = None
) -> SinglePoints:
    """Return the entities whose failure alone makes the service ``entity_id`` DOWN.

    Exactly the entities ``x`` (``x`` not the service) such that
    ``impact([x])`` (PRODUCT.md 4.2: unbounded, redundancy groups honoured:
    a group is DOWN only when all its members are; cycles walked once; retired
    entities and relations never walked, stale ones walked) marks the service
    DOWN, each with one shortest path from ``x`` to the service.

    Edge cases: a service that depends on nothing has none; a stale service is
    answered like an active one; a retired service has none (impact never
    reaches a retired entity); a merged id answers for its survivor.

    Args:
        store: The store.
        entity_id: The service (a Service or a ConfigurationItem: the kinds
            impact flows through).
        as_of: Answer from the graph as it was then (every store call gets it).

    Raises:
        NotFound: when no entity has the id (at ``as_of``).
        InvalidInput: when the entity is not a Service or ConfigurationItem.
    """
    found = (await store.entities([entity_id], as_of=as_of))[0]
    if found is None:
        msg = f"no entity has id {entity_id}" + (f" at {as_of.isoformat()}" if as_of else "")
        raise NotFound(msg)
    if found.kind not in SVC_CI:
        msg = (
            f"{found.kind.value} {found.key!r} is not a Service or ConfigurationItem: "
            "only those can be DOWN"
        )
        raise InvalidInput(msg)
    walk = await store.traverse(
        TraversalSpec(
            [found.id],
            VOCABULARY.dependency_steps,
            None,
            as_of,
            include_stale=True,
            collect_edges=True,
        )
    )
    check_deadline()
    flags = critical_indexes(walk)
    check_deadline()
    chosen = np.flatnonzero(flags)
    # each single point's path: its walk chain up to the service, by relation id
    chains: dict[int, list[int]] = {}
    vias: set[int] = set()
    for p in chosen.tolist():
        chain: list[int] = []
        i = p
        while walk.parent[i] >= 0:
            chain.append(int(walk.via[i]))
            i = int(walk.parent[i])
        chains[p] = chain
        vias.update(chain)
    rel_list = sorted(vias)
    rels: dict[int, RelationRecord] = {}
    if rel_list:
        got = await store.relations_by_id(rel_list, as_of=as_of)
        rels = {i: r for i, r in zip(rel_list, got, strict=True) if r is not None}
    want = set(as_ids(walk.entities[chosen]))
    for r in rels.values():
        want.update((r.from_id, r.to_id))
    recs = await records(store, want, as_of)
    points: list[SinglePoint] = []
    for p in chosen.tolist():
        rec = recs.get(int(walk.entities[p]))
        if rec is None:  # pragma: no cover - the walk only reaches existing entities
            continue
        path: list[PathStep] = []
        for rid in chains[p]:
            rel = rels.get(rid)
            if rel is None:  # pragma: no cover
                continue
            a, b = recs.get(rel.from_id), recs.get(rel.to_id)
            if a is not None and b is not None:
                path.append(PathStep(rel.type, a, b, rel.id))
        points.append(SinglePoint(rec, int(walk.depth[p]), bool(walk.stale[p]), tuple(path)))
    points.sort(key=lambda sp: (sp.depth, sp.entity.kind.value, sp.entity.key))
    service = found
    if len(walk) and int(walk.entities[0]) != found.id:  # pragma: no cover - merged ids resolve
        service = recs.get(int(walk.entities[0]), found)
    return SinglePoints(service, tuple(points), max(len(walk) - 1, 0), as_of)
