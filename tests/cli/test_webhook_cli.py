"""``graphsvc webhook …`` as an operator runs it: on the local store, and against a server."""

from __future__ import annotations

import json
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook as Verifier
from typer.testing import CliRunner

from graphsvc.cli.main import app
from tests.api.serving import serve


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(tmp_path: Path, *args: str, **env: str) -> Ran:
    """Run the command in this process (as ``graphsvc`` would run it, minus the start-up)."""
    runner = CliRunner()
    result = runner.invoke(
        app,
        list(args),
        env={
            "GRAPHSVC_DATA": str(tmp_path / "g.db"),
            "COLUMNS": "250",
            **{f"GRAPHSVC_{k.upper()}": v for k, v in env.items()},
        },
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            got.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for serve_forever to look at its flag: every 0.5 s by default
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/in", got
    server.shutdown()
    server.server_close()


def test_webhook_lifecycle_on_the_local_store(tmp_path: Path) -> None:
    made = cli(
        tmp_path,
        "webhook",
        "create",
        "http://127.0.0.1:9/in",
        "--kind",
        "Service",
        "--exclude-source",
        "jira",
        webhook_allow_private="true",
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("whsec_") and "created webhook wh_" in made.stderr
    webhook_id = made.stderr.split("created webhook ")[1].split()[0]
    key = tmp_path / "webhooks.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600  # made beside the data file, private
    listed = cli(tmp_path, "webhook", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["id"] == webhook_id and row["filter"]["excludeSources"] == ["jira"]
    assert secret not in listed.stdout and secret[6:] not in (tmp_path / "g.db").read_text(
        "latin-1"
    )
    assert cli(tmp_path, "webhook", "disable", webhook_id).returncode == 0
    assert "disabled" in cli(tmp_path, "webhook", "list").stdout
    assert cli(tmp_path, "webhook", "enable", webhook_id).returncode == 0
    deliveries = cli(tmp_path, "webhook", "deliveries", webhook_id)
    assert deliveries.returncode == 0, deliveries.stderr
    missing = cli(tmp_path, "webhook", "resend", webhook_id, "1")
    assert missing.returncode == 1 and "no delivery 1" in missing.stderr
    assert cli(tmp_path, "webhook", "delete", webhook_id).returncode == 0
    assert cli(tmp_path, "webhook", "delete", webhook_id).returncode == 1
    # a careless operator: a private target without the setting, a key others can read
    refused = cli(tmp_path, "webhook", "create", "http://10.1.2.3/in")
    assert refused.returncode == 2 and "private address" in refused.stderr
    key.chmod(0o644)
    exposed = cli(tmp_path, "webhook", "create", "http://127.0.0.1:9/in", webhook_allow_private="1")
    assert exposed.returncode == 2 and "chmod 600" in exposed.stderr


def test_a_served_graphsvc_delivers_what_the_cli_subscribed(
    tmp_path: Path, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    target, got = receiver
    with serve(tmp_path, webhook_allow_private="true", webhook_poll_seconds="0.05") as base:
        made = cli(tmp_path, "webhook", "create", target, "--url", base)
        assert made.returncode == 0, made.stderr
        secret = made.stdout.strip()
        batch = {"source": "cli", "entities": [{"kind": "Team", "key": "ops"}]}
        assert httpx.post(f"{base}/api/v1/ingest", json=batch).status_code == 200
        deadline = time.monotonic() + 20
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        headers, body = got[0]
        events = Verifier(secret).verify(body, headers)["events"]
        assert [e["op"] for e in events] == ["created"]
        listed = cli(tmp_path, "webhook", "list", "--url", base, "--json")
        [row] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert row["cursor"] == events[-1]["seq"] or row["deliveries"] == 1
        resent = cli(tmp_path, "webhook", "resend", row["id"], "1", "--url", base)
        assert resent.returncode == 0 and "delivered" in resent.stdout, resent.stderr
        assert got[1] == got[0] or got[1][0]["webhook-id"] == got[0][0]["webhook-id"]
        # the server holds the file: the local store is refused with what to do instead
        local = cli(tmp_path, "webhook", "list")
        assert local.returncode == 3 and "--url" in local.stderr
