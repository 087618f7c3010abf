"""``graphsvc report change KEY`` as a user runs it: a real process on a real store."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import jsonschema
import pytest

from graphsvc.config import Settings
from graphsvc.demo import demo_batches
from graphsvc.ingest.engine import IngestEngine
from graphsvc.store.factory import store_from_settings

SCHEMA = Path(__file__).parents[2] / "schema" / "change-report.schema.json"


def graphsvc(db: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRAPHSVC_DATA": str(db), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "graphsvc.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-demo") / "demo.db"

    async def load() -> None:
        store = store_from_settings(Settings(data=path, durability="normal"))
        async with store:
            engine = IngestEngine(store)
            for batch in demo_batches(datetime.date(2025, 3, 10)):
                await engine.ingest(batch)

    anyio.run(load)
    return path


def test_markdown_to_stdout_and_files_by_extension(demo_db: Path, tmp_path: Path) -> None:
    result = graphsvc(demo_db, tmp_path, "report", "change", "CHG0041215")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Change review: CHG0041215")
    assert "BLACKOUT" in result.stdout

    out = tmp_path / "out" / "cab.html"
    result = graphsvc(demo_db, tmp_path, "report", "change", "CHG0041215", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out} (html" in " ".join(result.stderr.split())
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and 'id="conflicts"' in html
    if shutil.which("dot"):
        assert "<svg" in html

    out = tmp_path / "cab.txt"
    result = graphsvc(
        demo_db, tmp_path, "report", "change", "CHG0041220", "--format", "json", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(document)
    assert document["conflicts"][0]["other"]["key"] == "CHG0041221"


def test_as_of(demo_db: Path, tmp_path: Path) -> None:
    now = datetime.datetime.now(datetime.UTC).isoformat()
    result = graphsvc(
        demo_db, tmp_path, "report", "change", "CHG0041215", "-f", "json", "--as-of", now
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["asOf"] is not None
    result = graphsvc(demo_db, tmp_path, "report", "change", "CHG0041215", "--as-of", "2000-01-01")
    assert result.returncode == 2
    assert "no Change has the key or alias 'CHG0041215' as of 2000-01-01T00:00:00+00:00" in (
        " ".join(result.stderr.split())
    )


def test_unknown_change_bad_options_and_missing_store(demo_db: Path, tmp_path: Path) -> None:
    result = graphsvc(demo_db, tmp_path, "report", "change", "CHG-NOPE")
    assert result.returncode == 2
    assert "no Change has the key or alias 'CHG-NOPE'" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    result = graphsvc(demo_db, tmp_path, "report", "change", "CHG0041215", "--format", "pdf")
    assert result.returncode == 2 and "html, md or json" in result.stderr
    result = graphsvc(demo_db, tmp_path, "report", "change", "CHG0041215", "--as-of", "yesterday")
    assert result.returncode == 2 and "ISO 8601" in result.stderr
    result = graphsvc(tmp_path / "none.db", tmp_path, "report", "change", "CHG0041215")
    assert result.returncode == 3


async def test_reads_while_another_process_writes(demo_db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "live.db"
    shutil.copyfile(demo_db, copy)
    writer = store_from_settings(Settings(data=copy, durability="normal"))
    async with writer:  # holds the writer lock, as `graphsvc serve` does
        result = await anyio.to_thread.run_sync(
            lambda: graphsvc(copy, tmp_path, "report", "change", "CHG0041207", "-f", "md")
        )
    assert result.returncode == 0, result.stderr
    assert "OUTSIDE\\_MAINTENANCE" in result.stdout
