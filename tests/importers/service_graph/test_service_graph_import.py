"""Service graph importer through run_import into the embedded store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.runner import EngineSink, ImportReport, run_import
from graphsvc.model.vocabulary import Direction, EntityKind, Status
from graphsvc.store.base import EntityQuery, GraphStore
from importers.service_graph import ServiceGraphImporter

DATA = Path(__file__).parents[2] / "data" / "service_graph"
FILES = (
    "jaeger-ui-dependencies-small.json",
    "kiali-test_service_graph.expected.json",
    "otel-servicegraphconnector-extra-dimensions-queue-db-expected-metrics.yaml",
)


async def run(engine: IngestEngine, paths: list[Path]) -> ImportReport:
    return await run_import(
        ServiceGraphImporter(), paths, EngineSink(engine), source="tracing", scope="mesh/east"
    )


async def keys_with(store: GraphStore, status: Status) -> list[str]:
    page = await store.find_entities(EntityQuery(statuses=frozenset({status})), first=500)
    return sorted(e.key for e in page.items)


async def test_import_twice_then_one_link_removed(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    for name in FILES:
        shutil.copy(DATA / name, tmp_path / name)
    paths = [tmp_path / name for name in FILES]
    first = await run(engine, paths)
    assert first.summary.entities_created == 8 + 8 + 2
    assert first.summary.relations_created == 7 + 8 + 1
    second = await run(engine, paths)
    assert (second.summary.created, second.summary.updated, second.summary.marked_stale) == (
        0,
        0,
        0,
    )
    assert second.summary.unchanged == 18 + 16

    service1 = (await store.resolve([(EntityKind.SERVICE, "svc:Service1")]))[0]
    assert service1 is not None
    record = (await store.entities([service1]))[0]
    assert record is not None
    assert record.identifiers == {"serviceName": "Service1"}
    calls = (await store.relations(service1, Direction.OUT, first=10)).items
    assert sorted(r.attributes["callCount"] for r in calls) == [8560, 30489, 30491]

    jaeger = tmp_path / FILES[0]
    links = json.loads(jaeger.read_text(encoding="utf-8"))
    kept = [link for link in links if link["parent"] != "Service8"]
    assert len(kept) == len(links) - 1
    jaeger.write_text(json.dumps(kept), encoding="utf-8")
    third = await run(engine, paths)

    # Service8 only called Service6: the service and that call go stale
    assert third.summary.marked_stale == 2
    assert (third.summary.created, third.summary.updated) == (0, 0)
    assert await keys_with(store, Status.STALE) == ["svc:Service8"]
    gone = (await store.resolve([(EntityKind.SERVICE, "svc:Service8")]))[0]
    assert gone is not None
    assert [r.status for r in (await store.relations(gone, Direction.OUT, first=10)).items] == [
        Status.STALE
    ]
    service6 = (await store.resolve([(EntityKind.SERVICE, "svc:Service6")]))[0]
    assert service6 is not None
    statuses = [r.status for r in (await store.relations(service6, Direction.OUT, first=10)).items]
    assert statuses == [Status.ACTIVE]  # Service6 -> Service1 is still observed


async def test_changed_counts_update_the_relation(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    jaeger = tmp_path / "deps.json"
    jaeger.write_text(json.dumps([{"parent": "a", "child": "b", "callCount": 5}]))
    await run(engine, [jaeger])
    jaeger.write_text(json.dumps([{"parent": "a", "child": "b", "callCount": 9}]))
    report = await run(engine, [jaeger])
    assert (report.summary.relations_updated, report.summary.created) == (1, 0)
    a = (await store.resolve([(EntityKind.SERVICE, "svc:a")]))[0]
    assert a is not None
    [call] = (await store.relations(a, Direction.OUT, first=10)).items
    assert call.attributes["callCount"] == 9
