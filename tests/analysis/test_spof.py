"""Single points of failure of one service, on both stores (fixed cases; the property is in
test_spof_property.py)."""

from __future__ import annotations

import pytest

from graphsvc.analysis.spof import SinglePoints, single_points_of_failure
from graphsvc.errors import InvalidInput, NotFound
from graphsvc.ingest.engine import IngestEngine
from graphsvc.store.base import GraphStore
from tests.analysis.helpers import eid, ent, graph, load

SHARED_HOST = """
s-web DEPENDS_ON s-app
s-app DEPENDS_ON c-db1 db
s-app DEPENDS_ON c-db2 db
s-app RUNS_ON c-vm
c-db1 RUNS_ON c-host
c-db2 RUNS_ON c-host
c-db3 RUNS_ON c-host2
s-app DEPENDS_ON c-cache caches
s-app DEPENDS_ON c-db3 caches
s-a DEPENDS_ON s-b
s-b DEPENDS_ON s-a
s-b DEPENDS_ON c-x
t-ops OWNS s-web
"""


def keyed(answer: SinglePoints) -> dict[str, list[str]]:
    """Single point key -> its path as 'from TYPE to' steps."""
    return {
        p.entity.key: [f"{s.from_.key} {s.type.value} {s.to.key}" for s in p.path]
        for p in answer.points
    }


async def test_shared_host_of_a_redundancy_group_is_a_single_point(
    store: GraphStore, engine: IngestEngine
) -> None:
    await graph(engine, SHARED_HOST)
    answer = await single_points_of_failure(store, await eid(store, "s-web"))
    assert answer.service.key == "s-web"
    # c-db1/c-db2 and the cache group's members are covered; the host of both db replicas is not
    replica = keyed(answer)["c-host"][0].split()[0]  # the walk's shortest path: one replica
    assert replica in ("c-db1", "c-db2")
    assert keyed(answer) == {
        "s-app": ["s-web DEPENDS_ON s-app"],
        "c-vm": ["s-app RUNS_ON c-vm", "s-web DEPENDS_ON s-app"],
        "c-host": [
            f"{replica} RUNS_ON c-host",
            f"s-app DEPENDS_ON {replica}",
            "s-web DEPENDS_ON s-app",
        ],
    }
    assert [p.depth for p in answer.points] == [1, 2, 3]
    # s-app, c-db1..3, c-cache, c-vm, c-host, c-host2
    assert answer.dependencies == 8


async def test_cycle_members_take_each_other_down(store: GraphStore, engine: IngestEngine) -> None:
    await graph(engine, SHARED_HOST)
    answer = await single_points_of_failure(store, await eid(store, "s-a"))
    assert keyed(answer) == {
        "s-b": ["s-a DEPENDS_ON s-b"],
        "c-x": ["s-b DEPENDS_ON c-x", "s-a DEPENDS_ON s-b"],
    }
    leaf = await single_points_of_failure(store, await eid(store, "c-x"))
    assert leaf.points == () and leaf.dependencies == 0


async def test_refused_and_empty_cases(store: GraphStore, engine: IngestEngine) -> None:
    await graph(engine, SHARED_HOST)
    with pytest.raises(NotFound, match="no entity has id 987654"):
        await single_points_of_failure(store, 987654)
    with pytest.raises(InvalidInput, match="Team 't-ops' is not a Service or ConfigurationItem"):
        await single_points_of_failure(store, await eid(store, "t-ops"))
    # a retired service is never DOWN: nothing takes it down
    await load(engine, [ent("s-web", status="retired")])
    gone = await single_points_of_failure(store, await eid(store, "s-web"))
    assert gone.points == () and gone.dependencies == 0
    # a retired dependency is not walked: the app no longer has c-vm as a single point
    await load(engine, [ent("c-vm", status="retired")])
    app = await single_points_of_failure(store, await eid(store, "s-app"))
    assert set(keyed(app)) == {"c-host"}
