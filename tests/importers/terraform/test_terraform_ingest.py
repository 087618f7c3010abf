"""Terraform imports as complete ingest runs against a real embedded store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import Importer
from graphsvc.ingest.runner import EngineSink, ImportReport, run_import
from graphsvc.model.vocabulary import Direction, EntityKind, Status
from graphsvc.store.base import EntityQuery, GraphStore
from importers.terraform import TerraformImporter

DATA = Path(__file__).parents[2] / "data" / "terraform"
CI = EntityKind.CONFIGURATION_ITEM
LB = "aws_lb/arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/web/50dc6c495c0c9188"


async def run(engine: IngestEngine, *paths: Path, scope: str = "tf/web-stack") -> ImportReport:
    # run_import is typed for Importer[object]; Importer is invariant in its parsed type
    importer = cast("Importer[object]", TerraformImporter())
    return await run_import(
        importer, list(paths), EngineSink(engine), source="terraform", scope=scope
    )


async def entity_id(store: GraphStore, key: str) -> int:
    (found,) = await store.resolve([(CI, key)])
    assert found is not None, key
    return found


async def stale_keys(store: GraphStore) -> set[str]:
    page = await store.find_entities(EntityQuery(statuses=frozenset({Status.STALE})), first=100)
    return {e.key for e in page.items}


async def out_statuses(store: GraphStore, key: str) -> list[Status]:
    page = await store.relations(await entity_id(store, key), Direction.OUT, first=100)
    return [r.status for r in page.items]


async def test_import_twice_changes_nothing_the_second_time(engine: IngestEngine) -> None:
    first = await run(engine, DATA / "web-stack.tfstate")
    assert (first.summary.entities_created, first.summary.relations_created) == (10, 13)
    second = await run(engine, DATA / "web-stack.tfstate")
    assert second.summary.created == 0
    assert second.summary.updated == 0
    assert second.summary.merged == 0
    assert second.summary.marked_stale == 0
    assert second.summary.unchanged == 23


async def test_removed_resource_and_its_relations_go_stale(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    await run(engine, DATA / "web-stack.tfstate")
    state = json.loads((DATA / "web-stack.tfstate").read_text())
    state["resources"] = [r for r in state["resources"] if r["type"] != "aws_lb"]
    smaller = tmp_path / "web-stack.tfstate"
    smaller.write_text(json.dumps(state))
    report = await run(engine, smaller)
    assert report.summary.created == 0
    assert report.summary.updated == 0
    assert report.summary.marked_stale == 1 + 3  # the load balancer and its three relations
    assert await stale_keys(store) == {LB}
    assert await out_statuses(store, LB) == [Status.STALE] * 3
    assert await out_statuses(store, "aws_instance/i-0ccccccccccccccc1") == [Status.ACTIVE] * 2
    # seen again: active again
    again = await run(engine, DATA / "web-stack.tfstate")
    assert again.summary.revived == 4
    assert await stale_keys(store) == set()


async def test_cyclic_samples_import_without_error(engine: IngestEngine, store: GraphStore) -> None:
    report = await run(engine, DATA / "inframap-aws_state_cyclic.json", scope="tf/cyclic")
    assert (report.summary.entities_created, report.summary.relations_created) == (19, 23)
    report = await run(engine, DATA / "cycle.tfstate", scope="tf/cycle")
    assert report.summary.relations_created == 2
    assert await out_statuses(store, "aws_security_group/sg-0c0c0c0c0c0c0c0c1") == [Status.ACTIVE]
    assert await out_statuses(store, "aws_security_group/sg-0c0c0c0c0c0c0c0c2") == [Status.ACTIVE]


async def test_every_sample_imports(engine: IngestEngine) -> None:
    for index, name in enumerate(
        [
            "inframap-repeated_modules.json",
            "inframap-azure.tfstate",
            "tfstate-lookup-terraform.tfstate",
        ]
    ):
        report = await run(engine, DATA / name, scope=f"tf/{index}")
        assert report.summary.entities_created > 0
        again = await run(engine, DATA / name, scope=f"tf/{index}")
        assert (again.summary.created, again.summary.updated) == (0, 0)
