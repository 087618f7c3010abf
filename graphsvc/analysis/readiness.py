"""Consolidation readiness and candidates (PRODUCT.md 4.6).

A consolidation project ``CONSOLIDATES`` sources; each source is
``REPLACED_BY`` one or more targets. :func:`consolidation_readiness` runs the six
checks of the specification, in this order and under these names: ``targets``,
``consumersMigrated``, ``ownership``, ``conflicts``, ``capacity``,
``dataQuality``.

Score: each check has a weight (targets 25, consumersMigrated 25, ownership 15,
conflicts 15, capacity 10, dataQuality 10; total 100). A check that passes
earns its whole weight, one that warns half of it (rounded down), one that
fails nothing. ``score`` is the sum. ``status`` is ``BLOCKED`` when any check
fails, ``AT_RISK`` when any warns, ``READY`` otherwise.

A project that ``CONSOLIDATES`` nothing (no live source: none was ever named,
every such relation is retired, or every source is retired) is not a
consolidation, and its readiness is not a question: its status is
``NOT_APPLICABLE``, with a ``reason`` that says which of these it is, no checks
and a score of 0. It is never ``BLOCKED``: nothing blocks it, there is nothing
to move.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from graphsvc.analysis._common import (
    CONSUMERS,
    IMPLEMENTS,
    MEMBERS,
    MODIFIED_BY,
    NEEDS,
    SVC,
    SVC_CI,
    WINDOWS_ON,
    as_ids,
    change_window,
    interval,
    is_open,
    is_stale,
    label,
    labels,
    missing_required,
    number,
    records,
    step,
    window_interval,
)
from graphsvc.analysis.ownership import owners_of
from graphsvc.analysis.plan import overbooked_teams
from graphsvc.errors import NotFound
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import VOCABULARY, Direction, EntityKind, RelationType, Status
from graphsvc.store.base import EntityQuery, GraphStore, TraversalSpec

__all__ = [
    "CandidatePair",
    "CheckResult",
    "Readiness",
    "ReadinessCheck",
    "ReadinessStatus",
    "Replacement",
    "consolidation_candidates",
    "consolidation_readiness",
]

WEIGHTS = {
    "targets": 25,
    "consumersMigrated": 25,
    "ownership": 15,
    "conflicts": 15,
    "capacity": 10,
    "dataQuality": 10,
}
"""Score weight of each check (they sum to 100)."""

CONSOLIDATES_OUT = (step(RelationType.CONSOLIDATES, Direction.OUT, {EntityKind.PROJECT}, SVC_CI),)
CONSOLIDATED_BY = (step(RelationType.CONSOLIDATES, Direction.IN, SVC_CI, {EntityKind.PROJECT}),)
NOT_LIVE = frozenset({"planned", "retiring", "retired"})


class CheckResult(StrEnum):
    """Outcome of one readiness check."""

    __hash__ = str.__hash__

    PASS = "PASS"  # noqa: S105 - a check result, not a password
    WARN = "WARN"
    FAIL = "FAIL"


class ReadinessStatus(StrEnum):
    """Overall readiness."""

    __hash__ = str.__hash__

    READY = "READY"
    """Every check passes."""
    AT_RISK = "AT_RISK"
    """No check fails, some warn."""
    BLOCKED = "BLOCKED"
    """Some check fails."""
    NOT_APPLICABLE = "NOT_APPLICABLE"
    """The project consolidates nothing: not a consolidation, no checks (``reason`` says why)."""


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    """One check: its name, result, the entities that fail (or warn) it, and why.

    Attributes:
        name: ``targets``, ``consumersMigrated``, ``ownership``, ``conflicts``,
            ``capacity`` or ``dataQuality``.
        result: PASS, WARN or FAIL.
        entities: The entities that fail (or warn) it, by kind and key.
        reason: The result in words.
    """

    name: str
    result: CheckResult
    entities: tuple[EntityRecord, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Replacement:
    """A source of the project and the live targets it is ``REPLACED_BY``."""

    source: EntityRecord
    targets: tuple[EntityRecord, ...]


@dataclass(frozen=True, slots=True)
class Readiness:
    """The answer of :func:`consolidation_readiness` (PRODUCT.md 4.7).

    Attributes:
        project: The project.
        status: READY, AT_RISK or BLOCKED; NOT_APPLICABLE when the project
            consolidates nothing.
        score: 0 to 100, the sum of the checks' weights (targets 25,
            consumersMigrated 25, ownership 15, conflicts 15, capacity 10,
            dataQuality 10): a passing check earns its whole weight, a warning
            one half of it (rounded down), a failing one nothing. 0 when
            NOT_APPLICABLE (nothing was scored).
        checks: The six checks, in the specification's order; none when
            NOT_APPLICABLE.
        replacements: Each source with its targets.
        reason: The status in one sentence: which checks fail or warn, or why
            the project is not a consolidation.
    """

    project: EntityRecord
    status: ReadinessStatus
    score: int
    checks: tuple[ReadinessCheck, ...]
    replacements: tuple[Replacement, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class CandidatePair:
    """Two live services with the same ``capability`` and the consumers they share."""

    first: EntityRecord
    second: EntityRecord
    capability: str
    shared_consumers: tuple[EntityRecord, ...]


def _check(
    name: str, result: CheckResult, entities: Iterable[EntityRecord], reason: str
) -> ReadinessCheck:
    unique = {e.id: e for e in entities}
    return ReadinessCheck(
        name, result, tuple(sorted(unique.values(), key=lambda r: (r.kind, r.key))), reason
    )


def _worst(results: Iterable[CheckResult]) -> CheckResult:
    found = set(results)
    for r in (CheckResult.FAIL, CheckResult.WARN):
        if r in found:
            return r
    return CheckResult.PASS


async def consolidation_readiness(
    store: GraphStore,
    project_key: str,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
) -> Readiness:
    """Return whether a consolidation project can move its sources onto their targets.

    The checks (each PASS, WARN or FAIL, with the entities concerned):

    1. ``targets``: every source has a live ``REPLACED_BY`` target (FAIL if
       not), and no target is itself
       consolidated by a project, retired, or has lifecycle ``retiring`` or
       ``retired`` (FAIL).
    2. ``consumersMigrated``: every entity that directly ``DEPENDS_ON`` or
       ``RUNS_ON`` a source already depends on (or runs on) one of that
       source's targets, or is modified by an open change that ``IMPLEMENTS``
       this project (FAIL otherwise, naming each consumer). Consumers that are
       themselves sources or targets of the project are not counted.
    3. ``ownership``: sources and targets have an owner, direct or inherited
       (FAIL); consumers have one (WARN); no owner is a ghost (no members or
       not active; WARN).
    4. ``conflicts``: inside the project's planned window
       ``[plannedStart, plannedEnd)``, no open change that does not implement
       the project modifies a source or target, and no blackout window on the
       impact set of the sources and targets overlaps it (WARN; FAIL when such a
       blackout applies to a tier-1 service). A project without a planned
       window gets WARN: conflicts cannot be checked. Changes without a planned
       window are not counted.
    5. ``capacity``: for each target, its ``load`` plus the ``load`` of the
       sources it replaces fits its ``capacity`` (FAIL if not), and no team
       doing the project's open tasks (its plan, see
       :mod:`graphsvc.analysis.plan`) is OVERBOOKED in a week those tasks span
       (FAIL); WARN when a target's figure is missing.
    6. ``dataQuality``: no source, target or consumer is stale, and each has
       its kind's required attributes (WARN).

    A project without a live source (no ``CONSOLIDATES`` of a live entity)
    gets ``NOT_APPLICABLE``, no checks, score 0, and a ``reason`` naming the
    case: it never named a source (whatever its ``projectType`` says), or its
    ``CONSOLIDATES`` relations or their sources are all retired (the
    consolidation looks done or dropped).

    Args:
        store: The store.
        project_key: The project's key (or alias), resolved as of ``as_of``.
        as_of: Answer from the graph as it was then (also *now* for the teams' load).
        now: *Now* for the teams' load when ``as_of`` is not given (default: the
            current time).

    Raises:
        NotFound: when no project has this key (at ``as_of``).
    """
    pid = (await store.resolve([(EntityKind.PROJECT, project_key)], as_of=as_of))[0]
    project = (await store.entities([pid], as_of=as_of))[0] if pid is not None else None
    if project is None or pid is None:
        msg = f"project {project_key!r} not found"
        raise NotFound(msg)
    src_nb = await store.neighbours([pid], CONSOLIDATES_OUT, as_of=as_of)
    sources = sorted(set(as_ids(src_nb.entity)))
    if not sources:
        return await _not_applicable(store, project, as_of)
    # REPLACED_BY through relations(): a retired target must be seen to be reported
    targets_of: dict[int, list[int]] = {}
    for s in sources:
        page = await store.relations(
            s,
            Direction.OUT,
            types=frozenset({RelationType.REPLACED_BY}),
            first=1000,
            as_of=as_of,
        )
        targets_of[s] = sorted({r.to_id for r in page.items if r.status is not Status.RETIRED})
    all_targets = sorted({t for ts in targets_of.values() for t in ts})
    consolidated = await store.neighbours(all_targets, CONSOLIDATED_BY, as_of=as_of)
    consolidated_targets = {all_targets[o] for o in as_ids(consolidated.origin)}

    # consumers of each source
    cons_nb = await store.neighbours(sources, CONSUMERS, as_of=as_of)
    st = set(sources) | set(all_targets)
    consumers_of: dict[int, set[int]] = defaultdict(set)
    for o, c in zip(as_ids(cons_nb.origin), as_ids(cons_nb.entity), strict=True):
        if c not in st:
            consumers_of[sources[o]].add(c)
    consumers = sorted({c for cs in consumers_of.values() for c in cs})
    needs_nb = await store.neighbours(consumers, NEEDS, as_of=as_of)
    needs: dict[int, set[int]] = defaultdict(set)
    for o, e in zip(as_ids(needs_nb.origin), as_ids(needs_nb.entity), strict=True):
        needs[consumers[o]].add(e)
    mod_nb = await store.neighbours(consumers, MODIFIED_BY, as_of=as_of)
    st_mod = await store.neighbours(sorted(st), MODIFIED_BY, as_of=as_of)
    change_recs = await records(store, [*as_ids(mod_nb.entity), *as_ids(st_mod.entity)], as_of)
    open_changes = sorted(c for c, r in change_recs.items() if is_open(r))
    impl = await store.neighbours(open_changes, IMPLEMENTS, as_of=as_of)
    of_project = {
        open_changes[o]
        for o, p in zip(as_ids(impl.origin), as_ids(impl.entity), strict=True)
        if p == pid
    }
    covered = {
        consumers[o]
        for o, c in zip(as_ids(mod_nb.origin), as_ids(mod_nb.entity), strict=True)
        if c in of_project
    }

    owners = await owners_of(store, [*sorted(st), *consumers], as_of=as_of)
    team_ids = sorted({t for ts in owners.values() for t in ts})
    members = await store.neighbours(team_ids, MEMBERS, as_of=as_of)
    with_members = {team_ids[o] for o in as_ids(members.origin)}

    window = interval(project, "plannedStart", "plannedEnd")
    impact_ids: list[int] = []
    if st:
        walk = await store.traverse(TraversalSpec(sorted(st), VOCABULARY.impact_steps, as_of=as_of))
        impact_ids = as_ids(walk.entities)
    wins = await store.neighbours(impact_ids, WINDOWS_ON, as_of=as_of)
    win_recs = await records(store, wins.entity, as_of)
    applies: dict[int, list[int]] = defaultdict(list)
    for o, w in zip(as_ids(wins.origin), as_ids(wins.entity), strict=True):
        applies[w].append(impact_ids[o])
    blackout_ids = [
        w
        for w, r in sorted(win_recs.items())
        if r.attributes.get("windowType") == "blackout"
        and window is not None
        and (wi := window_interval(r)) is not None
        and wi.overlaps(window)
    ]
    recs = await records(
        store,
        {
            *st,
            *consumers,
            *team_ids,
            *(e for w in blackout_ids for e in applies[w]),
        },
        as_of,
    )
    recs.update(change_recs)
    recs.update(win_recs)

    def rec(ids: Iterable[int]) -> list[EntityRecord]:
        return [recs[i] for i in ids if i in recs]

    checks: list[ReadinessCheck] = []

    # 1. targets
    missing = [s for s in sources if not targets_of[s]]
    bad: list[tuple[int, str]] = []
    for t in all_targets:
        r = recs.get(t)
        if r is None:
            continue
        if r.status is Status.RETIRED:
            bad.append((t, "is retired"))
        elif r.attributes.get("lifecycle") in ("retiring", "retired"):
            bad.append((t, f"has lifecycle {r.attributes.get('lifecycle')}"))
        elif t in consolidated_targets:
            bad.append((t, "is itself being consolidated"))
    if missing or bad:
        parts = []
        if missing:
            parts.append(f"no target to move to for {labels(rec(missing))}")
        if bad:
            parts.append("; ".join(f"target {recs[t].key} {why}" for t, why in bad if t in recs))
        checks.append(
            _check(
                "targets",
                CheckResult.FAIL,
                rec([*missing, *(t for t, _ in bad)]),
                "Not every source has a usable target: " + "; ".join(parts) + ".",
            )
        )
    else:
        checks.append(_check("targets", CheckResult.PASS, [], "Every source has a usable target."))

    # 2. consumers migrated
    stuck: dict[int, list[int]] = defaultdict(list)
    for s in sources:
        for c in sorted(consumers_of[s]):
            if needs[c] & set(targets_of[s]) or c in covered:
                continue
            stuck[c].append(s)
    if stuck:
        lines = [
            f"{recs[c].key} still depends on {', '.join(recs[s].key for s in ss if s in recs)}"
            for c, ss in sorted(stuck.items())
            if c in recs
        ]
        checks.append(
            _check(
                "consumersMigrated",
                CheckResult.FAIL,
                rec(stuck),
                f"{len(stuck)} consumer(s) have not moved to the target and no open change of "
                f"this project covers them: {'; '.join(lines[:10])}"
                + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")
                + ".",
            )
        )
    else:
        checks.append(
            _check(
                "consumersMigrated",
                CheckResult.PASS,
                [],
                f"All {len(consumers)} consumer(s) already use a target or are covered by "
                "an open change of this project.",
            )
        )

    # 3. ownership
    unowned_core = [i for i in sorted(st) if not owners.get(i)]
    unowned_consumers = [c for c in consumers if not owners.get(c)]
    ghosts = [
        t
        for t in team_ids
        if t not in with_members or (t in recs and recs[t].status is not Status.ACTIVE)
    ]
    if unowned_core:
        result = CheckResult.FAIL
        ents = rec(unowned_core)
        reason = f"No owner for {labels(ents)}: someone must be accountable for the move."
    elif unowned_consumers or ghosts:
        result = CheckResult.WARN
        ents = rec([*unowned_consumers, *ghosts])
        parts = []
        if unowned_consumers:
            parts.append(f"consumers without an owner: {labels(rec(unowned_consumers))}")
        if ghosts:
            parts.append(f"owning teams without members or not active: {labels(rec(ghosts))}")
        reason = "Ownership gaps: " + "; ".join(parts) + "."
    else:
        result, ents = CheckResult.PASS, []
        reason = "Sources, targets and consumers all have an owning team that can act."
    checks.append(_check("ownership", result, ents, reason))

    # 4. conflicts
    if window is None:
        checks.append(
            _check(
                "conflicts",
                CheckResult.WARN,
                [],
                "The project has no planned window (plannedStart/plannedEnd), so clashes "
                "with other changes and blackouts cannot be checked.",
            )
        )
    else:
        clashing: dict[int, list[int]] = defaultdict(list)
        st_list = sorted(st)
        for o, c in zip(as_ids(st_mod.origin), as_ids(st_mod.entity), strict=True):
            r = change_recs.get(c)
            if r is None or not is_open(r) or c in of_project:
                continue
            cw = change_window(r)
            if cw is not None and cw.overlaps(window):
                clashing[c].append(st_list[o])
        tier1 = [
            w
            for w in blackout_ids
            if any(
                (hit := recs.get(i)) is not None
                and hit.kind is SVC
                and hit.attributes.get("tier") == 1
                for i in applies[w]
            )
        ]
        parts = []
        for c, ents_ in sorted(clashing.items()):
            parts.append(
                f"change {recs[c].key} (not part of this project) modifies "
                f"{', '.join(recs[e].key for e in ents_ if e in recs)} during the project"
            )
        for w in blackout_ids:
            parts.append(
                f"blackout {recs[w].key} covers "
                f"{labels(rec(sorted(set(applies[w]))))} during the project"
                + (" (a tier-1 service)" if w in tier1 else "")
            )
        if parts:
            checks.append(
                _check(
                    "conflicts",
                    CheckResult.FAIL if tier1 else CheckResult.WARN,
                    rec(
                        [
                            *clashing,
                            *(e for ents_ in clashing.values() for e in ents_),
                            *blackout_ids,
                            *(e for w in blackout_ids for e in applies[w]),
                        ]
                    ),
                    f"The project window {window.describe()} clashes: " + "; ".join(parts) + ".",
                )
            )
        else:
            checks.append(
                _check(
                    "conflicts",
                    CheckResult.PASS,
                    [],
                    f"No other change or blackout clashes with the project window "
                    f"{window.describe()}.",
                )
            )

    checks.append(
        _capacity_check(
            recs,
            targets_of,
            rec,
            await overbooked_teams(store, pid, as_of=as_of, now=as_of or now or datetime.now(UTC)),
        )
    )

    # 6. data quality
    poor: list[EntityRecord] = []
    why: list[str] = []
    for r in rec([*sorted(st), *consumers]):
        problems = []
        if is_stale(r):
            problems.append("stale (no source reports it any more)")
        lacking = missing_required(r)
        if lacking:
            problems.append(f"missing {', '.join(lacking)}")
        if problems:
            poor.append(r)
            why.append(f"{r.key} is {' and '.join(problems)}")
    if poor:
        checks.append(
            _check(
                "dataQuality",
                CheckResult.WARN,
                poor,
                "Some records may be out of date or incomplete: " + "; ".join(why[:10]) + ".",
            )
        )
    else:
        checks.append(
            _check(
                "dataQuality",
                CheckResult.PASS,
                [],
                "Sources, targets and consumers are current and complete.",
            )
        )

    results = [c.result for c in checks]
    worst = _worst(results)
    status = {
        CheckResult.FAIL: ReadinessStatus.BLOCKED,
        CheckResult.WARN: ReadinessStatus.AT_RISK,
        CheckResult.PASS: ReadinessStatus.READY,
    }[worst]
    score = sum(
        WEIGHTS[c.name] if c.result is CheckResult.PASS else WEIGHTS[c.name] // 2
        for c in checks
        if c.result is not CheckResult.FAIL
    )
    replacements = tuple(
        Replacement(recs[s], tuple(recs[t] for t in targets_of[s] if t in recs))
        for s in sources
        if s in recs
    )
    return Readiness(project, status, score, tuple(checks), replacements, _reason(status, checks))


def _reason(status: ReadinessStatus, checks: list[ReadinessCheck]) -> str:
    """Say why the status is what it is: the checks that fail, then those that warn."""
    failing = [c.name for c in checks if c.result is CheckResult.FAIL]
    warning = [c.name for c in checks if c.result is CheckResult.WARN]
    parts = []
    if failing:
        parts.append(f"{', '.join(failing)} {'fails' if len(failing) == 1 else 'fail'}")
    if warning:
        parts.append(f"{', '.join(warning)} {'warns' if len(warning) == 1 else 'warn'}")
    if status is ReadinessStatus.READY:
        return f"READY: all {len(checks)} checks pass."
    return f"{status.value}: " + "; ".join(parts) + "."


async def _not_applicable(
    store: GraphStore, project: EntityRecord, as_of: datetime | None
) -> Readiness:
    """Return the NOT_APPLICABLE answer of a project with no live source, saying which case.

    Reads the project's ``CONSOLIDATES`` relations whatever their status (one
    page of up to 1,000) and the entities they name, to tell a project that
    never named a source from one whose sources are all retired.
    """
    page = await store.relations(
        project.id,
        Direction.OUT,
        types=frozenset({RelationType.CONSOLIDATES}),
        first=1000,
        as_of=as_of,
    )
    named = await records(store, [r.to_id for r in page.items], as_of)
    head = f"{label(project)} CONSOLIDATES nothing, so it is not a consolidation"
    if named:
        reason = (
            f"{head} any more: its CONSOLIDATES relations, or the sources they name "
            f"({labels(sorted(named.values(), key=lambda r: (r.kind, r.key)))}), are all "
            "retired; the consolidation looks done or dropped. There is nothing left to "
            "move and no readiness to judge."
        )
    else:
        kind = project.attributes.get("projectType")
        reason = f"{head}: there is nothing to move and no readiness to judge."
        if isinstance(kind, str) and "consolidat" in kind.casefold():
            reason += (
                f" Its projectType is {kind!r}, though: if it does retire systems, add a "
                "CONSOLIDATES relation from the project to each source, and a REPLACED_BY "
                "from each source to its target."
            )
    return Readiness(project, ReadinessStatus.NOT_APPLICABLE, 0, (), (), reason)


async def consolidation_candidates(
    store: GraphStore, *, capability: str | None = None, first: int = 50
) -> tuple[CandidatePair, ...]:
    """Suggest pairs of live services that share a ``capability``, most shared consumers first.

    "Live": not retired, and ``lifecycle`` not ``planned``, ``retiring`` or
    ``retired`` (a service without a lifecycle counts as live). Consumers are
    entities that directly ``DEPENDS_ON`` or ``RUNS_ON`` the service. Ties are
    broken by capability, then keys. Pairs that share no consumer are listed
    after the others (they still share the capability). Reads the graph as it
    is now (the port's entity filter has no ``as_of``); scans every service
    unless ``capability`` narrows it.

    Args:
        store: The store.
        capability: Only this capability.
        first: How many pairs to return at most.
    """
    query = EntityQuery(
        kind=EntityKind.SERVICE,
        statuses=frozenset({Status.ACTIVE, Status.STALE}),
        attributes={"capability": capability} if capability is not None else {},
    )
    services: list[EntityRecord] = []
    cursor = None
    while True:
        page = await store.find_entities(query, first=1000, after=cursor)
        services.extend(page.items)
        cursor = page.end_cursor
        if not page.has_next:
            break
    groups: dict[str, list[EntityRecord]] = defaultdict(list)
    for s in services:
        cap = s.attributes.get("capability")
        if isinstance(cap, str) and s.attributes.get("lifecycle") not in NOT_LIVE:
            groups[cap].append(s)
    members = sorted({s.id for g in groups.values() if len(g) > 1 for s in g})
    nb = await store.neighbours(members, CONSUMERS)
    consumers: dict[int, set[int]] = defaultdict(set)
    for o, c in zip(as_ids(nb.origin), as_ids(nb.entity), strict=True):
        consumers[members[o]].add(c)
    ranked: list[tuple[int, str, str, str, EntityRecord, EntityRecord, list[int]]] = []
    for cap, group in groups.items():
        group.sort(key=lambda r: r.key)
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                shared = sorted(consumers[a.id] & consumers[b.id])
                ranked.append((-len(shared), cap, a.key, b.key, a, b, shared))
    ranked.sort(key=lambda x: x[:4])
    top = ranked[:first]
    recs = await records(store, {c for *_, shared in top for c in shared}, None)
    return tuple(
        CandidatePair(
            a,
            b,
            cap,
            tuple(sorted((recs[c] for c in shared if c in recs), key=lambda r: r.key)),
        )
        for _, cap, _, _, a, b, shared in top
    )


def _capacity_check(
    recs: dict[int, EntityRecord],
    targets_of: dict[int, list[int]],
    rec: Callable[[Iterable[int]], list[EntityRecord]],
    overbooked: Sequence[tuple[EntityRecord, list[datetime]]],
) -> ReadinessCheck:
    """The ``capacity`` check: targets' room for their sources, and the teams doing the work.

    FAIL when a target would carry more ``load`` than its ``capacity`` or a team
    doing the project's open tasks is OVERBOOKED in a week those tasks span
    (PRODUCT.md 7); WARN when a target's figures are missing.
    """
    replaced_by: dict[int, list[int]] = defaultdict(list)
    for s, ts in targets_of.items():
        for t in ts:
            replaced_by[t].append(s)
    over: list[tuple[int, float, float]] = []
    unknown: list[int] = []
    for t, ss in sorted(replaced_by.items()):
        r = recs.get(t)
        if r is None:
            continue
        cap = number(r.attributes.get("capacity"))
        loads = [number(recs[i].attributes.get("load")) if i in recs else None for i in [t, *ss]]
        if cap is None or any(v is None for v in loads):
            unknown.append(t)
            continue
        total = sum(v for v in loads if v is not None)
        if total > cap:
            over.append((t, total, cap))
    if over or overbooked:
        parts = [
            f"{recs[t].key} would carry {total:g} but can take {cap:g}" for t, total, cap in over
        ]
        parts += [
            f"team {team.key}, which does open tasks of this project, is OVERBOOKED in the "
            + ", ".join(f"week of {w.date().isoformat()}" for w in weeks[:3])
            + (f" and {len(weeks) - 3} more" if len(weeks) > 3 else "")
            for team, weeks in overbooked
        ]
        return _check(
            "capacity",
            CheckResult.FAIL,
            [*rec([t for t, _, _ in over]), *(team for team, _ in overbooked)],
            "Not enough room: " + "; ".join(parts) + ".",
        )
    if unknown:
        return _check(
            "capacity",
            CheckResult.WARN,
            rec(unknown),
            "Capacity cannot be checked: capacity or load figures are missing for "
            f"{labels(rec(unknown))} or the sources they replace.",
        )
    return _check(
        "capacity",
        CheckResult.PASS,
        [],
        "Every target has room for its own load plus the load of its sources, and no team "
        "doing the project's open tasks is overbooked.",
    )
