"""Change impact and conflicts (PRODUCT.md 4.4), with a documented risk score.

Windows are half-open intervals ``[start, end)``: a change planned
``[10:00, 12:00)`` and one planned ``[12:00, 14:00)`` do not overlap. A change's
planned window is ``[plannedStart, plannedEnd)``; a change without both (or
with ``plannedEnd <= plannedStart``) has no window, so nothing can overlap it:
it gets no COLLISION or BLACKOUT conflict, and the risk factor
``noPlannedWindow`` says so instead.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np

from graphsvc.analysis._common import (
    MODIFIED_BY,
    MODIFIES,
    WINDOWS_ON,
    Interval,
    as_ids,
    change_window,
    is_open,
    label,
    labels,
    records,
    window_interval,
)
from graphsvc.analysis.impact import Impact, analyse
from graphsvc.errors import NotFound
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.store.base import GraphStore, TraversalSpec

__all__ = ["ChangeImpact", "Conflict", "ConflictKind", "RiskFactor", "change_impact"]

SHOWN = 50
"""At most this many entities are named on one conflict (the explanation gives the total)."""


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
        entities: The entities that cause it (up to :data:`SHOWN`): shared
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
    """

    change: EntityRecord
    start_set: tuple[EntityRecord, ...]
    impact: Impact
    conflicts: tuple[Conflict, ...]
    risk_score: int
    risk_factors: tuple[RiskFactor, ...]
    window: Interval | None


async def change_impact(
    store: GraphStore,
    key: str,
    *,
    as_of: datetime | None = None,
    first: int = 100,
    after: str | None = None,
    paths: bool = True,
    max_path_steps: int | None = None,
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

    Raises:
        NotFound: when no change has this key (at ``as_of``).
    """
    cid = (await store.resolve([(EntityKind.CHANGE, key)], as_of=as_of))[0]
    change = (await store.entities([cid], as_of=as_of))[0] if cid is not None else None
    if change is None or cid is None:
        msg = f"change {key!r} not found"
        raise NotFound(msg)
    window = change_window(change)
    mods = await store.neighbours([cid], MODIFIES, as_of=as_of)
    start = sorted(set(as_ids(mods.entity)))
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
    )
    answer = run.answer
    impact_set = np.sort(run.walk.entities.astype(np.int64))

    collisions: list[tuple[int, list[int]]] = []
    blackouts: list[tuple[int, list[int]]] = []
    outside: list[tuple[int, int, list[int]]] = []  # entity, shown window, its windows
    want: set[int] = set(start)
    others: dict[int, EntityRecord] = {}
    if window is not None and impact_set.shape[0]:
        closure = await store.traverse(
            TraversalSpec(as_ids(impact_set), VOCABULARY.dependency_steps, as_of=as_of)
        )
        mod_by = await store.neighbours(as_ids(closure.entities), MODIFIED_BY, as_of=as_of)
        candidates = await records(store, set(as_ids(mod_by.entity)) - {cid}, as_of)
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
                found = win_recs.get(w)
                if found is None or found.attributes.get("windowType") != "maintenance":
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
    for _, ents in collisions + blackouts:
        want.update(ents[:SHOWN])
    for e, _, _ in outside:
        want.add(e)
    recs = await records(store, want, as_of)
    start_recs = tuple(sorted((recs[i] for i in start if i in recs), key=lambda r: r.key))

    conflicts: list[Conflict] = []
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
    factors = _risk(change, answer, conflicts, window)
    score = min(100, sum(f.points for f in factors))
    return ChangeImpact(change, start_recs, answer, tuple(conflicts), score, tuple(factors), window)


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
) -> list[RiskFactor]:
    """Compute the risk factors documented on :func:`change_impact`."""
    factors: list[RiskFactor] = []
    beyond = answer.summary.total - len(answer.starts)
    factors.append(
        RiskFactor(
            "blastRadius",
            str(beyond),
            min(20, round(5 * math.log10(1 + beyond))),
            f"{beyond} entities are affected beyond the {len(answer.starts)} modified.",
        )
    )
    by_tier = {tc.tier: tc for tc in answer.summary.services_by_tier}
    t1 = by_tier[1].count if 1 in by_tier else 0
    t2 = by_tier[2].count if 2 in by_tier else 0
    factors.append(
        RiskFactor(
            "criticalServices",
            f"tier1={t1} tier2={t2}",
            min(25, 10 * t1 + 4 * t2),
            f"The impact set holds {t1} tier-1 and {t2} tier-2 services.",
        )
    )
    down_services = sum(tc.down for tc in answer.summary.services_by_tier)
    started_services = sum(1 for s in answer.starts if s.kind is EntityKind.SERVICE)
    down_beyond = max(0, down_services - started_services)
    factors.append(
        RiskFactor(
            "downServices",
            str(down_beyond),
            min(10, 2 * down_beyond),
            f"{down_beyond} services beyond the modified ones would be DOWN if the change fails.",
        )
    )
    weights = {
        ConflictKind.COLLISION: 10,
        ConflictKind.BLACKOUT: 20,
        ConflictKind.OUTSIDE_MAINTENANCE: 10,
    }
    counts = {k: sum(1 for c in conflicts if c.kind is k) for k in ConflictKind}
    factors.append(
        RiskFactor(
            "conflicts",
            " ".join(f"{k.value}={n}" for k, n in counts.items()),
            min(35, sum(weights[k] * n for k, n in counts.items())),
            f"{len(conflicts)} conflicts.",
        )
    )
    ctype = change.attributes.get("changeType")
    type_points = {"emergency": 10, "normal": 5, "standard": 0}
    factors.append(
        RiskFactor(
            "changeType",
            str(ctype) if ctype is not None else "unknown",
            type_points.get(ctype, 5) if isinstance(ctype, str) else 5,
            "Emergency changes are the riskiest, standard (pre-approved) ones the least.",
        )
    )
    declared = change.attributes.get("risk")
    level = declared.lower() if isinstance(declared, str) else ""
    risk_points = (
        10
        if level in {"high", "critical", "very high"}
        else 5
        if level in {"moderate", "medium"}
        else 0
    )
    factors.append(
        RiskFactor(
            "declaredRisk",
            str(declared) if declared is not None else "unknown",
            risk_points,
            "The risk the change tool states.",
        )
    )
    factors.append(
        RiskFactor(
            "noPlannedWindow",
            "yes" if window is None else "no",
            10 if window is None else 0,
            "Without a planned window, collisions and blackouts cannot be checked."
            if window is None
            else f"Planned {window.describe()}.",
        )
    )
    stale = answer.summary.stale
    factors.append(
        RiskFactor(
            "staleEntities",
            str(stale),
            min(5, stale),
            f"{stale} entities of the impact set are stale: the picture may be out of date.",
        )
    )
    return factors
