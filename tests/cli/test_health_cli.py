"""``graphsvc health`` as a user runs it: a real process on a real embedded store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import pytest

from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.store.factory import store_from_settings
from tests.cli.test_report_work import error_line, graphsvc


@pytest.fixture(scope="module")
def flawed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-health") / "health.db"

    async def load() -> None:
        store = store_from_settings(Settings(data=path, durability="normal"))
        async with store:
            await IngestEngine(store).ingest(
                IngestBatch.model_validate(
                    {
                        "source": "cmdb",
                        "entities": [
                            {
                                "kind": "Service",
                                "key": "s-bare",
                                "attributes": {"lifecycle": "live"},
                            }
                        ],
                    }
                )
            )

    anyio.run(load)
    return path


def test_health_in_the_three_formats(flawed_db: Path, tmp_path: Path) -> None:
    result = graphsvc(flawed_db, tmp_path, "health")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# CMDB health: ")
    assert "| Orphans | FAIL | 100 % |" in result.stdout
    assert "**Service/s-bare** — no tier; no owner; no support team; no capability" in result.stdout

    out = tmp_path / "out" / "health.html"
    result = graphsvc(flawed_db, tmp_path, "health", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out} (html" in error_line(result)
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert re.search(r"https?://", html) is None

    result = graphsvc(flawed_db, tmp_path, "health", "-f", "json", "--as-of", "2001-01-01")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["report"]["score"] == 100 and document["samples"] == []


def test_health_refuses_bad_options(flawed_db: Path, tmp_path: Path) -> None:
    result = graphsvc(flawed_db, tmp_path, "health", "--as-of", "soon")
    assert result.returncode == 2 and "--as-of 'soon'" in error_line(result)
    result = graphsvc(flawed_db, tmp_path, "health", "-f", "pdf")
    assert result.returncode == 2 and "--format must be" in error_line(result)
