"""``step_edges``: every relation a walk could take, over the whole graph, against every backend."""

from __future__ import annotations

from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.vocabulary import VOCABULARY
from graphsvc.store.base import EntityQuery, GraphStore, StepEdges, TraversalSpec
from tests.contract.helpers import CI, SVC, TEAM, batch, ent, entity_id, rel

IMPACT = VOCABULARY.impact_steps


def triples(edges: StepEdges) -> list[tuple[int, int, int]]:
    return list(
        zip(edges.relation.tolist(), edges.source.tolist(), edges.target.tolist(), strict=True)
    )


async def walked_from_everything(store: GraphStore, **kw: object) -> set[tuple[int, int, int]]:
    """What ``traverse`` collects when it starts from every entity (the slow definition)."""
    page = await store.find_entities(EntityQuery(), first=100)
    ids = [r.id for r in page.items]
    walk = await store.traverse(TraversalSpec(ids, IMPACT, collect_edges=True, **kw))  # type: ignore[arg-type]
    assert walk.edges is not None
    ent = walk.entities.tolist()
    return {
        (r, ent[s], ent[t])
        for r, s, t in zip(
            walk.edges.relation.tolist(),
            walk.edges.source.tolist(),
            walk.edges.target.tolist(),
            strict=True,
        )
    }


async def test_impact_edges_of_the_whole_graph(store: GraphStore, engine: IngestEngine) -> None:
    await engine.ingest(
        batch(
            entities=[
                ent(SVC, "s-a"),
                ent(SVC, "s-b"),
                ent(CI, "c-x"),
                ent(CI, "c-y"),
                ent(CI, "c-gone"),
                ent(TEAM, "t-ops"),
            ],
            relations=[
                rel("DEPENDS_ON", (SVC, "s-a"), (SVC, "s-b")),
                rel("DEPENDS_ON", (SVC, "s-b"), (SVC, "s-a"), redundancyGroup="g"),
                rel("RUNS_ON", (SVC, "s-b"), (CI, "c-x")),
                rel("PART_OF", (CI, "c-x"), (CI, "c-y")),
                rel("DEPENDS_ON", (SVC, "s-a"), (CI, "c-gone")),
                rel("RUNS_ON", (SVC, "s-a"), (CI, "c-y")),
                rel("OWNS", (TEAM, "t-ops"), (SVC, "s-a")),
            ],
        )
    )
    then = (await store.stats()).last_commit
    assert then is not None
    # later: c-gone and the relation s-a RUNS_ON c-y are retired, s-b DEPENDS_ON c-y is new
    await engine.ingest(
        batch(
            entities=[{**ent(CI, "c-gone"), "status": "retired"}],
            relations=[
                {**rel("RUNS_ON", (SVC, "s-a"), (CI, "c-y")), "status": "retired"},
                rel("DEPENDS_ON", (SVC, "s-b"), (CI, "c-y")),
            ],
        )
    )
    a, b, x, y, gone = [
        await entity_id(store, k, key)
        for k, key in ((SVC, "s-a"), (SVC, "s-b"), (CI, "c-x"), (CI, "c-y"), (CI, "c-gone"))
    ]
    now = await store.step_edges(IMPACT)
    got = {(s, t) for _, s, t in triples(now)}
    # impact flows: needed -> dependent for DEPENDS_ON/RUNS_ON, part -> whole for PART_OF
    assert got == {(b, a), (a, b), (x, b), (x, y), (y, b)}
    assert now.relation.tolist() == sorted(now.relation.tolist())
    assert set(triples(now)) == await walked_from_everything(store)
    past = await store.step_edges(IMPACT, as_of=then)
    assert {(s, t) for _, s, t in triples(past)} == {
        (b, a),
        (a, b),
        (x, b),
        (x, y),
        (gone, a),
        (y, a),
    }
    assert set(triples(past)) == await walked_from_everything(store, as_of=then)
    # the reverse steps give the same relations the other way round
    back = await store.step_edges(VOCABULARY.dependency_steps)
    assert {(t, s) for _, s, t in triples(back)} == got
    # no steps, nothing; only PART_OF, only it
    assert len(await store.step_edges([])) == 0
    part_of = [s for s in IMPACT if s.type.value == "PART_OF"]
    assert {(s, t) for _, s, t in triples(await store.step_edges(part_of))} == {(x, y)}
