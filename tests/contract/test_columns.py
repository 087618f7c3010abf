"""Whole-graph column reads (entity_columns, relation_columns, entity_assertions) on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.vocabulary import VOCABULARY, EntityKind, RelationType, Status
from graphsvc.store.base import GraphStore
from tests.contract.helpers import CI, SVC, batch, ent, entity_id, rel

DEPS = frozenset({RelationType.DEPENDS_ON, RelationType.RUNS_ON})


async def test_columns_now_and_as_of(store: GraphStore, engine: IngestEngine) -> None:
    await engine.ingest(
        batch(
            entities=[ent(SVC, "a"), ent(CI, "db"), ent(CI, "old")],
            relations=[
                rel("DEPENDS_ON", (SVC, "a"), (CI, "db")),
                rel("RUNS_ON", (SVC, "a"), (CI, "old")),
            ],
        )
    )
    t0 = datetime.now(UTC)
    await engine.ingest(batch(entities=[{**ent(CI, "old"), "status": "retired"}, ent(CI, "new")]))
    await engine.ingest(batch(source="k8s", scope="prod", complete=True, entities=[ent(CI, "db")]))
    a, db, old, new = [
        await entity_id(store, k, key)
        for k, key in [(SVC, "a"), (CI, "db"), (CI, "old"), (CI, "new")]
    ]
    now = await store.entity_columns()
    assert now.ids.tolist() == sorted([a, db, old, new])
    status = dict(zip(now.ids.tolist(), now.statuses.tolist(), strict=True))
    assert status[old] == Status.RETIRED.code and status[db] == Status.ACTIVE.code
    cis = await store.entity_columns(frozenset({EntityKind.CONFIGURATION_ITEM}))
    assert set(cis.ids.tolist()) == {db, old, new}
    assert set(cis.kinds.tolist()) == {VOCABULARY.kind_code(EntityKind.CONFIGURATION_ITEM)}
    then = await store.entity_columns(as_of=t0)
    assert sorted(then.ids.tolist()) == sorted([a, db, old])  # new did not exist
    assert set(then.statuses.tolist()) == {Status.ACTIVE.code}  # old was not retired yet

    deps = await store.relation_columns(DEPS)
    pairs = {(f, t) for f, t in zip(deps.from_ids.tolist(), deps.to_ids.tolist(), strict=True)}
    assert pairs == {(a, db), (a, old)}
    assert len(await store.relation_columns(frozenset({RelationType.OWNS}))) == 0

    asserted = await store.entity_assertions()
    rows = {
        (asserted.assertors[w], e)
        for w, e in zip(asserted.assertor.tolist(), asserted.entity.tolist(), strict=True)
    }
    assert (("k8s", "prod"), db) in rows
    assert {e for (who, e) in rows if who[0] == "cmdb"} >= {a, db, new}
