"""SBOM imports as complete ingest runs against a real embedded store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import Importer
from graphsvc.ingest.runner import EngineSink, ImportReport, run_import
from graphsvc.model.vocabulary import Direction, EntityKind, Status
from graphsvc.store.base import EntityQuery, GraphStore
from importers.sbom import SbomImporter

DATA = Path(__file__).parents[2] / "data" / "sbom"
LARAVEL = DATA / "cyclonedx-laravel-7.12.0-bom.1.4.json"
ALL = sorted(DATA.glob("*.json"))
UUID = "pkg:composer/ramsey/uuid@4.2.3"


async def run(
    engine: IngestEngine, paths: list[Path], scope: str = "app/laravel-demo"
) -> ImportReport:
    # run_import is typed for Importer[object]; Importer is invariant in its parsed type
    importer = cast("Importer[object]", SbomImporter())
    return await run_import(importer, paths, EngineSink(engine), source="sbom", scope=scope)


async def stale(store: GraphStore) -> list[str]:
    page = await store.find_entities(EntityQuery(statuses=frozenset({Status.STALE})), first=100)
    return [e.key for e in page.items]


async def test_import_twice_changes_nothing_the_second_time(engine: IngestEngine) -> None:
    first = await run(engine, ALL)
    assert first.summary.entities_created == 7 + 63 + 4 + 4
    assert first.summary.relations_created == 11 + 113 + 1 + 3
    second = await run(engine, ALL)
    assert second.summary.created == 0
    assert second.summary.updated == 0
    assert second.summary.merged == 0
    assert second.summary.marked_stale == 0


async def test_removed_component_and_its_relations_go_stale(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    await run(engine, [LARAVEL])
    bom = json.loads(LARAVEL.read_text())
    bom["components"] = [c for c in bom["components"] if c["bom-ref"] != "ramsey/uuid-4.2.3.0"]
    bom["dependencies"] = [d for d in bom["dependencies"] if d["ref"] != "ramsey/uuid-4.2.3.0"]
    for dependency in bom["dependencies"]:
        if "ramsey/uuid-4.2.3.0" in dependency.get("dependsOn", []):
            dependency["dependsOn"].remove("ramsey/uuid-4.2.3.0")
    smaller = tmp_path / LARAVEL.name
    smaller.write_text(json.dumps(bom))
    report = await run(engine, [smaller])
    assert (report.summary.created, report.summary.updated) == (0, 0)
    # the component, laravel/framework's dependency on it and its four dependencies
    assert report.summary.marked_stale == 1 + 1 + 4
    assert await stale(store) == [UUID]
    (uuid_id,) = await store.resolve([(EntityKind.CONFIGURATION_ITEM, UUID)])
    assert uuid_id is not None
    for direction, count in ((Direction.OUT, 4), (Direction.IN, 1)):
        page = await store.relations(uuid_id, direction, first=10)
        assert [r.status for r in page.items] == [Status.STALE] * count
