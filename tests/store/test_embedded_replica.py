"""Read replicas of the embedded store follow the writer through ``changelog`` (issue 17, 6).

A store opened read-only beside the writing one applies, on ``catch_up``, the
index updates the writer logged with each commit; after it, every lookup the
index serves (keys, aliases, identifiers, walks, attribute columns, statuses,
time travel) answers as the writer's does. A replica that fell behind the kept
log, or a store that was erased, is reloaded whole.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from graphsvc.demo import demo_batches
from graphsvc.errors import ReadOnlyStore
from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.store.base import GraphStore, TraversalSpec
from graphsvc.store.embedded.store import EmbeddedStore

TODAY = dt.date(2026, 12, 7)


async def lookups(store: GraphStore, n: int) -> dict[str, object]:
    """What the index answers: every key, identifier, walk, status and column."""
    stats = await store.stats()
    ids = list(range(1, n + 1))
    records = await store.entities(ids)
    keys = [(r.kind, key) for r in records if r is not None for key in (r.key, *r.aliases)]
    held: dict[EntityKind, list[tuple[str, str]]] = {}
    for r in records:
        if r is not None:
            held.setdefault(r.kind, []).extend(r.identifiers.items())
    walk = await store.traverse(
        TraversalSpec(ids, VOCABULARY.impact_steps, None, None, include_stale=True)
    )
    tiers = await store.attribute_column(np.asarray(ids, dtype=np.int64), "tier")
    return {
        "entities": stats.entities,
        "relations": stats.relations,
        "keys": await store.resolve(keys),
        "identifiers": {k: await store.resolve_identifiers(k, v) for k, v in held.items()},
        "records": [(r.id, r.status, r.attributes) if r else None for r in records],
        "walk": (walk.entities.tolist(), walk.depth.tolist()),
        "tiers": (tiers.codes.tolist(), list(tiers.values)),
    }


async def test_a_replica_answers_as_the_writer_after_catching_up(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    writer = EmbeddedStore(path, durability="normal")
    await writer.open()
    engine = IngestEngine(writer, IngestPolicy())
    await engine.ingest(demo_batches(TODAY)[0])
    replica = EmbeddedStore(path, read_only=True)
    await replica.open()
    try:
        for batch in demo_batches(TODAY)[1:]:
            await engine.ingest(batch)
        # a merge (two keys, one serial), a retirement, an update
        await engine.ingest(
            IngestBatch.model_validate(
                {
                    "source": "cmdb",
                    "entities": [
                        {
                            "kind": "ConfigurationItem",
                            "key": "srv-a",
                            "identifiers": {"serial": "S1"},
                            "attributes": {"ciClass": "server"},
                        },
                        {
                            "kind": "ConfigurationItem",
                            "key": "srv-b",
                            "identifiers": {"serial": "S1"},
                        },
                        {"kind": "Service", "key": "billing", "attributes": {"tier": 1}},
                    ],
                }
            )
        )
        n = (await writer.stats()).entities + 5
        assert await lookups(replica, n) != await lookups(writer, n)  # behind
        caught = await replica.catch_up()
        assert caught.applied >= 2 and not caught.reloaded and caught.last_commit is not None
        assert await lookups(replica, n) == await lookups(writer, n)
        assert (await replica.catch_up()).applied == 0  # nothing new
    finally:
        await replica.close()
        await writer.close()


async def test_a_replica_refuses_writes_naming_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    async with EmbeddedStore(path) as writer:
        await IngestEngine(writer, IngestPolicy()).ingest(demo_batches(TODAY)[0])
        async with EmbeddedStore(path, read_only=True) as replica:
            with pytest.raises(ReadOnlyStore, match=r"read replica of .*g\.db.*process \d+"):
                await IngestEngine(replica, IngestPolicy()).ingest(demo_batches(TODAY)[1])


async def test_a_replica_far_behind_or_of_an_erased_store_reloads(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    writer = EmbeddedStore(path, durability="normal")
    await writer.open()
    engine = IngestEngine(writer, IngestPolicy())
    batches = demo_batches(TODAY)
    await engine.ingest(batches[0])
    replica = EmbeddedStore(path, read_only=True)
    await replica.open()
    try:
        for batch in batches[1:]:
            await engine.ingest(batch)
        with sqlite3.connect(path) as raw:  # the log the replica needs was pruned
            raw.execute("DELETE FROM changelog WHERE seq <= (SELECT max(seq) - 1 FROM changelog)")
        caught = await replica.catch_up()
        assert caught.reloaded
        n = (await writer.stats()).entities + 5
        assert await lookups(replica, n) == await lookups(writer, n)
        await writer.erase()
        await engine.ingest(batches[0])
        assert (await replica.catch_up()).reloaded
        assert await lookups(replica, n) == await lookups(writer, n)
    finally:
        await replica.close()
        await writer.close()
