"""Translation of the neo4j driver's exceptions into :mod:`graphsvc.errors`.

Every call into the driver runs inside :func:`boundary`, so no caller of the
store ever sees a ``neo4j`` exception:

================================================  ===================================
driver exception                                  graphsvc error
================================================  ===================================
``IncompleteCommit``                              ``StoreUnavailable`` (outcome unknown)
``ServiceUnavailable``, ``SessionExpired``,       ``StoreUnavailable``
``AuthError``, ``Forbidden``, ``ConfigurationError``,
``DatabaseUnavailable``, database not found
``TransientError`` (deadlock, leader switch …)    ``StoreUnavailable`` (retry later)
transaction timed out, pool acquisition timeout   ``StoreTimeout``
``ConstraintError``                               ``Conflict``
any other ``Neo4jError`` / ``DriverError``        ``StoreError``
================================================  ===================================

``StoreUnavailable`` maps to HTTP 503: a client may retry, and re-sending an
ingest batch is safe (a batch applied twice changes nothing but ``last_seen``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from neo4j.exceptions import (
    AuthError,
    ConfigurationError,
    ConnectionAcquisitionTimeoutError,
    ConstraintError,
    DatabaseUnavailable,
    DriverError,
    Forbidden,
    IncompleteCommit,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from graphsvc.errors import (
    Conflict,
    GraphSvcError,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
)

__all__ = ["boundary", "translate"]

_TIMEOUT_CODES = frozenset(
    {
        "Neo.ClientError.Transaction.TransactionTimedOut",
        "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration",
        "Neo.TransientError.Transaction.LockClientStopped",
    }
)
_UNAVAILABLE_CODES = frozenset(
    {
        "Neo.ClientError.Database.DatabaseNotFound",
        "Neo.ClientError.Security.Unauthorized",
        "Neo.ClientError.Security.AuthenticationRateLimit",
    }
)


def translate(exc: Exception, doing: str) -> GraphSvcError:
    """Return the graphsvc error for a driver exception raised while ``doing`` something.

    ``doing`` names the operation (``"reading entities"``); it starts the
    message. Exceptions that are not the driver's come back as ``StoreError``.
    """
    code = getattr(exc, "code", None) if isinstance(exc, Neo4jError) else None
    detail = f"{doing}: {exc}"
    if isinstance(exc, IncompleteCommit):
        return StoreUnavailable(
            f"{doing}: Neo4j went away while committing, so whether the change was "
            f"stored is unknown; sending the same batch again is safe ({exc})"
        )
    if code in _TIMEOUT_CODES or isinstance(exc, ConnectionAcquisitionTimeoutError):
        return StoreTimeout(f"{detail} (Neo4j took longer than allowed)")
    if isinstance(exc, ConstraintError):
        return Conflict(f"{detail} (a Neo4j constraint refused the change)")
    if isinstance(exc, DatabaseUnavailable | ServiceUnavailable | SessionExpired):
        return StoreUnavailable(f"{detail} (Neo4j cannot be reached)")
    if isinstance(exc, AuthError | Forbidden) or code in _UNAVAILABLE_CODES:
        return StoreUnavailable(f"{detail} (check the Neo4j user, password and database)")
    if isinstance(exc, TransientError):
        return StoreUnavailable(f"{detail} (a transient Neo4j failure; try again)")
    if isinstance(exc, ConfigurationError):
        return StoreUnavailable(f"{detail} (check GRAPHSVC_NEO4J_URI)")
    return StoreError(detail)


@asynccontextmanager
async def boundary(doing: str) -> AsyncIterator[None]:
    """Run a block that calls the driver; re-raise its exceptions as graphsvc errors.

    graphsvc errors raised inside the block pass through unchanged.
    """
    try:
        yield
    except GraphSvcError:
        raise
    except (Neo4jError, DriverError) as exc:
        raise translate(exc, doing) from exc
    except OSError as exc:
        raise StoreUnavailable(f"{doing}: {exc} (Neo4j cannot be reached)") from exc
