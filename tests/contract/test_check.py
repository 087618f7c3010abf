"""``check`` on every backend: a store written only through the port checks clean."""

from __future__ import annotations

from graphsvc.ingest.engine import IngestEngine
from graphsvc.store.base import GraphStore
from tests.contract.helpers import CI, SVC, batch, ent, rel


async def test_a_store_written_through_the_engine_checks_clean(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch(
            entities=[
                {**ent(CI, "a"), "identifiers": {"serial": "S1", "ipAddress": "10.0.0.1"}},
                {**ent(CI, "b"), "identifiers": {"ipAddress": "10.0.0.1"}},  # a conflict
                ent(SVC, "app"),
            ],
            relations=[rel("RUNS_ON", (SVC, "app"), (CI, "a"))],
        )
    )
    await engine.ingest(batch(entities=[{**ent(CI, "a"), "status": "retired"}]))
    await engine.ingest(
        batch(entities=[{**ent(CI, "c"), "identifiers": {"ipAddress": "10.0.0.1"}}])
    )
    report = await store.check()
    assert report.clean, report.findings
    assert {"integrity", "history", "identifiers", "index"} <= set(report.checks)
