"""Backstage importer through run_import into the embedded store: idempotence and staleness."""

from __future__ import annotations

import shutil
from pathlib import Path

from graphsvc.errors import ParseError
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.runner import EngineSink, ImportReport, run_import
from graphsvc.model.vocabulary import Direction, EntityKind, Status
from graphsvc.store.base import EntityQuery, GraphStore
from importers.backstage import BackstageImporter

DATA = Path(__file__).parents[2] / "data" / "backstage"
SOURCE, SCOPE = "backstage", "catalog/acme"


def catalog(root: Path) -> list[Path]:
    return sorted((root / "janus-idp-showcase").rglob("*.yaml")) + sorted(
        (root / "backstage-catalog-model-examples").glob("*.yaml")
    )


async def run(engine: IngestEngine, paths: list[Path]) -> ImportReport:
    return await run_import(
        BackstageImporter(), paths, EngineSink(engine), source=SOURCE, scope=SCOPE
    )


async def statuses(store: GraphStore, status: Status) -> list[str]:
    page = await store.find_entities(EntityQuery(statuses=frozenset({status})), first=500)
    return sorted(e.key for e in page.items)


async def test_import_twice_changes_nothing(engine: IngestEngine, store: GraphStore) -> None:
    paths = catalog(DATA)
    first = await run(engine, paths)
    assert first.summary.entities_created == 26
    # 25 (showcase) + 12 (acme) + the acme petstore component now provides the showcase's
    # api:default/petstore, which is in this run
    assert first.summary.relations_created == 38
    assert first.summary.marked_stale == 0
    second = await run(engine, paths)
    assert second.summary.created == 0
    assert second.summary.updated == 0
    assert second.summary.merged == 0
    assert second.summary.marked_stale == 0
    assert second.summary.unchanged == 26 + 38
    team = (await store.resolve([(EntityKind.TEAM, "group:default/team-a")]))[0]
    assert team is not None
    record = (await store.entities([team]))[0]
    assert record is not None
    assert record.identifiers == {"backstageRef": "group:default/team-a"}
    assert record.attributes["email"] == "team-a@example.com"


async def test_removed_entity_goes_stale_with_its_relations(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    copy = tmp_path / "catalog"
    shutil.copytree(DATA, copy)
    await run(engine, catalog(copy))
    # catalog-info.yaml holds System rhdh and Component rhdh: drop the component
    info = copy / "janus-idp-showcase" / "catalog-info.yaml"
    system, component = info.read_text(encoding="utf-8").split("\n---\n")
    assert "kind: Component" in component
    info.write_text(system + "\n", encoding="utf-8")

    report = await run(engine, catalog(copy))

    # the component, OWNS rhdh-team -> it, and its PART_OF system:default/rhdh
    assert report.summary.marked_stale == 3
    assert report.summary.created == 0
    assert report.summary.updated == 0
    assert await statuses(store, Status.STALE) == ["component:default/rhdh"]
    assert len(await statuses(store, Status.ACTIVE)) == 25
    gone = (await store.resolve([(EntityKind.SERVICE, "component:default/rhdh")]))[0]
    assert gone is not None
    touching = [
        r
        for d in (Direction.OUT, Direction.IN)
        for r in (await store.relations(gone, d, first=50)).items
    ]
    assert len(touching) == 2
    assert {r.status for r in touching} == {Status.STALE}
    system_id = (await store.resolve([(EntityKind.SERVICE, "system:default/rhdh")]))[0]
    assert system_id is not None
    owners = (await store.relations(system_id, Direction.IN, first=50)).items
    assert [r.status for r in owners if r.from_id != gone] == [Status.ACTIVE]


async def test_malformed_file_writes_nothing(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: backstage.io/v1alpha1\nkind: Gadget\nmetadata:\n  name: x\n")
    paths = [*catalog(DATA), bad]
    try:
        await run(engine, paths)
    except ParseError as exc:
        assert exc.path == str(bad)
    else:  # pragma: no cover
        raise AssertionError("expected a ParseError")
    assert await statuses(store, Status.ACTIVE) == []
