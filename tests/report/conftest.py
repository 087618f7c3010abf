"""The demo graph in a real embedded store, loaded once, and its showcase reports."""

from __future__ import annotations

import datetime
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from graphsvc.config import Settings
from graphsvc.demo import demo_batches
from graphsvc.ingest.engine import IngestEngine
from graphsvc.report import ChangeReport, build_change_report
from graphsvc.store.base import GraphStore
from graphsvc.store.factory import store_from_settings

TODAY = datetime.date(2025, 3, 10)
"""The demo's load day, so that its windows can be written out."""
GENERATED = datetime.datetime(2025, 3, 10, 8, 0, tzinfo=datetime.UTC)
SHOWCASES = (
    "CHG0041207",  # OUTSIDE_MAINTENANCE
    "CHG0041215",  # BLACKOUT
    "CHG0041220",  # COLLISION with CHG0041221
    "CHG0041221",
    "CHG0041230",  # touching windows: no conflict
    "CHG0041201",  # the largest impact set
    "CHG0041262",  # names a CI it does not modify: warnings
    "CHG0041266",  # its assignee team is overbooked in its week
)

ROOT = Path(__file__).parents[2]
SCHEMA = ROOT / "schema" / "change-report.schema.json"

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz `dot` is not installed (make test installs the Debian package graphviz)",
)


async def load_demo(path: Path) -> None:
    store = store_from_settings(Settings(data=path, durability="normal"))
    async with store:
        engine = IngestEngine(store)
        for batch in demo_batches(TODAY):
            await engine.ingest(batch)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file holding the demo graph (loaded once per session; open it read-only)."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    anyio.run(load_demo, path)
    return path


@pytest.fixture(scope="session")
def demo_reports(demo_db: Path) -> dict[str, ChangeReport]:
    """The reports of the demo's showcase changes, by change key."""

    async def build() -> dict[str, ChangeReport]:
        store = store_from_settings(Settings(data=demo_db), read_only=True)
        async with store:
            return {
                key: await build_change_report(store, key, generated_at=GENERATED)
                for key in SHOWCASES
            }

    return anyio.run(build)


@pytest.fixture
async def demo_store(demo_db: Path, tmp_path: Path) -> AsyncIterator[GraphStore]:
    """A writable copy of the demo store (for tests that add to the graph)."""
    copy = tmp_path / "demo.db"
    for suffix in ("", "-wal"):
        source = demo_db.with_name(demo_db.name + suffix)
        if source.exists():
            shutil.copyfile(source, copy.with_name(copy.name + suffix))
    store = store_from_settings(Settings(data=copy, durability="normal"))
    await store.open()
    try:
        yield store
    finally:
        await store.close()
