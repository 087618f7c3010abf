"""Ownership (PRODUCT.md 4.3): owners and supporters, inheritance, orphans, ghost owners.

Inheritance rule: a ``Service`` or ``ConfigurationItem`` without a direct
``OWNS`` inherits the owners of the *nearest* entities it is ``PART_OF``
(transitively). "Nearest" counts ``PART_OF`` hops; when several ancestors at
that distance have owners, all their owners are returned. ``SUPPORTS`` is
inherited the same way, independently (an entity may own directly and inherit
its support team). Other kinds inherit nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from graphsvc.analysis._common import (
    MAX_PART_OF_LEVELS,
    MEMBERS,
    OWNED_BY,
    PARENT_TEAMS,
    PART_OF_UP,
    SUPPORTED_BY,
    SVC_CI,
    as_ids,
    inherit,
    records,
    step,
)
from graphsvc.errors import InvalidInput, NotFound
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import (
    Direction,
    EntityKind,
    RelationType,
    Status,
    TraversalStep,
)
from graphsvc.store.base import EntityQuery, GraphStore

__all__ = [
    "GhostOwner",
    "GhostOwnerPage",
    "OrphanPage",
    "OwnerRef",
    "Ownership",
    "count_ghost_owners",
    "count_orphans",
    "ghost_owners",
    "orphans",
    "owners_of",
    "ownership",
]

OWNS_OUT = (step(RelationType.OWNS, Direction.OUT, {EntityKind.TEAM}),)
SCAN = 1000
"""Entities read per page while scanning for orphans and ghost owners."""


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """An owning or support team of an entity.

    Attributes:
        team: The team.
        inherited: ``False`` when the team owns (supports) the entity directly.
        via: The entities the team owns (supports) directly and from which the
            entity got it: the entity itself for a direct owner, the nearest
            ``PART_OF`` ancestor(s) for an inherited one.
        chains: For an inherited owner, one ``PART_OF`` chain per ``via``
            entity, from the entity itself to that ancestor (both included);
            empty for a direct owner.
    """

    team: EntityRecord
    inherited: bool
    via: tuple[EntityRecord, ...]
    chains: tuple[tuple[EntityRecord, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class Ownership:
    """Who owns and supports an entity (PRODUCT.md 4.7).

    Attributes:
        entity: The entity asked about.
        owners: Owning teams, direct ones or else the inherited ones, by key.
        supporters: Support teams, likewise.
        escalation: Whom to escalate to, in order: the members (``Person``
            ``MEMBER_OF``) of the owning teams, by team then name, then the
            teams the owning teams are ``PART_OF``. No duplicates; owners
            themselves are not repeated.
    """

    entity: EntityRecord
    owners: tuple[OwnerRef, ...]
    supporters: tuple[OwnerRef, ...]
    escalation: tuple[EntityRecord, ...]


@dataclass(frozen=True, slots=True)
class OrphanPage:
    """Services and CIs without an owner, ordered by id.

    ``end_cursor`` is the id of the last entity scanned; pass it as ``after``.
    """

    items: tuple[EntityRecord, ...]
    has_next: bool
    end_cursor: int | None


@dataclass(frozen=True, slots=True)
class GhostOwner:
    """A team that owns something but cannot act on it.

    Attributes:
        team: The team.
        owns: How many live entities it owns directly.
        no_members: It has no (live) ``MEMBER_OF`` members.
        inactive: Its status is not ``active`` (stale or retired).
        reason: Both facts in words.
    """

    team: EntityRecord
    owns: int
    no_members: bool
    inactive: bool
    reason: str


@dataclass(frozen=True, slots=True)
class GhostOwnerPage:
    """Ghost owners, ordered by id; ``end_cursor`` is the last team id scanned."""

    items: tuple[GhostOwner, ...]
    has_next: bool
    end_cursor: int | None


async def _nearest(
    store: GraphStore,
    entity_id: int,
    team_steps: Sequence[TraversalStep],
    as_of: datetime | None,
) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """Return (team -> ancestors it serves directly, ancestor -> chain of ids).

    A breadth-first walk up ``PART_OF`` from the entity, stopping at the first
    level where some ancestors are served.
    """
    parent: dict[int, int] = {entity_id: -1}
    frontier = [entity_id]
    for _ in range(MAX_PART_OF_LEVELS):
        nb = await store.neighbours(frontier, PART_OF_UP, as_of=as_of)
        level: list[int] = []
        for o, e in zip(as_ids(nb.origin), as_ids(nb.entity), strict=True):
            if e not in parent:
                parent[e] = frontier[o]
                level.append(e)
        if not level:
            return {}, {}
        teams = await store.neighbours(level, team_steps, as_of=as_of)
        if teams.entity.shape[0]:
            served: dict[int, list[int]] = defaultdict(list)
            for o, t in zip(as_ids(teams.origin), as_ids(teams.entity), strict=True):
                if level[o] not in served[t]:
                    served[t].append(level[o])
            chains: dict[int, list[int]] = {}
            for ancestors in served.values():
                for a in ancestors:
                    chain = [a]
                    while parent[chain[-1]] >= 0:
                        chain.append(parent[chain[-1]])
                    chains[a] = chain[::-1]
            return dict(served), chains
        frontier = level
    return {}, {}


async def _refs(
    store: GraphStore,
    entity: EntityRecord,
    team_steps: Sequence[TraversalStep],
    as_of: datetime | None,
) -> tuple[list[int], dict[int, list[int]], dict[int, list[int]]]:
    """Return (direct team ids, inherited team -> via ids, via -> chain)."""
    direct = await store.neighbours([entity.id], team_steps, as_of=as_of)
    teams = sorted(set(as_ids(direct.entity)))
    if teams or entity.kind not in SVC_CI:
        return teams, {}, {}
    served, chains = await _nearest(store, entity.id, team_steps, as_of)
    return [], served, chains


async def ownership(
    store: GraphStore, entity_id: int, *, as_of: datetime | None = None
) -> Ownership:
    """Return the owners, supporters and escalation of one entity (PRODUCT.md 4.3).

    Direct ``OWNS`` (``SUPPORTS``) teams are returned when there are any;
    otherwise, for a service or CI, the teams of the nearest ``PART_OF``
    ancestors that have some, marked inherited, with those ancestors in
    ``via`` and the chains that lead to them. Retired teams and relations are
    ignored; stale ones count.

    Args:
        store: The store.
        entity_id: The entity.
        as_of: Answer from the graph as it was then.

    Raises:
        NotFound: when the entity does not exist (at ``as_of``).
    """
    found = (await store.entities([entity_id], as_of=as_of))[0]
    if found is None:
        msg = f"entity {entity_id} not found"
        raise NotFound(msg)
    entity = found
    own_direct, own_served, own_chains = await _refs(store, entity, OWNED_BY, as_of)
    sup_direct, sup_served, sup_chains = await _refs(store, entity, SUPPORTED_BY, as_of)
    owner_ids = own_direct or sorted(own_served)
    members = await store.neighbours(owner_ids, MEMBERS, as_of=as_of) if owner_ids else None
    parents = await store.neighbours(owner_ids, PARENT_TEAMS, as_of=as_of) if owner_ids else None
    want: set[int] = {entity.id, *own_direct, *sup_direct, *own_served, *sup_served}
    for chains in (own_chains, sup_chains):
        for chain in chains.values():
            want.update(chain)
    if members is not None and parents is not None:
        want.update(as_ids(members.entity))
        want.update(as_ids(parents.entity))
    recs = await records(store, want, as_of)
    recs[entity.id] = entity

    def refs(
        direct: list[int], served: dict[int, list[int]], chains: dict[int, list[int]]
    ) -> tuple[OwnerRef, ...]:
        out = [OwnerRef(recs[t], False, (entity,)) for t in direct if t in recs]
        for t, via in served.items():
            if t in recs:
                out.append(
                    OwnerRef(
                        recs[t],
                        True,
                        tuple(recs[v] for v in via if v in recs),
                        tuple(tuple(recs[c] for c in chains[v] if c in recs) for v in via),
                    )
                )
        return tuple(sorted(out, key=lambda r: r.team.key))

    owners = refs(own_direct, own_served, own_chains)
    escalation: list[EntityRecord] = []
    seen: set[int] = {o.team.id for o in owners}
    if members is not None and parents is not None:
        by_team: dict[int, list[EntityRecord]] = defaultdict(list)
        for o, p in zip(as_ids(members.origin), as_ids(members.entity), strict=True):
            if p in recs:
                by_team[owner_ids[o]].append(recs[p])
        for ref in owners:
            for person in sorted(by_team[ref.team.id], key=lambda r: (r.name, r.key)):
                if person.id not in seen:
                    seen.add(person.id)
                    escalation.append(person)
        for p in sorted(
            set(as_ids(parents.entity)), key=lambda i: recs[i].key if i in recs else ""
        ):
            if p in recs and p not in seen:
                seen.add(p)
                escalation.append(recs[p])
    return Ownership(
        entity,
        owners,
        refs(sup_direct, sup_served, sup_chains),
        tuple(escalation),
    )


async def owners_of(
    store: GraphStore, ids: Sequence[int], *, as_of: datetime | None = None
) -> dict[int, set[int]]:
    """Return entity id -> owning team ids (direct, else inherited) for many entities.

    Batched: one ``neighbours`` call plus two per ``PART_OF`` level. Entities
    without any owner map to an empty set.
    """
    arr = np.asarray(list(ids), dtype=np.int64)
    out: dict[int, set[int]] = {int(i): set() for i in arr.tolist()}
    if arr.shape[0] == 0:
        return out
    direct = await store.neighbours(as_ids(arr), OWNED_BY, as_of=as_of)
    for o, t in zip(as_ids(direct.origin), as_ids(direct.entity), strict=True):
        out[int(arr[o])].add(t)
    unowned = np.asarray([i for i in arr.tolist() if not out[i]], dtype=np.int64)
    if unowned.shape[0]:
        inh = await inherit(store, unowned, OWNED_BY, as_of)
        for o, t in zip(as_ids(inh.origin), as_ids(inh.team), strict=True):
            out[int(unowned[o])].add(t)
    return out


async def orphans(
    store: GraphStore,
    kind: EntityKind | None = None,
    *,
    first: int = 100,
    after: int | None = None,
) -> OrphanPage:
    """Return services and CIs that are not retired and have no owner, direct or inherited.

    Scans entities in id order (``find_entities``) in pages of :data:`SCAN`
    and checks them in batches, until ``first`` orphans are found. The graph is
    read as it is now (the port's entity filter has no ``as_of``).

    Args:
        store: The store.
        kind: ``Service`` or ``ConfigurationItem``; ``None`` for both.
        first: How many orphans to return at most.
        after: Cursor (entity id) of the previous page.

    Raises:
        InvalidInput: for a kind other than Service or ConfigurationItem.
    """
    if kind is not None and kind not in SVC_CI:
        msg = f"orphans are services or configuration items, not {kind.value}"
        raise InvalidInput(msg)
    found: list[EntityRecord] = []
    cursor = after
    statuses = frozenset({Status.ACTIVE, Status.STALE})
    while len(found) < first:
        page = await store.find_entities(
            EntityQuery(kind=kind, statuses=statuses), first=SCAN, after=cursor
        )
        candidates = [r for r in page.items if r.kind in SVC_CI]
        owned = await owners_of(store, [r.id for r in candidates])
        for r in candidates:
            if not owned[r.id]:
                found.append(r)
                if len(found) == first:
                    return OrphanPage(tuple(found), True, r.id)
        cursor = page.end_cursor
        if not page.has_next:
            return OrphanPage(tuple(found), False, cursor)
    return OrphanPage(tuple(found), True, cursor)


async def count_orphans(store: GraphStore, kind: EntityKind | None = None) -> int:
    """How many entities :func:`orphans` would list over all its pages (a full scan).

    Raises:
        InvalidInput: for a kind other than Service or ConfigurationItem.
    """
    total, cursor = 0, None
    while True:
        page = await orphans(store, kind, first=COUNT_PAGE, after=cursor)
        total += len(page.items)
        if not page.has_next:
            return total
        cursor = page.end_cursor


async def count_ghost_owners(store: GraphStore) -> int:
    """How many teams :func:`ghost_owners` would list over all its pages (a full scan)."""
    total, cursor = 0, None
    while True:
        page = await ghost_owners(store, first=COUNT_PAGE, after=cursor)
        total += len(page.items)
        if not page.has_next:
            return total
        cursor = page.end_cursor


COUNT_PAGE = 10_000
"""Findings per scan step of the counts (the scan itself reads :data:`SCAN` at a time)."""


async def ghost_owners(
    store: GraphStore, *, first: int = 100, after: int | None = None
) -> GhostOwnerPage:
    """Return teams that own something but have no members or are not ``active``.

    "Own something": at least one live ``OWNS`` relation to a live entity.
    "Members": live ``Person`` ``MEMBER_OF`` the team. Teams are scanned in id
    order; the graph is read as it is now.

    Args:
        store: The store.
        first: How many ghost owners to return at most.
        after: Cursor (team id) of the previous page.
    """
    found: list[GhostOwner] = []
    cursor = after
    while True:
        page = await store.find_entities(
            EntityQuery(kind=EntityKind.TEAM), first=SCAN, after=cursor
        )
        teams = list(page.items)
        ids = [t.id for t in teams]
        owned = await store.neighbours(ids, OWNS_OUT) if ids else None
        members = await store.neighbours(ids, MEMBERS) if ids else None
        if owned is not None and members is not None:
            owns = np.bincount(owned.origin, minlength=len(ids))
            has_members = np.bincount(members.origin, minlength=len(ids)) > 0
            for i, team in enumerate(teams):
                inactive = team.status is not Status.ACTIVE
                if owns[i] == 0 or (has_members[i] and not inactive):
                    continue
                why = []
                if not has_members[i]:
                    why.append("has no members")
                if inactive:
                    why.append(f"is {team.status.value}")
                reason = f"owns {int(owns[i])} entit{'y' if owns[i] == 1 else 'ies'} but " + (
                    " and ".join(why)
                )
                found.append(GhostOwner(team, int(owns[i]), not has_members[i], inactive, reason))
                if len(found) == first:
                    return GhostOwnerPage(tuple(found), True, team.id)
        cursor = page.end_cursor
        if not page.has_next:
            return GhostOwnerPage(tuple(found), False, cursor)
