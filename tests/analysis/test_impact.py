"""Impact and dependencies on hand-drawn graphs, each with its answer written out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from graphsvc.analysis.impact import Impact, ImpactState, NoticeRole, dependencies, impact
from graphsvc.errors import InvalidInput
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.base import GraphStore
from tests.analysis.helpers import ent, graph, ids, load, rel

D, G = ImpactState.DOWN, ImpactState.DEGRADED


def table(answer: Impact) -> dict[str, tuple[int, str]]:
    """key -> (depth, state) of the returned page."""
    return {e.node.entity.key: (e.node.depth, e.node.state.value) for e in answer.affected.edges}


def paths(answer: Impact) -> dict[str, list[str]]:
    return {
        e.node.entity.key: [f"{s.from_.key} {s.type.value} {s.to.key}" for s in e.node.path]
        for e in answer.affected.edges
    }


DIAMOND = """
s-top DEPENDS_ON s-left
s-top DEPENDS_ON s-right
s-left RUNS_ON c-base
s-right RUNS_ON c-base
c-base RUNS_ON c-host
"""


async def test_diamond_depths_states_paths_and_summary(
    store: GraphStore, engine: IngestEngine
) -> None:
    await graph(engine, DIAMOND, s_top={"tier": 1}, s_left={"tier": 2}, s_right={"tier": 2})
    answer = await impact(store, await ids(store, "c-host"))
    assert table(answer) == {
        "c-host": (0, "DOWN"),
        "c-base": (1, "DOWN"),
        "s-left": (2, "DOWN"),
        "s-right": (2, "DOWN"),
        "s-top": (3, "DOWN"),
    }
    p = paths(answer)
    assert p["c-host"] == []
    assert p["c-base"] == ["c-base RUNS_ON c-host"]
    assert p["s-top"][:2] == ["c-base RUNS_ON c-host", p["s-top"][1]]
    assert len(p["s-top"]) == 3 and p["s-top"][2].startswith("s-top DEPENDS_ON s-")
    s = answer.summary
    assert s.total == 5 and s.deepest == 3 and s.stale == 0
    assert {(k.kind, k.count) for k in s.by_kind} == {
        (EntityKind.CONFIGURATION_ITEM, 2),
        (EntityKind.SERVICE, 3),
    }
    assert [(c.state, c.count) for c in s.by_state] == [(D, 5), (G, 0)]
    assert [(t.tier, t.count, t.down) for t in s.services_by_tier] == [(1, 1, 1), (2, 2, 2)]
    assert [e.key for e in answer.starts] == ["c-host"]


async def test_dependencies_is_the_reverse_walk(store: GraphStore, engine: IngestEngine) -> None:
    await graph(engine, DIAMOND)
    answer = await dependencies(store, await ids(store, "s-top"))
    assert table(answer) == {
        "s-top": (0, "DOWN"),
        "s-left": (1, "DOWN"),
        "s-right": (1, "DOWN"),
        "c-base": (2, "DOWN"),
        "c-host": (3, "DOWN"),
    }
    assert paths(answer)["c-host"][0].startswith("s-top DEPENDS_ON")


async def test_cycle_is_walked_once(store: GraphStore, engine: IngestEngine) -> None:
    await graph(
        engine,
        """
        s-a DEPENDS_ON s-b
        s-b DEPENDS_ON s-c
        s-c DEPENDS_ON s-a
        s-d DEPENDS_ON s-c
        """,
    )
    answer = await impact(store, await ids(store, "s-a"))
    assert table(answer) == {
        "s-a": (0, "DOWN"),
        "s-c": (1, "DOWN"),
        "s-b": (2, "DOWN"),
        "s-d": (2, "DOWN"),
    }
    assert answer.summary.total == 4


REDUNDANT = """
s-app DEPENDS_ON c-db1 db
s-app DEPENDS_ON c-db2 db
s-app RUNS_ON c-vm
s-web DEPENDS_ON s-app
s-report DEPENDS_ON c-db1
"""


async def test_redundancy_group_one_member_down_is_degraded(
    store: GraphStore, engine: IngestEngine
) -> None:
    await graph(engine, REDUNDANT)
    answer = await impact(store, await ids(store, "c-db1"))
    assert table(answer) == {
        "c-db1": (0, "DOWN"),
        "s-app": (1, "DEGRADED"),
        "s-report": (1, "DOWN"),
        "s-web": (2, "DEGRADED"),  # depends only on a degraded entity
    }
    s = answer.summary
    assert [(c.state, c.count) for c in s.by_state] == [(D, 2), (G, 2)]


async def test_redundancy_group_all_members_down_is_down(
    store: GraphStore, engine: IngestEngine
) -> None:
    await graph(engine, REDUNDANT)
    answer = await impact(store, await ids(store, "c-db1", "c-db2"))
    assert table(answer) == {
        "c-db1": (0, "DOWN"),
        "c-db2": (0, "DOWN"),
        "s-app": (1, "DOWN"),
        "s-report": (1, "DOWN"),
        "s-web": (2, "DOWN"),
    }


async def test_group_members_going_down_through_the_walk(
    store: GraphStore, engine: IngestEngine
) -> None:
    # both database replicas run on one host: the host takes the whole group down
    await graph(
        engine,
        """
        c-db1 RUNS_ON c-host
        c-db2 RUNS_ON c-host
        s-app DEPENDS_ON c-db1 db
        s-app DEPENDS_ON c-db2 db
        """,
    )
    answer = await impact(store, await ids(store, "c-host"))
    assert table(answer)["s-app"] == (2, "DOWN")


async def test_group_member_reached_at_the_depth_limit_still_counts(
    store: GraphStore, engine: IngestEngine
) -> None:
    # c-db2 is two hops from the host (via c-mid), s-app too (via c-db1): both are
    # within maxDepth 2, so the relation between them is seen and the group is down.
    await graph(
        engine,
        """
        c-db1 RUNS_ON c-host
        c-mid RUNS_ON c-host
        c-db2 RUNS_ON c-mid
        s-app DEPENDS_ON c-db1 db
        s-app DEPENDS_ON c-db2 db
        """,
    )
    start = await ids(store, "c-host")
    cut = await impact(store, start, max_depth=2)
    assert table(cut) == {
        "c-host": (0, "DOWN"),
        "c-db1": (1, "DOWN"),
        "c-mid": (1, "DOWN"),
        "s-app": (2, "DOWN"),
        "c-db2": (2, "DOWN"),
    }
    full = await impact(store, start)
    assert table(full)["s-app"] == (2, "DOWN")
    assert [
        e.node.entity.key for e in (await impact(store, start, max_depth=0)).affected.edges
    ] == ["c-host"]


async def test_max_depth_cuts_a_group_member_which_is_then_not_down(
    store: GraphStore, engine: IngestEngine
) -> None:
    await graph(
        engine,
        """
        c-db1 RUNS_ON c-host
        c-x RUNS_ON c-host
        c-y RUNS_ON c-x
        c-db2 RUNS_ON c-y
        s-app DEPENDS_ON c-db1 db
        s-app DEPENDS_ON c-db2 db
        """,
    )
    cut = await impact(store, await ids(store, "c-host"), max_depth=2)
    assert "c-db2" not in table(cut)
    assert table(cut)["s-app"] == (2, "DEGRADED")


async def test_part_of_carries_impact_to_the_whole(store: GraphStore, engine: IngestEngine) -> None:
    await graph(engine, "c-disk PART_OF c-array\ns-store RUNS_ON c-array")
    answer = await impact(store, await ids(store, "c-disk"))
    assert table(answer) == {"c-disk": (0, "DOWN"), "c-array": (1, "DOWN"), "s-store": (2, "DOWN")}


async def test_stale_entities_are_walked_and_flagged(
    store: GraphStore, engine: IngestEngine
) -> None:
    await load(
        engine,
        [ent("c-host"), ent("c-vm"), ent("s-app")],
        [rel("c-vm", "RUNS_ON", "c-host"), rel("s-app", "RUNS_ON", "c-vm")],
        source="disco",
        complete=True,
    )
    # the next complete run of the only source no longer sees c-vm: it goes stale
    await load(
        engine,
        [ent("c-host"), ent("s-app")],
        [],
        source="disco",
        complete=True,
    )
    answer = await impact(store, await ids(store, "c-host"))
    flags = {e.node.entity.key: e.node.stale for e in answer.affected.edges}
    # stale c-vm and its stale relations are still walked: s-app is still hit
    assert flags == {"c-host": False, "c-vm": True, "s-app": False}
    assert answer.summary.stale == 1


async def test_retired_is_not_walked(store: GraphStore, engine: IngestEngine) -> None:
    await graph(engine, DIAMOND)
    await load(engine, [ent("s-left", status="retired")])
    answer = await impact(store, await ids(store, "c-base"))
    assert set(table(answer)) == {"c-base", "s-right", "s-top"}


async def test_pagination_by_position_with_complete_aggregates(
    store: GraphStore, engine: IngestEngine
) -> None:
    await graph(engine, "\n".join(f"s-{i} RUNS_ON c-host" for i in range(7)))
    start = await ids(store, "c-host")
    seen = []
    after = None
    while True:
        page = await impact(store, start, first=3, after=after)
        assert page.summary.total == 8 and page.affected.total_count == 8
        seen += [e.node.entity.key for e in page.affected.edges]
        if not page.affected.page_info.has_next_page:
            break
        after = page.affected.page_info.end_cursor
    assert seen[0] == "c-host" and sorted(seen[1:]) == sorted(f"s-{i}" for i in range(7))
    assert len(seen) == 8
    none = await impact(store, start, first=0)
    assert none.affected.edges == () and none.affected.page_info.has_next_page
    with pytest.raises(InvalidInput):
        await impact(store, start, after="nonsense")
    with pytest.raises(InvalidInput):
        await impact(store, start, max_depth=-1)


async def test_teams_direct_and_inherited_and_projects(
    store: GraphStore, engine: IngestEngine
) -> None:
    await load(
        engine,
        [
            ent("c-disk"),
            ent("c-array"),
            ent("c-rack"),
            ent("s-app"),
            ent("t-storage"),
            ent("t-apps"),
            ent("t-helpdesk"),
            ent("prj-migrate"),
            ent("prj-new"),
            ent("prj-dep"),
            ent("chg-1", state="scheduled"),
            ent("chg-2", state="closed"),
            ent("prj-old"),
        ],
        [
            rel("c-disk", "PART_OF", "c-array"),
            rel("c-array", "PART_OF", "c-rack"),
            rel("t-storage", "OWNS", "c-rack"),
            rel("s-app", "RUNS_ON", "c-disk"),
            rel("t-apps", "OWNS", "s-app"),
            rel("t-helpdesk", "SUPPORTS", "s-app"),
            rel("prj-migrate", "CONSOLIDATES", "c-array"),
            rel("prj-dep", "DEPENDS_ON", "s-app"),
            rel("chg-1", "MODIFIES", "s-app"),
            rel("chg-1", "IMPLEMENTS", "prj-new"),
            rel("chg-2", "MODIFIES", "s-app"),
            rel("chg-2", "IMPLEMENTS", "prj-old"),
        ],
    )
    answer = await impact(store, await ids(store, "c-disk"))
    assert set(table(answer)) == {"c-disk", "c-array", "c-rack", "s-app", "prj-dep"}
    notices = {
        (n.team.key, n.role, n.inherited, tuple(v.key for v in n.via), n.affected)
        for n in answer.teams_to_notify
    }
    assert notices == {
        # c-disk and c-array inherit from c-rack, which t-storage owns directly
        ("t-storage", NoticeRole.OWNER, False, ("c-rack",), 3),
        ("t-apps", NoticeRole.OWNER, False, (), 1),
        ("t-helpdesk", NoticeRole.SUPPORT, False, (), 1),
    }
    assert [p.key for p in answer.affected_projects] == ["prj-dep", "prj-migrate", "prj-new"]
    reasons = {
        (
            r.project.key,
            r.relation.value,
            tuple(e.key for e in r.entities),
            tuple(c.key for c in r.changes),
        )
        for r in answer.project_reasons
    }
    assert reasons == {
        ("prj-dep", "DEPENDS_ON", ("s-app",), ()),
        ("prj-migrate", "CONSOLIDATES", ("c-array",), ()),
        ("prj-new", "IMPLEMENTS", ("s-app",), ("chg-1",)),
    }
    kinds = {k.kind.value: k.count for k in answer.summary.by_kind}
    assert kinds == {"ConfigurationItem": 3, "Service": 1, "Project": 1}


async def test_inherited_only_team_is_marked_inherited(
    store: GraphStore, engine: IngestEngine
) -> None:
    await load(
        engine,
        [ent("c-disk"), ent("c-array"), ent("t-storage")],
        [rel("c-disk", "PART_OF", "c-array"), rel("t-storage", "OWNS", "c-array")],
    )
    # maxDepth 0: only c-disk is affected; its owner is inherited from c-array
    answer = await impact(store, await ids(store, "c-disk"), max_depth=0)
    [notice] = answer.teams_to_notify
    assert (notice.team.key, notice.inherited, [v.key for v in notice.via]) == (
        "t-storage",
        True,
        ["c-array"],
    )


async def test_as_of_created_later_retired_later_attribute_changed_later(
    store: GraphStore, engine: IngestEngine
) -> None:
    await graph(engine, DIAMOND, s_top={"tier": 1})
    then = (await store.stats()).last_commit
    assert then is not None
    await load(
        engine,
        [ent("s-right", status="retired"), ent("s-new"), ent("s-top", tier=3)],
        [rel("s-new", "RUNS_ON", "c-base")],
    )
    start = await ids(store, "c-base")
    now = await impact(store, start)
    past = await impact(store, start, as_of=then)
    assert set(table(now)) == {"c-base", "s-left", "s-new", "s-top"}
    assert set(table(past)) == {"c-base", "s-left", "s-right", "s-top"}
    assert [(t.tier, t.count) for t in now.summary.services_by_tier] == [(3, 1), (None, 2)]
    assert [(t.tier, t.count) for t in past.summary.services_by_tier] == [(1, 1), (None, 2)]
    top = next(e.node.entity for e in past.affected.edges if e.node.entity.key == "s-top")
    assert top.attributes["tier"] == 1
    empty = await impact(store, start, as_of=then - timedelta(days=1))
    assert empty.summary.total == 0 and empty.affected.edges == ()


async def test_empty_and_unknown_starts(store: GraphStore, engine: IngestEngine) -> None:
    await graph(engine, DIAMOND)
    for start in ([], [987654]):
        answer = await impact(store, start)
        assert answer.summary.total == 0 and answer.affected.edges == ()
        assert answer.teams_to_notify == () and answer.affected_projects == ()
