"""Change impact: start set, conflicts of each kind, touching windows, risk, asOf."""

from __future__ import annotations

import pytest

from graphsvc.analysis.changes import ConflictKind, change_impact
from graphsvc.errors import NotFound
from graphsvc.ingest.engine import IngestEngine
from graphsvc.store.base import GraphStore
from tests.analysis.helpers import ent, load, rel


def chg(
    key: str, start: str, end: str, state: str = "scheduled", ctype: str = "standard", **kw: str
) -> dict:  # type: ignore[type-arg]
    return ent(
        key,
        state=state,
        changeType=ctype,
        plannedStart=f"2030-01-01T{start}:00+00:00",
        plannedEnd=f"2030-01-01T{end}:00+00:00",
        **kw,
    )


def win(key: str, wtype: str, start: str, end: str) -> dict:  # type: ignore[type-arg]
    return ent(
        key,
        windowType=wtype,
        start=f"2030-01-01T{start}:00+00:00",
        end=f"2030-01-01T{end}:00+00:00",
    )


BASE = [
    ent("c-db"),
    ent("s-app", tier=1),
    ent("s-web", tier=2),
    ent("c-other"),
    ent("t-dba"),
    ent("prj-x"),
]
BASE_RELS = [
    rel("s-app", "DEPENDS_ON", "c-db"),
    rel("s-web", "DEPENDS_ON", "s-app"),
    rel("t-dba", "OWNS", "c-db"),
]


async def test_start_set_impact_teams_projects_and_no_conflict(
    store: GraphStore, engine: IngestEngine
) -> None:
    await load(
        engine,
        [*BASE, chg("chg-1", "10:00", "12:00")],
        [*BASE_RELS, rel("chg-1", "MODIFIES", "c-db"), rel("chg-1", "IMPLEMENTS", "prj-x")],
    )
    answer = await change_impact(store, "chg-1")
    assert [e.key for e in answer.start_set] == ["c-db"]
    assert answer.impact.summary.total == 3
    assert [t.team.key for t in answer.impact.teams_to_notify] == ["t-dba"]
    assert [p.key for p in answer.impact.affected_projects] == ["prj-x"]
    assert answer.conflicts == ()
    points = {f.name: f.points for f in answer.risk_factors}
    # 2 beyond: round(5*log10(3)) = 2; tier1 + tier2 = 14; 2 services DOWN = 4
    assert points == {
        "blastRadius": 2,
        "criticalServices": 14,
        "downServices": 4,
        "conflicts": 0,
        "changeType": 0,
        "declaredRisk": 0,
        "noPlannedWindow": 0,
        "staleEntities": 0,
        "assigneeOverbooked": 0,
    }
    assert answer.risk_score == 20
    with pytest.raises(NotFound):
        await change_impact(store, "chg-nope")


async def test_collision_overlapping_and_touching(store: GraphStore, engine: IngestEngine) -> None:
    await load(
        engine,
        [
            *BASE,
            chg("chg-1", "10:00", "12:00"),
            chg("chg-overlap", "11:00", "13:00"),  # modifies s-web: shares s-web
            chg("chg-touch", "12:00", "14:00"),  # touches: no overlap
            chg("chg-closed", "10:00", "12:00", state="closed"),
            chg("chg-elsewhere", "10:00", "12:00"),  # overlaps but impact disjoint
            chg("chg-upstream", "09:00", "10:30"),  # modifies c-db's host: its impact reaches ours
            ent("c-host"),
        ],
        [
            *BASE_RELS,
            rel("c-db", "RUNS_ON", "c-host"),
            rel("chg-1", "MODIFIES", "s-app"),
            rel("chg-overlap", "MODIFIES", "s-web"),
            rel("chg-touch", "MODIFIES", "s-app"),
            rel("chg-closed", "MODIFIES", "s-app"),
            rel("chg-elsewhere", "MODIFIES", "c-other"),
            rel("chg-upstream", "MODIFIES", "c-host"),
        ],
    )
    answer = await change_impact(store, "chg-1")
    # chg-touch only touches, chg-closed is closed, chg-elsewhere shares nothing
    assert {(c.kind, c.other.key) for c in answer.conflicts} == {
        (ConflictKind.COLLISION, "chg-overlap"),
        (ConflictKind.COLLISION, "chg-upstream"),
    }
    assert sorted(got_entities(answer, "chg-overlap")) == ["s-web"]
    assert sorted(got_entities(answer, "chg-upstream")) == ["s-app", "s-web"]
    overlap = next(c for c in answer.conflicts if c.other.key == "chg-overlap")
    assert "overlapping" in overlap.explanation and "s-web" in overlap.explanation


def got_entities(answer, other: str) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    c = next(c for c in answer.conflicts if c.other.key == other)
    return tuple(e.key for e in c.entities)


async def test_blackout_on_impact_set(store: GraphStore, engine: IngestEngine) -> None:
    await load(
        engine,
        [
            *BASE,
            chg("chg-1", "10:00", "12:00"),
            win("w-freeze", "blackout", "11:00", "18:00"),
            win("w-before", "blackout", "08:00", "10:00"),  # touches: no overlap
            win("w-maint", "maintenance", "09:00", "13:00"),
        ],
        [
            *BASE_RELS,
            rel("chg-1", "MODIFIES", "c-db"),
            rel("w-freeze", "APPLIES_TO", "s-web"),
            rel("w-before", "APPLIES_TO", "c-db"),
            rel("w-maint", "APPLIES_TO", "c-db"),
        ],
    )
    answer = await change_impact(store, "chg-1")
    assert [(c.kind, c.other.key, [e.key for e in c.entities]) for c in answer.conflicts] == [
        (ConflictKind.BLACKOUT, "w-freeze", ["s-web"])
    ]
    assert "Blackout window w-freeze" in answer.conflicts[0].explanation


async def test_outside_maintenance_only_for_normal_changes(
    store: GraphStore, engine: IngestEngine
) -> None:
    await load(
        engine,
        [
            *BASE,
            chg("chg-normal", "10:00", "12:00", ctype="normal"),
            chg("chg-inside", "10:00", "12:00", ctype="normal"),
            chg("chg-std", "10:00", "12:00", ctype="standard"),
            win("w-m1", "maintenance", "09:00", "11:00"),
            win("w-m2", "maintenance", "11:00", "13:00"),
            win("w-m3", "maintenance", "09:00", "12:00"),
        ],
        [
            *BASE_RELS,
            rel("chg-normal", "MODIFIES", "c-db"),
            rel("chg-std", "MODIFIES", "c-db"),
            rel("chg-inside", "MODIFIES", "s-app"),
            rel("w-m1", "APPLIES_TO", "c-db"),
            rel("w-m2", "APPLIES_TO", "c-db"),  # m1 and m2 together cover it, but no one does
            rel("w-m3", "APPLIES_TO", "s-app"),
        ],
    )
    normal = await change_impact(store, "chg-normal")
    outside = [c for c in normal.conflicts if c.kind is ConflictKind.OUTSIDE_MAINTENANCE]
    assert [(c.other.key, [e.key for e in c.entities]) for c in outside] == [("w-m1", ["c-db"])]
    assert "not inside any one of them" in outside[0].explanation
    inside = await change_impact(store, "chg-inside")
    assert [c for c in inside.conflicts if c.kind is ConflictKind.OUTSIDE_MAINTENANCE] == []
    std = await change_impact(store, "chg-std")
    assert [c for c in std.conflicts if c.kind is ConflictKind.OUTSIDE_MAINTENANCE] == []


async def test_change_impact_as_of(store: GraphStore, engine: IngestEngine) -> None:
    await load(
        engine,
        [*BASE, chg("chg-1", "10:00", "12:00")],
        [*BASE_RELS, rel("chg-1", "MODIFIES", "c-db")],
    )
    then = (await store.stats()).last_commit
    await load(
        engine,
        [chg("chg-1", "10:00", "12:00", risk="high"), ent("s-new")],
        [rel("s-new", "DEPENDS_ON", "c-db"), rel("chg-1", "MODIFIES", "c-other")],
    )
    now = await change_impact(store, "chg-1")
    past = await change_impact(store, "chg-1", as_of=then)
    assert [e.key for e in now.start_set] == ["c-db", "c-other"]
    assert [e.key for e in past.start_set] == ["c-db"]
    assert now.impact.summary.total == 5 and past.impact.summary.total == 3
    assert {f.name: f.value for f in past.risk_factors}["declaredRisk"] == "unknown"
    assert {f.name: f.value for f in now.risk_factors}["declaredRisk"] == "high"


def why(answer, name: str) -> str:  # type: ignore[no-untyped-def]
    return next(f.explanation for f in answer.risk_factors if f.name == name)


async def test_risk_explanations_name_what_they_counted(
    store: GraphStore, engine: IngestEngine
) -> None:
    await load(
        engine,
        [
            *BASE,
            chg("chg-1", "10:00", "12:00", ctype="emergency", risk="Critical"),
            chg("chg-overlap", "11:00", "13:00"),
            ent("chg-nowin", state="new", plannedStart="2030-01-01T10:00:00+00:00"),
            ent("chg-odd", state="new", changeType="normal", risk="spicy"),
        ],
        [
            *BASE_RELS,
            rel("chg-1", "MODIFIES", "c-db"),
            rel("chg-overlap", "MODIFIES", "s-web"),
            rel("chg-nowin", "MODIFIES", "c-other"),
        ],
    )
    answer = await change_impact(store, "chg-1")
    assert why(answer, "blastRadius").startswith(
        "2 entities beyond the 1 modified (ConfigurationItem/c-db) would be affected: "
        "2 services; the furthest is 2 hops away."
    )
    assert why(answer, "criticalServices") == (
        "The impact set holds 1 tier-1 service (s-app) and 1 tier-2 service (s-web): "
        "10 points per tier-1 and 4 per tier-2 service, at most 25."
    )
    assert "would be DOWN (s-app, s-web)" in why(answer, "downServices")
    assert why(answer, "conflicts").startswith("1 COLLISION (with change chg-overlap)")
    assert why(answer, "changeType").startswith("An emergency change")
    assert why(answer, "declaredRisk").startswith("The change tool declares risk 'Critical': 10")
    assert why(answer, "noPlannedWindow") == (
        "Planned 2030-01-01 10:00 → 12:00 UTC: collisions, blackouts and maintenance windows "
        "were checked against it."
    )
    assert why(answer, "staleEntities").startswith("No entity of the impact set is stale")

    nowin = await change_impact(store, "chg-nowin")
    assert why(nowin, "noPlannedWindow").startswith("No usable planned window (plannedEnd is")
    assert "were not checked" in why(nowin, "conflicts")
    assert why(nowin, "blastRadius") == (
        "Nothing beyond the 1 modified (ConfigurationItem/c-other) depends on them."
    )
    assert why(nowin, "criticalServices") == "No tier-1 or tier-2 service is in the impact set."
    assert why(nowin, "downServices") == "No service beyond the modified ones is reached."
    assert why(nowin, "changeType").startswith("The change states no changeType")
    assert why(nowin, "declaredRisk").startswith("The change tool declares no risk")

    odd = await change_impact(store, "chg-odd")
    assert "MODIFIES nothing the graph knows" in why(odd, "blastRadius")
    assert "'spicy' is not a level this score knows" in why(odd, "declaredRisk")


async def test_redundancy_named_when_no_service_goes_down(
    store: GraphStore, engine: IngestEngine
) -> None:
    await load(
        engine,
        [ent("c-db1"), ent("c-db2"), ent("s-app", tier=1), chg("chg-1", "10:00", "12:00")],
        [
            rel("s-app", "DEPENDS_ON", "c-db1", redundancyGroup="db"),
            rel("s-app", "DEPENDS_ON", "c-db2", redundancyGroup="db"),
            rel("chg-1", "MODIFIES", "c-db1"),
        ],
    )
    answer = await change_impact(store, "chg-1")
    assert why(answer, "downServices") == (
        "None of the 1 service reached beyond the modified ones would be DOWN: redundancy "
        "(db) keeps each one up (they are DEGRADED)."
    )


async def test_assignees_and_a_configuration_item_the_change_does_not_modify(
    store: GraphStore, engine: IngestEngine
) -> None:
    await load(
        engine,
        [
            *BASE,
            ent("p-ann"),
            chg("chg-1", "10:00", "12:00", configurationItem="C-DB"),
            chg("chg-2", "10:00", "12:00", configurationItem="db-cluster-07"),
            chg("chg-3", "10:00", "12:00", configurationItem="c-later"),
            ent("chg-empty", state="new"),
        ],
        [
            *BASE_RELS,
            rel("chg-1", "MODIFIES", "c-db"),
            rel("chg-1", "ASSIGNED_TO", "t-dba"),
            rel("chg-1", "ASSIGNED_TO", "p-ann"),
            rel("chg-2", "MODIFIES", "c-db"),
        ],
    )
    one = await change_impact(store, "chg-1")
    assert [(r.kind.value, r.key) for r in one.assigned_to] == [
        ("Team", "t-dba"),
        ("Person", "p-ann"),
    ]
    assert one.unlinked_ci is None, "the key matches, whatever the case"
    two = await change_impact(store, "chg-2")
    assert (two.assigned_to, two.unlinked_ci, two.unlinked_ci_entity) == ((), "db-cluster-07", None)
    # a CI loaded after the change was imported: named, and found in the graph now
    await load(engine, [ent("c-later")])
    three = await change_impact(store, "chg-3")
    assert three.start_set == () and three.unlinked_ci == "c-later"
    assert three.unlinked_ci_entity is not None and three.unlinked_ci_entity.key == "c-later"
    empty = await change_impact(store, "chg-empty")
    assert (empty.start_set, empty.unlinked_ci) == ((), None)


async def test_a_configuration_item_named_by_its_display_name(
    store: GraphStore, engine: IngestEngine
) -> None:
    named = {
        "kind": "ConfigurationItem",
        "key": "c-bill7",
        "name": "Billing DB Seven",
        "attributes": {"ciClass": "database"},
    }
    await load(
        engine,
        [
            named,
            ent("c-db"),
            chg("chg-by-name", "10:00", "12:00", configurationItem="billing db seven"),
            chg("chg-linked", "10:00", "12:00", configurationItem="Billing DB Seven"),
        ],
        [rel("chg-by-name", "MODIFIES", "c-db"), rel("chg-linked", "MODIFIES", "c-bill7")],
    )
    answer = await change_impact(store, "chg-by-name")
    assert answer.unlinked_ci == "billing db seven"
    assert answer.unlinked_ci_entity is not None and answer.unlinked_ci_entity.key == "c-bill7"
    # the display name of a modified entity links it
    assert (await change_impact(store, "chg-linked")).unlinked_ci is None
    # as of a time, only keys and aliases are looked up (names are read as they are now)
    then = (await store.stats()).last_commit
    past = await change_impact(store, "chg-by-name", as_of=then)
    assert past.unlinked_ci == "billing db seven" and past.unlinked_ci_entity is None


async def test_redundancy_details_can_be_left_out(store: GraphStore, engine: IngestEngine) -> None:
    await load(
        engine,
        [ent("c-db1"), ent("c-db2"), ent("s-app", tier=1), chg("chg-1", "10:00", "12:00")],
        [
            rel("s-app", "DEPENDS_ON", "c-db1", redundancyGroup="db"),
            rel("s-app", "DEPENDS_ON", "c-db2", redundancyGroup="db"),
            rel("chg-1", "MODIFIES", "c-db1"),
        ],
    )
    full = await change_impact(store, "chg-1")
    quiet = await change_impact(store, "chg-1", redundancy=False)
    assert [e.node.saved_by != () for e in full.impact.affected.edges] == [False, True]
    assert all(e.node.saved_by == () for e in quiet.impact.affected.edges)
    assert quiet.risk_score == full.risk_score
    assert "redundancy keeps each one up" in why(quiet, "downServices")


async def test_tasks_carried_out_and_an_overbooked_assignee_team(
    store: GraphStore, engine: IngestEngine
) -> None:
    """chg-1 (2030-01-01 20:00-23:00) IMPLEMENTS tsk-1; t-dba has 10 h a week."""
    busy = {"effortHours": 30, "plannedStart": "2029-12-31T00:00:00+00:00"}
    await load(
        engine,
        [
            *BASE,
            chg("chg-1", "20:00", "23:00"),
            ent("t-dba", capacityHoursPerWeek=10),
            {"kind": "Task", "key": "tsk-1", "attributes": {"due": "2030-01-02T00:00:00+00:00"}},
            {
                "kind": "Task",
                "key": "tsk-busy",
                "attributes": {**busy, "due": "2030-01-04T00:00:00+00:00"},
            },
        ],
        [
            *BASE_RELS,
            rel("chg-1", "MODIFIES", "c-db"),
            rel("chg-1", "IMPLEMENTS", "tsk-1"),
            rel("chg-1", "ASSIGNED_TO", "t-dba"),
        ],
    )
    quiet = await change_impact(store, "chg-1", as_of=None)
    assert [t.key for t in quiet.tasks] == ["tsk-1"]
    [factor] = [f for f in quiet.risk_factors if f.name == "assigneeOverbooked"]
    assert (factor.value, factor.points) == ("no", 0)
    assert "Team/t-dba" in factor.explanation
    # 30 h of other work in the change's week: t-dba is overbooked
    await load(engine, [], [rel("tsk-busy", "ASSIGNED_TO", "t-dba")])
    busy_answer = await change_impact(store, "chg-1")
    [factor] = [f for f in busy_answer.risk_factors if f.name == "assigneeOverbooked"]
    assert (factor.value, factor.points) == ("yes", 10)
    assert "Team/t-dba in the week of 2029-12-31" in factor.explanation
    assert busy_answer.risk_score == quiet.risk_score + 10
