"""Shared fixtures: a real embedded store in a temporary folder, and the engine over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.store.base import GraphStore
from graphsvc.store.factory import store_from_settings

DATA = Path(__file__).parent / "data"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GraphStore]:
    """An open embedded store on a fresh file."""
    s = store_from_settings(Settings(data=tmp_path / "graph.db", durability="normal"))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def engine(store: GraphStore) -> IngestEngine:
    """The ingest engine over :func:`store` (default policy)."""
    return IngestEngine(store, IngestPolicy(retire_after_missing_runs=2))
