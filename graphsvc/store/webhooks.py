"""The storage port of webhook subscriptions and their delivery log (PRODUCT.md 8).

A subscription (:class:`Webhook`) names a target URL, a filter over the event
feed (an :class:`~graphsvc.store.base.EventQuery`), its secret *sealed* (encrypted
by the API layer; the store never sees it in clear) and where its delivery
stands: the **cursor** (every event with ``seq <= cursor`` that the filter
keeps was delivered), the **pending batch** being retried (``batch_end``,
``attempts``, ``next_attempt``, ``last_error``) and a **lease** naming the one
process that delivers it now. Everything a delivery worker needs to resume after
a restart or ``kill -9`` is here, written before the worker acts on it.

Concurrency rules every backend keeps:

* :meth:`WebhookStore.lease` is a conditional write: it succeeds only when the
  subscription has no lease, the caller already holds it, or the lease expired
  (``lease_until <= now``). Two callers never both succeed for overlapping times.
* :meth:`WebhookStore.advance` and :meth:`WebhookStore.postpone` are
  compare-and-set on the cursor: they change nothing (and answer ``False``)
  when the cursor is no longer the one the caller read, so a worker whose lease
  ran out while it was sending cannot move a cursor another worker moved.
* :meth:`WebhookStore.postpone` changes nothing either when the subscription
  is no longer active (disabled, failing or deleted meanwhile), so a disable is
  never undone by a failure that was in flight; :meth:`WebhookStore.advance`
  records an acknowledged batch whatever the state (the receiver has it).

The delivery log keeps the last :data:`DELIVERY_LOG_KEEP` attempts of each
subscription; older rows are dropped as new ones are recorded.

Times crossing the port as ``int`` are microseconds since the Unix epoch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import orjson

from graphsvc.model.records import ItemKind
from graphsvc.model.vocabulary import EntityKind, RelationType
from graphsvc.store.base import EventQuery

__all__ = [
    "DELIVERY_LOG_KEEP",
    "RESPONSE_BODY_KEEP",
    "DeliveryAttempt",
    "DeliveryPage",
    "DeliveryRecord",
    "NewWebhook",
    "Webhook",
    "WebhookState",
    "WebhookStore",
    "filter_from_json",
    "filter_to_json",
]

DELIVERY_LOG_KEEP = 1000
"""Delivery attempts kept per subscription (the newest)."""

RESPONSE_BODY_KEEP = 1024
"""Most bytes of a receiver's answer kept in the log (cut on a character boundary)."""


class WebhookState(StrEnum):
    """Whether a subscription is delivered.

    ``active``: delivered. ``disabled``: an operator stopped it. ``failing``:
    the last attempt of a batch failed; it waits, its cursor kept, until an
    operator enables it again (which resumes from the cursor).
    """

    ACTIVE = "active"
    DISABLED = "disabled"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class NewWebhook:
    """A subscription to create.

    Attributes:
        url: Where deliveries are POSTed (already checked by the caller).
        filter: Which events it receives.
        description: Free text for operators.
        sealed_secret: The signing secret, encrypted (opaque to the store).
        cursor: Deliver events with a larger seq (the feed's last seq: from now on).
        created: When (micros).
    """

    url: str
    filter: EventQuery
    description: str
    sealed_secret: str
    cursor: int
    created: int


@dataclass(frozen=True, slots=True)
class Webhook:
    """A stored subscription (see the module docstring).

    Attributes:
        id: ``wh_`` and 24 hex digits, given by the store.
        url: The target.
        filter: Which events it receives.
        description: Free text.
        sealed_secret: The signing secret, encrypted; never shown by the API.
        state: Active, disabled or failing.
        cursor: The last seq delivered (or filtered out) in order.
        batch_end: While a batch is being retried: the cursor it advances to on
            success (its events are those after ``cursor`` up to here, so each
            attempt sends the same events under the same ``webhook-id``); else ``None``.
        attempts: Failed attempts of the pending batch (0: none).
        next_attempt: When the pending batch is tried again (``None``: at once).
        last_error: What the last failed attempt met (empty after a success).
        created: When it was created.
        updated: When it last changed.
        lease_owner: The process delivering it (``None``: nobody).
        lease_until: Until when that lease holds.
        deliveries: How many attempts were ever recorded (the last delivery number).
    """

    id: str
    url: str
    filter: EventQuery
    description: str
    sealed_secret: str
    state: WebhookState
    cursor: int
    batch_end: int | None
    attempts: int
    next_attempt: datetime | None
    last_error: str
    created: datetime
    updated: datetime
    lease_owner: str | None
    lease_until: datetime | None
    deliveries: int


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One POST to a subscription's target, as recorded after it ended.

    Attributes:
        webhook_id: The subscription.
        message_id: The ``webhook-id`` header sent (same for every attempt of a batch).
        first_seq: Seq of the first event sent.
        last_seq: Seq of the last event sent.
        events: How many events the body held.
        attempt: Which attempt of the batch this was (1 for the first); a manual
            resend counts its own attempts from 1.
        manual: Sent by an operator's resend, outside the retry schedule.
        at: When it was sent (micros).
        duration: Seconds until the answer (or the error).
        status_code: The receiver's HTTP status (``None``: no answer).
        error: Why it failed (empty when it succeeded).
        response_body: At most :data:`RESPONSE_BODY_KEEP` bytes of the answer.
        succeeded: Whether the receiver answered 2xx.
    """

    webhook_id: str
    message_id: str
    first_seq: int
    last_seq: int
    events: int
    attempt: int
    manual: bool
    at: int
    duration: float
    status_code: int | None
    error: str
    response_body: str
    succeeded: bool


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A recorded :class:`DeliveryAttempt` with its number (1, 2, … per subscription)."""

    number: int
    webhook_id: str
    message_id: str
    first_seq: int
    last_seq: int
    events: int
    attempt: int
    manual: bool
    at: datetime
    duration: float
    status_code: int | None
    error: str
    response_body: str
    succeeded: bool


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    """Delivery attempts of one subscription, newest first.

    ``end_cursor`` is the number of the last one on the page: pass it as
    ``after`` for older ones.
    """

    items: tuple[DeliveryRecord, ...]
    has_next: bool
    end_cursor: int | None


def filter_to_json(query: EventQuery) -> str:
    """Return ``query`` as the JSON text the stores keep (lists sorted, so stable)."""
    return orjson.dumps(
        {
            "item": query.item.value if query.item is not None else None,
            "kinds": sorted(k.value for k in query.kinds) if query.kinds is not None else None,
            "types": sorted(t.value for t in query.types) if query.types is not None else None,
            "sources": sorted(query.sources) if query.sources is not None else None,
            "excludeSources": sorted(query.exclude_sources),
        }
    ).decode()


def filter_from_json(text: str) -> EventQuery:
    """Return the :class:`EventQuery` that :func:`filter_to_json` wrote."""
    raw = orjson.loads(text)
    return EventQuery(
        item=ItemKind(raw["item"]) if raw.get("item") is not None else None,
        kinds=frozenset(EntityKind(k) for k in raw["kinds"])
        if raw.get("kinds") is not None
        else None,
        types=frozenset(RelationType(t) for t in raw["types"])
        if raw.get("types") is not None
        else None,
        sources=frozenset(raw["sources"]) if raw.get("sources") is not None else None,
        exclude_sources=frozenset(raw.get("excludeSources") or ()),
    )


def cut_body(text: str, limit: int = RESPONSE_BODY_KEEP) -> str:
    """Return the longest prefix of ``text`` whose UTF-8 form fits in ``limit`` bytes."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


class WebhookStore(ABC):
    """Webhook subscriptions and their delivery log (see the module docstring).

    Obtained from :attr:`GraphStore.webhooks <graphsvc.store.base.GraphStore.webhooks>`
    of an open store. Writes on a read-only store raise
    :class:`~graphsvc.errors.ReadOnlyStore`.
    """

    @abstractmethod
    async def create(self, new: NewWebhook) -> Webhook:
        """Store a new, active subscription and return it (with its new id)."""

    @abstractmethod
    async def get(self, webhook_id: str) -> Webhook | None:
        """Return the subscription, or ``None`` when there is none with that id."""

    @abstractmethod
    async def list(self) -> list[Webhook]:
        """Return every subscription, oldest first (by creation time, then id)."""

    @abstractmethod
    async def set_state(self, webhook_id: str, state: WebhookState, *, now: int) -> Webhook | None:
        """Set a subscription's state; ``None`` when it does not exist.

        Making it ``active`` also makes its pending batch due at once (attempts
        back to 0, ``next_attempt`` cleared); the cursor and the pending batch's
        end are kept, so it resumes where it stopped with the same ``webhook-id``.
        """

    @abstractmethod
    async def delete(self, webhook_id: str) -> bool:
        """Delete a subscription and its delivery log; ``False`` when there was none."""

    @abstractmethod
    async def pin_batch(self, webhook_id: str, *, expected: int, batch_end: int, now: int) -> bool:
        """Fix which events the next delivery holds, before its first attempt.

        Every attempt of a batch, after a failure or after a crash between the
        receiver's 2xx and the cursor's move, then sends the same events under
        the same ``webhook-id``, so receivers that dedupe on it never apply a
        batch twice. Sets ``batch_end`` only; compare-and-set on the cursor,
        active subscriptions only (``False`` otherwise). Called by the lease holder.
        """

    @abstractmethod
    async def advance(self, webhook_id: str, *, expected: int, cursor: int, now: int) -> bool:
        """Move the cursor from ``expected`` to ``cursor`` after a success (compare-and-set).

        Clears the pending batch (``batch_end``, ``attempts``, ``next_attempt``,
        ``last_error``); the state stays. Changes nothing and answers ``False``
        when the subscription is gone or its cursor is not ``expected``.
        """

    @abstractmethod
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
        """Record a failed attempt of the pending batch (compare-and-set on the cursor).

        Sets ``batch_end``, ``attempts`` and ``last_error``; with a
        ``next_attempt`` the batch is tried again then; with ``None`` the
        schedule is spent and the subscription becomes ``failing`` (cursor and
        pending batch kept). Changes nothing and answers ``False`` when the
        subscription is gone, not active, or its cursor is not ``expected``.
        """

    @abstractmethod
    async def record_delivery(self, attempt: DeliveryAttempt) -> DeliveryRecord:
        """Append an attempt to the subscription's log and return it numbered.

        Numbers are 1, 2, … per subscription, never reused; only the newest
        :data:`DELIVERY_LOG_KEEP` are kept. The response body is cut to
        :data:`RESPONSE_BODY_KEEP` bytes.

        Raises:
            NotFound: when the subscription does not exist.
        """

    @abstractmethod
    async def deliveries(
        self, webhook_id: str, *, first: int, after: int | None = None
    ) -> DeliveryPage:
        """Return up to ``first`` attempts numbered below ``after`` (``None``: the newest)."""

    @abstractmethod
    async def delivery(self, webhook_id: str, number: int) -> DeliveryRecord | None:
        """Return one recorded attempt, or ``None``."""

    @abstractmethod
    async def lease(self, webhook_id: str, owner: str, *, now: int, until: int) -> bool:
        """Take or renew the right to deliver a subscription until ``until``.

        Succeeds when nobody holds it, ``owner`` holds it, or the holder's lease
        ended (``lease_until <= now``); a conditional write, so two owners never
        both succeed. ``False`` when another owner holds it or the subscription
        is gone.
        """

    @abstractmethod
    async def release(self, webhook_id: str, owner: str) -> None:
        """Give the lease up, if ``owner`` holds it (nothing otherwise)."""
