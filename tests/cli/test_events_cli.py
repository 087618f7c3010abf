"""``graphsvc events tail`` against a real server, and ``graphsvc events prune``, as a user runs them."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from typer.testing import CliRunner, Result

from graphsvc.cli.main import app
from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.model.batch import IngestBatch
from graphsvc.store.embedded.store import EmbeddedStore
from tests.api.live import LiveServer, live_settings


def graphsvc(tmp_path: Path, *args: str) -> Result:
    """Run the command in this process (a subprocess costs seconds of imports)."""
    env = {"GRAPHSVC_DATA": str(tmp_path / "g.db"), "COLUMNS": "200"}
    return CliRunner().invoke(app, list(args), env=env)


def batch(source: str, *keys: str) -> dict[str, Any]:
    return {"source": source, "entities": [{"kind": "Service", "key": k} for k in keys]}


class Tail:
    """``graphsvc events tail`` running, its stdout lines read as they come."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        env = {**os.environ, "GRAPHSVC_DATA": str(tmp_path / "unused.db"), "COLUMNS": "200"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "graphsvc.cli.main", "events", "tail", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        threading.Thread(target=lambda: [self.lines.put(x) for x in stdout], daemon=True).start()

    def take(self, n: int, timeout: float = 20) -> list[str]:
        return [self.lines.get(timeout=timeout).rstrip("\n") for _ in range(n)]

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        _, stderr = self.proc.communicate(timeout=20)
        return self.proc.returncode, stderr


def test_tail_prints_events_as_they_commit_and_resumes_after_a_restart(tmp_path: Path) -> None:
    settings = live_settings(None, tmp_path)
    live = LiveServer(settings).start()
    live.ingest(batch("cmdb", "a1", "a2"))
    tail = Tail(tmp_path, "--url", live.url, "--json", "--after", "0", "--exclude-source", "itsm")
    try:
        first = [json.loads(line) for line in tail.take(2)]
        assert [(e["seq"], e["source"], e["op"]) for e in first] == [
            (1, "cmdb", "created"),
            (2, "cmdb", "created"),
        ]
        live.ingest(batch("itsm", "x"))  # left out by --exclude-source
        live.ingest(batch("cmdb", "a3"))
        assert json.loads(tail.take(1)[0])["seq"] == 4
        live.stop()  # the server restarts on the same port and file
        time.sleep(0.6)  # the tail finds nobody there and says it will try again
        live = restart(settings, live.port)
        live.ingest(batch("cmdb", "a4"))
        resumed = json.loads(tail.take(1)[0])
        assert resumed["seq"] == 5  # nothing twice, nothing missed
    finally:
        code, stderr = tail.interrupt()
        if live.thread.is_alive():
            live.stop()
    assert code == 0, stderr
    assert "again in" in stderr  # it said it was reconnecting


def restart(settings: Any, port: int) -> LiveServer:
    """A new server on ``port`` over the same settings (the old one has stopped)."""
    live = LiveServer(settings)
    live.port = port
    live.server.config.port = port
    return live.start()


def test_tail_prints_one_readable_line_per_event_from_now_on(tmp_path: Path) -> None:
    live = LiveServer(live_settings(None, tmp_path)).start()
    live.ingest(batch("cmdb", "old"))
    tail = Tail(tmp_path, "--url", live.url, "--source", "cmdb")
    try:
        deadline = time.monotonic() + 30
        while not live.services.feed.waiting:  # it knows where the feed ends, and waits
            assert time.monotonic() < deadline and tail.proc.poll() is None
            time.sleep(0.05)
        live.ingest(batch("cmdb", "new"))
        [line] = tail.take(1)
        assert "#2" in line and "created" in line and "entity" in line and "by cmdb" in line
    finally:
        code, _ = tail.interrupt()
        live.stop()
    assert code == 0


def test_tail_refuses_bad_input_and_a_pruned_cursor(tmp_path: Path) -> None:
    assert graphsvc(tmp_path, "events", "tail", "--url", "ftp://x").exit_code == 2
    live = LiveServer(
        live_settings(None, tmp_path, event_retention_max=1, event_prune_every_seconds=0.05)
    ).start()
    try:
        for i in range(3):
            live.ingest(batch("cmdb", f"s{i}"))
        bad = graphsvc(tmp_path, "events", "tail", "--url", live.url, "--kind", "Spaceship")
        assert bad.exit_code == 2 and "422" in bad.stderr and "kind.0" in bad.stderr, bad.stderr
        deadline = time.monotonic() + 10
        while httpx.get(f"{live.url}/api/v1/events").json()["oldestSeq"] < 3:
            assert time.monotonic() < deadline, "the server did not prune"
            time.sleep(0.05)
        gone = graphsvc(tmp_path, "events", "tail", "--url", live.url, "--after", "0")
        assert gone.exit_code == 1 and "older than the oldest event" in gone.stderr, gone.stderr
    finally:
        live.stop()


def test_events_prune_removes_the_oldest_events_of_the_local_store(tmp_path: Path) -> None:
    async def load() -> None:
        async with EmbeddedStore(tmp_path / "g.db") as store:
            engine = IngestEngine(store, IngestPolicy())
            for i in range(3):
                await engine.ingest(IngestBatch.model_validate(batch("cmdb", f"s{i}")))

    anyio.run(load)
    assert graphsvc(tmp_path, "events", "prune").exit_code == 2  # no rule given
    done = graphsvc(tmp_path, "events", "prune", "--keep", "1")
    assert done.exit_code == 0, done.stderr
    assert "removed 2 events" in done.stdout and "seq 3" in done.stdout, done.stdout
    again = graphsvc(tmp_path, "events", "prune", "--keep-days", "0")  # older than now: all
    assert again.exit_code == 0 and "removed 0 events" in again.stdout  # the newest stays
