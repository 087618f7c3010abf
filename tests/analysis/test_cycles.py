"""Dependency cycles over the whole graph, on both stores."""

from __future__ import annotations

from graphsvc.analysis.cycles import CycleGroup, dependency_cycles
from graphsvc.ingest.engine import IngestEngine
from graphsvc.store.base import GraphStore
from tests.analysis.helpers import ent, graph, load, rel

CYCLES = """
s-a DEPENDS_ON s-b
s-b DEPENDS_ON s-c
s-c DEPENDS_ON s-a
s-c RUNS_ON c-vm
c-vm PART_OF c-rack
s-x DEPENDS_ON s-y
s-y DEPENDS_ON s-x
s-y DEPENDS_ON c-db
c-db RUNS_ON c-host
c-host2 PART_OF c-host
c-host2 RUNS_ON c-host
t-ops OWNS s-a
"""


def closes(group: CycleGroup) -> None:
    """Each step's failure flows to the next; the last leads back to the first."""
    flows = []
    for s in group.cycle:
        # impact flows to -> from for DEPENDS_ON/RUNS_ON, from -> to for PART_OF
        flows.append((s.to.id, s.from_.id) if s.type.value != "PART_OF" else (s.from_.id, s.to.id))
    for (_, b), (c, _) in zip(flows, flows[1:] + flows[:1], strict=True):
        assert b == c
    members = {m.id for m in group.members}
    assert all(a in members and b in members for a, b in flows)


async def test_groups_largest_first_each_with_a_closed_cycle(
    store: GraphStore, engine: IngestEngine
) -> None:
    await graph(engine, CYCLES)
    report = await dependency_cycles(store)
    assert [[m.key for m in g.members] for g in report.groups] == [
        ["s-a", "s-b", "s-c"],
        ["c-host", "c-host2"],
        ["s-x", "s-y"],
    ]
    assert [len(g.cycle) for g in report.groups] == [3, 2, 2]
    for g in report.groups:
        closes(g)
    assert report.entities == 7
    assert report.relations == 11  # every impact-carrying relation (OWNS is not one)
    then = (await store.stats()).last_commit
    # retiring a relation breaks its cycle; a retired entity takes its cycles with it
    await load(
        engine,
        [ent("s-x", status="retired")],
        [rel("s-c", "DEPENDS_ON", "s-a", status="retired")],
    )
    after = await dependency_cycles(store)
    assert [[m.key for m in g.members] for g in after.groups] == [["c-host", "c-host2"]]
    # as of before: the three groups again
    past = await dependency_cycles(store, as_of=then)
    assert len(past.groups) == 3 and past.as_of == then


async def test_no_cycles_in_a_tree_or_an_empty_graph(
    store: GraphStore, engine: IngestEngine
) -> None:
    assert (await dependency_cycles(store)).groups == ()
    await graph(engine, "s-a DEPENDS_ON s-b\ns-b RUNS_ON c-x\ns-a RUNS_ON c-x")
    report = await dependency_cycles(store)
    assert report.groups == () and report.entities == 0 and report.relations == 3
