"""Webhook subscriptions on Neo4j: ``Webhook`` and ``WebhookDelivery`` nodes.

Each operation is one managed transaction of its own. None takes the store's
meta-node lock (the graph writers' lock), so webhook writes never wait for an
ingest and an ingest never waits for them.

**One deliverer per subscription across processes.** Every graphsvc process
on a Neo4j store is stateless and any number may run, each with a delivery
worker. A worker delivers a subscription only while it holds its lease:
``lease_owner`` (host, process id and a random part) and ``lease_until`` on
the ``Webhook`` node, taken and renewed by :meth:`Neo4jWebhooks.lease`, a
conditional write that first writes the node (taking Neo4j's exclusive lock on
it until commit) and only then reads the current holder, so two processes
never both see the lease free. A process that dies keeps its lease until
``lease_until``; another takes over then. The cursor moves only by
compare-and-set (:meth:`Neo4jWebhooks.advance`), so even a worker that was
paused past its lease's end cannot move a cursor that another one moved: at
worst a batch is sent twice, under the same ``webhook-id``. Lease times come
from the processes' clocks: keep them within a few seconds of each other
(NTP), well under the lease's length.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from graphsvc.errors import NotFound
from graphsvc.model.records import from_micros
from graphsvc.store.neo4j import cypher as q
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

__all__ = ["Neo4jWebhooks"]

T = TypeVar("T")
Row = dict[str, Any]
Run = Callable[[q.Statement], Awaitable[list[Row]]]
Transact = Callable[[Callable[[Run], Awaitable[list[Row]]], str], Awaitable[list[Row]]]


def _webhook(r: Row) -> Webhook:
    return Webhook(
        id=r["id"],
        url=r["url"],
        filter=filter_from_json(r["filter"]),
        description=r["description"],
        sealed_secret=r["secret"],
        state=WebhookState(r["state"]),
        cursor=int(r["cursor"]),
        batch_end=int(r["batch_end"]) if r["batch_end"] is not None else None,
        attempts=int(r["attempts"]),
        next_attempt=from_micros(int(r["next_attempt"])) if r["next_attempt"] is not None else None,
        last_error=r["last_error"] or "",
        created=from_micros(int(r["created"])),
        updated=from_micros(int(r["updated"])),
        lease_owner=r["lease_owner"],
        lease_until=from_micros(int(r["lease_until"])) if r["lease_until"] is not None else None,
        deliveries=int(r["deliveries"]),
    )


def _delivery(r: Row) -> DeliveryRecord:
    return DeliveryRecord(
        number=int(r["number"]),
        webhook_id=r["webhook"],
        message_id=r["message_id"],
        first_seq=int(r["first_seq"]),
        last_seq=int(r["last_seq"]),
        events=int(r["events"]),
        attempt=int(r["attempt"]),
        manual=bool(r["manual"]),
        at=from_micros(int(r["at"])),
        duration=float(r["duration"]),
        status_code=int(r["status_code"]) if r["status_code"] is not None else None,
        error=r["error"] or "",
        response_body=r["body"] or "",
        succeeded=bool(r["ok"]),
    )


def _one(statement: q.Statement) -> Callable[[Run], Awaitable[list[Row]]]:
    async def work(run: Run) -> list[Row]:
        return await run(statement)

    return work


class Neo4jWebhooks(WebhookStore):
    """:class:`~graphsvc.store.webhooks.WebhookStore` on Neo4j (see the module docstring).

    Args:
        read: Runs a unit in a managed read transaction (the store's).
        write: Runs a unit in a managed write transaction, without the graph lock.
    """

    def __init__(self, read: Transact, write: Transact) -> None:
        self._read = read
        self._write = write

    async def _reading(self, statement: q.Statement) -> list[Row]:
        return await self._read(_one(statement), "reading webhooks")

    async def _writing(self, statement: q.Statement) -> list[Row]:
        return await self._write(_one(statement), "writing webhooks")

    async def create(self, new: NewWebhook) -> Webhook:
        """Create the node with a new random id."""
        props = {
            "id": "wh_" + secrets.token_hex(12),
            "url": new.url,
            "filter": filter_to_json(new.filter),
            "description": new.description,
            "secret": new.sealed_secret,
            "state": WebhookState.ACTIVE.value,
            "cursor": new.cursor,
            "attempts": 0,
            "last_error": "",
            "created": new.created,
            "updated": new.created,
            "deliveries": 0,
        }
        rows = await self._writing(q.create_webhook(props))
        return _webhook(rows[0])

    async def get(self, webhook_id: str) -> Webhook | None:
        """Read one node."""
        rows = await self._reading(q.get_webhook(webhook_id))
        return _webhook(rows[0]) if rows else None

    async def list(self) -> list[Webhook]:
        """Read every node, oldest first."""
        return [_webhook(r) for r in await self._reading(q.list_webhooks())]

    async def set_state(self, webhook_id: str, state: WebhookState, *, now: int) -> Webhook | None:
        """Set the state (to active: the pending batch due now)."""
        changes: dict[str, Any] = {"state": state.value, "updated": now}
        if state is WebhookState.ACTIVE:
            changes |= {"attempts": 0, "next_attempt": None}
        rows = await self._writing(q.set_webhook(webhook_id, changes, cursor=None))
        return _webhook(rows[0]) if rows else None

    async def delete(self, webhook_id: str) -> bool:
        """Delete the node and its log."""
        rows = await self._writing(q.delete_webhook(webhook_id))
        return bool(rows and int(rows[0]["n"]) > 0)

    async def advance(self, webhook_id: str, *, expected: int, cursor: int, now: int) -> bool:
        """Compare-and-set the cursor under the node's lock."""
        changes = {
            "cursor": cursor,
            "batch_end": None,
            "attempts": 0,
            "next_attempt": None,
            "last_error": "",
            "updated": now,
        }
        return bool(await self._writing(q.set_webhook(webhook_id, changes, cursor=expected)))

    async def pin_batch(self, webhook_id: str, *, expected: int, batch_end: int, now: int) -> bool:
        """Set the pending batch's end, compare-and-set on the cursor under the node's lock."""
        changes = {"batch_end": batch_end, "updated": now}
        statement = q.set_webhook(webhook_id, changes, cursor=expected, active=True)
        return bool(await self._writing(statement))

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
        """Record a failed attempt, compare-and-set on the cursor."""
        state = WebhookState.ACTIVE if next_attempt is not None else WebhookState.FAILING
        changes = {
            "batch_end": batch_end,
            "attempts": attempts,
            "next_attempt": next_attempt,
            "last_error": error,
            "state": state.value,
            "updated": now,
        }
        statement = q.set_webhook(webhook_id, changes, cursor=expected, active=True)
        return bool(await self._writing(statement))

    async def record_delivery(self, attempt: DeliveryAttempt) -> DeliveryRecord:
        """Number the attempt from the node's counter (under its lock), drop the oldest."""
        a = attempt
        props = {
            "message_id": a.message_id,
            "first_seq": a.first_seq,
            "last_seq": a.last_seq,
            "events": a.events,
            "attempt": a.attempt,
            "manual": a.manual,
            "at": a.at,
            "duration": a.duration,
            "status_code": a.status_code,
            "error": a.error,
            "body": cut_body(a.response_body),
            "ok": a.succeeded,
        }
        rows = await self._writing(q.record_delivery(a.webhook_id, props, DELIVERY_LOG_KEEP))
        if not rows:
            msg = f"webhook {a.webhook_id} does not exist"
            raise NotFound(msg)
        found = await self.delivery(a.webhook_id, int(rows[0]["number"]))
        assert found is not None
        return found

    async def deliveries(
        self, webhook_id: str, *, first: int, after: int | None = None
    ) -> DeliveryPage:
        """Read the log, newest first."""
        limit = max(0, first)
        rows = await self._reading(
            q.deliveries_page(webhook_id, after if after is not None else 2**62, limit + 1)
        )
        items = tuple(_delivery(r) for r in rows[:limit])
        return DeliveryPage(items, len(rows) > limit, items[-1].number if items else None)

    async def delivery(self, webhook_id: str, number: int) -> DeliveryRecord | None:
        """Read one attempt."""
        rows = await self._reading(q.get_delivery(webhook_id, number))
        return _delivery(rows[0]) if rows else None

    async def lease(self, webhook_id: str, owner: str, *, now: int, until: int) -> bool:
        """Take the lease by a conditional write under the node's lock."""
        return bool(await self._writing(q.lease_webhook(webhook_id, owner, now, until)))

    async def release(self, webhook_id: str, owner: str) -> None:
        """Clear the lease if ``owner`` holds it."""
        await self._writing(q.release_webhook(webhook_id, owner))
