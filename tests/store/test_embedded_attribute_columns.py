"""The embedded store's in-memory attribute columns survive a reopen and stay compact."""

from __future__ import annotations

from pathlib import Path

from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.embedded.store import EmbeddedStore


async def test_columns_are_rebuilt_on_open_and_large_dictionaries_are_compacted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "g.db"
    entities = [
        {
            "kind": "Service",
            "key": f"s{i}",
            "attributes": {"capability": f"cap-{i}", "tier": 1 + i % 4},
        }
        for i in range(600)
    ]
    async with EmbeddedStore(path, durability="normal") as store:
        await IngestEngine(store).ingest(
            IngestBatch.model_validate({"source": "t", "entities": entities})
        )
    async with EmbeddedStore(path, read_only=True) as store:
        ids = await store.resolve([(EntityKind.SERVICE, f"s{i}") for i in (5, 599, 5)])
        assert None not in ids
        wanted = [i for i in ids if i is not None]
        caps = await store.attribute_column(wanted, "capability")
        assert caps.decoded() == ["cap-5", "cap-599", "cap-5"]
        assert len(caps.values) == 2  # only the values asked for, not all 600
        tiers = await store.attribute_column(wanted, "tier")
        assert tiers.decoded() == [2, 4, 2]
