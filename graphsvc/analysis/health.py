"""CMDB health (PRODUCT.md 9): how trustworthy the graph itself is.

:func:`health` answers one score from 0 to 100 and the checks behind it. Each
check is one :class:`HealthCheck` registered in :data:`CHECKS` (its name, what
its figure is, its WARN and FAIL bounds, its weight in the score and the
function that evaluates it); the report lists, per check, the figure, the
bounds, ``PASS``/``WARN``/``FAIL``, how many entities fail it and the ids of
those entities, whose records are read one page at a time
(:func:`health_entities`), never all at once.

**Live.** A *live service* is a ``Service`` that is not retired and whose
``lifecycle`` is not ``planned``, ``retiring`` or ``retired`` (a service
without a lifecycle counts as live, as in ``consolidationCandidates``). A
*live CI* is a ``ConfigurationItem`` that is not retired.

**The checks** (figure; WARN when the figure is above the first bound, FAIL
above the second; weight):

* ``serviceCompleteness``: % of live services lacking ``tier``, an owner, a
  support team or ``capability`` (owner and support direct or inherited
  through ``PART_OF``, PRODUCT.md 4.3). WARN > 5, FAIL > 20, weight 3.
* ``ciCompleteness``: % of live CIs lacking ``ciClass``, ``environment`` or an
  owner (direct or inherited). WARN > 5, FAIL > 20, weight 2.
* ``orphans``: % of services and CIs, not retired, with no owner (PRODUCT.md
  4.3 ``orphans``). WARN > 0, FAIL > 2, weight 2.
* ``ghostOwners``: teams that own something live but have no members or are
  not active (a count; population: the teams that own something). WARN > 0,
  FAIL > 3, weight 1.
* ``identityConflicts``: open identity conflicts (a count: recorded, neither
  dismissed nor resolved by a merge; failing entities: both sides of each;
  population: entities not retired). WARN > 0, FAIL > 10, weight 1.
* ``staleShare``: the largest share (%) of stale entities among the entities
  one ``(source, scope)`` asserts or asserted (retired ones left out); every
  scope is listed with its own share and result; population: the asserted
  entities, failing: the stale ones. WARN > 10, FAIL > 25, weight 2.
* ``staleDependencies``: % of live services with a ``DEPENDS_ON`` or
  ``RUNS_ON`` relation (not retired) to a stale or retired entity. WARN > 0,
  FAIL > 5, weight 2.
* ``dependencyCycles``: services and CIs in a dependency cycle, over the
  impact-carrying relations (a count; the strongly connected groups of
  :func:`graphsvc.analysis.cycles.dependency_cycles`, found over the whole
  graph by the same kernel; population: services and CIs not retired).
  WARN > 0, FAIL > 10, weight 1. The groups, each with one cycle as a path,
  are ``dependencyCycles`` in the API.
* ``singlePointsOfFailure``: % of live tier-1 and tier-2 services with at
  least one single point of failure (an entity whose failure alone makes the
  service DOWN, :func:`graphsvc.analysis.spof.single_points_of_failure`).
  WARN > 0, FAIL > 25, weight 2. A service with a direct dependency outside
  any redundancy group (or in a group of one) has one: that dependency. The
  others with dependencies are decided exactly, together, on one walk of their
  dependency closures (:func:`graphsvc.analysis.spof.have_single_points`),
  when that closure holds at most :data:`SPOF_BATCH_LIMIT` entities; above
  it they are counted as ``undecided``, left out of the population.
  Which entities they are, with paths, is ``singlePointsOfFailure(id)`` in the
  API.

**The score**::

    score = round(100 * sum(w_c * (1 - failing_c / population_c)) / sum(w_c))

over the evaluated checks ``c``: the weighted share of the items each check
examines that pass it (``population_c`` is the number of items examined,
``failing_c`` those that fail; a check that examines nothing counts as fully
passing). It is 100 for a graph where nothing fails, and does not depend on the
thresholds (they decide PASS/WARN/FAIL only).

**Per source**: for each source, over the entities one of its scopes asserts
or asserted and that are not retired: ``items``, ``stale``, ``conflicts``
(open identity conflicts recorded from its batches) and ``missing_required``
(services lacking ``tier`` or ``capability``, CIs lacking ``ciClass`` or
``environment``, any kind lacking an attribute the vocabulary requires).

**asOf.** Every figure is of the graph as it was at ``as_of`` (entities,
statuses, attributes, relations, conflicts recorded by then and not closed by then). One exception:
which source and scope assert an entity is bookkeeping the stores keep without
history, so ``staleShare`` and the per-source figures group the entities as of
then by the sources that assert them *now*.

**Cost.** Whole-graph passes are column-wise: the port's ``entity_columns``,
``relation_columns``, ``entity_assertions``, ``attribute_column`` and batched
``neighbours`` (ownership inheritance through :func:`~graphsvc.analysis._common.inherit`),
then numpy; no entity record is read except for the page of entities asked.

**The 30-day trend** (:func:`score_trend`): the score at ``as_of`` and at
the 29 UTC midnights before it. A point at a midnight in the past never changes
(the history is append-only, and every later commit is after it), so each is
computed once, by the same evaluation without entity lists or per-source
figures, and kept in a per-store cache (:class:`ScoreCache`); a report on a
warm cache computes one score (its own), a report the next day one more.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from graphsvc.analysis._common import (
    MEMBERS,
    OWNED_BY,
    SUPPORTED_BY,
    inherit,
)
from graphsvc.analysis.cycles import cyclic_groups
from graphsvc.analysis.ownership import OWNS_OUT
from graphsvc.analysis.readiness import NOT_LIVE, CheckResult
from graphsvc.analysis.spof import have_single_points
from graphsvc.collector import collector_paused
from graphsvc.deadline import check_deadline
from graphsvc.errors import InvalidInput
from graphsvc.model.records import ConflictState, EntityRecord, to_micros
from graphsvc.model.vocabulary import VOCABULARY, EntityKind, RelationType, Status
from graphsvc.store.base import EntityColumns, GraphStore, TraversalSpec

__all__ = [
    "CHECKS",
    "CHECK_NAMES",
    "CheckUnit",
    "HealthCheck",
    "HealthCheckResult",
    "HealthEntity",
    "HealthEntityPage",
    "HealthReport",
    "KnownTrend",
    "ScoreCache",
    "ScorePoint",
    "SourceHealth",
    "StaleScope",
    "health",
    "health_entities",
    "health_score",
    "known_trend",
    "score_trend",
    "trend_midnights",
]

I64 = NDArray[np.int64]
_ACTIVE, _STALE, _RETIRED = Status.ACTIVE.code, Status.STALE.code, Status.RETIRED.code
_SVC = VOCABULARY.kind_code(EntityKind.SERVICE)
_CI = VOCABULARY.kind_code(EntityKind.CONFIGURATION_ITEM)
_TEAM = VOCABULARY.kind_code(EntityKind.TEAM)
DEPENDENCY_TYPES = frozenset({RelationType.DEPENDS_ON, RelationType.RUNS_ON})
CONFLICT_PAGE = 10_000
TREND_DAYS = 30


class CheckUnit(StrEnum):
    """What a check's figure counts."""

    __hash__ = str.__hash__

    PERCENT = "percent"
    COUNT = "count"


# --------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class StaleScope:
    """The stale share of one ``(source, scope)``.

    Attributes:
        source: The source.
        scope: The scope.
        items: Entities (not retired) it asserts or asserted.
        stale: Those that are stale.
        share: ``stale / items`` in percent (0 when it has no items).
        result: PASS/WARN/FAIL by the ``staleShare`` bounds.
    """

    source: str
    scope: str
    items: int
    stale: int
    share: float
    result: CheckResult


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """Figures of one source over the entities its scopes assert or asserted (not retired).

    Attributes:
        source: The source.
        items: Its entities.
        stale: Those that are stale.
        conflicts: Open identity conflicts recorded from its batches.
        missing_required: Its entities lacking a required attribute (see the module).
        problem_share: Percent of its entities stale or lacking a required attribute.
    """

    source: str
    items: int
    stale: int
    conflicts: int
    missing_required: int
    problem_share: float


@dataclass(frozen=True, slots=True, eq=False)
class HealthCheckResult:
    """One evaluated check.

    Attributes:
        name: The check's name (serviceCompleteness, ciCompleteness, orphans, ghostOwners,
            identityConflicts, staleShare, staleDependencies).
        title: A short title.
        description: What the figure is.
        unit: Percent or count.
        figure: The figure.
        warn_above: WARN when the figure is above this.
        fail_above: FAIL when the figure is above this.
        weight: Its weight in the score.
        result: PASS, WARN or FAIL.
        population: Items the check examined.
        failing: Items that fail it (the score uses ``failing / population``).
        entity_count: Entities listed for it (read them a page at a time).
        undecided: Items the check left out of ``population`` because deciding
            them would cost more than its bound (only ``singlePointsOfFailure``:
            see :data:`SPOF_BATCH_LIMIT`); ``0`` otherwise.
        scopes: For ``staleShare``: every ``(source, scope)``, worst first.
        entity_ids: The listed entities' ids, ascending (not serialised).
        reason_bits: Per listed entity, a bit mask over ``reason_texts`` (not serialised).
        reason_texts: What each bit of ``reason_bits`` means (not serialised).
        as_of: The moment of the report (not serialised): entity pages are read as of then.
    """

    name: str
    title: str
    description: str
    unit: CheckUnit
    figure: float
    warn_above: float
    fail_above: float
    weight: int
    result: CheckResult
    population: int
    failing: int
    entity_count: int
    undecided: int = 0
    scopes: tuple[StaleScope, ...] = ()
    entity_ids: Annotated[tuple[int, ...], Field(exclude=True)] = field(default=(), repr=False)
    reason_bits: Annotated[tuple[int, ...], Field(exclude=True)] = field(default=(), repr=False)
    reason_texts: Annotated[tuple[str, ...], Field(exclude=True)] = field(default=(), repr=False)
    as_of: Annotated[datetime | None, Field(exclude=True)] = field(default=None, repr=False)

    @property
    def passing_share(self) -> float:
        """The share (0-1) of examined items that pass (1 when none were examined)."""
        return 1.0 if self.population <= 0 else 1.0 - self.failing / self.population


@dataclass(frozen=True, slots=True)
class ScorePoint:
    """The score at one moment (``None``: the graph held no entity then)."""

    at: datetime
    score: int | None


@dataclass(frozen=True, slots=True, eq=False)
class HealthReport:
    """How trustworthy the graph is (PRODUCT.md 9): the score and the checks behind it.

    Attributes:
        as_of: The moment described (``None``: now).
        generated: When the answer was computed.
        score: 0-100: the weighted share of examined items passing each check (see the
            README, "CMDB health").
        result: The worst check result.
        checks: The evaluated checks, in a fixed order.
        sources: Per source, the most problems first.
        trend: Filled by :func:`score_trend` (the last 30 days, oldest first).
    """

    as_of: datetime | None
    generated: datetime
    score: int
    result: CheckResult
    checks: tuple[HealthCheckResult, ...]
    sources: tuple[SourceHealth, ...]
    trend: tuple[ScorePoint, ...] = ()

    def check(self, name: str) -> HealthCheckResult:
        """Return the check called ``name``.

        Raises:
            InvalidInput: when no evaluated check has that name.
        """
        for c in self.checks:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.checks)
        msg = f"unknown health check {name!r} (checks: {known})"
        raise InvalidInput(msg)


@dataclass(frozen=True, slots=True)
class HealthEntity:
    """One entity failing a check, with why."""

    entity: EntityRecord
    reason: str


@dataclass(frozen=True, slots=True)
class HealthEntityPage:
    """A page of the entities failing one check, by id; ``end_cursor`` is the last id."""

    items: tuple[HealthEntity, ...]
    total: int
    has_next: bool
    end_cursor: int | None


# ------------------------------------------------------------------ the facts


@dataclass(slots=True, eq=False)
class _Facts:
    """Column-wise facts of the graph at one moment, shared by every check."""

    entities: EntityColumns
    live_services: I64
    live_cis: I64
    service_missing: NDArray[np.int64]  # bits per live service
    ci_missing: NDArray[np.int64]  # bits per live CI
    svc_ci: I64  # services and CIs not retired
    svc_ci_owned: NDArray[np.bool_]
    attr_missing_ids: I64  # not-retired svc/CI lacking a required attribute
    teams_owning: I64
    ghost_ids: I64
    ghost_bits: I64
    conflicts: list[tuple[int, int, str, str]]  # (entity, holder, id type, source)
    dependents: I64  # live services depending on stale/retired
    dependent_bits: I64


@dataclass(frozen=True, slots=True)
class _Evaluated:
    figure: float
    population: int
    failing: int
    ids: I64
    bits: I64
    texts: tuple[str, ...]
    scopes: tuple[StaleScope, ...] = ()
    undecided: int = 0


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """One registered check (see the table in the module docstring).

    Attributes:
        name: Its name (GraphQL, REST, metrics label).
        title: A short title.
        description: What its figure is.
        unit: Percent or count.
        warn_above: WARN above this figure.
        fail_above: FAIL above this figure.
        weight: Weight in the score.
        evaluate: Computes figure, population, failing and entities from the
            facts.
    """

    name: str
    title: str
    description: str
    unit: CheckUnit
    warn_above: float
    fail_above: float
    weight: int
    evaluate: Callable[[_Facts, _Extra], Awaitable[_Evaluated]]

    def judge(self, figure: float) -> CheckResult:
        """Return PASS, WARN or FAIL for a figure."""
        if figure > self.fail_above:
            return CheckResult.FAIL
        if figure > self.warn_above:
            return CheckResult.WARN
        return CheckResult.PASS


@dataclass(frozen=True, slots=True)
class _Extra:
    """What a check may read beyond the facts (``staleShare`` reads the assertions)."""

    store: GraphStore
    as_of: datetime | None


def _percent(failing: int, population: int) -> float:
    return 0.0 if population <= 0 else round(100.0 * failing / population, 2)


def _bits(
    ids: I64, bits: I64, texts: tuple[str, ...], figure: float, population: int
) -> _Evaluated:
    return _Evaluated(figure, population, int(ids.shape[0]), ids, bits, texts)


async def _service_completeness(f: _Facts, _extra: _Extra) -> _Evaluated:
    bad = f.service_missing != 0
    n = int(f.live_services.shape[0])
    return _bits(
        f.live_services[bad],
        f.service_missing[bad],
        ("no tier", "no owner", "no support team", "no capability"),
        _percent(int(bad.sum()), n),
        n,
    )


async def _ci_completeness(f: _Facts, _extra: _Extra) -> _Evaluated:
    bad = f.ci_missing != 0
    n = int(f.live_cis.shape[0])
    return _bits(
        f.live_cis[bad],
        f.ci_missing[bad],
        ("no ciClass", "no environment", "no owner"),
        _percent(int(bad.sum()), n),
        n,
    )


async def _orphans(f: _Facts, _extra: _Extra) -> _Evaluated:
    ids = f.svc_ci[~f.svc_ci_owned]
    n = int(f.svc_ci.shape[0])
    return _bits(
        ids,
        np.ones(ids.shape[0], dtype=np.int64),
        ("no owner, direct or inherited",),
        _percent(int(ids.shape[0]), n),
        n,
    )


async def _ghost_owners(f: _Facts, _extra: _Extra) -> _Evaluated:
    return _bits(
        f.ghost_ids,
        f.ghost_bits,
        ("owns entities but has no members", "owns entities but is not active"),
        float(f.ghost_ids.shape[0]),
        int(f.teams_owning.shape[0]),
    )


async def _identity_conflicts(f: _Facts, _extra: _Extra) -> _Evaluated:
    alive = f.entities.ids[f.entities.statuses != _RETIRED]
    types = sorted({t for _, _, t, _ in f.conflicts})[:62]
    bit_of = {t: 1 << i for i, t in enumerate(types)}
    by_entity: dict[int, int] = {}
    for entity, holder, id_type, _ in f.conflicts:
        for e in (entity, holder):
            by_entity[e] = by_entity.get(e, 0) | bit_of.get(id_type, 0)
    ids = np.asarray(sorted(by_entity), dtype=np.int64)
    ids = ids[np.isin(ids, alive)]
    bits = np.asarray([by_entity[int(i)] for i in ids.tolist()], dtype=np.int64)
    texts = tuple(f"identity conflict on {t}" for t in types)
    return _Evaluated(
        float(len(f.conflicts)), int(alive.shape[0]), int(ids.shape[0]), ids, bits, texts
    )


async def _stale_dependencies(f: _Facts, _extra: _Extra) -> _Evaluated:
    n = int(f.live_services.shape[0])
    return _bits(
        f.dependents,
        f.dependent_bits,
        ("depends on a stale entity", "depends on a retired entity"),
        _percent(int(f.dependents.shape[0]), n),
        n,
    )


async def _stale_share(f: _Facts, extra: _Extra) -> _Evaluated:
    cols = f.entities
    asserted = await extra.store.entity_assertions()
    pos = np.searchsorted(cols.ids, asserted.entity)
    pos = np.minimum(pos, max(cols.ids.shape[0] - 1, 0))
    found = (cols.ids[pos] == asserted.entity) if cols.ids.shape[0] else np.zeros(0, dtype=np.bool_)
    status = np.where(found, cols.statuses[pos] if cols.ids.shape[0] else 0, _RETIRED)
    keep = status != _RETIRED
    who, ent, st = asserted.assertor[keep], asserted.entity[keep], status[keep]
    n_assertors = len(asserted.assertors)
    items = np.bincount(who, minlength=n_assertors)
    stale = np.bincount(who, weights=(st == _STALE), minlength=n_assertors).astype(np.int64)
    check = _CHECK_BY_NAME["staleShare"]
    scopes = []
    for i, (source, scope) in enumerate(asserted.assertors):
        if items[i] == 0:
            continue
        share = _percent(int(stale[i]), int(items[i]))
        scopes.append(
            StaleScope(source, scope, int(items[i]), int(stale[i]), share, check.judge(share))
        )
    scopes.sort(key=lambda s: (-s.share, -s.stale, s.source, s.scope))
    distinct, first = np.unique(ent, return_index=True)
    stale_ids = distinct[st[first] == _STALE]
    figure = scopes[0].share if scopes else 0.0
    return _Evaluated(
        figure,
        int(distinct.shape[0]),
        int(stale_ids.shape[0]),
        stale_ids,
        np.ones(stale_ids.shape[0], dtype=np.int64),
        ("stale: no source asserts it any more",),
        tuple(scopes),
    )


async def _dependency_cycles(f: _Facts, extra: _Extra) -> _Evaluated:
    edges = await extra.store.step_edges(VOCABULARY.impact_steps, as_of=extra.as_of)
    check_deadline()
    groups = cyclic_groups(edges)
    ids = np.asarray(sorted({i for members in groups.members for i in members}), dtype=np.int64)
    ids = ids[np.isin(ids, f.svc_ci)]
    return _bits(
        ids,
        np.ones(ids.shape[0], dtype=np.int64),
        ("in a dependency cycle: it needs, through others, what needs it",),
        float(ids.shape[0]),
        int(f.svc_ci.shape[0]),
    )


CRITICAL_TIERS = frozenset({1, 2})
"""The service tiers whose single points of failure the health check counts."""

SPOF_BATCH_LIMIT = 50_000
"""Largest joint dependency closure (entities) of the services whose direct
dependencies are all redundant that the health check decides.

Those services are decided together by :func:`~graphsvc.analysis.spof.have_single_points`,
whose cost grows with that closure times its redundancy groups (at 1,000,000
entities: 1,446 such services, a 129,135-entity closure, 6,290 groups, about
two minutes). Above the limit they are left undecided: counted in the check's
``undecided``, out of its population and figure; ``singlePointsOfFailure(id)``
still answers each of them exactly."""


async def _single_points(f: _Facts, extra: _Extra) -> _Evaluated:
    store, as_of = extra.store, extra.as_of
    tiers = await store.attribute_column(f.live_services, "tier", as_of=as_of)
    critical_code = np.asarray(
        [isinstance(v, int) and v in CRITICAL_TIERS for v in tiers.values] + [False],
        dtype=np.bool_,
    )
    services = f.live_services[critical_code[tiers.codes]]
    if services.shape[0] == 0:
        return _bits(services, services, (), 0.0, 0)
    # one depth-1 walk from every such service: its direct dependencies, with groups
    direct = await store.traverse(
        TraversalSpec(
            services.tolist(),
            VOCABULARY.dependency_steps,
            1,
            as_of,
            include_stale=True,
            collect_edges=True,
        )
    )
    check_deadline()
    e = direct.edges
    assert e is not None
    source, target = direct.entities[e.source], direct.entities[e.target]
    leaves = (direct.depth[e.source] == 0) & (source != target)
    alone = (e.group < 0) | (e.group_size <= 1)  # no redundancy: that dependency alone
    hard = np.unique(source[leaves & alone])
    grouped_only = np.setdiff1d(np.unique(source[leaves]), hard)
    deeper = np.zeros(0, dtype=np.int64)
    undecided = 0
    if grouped_only.shape[0]:
        # one walk of their dependency closures together (they share most of it)
        walk = await store.traverse(
            TraversalSpec(
                grouped_only.tolist(),
                VOCABULARY.dependency_steps,
                None,
                as_of,
                include_stale=True,
                collect_edges=True,
            )
        )
        check_deadline()
        if len(walk) <= SPOF_BATCH_LIMIT:
            position = np.argsort(walk.entities, kind="stable")
            starts = position[np.searchsorted(walk.entities[position], grouped_only)]
            found = np.asarray(have_single_points(walk, starts.tolist()), dtype=np.bool_)
            deeper = grouped_only[found]
        else:
            undecided = int(grouped_only.shape[0])
    ids = np.union1d(hard, deeper)
    bits = np.where(np.isin(ids, hard), 1, 2).astype(np.int64)
    decided = int(services.shape[0]) - undecided
    return _Evaluated(
        _percent(int(ids.shape[0]), decided),
        decided,
        int(ids.shape[0]),
        ids,
        bits,
        (
            "a dependency without redundancy takes it down alone",
            "one entity takes down every member of one of its redundancy groups",
        ),
        undecided=undecided,
    )


CHECKS: tuple[HealthCheck, ...] = (
    HealthCheck(
        "serviceCompleteness",
        "Service completeness",
        "Live services lacking tier, an owner, a support team or capability (%)",
        CheckUnit.PERCENT,
        5,
        20,
        3,
        _service_completeness,
    ),
    HealthCheck(
        "ciCompleteness",
        "CI completeness",
        "Live configuration items lacking ciClass, environment or an owner (%)",
        CheckUnit.PERCENT,
        5,
        20,
        2,
        _ci_completeness,
    ),
    HealthCheck(
        "orphans",
        "Orphans",
        "Services and configuration items, not retired, without any owner (%)",
        CheckUnit.PERCENT,
        0,
        2,
        2,
        _orphans,
    ),
    HealthCheck(
        "ghostOwners",
        "Ghost owners",
        "Teams owning something but without members or not active (count)",
        CheckUnit.COUNT,
        0,
        3,
        1,
        _ghost_owners,
    ),
    HealthCheck(
        "identityConflicts",
        "Identity conflicts",
        "Open identity conflicts recorded by ingest, not dismissed or resolved (count)",
        CheckUnit.COUNT,
        0,
        10,
        1,
        _identity_conflicts,
    ),
    HealthCheck(
        "staleShare",
        "Stale share per source and scope",
        "Largest share of stale entities among those one source and scope asserts (%)",
        CheckUnit.PERCENT,
        10,
        25,
        2,
        _stale_share,
    ),
    HealthCheck(
        "staleDependencies",
        "Dependencies on stale or retired entities",
        "Live services depending on a stale or retired entity (%)",
        CheckUnit.PERCENT,
        0,
        5,
        2,
        _stale_dependencies,
    ),
    HealthCheck(
        "dependencyCycles",
        "Dependency cycles",
        "Services and configuration items in a dependency cycle (count)",
        CheckUnit.COUNT,
        0,
        10,
        1,
        _dependency_cycles,
    ),
    HealthCheck(
        "singlePointsOfFailure",
        "Single points of failure of tier-1 and tier-2 services",
        "Live tier-1 and tier-2 services with at least one single point of failure (%)",
        CheckUnit.PERCENT,
        0,
        25,
        2,
        _single_points,
    ),
)
_CHECK_BY_NAME = {c.name: c for c in CHECKS}
CHECK_NAMES: tuple[str, ...] = tuple(c.name for c in CHECKS)
"""The names of the checks: the only label values of the metrics."""


# ------------------------------------------------------------------- the pass


def _missing(column_codes: NDArray[np.int32]) -> NDArray[np.bool_]:
    out: NDArray[np.bool_] = column_codes < 0
    return out


async def _has_team(
    store: GraphStore, ids: I64, steps: Sequence[object], as_of: datetime | None
) -> NDArray[np.bool_]:
    """Whether each entity has a team through ``steps`` (OWNS/SUPPORTS), direct or inherited."""
    out = np.zeros(ids.shape[0], dtype=np.bool_)
    if ids.shape[0] == 0:
        return out
    direct = await store.neighbours(ids, steps, as_of=as_of)  # type: ignore[arg-type]
    out[direct.origin] = True
    rest = np.flatnonzero(~out)
    if rest.shape[0]:
        inh = await inherit(store, ids[rest], steps, as_of)  # type: ignore[arg-type]
        out[rest[inh.origin]] = True
    return out


async def _facts(store: GraphStore, as_of: datetime | None) -> _Facts:
    cols = await store.entity_columns(as_of=as_of)
    alive = cols.statuses != _RETIRED
    svc_all = cols.ids[(cols.kinds == _SVC) & alive]
    lifecycle = await store.attribute_column(svc_all, "lifecycle", as_of=as_of)
    not_live = np.asarray([v in NOT_LIVE for v in lifecycle.values] + [False], dtype=np.bool_)
    live_svc = svc_all[~not_live[lifecycle.codes]]
    cis = cols.ids[(cols.kinds == _CI) & alive]
    svc_ci = np.concatenate([svc_all, cis])
    order = np.argsort(svc_ci, kind="stable")
    svc_ci = svc_ci[order]
    owned = await _has_team(store, svc_ci, OWNED_BY, as_of)

    def owned_of(ids: I64) -> NDArray[np.bool_]:
        return owned[np.searchsorted(svc_ci, ids)]

    # services: tier, owner, support, capability (bits 1, 2, 4, 8)
    tier = _missing((await store.attribute_column(svc_all, "tier", as_of=as_of)).codes)
    capability = _missing((await store.attribute_column(svc_all, "capability", as_of=as_of)).codes)
    live_pos = np.searchsorted(svc_all, live_svc)
    supported = await _has_team(store, live_svc, SUPPORTED_BY, as_of)
    service_missing = (
        tier[live_pos].astype(np.int64)
        | (~owned_of(live_svc)).astype(np.int64) << 1
        | (~supported).astype(np.int64) << 2
        | capability[live_pos].astype(np.int64) << 3
    )
    # CIs: ciClass, environment, owner (bits 1, 2, 4)
    ci_class = _missing((await store.attribute_column(cis, "ciClass", as_of=as_of)).codes)
    environment = _missing((await store.attribute_column(cis, "environment", as_of=as_of)).codes)
    ci_missing = (
        ci_class.astype(np.int64)
        | environment.astype(np.int64) << 1
        | (~owned_of(cis)).astype(np.int64) << 2
    )
    attr_missing_ids = np.union1d(svc_all[tier | capability], cis[ci_class | environment])

    # ghost owners: teams not retired that own something live
    teams = cols.ids[(cols.kinds == _TEAM) & alive]
    team_status = cols.statuses[(cols.kinds == _TEAM) & alive]
    owns = await store.neighbours(teams, OWNS_OUT, as_of=as_of)
    members = await store.neighbours(teams, MEMBERS, as_of=as_of)
    owning = np.bincount(owns.origin, minlength=teams.shape[0]) > 0
    has_members = np.bincount(members.origin, minlength=teams.shape[0]) > 0
    inactive = team_status != _ACTIVE
    ghost = owning & (~has_members | inactive)
    ghost_bits = (~has_members).astype(np.int64) | inactive.astype(np.int64) << 1

    # identity conflicts open then: recorded by then, not dismissed or resolved by then
    conflicts: list[tuple[int, int, str, str]] = []
    cursor: int | None = None
    wanted = ConflictState.OPEN if as_of is None else None
    while True:
        check_deadline()
        page = await store.identity_conflicts(first=CONFLICT_PAGE, after=cursor, state=wanted)
        for c in page.items:
            if as_of is None or c.open_at(as_of):
                conflicts.append((c.entity_id, c.holder_id, c.id_type, c.source))
        if not page.has_next or page.end_cursor is None:
            break
        cursor = page.end_cursor

    # live services depending on stale or retired entities
    deps = await store.relation_columns(DEPENDENCY_TYPES, as_of=as_of)
    walked = deps.statuses != _RETIRED
    src, dst = deps.from_ids[walked], deps.to_ids[walked]
    from_live = np.isin(src, live_svc)
    src, dst = src[from_live], dst[from_live]
    dst_pos = np.minimum(np.searchsorted(cols.ids, dst), max(cols.ids.shape[0] - 1, 0))
    dst_known = cols.ids[dst_pos] == dst if cols.ids.shape[0] else np.zeros(0, dtype=np.bool_)
    dst_status = np.where(dst_known, cols.statuses[dst_pos] if cols.ids.shape[0] else 0, -1)
    bad = (dst_status == _STALE) | (dst_status == _RETIRED)
    bits_per_row = np.where(dst_status == _STALE, 1, 2)[bad].astype(np.int64)
    bad_src = src[bad]
    dependents, inverse = np.unique(bad_src, return_inverse=True)
    dependent_bits = np.zeros(dependents.shape[0], dtype=np.int64)
    np.bitwise_or.at(dependent_bits, inverse.reshape(-1), bits_per_row)
    return _Facts(
        entities=cols,
        live_services=live_svc,
        live_cis=cis,
        service_missing=service_missing,
        ci_missing=ci_missing,
        svc_ci=svc_ci,
        svc_ci_owned=owned,
        attr_missing_ids=attr_missing_ids,
        teams_owning=teams[owning],
        ghost_ids=teams[ghost],
        ghost_bits=ghost_bits[ghost],
        conflicts=conflicts,
        dependents=dependents.astype(np.int64),
        dependent_bits=dependent_bits,
    )


def _score(checks: Sequence[tuple[HealthCheck, _Evaluated]]) -> int:
    weights = sum(c.weight for c, _ in checks)
    if weights == 0:
        return 100
    total = sum(
        c.weight * (1.0 if e.population <= 0 else 1.0 - e.failing / e.population) for c, e in checks
    )
    return round(100 * total / weights)


def _worst(results: Sequence[CheckResult]) -> CheckResult:
    if CheckResult.FAIL in results:
        return CheckResult.FAIL
    if CheckResult.WARN in results:
        return CheckResult.WARN
    return CheckResult.PASS


async def _evaluate(
    store: GraphStore, as_of: datetime | None
) -> tuple[_Facts, list[tuple[HealthCheck, _Evaluated]]]:
    facts = await _facts(store, as_of)
    extra = _Extra(store, as_of)
    out = []
    for check in CHECKS:
        check_deadline()
        out.append((check, await check.evaluate(facts, extra)))
    return facts, out


async def _per_source(store: GraphStore, facts: _Facts) -> tuple[SourceHealth, ...]:
    cols = facts.entities
    asserted = await store.entity_assertions()
    if cols.ids.shape[0] == 0:
        return ()
    pos = np.minimum(np.searchsorted(cols.ids, asserted.entity), cols.ids.shape[0] - 1)
    found = cols.ids[pos] == asserted.entity
    status = np.where(found, cols.statuses[pos], _RETIRED)
    keep = status != _RETIRED
    names = sorted({source for source, _ in asserted.assertors})
    source_code = np.asarray(
        [names.index(source) for source, _ in asserted.assertors] + [0], dtype=np.int64
    )
    src = source_code[asserted.assertor[keep]]
    ent, st = asserted.entity[keep], status[keep]
    pairs = np.unique(src * (1 << 32) + ent)
    src, ent = pairs >> 32, pairs & ((1 << 32) - 1)
    st = cols.statuses[np.searchsorted(cols.ids, ent)]
    missing = np.isin(ent, facts.attr_missing_ids)
    stale = st == _STALE
    n = len(names)
    items = np.bincount(src, minlength=n)
    n_stale = np.bincount(src, weights=stale, minlength=n).astype(np.int64)
    n_missing = np.bincount(src, weights=missing, minlength=n).astype(np.int64)
    n_problem = np.bincount(src, weights=stale | missing, minlength=n).astype(np.int64)
    conflicts: dict[str, int] = {}
    for _, _, _, source in facts.conflicts:
        conflicts[source] = conflicts.get(source, 0) + 1
    out = [
        SourceHealth(
            name,
            int(items[i]),
            int(n_stale[i]),
            conflicts.get(name, 0),
            int(n_missing[i]),
            _percent(int(n_problem[i]), int(items[i])),
        )
        for i, name in enumerate(names)
        if items[i] or conflicts.get(name)
    ]
    for name, count in conflicts.items():
        if name not in names:
            out.append(SourceHealth(name, 0, 0, count, 0, 0.0))
    out.sort(
        key=lambda s: (-s.problem_share, -(s.stale + s.missing_required + s.conflicts), s.source)
    )
    return tuple(out)


@collector_paused  # the facts of a large graph: millions of live objects
async def health(
    store: GraphStore,
    *,
    as_of: datetime | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> HealthReport:
    """Return the health of the graph (PRODUCT.md 9), as of ``as_of`` (``None``: now).

    The checks, their figures, bounds and weights and the score formula are in
    the module docstring. The answer holds the ids of the entities failing
    each check, not their records: read those a page at a time with
    :func:`health_entities`. ``trend`` is left empty (:func:`score_trend`).

    Args:
        store: The store.
        as_of: Describe the graph as it was then.
        now: The clock (``generated``).
    """
    facts, evaluated = await _evaluate(store, as_of)
    checks = tuple(
        HealthCheckResult(
            name=c.name,
            title=c.title,
            description=c.description,
            unit=c.unit,
            figure=e.figure,
            warn_above=c.warn_above,
            fail_above=c.fail_above,
            weight=c.weight,
            result=c.judge(e.figure),
            population=e.population,
            failing=e.failing,
            entity_count=int(e.ids.shape[0]),
            undecided=e.undecided,
            scopes=e.scopes,
            entity_ids=tuple(e.ids.tolist()),
            reason_bits=tuple(e.bits.tolist()),
            reason_texts=e.texts,
            as_of=as_of,
        )
        for c, e in evaluated
    )
    return HealthReport(
        as_of=as_of,
        generated=now(),
        score=_score(evaluated),
        result=_worst([c.result for c in checks]),
        checks=checks,
        sources=await _per_source(store, facts),
    )


@collector_paused  # the facts of a large graph: millions of live objects
async def health_score(store: GraphStore, *, as_of: datetime | None = None) -> int | None:
    """Return only the score at ``as_of`` (``None`` when the graph held no entity then).

    The same evaluation as :func:`health` without per-source figures or entity lists.
    """
    facts, evaluated = await _evaluate(store, as_of)
    if len(facts.entities) == 0:
        return None
    return _score(evaluated)


@collector_paused  # the facts of a large graph: millions of live objects
async def health_entities(
    store: GraphStore,
    check: HealthCheckResult,
    *,
    first: int,
    after: int | None = None,
) -> HealthEntityPage:
    """Return one page of the entities failing one check of a report, by id.

    The records are read for this page only, as of the report's ``as_of``
    (find the check with :meth:`HealthReport.check`).

    Args:
        store: The store the report was computed from.
        check: The check.
        first: Page size (0 or more).
        after: The ``end_cursor`` of the previous page (an entity id).

    Raises:
        InvalidInput: for a negative ``first``.
    """
    if first < 0:
        msg = f"first must be 0 or more, not {first}"
        raise InvalidInput(msg)
    ids = np.asarray(check.entity_ids, dtype=np.int64)
    start = 0 if after is None else int(np.searchsorted(ids, after, side="right"))
    chosen = ids[start : start + first]
    records = await store.entities(chosen.tolist(), as_of=check.as_of) if chosen.size else []
    items = []
    for i, record in zip(range(start, start + chosen.shape[0]), records, strict=True):
        if record is None:
            continue
        bits = check.reason_bits[i]
        reason = "; ".join(t for b, t in enumerate(check.reason_texts) if bits >> b & 1)
        items.append(HealthEntity(record, reason))
    end = int(chosen[-1]) if chosen.size else after
    return HealthEntityPage(tuple(items), len(check.entity_ids), start + first < ids.shape[0], end)


# --------------------------------------------------------------------- the trend


class ScoreCache:
    """Scores at past UTC midnights, computed once per store (see the module docstring).

    Thread-safe enough for the API's workers: a point computed twice at once is
    computed twice, never wrong (it is the same value).
    """

    def __init__(self, max_points: int = 400) -> None:
        self._points: weakref.WeakKeyDictionary[GraphStore, dict[int, int | None]] = (
            weakref.WeakKeyDictionary()
        )
        self.max_points = max_points
        self.computed = 0
        """Points computed (not found in the cache) since the cache was made."""

    async def score_at(self, store: GraphStore, moment: datetime, now: datetime) -> int | None:
        """Return the score at ``moment``, from the cache when known.

        Only a moment before ``now`` is kept: a later commit may still change a
        moment to come.
        """
        key = to_micros(moment)
        points = self._points.setdefault(store, {})
        if key in points:
            return points[key]
        score = await health_score(store, as_of=moment)
        self.computed += 1
        self._keep(points, key, moment, now, score)
        return score

    def known(self, store: GraphStore, moment: datetime) -> tuple[bool, int | None]:
        """Return ``(True, score)`` when the score at ``moment`` is cached, else ``(False, None)``.

        Never computes anything (a dictionary look-up): what a page that must
        not wait draws its trend from.
        """
        points = self._points.get(store)
        key = to_micros(moment)
        if points is None or key not in points:
            return False, None
        return True, points[key]

    def _keep(
        self,
        points: dict[int, int | None],
        key: int,
        moment: datetime,
        now: datetime,
        score: int | None,
    ) -> None:
        if moment >= now:
            return
        if len(points) >= self.max_points:
            points.pop(min(points))
        points[key] = score


_DEFAULT_CACHE = ScoreCache()


def _midnight(moment: datetime) -> datetime:
    m = moment.astimezone(UTC)
    return datetime(m.year, m.month, m.day, tzinfo=UTC)


def trend_midnights(moment: datetime, days: int = TREND_DAYS) -> tuple[datetime, ...]:
    """The ``days - 1`` UTC midnights strictly before ``moment``, oldest first (the trend)."""
    day = _midnight(moment)
    if day == moment:
        day -= timedelta(days=1)
    return tuple(day - timedelta(days=k) for k in range(days - 2, -1, -1))


@dataclass(frozen=True, slots=True, eq=False)
class KnownTrend:
    """A report with the part of its trend already known (:func:`known_trend`).

    Attributes:
        report: The report, its ``trend`` holding every day; a day not known yet has
            ``score=None`` (as a day without entities has).
        missing: The midnights whose score is not known yet, oldest first.
    """

    report: HealthReport
    missing: tuple[datetime, ...]


def known_trend(
    store: GraphStore,
    report: HealthReport,
    *,
    cache: ScoreCache,
    at: datetime | None = None,
    days: int = TREND_DAYS,
) -> KnownTrend:
    """Return ``report`` with the trend points ``cache`` already holds, computing none.

    The points are :func:`score_trend`'s (the midnights before the moment, then
    the report's own score), for the moment ``at`` (default: ``as_of``, else
    ``generated``). ``at`` later than ``generated`` is for a report still
    current (no commit since it was computed): its score is the score at
    ``at``. The midnights the cache lacks are listed in ``missing`` (their
    points have ``score=None``), for a caller to compute them elsewhere.
    """
    moment = at or report.as_of or report.generated
    points: list[ScorePoint] = []
    missing: list[datetime] = []
    for midnight in trend_midnights(moment, days):
        found, score = cache.known(store, midnight)
        if not found:
            missing.append(midnight)
        points.append(ScorePoint(midnight, score))
    points.append(ScorePoint(moment, report.score))
    return KnownTrend(
        HealthReport(
            report.as_of,
            report.generated,
            report.score,
            report.result,
            report.checks,
            report.sources,
            tuple(points),
        ),
        tuple(missing),
    )


async def score_trend(
    store: GraphStore,
    report: HealthReport,
    *,
    cache: ScoreCache | None = None,
    days: int = TREND_DAYS,
) -> HealthReport:
    """Return ``report`` with its ``trend``: the score over the ``days`` days up to it.

    Points, oldest first: the scores at the ``days - 1`` UTC midnights before
    the report's moment (``as_of``, else ``generated``), from the cache or
    computed once each, then the report's own score.
    """
    cache = cache or _DEFAULT_CACHE
    moment = report.as_of or report.generated
    points: list[ScorePoint] = []
    for at in trend_midnights(moment, days):
        check_deadline()
        points.append(ScorePoint(at, await cache.score_at(store, at, report.generated)))
        await asyncio.sleep(0)
    points.append(ScorePoint(moment, report.score))
    return HealthReport(
        report.as_of,
        report.generated,
        report.score,
        report.result,
        report.checks,
        report.sources,
        tuple(points),
    )
