"""``graphsvc import batch`` as a user runs it: a real process on a real file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import anyio

from graphsvc.config import Settings
from graphsvc.store.factory import store_from_settings

DATA = Path(__file__).parents[1] / "data" / "core"


def graphsvc(
    tmp_path: Path, *args: str, data: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRAPHSVC_DATA": str(data or tmp_path / "g.db"), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "graphsvc.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def entity_count(tmp_path: Path) -> int:
    async def count() -> int:
        store = store_from_settings(Settings(data=tmp_path / "g.db"), read_only=True)
        async with store:
            return (await store.stats()).entities

    return anyio.run(count)


def test_import_batch_reports_a_summary(tmp_path: Path) -> None:
    result = graphsvc(tmp_path, "import", "batch", str(DATA / "small-graph.json"))
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout and "│        5 │         4 │" in result.stdout
    again = graphsvc(tmp_path, "import", "batch", str(DATA / "small-graph.json"))
    assert again.returncode == 0
    assert re.search(r"unchanged\s+│\s+5 │\s+4 │", again.stdout), again.stdout
    assert entity_count(tmp_path) == 5


def test_invalid_file_exits_2_names_file_item_reason_and_writes_nothing(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text((DATA / "small-graph.json").read_text())
    bad = tmp_path / "bad.ndjson"
    bad.write_text(
        '{"source": "x", "entities": [{"kind": "Team", "key": "t"}]}\n'
        '{"source": "x", "entities": [{"kind": "Service", "key": "s", "attributes": {"tier": "high"}}]}\n'
    )
    result = graphsvc(tmp_path, "import", "batch", str(good), str(bad))
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "bad.ndjson: line 2" in message
    assert "entities[0] (Service/s) attributes.tier" in message
    assert "must be a number" in message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "g.db").exists() or entity_count(tmp_path) == 0


def test_store_dependent_errors_are_found_before_writing(tmp_path: Path) -> None:
    bad = tmp_path / "b.ndjson"
    bad.write_text(
        '{"source": "x", "entities": [{"kind": "Team", "key": "t"}]}\n'
        '{"source": "x", "relations": [{"type": "OWNS", "from": {"kind": "Team", "key": "t"}, '
        '"to": {"kind": "Service", "key": "nowhere"}}]}\n'
    )
    result = graphsvc(tmp_path, "import", "batch", str(bad))
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "b.ndjson (batch 2)" in message and "Service/nowhere" in message
    assert entity_count(tmp_path) == 0


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    result = graphsvc(tmp_path, "import", "batch", "nope.json")
    assert result.returncode == 2 and "nope.json" in result.stderr
    result = graphsvc(tmp_path, "import", "no-such-format", "x")
    assert result.returncode == 2 and "no importer 'no-such-format'" in result.stderr


def test_export_schema_check(tmp_path: Path) -> None:
    result = graphsvc(
        tmp_path, "export-schema", "--check", "--out-dir", str(Path(__file__).parents[2] / "schema")
    )
    assert result.returncode == 0, result.stderr
    result = graphsvc(tmp_path, "export-schema", "--check", "--out-dir", str(tmp_path))
    assert result.returncode == 1 and "out of date" in result.stderr
