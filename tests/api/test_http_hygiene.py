"""HTTP hygiene (issue 17, item 5): no Host-reflecting redirect, a deadline for headers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import Api
from tests.cli.test_serve_and_tokens import free_port


async def test_no_redirect_reflects_the_host_header(api: Api) -> None:
    for path in ("/api/v1/runs/", "/graphql/", "/livez/"):
        r = await api.client.get(path, headers={"host": "evil.example"})
        assert "location" not in r.headers, (path, r.headers)
        assert r.status_code in (403, 404), (path, r.status_code)
        assert "evil.example" not in r.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real ``graphsvc serve`` with a one-second header deadline."""
    home = tmp_path_factory.mktemp("hygiene")
    port = free_port()
    env = {
        **os.environ,
        "GRAPHSVC_DATA": str(home / "g.db"),
        "GRAPHSVC_HEADER_TIMEOUT_SECONDS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphsvc.cli.main", "serve", "--port", str(port)],
        cwd=home,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _read_all(sock: socket.socket, within: float) -> bytes:
    sock.settimeout(within)
    received = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return received
        received += chunk


@pytest.mark.parametrize("sent", [b"", b"GET /livez HTTP/1.1\r\nHost: localh"])
def test_unfinished_headers_are_timed_out(server: int, sent: bytes) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(sent)
        answer = _read_all(sock, within=10)
    waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert 0.8 < waited < 5, waited


def test_a_trickle_of_header_bytes_does_not_extend_the_deadline(server: int) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.settimeout(10)
        try:
            for byte in b"GET /livez HTTP/1.1\r\nX-Slow: " + b"a" * 50:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass  # closed under us: what we want
        answer = _read_all(sock, within=10)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < 5


def test_complete_requests_are_served(server: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{server}") as client:
        for _ in range(3):  # keep-alive: the deadline is re-armed per request
            assert client.get("/livez").status_code == 200
            time.sleep(0.6)
