"""The whole product on Neo4j: the CLI and ``graphsvc serve`` with ``GRAPHSVC_STORE=neo4j``.

Against the real test server (``tests/conftest.py``): the demo, an importer, the
change report from the CLI and over HTTP, GraphQL, and the crash trials of
``bench/crash_trials.py`` (SIGKILL of ``graphsvc import`` and of ``graphsvc
serve`` mid-run: every acknowledged batch present, none partial, the history
agreeing with the graph, the service ready again).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bench.crash_trials as crash
from bench.crash_trials import Params, run_trial
from graphsvc.config import Settings

pytestmark = pytest.mark.neo4j
DATA = Path(__file__).parents[1] / "data"
SMALL = Params(batches=12, entities=30, updates_1=10, updates_2=5, rel_updates=6, early=0.0)


def neo4j_env(settings: Settings) -> dict[str, str]:
    return {
        "GRAPHSVC_STORE": "neo4j",
        "GRAPHSVC_NEO4J_URI": settings.neo4j_uri,
        "GRAPHSVC_NEO4J_USER": settings.neo4j_user,
        "GRAPHSVC_NEO4J_PASSWORD": settings.neo4j_password.get_secret_value(),
        "GRAPHSVC_NEO4J_DATABASE": settings.neo4j_database,
    }


def graphsvc(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSVC_")}
    return subprocess.run(
        [sys.executable, "-m", "graphsvc.cli.main", *args],
        capture_output=True,
        text=True,
        env={**base, **env, "COLUMNS": "200", "GRAPHSVC_TOKENS_FILE": str(cwd / "tokens.db")},
        cwd=cwd,
        timeout=300,
        check=False,
    )


@pytest.fixture
def served(empty_neo4j: Settings, tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    env = neo4j_env(empty_neo4j)
    result = graphsvc(env, tmp_path, "demo")
    assert result.returncode == 0, result.stderr
    assert "Neo4j" in result.stdout
    saved = dict(crash.STORE_ENV)
    crash.STORE_ENV.clear()
    crash.STORE_ENV.update(env)
    port = crash.free_port()
    proc = crash.serve(tmp_path / "unused.db", port, tmp_path / "serve.log")
    try:
        assert crash.wait_ready(port, proc, 120) is not None, (tmp_path / "serve.log").read_text()
        yield port, env
    finally:
        crash.stop(proc)
        crash.STORE_ENV.clear()
        crash.STORE_ENV.update(saved)
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_demo_importer_report_and_graphql_on_neo4j(
    served: tuple[int, dict[str, str]], tmp_path: Path
) -> None:
    port, env = served
    # the demo again changes nothing; --reset is refused with the reason
    again = graphsvc(env, tmp_path, "demo")
    assert again.returncode == 0, again.stderr
    refused = graphsvc(env, tmp_path, "demo", "--reset")
    assert refused.returncode == 2 and "Neo4j" in refused.stderr
    # an importer, through the CLI into Neo4j
    cluster = DATA / "kubernetes" / "extra" / "live-cluster.json"
    imported = graphsvc(env, tmp_path, "import", "kubernetes", str(cluster))
    assert imported.returncode == 0, imported.stderr
    # the CAB report from the CLI, and over HTTP from the server on Neo4j
    report = graphsvc(env, tmp_path, "report", "change", "CHG0041215", "--format", "json")
    assert report.returncode == 0, report.stderr
    doc = json.loads(report.stdout)
    assert any(c["kind"] == "BLACKOUT" for c in doc["conflicts"]), doc["conflicts"]
    status, body = crash.request(port, "GET", "/api/v1/reports/changes/CHG0041215?format=html")
    assert status == 200 and b"BLACKOUT" in body
    query = "{ entities(kind: CONFIGURATION_ITEM, first: 500) { totalCount } }"
    status, body = crash.request(port, "POST", "/graphql", json.dumps({"query": query}).encode())
    answer: Any = json.loads(body)
    assert status == 200 and "errors" not in answer, answer
    assert answer["data"]["entities"]["totalCount"] > 20  # demo CIs and the cluster's objects


@pytest.mark.parametrize("mode", ["cli", "http"])
def test_crash_during_ingest_on_neo4j(empty_neo4j: Settings, tmp_path: Path, mode: str) -> None:
    saved = dict(crash.STORE_ENV)
    crash.STORE_ENV.clear()
    crash.STORE_ENV.update(neo4j_env(empty_neo4j))
    try:
        trial = run_trial(mode, 21, SMALL, tmp_path)
    finally:
        crash.STORE_ENV.clear()
        crash.STORE_ENV.update(saved)
    assert trial.violations == [], trial.violations
    assert trial.killed_mid_run and trial.acked > 0, (trial.plan, trial.acked)
    assert trial.present in (trial.acked, trial.acked + 1)
    assert trial.ready_s is not None
