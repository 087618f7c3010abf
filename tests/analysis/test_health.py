"""CMDB health (PRODUCT.md 9) on a hand-drawn graph where every check's outcome is known.

The graph (built by :func:`flawed`):

* ``k8s``/``prod`` asserts c-old and c-new; its second complete run leaves c-old
  out, so c-old becomes stale (1 of 2: 50 % stale, FAIL).
* ``cmdb`` describes the rest: s-good (complete, owned and supported by t-ops,
  depends on stale c-old and runs on c-gone, retired at the end), s-bare (live,
  nothing stated: incomplete and an orphan), s-planned (not live, an orphan),
  c-part (no environment, owner inherited from c-db), t-ghost (no members, owns
  c-lonely), c-x and c-y (an identity conflict on a serial, sent at the end),
  c-db and c-new depending on each other (a dependency cycle).
* s-good, the one live tier-1 service, depends on c-old alone: a single point of
  failure.

``t0`` is the moment before the last three changes (the staleness, the
retirement, the conflict): asked as of then, those checks pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import graphsvc.analysis.health as health_module
from graphsvc.analysis.health import (
    CHECK_NAMES,
    CHECKS,
    HealthReport,
    ScoreCache,
    health,
    health_entities,
    health_score,
    score_trend,
)
from graphsvc.analysis.readiness import CheckResult
from graphsvc.analysis.spof import single_points_of_failure
from graphsvc.errors import InvalidInput
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.stewardship import IdentityStewardship
from graphsvc.model.batch import IngestBatch
from graphsvc.model.records import ConflictState
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.base import GraphStore
from tests.analysis.helpers import ent, load, rel

PASS, WARN, FAIL = CheckResult.PASS, CheckResult.WARN, CheckResult.FAIL


async def _k8s(engine: IngestEngine, *keys: str) -> None:
    await engine.ingest(
        IngestBatch.model_validate(
            {
                "source": "k8s",
                "scope": "prod",
                "complete": True,
                "entities": [ent(k, environment="prod") for k in keys],
            }
        )
    )


async def flawed(store: GraphStore, engine: IngestEngine) -> datetime:
    """Build the graph of the module docstring; return ``t0``."""
    await _k8s(engine, "c-old", "c-new")
    await load(
        engine,
        [
            ent("t-ops"),
            ent("t-ghost"),
            ent("p-ann"),
            ent("s-good", tier=1, capability="billing", lifecycle="live"),
            ent("s-bare", lifecycle="live"),
            ent("s-planned", lifecycle="planned"),
            ent("c-db", environment="prod"),
            ent("c-part"),
            ent("c-lonely", environment="dev"),
            ent("c-gone", environment="prod"),
            {**ent("c-x", environment="prod"), "identifiers": {"serial": "SER-A"}},
            {**ent("c-y", environment="prod"), "identifiers": {"serial": "SER-B"}},
        ],
        [
            rel("p-ann", "MEMBER_OF", "t-ops"),
            rel("t-ops", "OWNS", "s-good"),
            rel("t-ops", "SUPPORTS", "s-good"),
            rel("t-ops", "OWNS", "c-db"),
            rel("c-part", "PART_OF", "c-db"),
            rel("t-ghost", "OWNS", "c-lonely"),
            *(rel("t-ops", "OWNS", k) for k in ("c-old", "c-new", "c-gone", "c-x", "c-y")),
            rel("s-good", "DEPENDS_ON", "c-old"),
            rel("s-good", "RUNS_ON", "c-gone"),
            rel("c-db", "DEPENDS_ON", "c-new"),
            rel("c-new", "DEPENDS_ON", "c-db"),
        ],
    )
    t0 = datetime.now(UTC)
    await _k8s(engine, "c-new")
    await load(engine, [ent("c-gone", status="retired", environment="prod")])
    await load(engine, [{**ent("c-x", environment="prod"), "identifiers": {"serial": "SER-B"}}])
    return t0


async def _keys(store: GraphStore, report: HealthReport, check: str) -> dict[str, str]:
    page = await health_entities(store, report.check(check), first=100)
    return {h.entity.key: h.reason for h in page.items}


async def test_every_check_its_figure_result_and_entities(
    store: GraphStore, engine: IngestEngine
) -> None:
    await flawed(store, engine)
    report = await health(store)
    got = {c.name: (c.figure, c.result, c.population, c.failing) for c in report.checks}
    assert got == {
        "serviceCompleteness": (50.0, FAIL, 2, 1),
        "ciCompleteness": (14.29, WARN, 7, 1),
        "orphans": (20.0, FAIL, 10, 2),
        "ghostOwners": (1.0, WARN, 2, 1),
        "identityConflicts": (1.0, WARN, got["identityConflicts"][2], 2),
        "staleShare": (50.0, FAIL, got["staleShare"][2], 1),
        "staleDependencies": (50.0, FAIL, 2, 1),
        "dependencyCycles": (2.0, WARN, 10, 2),
        "singlePointsOfFailure": (100.0, FAIL, 1, 1),
    }
    assert tuple(got) == CHECK_NAMES
    assert await _keys(store, report, "serviceCompleteness") == {
        "s-bare": "no tier; no owner; no support team; no capability"
    }
    assert await _keys(store, report, "ciCompleteness") == {"c-part": "no environment"}
    assert set(await _keys(store, report, "orphans")) == {"s-bare", "s-planned"}
    assert await _keys(store, report, "ghostOwners") == {
        "t-ghost": "owns entities but has no members"
    }
    assert await _keys(store, report, "identityConflicts") == {
        "c-x": "identity conflict on serial",
        "c-y": "identity conflict on serial",
    }
    assert set(await _keys(store, report, "staleShare")) == {"c-old"}
    assert await _keys(store, report, "staleDependencies") == {
        "s-good": "depends on a stale entity; depends on a retired entity"
    }
    assert await _keys(store, report, "dependencyCycles") == dict.fromkeys(
        ("c-db", "c-new"), "in a dependency cycle: it needs, through others, what needs it"
    )
    assert await _keys(store, report, "singlePointsOfFailure") == {
        "s-good": "a dependency without redundancy takes it down alone"
    }
    [k8s] = [s for s in report.check("staleShare").scopes if s.source == "k8s"]
    assert (k8s.scope, k8s.items, k8s.stale, k8s.share, k8s.result) == ("prod", 2, 1, 50.0, FAIL)
    assert report.result is FAIL


async def test_score_follows_the_documented_formula(
    store: GraphStore, engine: IngestEngine
) -> None:
    await flawed(store, engine)
    report = await health(store)
    weights = {c.name: c.weight for c in CHECKS}
    expected = sum(weights[c.name] * c.passing_share for c in report.checks) / sum(
        weights[c.name] for c in report.checks
    )
    assert report.score == round(100 * expected)
    assert 0 < report.score < 100
    assert await health_score(store) == report.score


async def test_per_source_figures(store: GraphStore, engine: IngestEngine) -> None:
    await flawed(store, engine)
    report = await health(store)
    by = {s.source: s for s in report.sources}
    k8s, cmdb = by["k8s"], by["cmdb"]
    assert (k8s.items, k8s.stale, k8s.conflicts, k8s.missing_required) == (2, 1, 0, 0)
    assert (cmdb.stale, cmdb.conflicts, cmdb.missing_required) == (0, 1, 3)
    assert cmdb.items == 11  # every cmdb entity but the retired c-gone
    assert report.sources[0].source == "k8s"  # the most problems (share) first


async def test_as_of_before_the_flaws_passes_those_checks(
    store: GraphStore, engine: IngestEngine
) -> None:
    t0 = await flawed(store, engine)
    then = await health(store, as_of=t0)
    now = await health(store)
    results = {c.name: c.result for c in then.checks}
    assert results["staleDependencies"] is PASS
    assert results["identityConflicts"] is PASS
    assert then.check("staleDependencies").entity_count == 0
    assert then.score > now.score
    assert await health_score(store, as_of=t0) == then.score
    assert await health_score(store, as_of=t0 - timedelta(days=1)) is None


async def test_a_dismissed_or_resolved_conflict_no_longer_counts(
    store: GraphStore, engine: IngestEngine
) -> None:
    await flawed(store, engine)
    before = datetime.now(UTC)
    [conflict] = (await store.identity_conflicts(first=5, state=ConflictState.OPEN)).items
    await IdentityStewardship(store).dismiss_conflict(conflict.seq, "two labels", actor="t")
    report = await health(store)
    check = report.check("identityConflicts")
    assert (check.figure, check.result, check.entity_count) == (0.0, PASS, 0)
    assert await _keys(store, report, "identityConflicts") == {}
    assert {s.source: s.conflicts for s in report.sources}.get("cmdb", 0) == 0
    # asked as of a moment before the dismissal, it was open then
    then = (await health(store, as_of=before)).check("identityConflicts")
    assert (then.figure, then.result) == (1.0, WARN)


async def test_entity_pages_follow_the_cursor(store: GraphStore, engine: IngestEngine) -> None:
    await flawed(store, engine)
    report = await health(store)
    orphans = report.check("orphans")
    first = await health_entities(store, orphans, first=1)
    assert first.total == 2 and first.has_next and len(first.items) == 1
    second = await health_entities(store, orphans, first=1, after=first.end_cursor)
    assert not second.has_next and len(second.items) == 1
    assert first.items[0].entity.key != second.items[0].entity.key
    empty = await health_entities(store, orphans, first=0)
    assert empty.items == () and empty.total == 2
    with pytest.raises(InvalidInput, match="first"):
        await health_entities(store, orphans, first=-1)
    with pytest.raises(InvalidInput, match="unknown health check 'nope'"):
        report.check("nope")


async def test_trend_has_thirty_points_computed_once(
    store: GraphStore, engine: IngestEngine
) -> None:
    await flawed(store, engine)
    cache = ScoreCache()
    report = await score_trend(store, await health(store), cache=cache)
    assert len(report.trend) == 30
    assert report.trend[-1].score == report.score
    assert [p.at for p in report.trend] == sorted(p.at for p in report.trend)
    assert all(p.score is None for p in report.trend[:-2])  # the graph is minutes old
    computed = cache.computed
    assert computed == 29
    await score_trend(store, await health(store), cache=cache)
    assert cache.computed == computed  # the past midnights come from the cache


async def test_single_points_of_failure_check_agrees_with_the_analysis(
    store: GraphStore, engine: IngestEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tier-1/2 live services only; direct and deeper single points; groups that hold."""
    await load(
        engine,
        [
            ent("s-shared", tier=1),  # two replicas on one host: the host fails both
            ent("s-spread", tier=2),  # two replicas on two hosts: nothing fails it alone
            ent("s-direct", tier=1),  # one database, no redundancy
            ent("s-alone", tier=2),  # depends on nothing
            ent("s-minor", tier=3),  # not counted
            ent("s-old", tier=1, lifecycle="retired"),  # not live
            ent("s-nested", tier=1),  # a redundant pair whose halves share a host deeper down
            *(ent(k) for k in ("c-r1", "c-r2", "c-r3", "c-r4", "c-h1", "c-h2", "c-h3", "c-db")),
            *(ent(k) for k in ("c-n1", "c-n2", "c-n3", "c-n4", "c-nh")),
        ],
        [
            rel("s-shared", "DEPENDS_ON", "c-r1", redundancyGroup="web"),
            rel("s-shared", "DEPENDS_ON", "c-r2", redundancyGroup="web"),
            rel("c-r1", "RUNS_ON", "c-h1"),
            rel("c-r2", "RUNS_ON", "c-h1"),
            rel("s-spread", "DEPENDS_ON", "c-r3", redundancyGroup="web"),
            rel("s-spread", "DEPENDS_ON", "c-r4", redundancyGroup="web"),
            rel("c-r3", "RUNS_ON", "c-h2"),
            rel("c-r4", "RUNS_ON", "c-h3"),
            rel("s-direct", "DEPENDS_ON", "c-db"),
            rel("s-minor", "DEPENDS_ON", "c-db"),
            rel("s-old", "DEPENDS_ON", "c-db"),
            # c-n1 needs c-n3 or c-n4, both on c-nh; c-n2 runs on c-nh: c-nh alone fails
            # both halves, through a redundancy group (no path of plain dependencies)
            rel("s-nested", "DEPENDS_ON", "c-n1", redundancyGroup="pair"),
            rel("s-nested", "DEPENDS_ON", "c-n2", redundancyGroup="pair"),
            rel("c-n1", "DEPENDS_ON", "c-n3", redundancyGroup="db"),
            rel("c-n1", "DEPENDS_ON", "c-n4", redundancyGroup="db"),
            rel("c-n3", "RUNS_ON", "c-nh"),
            rel("c-n4", "RUNS_ON", "c-nh"),
            rel("c-n2", "RUNS_ON", "c-nh"),
        ],
    )
    check = (await health(store)).check("singlePointsOfFailure")
    assert (check.figure, check.result, check.population, check.failing) == (60.0, FAIL, 5, 3)
    assert await _keys(store, await health(store), "singlePointsOfFailure") == {
        "s-direct": "a dependency without redundancy takes it down alone",
        "s-shared": "one entity takes down every member of one of its redundancy groups",
        "s-nested": "one entity takes down every member of one of its redundancy groups",
    }
    for key in ("s-shared", "s-spread", "s-direct", "s-alone", "s-nested"):
        [found] = await store.resolve([(EntityKind.SERVICE, key)])
        assert found is not None
        points = await single_points_of_failure(store, found)
        assert bool(points.points) == (key in ("s-shared", "s-direct", "s-nested")), key
    assert check.undecided == 0
    # above the bound, the services with only redundant dependencies are left undecided
    monkeypatch.setattr(health_module, "SPOF_BATCH_LIMIT", 2)
    check = (await health(store)).check("singlePointsOfFailure")
    assert (check.figure, check.population, check.failing, check.undecided) == (50.0, 2, 1, 3)
