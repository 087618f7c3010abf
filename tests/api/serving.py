"""A real ``graphsvc serve`` process for the tests that need real sockets and timing."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.cli.test_serve_and_tokens import free_port


@contextmanager
def serve(home: Path, *args: str, **settings: str) -> Iterator[str]:
    """Run ``graphsvc serve`` on a free loopback port with ``GRAPHSVC_<NAME>`` settings.

    Yields the base URL once ``/livez`` answers; the process is stopped after.
    """
    port = free_port()
    env = {
        **os.environ,
        "GRAPHSVC_DATA": str(home / "g.db"),
        "GRAPHSVC_LOG_FORMAT": "json",
        **{f"GRAPHSVC_{k.upper()}": v for k, v in settings.items()},
    }
    log = (home / f"server-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphsvc.cli.main", "serve", "--port", str(port), *args],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/livez", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def chain_batch(n: int) -> dict[str, object]:
    """A batch of ``n`` services where ``s{i+1}`` DEPENDS_ON ``s{i}`` (impact of s0: all)."""
    return {
        "source": "chain",
        "entities": [{"kind": "Service", "key": f"s{i}", "name": f"service {i}"} for i in range(n)],
        "relations": [
            {
                "type": "DEPENDS_ON",
                "from": {"kind": "Service", "key": f"s{i + 1}"},
                "to": {"kind": "Service", "key": f"s{i}"},
            }
            for i in range(n - 1)
        ],
    }


def chain_query(head_id: str, after: int) -> str:
    """The issue's query: one page of 500 paths from the head of a chain (after ``after``)."""
    cursor = base64.urlsafe_b64encode(f"c:{after}".encode()).decode()  # GraphQL's one scheme
    return (
        f'{{ impact(ids:["{head_id}"]) {{ affected(first:500, after:"{cursor}") {{ edges {{ '
        "node { depth path { type from{key name} to{key name} } } } } } }"
    )
