"""``graphsvc report project`` and ``graphsvc report team`` as a user runs them.

A real process on a real embedded store holding :mod:`tests.report.work_graph`;
``--as-of 2030-01-07`` makes that Monday *now* (the graph, loaded today, is read
as it is then).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import anyio
import pytest

from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.store.factory import store_from_settings
from tests.report.work_graph import work_graph

AS_OF = ("--as-of", "2030-01-07")
PERIOD = ("--from", "2030-01-07", "--to", "2030-01-27")


def graphsvc(db: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRAPHSVC_DATA": str(db), "COLUMNS": "200"}
    env.pop("GRAPHSVC_DEBUG", None)
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
def work_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-work") / "work.db"

    async def load() -> None:
        store = store_from_settings(Settings(data=path, durability="normal"))
        async with store:
            await work_graph(IngestEngine(store))

    anyio.run(load)
    return path


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    return " ".join(result.stderr.split())


def test_project_report_in_the_three_formats(work_db: Path, tmp_path: Path) -> None:
    result = graphsvc(work_db, tmp_path, "report", "project", "prj-x", *AS_OF)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Project plan: prj-x\n")
    assert "**Status: BLOCKED.**" in result.stdout
    assert "| **tsk-c** | open | nobody | 2030-02-05 | 8 h | tsk-b |" in result.stdout

    out = tmp_path / "out" / "plan.html"
    result = graphsvc(work_db, tmp_path, "report", "project", "prj-x", *AS_OF, "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out} (html" in error_line(result)
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and 'id="critical-path"' in html
    assert re.search(r"https?://", html) is None

    result = graphsvc(work_db, tmp_path, "report", "project", "prj-x", *AS_OF, "-f", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "BLOCKED"
    assert [t["key"] for t in document["criticalPath"]] == ["tsk-b", "tsk-a"]
    assert document["asOf"].startswith("2030-01-07T00:00:00")
    assert document["project"]["attributes"]["plannedStart"].startswith("2030-02-01")


def test_team_report_in_the_three_formats(work_db: Path, tmp_path: Path) -> None:
    args = ("report", "team", "t-dev", *PERIOD, *AS_OF)
    result = graphsvc(work_db, tmp_path, *args, "-f", "markdown")
    assert result.returncode == 0, result.stderr
    assert "| 2030-01-07 | 40 h | 20 h | 50 h | 0 h | 50 h | OVERBOOKED |" in result.stdout

    out = tmp_path / "load.htm"
    result = graphsvc(work_db, tmp_path, *args, "-o", str(out))
    assert result.returncode == 0, result.stderr
    html = out.read_text(encoding="utf-8")
    svg = ET.fromstring(html[html.index("<svg") : html.index("</svg>") + 6])
    states = [g.get("data-state") for g in svg.iter("g") if g.get("class") == "week"]
    assert states == ["OVERBOOKED", "OVER_PROJECT_SHARE", "OK"]
    assert re.search(r"https?://", html) is None

    result = graphsvc(work_db, tmp_path, *args, "-f", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["worst"] == "OVERBOOKED"
    assert [w["state"] for w in document["weeks"]] == ["OVERBOOKED", "OVER_PROJECT_SHARE", "OK"]
    assert document["weeks"][0]["projectLoad"] == 50
    assert document["weeks"][0]["weekStart"].startswith("2030-01-07T00:00:00")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("project", "prj-nope"), "no Project has the key or alias 'prj-nope'"),
        (("team", "t-nope", *PERIOD), "no Team has the key or alias 't-nope'"),
        (
            ("team", "t-dev", "--from", "2030-02-01", "--to", "2030-01-07"),
            "--to 2030-01-07 is before --from 2030-02-01",
        ),
        (
            ("team", "t-dev", "--from", "2030-01-07", "--to", "2035-01-07"),
            "the period spans 261 weeks; at most 260 can be asked for at once",
        ),
        (("team", "t-dev", "--from", "7/1/2030", "--to", "2030-01-27"), "--from '7/1/2030'"),
        (("project", "prj-x", "-f", "pdf"), "--format must be html, md (markdown) or json"),
        (("project", "prj-x", "--as-of", "soon"), "--as-of 'soon': expected an ISO 8601 time"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    work_db: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = graphsvc(work_db, tmp_path, "report", *args)
    assert result.returncode == 2, result.stderr
    line = error_line(result)
    assert line.startswith("error: ") and message in line
    assert result.stdout == ""


def test_a_missing_store_exits_3(tmp_path: Path) -> None:
    result = graphsvc(tmp_path / "none.db", tmp_path, "report", "team", "t-dev", *PERIOD)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
