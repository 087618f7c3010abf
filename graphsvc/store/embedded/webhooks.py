"""Webhook subscriptions of the embedded store: two SQLite tables in the store's file.

``webhook`` holds one row per subscription, ``webhook_delivery`` its log
(:mod:`graphsvc.store.embedded.schema`). They live in the same file as the
graph, so a subscription, its cursor and its pending batch survive exactly what
the graph survives (``kill -9``, and power loss with ``durability=full``).

Writes go through a connection of their own, not the graph's writer
connection, and never take the store's write lock: a webhook write waits at
most for the few milliseconds of a graph commit (SQLite's file lock), never for
an ingest that is still computing, and an ingest never waits for a delivery.

Leases: one process writes a store file (the writer lock on the file), so a
lease found in the file when this process first writes to the webhook tables
was left by a process that has stopped (killed, or restarted); it is cleared
then, and delivery resumes at once rather than after the lease's expiry. The
conditional writes below still hold leases exclusive between the delivery tasks
of this process (each statement runs in one ``BEGIN IMMEDIATE`` transaction).
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread

from graphsvc.errors import NotFound, ReadOnlyStore, StoreUnavailable
from graphsvc.model.records import from_micros
from graphsvc.store.webhooks import (
    DELIVERY_LOG_KEEP,
    DeliveryAttempt,
    DeliveryPage,
    DeliveryRecord,
    NewWebhook,
    Webhook,
    WebhookState,
    WebhookStore,
    cut_body,
    filter_from_json,
    filter_to_json,
)

if TYPE_CHECKING:
    from graphsvc.store.embedded.store import EmbeddedStore

__all__ = ["EmbeddedWebhooks"]

T = TypeVar("T")

_COLUMNS = (
    "id, url, filter, description, secret, state, cursor, batch_end, attempts, next_attempt, "
    "last_error, created, updated, lease_owner, lease_until, deliveries"
)
_DELIVERY_COLUMNS = (
    "number, webhook, message_id, first_seq, last_seq, events, attempt, manual, at, duration, "
    "status_code, error, body, ok"
)


def _webhook(row: tuple[Any, ...]) -> Webhook:
    (
        wid,
        url,
        filter_,
        description,
        secret,
        state,
        cursor,
        batch_end,
        attempts,
        next_attempt,
        last_error,
        created,
        updated,
        lease_owner,
        lease_until,
        deliveries,
    ) = row
    return Webhook(
        id=wid,
        url=url,
        filter=filter_from_json(filter_),
        description=description,
        sealed_secret=secret,
        state=WebhookState(state),
        cursor=cursor,
        batch_end=batch_end,
        attempts=attempts,
        next_attempt=from_micros(next_attempt) if next_attempt is not None else None,
        last_error=last_error,
        created=from_micros(created),
        updated=from_micros(updated),
        lease_owner=lease_owner,
        lease_until=from_micros(lease_until) if lease_until is not None else None,
        deliveries=deliveries,
    )


def _delivery(row: tuple[Any, ...]) -> DeliveryRecord:
    number, wid, message_id, first, last, events, attempt, manual, at, duration, code, error = row[
        :12
    ]
    body, ok = row[12:]
    return DeliveryRecord(
        number=number,
        webhook_id=wid,
        message_id=message_id,
        first_seq=first,
        last_seq=last,
        events=events,
        attempt=attempt,
        manual=bool(manual),
        at=from_micros(at),
        duration=duration,
        status_code=code,
        error=error,
        response_body=body,
        succeeded=bool(ok),
    )


class EmbeddedWebhooks(WebhookStore):
    """:class:`~graphsvc.store.webhooks.WebhookStore` over the embedded store's file."""

    def __init__(self, store: EmbeddedStore) -> None:
        self._store = store
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the write connection (the store's close calls this)."""
        with self._lock:
            if self._conn is not None:
                with suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    # ------------------------------------------------------------------ plumbing
    def _writing(self) -> sqlite3.Connection:
        """The write connection (caller holds ``_lock``); the first one clears old leases."""
        store = self._store
        if store.read_only:
            msg = (
                f"this is a read replica of {store.path}: manage webhooks on the writer "
                "(graphsvc serve without --read-only)"
            )
            raise ReadOnlyStore(msg)
        if self._conn is None:
            conn = store.connect_for_writes()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE webhook SET lease_owner = NULL, lease_until = NULL")
            conn.execute("COMMIT")
            self._conn = conn
        return self._conn

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one ``BEGIN IMMEDIATE`` transaction, off the event loop."""

        def run() -> T:
            with self._lock:
                conn = self._writing()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result

        try:
            return await anyio.to_thread.run_sync(run)
        except sqlite3.Error as exc:
            msg = f"{self._store.path}: webhook write failed: {exc}"
            raise StoreUnavailable(msg) from exc

    def _read(self) -> sqlite3.Connection:
        return self._store.reader_connection()

    # ------------------------------------------------------------- subscriptions
    async def create(self, new: NewWebhook) -> Webhook:
        """Insert the subscription with a new random id."""
        wid = "wh_" + secrets.token_hex(12)

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO webhook ({_COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, 'active', ?, NULL, 0, NULL, '', ?, ?, NULL, NULL, 0)",
                (
                    wid,
                    new.url,
                    filter_to_json(new.filter),
                    new.description,
                    new.sealed_secret,
                    new.cursor,
                    new.created,
                    new.created,
                ),
            )

        await self._write(work)
        found = await self.get(wid)
        assert found is not None
        return found

    async def get(self, webhook_id: str) -> Webhook | None:
        """Read one row."""
        row = (
            self._read()
            .execute(f"SELECT {_COLUMNS} FROM webhook WHERE id = ?", (webhook_id,))
            .fetchone()
        )
        return _webhook(row) if row else None

    async def list(self) -> list[Webhook]:
        """Read every row, oldest first.

        On a writable store the first call opens the write connection, which
        clears the leases a stopped process left (module docstring): the
        delivery scheduler lists before it writes, and would otherwise take such
        a lease for another process's and wait for its expiry.
        """
        if self._conn is None and not self._store.read_only:
            await self._write(lambda _conn: None)
        rows = self._read().execute(f"SELECT {_COLUMNS} FROM webhook ORDER BY created, id")
        return [_webhook(r) for r in rows.fetchall()]

    async def set_state(self, webhook_id: str, state: WebhookState, *, now: int) -> Webhook | None:
        """Update the state (and, to active, make the pending batch due now)."""

        def work(conn: sqlite3.Connection) -> int:
            if state is WebhookState.ACTIVE:
                sql = (
                    "UPDATE webhook SET state = ?, attempts = 0, next_attempt = NULL, "
                    "updated = ? WHERE id = ?"
                )
            else:
                sql = "UPDATE webhook SET state = ?, updated = ? WHERE id = ?"
            return conn.execute(sql, (state.value, now, webhook_id)).rowcount

        if not await self._write(work):
            return None
        return await self.get(webhook_id)

    async def delete(self, webhook_id: str) -> bool:
        """Delete the row and its log."""

        def work(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM webhook_delivery WHERE webhook = ?", (webhook_id,))
            return conn.execute("DELETE FROM webhook WHERE id = ?", (webhook_id,)).rowcount > 0

        return await self._write(work)

    async def advance(self, webhook_id: str, *, expected: int, cursor: int, now: int) -> bool:
        """Compare-and-set the cursor (see the port)."""

        def work(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(
                    "UPDATE webhook SET cursor = ?, batch_end = NULL, attempts = 0, "
                    "next_attempt = NULL, last_error = '', updated = ? "
                    "WHERE id = ? AND cursor = ?",
                    (cursor, now, webhook_id, expected),
                ).rowcount
                > 0
            )

        return await self._write(work)

    async def pin_batch(self, webhook_id: str, *, expected: int, batch_end: int, now: int) -> bool:
        """Set the pending batch's end, compare-and-set on the cursor (see the port)."""

        def work(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(
                    "UPDATE webhook SET batch_end = ?, updated = ? "
                    "WHERE id = ? AND cursor = ? AND state = 'active'",
                    (batch_end, now, webhook_id, expected),
                ).rowcount
                > 0
            )

        return await self._write(work)

    async def postpone(
        self,
        webhook_id: str,
        *,
        expected: int,
        batch_end: int,
        attempts: int,
        next_attempt: int | None,
        error: str,
        now: int,
    ) -> bool:
        """Record a failed attempt, compare-and-set on the cursor (see the port)."""
        state = WebhookState.ACTIVE if next_attempt is not None else WebhookState.FAILING

        def work(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(
                    "UPDATE webhook SET batch_end = ?, attempts = ?, next_attempt = ?, "
                    "last_error = ?, state = ?, updated = ? "
                    "WHERE id = ? AND cursor = ? AND state = 'active'",
                    (
                        batch_end,
                        attempts,
                        next_attempt,
                        error,
                        state.value,
                        now,
                        webhook_id,
                        expected,
                    ),
                ).rowcount
                > 0
            )

        return await self._write(work)

    # -------------------------------------------------------------- delivery log
    async def record_delivery(self, attempt: DeliveryAttempt) -> DeliveryRecord:
        """Number the attempt from the subscription's counter and keep the newest rows."""
        a = attempt

        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "UPDATE webhook SET deliveries = deliveries + 1 WHERE id = ? RETURNING deliveries",
                (a.webhook_id,),
            ).fetchone()
            if row is None:
                msg = f"webhook {a.webhook_id} does not exist"
                raise NotFound(msg)
            number = int(row[0])
            conn.execute(
                f"INSERT INTO webhook_delivery ({_DELIVERY_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    number,
                    a.webhook_id,
                    a.message_id,
                    a.first_seq,
                    a.last_seq,
                    a.events,
                    a.attempt,
                    int(a.manual),
                    a.at,
                    a.duration,
                    a.status_code,
                    a.error,
                    cut_body(a.response_body),
                    int(a.succeeded),
                ),
            )
            conn.execute(
                "DELETE FROM webhook_delivery WHERE webhook = ? AND number <= ?",
                (a.webhook_id, number - DELIVERY_LOG_KEEP),
            )
            return number

        number = await self._write(work)
        found = await self.delivery(a.webhook_id, number)
        assert found is not None
        return found

    async def deliveries(
        self, webhook_id: str, *, first: int, after: int | None = None
    ) -> DeliveryPage:
        """Read the log, newest first."""
        rows = (
            self._read()
            .execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM webhook_delivery "
                "WHERE webhook = ? AND number < ? ORDER BY number DESC LIMIT ?",
                (webhook_id, after if after is not None else 2**62, max(0, first) + 1),
            )
            .fetchall()
        )
        items = tuple(_delivery(r) for r in rows[: max(0, first)])
        return DeliveryPage(items, len(rows) > first, items[-1].number if items else None)

    async def delivery(self, webhook_id: str, number: int) -> DeliveryRecord | None:
        """Read one attempt."""
        row = (
            self._read()
            .execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM webhook_delivery "
                "WHERE webhook = ? AND number = ?",
                (webhook_id, number),
            )
            .fetchone()
        )
        return _delivery(row) if row else None

    # --------------------------------------------------------------------- lease
    async def lease(self, webhook_id: str, owner: str, *, now: int, until: int) -> bool:
        """Take the lease unless another owner holds an unexpired one (one statement)."""

        def work(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(
                    "UPDATE webhook SET lease_owner = ?, lease_until = ? WHERE id = ? AND "
                    "(lease_owner IS NULL OR lease_owner = ? OR lease_until <= ?)",
                    (owner, until, webhook_id, owner, now),
                ).rowcount
                > 0
            )

        return await self._write(work)

    async def release(self, webhook_id: str, owner: str) -> None:
        """Clear the lease if ``owner`` holds it."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE webhook SET lease_owner = NULL, lease_until = NULL "
                "WHERE id = ? AND lease_owner = ?",
                (webhook_id, owner),
            )

        await self._write(work)
