"""The contract suite: every promise of the store port and every ingest rule,
written once and run against every backend.

The embedded backend always runs. So does ``neo4j-model``: the Neo4j store's
own code over an in-memory model of its Cypher statements
(``tests/store/neo4j/cypher_model.py``), which checks everything but Neo4j
itself. The ``neo4j`` backend runs against a real Neo4j 5 when
``GRAPHSVC_TEST_NEO4J_URI`` is set (with ``GRAPHSVC_TEST_NEO4J_USER``,
``_PASSWORD``, ``_DATABASE``), or through pytest-docker and the top-level
``docker-compose.yml`` when ``docker info`` succeeds; it is skipped otherwise
with a reason that says so (``GRAPHSVC_REQUIRE_NEO4J=1``, set by ``make
test-neo4j``, turns that skip into a failure). Every Neo4j test starts from an
empty database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.store.base import GraphStore
from graphsvc.store.factory import store_from_settings
from graphsvc.store.neo4j.store import Neo4jStore
from tests.store.neo4j.cypher_model import ModelGateway

BACKENDS = ["embedded", "neo4j-model", "neo4j"]
ROOT = Path(__file__).resolve().parents[2]
NEO4J_COMPOSE_PASSWORD = os.environ.get("NEO4J_PASSWORD", "graphsvc-dev-password")
NO_NEO4J = "Neo4j backend: no GRAPHSVC_TEST_NEO4J_URI and no Docker engine (`docker info` failed)"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every contract test once per backend."""
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS)


@cache
def docker_engine_answers() -> bool:
    """Whether a Docker engine answers (a ``docker`` binary alone is not enough)."""
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    """pytest-docker: the project's compose file (its ``neo4j`` service)."""
    return str(ROOT / "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    """pytest-docker: start only the Neo4j service, and wait for its healthcheck."""
    return ["up -d --wait neo4j"]


def _neo4j_ready(uri: str, auth: tuple[str, str]) -> bool:
    import neo4j

    try:
        with neo4j.GraphDatabase.driver(uri, auth=auth) as driver:
            driver.verify_connectivity()
    except Exception:  # any failure means "not yet"
        return False
    return True


@pytest.fixture(scope="session")
def neo4j_settings(request: pytest.FixtureRequest) -> Settings:
    """Where the Neo4j contract case runs: the env URI, else a compose container, else skip."""
    uri = os.environ.get("GRAPHSVC_TEST_NEO4J_URI")
    if uri:
        return Settings(
            store="neo4j",
            neo4j_uri=uri,
            neo4j_user=os.environ.get("GRAPHSVC_TEST_NEO4J_USER", "neo4j"),
            neo4j_password=os.environ.get("GRAPHSVC_TEST_NEO4J_PASSWORD", ""),  # type: ignore[arg-type]
            neo4j_database=os.environ.get("GRAPHSVC_TEST_NEO4J_DATABASE", "neo4j"),
        )
    if not docker_engine_answers():
        if os.environ.get("GRAPHSVC_REQUIRE_NEO4J"):
            pytest.fail(NO_NEO4J)
        pytest.skip(NO_NEO4J)
    services: Any = request.getfixturevalue("docker_services")
    ip: str = request.getfixturevalue("docker_ip")
    uri = f"bolt://{ip}:{services.port_for('neo4j', 7687)}"
    auth = ("neo4j", NEO4J_COMPOSE_PASSWORD)
    services.wait_until_responsive(timeout=180.0, pause=2.0, check=lambda: _neo4j_ready(uri, auth))
    return Settings(
        store="neo4j",
        neo4j_uri=uri,
        neo4j_user=auth[0],
        neo4j_password=auth[1],  # type: ignore[arg-type]
    )


def _empty_neo4j(settings: Settings) -> None:
    """Delete every node of the test database (constraints and indexes stay)."""
    import neo4j

    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    with neo4j.GraphDatabase.driver(settings.neo4j_uri, auth=auth) as driver:
        driver.execute_query("MATCH (n) DETACH DELETE n", database_=settings.neo4j_database)


@pytest.fixture
async def store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[GraphStore]:
    """An empty, open store of each backend."""
    s: GraphStore
    if backend == "neo4j":
        settings: Settings = request.getfixturevalue("neo4j_settings")
        _empty_neo4j(settings)
        s = store_from_settings(settings)
    elif backend == "neo4j-model":
        s = Neo4jStore(gateway=ModelGateway())
    else:
        s = store_from_settings(Settings(data=tmp_path / "graph.db", durability="normal"))
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
