"""Driver exceptions become graphsvc errors at the store's boundary (real driver classes)."""

from __future__ import annotations

import pytest
from neo4j.exceptions import (
    AuthError,
    ClientError,
    ConfigurationError,
    ConnectionAcquisitionTimeoutError,
    ConstraintError,
    CypherSyntaxError,
    DatabaseError,
    DatabaseUnavailable,
    IncompleteCommit,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from graphsvc.errors import (
    Conflict,
    GraphSvcError,
    NotFound,
    StoreCorrupted,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
)
from graphsvc.store.neo4j.errors import boundary, translate
from graphsvc.store.neo4j.store import Neo4jStore
from tests.store.neo4j.cypher_model import GraphState, ModelGateway


def server_error(code: str, message: str = "from the server") -> Neo4jError:
    """An error as the driver builds it from a server FAILURE message."""
    return Neo4jError._hydrate_neo4j(code=code, message=message)


@pytest.mark.parametrize(
    ("exc", "expected", "words"),
    [
        (ServiceUnavailable("no route"), StoreUnavailable, "cannot be reached"),
        (SessionExpired("gone"), StoreUnavailable, "cannot be reached"),
        (IncompleteCommit("lost"), StoreUnavailable, "sending the same batch again is safe"),
        (server_error("Neo.ClientError.Security.Unauthorized"), StoreUnavailable, "password"),
        (server_error("Neo.ClientError.Database.DatabaseNotFound"), StoreUnavailable, "database"),
        (server_error("Neo.TransientError.General.DatabaseUnavailable"), StoreUnavailable, ""),
        (
            server_error("Neo.TransientError.Transaction.DeadlockDetected"),
            StoreUnavailable,
            "try again",
        ),
        (server_error("Neo.ClientError.Transaction.TransactionTimedOut"), StoreTimeout, "longer"),
        (ConnectionAcquisitionTimeoutError("pool"), StoreTimeout, "longer"),
        (server_error("Neo.ClientError.Schema.ConstraintValidationFailed"), Conflict, "constraint"),
        (server_error("Neo.ClientError.Statement.SyntaxError"), StoreError, ""),
        (server_error("Neo.DatabaseError.General.UnknownError"), StoreError, ""),
        (ConfigurationError("bad uri"), StoreUnavailable, "GRAPHSVC_NEO4J_URI"),
    ],
)
def test_translation(exc: Exception, expected: type[GraphSvcError], words: str) -> None:
    out = translate(exc, "reading entities")
    assert type(out) is expected
    assert str(out).startswith("reading entities: ")
    assert words in str(out)


def test_the_driver_builds_the_classes_the_table_names() -> None:
    assert isinstance(server_error("Neo.ClientError.Security.Unauthorized"), AuthError)
    assert isinstance(
        server_error("Neo.TransientError.Transaction.DeadlockDetected"), TransientError
    )
    assert isinstance(
        server_error("Neo.TransientError.General.DatabaseUnavailable"), DatabaseUnavailable
    )
    assert isinstance(
        server_error("Neo.ClientError.Schema.ConstraintValidationFailed"), ConstraintError
    )
    assert isinstance(server_error("Neo.ClientError.Statement.SyntaxError"), CypherSyntaxError)
    assert isinstance(server_error("Neo.ClientError.Statement.SyntaxError"), ClientError)
    assert isinstance(server_error("Neo.DatabaseError.General.UnknownError"), DatabaseError)
    assert isinstance(IncompleteCommit("x"), ServiceUnavailable)


async def test_boundary_translates_and_lets_graphsvc_errors_through() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        async with boundary("pinging Neo4j"):
            raise ServiceUnavailable("connection refused")
    assert isinstance(caught.value.__cause__, ServiceUnavailable)
    with pytest.raises(NotFound):
        async with boundary("pinging Neo4j"):
            raise NotFound("x")
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        async with boundary("pinging Neo4j"):
            raise ConnectionRefusedError("refused")


class FailingGateway(ModelGateway):
    """A gateway whose reads fail the way the driver does."""

    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc

    async def read(self, work, doing):  # type: ignore[no-untyped-def]
        async with boundary(doing):
            raise self.exc


async def test_store_operations_raise_graphsvc_errors() -> None:
    store = Neo4jStore(gateway=FailingGateway(SessionExpired("leader switch")))
    with pytest.raises(StoreUnavailable, match="reading the graphsvc meta node"):
        await store.open()


async def test_open_refuses_a_foreign_database_and_another_model_version() -> None:
    foreign = GraphState()
    foreign.runs["x"] = {"run_id": "x"}  # any node graphsvc did not write
    with pytest.raises(StoreCorrupted, match="did not write"):
        await Neo4jStore(gateway=ModelGateway(foreign)).open()
    other = GraphState(meta={"schema_version": "0", "name": "graphsvc"})
    with pytest.raises(StoreCorrupted, match="model version 0"):
        await Neo4jStore(gateway=ModelGateway(other)).open()


async def test_closed_store_is_unavailable_and_close_twice_is_safe() -> None:
    store = Neo4jStore(gateway=ModelGateway())
    with pytest.raises(StoreUnavailable, match="not open"):
        await store.ping()
    await store.open()
    await store.ping()
    await store.close()
    await store.close()
    with pytest.raises(StoreUnavailable):
        async with store.write():
            pass
