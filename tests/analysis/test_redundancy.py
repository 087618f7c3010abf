"""Why a DEGRADED entity stays up: its redundancy groups and their surviving members."""

from __future__ import annotations

from graphsvc.analysis.impact import Affected, Impact, dependencies, impact
from graphsvc.ingest.engine import IngestEngine
from graphsvc.store.base import GraphStore
from tests.analysis.helpers import ent, graph, ids, load, rel


def nodes(answer: Impact) -> dict[str, Affected]:
    return {e.node.entity.key: e.node for e in answer.affected.edges}


def covers(node: Affected) -> list[tuple[str, int, list[str], list[tuple[str, bool]]]]:
    """(group, members, failed keys, (survivor key, degraded)) of each group that saved it."""
    return [
        (
            c.group,
            c.members,
            [f.key for f in c.failed],
            [(s.entity.key, s.degraded) for s in c.survivors],
        )
        for c in node.saved_by
    ]


REDUNDANT = """
s-app DEPENDS_ON c-db1 db
s-app DEPENDS_ON c-db2 db
s-app RUNS_ON c-vm
s-web DEPENDS_ON s-app
s-report DEPENDS_ON c-db1
"""


async def test_one_member_down_names_the_group_and_the_survivor(
    store: GraphStore, engine: IngestEngine
) -> None:
    await graph(engine, REDUNDANT)
    answer = await impact(store, await ids(store, "c-db1"))
    found = nodes(answer)
    assert found["s-app"].state.value == "DEGRADED"
    assert covers(found["s-app"]) == [("db", 2, ["c-db1"], [("c-db2", False)])]
    # DEGRADED only through s-app: no group of its own; its path leads to s-app
    assert found["s-web"].state.value == "DEGRADED"
    assert covers(found["s-web"]) == []
    assert found["s-web"].path[-1].to.key == "s-app"
    # DOWN entities (the start, and s-report, which has no alternative) have none
    assert covers(found["c-db1"]) == [] and covers(found["s-report"]) == []
    # asked not to, or in the reverse walk, nothing is named
    quiet = await impact(store, await ids(store, "c-db1"), redundancy=False)
    assert all(not e.node.saved_by for e in quiet.affected.edges)
    needs = await dependencies(store, await ids(store, "s-app"))
    assert all(not e.node.saved_by for e in needs.affected.edges)


async def test_two_groups_each_with_its_survivor(store: GraphStore, engine: IngestEngine) -> None:
    # one host carries the first database replica and the first app VM
    await graph(
        engine,
        """
        c-db1 RUNS_ON c-host
        c-vm1 RUNS_ON c-host
        s-app DEPENDS_ON c-db1 db
        s-app DEPENDS_ON c-db2 db
        s-app DEPENDS_ON c-db3 db
        s-app RUNS_ON c-vm1 vms
        s-app RUNS_ON c-vm2 vms
        """,
    )
    answer = await impact(store, await ids(store, "c-host"))
    app = nodes(answer)["s-app"]
    assert app.state.value == "DEGRADED"
    assert covers(app) == [
        ("db", 3, ["c-db1"], [("c-db2", False), ("c-db3", False)]),
        ("vms", 2, ["c-vm1"], [("c-vm2", False)]),
    ]


async def test_a_survivor_that_is_degraded_itself_says_so(
    store: GraphStore, engine: IngestEngine
) -> None:
    await graph(
        engine,
        """
        s-app DEPENDS_ON c-db1 db
        s-app DEPENDS_ON c-db2 db
        c-db2 RUNS_ON c-h1 hosts
        c-db2 RUNS_ON c-h2 hosts
        """,
    )
    answer = await impact(store, await ids(store, "c-db1", "c-h1"))
    found = nodes(answer)
    assert covers(found["c-db2"]) == [("hosts", 2, ["c-h1"], [("c-h2", False)])]
    assert covers(found["s-app"]) == [("db", 2, ["c-db1"], [("c-db2", True)])]


async def test_every_member_down_is_down_with_no_survivor(
    store: GraphStore, engine: IngestEngine
) -> None:
    await graph(engine, REDUNDANT)
    answer = await impact(store, await ids(store, "c-db1", "c-db2"))
    app = nodes(answer)["s-app"]
    assert app.state.value == "DOWN"
    assert app.saved_by == ()
    # the group also goes down through the walk: both replicas on one host
    await graph(engine, "c-db1 RUNS_ON c-host\nc-db2 RUNS_ON c-host")
    through = nodes(await impact(store, await ids(store, "c-host")))
    assert through["s-app"].state.value == "DOWN" and through["s-app"].saved_by == ()


async def test_a_member_beyond_max_depth_survives_unreached(
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
    cut = nodes(await impact(store, await ids(store, "c-host"), max_depth=2))
    assert "c-db2" not in cut
    assert covers(cut["s-app"]) == [("db", 2, ["c-db1"], [("c-db2", False)])]


async def test_saved_by_on_a_later_page_and_as_of(store: GraphStore, engine: IngestEngine) -> None:
    await graph(engine, REDUNDANT)
    then = (await store.stats()).last_commit
    assert then is not None
    start = await ids(store, "c-db1")
    first = await impact(store, start, first=1)
    assert [e.node.entity.key for e in first.affected.edges] == ["c-db1"]
    rest = nodes(await impact(store, start, after=first.affected.page_info.end_cursor))
    assert covers(rest["s-app"]) == [("db", 2, ["c-db1"], [("c-db2", False)])]
    # the group is renamed and a third replica joins it; as of before, the old group
    await load(
        engine,
        [ent("c-db1"), ent("c-db2"), ent("c-db3"), ent("s-app")],
        [
            rel("s-app", "DEPENDS_ON", "c-db1", redundancyGroup="db-ag"),
            rel("s-app", "DEPENDS_ON", "c-db2", redundancyGroup="db-ag"),
            rel("s-app", "DEPENDS_ON", "c-db3", redundancyGroup="db-ag"),
        ],
    )
    now = nodes(await impact(store, start))
    assert covers(now["s-app"]) == [("db-ag", 3, ["c-db1"], [("c-db2", False), ("c-db3", False)])]
    past = nodes(await impact(store, start, as_of=then))
    assert covers(past["s-app"]) == [("db", 2, ["c-db1"], [("c-db2", False)])]


async def test_a_retired_survivor_no_longer_keeps_the_group_up(
    store: GraphStore, engine: IngestEngine
) -> None:
    await graph(engine, REDUNDANT)
    await load(engine, relations=[rel("s-app", "DEPENDS_ON", "c-db2", "retired")])
    app = nodes(await impact(store, await ids(store, "c-db1")))["s-app"]
    # a group of one live member: its failure takes s-app down
    assert app.state.value == "DOWN" and app.saved_by == ()
