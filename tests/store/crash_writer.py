"""Writer process for the crash test: ingests tagged batches and acknowledges each.

Usage: python crash_writer.py DB BATCHES ITEMS. Prints ``ACK <i>`` (flushed) after
batch ``i`` committed. Every batch ``i`` holds ITEMS configuration items keyed
``b<i>-<n>`` and ITEMS relations between them, so a reader can tell a whole
batch from part of one.
"""

from __future__ import annotations

import sys

import anyio

from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.store.factory import store_from_settings


def make_batch(i: int, items: int) -> IngestBatch:
    entities = [
        {
            "kind": "ConfigurationItem",
            "key": f"b{i:04d}-{n:06d}",
            "attributes": {"ciClass": "vm", "batch": i},
        }
        for n in range(items)
    ]
    relations = [
        {
            "type": "RUNS_ON",
            "from": {"kind": "ConfigurationItem", "key": f"b{i:04d}-{n:06d}"},
            "to": {"kind": "ConfigurationItem", "key": f"b{i:04d}-{(n + 1) % items:06d}"},
        }
        for n in range(items)
    ]
    return IngestBatch.model_validate(
        {"source": "crash", "entities": entities, "relations": relations}
    )


async def main(path: str, batches: int, items: int) -> None:
    store = store_from_settings(Settings(data=path, durability="full"))
    async with store:
        engine = IngestEngine(store)
        for i in range(batches):
            await engine.ingest(make_batch(i, items))
            print(f"ACK {i}", flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
