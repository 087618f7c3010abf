"""Durability and isolation of the embedded store.

* A writer killed with SIGKILL at a random moment loses no acknowledged batch
  and leaves no part of a batch behind; the store reopens by itself.
* Readers running while a long run is ingested see each batch whole or not at all.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from graphsvc.config import Settings
from graphsvc.errors import StoreCorrupted, StoreUnavailable
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.records import HistoryOp, ItemKind
from graphsvc.store.base import EntityQuery, GraphStore, ItemRef
from graphsvc.store.factory import store_from_settings

WRITER = Path(__file__).with_name("crash_writer.py")
ITEMS = 4000


async def batch_counts(store: GraphStore, batches: int) -> list[int]:
    out = []
    for i in range(batches):
        page = await store.find_entities(EntityQuery(text=f"b{i:04d}-"), first=0)
        out.append(page.total)
    return out


@pytest.mark.parametrize("trial", range(3))
async def test_kill_9_mid_batch_loses_no_acknowledged_batch_and_no_half_batch(
    tmp_path: Path, trial: int
) -> None:
    db = tmp_path / "crash.db"
    batches = 40
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(db), str(batches), str(ITEMS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acked: list[int] = []
    rng = random.Random(trial)
    target = rng.randint(1, 4)
    while len(acked) < target:
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"writer ended early: {proc.stderr.read() if proc.stderr else ''}")
        acked.append(int(line.split()[1]))
    time.sleep(rng.uniform(0.0, 0.6))  # land somewhere inside the next batch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # acknowledgements printed before the kill landed
    rest = proc.stdout.read()
    acked += [int(line.split()[1]) for line in rest.splitlines() if line.startswith("ACK")]

    store = store_from_settings(Settings(data=db))
    async with store:  # reopens by itself, takes the writer lock the dead process held
        counts = await batch_counts(store, batches)
        for i, n in enumerate(counts):
            assert n in (0, ITEMS), f"batch {i} is partly present: {n} of {ITEMS}"
            if i in acked:
                assert n == ITEMS, f"acknowledged batch {i} lost"
        stats = await store.stats()
        whole = sum(1 for n in counts if n == ITEMS)
        assert stats.entities == whole * ITEMS
        assert stats.relations == whole * ITEMS
        # history agrees with the graph: one creation event per entity and relation
        assert stats.history_events == 2 * whole * ITEMS
        if whole:
            first = (
                await store.resolve(
                    [
                        (
                            __import__(
                                "graphsvc.model.vocabulary", fromlist=["EntityKind"]
                            ).EntityKind.CONFIGURATION_ITEM,
                            "b0000-000000",
                        )
                    ]
                )
            )[0]
            assert first is not None
            page = await store.history(ItemRef(ItemKind.ENTITY, first), first=5)
            assert [e.op for e in page.items] == [HistoryOp.CREATED]
        # and the store takes new writes
        engine = IngestEngine(store)
        await engine.ingest(
            IngestBatch.model_validate(
                {"source": "after", "entities": [{"kind": "Team", "key": "t"}]}
            )
        )


async def test_second_writer_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    first = store_from_settings(Settings(data=db))
    async with first:
        second = store_from_settings(Settings(data=db))
        with pytest.raises(StoreUnavailable, match="open for writing by another graphsvc process"):
            await second.open()
        reader = store_from_settings(Settings(data=db), read_only=True)
        async with reader:
            assert (await reader.stats()).entities == 0


async def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "not.db"
    db.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreCorrupted, match="not a graphsvc store"):
        await store_from_settings(Settings(data=db)).open()


async def test_readers_see_whole_batches_only_while_a_run_is_ingested(tmp_path: Path) -> None:
    store = store_from_settings(Settings(data=tmp_path / "g.db", durability="normal"))
    per_batch = 2000
    seen: list[int] = []
    async with store:
        engine = IngestEngine(store)
        run = await engine.start_run("bulk")
        done = anyio.Event()

        async def writer() -> None:
            for i in range(6):
                entities = [{"kind": "Team", "key": f"r{i}-{n}"} for n in range(per_batch)]
                await engine.ingest(
                    IngestBatch.model_validate(
                        {"source": "bulk", "runId": run.run_id, "entities": entities}
                    )
                )
            done.set()

        async def reader() -> None:
            while not done.is_set():
                stats = await store.stats()
                page = await store.find_entities(EntityQuery(), first=0)
                seen.append(stats.entities)
                assert stats.entities % per_batch == 0, f"saw {stats.entities}: half a batch"
                assert page.total % per_batch == 0
                await anyio.sleep(0.001)

        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            tg.start_soon(reader)
        await engine.finish_run(run.run_id, complete=True)
    assert len(set(seen)) >= 2, "the reader never ran while the writer was committing"
