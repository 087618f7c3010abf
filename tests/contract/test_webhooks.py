"""Webhook subscriptions and their delivery log in the store (PRODUCT.md 8, issue 20).

The store keeps what a delivery worker needs to resume after a restart: the
subscription with its filter and sealed secret, its cursor (moved only by
compare-and-set), the pending batch with its attempts and next attempt time, a
lease that only one owner holds at a time, and the log of attempts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from graphsvc.errors import NotFound
from graphsvc.model.records import ItemKind, to_micros
from graphsvc.model.vocabulary import EntityKind, RelationType
from graphsvc.store.base import EventQuery, GraphStore
from graphsvc.store.embedded import webhooks as embedded_webhooks
from graphsvc.store.factory import store_from_settings
from graphsvc.store.neo4j import webhooks as neo4j_webhooks
from graphsvc.store.webhooks import (
    DELIVERY_LOG_KEEP,
    RESPONSE_BODY_KEEP,
    DeliveryAttempt,
    NewWebhook,
    WebhookState,
)
from tests.conftest import store_settings

T0 = 1_700_000_000_000_000  # micros
FILTER = EventQuery(
    item=ItemKind.ENTITY,
    kinds=frozenset({EntityKind.SERVICE, EntityKind.TEAM}),
    types=frozenset({RelationType.OWNS}),
    sources=frozenset({"k8s"}),
    exclude_sources=frozenset({"jira", "servicenow"}),
)
Reopen = Callable[[], Awaitable[GraphStore]]


@pytest.fixture
async def reopen(
    store: GraphStore, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Reopen]:
    """Close the test's store and open the same data again (as a restart would)."""
    opened: list[GraphStore] = []

    async def again() -> GraphStore:
        await store.close()
        fresh = store_from_settings(store_settings(backend, request, tmp_path))
        await fresh.open()
        opened.append(fresh)
        return fresh

    yield again
    for s in opened:
        await s.close()


def new(url: str = "https://hooks.example.org/in", **changes: object) -> NewWebhook:
    fields: dict[str, object] = {
        "url": url,
        "filter": FILTER,
        "description": "ops feed",
        "sealed_secret": "gAAAA-sealed",
        "cursor": 7,
        "created": T0,
    }
    fields.update(changes)
    return NewWebhook(**fields)  # type: ignore[arg-type]


def attempt(webhook_id: str, n: int = 1, **changes: object) -> DeliveryAttempt:
    fields: dict[str, object] = {
        "webhook_id": webhook_id,
        "message_id": f"msg_{webhook_id}_8_9",
        "first_seq": 8,
        "last_seq": 9,
        "events": 2,
        "attempt": n,
        "manual": False,
        "at": T0 + n,
        "duration": 0.25,
        "status_code": 500,
        "error": "HTTP 500",
        "response_body": "nope",
        "succeeded": False,
    }
    fields.update(changes)
    return DeliveryAttempt(**fields)  # type: ignore[arg-type]


async def test_create_get_list_and_delete(store: GraphStore) -> None:
    hooks = store.webhooks
    assert await hooks.list() == []
    a = await hooks.create(new())
    b = await hooks.create(
        new("http://other.example.org/x", filter=EventQuery(), cursor=0, created=T0 + 1)
    )
    assert a.id != b.id and a.id.startswith("wh_")
    assert a.url == "https://hooks.example.org/in"
    assert a.filter == FILTER  # every part of the filter round-trips
    assert b.filter == EventQuery()
    assert (a.state, a.cursor, a.batch_end, a.attempts, a.next_attempt) == (
        WebhookState.ACTIVE,
        7,
        None,
        0,
        None,
    )
    assert a.sealed_secret == "gAAAA-sealed" and a.description == "ops feed"
    assert to_micros(a.created) == T0 and a.lease_owner is None and a.deliveries == 0
    assert await hooks.get(a.id) == a
    assert [h.id for h in await hooks.list()] == [a.id, b.id]
    assert await hooks.get("wh_nothing") is None
    await hooks.record_delivery(attempt(a.id))
    assert await hooks.delete(a.id) is True
    assert await hooks.delete(a.id) is False
    assert await hooks.get(a.id) is None
    assert (await hooks.deliveries(a.id, first=10)).items == ()
    assert [h.id for h in await hooks.list()] == [b.id]


async def test_states_and_enabling_makes_the_pending_batch_due(store: GraphStore) -> None:
    hooks = store.webhooks
    h = await hooks.create(new())
    assert await hooks.postpone(
        h.id, expected=7, batch_end=9, attempts=8, next_attempt=None, error="HTTP 503", now=T0 + 5
    )
    failing = await hooks.get(h.id)
    assert failing is not None
    assert (failing.state, failing.cursor, failing.batch_end, failing.attempts) == (
        WebhookState.FAILING,
        7,
        9,
        8,
    )
    assert failing.last_error == "HTTP 503"
    disabled = await hooks.set_state(h.id, WebhookState.DISABLED, now=T0 + 6)
    assert disabled is not None and disabled.state is WebhookState.DISABLED
    enabled = await hooks.set_state(h.id, WebhookState.ACTIVE, now=T0 + 7)
    assert enabled is not None
    # resumes from the cursor, same batch (same webhook-id), due at once
    assert (enabled.state, enabled.cursor, enabled.batch_end, enabled.attempts) == (
        WebhookState.ACTIVE,
        7,
        9,
        0,
    )
    assert enabled.next_attempt is None and to_micros(enabled.updated) == T0 + 7
    assert await hooks.set_state("wh_nothing", WebhookState.ACTIVE, now=T0) is None


async def test_the_cursor_moves_only_by_compare_and_set(store: GraphStore) -> None:
    hooks = store.webhooks
    h = await hooks.create(new())
    assert await hooks.postpone(
        h.id,
        expected=7,
        batch_end=12,
        attempts=1,
        next_attempt=T0 + 5_000_000,
        error="timeout",
        now=T0,
    )
    pending = await hooks.get(h.id)
    assert pending is not None and pending.next_attempt is not None
    assert (pending.batch_end, pending.attempts, to_micros(pending.next_attempt)) == (
        12,
        1,
        T0 + 5_000_000,
    )
    assert not await hooks.advance(h.id, expected=6, cursor=12, now=T0)  # stale cursor
    assert not await hooks.postpone(
        h.id, expected=6, batch_end=12, attempts=2, next_attempt=T0, error="x", now=T0
    )
    assert await hooks.advance(h.id, expected=7, cursor=12, now=T0 + 1)
    moved = await hooks.get(h.id)
    assert moved is not None
    assert (moved.cursor, moved.batch_end, moved.attempts, moved.next_attempt) == (
        12,
        None,
        0,
        None,
    )
    assert moved.last_error == ""
    assert not await hooks.advance(h.id, expected=7, cursor=20, now=T0)  # already moved
    # a failure in flight does not undo a disable; an acknowledged batch is recorded
    await hooks.set_state(h.id, WebhookState.DISABLED, now=T0)
    assert not await hooks.postpone(
        h.id, expected=12, batch_end=20, attempts=1, next_attempt=T0, error="x", now=T0
    )
    assert await hooks.advance(h.id, expected=12, cursor=20, now=T0)
    still = await hooks.get(h.id)
    assert still is not None and (still.state, still.cursor) == (WebhookState.DISABLED, 20)
    assert not await hooks.advance("wh_nothing", expected=0, cursor=1, now=T0)


async def test_a_batch_is_pinned_before_its_first_attempt(store: GraphStore) -> None:
    hooks = store.webhooks
    h = await hooks.create(new())
    assert not await hooks.pin_batch(h.id, expected=6, batch_end=12, now=T0)  # stale cursor
    assert await hooks.pin_batch(h.id, expected=7, batch_end=12, now=T0)
    pinned = await hooks.get(h.id)
    assert pinned is not None
    assert (pinned.batch_end, pinned.attempts, pinned.next_attempt) == (12, 0, None)
    assert await hooks.advance(h.id, expected=7, cursor=12, now=T0)
    done = await hooks.get(h.id)
    assert done is not None and done.batch_end is None
    await hooks.set_state(h.id, WebhookState.DISABLED, now=T0)
    assert not await hooks.pin_batch(h.id, expected=12, batch_end=20, now=T0)
    assert not await hooks.pin_batch("wh_nothing", expected=0, batch_end=1, now=T0)


async def test_concurrent_compare_and_sets_let_one_win(store: GraphStore) -> None:
    hooks = store.webhooks
    h = await hooks.create(new())
    results = await asyncio.gather(
        *(hooks.advance(h.id, expected=7, cursor=8 + i, now=T0) for i in range(6))
    )
    assert sum(results) == 1
    found = await hooks.get(h.id)
    assert found is not None and found.cursor == 8 + results.index(True)


async def test_the_lease_is_exclusive_until_it_expires(store: GraphStore) -> None:
    hooks = store.webhooks
    h = await hooks.create(new())
    assert await hooks.lease(h.id, "host-a:1", now=T0, until=T0 + 30_000_000)
    assert not await hooks.lease(h.id, "host-b:2", now=T0 + 1, until=T0 + 30_000_001)
    assert await hooks.lease(h.id, "host-a:1", now=T0 + 2, until=T0 + 60_000_000)  # renewal
    assert not await hooks.lease(h.id, "host-b:2", now=T0 + 59_999_999, until=T0 + 90_000_000)
    held = await hooks.get(h.id)
    assert held is not None and held.lease_owner == "host-a:1"
    assert held.lease_until is not None and to_micros(held.lease_until) == T0 + 60_000_000
    # expired: another owner takes it, and the old one cannot renew
    assert await hooks.lease(h.id, "host-b:2", now=T0 + 60_000_000, until=T0 + 90_000_000)
    assert not await hooks.lease(h.id, "host-a:1", now=T0 + 60_000_001, until=T0 + 99_000_000)
    await hooks.release(h.id, "host-a:1")  # not the holder: nothing changes
    assert not await hooks.lease(h.id, "host-c:3", now=T0 + 60_000_002, until=T0 + 99_000_000)
    await hooks.release(h.id, "host-b:2")
    assert await hooks.lease(h.id, "host-c:3", now=T0 + 60_000_003, until=T0 + 99_000_000)
    assert not await hooks.lease("wh_nothing", "host-c:3", now=T0, until=T0 + 1)


async def test_concurrent_lease_takers_one_wins(store: GraphStore) -> None:
    hooks = store.webhooks
    h = await hooks.create(new())
    won = await asyncio.gather(
        *(hooks.lease(h.id, f"owner-{i}", now=T0, until=T0 + 30_000_000) for i in range(8))
    )
    assert sum(won) == 1


async def test_the_delivery_log_is_numbered_paged_and_bounded(store: GraphStore) -> None:
    hooks = store.webhooks
    h = await hooks.create(new())
    other = await hooks.create(new())
    first = await hooks.record_delivery(attempt(h.id, response_body="é" * 2000))
    assert first.number == 1 and first.webhook_id == h.id
    assert len(first.response_body.encode()) <= RESPONSE_BODY_KEEP
    assert first.response_body == "é" * (RESPONSE_BODY_KEEP // 2)
    assert (first.status_code, first.error, first.succeeded, first.manual) == (
        500,
        "HTTP 500",
        False,
        False,
    )
    assert (first.first_seq, first.last_seq, first.events, first.duration) == (8, 9, 2, 0.25)
    assert to_micros(first.at) == T0 + 1
    for n in range(2, 6):
        await hooks.record_delivery(attempt(h.id, n, status_code=None, error="refused"))
    ok = await hooks.record_delivery(
        attempt(h.id, 1, manual=True, status_code=204, error="", succeeded=True)
    )
    assert ok.number == 6 and ok.succeeded and ok.manual
    assert (await hooks.record_delivery(attempt(other.id))).number == 1  # numbered per subscription
    page = await hooks.deliveries(h.id, first=4)
    assert [d.number for d in page.items] == [6, 5, 4, 3] and page.has_next
    assert page.end_cursor == 3
    rest = await hooks.deliveries(h.id, first=4, after=page.end_cursor)
    assert [d.number for d in rest.items] == [2, 1] and not rest.has_next
    assert await hooks.delivery(h.id, 4) == page.items[2]
    assert await hooks.delivery(h.id, 99) is None
    assert await hooks.delivery(other.id, 4) is None
    found = await hooks.get(h.id)
    assert found is not None and found.deliveries == 6
    with pytest.raises(NotFound):
        await hooks.record_delivery(attempt("wh_nothing"))


async def test_only_the_newest_deliveries_are_kept(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DELIVERY_LOG_KEEP == 1000
    keep = 5  # the same rule, with fewer rows to write
    monkeypatch.setattr(embedded_webhooks, "DELIVERY_LOG_KEEP", keep)
    monkeypatch.setattr(neo4j_webhooks, "DELIVERY_LOG_KEEP", keep)
    hooks = store.webhooks
    h = await hooks.create(new())
    for n in range(keep + 3):
        await hooks.record_delivery(attempt(h.id, n + 1))
    page = await hooks.deliveries(h.id, first=keep + 10)
    assert [d.number for d in page.items] == [8, 7, 6, 5, 4]


async def test_subscriptions_cursors_and_pending_batches_survive_a_reopen(
    store: GraphStore, reopen: Reopen
) -> None:
    hooks = store.webhooks
    h = await hooks.create(new())
    await hooks.advance(h.id, expected=7, cursor=9, now=T0)
    await hooks.postpone(
        h.id, expected=9, batch_end=15, attempts=3, next_attempt=T0 + 9, error="HTTP 502", now=T0
    )
    await hooks.record_delivery(attempt(h.id))
    before = await hooks.get(h.id)
    fresh = await reopen()
    after = await fresh.webhooks.get(h.id)
    assert after is not None and before is not None
    assert (after.cursor, after.batch_end, after.attempts, after.next_attempt, after.filter) == (
        9,
        15,
        3,
        before.next_attempt,
        FILTER,
    )
    assert [d.number for d in (await fresh.webhooks.deliveries(h.id, first=5)).items] == [1]
    assert await fresh.webhooks.advance(h.id, expected=9, cursor=15, now=T0)
