"""``graphsvc serve`` binding rules and ``graphsvc token`` management, as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.cli.test_import_batch import graphsvc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_refuses_a_public_address_without_tokens(tmp_path: Path) -> None:
    result = graphsvc(tmp_path, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "refusing to bind 0.0.0.0" in message and "graphsvc token create" in message


def test_token_lifecycle(tmp_path: Path) -> None:
    created = graphsvc(tmp_path, "token", "create", "portal", "--scope", "read")
    assert created.returncode == 0, created.stderr
    plaintext = created.stdout.strip()
    assert plaintext.startswith("gsv_")
    listed = graphsvc(tmp_path, "token", "list")
    assert "portal" in listed.stdout and "read" in listed.stdout and plaintext not in listed.stdout
    assert graphsvc(tmp_path, "token", "create", "portal").returncode == 2  # names are unique
    assert graphsvc(tmp_path, "token", "create", "x", "--scope", "root").returncode == 2
    revoked = graphsvc(tmp_path, "token", "revoke", "portal")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert graphsvc(tmp_path, "token", "revoke", "nobody").returncode == 2


def test_serve_answers_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    env_args = [sys.executable, "-m", "graphsvc.cli.main", "serve", "--port", str(port)]
    import os

    proc = subprocess.Popen(
        env_args,
        cwd=tmp_path,
        env={**os.environ, "GRAPHSVC_DATA": str(tmp_path / "g.db")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert r.status_code == 200
        q = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": "{ entities { totalCount } }"},
            timeout=10,
        )
        assert q.json() == {"data": {"entities": {"totalCount": 0}}}
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    # stderr is not a terminal: JSON logs
    chosen = next(json.loads(line) for line in stderr.splitlines() if b"auth mode chosen" in line)
    assert chosen["auth"] == "local"
    assert chosen["chosen_by"].startswith("GRAPHSVC_AUTH=auto and no token was ever created")


def test_a_bad_setting_is_named_in_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "GRAPHSVC_ENV": "staging", "GRAPHSVC_DATA": str(tmp_path / "g.db")}
    for args in (["serve"], ["token", "list"], ["import", "batch", str(tmp_path / "x.json")]):
        result = subprocess.run(
            [sys.executable, "-m", "graphsvc.cli.main", *args],
            capture_output=True,
            text=True,
            env={**env, "COLUMNS": "200"},
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert "invalid setting: GRAPHSVC_ENV" in result.stderr
        assert not (tmp_path / "g.db").exists()


def test_token_expiry_must_be_a_positive_number_of_days(tmp_path: Path) -> None:
    for days in ("0", "-1"):
        result = graphsvc(tmp_path, "token", "create", f"t{days}", "--expires-days", days)
        assert result.returncode == 2, result.stdout
        assert "expires-days" in result.stderr
    made = graphsvc(tmp_path, "token", "create", "week", "--expires-days", "7")
    assert made.returncode == 0, made.stderr
    listed = graphsvc(tmp_path, "token", "list")
    assert "week" in listed.stdout and "20" in listed.stdout.split("week", 1)[1]


def test_serve_refuses_a_public_address_in_forced_local_mode(tmp_path: Path) -> None:
    assert graphsvc(tmp_path, "token", "create", "ops", "--scope", "admin").returncode == 0
    env = {**os.environ, "GRAPHSVC_DATA": str(tmp_path / "g.db"), "GRAPHSVC_AUTH": "local"}
    result = subprocess.run(
        [sys.executable, "-m", "graphsvc.cli.main", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "local mode (GRAPHSVC_AUTH=local)" in " ".join(result.stderr.split())
