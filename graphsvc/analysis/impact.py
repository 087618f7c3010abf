"""Impact and dependency analysis (PRODUCT.md 4.2), written once over the store port.

:func:`impact` answers "if these entities fail or change, what is affected?";
:func:`dependencies` answers the reverse, "what do these entities need?". Both
return an :class:`Impact`, the shape of PRODUCT.md 4.7.

How it is computed, and what it costs:

* One ``traverse`` with ``collect_edges`` gives the reached entities in
  breadth-first order (depth = fewest hops, parent pointers = one shortest path)
  and every walkable relation between them with its redundancy group.
* States come from a worklist over those edges (a compiled kernel, linear in
  entities plus edges; each entity is reported once, cycles cannot loop).
* Aggregates are always complete and use batched store calls only: one
  ``neighbours`` call per question (services among the reached, owners,
  supporters, project links and changes together), two per ``PART_OF`` level of
  inheritance, one ``entities`` call for the records that must be read
  (start entities, affected services for their tier, the page and its paths,
  teams, projects), one ``relations_by_id`` call for the relations on the page's
  paths. Nothing is fetched per entity.
* Only the requested page of affected entities gets paths and records, and,
  for its DEGRADED entities, the redundancy groups that keep them up
  (:class:`RedundancyCover`): one ``neighbours`` call over the redundancy
  types from those entities and one ``relations_by_id`` call for the group
  names, whatever the page size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np

from graphsvc.analysis._common import (
    I64,
    IMPLEMENTS,
    MODIFIED_BY,
    OPEN_EXCLUDED,
    OWNED_BY,
    SUPPORTED_BY,
    SVC,
    SVC_CI,
    as_ids,
    inherit,
    records,
    step,
)
from graphsvc.analysis._kernel import propagate_down
from graphsvc.deadline import check_deadline
from graphsvc.errors import AnswerTooLarge, InvalidInput
from graphsvc.model.cursor import decode_cursor, encode_cursor
from graphsvc.model.records import EntityRecord, RelationRecord
from graphsvc.model.vocabulary import (
    VOCABULARY,
    Direction,
    EntityKind,
    RelationType,
    TraversalStep,
)
from graphsvc.store.base import GraphStore, Neighbours, Traversal, TraversalSpec

__all__ = [
    "Affected",
    "AffectedConnection",
    "AffectedEdge",
    "Analysis",
    "Impact",
    "ImpactState",
    "ImpactSummary",
    "KindCount",
    "NoticeRole",
    "PageInfo",
    "PathStep",
    "ProjectReason",
    "RedundancyCover",
    "StateCount",
    "Survivor",
    "TeamNotice",
    "TierCount",
    "dependencies",
    "impact",
    "impact_analysis",
    "redundancy_covers",
]

PROJECT = EntityKind.PROJECT
PROJECT_LINKS: tuple[TraversalStep, ...] = (
    step(RelationType.DEPENDS_ON, Direction.IN, SVC_CI, {PROJECT}),
    step(RelationType.DELIVERS, Direction.IN, {SVC}, {PROJECT}),
    step(RelationType.CONSOLIDATES, Direction.IN, SVC_CI, {PROJECT}),
)
EXAMPLES = 5
"""How many affected entities a :class:`ProjectReason` names as examples."""
REDUNDANT_NEEDS: tuple[TraversalStep, ...] = tuple(
    s for s in VOCABULARY.dependency_steps if s.type in VOCABULARY.redundancy_types
)
"""From an entity to what it needs, over the relation types that carry ``redundancyGroup``."""


class ImpactState(StrEnum):
    """State of an affected entity (PRODUCT.md 4.2)."""

    __hash__ = str.__hash__

    DOWN = "DOWN"
    """It has a failed dependency that no redundant alternative covers."""
    DEGRADED = "DEGRADED"
    """Reached, but every failed dependency is covered by a surviving redundant member."""


class NoticeRole(StrEnum):
    """Why a team is notified."""

    __hash__ = str.__hash__

    OWNER = "OWNER"
    """It owns (``OWNS``) affected entities."""
    SUPPORT = "SUPPORT"
    """It supports (``SUPPORTS``) affected entities."""


@dataclass(frozen=True, slots=True)
class PathStep:
    """One relation walked on a path, as stored (its own ``from`` and ``to``).

    Attributes:
        type: The relation type.
        from_: The relation's ``from`` entity.
        to: The relation's ``to`` entity.
        relation_id: The relation's id.
    """

    type: RelationType
    from_: EntityRecord
    to: EntityRecord
    relation_id: int


@dataclass(frozen=True, slots=True)
class Survivor:
    """A member of a redundancy group that is not DOWN: it keeps the group up.

    Attributes:
        entity: The member (the ``to`` of the group's relation).
        degraded: ``True`` when the impact reaches the member too and it is
            DEGRADED itself (it still works, with less redundancy of its own);
            ``False`` when the impact does not reach it (unaffected, or beyond
            ``maxDepth``).
    """

    entity: EntityRecord
    degraded: bool


@dataclass(frozen=True, slots=True)
class RedundancyCover:
    """A redundancy group that keeps a DEGRADED entity up: some members DOWN, not all.

    The group is the set of live ``DEPENDS_ON``/``RUNS_ON`` relations leaving
    the DEGRADED entity with one ``redundancyGroup`` name (PRODUCT.md 4.2).

    Attributes:
        group: The ``redundancyGroup`` name.
        members: How many live relations the group has (as the walk counted
            them: a member that can no longer be walked, such as a retired
            entity, still counts and is named nowhere).
        failed: The DOWN members (at least one), by key.
        survivors: The members that are not DOWN, by key. The entity stays up
            because of them. Empty only when every surviving member is one that
            cannot be walked (see ``members``).
    """

    group: str
    members: int
    failed: tuple[EntityRecord, ...]
    survivors: tuple[Survivor, ...]


@dataclass(frozen=True, slots=True)
class Affected:
    """One affected (impact) or needed (dependencies) entity.

    Attributes:
        entity: The entity (as of the query time).
        depth: Fewest hops from a start entity (0 for the start entities).
        state: DOWN or DEGRADED (start entities are DOWN).
        stale: Whether the entity is stale (no source asserts it any more).
        path: One shortest path from a start entity, in walk order: the first
            step leaves a start entity, the last reaches ``entity``. Empty for a
            start entity.
        saved_by: For a DEGRADED entity of an impact answer, each of its own
            redundancy groups that has a DOWN member (and so a failed
            dependency) but keeps a surviving one, by group name. Empty for a
            DOWN entity, for a DEGRADED entity that is DEGRADED only because
            entities it needs are DEGRADED (follow ``path`` back to the nearest
            entity that has ``saved_by``), in a ``dependencies`` answer, and
            when the caller asked for no redundancy details.
    """

    entity: EntityRecord
    depth: int
    state: ImpactState
    stale: bool
    path: tuple[PathStep, ...]
    saved_by: tuple[RedundancyCover, ...] = ()


@dataclass(frozen=True, slots=True)
class AffectedEdge:
    """A connection edge: the item and its cursor."""

    cursor: str
    node: Affected


@dataclass(frozen=True, slots=True)
class PageInfo:
    """Relay page information."""

    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@dataclass(frozen=True, slots=True)
class AffectedConnection:
    """One page of affected entities, in breadth-first order (starts first).

    ``total_count`` counts every affected entity, not only this page.
    """

    edges: tuple[AffectedEdge, ...]
    page_info: PageInfo
    total_count: int


@dataclass(frozen=True, slots=True)
class KindCount:
    """How many affected entities are of ``kind``."""

    kind: EntityKind
    count: int


@dataclass(frozen=True, slots=True)
class StateCount:
    """How many affected entities are in ``state``."""

    state: ImpactState
    count: int


@dataclass(frozen=True, slots=True)
class TierCount:
    """Affected services of one ``tier`` (``None``: the service states no tier)."""

    tier: int | None
    count: int
    down: int
    degraded: int


@dataclass(frozen=True, slots=True)
class ImpactSummary:
    """Complete aggregates of an answer (never paginated).

    Attributes:
        total: Affected entities, start entities included.
        by_kind: Counts by kind (kinds with none are left out), by kind name.
        by_state: Counts of DOWN and DEGRADED (both always present).
        services_by_tier: Affected services by tier, tier 1 first, no tier last.
        stale: How many affected entities are stale.
        deepest: The largest depth reached.
    """

    total: int
    by_kind: tuple[KindCount, ...]
    by_state: tuple[StateCount, ...]
    services_by_tier: tuple[TierCount, ...]
    stale: int
    deepest: int


@dataclass(frozen=True, slots=True)
class TeamNotice:
    """A team to notify.

    Attributes:
        team: The team.
        role: OWNER or SUPPORT.
        inherited: ``True`` when the team serves none of the affected entities
            directly, only ``PART_OF`` ancestors of some of them (PRODUCT.md 4.3).
        via: Up to five of the ancestors (lowest ids first) the team owns or
            supports directly and through which the role was inherited (empty
            for a purely direct notice).
        affected: How many affected entities the team is notified for.
        via_count: How many such ancestors there are in all.
    """

    team: EntityRecord
    role: NoticeRole
    inherited: bool
    via: tuple[EntityRecord, ...]
    affected: int
    via_count: int = 0


@dataclass(frozen=True, slots=True)
class ProjectReason:
    """Why a project is affected.

    Attributes:
        project: The project.
        relation: ``DEPENDS_ON``, ``DELIVERS`` or ``CONSOLIDATES`` (the project
            relates so to affected entities), or ``IMPLEMENTS`` (one of its open
            changes modifies affected entities).
        count: How many affected entities are linked this way.
        entities: Up to five of those affected entities.
        changes: For ``IMPLEMENTS``: the project's open changes that modify them.
    """

    project: EntityRecord
    relation: RelationType
    count: int
    entities: tuple[EntityRecord, ...]
    changes: tuple[EntityRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class Impact:
    """The answer of :func:`impact` or :func:`dependencies` (PRODUCT.md 4.7).

    Attributes:
        starts: The start entities that were walked (unknown or retired ones are
            left out).
        summary: Counts by kind, by state, services by tier (complete).
        affected: The requested page of affected entities with paths.
        teams_to_notify: Owners first, then support teams; most affected first.
        affected_projects: Projects affected (see :class:`ProjectReason`), by key.
        project_reasons: Why each project is affected.
        max_depth: The depth limit used (``None``: unbounded).
        as_of: The time the graph was read at (``None``: now).
    """

    starts: tuple[EntityRecord, ...]
    summary: ImpactSummary
    affected: AffectedConnection
    teams_to_notify: tuple[TeamNotice, ...]
    affected_projects: tuple[EntityRecord, ...]
    project_reasons: tuple[ProjectReason, ...]
    max_depth: int | None
    as_of: datetime | None


def _begin(after: str | None) -> int:
    """Return the position of the first entity of the page after the cursor ``after``.

    Raises:
        InvalidCursor: when ``after`` is not a cursor of :mod:`graphsvc.model.cursor`.
    """
    position = decode_cursor(after)
    return 0 if position is None else position + 1


async def impact(
    store: GraphStore,
    ids: Sequence[int],
    *,
    max_depth: int | None = None,
    as_of: datetime | None = None,
    first: int = 100,
    after: str | None = None,
    paths: bool = True,
    max_path_steps: int | None = None,
    redundancy: bool = True,
) -> Impact:
    """Return what is affected if the entities ``ids`` fail or change.

    Follows the "impact flows" column of the vocabulary
    (:attr:`~graphsvc.model.vocabulary.Vocabulary.impact_steps`) from ``ids``.

    Semantics (PRODUCT.md 4.2):

    * Every reached entity is reported once, at its fewest hops (``depth``), with
      one shortest path from a start entity; start entities are included at
      depth 0 with an empty path. Cycles are walked once.
    * States: start entities are DOWN. An entity is DOWN when one of its
      impact-carrying relations without a ``redundancyGroup`` comes from a DOWN
      entity, or when every member of one of its redundancy groups is DOWN
      (group size counts every live ``DEPENDS_ON``/``RUNS_ON`` of that group,
      so a member that is not reached, for instance beyond ``max_depth``, is
      never DOWN and keeps the group up). Every other reached entity is
      DEGRADED.
    * Why a DEGRADED entity of the page stays up (``saved_by``): each of its
      redundancy groups with a DOWN member, named, with its DOWN members and
      the surviving ones (:class:`RedundancyCover`). An entity DEGRADED only
      because what it needs is DEGRADED has none of its own; its ``path``
      leads back to the one whose group holds.
    * Retired entities and relations are never walked; stale ones are, and are
      flagged ``stale``.
    * Aggregates cover every affected entity: counts by kind and state,
      services by tier, teams to notify (direct owners and support teams of
      affected entities; for a service or CI without a direct one, those of the
      nearest ``PART_OF`` ancestors that have one), affected projects (projects
      that ``DEPENDS_ON``, ``DELIVERS`` or ``CONSOLIDATES`` an affected entity,
      and projects that open changes modifying an affected entity
      ``IMPLEMENTS``).

    Args:
        store: The store.
        ids: Start entity ids; unknown, retired and duplicate ids are ignored.
        max_depth: Largest depth to walk (``0``: only the starts); ``None``: unbounded.
        as_of: Answer from the graph as it was then (every store call gets it).
        first: Page size of ``affected`` (``0`` gives only aggregates).
        after: Cursor of the last entity of the previous page.
        paths: Build the path of each entity of the page (``False``: empty paths, for
            callers that do not show them).
        max_path_steps: Most path steps the page may hold in all (a path has as many
            steps as its entity's depth); ``None``: unbounded.
        redundancy: Name the redundancy groups and surviving members of the page's
            DEGRADED entities (``saved_by``; ``False``: empty, two store calls fewer,
            for callers that do not show them).

    Raises:
        InvalidInput: for a negative ``max_depth`` or ``first``, or a bad cursor.
        AnswerTooLarge: when the page's paths hold more than ``max_path_steps``
            steps; the message names the page size that fits.
    """
    return (
        await analyse(
            store,
            ids,
            VOCABULARY.impact_steps,
            False,
            max_depth,
            as_of,
            first,
            after,
            paths=paths,
            max_path_steps=max_path_steps,
            redundancy=redundancy,
        )
    ).answer


async def dependencies(
    store: GraphStore,
    ids: Sequence[int],
    *,
    max_depth: int | None = None,
    as_of: datetime | None = None,
    first: int = 100,
    after: str | None = None,
    paths: bool = True,
    max_path_steps: int | None = None,
) -> Impact:
    """Return what the entities ``ids`` need: the reverse walk of :func:`impact`.

    Same shape, paths, depths, pagination and aggregates as :func:`impact`
    (teams to notify are the owners and supporters of the needed entities: the
    people to call during an incident). States read in root-cause terms:

    * DOWN: a single point of failure. The entity is needed by a DOWN entity
      (start entities are DOWN) through a relation without a redundancy group
      (or with a group of one live member): its failure alone would take a start
      entity down.
    * DEGRADED: needed only through redundant alternatives somewhere on every
      path; its failure alone degrades, but does not stop, the start entities.

    ``saved_by`` is always empty here (redundancy is read the other way round:
    the DEGRADED entities *are* the redundant alternatives).

    Args and raises: as :func:`impact` (without ``redundancy``).
    """
    return (
        await analyse(
            store,
            ids,
            VOCABULARY.dependency_steps,
            True,
            max_depth,
            as_of,
            first,
            after,
            paths=paths,
            max_path_steps=max_path_steps,
        )
    ).answer


async def impact_analysis(
    store: GraphStore,
    ids: Sequence[int],
    *,
    max_depth: int | None = None,
    as_of: datetime | None = None,
    first: int = 100,
    after: str | None = None,
    paths: bool = True,
    max_path_steps: int | None = None,
) -> Analysis:
    """Return :func:`impact`'s answer together with its walk and states.

    For callers that show more than one page of the same walk (the explorer's
    impact picture reads the walk's breadth-first tree): one traversal serves
    both. Arguments, semantics and errors are :func:`impact`'s.
    """
    return await analyse(
        store,
        ids,
        VOCABULARY.impact_steps,
        False,
        max_depth,
        as_of,
        first,
        after,
        paths=paths,
        max_path_steps=max_path_steps,
    )


async def redundancy_covers(
    store: GraphStore, analysis: Analysis, indexes: Sequence[int], *, as_of: datetime | None
) -> dict[int, tuple[RedundancyCover, ...]]:
    """Return, by walk index, the redundancy groups that keep DEGRADED entities up.

    The ``saved_by`` of :class:`Affected` for any walk indexes of an impact
    analysis (not only its page): each DEGRADED entity among ``indexes`` that
    has a redundancy group with a DOWN member and a surviving one. Indexes
    without a cover are left out. Three store calls whatever the number of
    indexes (``neighbours``, ``relations_by_id``, ``entities``).

    Args:
        store: The store the analysis read.
        analysis: An impact analysis (:func:`impact_analysis`).
        indexes: Walk indexes (positions in breadth-first order), each below ``len(walk)``.
        as_of: The analysis' time.
    """
    walk = analysis.walk
    if not indexes or not len(walk):
        return {}
    ent = walk.entities.astype(np.int64)
    order = np.argsort(ent, kind="stable")
    pool = ent[order]
    raw = await _covers(store, walk, analysis.down, list(indexes), pool, order, as_of)
    want: set[int] = set()
    for covers in raw.values():
        for cover in covers:
            want.update(cover.failed)
            want.update(m for m, _ in cover.survivors)
    recs = await records(store, want, as_of)
    return {i: tuple(c.record(recs) for c in covers) for i, covers in raw.items()}


@dataclass(frozen=True, slots=True)
class Analysis:
    """An answer plus the raw walk, for the other analyses of this package.

    Attributes:
        answer: The answer.
        walk: The breadth-first tree the answer was computed from.
        down: By walk index, whether the entity is DOWN (else DEGRADED).
    """

    answer: Impact
    walk: Traversal
    down: np.ndarray[tuple[int], np.dtype[np.bool_]]


def _states(walk: Traversal, reverse: bool) -> np.ndarray[tuple[int], np.dtype[np.bool_]]:
    n = len(walk)
    starts = np.flatnonzero(walk.depth == 0).astype(np.int64)
    e = walk.edges
    if e is None or e.source.shape[0] == 0:
        down = np.zeros(n, dtype=np.bool_)
        down[starts] = True
        return down
    grouped = (e.group >= 0) & (e.group_size > 0)
    slot = np.full(e.source.shape[0], -1, dtype=np.int64)
    if reverse:
        hard = ~grouped | (e.group_size == 1)
        slot_size = np.zeros(0, dtype=np.int64)
    else:
        hard = ~grouped
        if grouped.any():
            width = int(e.group.max()) + 1
            keys = e.target[grouped] * width + e.group[grouped]
            uniq, inv = np.unique(keys, return_inverse=True)
            slot[grouped] = inv.reshape(-1)
            slot_size = np.zeros(uniq.shape[0], dtype=np.int64)
            slot_size[inv.reshape(-1)] = e.group_size[grouped]
        else:
            slot_size = np.zeros(0, dtype=np.int64)
    result: np.ndarray[tuple[int], np.dtype[np.bool_]] = propagate_down(
        n,
        starts,
        e.source.astype(np.int64),
        e.target.astype(np.int64),
        slot,
        slot_size,
        hard.astype(np.bool_),
    )
    return result


async def _teams(
    store: GraphStore,
    ids: I64,
    direct: Neighbours,
    steps: Sequence[TraversalStep],
    as_of: datetime | None,
) -> tuple[I64, I64, I64, I64, I64]:
    """Return (origin, team) direct pairs and (origin, team, via) inherited pairs.

    ``direct`` is the one-hop expansion of ``ids`` along ``steps``.
    """
    served = np.zeros(ids.shape[0], dtype=np.bool_)
    served[direct.origin] = True
    unserved = np.flatnonzero(~served).astype(np.int64)
    inherited = await inherit(store, ids[unserved], steps, as_of)
    return (
        direct.origin,
        direct.entity,
        unserved[inherited.origin],
        inherited.team,
        inherited.via,
    )


def _distinct(values: I64) -> I64:
    """The distinct values, sorted: ``np.unique`` by a sort (its hashing is slower at 500k)."""
    ordered = np.sort(values)
    if ordered.shape[0] < 2:
        return ordered
    keep = np.empty(ordered.shape[0], dtype=np.bool_)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _runs(ordered: I64) -> tuple[I64, I64]:
    """The distinct values of a sorted array and how many times each occurs."""
    if ordered.shape[0] == 0:
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, ordered.shape[0])).astype(np.int64)
    return ordered[starts], counts


def _notices(
    role: NoticeRole,
    d_origin: I64,
    d_team: I64,
    i_origin: I64,
    i_team: I64,
    i_via: I64,
) -> list[tuple[NoticeRole, int, bool, list[int], int, int]]:
    """Aggregate team pairs into (role, team, inherited, via ids, affected count, via count).

    Only the first :data:`EXAMPLES` via ids of a team are kept.
    """
    base = 1 << 31
    teams = np.concatenate([d_team, i_team])
    origins = np.concatenate([d_origin, i_origin])
    if teams.shape[0] == 0:
        return []
    pairs = _distinct(teams * base + origins)
    team_ids, counts = _runs(pairs // base)
    direct = set(as_ids(_distinct(d_team)))
    vias: dict[int, set[int]] = defaultdict(set)
    if i_team.shape[0]:
        tv = _distinct(i_team * base + i_via)
        for t, v in zip(as_ids(tv // base), as_ids(tv % base), strict=True):
            vias[t].add(v)
    return [
        (role, t, t not in direct, sorted(vias.get(t, ()))[:EXAMPLES], c, len(vias.get(t, ())))
        for t, c in zip(as_ids(team_ids), as_ids(counts), strict=True)
    ]


def _check_path_steps(depths: np.ndarray[Any, Any], most: int) -> None:
    """Refuse a page whose paths hold more than ``most`` steps (a path has ``depth`` steps).

    Raises:
        AnswerTooLarge: naming the steps, the bound and the page size that fits.
    """
    running = np.cumsum(depths, dtype=np.int64)
    if not running.size or int(running[-1]) <= most:
        return
    fits = int(np.searchsorted(running, most, side="right"))
    advice = f"ask for first: {fits}" if fits else "leave out path for this page"
    msg = (
        f"the paths of this page of {depths.size} entities hold {int(running[-1]):,} steps; "
        f"one answer carries at most {most:,}: {advice}, or leave out path "
        "(depth says how long each path is)"
    )
    raise AnswerTooLarge(msg)


async def analyse(
    store: GraphStore,
    ids: Sequence[int],
    steps: Sequence[TraversalStep],
    reverse: bool,
    max_depth: int | None,
    as_of: datetime | None,
    first: int,
    after: str | None,
    *,
    paths: bool = True,
    max_path_steps: int | None = None,
    redundancy: bool = True,
) -> Analysis:
    """Compute an impact (``reverse=False``) or dependencies answer; see :func:`impact`.

    ``redundancy`` only matters for an impact answer (``reverse=False``).
    """
    if max_depth is not None and max_depth < 0:
        msg = f"maxDepth must be 0 or more, got {max_depth}"
        raise InvalidInput(msg)
    if first < 0:
        msg = f"first must be 0 or more, got {first}"
        raise InvalidInput(msg)
    begin = _begin(after)
    walk = await store.traverse(
        TraversalSpec(as_ids(ids), steps, max_depth, as_of, include_stale=True, collect_edges=True)
    )
    n = len(walk)
    ent = walk.entities.astype(np.int64)
    down = _states(walk, reverse)
    start_idx = np.flatnonzero(walk.depth == 0)
    is_service = walk.kind == VOCABULARY.kind_code(SVC)

    # One hop from every reached entity finds its owners, supporters, linked projects
    # and the changes that modify it; the rows are told apart by relation type.
    # Expansions take the reached ids sorted (the store reads its arrays in order);
    # origins below are indexes into ``pool``.
    order = np.argsort(ent, kind="stable")
    pool = ent[order]
    hop = await store.neighbours(
        pool, (*OWNED_BY, *SUPPORTED_BY, *PROJECT_LINKS, *MODIFIED_BY), as_of=as_of
    )
    hop_type = hop.type
    owns = hop_type == VOCABULARY.type_code(RelationType.OWNS)
    supports = hop_type == VOCABULARY.type_code(RelationType.SUPPORTS)
    modifies = hop_type == VOCABULARY.type_code(RelationType.MODIFIES)
    links = hop.subset(~(owns | supports | modifies))
    modified = hop.subset(modifies)
    linked_changes = np.unique(modified.entity)
    states = await store.attribute_column(linked_changes, "state", as_of=as_of)
    closed = np.asarray([v in OPEN_EXCLUDED for v in states.values] + [False], dtype=np.bool_)
    open_changes = as_ids(linked_changes[~closed[states.codes]])
    impl_origin = impl_project = np.zeros(0, dtype=np.int64)
    if open_changes:
        impl = await store.neighbours(open_changes, IMPLEMENTS, as_of=as_of)
        impl_origin = np.asarray(open_changes, dtype=np.int64)[impl.origin]
        impl_project = impl.entity

    # teams: direct, else inherited through PART_OF
    own = await _teams(store, pool, hop.subset(owns), OWNED_BY, as_of)
    sup = await _teams(store, pool, hop.subset(supports), SUPPORTED_BY, as_of)
    notices = _notices(NoticeRole.OWNER, *own) + _notices(NoticeRole.SUPPORT, *sup)

    # the page and its paths
    end = min(n, begin + first)
    page = list(range(begin, end)) if begin < n else []
    if paths and max_path_steps is not None and page:
        _check_path_steps(walk.depth[begin:end], max_path_steps)
    path_idx: dict[int, list[int]] = {p: [] for p in page}
    vias: set[int] = set()
    parent = walk.parent
    for p in page if paths else ():
        check_deadline()
        chain = []
        i = p
        while parent[i] >= 0:
            chain.append(i)
            i = int(parent[i])
        chain.reverse()
        path_idx[p] = chain
        vias.update(int(walk.via[c]) for c in chain)
    rel_list = sorted(vias)
    rels: dict[int, RelationRecord] = {}
    if rel_list:
        found = await store.relations_by_id(rel_list, as_of=as_of)
        rels = {i: r for i, r in zip(rel_list, found, strict=True) if r is not None}

    # why the page's DEGRADED entities stay up: their groups with a DOWN member
    covers: dict[int, list[_Cover]] = {}
    if redundancy and not reverse and page:
        covers = await _covers(store, walk, down, page, pool, order, as_of)

    # projects: (project, relation type) groups with examples; changes' projects
    link_groups = _project_links(links)
    impl_groups = _implementing(modified, impl_origin, impl_project)

    # one entities call for every record the answer shows or reads
    want: set[int] = set(as_ids(ent[start_idx]))
    want.update(as_ids(ent[page]) if page else ())
    for r in rels.values():
        want.update((r.from_id, r.to_id))
    for _, t, _, via_ids, _, _ in notices:
        want.add(t)
        want.update(via_ids)
    for project, _, _, examples in link_groups:
        want.add(project)
        want.update(as_ids(pool[examples]))
    for project, change_ids, _, examples in impl_groups:
        want.add(project)
        want.update(change_ids)
        want.update(as_ids(pool[examples]))
    for found_covers in covers.values():
        for cover in found_covers:
            want.update(cover.failed)
            want.update(m for m, _ in cover.survivors)
    recs = await records(store, want, as_of)

    # kinds and tiers (tiers from the indexed attribute column, not from records)
    kind_counts = np.bincount(walk.kind.astype(np.int64), minlength=VOCABULARY.max_kind_code + 1)
    svc_idx = np.flatnonzero(is_service)
    tier_column = await store.attribute_column(ent[svc_idx], "tier", as_of=as_of)
    tier_of_code = np.asarray(
        [
            v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0
            for v in tier_column.values
        ]
        + [0],
        dtype=np.int64,
    )
    svc_tier = tier_of_code[tier_column.codes]  # code -1 picks the trailing 0: no tier
    svc_down = down[svc_idx]
    tiers = []
    for tier in _distinct(svc_tier).tolist():
        members = svc_tier == tier
        count = int(members.sum())
        n_down = int((members & svc_down).sum())
        tiers.append(TierCount(tier or None, count, n_down, count - n_down))
    tiers.sort(key=lambda tc: (tc.tier is None, tc.tier or 0))
    n_down = int(down.sum())
    summary = ImpactSummary(
        total=n,
        by_kind=tuple(
            sorted(
                (
                    KindCount(VOCABULARY.kind_from_code(code), int(c))
                    for code, c in enumerate(kind_counts.tolist())
                    if c
                ),
                key=lambda kc: kc.kind.value,
            )
        ),
        by_state=(
            StateCount(ImpactState.DOWN, n_down),
            StateCount(ImpactState.DEGRADED, n - n_down),
        ),
        services_by_tier=tuple(tiers),
        stale=int(walk.stale.sum()),
        deepest=int(walk.depth.max()) if n else 0,
    )

    # the page
    edges: list[AffectedEdge] = []
    for p in page:
        rec = recs.get(int(ent[p]))
        if rec is None:  # pragma: no cover - the walk only reaches existing entities
            continue
        path: list[PathStep] = []
        for c in path_idx[p]:
            rel = rels.get(int(walk.via[c]))
            if rel is None:  # pragma: no cover
                continue
            a, b = recs.get(rel.from_id), recs.get(rel.to_id)
            if a is not None and b is not None:
                path.append(PathStep(rel.type, a, b, rel.id))
        node = Affected(
            rec,
            int(walk.depth[p]),
            ImpactState.DOWN if down[p] else ImpactState.DEGRADED,
            bool(walk.stale[p]),
            tuple(path),
            tuple(c.record(recs) for c in covers.get(p, ())),
        )
        edges.append(AffectedEdge(encode_cursor(p), node))
    info = PageInfo(
        has_next_page=end < n,
        has_previous_page=begin > 0,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )

    # teams, projects
    role_order = {NoticeRole.OWNER: 0, NoticeRole.SUPPORT: 1}
    teams = [
        TeamNotice(recs[t], role, inh, tuple(recs[v] for v in via if v in recs), count, n_via)
        for role, t, inh, via, count, n_via in notices
        if t in recs
    ]
    teams.sort(key=lambda tn: (role_order[tn.role], -tn.affected, tn.team.key))
    reasons: list[ProjectReason] = []
    for project, type_code, count, examples in link_groups:
        if project in recs:
            reasons.append(
                ProjectReason(
                    recs[project],
                    VOCABULARY.type_from_code(type_code),
                    count,
                    tuple(recs[e] for e in as_ids(pool[examples]) if e in recs),
                )
            )
    for project, change_ids, count, examples in impl_groups:
        if project in recs:
            reasons.append(
                ProjectReason(
                    recs[project],
                    RelationType.IMPLEMENTS,
                    count,
                    tuple(recs[e] for e in as_ids(pool[examples]) if e in recs),
                    tuple(recs[c] for c in change_ids if c in recs),
                )
            )
    reasons.sort(key=lambda r: (r.project.key, r.relation.value))
    projects = {r.project.id: r.project for r in reasons}
    answer = Impact(
        starts=tuple(recs[int(ent[i])] for i in start_idx.tolist() if int(ent[i]) in recs),
        summary=summary,
        affected=AffectedConnection(tuple(edges), info, n),
        teams_to_notify=tuple(teams),
        affected_projects=tuple(sorted(projects.values(), key=lambda r: r.key)),
        project_reasons=tuple(reasons),
        max_depth=max_depth,
        as_of=as_of,
    )
    return Analysis(answer, walk, down)


@dataclass(frozen=True, slots=True)
class _Cover:
    """A :class:`RedundancyCover` by entity ids, before the records are read."""

    group: str
    members: int
    failed: tuple[int, ...]
    survivors: tuple[tuple[int, bool], ...]

    def record(self, recs: dict[int, EntityRecord]) -> RedundancyCover:
        """Return the cover with records (ids without a record are left out), by key."""

        def key(r: EntityRecord) -> tuple[str, str]:
            return (r.key, r.kind.value)

        failed = sorted((recs[i] for i in self.failed if i in recs), key=key)
        survivors = sorted(
            (Survivor(recs[i], degraded) for i, degraded in self.survivors if i in recs),
            key=lambda s: key(s.entity),
        )
        return RedundancyCover(self.group, self.members, tuple(failed), tuple(survivors))


async def _covers(
    store: GraphStore,
    walk: Traversal,
    down: np.ndarray[tuple[int], np.dtype[np.bool_]],
    page: list[int],
    pool: I64,
    order: I64,
    as_of: datetime | None,
) -> dict[int, list[_Cover]]:
    """Return, by walk index, the redundancy groups that keep DEGRADED page entities up.

    A DEGRADED entity of the page is *saved* by a group when one of the group's
    walked relations comes from a DOWN entity (the walk's edges say which).
    Its groups are then read whole, from the store, in one ``neighbours`` call
    over the redundancy types from all saved entities together and one
    ``relations_by_id`` call for the group names: members that the walk did
    not reach are survivors too. ``pool``/``order`` are the walked entity ids
    sorted and the walk index of each.
    """
    e = walk.edges
    if e is None or e.source.shape[0] == 0:
        return {}
    on_page = np.zeros(len(walk), dtype=np.bool_)
    on_page[np.asarray(page, dtype=np.int64)] = True
    saving = (
        (e.group >= 0) & (e.group_size > 0) & down[e.source] & ~down[e.target] & on_page[e.target]
    )
    if not saving.any():
        return {}
    # the walk's count of each group's members, by the relation of a failed member
    walked_size = dict(zip(as_ids(e.relation[saving]), as_ids(e.group_size[saving]), strict=True))
    saved = np.unique(e.target[saving])
    saved_ids = walk.entities.astype(np.int64)[saved]
    by_id = np.argsort(saved_ids, kind="stable")  # the store reads its arrays in id order
    saved, saved_ids = saved[by_id], saved_ids[by_id]
    hop = await store.neighbours(saved_ids, REDUNDANT_NEEDS, as_of=as_of)
    if hop.entity.shape[0] == 0:  # pragma: no cover - the walk walked some of them
        return {}
    rel_ids = as_ids(hop.relation)
    rels = await store.relations_by_id(rel_ids, as_of=as_of)
    # each member's walk index (-1: not reached)
    at = np.searchsorted(pool, hop.entity)
    at = np.minimum(at, max(pool.shape[0] - 1, 0))
    reached = pool[at] == hop.entity if pool.shape[0] else np.zeros(0, dtype=np.bool_)
    member_idx = np.where(reached, order[at], -1)
    groups: dict[tuple[int, str], dict[int, tuple[bool, bool, int]]] = defaultdict(dict)
    for origin, member, idx, rid, rel in zip(
        as_ids(hop.origin), as_ids(hop.entity), as_ids(member_idx), rel_ids, rels, strict=True
    ):
        name = rel.attributes.get("redundancyGroup") if rel is not None else None
        if not isinstance(name, str) or not name:
            continue
        is_down = idx >= 0 and bool(down[idx])
        members = groups[(int(saved[origin]), name)]
        size = walked_size.get(rid, 0)
        previous = members.get(member)
        if previous is not None:
            size = max(size, previous[2])
        members[member] = (is_down, idx >= 0, size)
    out: dict[int, list[_Cover]] = defaultdict(list)
    for (target, name), members in sorted(groups.items(), key=lambda kv: kv[0]):
        failed = tuple(m for m, (is_down, _, _) in members.items() if is_down)
        if not failed:
            continue  # a group of the entity that no failure touched
        survivors = tuple(
            (m, reached_) for m, (is_down, reached_, _) in members.items() if not is_down
        )
        size = max(len(members), *(s for _, _, s in members.values()))
        out[target].append(_Cover(name, size, failed, survivors))
    return out


def _first_per_group(keys: I64, limit: int) -> tuple[I64, I64, list[I64]]:
    """Group rows by ``keys``: (distinct keys, row counts, up to ``limit`` rows of each)."""
    order = np.argsort(keys, kind="stable")
    uniq, first, counts = np.unique(keys[order], return_index=True, return_counts=True)
    examples = [order[f : f + min(c, limit)] for f, c in zip(first, counts, strict=True)]
    return uniq, counts, examples


def _project_links(links: Neighbours) -> list[tuple[int, int, int, I64]]:
    """Return (project, relation type code, affected count, example rows) per link group.

    Rows index the expanded ids. One relation of a type links a project to an
    entity at most once, so the row count is the count of affected entities.
    """
    if links.entity.shape[0] == 0:
        return []
    width = VOCABULARY.max_type_code + 1
    keys = links.entity * width + links.type.astype(np.int64)
    uniq, counts, examples = _first_per_group(keys, EXAMPLES)
    return [
        (int(k) // width, int(k) % width, int(c), links.origin[ex])
        for k, c, ex in zip(uniq, counts, examples, strict=True)
    ]


def _implementing(
    modified: Neighbours, change_ids: I64, project_ids: I64
) -> list[tuple[int, list[int], int, I64]]:
    """Return (project, its open changes, affected count, example rows) per project.

    ``change_ids``/``project_ids`` pair open changes with the projects they
    ``IMPLEMENTS``; ``modified`` holds the affected entities those changes modify.
    """
    out: list[tuple[int, list[int], int, I64]] = []
    by_project: dict[int, set[int]] = defaultdict(set)
    for c, pr in zip(as_ids(change_ids), as_ids(project_ids), strict=True):
        by_project[pr].add(c)
    for project, changes in sorted(by_project.items()):
        rows = np.isin(modified.entity, np.asarray(sorted(changes), dtype=np.int64))
        origins = np.unique(modified.origin[rows])
        out.append((project, sorted(changes), int(origins.shape[0]), origins[:EXAMPLES]))
    return out
