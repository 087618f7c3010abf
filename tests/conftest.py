"""Shared fixtures: a real store of each backend, and the engine over it.

Backends. Tests that take ``store`` (or, in ``tests/api``, ``make_api``) under
``tests/analysis`` and ``tests/api`` run once per backend of
:data:`STORE_BACKENDS`: the embedded store on a fresh file, and a real Neo4j 5
server. ``tests/contract`` runs the same two (its own ``conftest.py``). Other
tests that take ``store`` get the embedded one.

Where Neo4j comes from, in this order:

1. ``GRAPHSVC_TEST_NEO4J_URI`` (with ``_USER``, ``_PASSWORD``, ``_DATABASE``):
   any server (a cluster, Aura). Each test empties that database first: never
   point it at data you keep.
2. ``GRAPHSVC_TEST_NEO4J=docker``: the ``neo4j`` service of the top-level
   ``docker-compose.yml`` through pytest-docker (needs a Docker engine).
3. Otherwise the suite starts Neo4j Community 5.26 itself from Maven Central
   (``tests/neo4j_server``: the artifacts cached in ``~/.m2``, a free loopback
   Bolt port, authentication on) once per session and stops it at the end.

When none of these can give a server the Neo4j cases fail, they do not skip;
``GRAPHSVC_SKIP_NEO4J=1``, set by hand, skips them, and only then does a
skipped Neo4j case not fail the run (see :func:`pytest_sessionfinish`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.store.base import GraphStore
from graphsvc.store.factory import store_from_settings

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]
STORE_BACKENDS = ["embedded", "neo4j"]
PER_BACKEND_DIRS = {"analysis", "api"}
SKIP_NEO4J = "GRAPHSVC_SKIP_NEO4J=1 is set: the Neo4j cases are skipped by hand"
NEO4J_COMPOSE_PASSWORD = os.environ.get("NEO4J_PASSWORD", "graphsvc-dev-password")


def neo4j_skipped_by_hand() -> bool:
    """Whether ``GRAPHSVC_SKIP_NEO4J=1`` was set."""
    return os.environ.get("GRAPHSVC_SKIP_NEO4J", "") == "1"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the analysis and API tests that take a store once per backend."""
    folder = metafunc.definition.path.parent.name
    if folder in PER_BACKEND_DIRS and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", backend_params(STORE_BACKENDS))


def backend_params(names: list[str]) -> list[Any]:
    """Backend names as parameters; the real-Neo4j one carries the ``neo4j`` mark."""
    return [pytest.param(n, marks=pytest.mark.neo4j) if n == "neo4j" else n for n in names]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def backend() -> str:
    """The store backend of a test that is not run once per backend."""
    return "embedded"


# ---------------------------------------------------------------------- Neo4j


def _settings_from_env(uri: str) -> Settings:
    return Settings(
        store="neo4j",
        neo4j_uri=uri,
        neo4j_user=os.environ.get("GRAPHSVC_TEST_NEO4J_USER", "neo4j"),
        neo4j_password=os.environ.get("GRAPHSVC_TEST_NEO4J_PASSWORD", ""),  # type: ignore[arg-type]
        neo4j_database=os.environ.get("GRAPHSVC_TEST_NEO4J_DATABASE", "neo4j"),
    )


def _neo4j_ready(uri: str, auth: tuple[str, str]) -> bool:
    import neo4j

    try:
        with neo4j.GraphDatabase.driver(uri, auth=auth) as driver:
            driver.verify_connectivity()
    except Exception:  # any failure means "not yet"
        return False
    return True


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    """pytest-docker: the project's compose file (its ``neo4j`` service)."""
    return str(ROOT / "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    """pytest-docker: start only the Neo4j service, and wait for its healthcheck."""
    return ["up -d --wait neo4j"]


def _compose_settings(request: pytest.FixtureRequest) -> Settings:
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


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The Neo4j server this session started (``None`` when another one is used)."""
    if neo4j_skipped_by_hand():
        pytest.skip(SKIP_NEO4J)
    if os.environ.get("GRAPHSVC_TEST_NEO4J_URI") or os.environ.get("GRAPHSVC_TEST_NEO4J"):
        yield None
        return
    from tests.neo4j_server.server import Neo4jServer, Neo4jServerError

    server = Neo4jServer(tmp_path_factory.mktemp("neo4j-home"), heap="1g", page_cache="256m")
    try:
        server.start()
    except Neo4jServerError as exc:
        pytest.fail(f"the Neo4j test server did not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        # its home is the session's temporary folder: no clean shutdown to wait for
        server.stop(keep_data=False)


@pytest.fixture(scope="session")
def neo4j_settings(request: pytest.FixtureRequest, neo4j_server: Any) -> Settings:
    """Settings that reach the test Neo4j (see the module docstring for where it comes from)."""
    uri = os.environ.get("GRAPHSVC_TEST_NEO4J_URI")
    if uri:
        return _settings_from_env(uri)
    if os.environ.get("GRAPHSVC_TEST_NEO4J") == "docker":
        return _compose_settings(request)
    conn = neo4j_server.connection
    return Settings(
        store="neo4j",
        neo4j_uri=conn.bolt_uri,
        neo4j_user=conn.user,
        neo4j_password=conn.password,  # type: ignore[arg-type]
        neo4j_database=conn.database,
    )


@pytest.fixture(scope="session")
def neo4j_admin(neo4j_settings: Settings) -> Iterator[Any]:
    """A synchronous driver on the test Neo4j, for emptying it and for checks."""
    import neo4j

    auth = (neo4j_settings.neo4j_user, neo4j_settings.neo4j_password.get_secret_value())
    with neo4j.GraphDatabase.driver(neo4j_settings.neo4j_uri, auth=auth) as driver:
        yield driver


@pytest.fixture
def empty_neo4j(neo4j_settings: Settings, neo4j_admin: Any) -> Settings:
    """The test Neo4j with every node deleted (constraints and indexes stay)."""
    with neo4j_admin.session(database=neo4j_settings.neo4j_database) as session:
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()
    return neo4j_settings


def store_settings(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings of an empty store of ``backend`` (the Neo4j database is emptied)."""
    if backend == "neo4j":
        found: Settings = request.getfixturevalue("empty_neo4j")
        return found
    return Settings(data=tmp_path / "graph.db", durability="normal")


@pytest.fixture
async def store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[GraphStore]:
    """An empty, open store of the test's backend."""
    s = store_from_settings(store_settings(backend, request, tmp_path))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def engine(store: GraphStore) -> IngestEngine:
    """The ingest engine over :func:`store` (default policy)."""
    return IngestEngine(store, IngestPolicy(retire_after_missing_runs=2))


# ------------------------------------------------- skipped Neo4j cases fail the run

_neo4j_cases: set[str] = set()
_skipped_neo4j: list[str] = []


SLOW_MODULES = frozenset(
    {
        "tests/analysis/test_spof_property.py",
        "tests/api/test_explorer_browser.py",
        "tests/cli/test_import_remote.py",
        "tests/fuzz/test_identity_machine.py",
        "tests/store/test_crash_trials.py",
    }
)
"""Modules whose cases take seconds each: marked ``slow``, so that ``make unit`` runs them
in the process of the Neo4j cases (``-m "neo4j or slow"``) and the two halves take
about as long."""


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the cases of :data:`SLOW_MODULES`; note those that need the real Neo4j."""
    for item in items:
        if item.path.relative_to(ROOT).as_posix() in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
    _neo4j_cases.update(i.nodeid for i in items if i.get_closest_marker("neo4j") is not None)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember every Neo4j case that was skipped."""
    if report.skipped and report.nodeid in _neo4j_cases:
        _skipped_neo4j.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped Neo4j case fails the run unless ``GRAPHSVC_SKIP_NEO4J=1`` was set by hand."""
    if _skipped_neo4j and not neo4j_skipped_by_hand() and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"FAILED: {len(_skipped_neo4j)} Neo4j case(s) skipped (first: {_skipped_neo4j[0]});"
                " set GRAPHSVC_SKIP_NEO4J=1 by hand to allow that",
                red=True,
            )
