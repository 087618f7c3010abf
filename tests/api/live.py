"""A real uvicorn serving the real app in a thread, for tests of long-lived connections.

httpx's ASGI transport reads whole answers, so an event stream or a websocket
needs a real server: :class:`LiveServer` runs ``GracefulServer`` (the server
``graphsvc serve`` runs) on a free loopback port in a thread of the test process,
so a test can also reach the app's services (its store, its feed hub).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from graphsvc.api.app import create_app
from graphsvc.api.rest import Services
from graphsvc.api.server import GracefulServer
from graphsvc.config import Settings
from tests.cli.test_serve_and_tokens import free_port


def live_settings(store: Settings | None, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings of a test server over ``store`` (``None``: a new embedded file)."""
    base = store if store is not None else Settings(data=tmp_path / "live.db")
    return base.model_copy(
        update={
            "tokens_file": tmp_path / "tokens.db",
            "durability": "normal",
            "log_format": "json",
            **overrides,
        }
    )


class LiveServer:
    """The app for ``settings`` served on 127.0.0.1 by uvicorn in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.port = free_port()
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = GracefulServer(config)
        self.thread = threading.Thread(target=self.server.run, name="live-server", daemon=True)

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def services(self) -> Services:
        """The app's services (its store, its feed hub)."""
        found: Services = self.app.state.services
        return found

    def start(self) -> LiveServer:
        """Start serving; return once the server accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, (
                "the server did not start"
            )
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 15.0) -> float:
        """Shut down as on SIGTERM; return how long it took (fails past ``timeout``)."""
        began = time.monotonic()
        self.server.should_exit = True
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the server did not stop"
        return time.monotonic() - began

    def ingest(self, batch: dict[str, Any], token: str | None = None) -> None:
        """Send one JSON batch."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        r = httpx.post(f"{self.url}/api/v1/ingest", json=batch, headers=headers, timeout=30)
        assert r.status_code == 200, r.text


def sse_messages(response: httpx.Response) -> Iterator[dict[str, str]]:
    """The messages of a ``text/event-stream`` answer, as they arrive (field -> value).

    A comment line is the field ``comment``; ``data`` lines are joined with newlines.
    """
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if fields:
                yield fields
            fields = {}
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            name = "comment"
        if name == "data" and "data" in fields:
            value = f"{fields['data']}\n{value}"
        fields[name] = value
