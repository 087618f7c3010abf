"""Values at the edges of what each backend's types hold, and batches past its chunk sizes.

Both hold 64-bit integers, doubles and any Unicode text in attributes
(attributes travel as JSON text; only indexed ones are mirrored as Neo4j
properties); integers beyond 64 bits are refused at validation (issue 16);
a batch larger than one ``UNWIND`` chunk (5,000 rows) must still be one
transaction, and its ``MERGE``s must plan on unique indexes (a batch of
30,000 once ran for minutes on a young database).
"""

from __future__ import annotations

from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.store.base import EntityQuery, GraphStore, TraversalSpec
from tests.contract.helpers import SVC, batch, ent, entity_id, get, rel


async def test_numbers_and_text_at_the_edges_read_back_unchanged(
    store: GraphStore, engine: IngestEngine
) -> None:
    values = {
        "tier": 4,
        "bigCounter": 2**63 - 1,  # the largest int64
        "smallCounter": -(2**63),  # the smallest int64
        "load": 1.7976931348623157e308,
        "note": "caf\u00e9 \u2603 \U0001f600 " + "x" * 5000,
        "nested": {"a": [1, 2.5, None, True, {"b": "c"}]},
    }
    await engine.ingest(batch(entities=[ent(SVC, "edge", **values), ent(SVC, "plain", tier=2)]))
    record = await get(store, SVC, "edge")
    assert record.attributes == values
    column = await store.attribute_column([await entity_id(store, SVC, "edge")], "tier")
    assert column.values[column.codes[0]] == 4
    found = await store.find_entities(EntityQuery(attributes={"bigCounter": 2**63 - 1}), first=10)
    assert [e.key for e in found.items] == ["edge"]
    found = await store.find_entities(EntityQuery(attributes={"tier": 4}), first=10)
    assert [e.key for e in found.items] == ["edge"]
    found = await store.find_entities(EntityQuery(attributes={"tier": 2}), first=10)
    assert [e.key for e in found.items] == ["plain"]


async def test_a_batch_larger_than_one_chunk_is_one_transaction(
    store: GraphStore, engine: IngestEngine
) -> None:
    n = 5_200
    big = batch(
        entities=[ent(SVC, f"b{i}") for i in range(n)],
        relations=[rel("DEPENDS_ON", (SVC, f"b{i}"), (SVC, f"b{i + 1}")) for i in range(n - 1)],
    )
    summary = await engine.ingest(big)
    assert (summary.entities_created, summary.relations_created) == (n, n - 1)
    again = await engine.ingest(big)
    assert (again.entities_unchanged, again.relations_unchanged) == (n, n - 1)
    stats = await store.stats()
    assert (stats.entities, stats.relations, stats.history_events) == (n, n - 1, 2 * n - 1)
    last = (await store.resolve([(EntityKind.SERVICE, f"b{n - 1}")]))[0]
    assert last is not None
    walk = await store.traverse(TraversalSpec([last], VOCABULARY.impact_steps))
    assert len(walk) == n  # the whole chain depends on its last service
