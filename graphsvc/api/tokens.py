"""API tokens: scopes, storage as hashes, verification in constant time.

A token looks like ``gsv_<id>_<secret>``: ``id`` names the row, ``secret`` is 32
random bytes (URL-safe base64). Only ``sha256(secret)`` is stored, in a small
SQLite file of its own (``GRAPHSVC_TOKENS_FILE``, default ``tokens.db`` beside
the data file) so that tokens work the same whatever graph backend is used. The
plaintext is shown once, when the token is created.

Scopes nest: ``admin`` ⊃ ``write`` ⊃ ``read``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from graphsvc.errors import InvalidInput, NotFound, StoreUnavailable

__all__ = ["Principal", "Scope", "TokenInfo", "TokenStore"]


class Scope(StrEnum):
    """What a token may do: ``read`` queries, ``write`` ingests, ``admin`` everything."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    def allows(self, needed: Scope) -> bool:
        """Return whether this scope covers ``needed``."""
        order = (Scope.READ, Scope.WRITE, Scope.ADMIN)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token, without its secret."""

    token_id: str
    name: str
    scope: Scope
    created: datetime
    expires: datetime | None
    revoked: bool
    last_used: datetime | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name (recorded as the actor of writes) and scope."""

    name: str
    scope: Scope

    def allows(self, needed: Scope) -> bool:
        """Return whether this caller may do what ``needed`` requires."""
        return self.scope.allows(needed)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS token (
    token_id  TEXT PRIMARY KEY,
    name      TEXT NOT NULL UNIQUE,
    scope     TEXT NOT NULL,
    digest    BLOB NOT NULL,
    created   REAL NOT NULL,
    expires   REAL,
    revoked   INTEGER NOT NULL DEFAULT 0,
    last_used REAL
)
"""


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


class TokenStore:
    """Tokens in a SQLite file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                msg = f"cannot open the token file {self.path}: {exc}"
                raise StoreUnavailable(msg) from exc
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the file."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def create(
        self, name: str, scope: Scope, *, expires: datetime | None = None
    ) -> tuple[TokenInfo, str]:
        """Create a token and return it with its plaintext (shown only now).

        Raises:
            InvalidInput: when the name is empty or already used.
        """
        if not name.strip():
            msg = "a token needs a name"
            raise InvalidInput(msg)
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            try:
                self._db().execute(
                    "INSERT INTO token(token_id, name, scope, digest, created, expires) "
                    "VALUES (?,?,?,?,?,?)",
                    (
                        token_id,
                        name,
                        scope.value,
                        _digest(secret),
                        now,
                        expires.timestamp() if expires else None,
                    ),
                )
            except sqlite3.IntegrityError:
                msg = f"a token named {name!r} already exists"
                raise InvalidInput(msg) from None
        info = TokenInfo(
            token_id, name, scope, _time(now) or datetime.now(UTC), expires, False, None
        )
        return info, f"gsv_{token_id}_{secret}"

    def list(self) -> list[TokenInfo]:
        """Return every token (revoked ones included), oldest first."""
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT token_id, name, scope, created, expires, revoked, last_used "
                    "FROM token ORDER BY created"
                )
                .fetchall()
            )
        return [
            TokenInfo(
                r[0],
                r[1],
                Scope(r[2]),
                _time(r[3]) or datetime.now(UTC),
                _time(r[4]),
                bool(r[5]),
                _time(r[6]),
            )
            for r in rows
        ]

    def revoke(self, name_or_id: str) -> TokenInfo:
        """Revoke a token by name or id.

        Raises:
            NotFound: when no token has that name or id.
        """
        with self._lock:
            cur = self._db().execute(
                "UPDATE token SET revoked = 1 WHERE name = ? OR token_id = ?",
                (name_or_id, name_or_id),
            )
            if cur.rowcount == 0:
                msg = f"no token {name_or_id!r}"
                raise NotFound(msg)
        return next(t for t in self.list() if name_or_id in (t.name, t.token_id))

    def count_all(self) -> int:
        """Return how many tokens the file holds, revoked and expired ones included."""
        with self._lock:
            row = self._db().execute("SELECT count(*) FROM token").fetchone()
        return int(row[0])

    def active_count(self) -> int:
        """Return how many tokens can still be used."""
        now = time.time()
        with self._lock:
            row = (
                self._db()
                .execute(
                    "SELECT count(*) FROM token "
                    "WHERE revoked = 0 AND (expires IS NULL OR expires > ?)",
                    (now,),
                )
                .fetchone()
            )
        return int(row[0])

    def verify(self, presented: str) -> Principal | None:
        """Return the caller a presented token stands for, or ``None`` when it is not valid.

        Unknown, malformed, revoked and expired tokens are all ``None``. The
        digest comparison runs in constant time.
        """
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != "gsv" or not parts[1] or not parts[2]:
            return None
        token_id, secret = parts[1], parts[2]
        with self._lock:
            row = (
                self._db()
                .execute(
                    "SELECT name, scope, digest, expires, revoked, last_used "
                    "FROM token WHERE token_id = ?",
                    (token_id,),
                )
                .fetchone()
            )
        digest = _digest(secret)
        stored = row[2] if row else b"\0" * len(digest)
        matches = hmac.compare_digest(digest, stored)
        if row is None or not matches or row[4]:
            return None
        now = time.time()
        if row[3] is not None and row[3] <= now:
            return None
        if row[5] is None or now - row[5] > 60:
            with self._lock:
                self._db().execute(
                    "UPDATE token SET last_used = ? WHERE token_id = ?", (now, token_id)
                )
        return Principal(row[0], Scope(row[1]))
