"""The traversal primitive and the read side of the port, against every backend."""

from __future__ import annotations

from datetime import timedelta

from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.vocabulary import VOCABULARY, Direction, EntityKind, RelationType, TraversalStep
from graphsvc.store.base import EntityQuery, GraphStore, Traversal, TraversalSpec
from tests.contract.helpers import CI, SVC, TEAM, batch, ent, entity_id, rel

IMPACT = VOCABULARY.impact_steps


async def keys_of(store: GraphStore, t: Traversal) -> list[str]:
    records = await store.entities(t.entities.tolist())
    return [r.key for r in records if r is not None]


async def walk(store: GraphStore, start: list[str], **kw: object) -> Traversal:
    ids = [await entity_id(store, SVC if s.startswith("s") else CI, s) for s in start]
    return await store.traverse(TraversalSpec(ids, kw.pop("steps", IMPACT), **kw))  # type: ignore[arg-type]


async def diamond(engine: IngestEngine) -> None:
    """s-top depends on s-left and s-right, both run on c-base; c-base runs on c-host."""
    await engine.ingest(
        batch(
            entities=[
                ent(SVC, "s-top"),
                ent(SVC, "s-left"),
                ent(SVC, "s-right"),
                ent(CI, "c-base"),
                ent(CI, "c-host"),
            ],
            relations=[
                rel("DEPENDS_ON", (SVC, "s-top"), (SVC, "s-left")),
                rel("DEPENDS_ON", (SVC, "s-top"), (SVC, "s-right")),
                rel("RUNS_ON", (SVC, "s-left"), (CI, "c-base")),
                rel("RUNS_ON", (SVC, "s-right"), (CI, "c-base")),
                rel("RUNS_ON", (CI, "c-base"), (CI, "c-host")),
            ],
        )
    )


async def test_impact_walks_against_dependency_direction_with_depth_and_parents(
    store: GraphStore, engine: IngestEngine
) -> None:
    await diamond(engine)
    t = await walk(store, ["c-host"])
    keys = await keys_of(store, t)
    assert keys[0] == "c-host"
    assert dict(zip(keys, t.depth.tolist(), strict=True)) == {
        "c-host": 0,
        "c-base": 1,
        "s-left": 2,
        "s-right": 2,
        "s-top": 3,
    }
    # following parents gives a shortest path back to the start
    top = keys.index("s-top")
    path = []
    i = top
    while t.parent[i] >= 0:
        path.append(keys[i])
        i = int(t.parent[i])
    path.append(keys[i])
    assert path[0] == "s-top" and path[-1] == "c-host" and len(path) == 4
    vias = await store.relations_by_id([int(t.via[top])])
    assert vias[0] is not None and vias[0].type is RelationType.DEPENDS_ON


async def test_depth_limit_and_dependencies_direction(
    store: GraphStore, engine: IngestEngine
) -> None:
    await diamond(engine)
    t = await walk(store, ["c-host"], max_depth=1)
    assert sorted(await keys_of(store, t)) == ["c-base", "c-host"]
    down = await walk(store, ["s-top"], steps=VOCABULARY.dependency_steps)
    assert sorted(await keys_of(store, down)) == ["c-base", "c-host", "s-left", "s-right", "s-top"]


async def test_cycles_are_walked_once(store: GraphStore, engine: IngestEngine) -> None:
    await engine.ingest(
        batch(
            entities=[ent(SVC, "s-a"), ent(SVC, "s-b"), ent(SVC, "s-c")],
            relations=[
                rel("DEPENDS_ON", (SVC, "s-a"), (SVC, "s-b")),
                rel("DEPENDS_ON", (SVC, "s-b"), (SVC, "s-c")),
                rel("DEPENDS_ON", (SVC, "s-c"), (SVC, "s-a")),
            ],
        )
    )
    t = await walk(store, ["s-a"])
    assert sorted(await keys_of(store, t)) == ["s-a", "s-b", "s-c"]
    assert len(set(t.entities.tolist())) == 3


async def test_part_of_carries_impact_upwards_and_kinds_are_respected(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch(
            entities=[
                ent(CI, "c-disk"),
                ent(CI, "c-array"),
                ent(TEAM, "t-ops"),
                ent(TEAM, "t-infra"),
            ],
            relations=[
                rel("PART_OF", (CI, "c-disk"), (CI, "c-array")),
                rel("PART_OF", (TEAM, "t-ops"), (TEAM, "t-infra")),
                rel("OWNS", (TEAM, "t-ops"), (CI, "c-disk")),
            ],
        )
    )
    t = await walk(store, ["c-disk"])
    assert sorted(await keys_of(store, t)) == ["c-array", "c-disk"]  # owners are not impacted
    team = await entity_id(store, TEAM, "t-ops")
    t2 = await store.traverse(TraversalSpec([team], IMPACT))
    assert t2.entities.tolist() == [team]  # team hierarchy carries no impact


async def test_retired_is_never_walked_and_stale_is_flagged(
    store: GraphStore, engine: IngestEngine
) -> None:
    await diamond(engine)
    await engine.ingest(batch(entities=[{**ent(SVC, "s-left"), "status": "retired"}]))
    t = await walk(store, ["c-host"])
    assert "s-left" not in await keys_of(store, t)
    # make c-base stale: a complete run of its only source without it
    await engine.ingest(
        batch(
            source="disco",
            entities=[ent(CI, "c-host"), ent(CI, "c-base")],
            relations=[rel("RUNS_ON", (CI, "c-base"), (CI, "c-host"))],
            complete=True,
        )
    )
    await engine.ingest(batch(source="disco", entities=[ent(CI, "c-host")], complete=True))
    # cmdb still asserts c-base, so it stays active: retire cmdb's view too
    t = await walk(store, ["c-host"])
    stale = {k for k, s in zip(await keys_of(store, t), t.stale.tolist(), strict=True) if s}
    assert stale == set()
    await engine.ingest(batch(source="cmdb", entities=[ent(CI, "c-host")], complete=True))
    t = await walk(store, ["c-host"], include_stale=True)
    keys = await keys_of(store, t)
    stale = {k for k, s in zip(keys, t.stale.tolist(), strict=True) if s}
    assert "c-base" in stale
    t_active = await walk(store, ["c-host"], include_stale=False)
    assert await keys_of(store, t_active) == ["c-host"]


async def test_collect_edges_reports_redundancy_groups(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch(
            entities=[ent(SVC, "s-app"), ent(CI, "c-db1"), ent(CI, "c-db2"), ent(CI, "c-db3")],
            relations=[
                rel("DEPENDS_ON", (SVC, "s-app"), (CI, "c-db1"), redundancyGroup="db"),
                rel("DEPENDS_ON", (SVC, "s-app"), (CI, "c-db2"), redundancyGroup="db"),
                rel("RUNS_ON", (SVC, "s-app"), (CI, "c-db3")),
            ],
        )
    )
    t = await walk(store, ["c-db1", "c-db3"], collect_edges=True)
    assert t.edges is not None
    keys = await keys_of(store, t)
    edges = {
        (keys[s], keys[d], g >= 0, n)
        for s, d, g, n in zip(
            t.edges.source.tolist(),
            t.edges.target.tolist(),
            t.edges.group.tolist(),
            t.edges.group_size.tolist(),
            strict=True,
        )
    }
    assert edges == {("c-db1", "s-app", True, 2), ("c-db3", "s-app", False, 0)}


async def test_neighbours_one_hop(store: GraphStore, engine: IngestEngine) -> None:
    await diamond(engine)
    base = await entity_id(store, CI, "c-base")
    n = await store.neighbours(
        [base],
        [
            TraversalStep(
                RelationType.RUNS_ON, Direction.IN, frozenset(EntityKind), frozenset(EntityKind)
            )
        ],
    )
    names = await store.entities(n.entity.tolist())
    assert sorted(r.key for r in names if r) == ["s-left", "s-right"]
    assert set(n.origin.tolist()) == {0}


async def test_traversal_as_of_sees_the_graph_then(store: GraphStore, engine: IngestEngine) -> None:
    await diamond(engine)
    then = (await store.stats()).last_commit
    assert then is not None
    # later: s-right is retired and a new service appears on c-base
    await engine.ingest(
        batch(
            entities=[{**ent(SVC, "s-right"), "status": "retired"}, ent(SVC, "s-new")],
            relations=[rel("RUNS_ON", (SVC, "s-new"), (CI, "c-base"))],
        )
    )
    now = sorted(await keys_of(store, await walk(store, ["c-base"])))
    past = sorted(await keys_of(store, await walk(store, ["c-base"], as_of=then)))
    assert now == ["c-base", "s-left", "s-new", "s-top"]
    assert past == ["c-base", "s-left", "s-right", "s-top"]
    before_all = await walk(store, ["c-base"], as_of=then - timedelta(days=1))
    assert len(before_all) == 0


async def test_entity_pages_with_filters_and_totals(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch(
            entities=[ent(SVC, f"svc-{i:02d}", tier=1 + i % 4) for i in range(25)]
            + [ent(CI, "c-x", environment="prod")]
        )
    )
    page1 = await store.find_entities(EntityQuery(kind=EntityKind.SERVICE), first=10)
    assert page1.total == 25 and page1.has_next and len(page1.items) == 10
    page3 = await store.find_entities(
        EntityQuery(kind=EntityKind.SERVICE),
        first=10,
        after=(
            await store.find_entities(EntityQuery(kind=EntityKind.SERVICE), first=20)
        ).end_cursor,
    )
    assert len(page3.items) == 5 and not page3.has_next
    tier1 = await store.find_entities(
        EntityQuery(kind=EntityKind.SERVICE, attributes={"tier": 1}), first=100
    )
    assert tier1.total == 7
    text = await store.find_entities(EntityQuery(text="SVC-1"), first=100)
    assert sorted(r.key for r in text.items) == [f"svc-{i}" for i in range(10, 20)]
    prod = await store.find_entities(EntityQuery(attributes={"environment": "prod"}), first=5)
    assert [r.key for r in prod.items] == ["c-x"]
