"""Bulk reads of indexed attributes and walk kinds, against every backend."""

from __future__ import annotations

import numpy as np
import pytest

from graphsvc.errors import InvalidInput
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.store.base import GraphStore, TraversalSpec
from tests.contract.helpers import CI, SVC, batch, ent, entity_id, merge, rel


async def test_attribute_column_reads_current_values_and_follows_updates(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch(
            entities=[
                ent(SVC, "a", tier=1, capability="billing"),
                ent(SVC, "b", tier=3),
                ent(SVC, "c"),
                ent(CI, "db", ciClass="database"),
            ]
        )
    )
    ids = [await entity_id(store, k, key) for k, key in [(SVC, "a"), (SVC, "b"), (SVC, "c")]]
    db = await entity_id(store, CI, "db")
    tiers = await store.attribute_column([*ids, db, 10_000_000], "tier")
    assert tiers.decoded() == [1, 3, None, None, None]
    assert tiers.codes.dtype == np.int32 and tiers.value(0) == 1
    classes = await store.attribute_column(np.asarray([db, ids[0]], dtype=np.int64), "ciClass")
    assert classes.decoded() == ["database", None]
    assert (await store.attribute_column([], "tier")).decoded() == []

    t1 = (await store.stats()).last_commit
    assert t1 is not None
    # a later batch changes a tier, removes one and adds one
    await engine.ingest(
        batch(entities=[ent(SVC, "a", tier=2, capability="billing"), ent(SVC, "c", tier=4)])
    )
    await engine.ingest(batch(source="cmdb", entities=[ent(SVC, "b", tier=None)]))
    assert (await store.attribute_column(ids, "tier")).decoded() == [2, None, 4]
    assert (await store.attribute_column(ids, "tier", as_of=t1)).decoded() == [1, 3, None]
    assert (await store.attribute_column(ids, "capability")).decoded() == ["billing", None, None]


async def test_attribute_column_answers_merged_ids_with_the_survivor(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch(
            entities=[ent(CI, "ip-1", ciClass="host"), ent(CI, "snow-1", ciClass="server")],
        )
    )
    loser = await entity_id(store, CI, "snow-1")
    survivor = await entity_id(store, CI, "ip-1")
    await merge(store, loser, survivor)
    column = await store.attribute_column([loser, survivor], "ciClass")
    assert column.decoded() == ["host", "host"]


async def test_attribute_column_refuses_attributes_that_are_not_indexed(
    store: GraphStore,
) -> None:
    assert "tier" in VOCABULARY.indexed_attributes
    with pytest.raises(InvalidInput, match="not indexed"):
        await store.attribute_column([1], "serial")


async def test_traversal_reports_the_kind_of_every_reached_entity(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch(
            entities=[ent(SVC, "web"), ent(CI, "vm")],
            relations=[rel("RUNS_ON", (SVC, "web"), (CI, "vm"))],
        )
    )
    vm = await entity_id(store, CI, "vm")
    walk = await store.traverse(TraversalSpec([vm, vm, 10_000_000], VOCABULARY.impact_steps))
    kinds = [VOCABULARY.kind_from_code(int(k)) for k in walk.kind]
    assert kinds == [EntityKind.CONFIGURATION_ITEM, EntityKind.SERVICE]
    assert walk.depth.tolist() == [0, 1]
