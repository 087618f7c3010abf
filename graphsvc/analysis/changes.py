"""Change impact and conflicts (PRODUCT.md 4.4), with a documented risk score.

Windows are half-open intervals ``[start, end)``: a change planned
``[10:00, 12:00)`` and one planned ``[12:00, 14:00)`` do not overlap. A change's
planned window is ``[plannedStart, plannedEnd)``; a change without both (or
with ``plannedEnd <= plannedStart``) has no window, so nothing can overlap it:
it gets no COLLISION or BLACKOUT conflict, and the risk factor
``noPlannedWindow`` says so instead.

Each risk factor's explanation names what it counted: the tier-1 and tier-2
services, the services that would be DOWN, the conflicting changes and
windows, the stale entities (up to five of each, and how many more), the
declared change type and risk, and the planned window or what is wrong with it.

The answer also carries who does the work (``ASSIGNED_TO`` teams and people)
and, when the change tool named the configuration item it changes
(``configurationItem``, e.g. ServiceNow's ``cmdb_ci`` display value) and that
name matches none of the entities the change ``MODIFIES``, that name: the CI
was not in the graph when the change was imported, and its impact is missing.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np

from graphsvc.analysis._common import (
    MODIFIED_BY,
    MODIFIES,
    SVC,
    WINDOWS_ON,
    Interval,
    as_ids,
    change_window,
    is_open,
    label,
    labels,
    records,
    step,
    when,
    window_interval,
)
from graphsvc.analysis.impact import Analysis, Impact, analyse
from graphsvc.analysis.work import TEAMS_OF_PERSON, WeekState, load_book
from graphsvc.errors import NotFound
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import VOCABULARY, Direction, EntityKind, RelationType, Status
from graphsvc.store.base import EntityQuery, GraphStore, TraversalSpec

__all__ = [
    "ChangeConflicts",
    "ChangeImpact",
    "Conflict",
    "ConflictKind",
    "RiskFactor",
    "change_conflicts",
    "change_impact",
]

SHOWN = 50
"""At most this many entities are named on one conflict (the explanation gives the total)."""
NAMED = 5
"""A risk factor's explanation names at most this many entities (and says how many more)."""
CARRIES_OUT = VOCABULARY.steps(
    RelationType.IMPLEMENTS, Direction.OUT, leaving={EntityKind.CHANGE}, reaching={EntityKind.TASK}
)
"""From a change to the tasks it ``IMPLEMENTS``."""
ASSIGNED = (
    step(
        RelationType.ASSIGNED_TO,
        Direction.OUT,
        {EntityKind.CHANGE},
        {EntityKind.TEAM, EntityKind.PERSON},
    ),
)
CI_NAME_ATTRIBUTE = "configurationItem"
"""The change attribute naming the CI the change tool says it changes (ServiceNow ``cmdb_ci``)."""


class ConflictKind(StrEnum):
    """What a change conflicts with."""

    __hash__ = str.__hash__

    COLLISION = "COLLISION"
    """Another open change, overlapping in time, whose impact set shares entities."""
    BLACKOUT = "BLACKOUT"
    """A blackout window overlapping the change, on an entity of its impact set."""
    OUTSIDE_MAINTENANCE = "OUTSIDE_MAINTENANCE"
    """A normal change on an entity with maintenance windows, not inside any of them."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """One conflict of a change.

    Attributes:
        kind: The kind of conflict.
        other: The other change (COLLISION) or the window (BLACKOUT,
            OUTSIDE_MAINTENANCE: the entity's maintenance window that overlaps
            the change most, else the next one, else the last one).
        entities: The entities that cause it (at most 50): shared
            impact-set entities, entities the blackout applies to, or the
            modified entity outside its maintenance windows.
        explanation: The conflict in words.
        total_entities: How many entities cause it (``entities`` may be cut).
    """

    kind: ConflictKind
    other: EntityRecord
    entities: tuple[EntityRecord, ...]
    explanation: str
    total_entities: int


@dataclass(frozen=True, slots=True)
class RiskFactor:
    """One input of the risk score: its name, its value, and the points it adds."""

    name: str
    value: str
    points: int
    explanation: str


@dataclass(frozen=True, slots=True)
class ChangeImpact:
    """The answer of :func:`change_impact` (PRODUCT.md 4.7).

    Attributes:
        change: The change.
        start_set: What it ``MODIFIES`` (live entities), by key.
        impact: The impact of the start set (unbounded); its aggregates hold the
            teams to notify and affected projects. Start set plus affected
            entities is the change's *impact set*.
        conflicts: COLLISIONs, then BLACKOUTs, then OUTSIDE_MAINTENANCE.
        risk_score: 0 to 100, the capped sum of ``risk_factors`` points.
        risk_factors: Every input of the score (see :func:`change_impact`).
        window: The planned window, if the change has one.
        assigned_to: Who does the work: the teams and people the change is
            ``ASSIGNED_TO`` (live ones), teams first, by key.
        unlinked_ci: The change's ``configurationItem`` when it names none of
            the start set (compared, ignoring case, with each modified entity's
            key, aliases, name and identifier values); ``None`` when the change
            names no CI or names one it modifies. The CI was not in the graph
            (or not linked) when the change was imported.
        unlinked_ci_entity: The entity (configuration item, else service) that
            ``unlinked_ci`` names, when the graph holds one at ``as_of``: by key
            or alias, else (for the graph as it is now) by display name when
            exactly one live entity has it. Linking the change to it would show
            its impact.
        tasks: The tasks the change ``IMPLEMENTS`` (carries out), by key.
    """

    change: EntityRecord
    start_set: tuple[EntityRecord, ...]
    impact: Impact
    conflicts: tuple[Conflict, ...]
    risk_score: int
    risk_factors: tuple[RiskFactor, ...]
    window: Interval | None
    assigned_to: tuple[EntityRecord, ...] = ()
    unlinked_ci: str | None = None
    unlinked_ci_entity: EntityRecord | None = None
    tasks: tuple[EntityRecord, ...] = ()


async def change_impact(
    store: GraphStore,
    key: str,
    *,
    as_of: datetime | None = None,
    first: int = 100,
    after: str | None = None,
    paths: bool = True,
    max_path_steps: int | None = None,
    redundancy: bool = True,
    now: datetime | None = None,
) -> ChangeImpact:
    """Return a change's start set, impact, conflicts and risk (PRODUCT.md 4.4).

    Conflicts:

    * COLLISION: another open change (state not ``closed``/``cancelled``) whose
      planned window overlaps this one and whose impact set (its start set
      plus the impact of it) shares at least one entity with this change's.
      Candidates are found without scanning every change: they must modify an
      entity from which this impact set can be reached, i.e. an entity of the
      dependency closure of this impact set.
    * BLACKOUT: a ``blackout`` window that overlaps the planned window and
      ``APPLIES_TO`` an entity of the impact set (start set included).
    * OUTSIDE_MAINTENANCE: for a ``normal`` change, each modified entity that
      has ``maintenance`` windows while the planned window is not inside any
      one of them (a change with no planned window is outside all).

    Risk score, the capped sum of these factors (each listed with its value):

    ==================  =====================================================  =========
    factor              points                                                 cap
    ==================  =====================================================  =========
    blastRadius         ``round(5 * log10(1 + n))``, n = affected entities     20
                        beyond the start set
    criticalServices    10 per tier-1 and 4 per tier-2 service in the impact   25
                        set
    downServices        2 per service DOWN (start set excluded)                10
    conflicts           COLLISION 10, BLACKOUT 20, OUTSIDE_MAINTENANCE 10      35
    changeType          emergency 10, normal 5, standard 0, unknown 5          10
    declaredRisk        the change's ``risk``: high/critical 10, moderate or    10
                        medium 5, low 0, unknown 0
    noPlannedWindow     10 when plannedStart/plannedEnd are missing or wrong   10
    staleEntities       1 per stale entity in the impact set                   5
    assigneeOverbooked  10 when a team doing the change (assigned, or a team   10
                        of an assigned person) is OVERBOOKED in a week of the
                        planned window (PRODUCT.md 7)
    ==================  =====================================================  =========

    ``risk_score = min(100, sum of points)``.

    Args:
        store: The store.
        key: The change's key (or an alias), resolved as of ``as_of``.
        as_of: Answer from the graph as it was then.
        first: Page size of the impact's affected entities.
        after: Cursor into the impact's affected entities.
        paths: Build the paths of the page (see :func:`~graphsvc.analysis.impact.impact`).
        max_path_steps: Most path steps the page may hold (``None``: unbounded).
        redundancy: Name what keeps the page's DEGRADED entities up (``saved_by``; see
            :func:`~graphsvc.analysis.impact.impact`); ``False`` saves two store calls
            (the ``downServices`` explanation then names no group).
        now: *Now* for the assignee teams' load (``assigneeOverbooked``) when ``as_of``
            is not given (default: the current time).

    Raises:
        NotFound: when no change has this key (at ``as_of``).
    """
    cid = (await store.resolve([(EntityKind.CHANGE, key)], as_of=as_of))[0]
    change = (await store.entities([cid], as_of=as_of))[0] if cid is not None else None
    if change is None or cid is None:
        msg = f"change {key!r} not found"
        raise NotFound(msg)
    window = change_window(change)
    hop = await store.neighbours([cid], (*MODIFIES, *ASSIGNED, *CARRIES_OUT), as_of=as_of)
    modifies = hop.type == VOCABULARY.type_code(RelationType.MODIFIES)
    assigns = hop.type == VOCABULARY.type_code(RelationType.ASSIGNED_TO)
    start = sorted(set(as_ids(hop.entity[modifies])))
    assignees = sorted(set(as_ids(hop.entity[assigns])))
    task_ids = sorted(set(as_ids(hop.entity[~(modifies | assigns)])))
    run = await analyse(
        store,
        start,
        VOCABULARY.impact_steps,
        False,
        None,
        as_of,
        first,
        after,
        paths=paths,
        max_path_steps=max_path_steps,
        redundancy=redundancy,
    )
    answer = run.answer
    impact_set = np.sort(run.walk.entities.astype(np.int64))

    found = await _find_conflicts(store, change, start, impact_set, window, as_of)
    want: set[int] = set(start) | found.named()
    want.update(assignees)
    want.update(task_ids)
    named = await _named_services(store, run, as_of)
    for ids_ in named.values():
        want.update(ids_[:NAMED])
    recs = await records(store, want, as_of)
    start_recs = tuple(sorted((recs[i] for i in start if i in recs), key=lambda r: r.key))
    assigned = tuple(
        sorted(
            (recs[i] for i in assignees if i in recs),
            key=lambda r: (r.kind is not EntityKind.TEAM, r.key),
        )
    )
    unlinked = _unlinked_ci(change, start_recs)
    unlinked_entity = await _entity_named(store, unlinked, as_of) if unlinked else None

    conflicts = _conflict_list(found, recs, window)
    examples = {name: [recs[i] for i in ids_ if i in recs] for name, ids_ in named.items()}
    counts = {name: len(ids_) for name, ids_ in named.items()}
    factors = _risk(change, answer, conflicts, window, _Named(examples, counts))
    moment = as_of or now or datetime.now(UTC)
    factors.append(await _assignee_load(store, window, assigned, as_of, moment))
    score = min(100, sum(f.points for f in factors))
    return ChangeImpact(
        change,
        start_recs,
        answer,
        tuple(conflicts),
        score,
        tuple(factors),
        window,
        assigned,
        unlinked,
        unlinked_entity,
        tuple(sorted((recs[i] for i in task_ids if i in recs), key=lambda r: r.key)),
    )


@dataclass(frozen=True, slots=True)
class _FoundConflicts:
    """The conflicts of a change as ids, before their entities are read.

    Attributes:
        collisions: Other change id and the impact-set entities both affect (sorted).
        blackouts: Blackout window id and the impact-set entities it applies to (sorted).
        outside: Modified entity id, the maintenance window named, and all its windows.
        others: The record of every other change and window named above.
    """

    collisions: list[tuple[int, list[int]]]
    blackouts: list[tuple[int, list[int]]]
    outside: list[tuple[int, int, list[int]]]
    others: dict[int, EntityRecord]

    def named(self) -> set[int]:
        """Return the ids of the entities the conflicts name (at most :data:`SHOWN` each)."""
        ids: set[int] = set()
        for _, ents in self.collisions + self.blackouts:
            ids.update(ents[:SHOWN])
        ids.update(e for e, _, _ in self.outside)
        return ids


async def _find_conflicts(
    store: GraphStore,
    change: EntityRecord,
    start: Sequence[int],
    impact_set: np.ndarray,
    window: Interval | None,
    as_of: datetime | None,
) -> _FoundConflicts:
    """Find the COLLISION, BLACKOUT and OUTSIDE_MAINTENANCE conflicts of a change.

    ``start`` is what the change modifies and ``impact_set`` (sorted ids) the
    start set plus its impact; the rules are those of :func:`change_impact`.
    """
    collisions: list[tuple[int, list[int]]] = []
    blackouts: list[tuple[int, list[int]]] = []
    outside: list[tuple[int, int, list[int]]] = []  # entity, shown window, its windows
    others: dict[int, EntityRecord] = {}
    if window is not None and impact_set.shape[0]:
        closure = await store.traverse(
            TraversalSpec(as_ids(impact_set), VOCABULARY.dependency_steps, as_of=as_of)
        )
        mod_by = await store.neighbours(as_ids(closure.entities), MODIFIED_BY, as_of=as_of)
        candidates = await records(store, set(as_ids(mod_by.entity)) - {change.id}, as_of)
        overlapping = sorted(
            c
            for c, r in candidates.items()
            if is_open(r) and (cw := change_window(r)) is not None and cw.overlaps(window)
        )
        if overlapping:
            their = await store.neighbours(overlapping, MODIFIES, as_of=as_of)
            by_change: dict[int, list[int]] = defaultdict(list)
            for o, e in zip(as_ids(their.origin), as_ids(their.entity), strict=True):
                by_change[overlapping[o]].append(e)
            for c in overlapping:
                walk = await store.traverse(
                    TraversalSpec(by_change[c], VOCABULARY.impact_steps, as_of=as_of)
                )
                shared = np.intersect1d(impact_set, walk.entities)
                if shared.shape[0]:
                    collisions.append((c, as_ids(shared)))
                    others[c] = candidates[c]
    if impact_set.shape[0]:
        wins = await store.neighbours(as_ids(impact_set), WINDOWS_ON, as_of=as_of)
        win_recs = await records(store, wins.entity, as_of)
        applies: dict[int, list[int]] = defaultdict(list)
        for o, w in zip(as_ids(wins.origin), as_ids(wins.entity), strict=True):
            applies[w].append(int(impact_set[o]))
        if window is not None:
            for w, rec in sorted(win_recs.items()):
                wi = window_interval(rec)
                if rec.attributes.get("windowType") == "blackout" and wi and wi.overlaps(window):
                    blackouts.append((w, sorted(applies[w])))
                    others[w] = rec
        if change.attributes.get("changeType") == "normal":
            start_set = set(start)
            maint: dict[int, list[int]] = defaultdict(list)
            for w, ents in applies.items():
                held = win_recs.get(w)
                if held is None or held.attributes.get("windowType") != "maintenance":
                    continue
                for e in ents:
                    if e in start_set:
                        maint[e].append(w)
            for e, ws in sorted(maint.items()):
                intervals = {w: window_interval(win_recs[w]) for w in ws}
                if window is not None and any(
                    i is not None and i.contains(window) for i in intervals.values()
                ):
                    continue
                shown = _closest(window, intervals)
                outside.append((e, shown, sorted(ws)))
                others[shown] = win_recs[shown]
    return _FoundConflicts(collisions, blackouts, outside, others)


def _conflict_list(
    found: _FoundConflicts, recs: dict[int, EntityRecord], window: Interval | None
) -> list[Conflict]:
    """Turn found conflicts into :class:`Conflict` answers (``recs``: the named entities)."""
    conflicts: list[Conflict] = []
    collisions, blackouts, outside, others = (
        found.collisions,
        found.blackouts,
        found.outside,
        found.others,
    )
    for c, ents in collisions:
        other = others[c]
        ow = change_window(other)
        shown_recs = tuple(recs[e] for e in ents[:SHOWN] if e in recs)
        conflicts.append(
            Conflict(
                ConflictKind.COLLISION,
                other,
                shown_recs,
                f"Change {other.key} ({other.attributes.get('state')}) is planned "
                f"{ow.describe() if ow else '?'}, overlapping this change's window "
                f"{window.describe() if window else '?'}, and both changes affect "
                f"{len(ents)} of the same entities: {labels(shown_recs)}.",
                len(ents),
            )
        )
    for w, ents in blackouts:
        other = others[w]
        wi = window_interval(other)
        shown_recs = tuple(recs[e] for e in ents[:SHOWN] if e in recs)
        conflicts.append(
            Conflict(
                ConflictKind.BLACKOUT,
                other,
                shown_recs,
                f"Blackout window {other.key} {wi.describe() if wi else ''} overlaps this "
                f"change's window {window.describe() if window else ''} and applies to "
                f"{len(ents)} entit{'y' if len(ents) == 1 else 'ies'} of its impact set: "
                f"{labels(shown_recs)}.",
                len(ents),
            )
        )
    for e, shown, ws in outside:
        ent = recs[e]
        spans = ", ".join(
            f"{others[w].key if w in others else w} "
            f"{i.describe() if (i := window_interval(others[w])) else ''}"
            if w in others
            else str(w)
            for w in ws
        )
        planned = window.describe() if window else "not planned (no window)"
        conflicts.append(
            Conflict(
                ConflictKind.OUTSIDE_MAINTENANCE,
                others[shown],
                (ent,),
                f"This normal change modifies {label(ent)}, which has maintenance windows "
                f"({spans or others[shown].key}), but its planned window {planned} is not "
                "inside any one of them.",
                1,
            )
        )
    return conflicts


@dataclass(frozen=True, slots=True)
class ChangeConflicts:
    """The answer of :func:`change_conflicts`.

    Attributes:
        change: The change.
        window: Its planned window, if it has one.
        impact_set: How many entities its impact set holds (start set included).
        conflicts: COLLISIONs, then BLACKOUTs, then OUTSIDE_MAINTENANCE, exactly
            as :func:`change_impact` answers them.
    """

    change: EntityRecord
    window: Interval | None
    impact_set: int
    conflicts: tuple[Conflict, ...]


async def change_conflicts(
    store: GraphStore, change: EntityRecord, *, as_of: datetime | None = None
) -> ChangeConflicts:
    """Return the conflicts of ``change`` only: :func:`change_impact`'s, without the rest.

    The same rules and the same code as :func:`change_impact` (which calls the
    same finder), without the impact's aggregates, paths, redundancy, risk and
    assignee load: one walk of the impact steps from what the change modifies,
    then the conflict checks. For views that list many changes (the change
    calendar).

    Args:
        store: The store.
        change: The change's record (as of ``as_of``).
        as_of: Answer from the graph as it was then.
    """
    window = change_window(change)
    hop = await store.neighbours([change.id], MODIFIES, as_of=as_of)
    start = sorted(set(as_ids(hop.entity)))
    walk = await store.traverse(
        TraversalSpec(start, VOCABULARY.impact_steps, as_of=as_of, include_stale=True)
    )
    impact_set = np.sort(walk.entities.astype(np.int64))
    found = await _find_conflicts(store, change, start, impact_set, window, as_of)
    recs = await records(store, found.named(), as_of)
    conflicts = _conflict_list(found, recs, window)
    return ChangeConflicts(change, window, int(impact_set.shape[0]), tuple(conflicts))


async def _assignee_load(
    store: GraphStore,
    window: Interval | None,
    assigned: Sequence[EntityRecord],
    as_of: datetime | None,
    now: datetime,
) -> RiskFactor:
    """The ``assigneeOverbooked`` factor: is a team doing the change overbooked in its weeks?

    The teams are those the change is ``ASSIGNED_TO`` and the teams of the people
    it is assigned to; their load is computed as ``teamLoad`` does
    (:mod:`graphsvc.analysis.work`) as of ``now``.
    """
    if window is None or not assigned:
        why = (
            "The change has no usable planned window, so its weeks are unknown."
            if window is None
            else "Nobody is assigned to the change, so no team's load could be checked."
        )
        return RiskFactor("assigneeOverbooked", "unknown", 0, why)
    people = [r.id for r in assigned if r.kind is EntityKind.PERSON]
    team_ids = {r.id for r in assigned if r.kind is EntityKind.TEAM}
    if people:
        theirs = await store.neighbours(people, TEAMS_OF_PERSON, as_of=as_of)
        team_ids |= set(as_ids(theirs.entity))
    teams = list((await records(store, team_ids, as_of)).values())
    if not teams:
        why = "The people assigned to the change are in no team, so no team's load was checked."
        return RiskFactor("assigneeOverbooked", "unknown", 0, why)
    book = await load_book(store, teams, window.start, window.end, as_of=as_of, now=now)
    overbooked = [
        (book.teams[t].record, monday)
        for t in range(len(book.teams))
        for w, monday in enumerate(book.week_starts())
        if book.states[t, w] == WeekState.OVERBOOKED.rank
    ]
    if not overbooked:
        return RiskFactor(
            "assigneeOverbooked",
            "no",
            0,
            f"No team doing the change ({labels(teams)}) is overbooked in the weeks of its "
            "planned window.",
        )
    shown = "; ".join(
        f"{label(team)} in the week of {monday.date().isoformat()}"
        for team, monday in overbooked[:NAMED]
    )
    more = f" and {len(overbooked) - NAMED} more" if len(overbooked) > NAMED else ""
    return RiskFactor(
        "assigneeOverbooked",
        "yes",
        10,
        f"Teams doing the change have more work than hours in its weeks: {shown}{more}. "
        "Overloaded implementers make mistakes and skip tests: 10 points.",
    )


def _fold(text: str) -> str:
    """Compare names as people type them: NFC, case folded, outer spaces dropped."""
    return unicodedata.normalize("NFC", text).casefold().strip()


def _unlinked_ci(change: EntityRecord, start: Sequence[EntityRecord]) -> str | None:
    """Return the change's ``configurationItem`` when it names none of ``start``."""
    value = change.attributes.get(CI_NAME_ATTRIBUTE)
    if not isinstance(value, str) or not value.strip():
        return None
    wanted = _fold(value)
    for record in start:
        names = [record.key, record.name, *record.aliases, *record.identifiers.values()]
        if any(_fold(n) == wanted for n in names if n):
            return None
    return value.strip()


async def _entity_named(
    store: GraphStore, name: str, as_of: datetime | None
) -> EntityRecord | None:
    """Return the configuration item, else the service, that ``name`` names.

    First by key or alias (as of ``as_of``); then, for the graph as it is now
    only (the entity filter of the port reads no history), by display name,
    ignoring case, among live entities: change tools name a CI by its display
    value. One entity is returned only when the name names exactly one.
    """
    kinds = (EntityKind.CONFIGURATION_ITEM, EntityKind.SERVICE)
    found = await store.resolve([(k, name) for k in kinds], as_of=as_of)
    for entity_id in found:
        if entity_id is not None:
            record = (await store.entities([entity_id], as_of=as_of))[0]
            if record is not None:
                return record
    if as_of is not None:
        return None
    wanted = _fold(name)
    live = frozenset({Status.ACTIVE, Status.STALE})
    for kind in kinds:
        page = await store.find_entities(EntityQuery(kind, live, name), first=20)
        exact = [r for r in page.items if _fold(r.name) == wanted]
        if len(exact) == 1:
            return exact[0]
    return None


@dataclass(frozen=True, slots=True)
class _Named:
    """Entities a risk explanation names (up to :data:`NAMED` of each) and how many in all.

    Keys: ``tier1``, ``tier2`` (services of the impact set, DOWN first, then
    nearest), ``down`` (services DOWN beyond the start set, nearest first) and
    ``stale`` (stale entities of the impact set, nearest first).
    """

    examples: dict[str, list[EntityRecord]]
    counts: dict[str, int]

    def text(self, name: str) -> str:
        """Return the keys of the examples, and how many more there are."""
        shown = self.examples.get(name, [])
        more = self.counts.get(name, 0) - len(shown)
        text = ", ".join(r.key for r in shown)
        return text + (f" and {more:,} more" if more > 0 else "")


async def _named_services(
    store: GraphStore, run: Analysis, as_of: datetime | None
) -> dict[str, list[int]]:
    """Return the entity ids a risk explanation names, by :class:`_Named` key, in order.

    One indexed-column read (the tier of every service of the impact set);
    every list is complete (only the first :data:`NAMED` are read as records).
    """
    walk, down = run.walk, run.down
    ent = walk.entities.astype(np.int64)
    depth = walk.depth.astype(np.int64)
    svc = np.flatnonzero(walk.kind == VOCABULARY.kind_code(SVC))
    column = await store.attribute_column(ent[svc], "tier", as_of=as_of)
    tier_of = [v if isinstance(v, int) and not isinstance(v, bool) else None for v in column.values]
    tiers = [tier_of[c] if c >= 0 else None for c in column.codes.tolist()]

    def ordered(rows: Iterable[int], *, down_first: bool) -> list[int]:
        chosen = sorted(
            rows, key=lambda i: (down_first and not bool(down[i]), int(depth[i]), int(ent[i]))
        )
        return [int(ent[i]) for i in chosen]

    svc_rows = svc.tolist()
    return {
        "tier1": ordered(
            (i for i, t in zip(svc_rows, tiers, strict=True) if t == 1), down_first=True
        ),
        "tier2": ordered(
            (i for i, t in zip(svc_rows, tiers, strict=True) if t == 2), down_first=True
        ),
        "down": ordered((i for i in svc_rows if down[i] and depth[i] > 0), down_first=False),
        "stale": ordered(np.flatnonzero(walk.stale).tolist(), down_first=False),
    }


def _span(window: Interval) -> str:
    """Return ``2025-03-24 19:00 → 21:00 UTC`` (the end's date when it differs)."""
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    fmt = "%Y-%m-%d %H:%M"
    end_text = end.strftime("%H:%M" if end.date() == start.date() else fmt)
    return f"{start.strftime(fmt)} → {end_text} UTC"


def _window_problem(change: EntityRecord) -> str:
    """Say what is wrong with a change's planned window (it has none)."""
    raw = {n: change.attributes.get(n) for n in ("plannedStart", "plannedEnd")}
    missing = [n for n, v in raw.items() if v is None]
    if missing:
        return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not stated"
    bad = [n for n, v in raw.items() if when(v) is None]
    if bad:
        return " and ".join(f"{n} {raw[n]!r} is not an ISO 8601 time with a zone" for n in bad)
    return f"plannedEnd {raw['plannedEnd']} is not after plannedStart {raw['plannedStart']}"


def _closest(window: Interval | None, intervals: dict[int, Interval | None]) -> int:
    """Pick the maintenance window to name: most overlap, else the next, else the last."""
    valid = {w: i for w, i in intervals.items() if i is not None}
    if not valid:
        return min(intervals)
    if window is not None:
        overlap = {
            w: (min(i.end, window.end) - max(i.start, window.start)).total_seconds()
            for w, i in valid.items()
        }
        best = max(overlap, key=lambda w: (overlap[w], -w))
        if overlap[best] > 0:
            return best
        later = [w for w, i in valid.items() if i.start >= window.start]
        if later:
            return min(later, key=lambda w: (valid[w].start, w))
    return max(valid, key=lambda w: (valid[w].end, w))


def _risk(
    change: EntityRecord,
    answer: Impact,
    conflicts: list[Conflict],
    window: Interval | None,
    named: _Named,
) -> list[RiskFactor]:
    """Compute the risk factors documented on :func:`change_impact`, each explained."""
    factors: list[RiskFactor] = []
    starts = len(answer.starts)
    beyond = answer.summary.total - starts
    radius = min(20, round(5 * math.log10(1 + beyond)))
    if not starts:
        why = (
            "The change MODIFIES nothing the graph knows, so nothing could be walked: the "
            "blast radius is unknown, not zero."
        )
    else:
        start_kinds = Counter(s.kind for s in answer.starts)
        kinds = ", ".join(
            _count(k.count - start_kinds[k.kind], k.kind)
            for k in answer.summary.by_kind
            if k.count - start_kinds[k.kind] > 0
        )
        modified = labels(answer.starts, 3)
        if beyond:
            why = (
                f"{_plural(beyond, 'entity', 'entities')} beyond the {starts} modified "
                f"({modified}) would be affected: {kinds}; the furthest is "
                f"{_plural(answer.summary.deepest, 'hop')} away. round(5 * log10(1 + {beyond})) "
                "points, at most 20."
            )
        else:
            why = f"Nothing beyond the {starts} modified ({modified}) depends on them."
    factors.append(RiskFactor("blastRadius", str(beyond), radius, why))

    by_tier = {tc.tier: tc for tc in answer.summary.services_by_tier}
    t1 = by_tier[1].count if 1 in by_tier else 0
    t2 = by_tier[2].count if 2 in by_tier else 0
    tiers = []
    if t1:
        tiers.append(f"{_plural(t1, 'tier-1 service')} ({named.text('tier1')})")
    if t2:
        tiers.append(f"{_plural(t2, 'tier-2 service')} ({named.text('tier2')})")
    factors.append(
        RiskFactor(
            "criticalServices",
            f"tier1={t1} tier2={t2}",
            min(25, 10 * t1 + 4 * t2),
            f"The impact set holds {' and '.join(tiers)}: 10 points per tier-1 and 4 per "
            "tier-2 service, at most 25."
            if tiers
            else "No tier-1 or tier-2 service is in the impact set.",
        )
    )

    down_services = sum(tc.down for tc in answer.summary.services_by_tier)
    started_services = sum(1 for s in answer.starts if s.kind is EntityKind.SERVICE)
    down_beyond = max(0, down_services - started_services)
    reached = sum(tc.count for tc in answer.summary.services_by_tier) - started_services
    if down_beyond:
        why = (
            f"If the change fails, {_plural(down_beyond, 'service')} beyond the modified ones "
            f"would be DOWN ({named.text('down')}): 2 points each, at most 10."
        )
    elif reached > 0:
        page = [edge.node for edge in answer.affected.edges]
        groups = sorted({c.group for node in page for c in node.saved_by})
        complete = len(page) == answer.affected.total_count
        held = f" ({', '.join(groups[:NAMED])})" if groups and complete else ""
        why = (
            f"None of the {_plural(reached, 'service')} reached beyond the modified ones would "
            f"be DOWN: redundancy{held} keeps each one up (they are DEGRADED)."
        )
    else:
        why = "No service beyond the modified ones is reached."
    factors.append(RiskFactor("downServices", str(down_beyond), min(10, 2 * down_beyond), why))

    weights = {
        ConflictKind.COLLISION: 10,
        ConflictKind.BLACKOUT: 20,
        ConflictKind.OUTSIDE_MAINTENANCE: 10,
    }
    counts = {k: sum(1 for c in conflicts if c.kind is k) for k in ConflictKind}
    if conflicts:
        found = []
        for kind in ConflictKind:
            others = [c.other.key for c in conflicts if c.kind is kind]
            if not others:
                continue
            what = {
                ConflictKind.COLLISION: "with change",
                ConflictKind.BLACKOUT: "inside blackout window",
                ConflictKind.OUTSIDE_MAINTENANCE: "outside maintenance windows such as",
            }[kind]
            shown = ", ".join(sorted(set(others))[:NAMED])
            found.append(f"{len(others)} {kind.value} ({what} {shown})")
        why = (
            f"{'; '.join(found)}: COLLISION 10, BLACKOUT 20 and OUTSIDE_MAINTENANCE 10 points "
            "each, at most 35."
        )
    elif window is None:
        why = "None found, but without a planned window collisions and blackouts were not checked."
    else:
        why = (
            "None: no open change overlapping the window shares the impact set, no blackout "
            "window covers it, and no maintenance window of a modified entity is left."
        )
    factors.append(
        RiskFactor(
            "conflicts",
            " ".join(f"{k.value}={n}" for k, n in counts.items()),
            min(35, sum(weights[k] * n for k, n in counts.items())),
            why,
        )
    )

    ctype = change.attributes.get("changeType")
    type_points = {"emergency": 10, "normal": 5, "standard": 0}
    type_words = {
        "emergency": "An emergency change (least time to review and test): 10 points",
        "normal": "A normal change (assessed by the CAB): 5 points",
        "standard": "A standard change (pre-approved, repeatable): 0 points",
    }
    if isinstance(ctype, str) and ctype in type_words:
        why = f"{type_words[ctype]}; emergency 10, normal 5, standard 0."
    elif ctype is None:
        why = "The change states no changeType: counted like a normal change, 5 points."
    else:
        why = (
            f"changeType {ctype!r} is not standard, normal or emergency: counted like a normal "
            "change, 5 points."
        )
    factors.append(
        RiskFactor(
            "changeType",
            str(ctype) if ctype is not None else "unknown",
            type_points.get(ctype, 5) if isinstance(ctype, str) else 5,
            why,
        )
    )

    declared = change.attributes.get("risk")
    level = declared.lower().strip() if isinstance(declared, str) else ""
    high, medium = {"high", "critical", "very high"}, {"moderate", "medium"}
    risk_points = 10 if level in high else 5 if level in medium else 0
    scale = "high or critical 10, moderate or medium 5, low 0"
    if declared is None:
        why = "The change tool declares no risk: 0 points; the other factors stand alone."
    elif level in high | medium | {"low"}:
        why = f"The change tool declares risk {declared!r}: {risk_points} points ({scale})."
    else:
        why = f"The declared risk {declared!r} is not a level this score knows ({scale}): 0 points."
    factors.append(
        RiskFactor(
            "declaredRisk",
            str(declared) if declared is not None else "unknown",
            risk_points,
            why,
        )
    )

    factors.append(
        RiskFactor(
            "noPlannedWindow",
            "yes" if window is None else "no",
            10 if window is None else 0,
            f"No usable planned window ({_window_problem(change)}): collisions and blackouts "
            "cannot be checked, 10 points."
            if window is None
            else f"Planned {_span(window)}: collisions, blackouts and maintenance windows were "
            "checked against it.",
        )
    )

    stale = answer.summary.stale
    factors.append(
        RiskFactor(
            "staleEntities",
            str(stale),
            min(5, stale),
            f"{_plural(stale, 'entity', 'entities')} of the impact set "
            f"{'is' if stale == 1 else 'are'} stale, no source asserts "
            f"{'it' if stale == 1 else 'them'} any more ({named.text('stale')}): the picture "
            "may be out of date. 1 point each, at most 5."
            if stale
            else "No entity of the impact set is stale: every one is still asserted by a source.",
        )
    )
    return factors


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def _count(n: int, kind: EntityKind) -> str:
    return f"{n:,} {VOCABULARY.noun(kind, n)}"
