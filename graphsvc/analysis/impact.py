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
* Only the requested page of affected entities gets paths and records.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np

from graphsvc.analysis._common import (
    CI,
    I64,
    IMPLEMENTS,
    MODIFIED_BY,
    OWNED_BY,
    SUPPORTED_BY,
    SVC,
    SVC_CI,
    as_ids,
    inherit,
    is_open,
    records,
    restrict,
    step,
)
from graphsvc.analysis._kernel import propagate_down
from graphsvc.errors import InvalidInput
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
    "Impact",
    "ImpactState",
    "ImpactSummary",
    "KindCount",
    "NoticeRole",
    "PageInfo",
    "PathStep",
    "ProjectReason",
    "StateCount",
    "TeamNotice",
    "TierCount",
    "decode_cursor",
    "dependencies",
    "encode_cursor",
    "impact",
]

PROJECT = EntityKind.PROJECT
PROJECT_LINKS: tuple[TraversalStep, ...] = (
    step(RelationType.DEPENDS_ON, Direction.IN, SVC_CI, {PROJECT}),
    step(RelationType.DELIVERS, Direction.IN, {SVC}, {PROJECT}),
    step(RelationType.CONSOLIDATES, Direction.IN, SVC_CI, {PROJECT}),
)
EXAMPLES = 5
"""How many affected entities a :class:`ProjectReason` names as examples."""


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
        from_: The relation's ``from`` entity (GraphQL ``from``).
        to: The relation's ``to`` entity.
        relation_id: The relation's id.
    """

    type: RelationType
    from_: EntityRecord
    to: EntityRecord
    relation_id: int


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
    """

    entity: EntityRecord
    depth: int
    state: ImpactState
    stale: bool
    path: tuple[PathStep, ...]


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
        role: OWNER or SUPPORT (GraphQL ``why``).
        inherited: ``True`` when the team serves none of the affected entities
            directly, only ``PART_OF`` ancestors of some of them (PRODUCT.md 4.3).
        via: The ancestors the team owns or supports directly and through which
            the role was inherited (empty for a purely direct notice).
        affected: How many affected entities the team is notified for.
    """

    team: EntityRecord
    role: NoticeRole
    inherited: bool
    via: tuple[EntityRecord, ...]
    affected: int


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


def encode_cursor(position: int) -> str:
    """Return the cursor of the affected entity at ``position`` (0-based)."""
    return str(position)


def decode_cursor(cursor: str | None) -> int:
    """Return the position a cursor names (``-1`` for ``None``: before the first).

    Raises:
        InvalidInput: when the cursor is not one this module produced.
    """
    if cursor is None:
        return -1
    try:
        position = int(cursor)
    except ValueError:
        position = -2
    if position < -1:
        msg = f"invalid cursor {cursor!r}"
        raise InvalidInput(msg)
    return position


async def impact(
    store: GraphStore,
    ids: Sequence[int],
    *,
    max_depth: int | None = None,
    as_of: datetime | None = None,
    first: int = 100,
    after: str | None = None,
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

    Raises:
        InvalidInput: for a negative ``max_depth`` or ``first``, or a bad cursor.
    """
    return (
        await analyse(store, ids, VOCABULARY.impact_steps, False, max_depth, as_of, first, after)
    ).answer


async def dependencies(
    store: GraphStore,
    ids: Sequence[int],
    *,
    max_depth: int | None = None,
    as_of: datetime | None = None,
    first: int = 100,
    after: str | None = None,
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

    Args and raises: as :func:`impact`.
    """
    return (
        await analyse(store, ids, VOCABULARY.dependency_steps, True, max_depth, as_of, first, after)
    ).answer


@dataclass(frozen=True, slots=True)
class Analysis:
    """An answer plus the raw walk, for the other analyses of this package."""

    answer: Impact
    walk: Traversal
    down: np.ndarray[tuple[int], np.dtype[np.bool_]]
    service_tier: dict[int, int | None]


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


class _Locator:
    """Map entity ids to their index in the walk (sorted lookup, no dense arrays)."""

    def __init__(self, entities: I64) -> None:
        self.order = np.argsort(entities, kind="stable")
        self.sorted = entities[self.order]

    def __call__(self, ids: I64) -> I64:
        if self.sorted.shape[0] == 0 or ids.shape[0] == 0:
            return np.full(ids.shape[0], -1, dtype=np.int64)
        i = np.searchsorted(self.sorted, ids).clip(max=self.sorted.shape[0] - 1)
        found = self.sorted[i] == ids
        return np.where(found, self.order[i], -1).astype(np.int64)


async def _teams(
    store: GraphStore,
    ids: I64,
    steps: Sequence[TraversalStep],
    as_of: datetime | None,
) -> tuple[I64, I64, I64, I64, I64]:
    """Return (origin, team) direct pairs and (origin, team, via) inherited pairs."""
    direct = await store.neighbours(as_ids(ids), steps, as_of=as_of)
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


def _notices(
    role: NoticeRole,
    d_origin: I64,
    d_team: I64,
    i_origin: I64,
    i_team: I64,
    i_via: I64,
) -> list[tuple[NoticeRole, int, bool, list[int], int]]:
    """Aggregate team pairs into (role, team, inherited, via ids, affected count)."""
    base = 1 << 31
    teams = np.concatenate([d_team, i_team])
    origins = np.concatenate([d_origin, i_origin])
    if teams.shape[0] == 0:
        return []
    pairs = np.unique(teams * base + origins)
    team_ids, counts = np.unique(pairs // base, return_counts=True)
    direct = set(as_ids(np.unique(d_team)))
    vias: dict[int, set[int]] = defaultdict(set)
    if i_team.shape[0]:
        tv = np.unique(i_team * base + i_via)
        for t, v in zip(as_ids(tv // base), as_ids(tv % base), strict=True):
            vias[t].add(v)
    return [
        (role, t, t not in direct, sorted(vias.get(t, ())), c)
        for t, c in zip(as_ids(team_ids), as_ids(counts), strict=True)
    ]


async def analyse(
    store: GraphStore,
    ids: Sequence[int],
    steps: Sequence[TraversalStep],
    reverse: bool,
    max_depth: int | None,
    as_of: datetime | None,
    first: int,
    after: str | None,
) -> Analysis:
    """Compute an impact (``reverse=False``) or dependencies answer; see :func:`impact`."""
    if max_depth is not None and max_depth < 0:
        msg = f"maxDepth must be 0 or more, got {max_depth}"
        raise InvalidInput(msg)
    if first < 0:
        msg = f"first must be 0 or more, got {first}"
        raise InvalidInput(msg)
    begin = decode_cursor(after) + 1
    walk = await store.traverse(
        TraversalSpec(as_ids(ids), steps, max_depth, as_of, include_stale=True, collect_edges=True)
    )
    n = len(walk)
    ent = walk.entities.astype(np.int64)
    down = _states(walk, reverse)
    locate = _Locator(ent)

    # kinds: starts from their records; services via a service-only hop from parents;
    # projects via the project links below; every other reached entity is a CI.
    start_idx = np.flatnonzero(walk.depth == 0)
    parents = np.unique(walk.parent[walk.parent >= 0])
    is_service = np.zeros(n, dtype=np.bool_)
    is_project = np.zeros(n, dtype=np.bool_)
    if parents.shape[0]:
        svc_steps = restrict(steps, frozenset({SVC}))
        nb = await store.neighbours(as_ids(ent[parents]), svc_steps, as_of=as_of)
        pos = locate(nb.entity)
        is_service[pos[pos >= 0]] = True

    # affected projects: direct links and changes in one hop (projects and changes are
    # told apart by their records, which the answer needs anyway)
    hop = await store.neighbours(as_ids(ent), (*PROJECT_LINKS, *MODIFIED_BY), as_of=as_of)
    linked = await records(store, hop.entity, as_of)
    hop_kind = np.asarray(
        [linked[e].kind is PROJECT if e in linked else False for e in as_ids(hop.entity)],
        dtype=np.bool_,
    )
    links = Neighbours(hop.origin[hop_kind], hop.entity[hop_kind], hop.relation[hop_kind])
    modified = Neighbours(hop.origin[~hop_kind], hop.entity[~hop_kind], hop.relation[~hop_kind])
    pos = locate(links.entity)
    is_project[pos[pos >= 0]] = True
    change_recs = {c: r for c, r in linked.items() if r.kind is EntityKind.CHANGE}
    open_changes = sorted(i for i, r in change_recs.items() if is_open(r))
    impl_origin = impl_project = np.zeros(0, dtype=np.int64)
    if open_changes:
        impl = await store.neighbours(open_changes, IMPLEMENTS, as_of=as_of)
        impl_origin = np.asarray(open_changes, dtype=np.int64)[impl.origin]
        impl_project = impl.entity

    # teams: direct, else inherited through PART_OF
    own = await _teams(store, ent, OWNED_BY, as_of)
    sup = await _teams(store, ent, SUPPORTED_BY, as_of)
    notices = _notices(NoticeRole.OWNER, *own) + _notices(NoticeRole.SUPPORT, *sup)

    # the page and its paths
    end = min(n, begin + first)
    page = list(range(begin, end)) if begin < n else []
    path_idx: dict[int, list[int]] = {}
    vias: set[int] = set()
    parent = walk.parent
    for p in page:
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

    # one entities call for every record the answer shows or reads
    link_examples = _link_examples(links.origin, links.entity, links.relation)
    want: set[int] = set(as_ids(ent[start_idx]))
    want.update(as_ids(ent[is_service]))
    want.update(as_ids(ent[page]) if page else ())
    for r in rels.values():
        want.update((r.from_id, r.to_id))
    for _, t, _, via_ids, _ in notices:
        want.add(t)
        want.update(via_ids)
    want.update(as_ids(links.entity))
    want.update(as_ids(impl_project))
    for examples in link_examples.values():
        want.update(as_ids(ent[examples[1]]))
    mod_examples: dict[int, list[int]] = defaultdict(list)
    for o, c in zip(as_ids(modified.origin), as_ids(modified.entity), strict=True):
        if len(mod_examples[c]) < EXAMPLES:
            mod_examples[c].append(o)
            want.add(int(ent[o]))
    recs = await records(store, want, as_of)

    # kinds and tiers
    kinds: Counter[EntityKind] = Counter()
    start_set = set(as_ids(start_idx))
    for i in start_set:
        rec = recs.get(int(ent[i]))
        if rec is not None:
            kinds[rec.kind] += 1
    rest = np.ones(n, dtype=np.bool_)
    rest[start_idx] = False
    kinds[SVC] += int((is_service & rest).sum())
    kinds[PROJECT] += int((is_project & rest & ~is_service).sum())
    kinds[CI] += int((rest & ~is_service & ~is_project).sum())
    tiers: dict[int | None, list[int]] = defaultdict(lambda: [0, 0, 0])
    service_tier: dict[int, int | None] = {}
    svc_mask = is_service.copy()
    for i in start_set:
        rec = recs.get(int(ent[i]))
        svc_mask[i] = rec is not None and rec.kind is SVC
    for i, eid, d in zip(
        as_ids(np.flatnonzero(svc_mask)),
        as_ids(ent[svc_mask]),
        down[svc_mask].tolist(),
        strict=True,
    ):
        rec = recs.get(eid)
        raw = rec.attributes.get("tier") if rec is not None else None
        tier = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        service_tier[eid] = tier
        row = tiers[tier]
        row[0] += 1
        row[1 if d else 2] += 1
        del i
    n_down = int(down.sum())
    summary = ImpactSummary(
        total=n,
        by_kind=tuple(
            KindCount(k, c) for k, c in sorted(kinds.items(), key=lambda kv: kv[0].value) if c
        ),
        by_state=(
            StateCount(ImpactState.DOWN, n_down),
            StateCount(ImpactState.DEGRADED, n - n_down),
        ),
        services_by_tier=tuple(
            TierCount(t, c[0], c[1], c[2])
            for t, c in sorted(tiers.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        ),
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
        TeamNotice(recs[t], role, inh, tuple(recs[v] for v in via if v in recs), count)
        for role, t, inh, via, count in notices
        if t in recs
    ]
    teams.sort(key=lambda tn: (role_order[tn.role], -tn.affected, tn.team.key))
    reasons: list[ProjectReason] = []
    link_types = await _link_types(store, link_examples, as_of)
    for (project, rel_type), (count, origins) in sorted(
        _by_project(link_examples, link_types).items()
    ):
        if project in recs:
            shown = tuple(recs[int(ent[x])] for x in origins if int(ent[x]) in recs)
            reasons.append(ProjectReason(recs[project], rel_type, count, shown))
    via_changes: dict[int, list[int]] = defaultdict(list)
    for c, pr in zip(as_ids(impl_origin), as_ids(impl_project), strict=True):
        via_changes[pr].append(c)
    for pr, changes in sorted(via_changes.items()):
        if pr not in recs:
            continue
        touched = sorted({o for c in changes for o in mod_examples[c]})
        count = int(np.isin(modified.entity, changes).sum())
        reasons.append(
            ProjectReason(
                recs[pr],
                RelationType.IMPLEMENTS,
                count,
                tuple(recs[int(ent[o])] for o in touched[:EXAMPLES] if int(ent[o]) in recs),
                tuple(change_recs[c] for c in sorted(set(changes))),
            )
        )
    reasons.sort(key=lambda r: (r.project.key, r.relation.value))
    projects = {r.project.id: r.project for r in reasons}
    answer = Impact(
        starts=tuple(recs[int(ent[i])] for i in sorted(start_set) if int(ent[i]) in recs),
        summary=summary,
        affected=AffectedConnection(tuple(edges), info, n),
        teams_to_notify=tuple(teams),
        affected_projects=tuple(sorted(projects.values(), key=lambda r: r.key)),
        project_reasons=tuple(reasons),
        max_depth=max_depth,
        as_of=as_of,
    )
    return Analysis(answer, walk, down, service_tier)


def _link_examples(origin: I64, project: I64, relation: I64) -> dict[int, tuple[int, list[int]]]:
    """Group project links by relation: relation id -> (project, [origin index])."""
    out: dict[int, tuple[int, list[int]]] = {}
    for o, p, r in zip(as_ids(origin), as_ids(project), as_ids(relation), strict=True):
        out[r] = (p, [o])
    return out


async def _link_types(
    store: GraphStore, links: dict[int, tuple[int, list[int]]], as_of: datetime | None
) -> dict[int, RelationType]:
    """Return relation id -> type for the project links (one call)."""
    ids = sorted(links)
    if not ids:
        return {}
    found = await store.relations_by_id(ids, as_of=as_of)
    return {i: r.type for i, r in zip(ids, found, strict=True) if r is not None}


def _by_project(
    links: dict[int, tuple[int, list[int]]], types: dict[int, RelationType]
) -> dict[tuple[int, RelationType], tuple[int, list[int]]]:
    """Return (project, relation type) -> (count, up to five origin indexes)."""
    out: dict[tuple[int, RelationType], tuple[int, list[int]]] = {}
    for rel, (project, origins) in links.items():
        rel_type = types.get(rel)
        if rel_type is None:
            continue
        count, examples = out.get((project, rel_type), (0, []))
        if len(examples) < EXAMPLES:
            examples = [*examples, *origins]
        out[(project, rel_type)] = (count + len(origins), examples)
    return out
