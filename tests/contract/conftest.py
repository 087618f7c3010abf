"""The contract suite: every promise of the store port and every ingest rule,
written once and run against every backend.

``embedded`` runs on a fresh file; ``neo4j`` against a real Neo4j 5 server
(see ``tests/conftest.py`` for where it comes from: by default the suite starts
Neo4j Community from Maven Central itself), from an empty database. The
in-memory model of the Neo4j statements (``tests/store/neo4j/cypher_model.py``)
is no longer a backend here: the real server judges the store; the model only
records the golden statements without a server and injects faults at a chosen
statement (``tests/store/neo4j``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.store.base import GraphStore
from graphsvc.store.factory import store_from_settings
from tests.conftest import STORE_BACKENDS, backend_params, store_settings


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every contract test once per backend."""
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", backend_params(STORE_BACKENDS))


@pytest.fixture
async def store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[GraphStore]:
    """An empty, open store of each backend."""
    s = store_from_settings(store_settings(backend, request, tmp_path))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def engine(store: GraphStore) -> IngestEngine:
    """The ingest engine over the store, retiring after 2 missed complete runs,
    with source ``authority`` outranking every other source."""
    return IngestEngine(
        store,
        IngestPolicy(source_priorities={"authority": 10, "lowly": -5}, retire_after_missing_runs=2),
    )
