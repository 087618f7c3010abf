"""Re-import adds nothing (PRODUCT.md 2, "Idempotent"), for every importer on its real samples.

Each importer imports its samples into a fresh embedded store as one complete
run, then again: the second run must create, update, merge, revive and retire
nothing, record no identity conflict and append no history event (only
last-seen times move).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, cast

import pytest

from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import Importer, available_importers, load_importer
from graphsvc.ingest.runner import EngineSink, run_import
from graphsvc.store.embedded.store import EmbeddedStore

DATA = Path(__file__).parents[1] / "data"

SAMPLES: dict[str, tuple[list[Path], dict[str, str]]] = {
    "aws": (sorted((DATA / "aws" / "describe").glob("*.json")), {}),
    "backstage": (
        sorted((DATA / "backstage" / "backstage-catalog-model-examples").glob("*.yaml")),
        {},
    ),
    "csv": (
        [DATA / "csv_table" / "servers.csv"],
        {"mapping": str(DATA / "csv_table" / "servers.csv.mapping.yaml")},
    ),
    "jira": (
        [
            DATA / "jira" / "jira-ruby-project-SAMPLEPROJECT.json",
            DATA / "jira" / "go-jira-project-ABDERA.json",
            DATA / "jira" / "crafted-OPS-changes-search.json",
        ],
        {},
    ),
    "kubernetes": ([DATA / "kubernetes" / "online-boutique-release-kubernetes-manifests.yaml"], {}),
    "nmap": ([DATA / "nmap" / "libnmap-fullscan.xml"], {}),
    "sbom": ([DATA / "sbom" / "cyclonedx-laravel-7.12.0-bom.1.4.json"], {}),
    "service-graph": ([DATA / "service_graph" / "jaeger-ui-dependencies-small.json"], {}),
    "servicenow": (
        [
            DATA / "servicenow" / "cmdb_ci-crafted-mixed-classes.json",
            DATA / "servicenow" / "cmdb_rel_ci-crafted.json",
        ],
        {},
    ),
    "terraform": ([DATA / "terraform" / "web-stack.tfstate"], {}),
}


def test_every_importer_is_covered() -> None:
    assert set(SAMPLES) == set(available_importers())


def _history_events(path: Path) -> int:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM history").fetchone()[0])
    finally:
        con.close()


@pytest.mark.parametrize("name", sorted(SAMPLES))
async def test_importing_twice_adds_nothing_the_second_time(tmp_path: Path, name: str) -> None:
    paths, settings = SAMPLES[name]
    assert paths and all(p.is_file() for p in paths), paths
    importer = cast("Importer[Any]", load_importer(name))
    path = tmp_path / "g.db"
    reports = []
    counts = []
    for _ in range(2):
        async with EmbeddedStore(path) as store:
            reports.append(
                await run_import(
                    importer, paths, EngineSink(IngestEngine(store)), settings=settings
                )
            )
        counts.append(_history_events(path))
    first, again = (r.summary for r in reports)
    assert first.created > 0, name
    assert (
        again.created,
        again.updated,
        again.merged,
        again.revived,
        again.retired,
        again.marked_stale,
        again.identity_conflicts,
    ) == (0, 0, 0, 0, 0, 0, first.identity_conflicts), name
    assert counts[1] == counts[0], f"{name}: {counts[1] - counts[0]} history events on re-import"
