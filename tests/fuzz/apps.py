"""The app under fuzzing: the real ASGI app over a fresh embedded store, small graph loaded.

Schemathesis reaches an ASGI app in-process through its own client, whose
requests come from the client host ``testclient``, which graphsvc counts as
loopback: with no token configured the app runs in local mode and the fuzzer
is ``admin``, so every route, the writing ones included, is exercised past
authentication. Requests are addressed to ``localhost`` (:data:`BASE_URL`), as
local mode also requires. (Authentication itself is tested in ``tests/api/test_auth.py``.)

The app is built when the test module is imported (schemathesis needs the
schema to parametrize the tests at collection; building the app does no I/O),
over a fresh temporary folder. Its lifespan starts with the first request, in
schemathesis's event-loop thread, and stays up until :meth:`FuzzApp.close`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from schemathesis.python import asgi

from graphsvc.api.app import create_app
from graphsvc.config import Settings
from tests.fuzz.campaign import store_snapshot

SMALL = Path(__file__).parents[1] / "data" / "core" / "small-graph.json"
BASE_URL = "http://localhost"
"""Where requests are addressed: in local mode the app serves only requests to a loopback name."""


@dataclass(frozen=True)
class FuzzApp:
    """An app and the file of its store."""

    app: FastAPI
    folder: Path

    @property
    def data(self) -> Path:
        """The store's SQLite file."""
        return self.folder / "graph.db"

    def snapshot(self) -> dict[str, int]:
        """Row counts of every table of the store (see :func:`store_snapshot`)."""
        return store_snapshot(self.data)

    def load_small_graph(self) -> None:
        """Start the app (its lifespan) and ingest the small graph."""
        with asgi.ASGIClient(self.app, base_url=BASE_URL) as client:
            r = client.post("/api/v1/ingest", json=json.loads(SMALL.read_text()))
            assert r.status_code == 200, r.text

    def close(self) -> None:
        """End the lifespans schemathesis started (closing the store) and remove the folder."""
        asgi.shutdown_lifespans()
        shutil.rmtree(self.folder, ignore_errors=True)


def build_app(name: str) -> FuzzApp:
    """Build the production-mode app (local mode, no token) over a new temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix=f"graphsvc-fuzz-{name}-"))
    settings = Settings(
        data=folder / "graph.db",
        tokens_file=folder / "tokens.db",
        durability="normal",
        log_format="json",
        request_timeout_seconds=20,
        # the event stream ends after its first page: the fuzz client reads whole answers
        event_stream_max_seconds=0.05,
    )
    return FuzzApp(create_app(settings), folder)
