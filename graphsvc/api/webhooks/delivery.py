"""The delivery worker: each active subscription's events, in order, batched, signed, retried.

**What a delivery is.** A POST of ``{"events": [...]}`` (each event as
``GET /api/v1/events`` answers it) with the Standard Webhooks headers
(:mod:`.signing`), at most ``webhook_batch_size`` events, to the URL checked
again and pinned to the checked address (:mod:`.targets`). Redirects are not
followed (a 3xx is a failure), the whole exchange is bounded by
``webhook_timeout_seconds`` (10 s), and at most 1 KB of the answer is read and
kept in the log. A 2xx answer is a success; anything else, or no answer, a failure.

**Order and at-least-once.** A subscription's cursor is the last seq delivered
(or filtered out). The worker reads the events after it with the subscription's
filter, sends them, and only after a 2xx moves the cursor, by compare-and-set.
So a batch is sent again until it is acknowledged, and the next batch is never
sent before it: in seq order, with no gap. A crash (``kill -9``) between the
2xx and the cursor's move sends the batch again: at least once. Every attempt
of a batch carries the same ``webhook-id`` (``msg_<subscription>_<first seq>_<last
seq>``) and the same events: the batch's end is stored (``batch_end``) before
its first attempt, and every later attempt, after a failure or after a crash
between the receiver's 2xx and the cursor's move, sends exactly the events up to
it, so receivers dedupe on ``webhook-id``.

**Retries.** After a failed attempt the batch is tried again after
:data:`RETRY_DELAYS` (the Standard Webhooks / Svix schedule: 5 s, 5 min, 30 min,
2 h, 5 h, 10 h, 10 h; 8 attempts over more than 27 hours), each delay lengthened
by a random jitter of up to :data:`JITTER` of itself, so receivers that failed
together are not retried together. The jitter only lengthens: a "full" jitter
(anywhere from 0 to the delay) could end the schedule within hours and break
the promise of retrying for at least a day. The due time is stored
(``next_attempt``), so a restart keeps the schedule. After the last attempt the
subscription is marked ``failing`` and waits, cursor and batch kept; enabling
it again resumes from the cursor with the same batch.

**Never in the way.** The worker runs on the server's event loop and only
awaits there: HTTP is async (httpx), and every store call goes to the worker
loops (:meth:`graphsvc.api.rest.Services.run`), as requests' store work does.
Webhook writes take no lock ingest needs (:mod:`graphsvc.store.webhooks`). It
runs only on writing servers, not on ``--read-only`` replicas.

**One deliverer per subscription.** A subscription is delivered only by the
process holding its lease (``webhook_lease_seconds``; renewed while delivering,
released when the subscription waits for a later retry, is disabled, or the
server stops). Several processes on one Neo4j store each run a worker; the
lease, a conditional write in the store, lets one deliver each subscription at
a time and another take over within a lease's length when it dies.

**Time.** Scheduling reads an injectable :class:`Clock` (tests make a
receiver stay down for a day without waiting a day); the ``webhook-timestamp``
header is always the wall clock, as receivers check it against theirs.
"""

from __future__ import annotations

import functools
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import anyio
import httpx
import orjson
import structlog

from graphsvc.api.rest import EventOut
from graphsvc.api.webhooks.sealing import SecretSealer
from graphsvc.api.webhooks.signing import signed_headers
from graphsvc.api.webhooks.targets import TargetRefused, pin_target
from graphsvc.errors import GraphSvcError
from graphsvc.model.records import HistoryEvent
from graphsvc.store.base import GraphStore
from graphsvc.store.webhooks import (
    RESPONSE_BODY_KEEP,
    DeliveryAttempt,
    DeliveryRecord,
    Webhook,
    WebhookState,
)

__all__ = [
    "ATTEMPTS",
    "JITTER",
    "PENDING_READ",
    "RELEASE_WAIT",
    "RETRY_DELAYS",
    "Clock",
    "DeliveryOutcome",
    "DeliveryWorker",
    "Sender",
    "SystemClock",
    "message_id",
    "retry_delay",
]

T = TypeVar("T")
Runner = Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]
log = structlog.get_logger("graphsvc.webhooks")

RETRY_DELAYS: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
"""Seconds before each retry of a failed batch (the Standard Webhooks / Svix schedule)."""
ATTEMPTS = len(RETRY_DELAYS) + 1
"""Attempts of one batch before the subscription is marked failing."""
JITTER = 0.25
"""Each retry delay is lengthened by a random part of up to this fraction of itself."""
PENDING_READ = 1000
"""Events read when a pending batch is sent again (at least any batch size allowed)."""
RELEASE_WAIT = 1.0
"""Longest a delivery task waits to release its lease as it ends, the server's stop
included (a release takes milliseconds; a store that does not answer lets the lease
run out by itself, and another process takes over then)."""


class Clock(Protocol):
    """Time for scheduling: now, and waiting (tests pass a simulated one)."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    async def sleep(self, seconds: float, wake: anyio.Event) -> None:
        """Wait ``seconds``, or until ``wake`` is set, whichever comes first."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    async def sleep(self, seconds: float, wake: anyio.Event) -> None:
        """Sleep for real, or until ``wake`` is set.

        A cancel scope, not a task group of a sleeper and a waker: those would
        leave a reference cycle (closures, their group) for the garbage collector
        at every poll.
        """
        with anyio.move_on_after(seconds):
            await wake.wait()


def _micros(seconds: float) -> int:
    return int(seconds * 1_000_000)


def retry_delay(failed_attempts: int, rng: random.Random | None = None) -> float | None:
    """Seconds to wait after the ``failed_attempts``-th failure of a batch; ``None``: give up."""
    if failed_attempts >= ATTEMPTS:
        return None
    base = RETRY_DELAYS[failed_attempts - 1]
    return base * (1 + JITTER * (rng or random).random())


def message_id(webhook_id: str, events: Sequence[HistoryEvent]) -> str:
    """The ``webhook-id`` of a batch: the same for every attempt of the same events."""
    return f"msg_{webhook_id}_{events[0].seq}_{events[-1].seq}"


def delivery_body(events: Sequence[HistoryEvent]) -> bytes:
    """The JSON body of a delivery: ``{"events": [...]}`` as the event feed writes them."""
    items = [EventOut.of(e).model_dump(mode="json", by_alias=True) for e in events]
    return orjson.dumps({"events": items})


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """How one POST went."""

    status_code: int | None
    error: str
    response_body: str
    duration: float

    @property
    def succeeded(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300


class Sender:
    """Sends one signed delivery (see the module docstring for the rules it keeps).

    Args:
        allow_private: Accept non-public targets (``GRAPHSVC_WEBHOOK_ALLOW_PRIVATE``).
        timeout: Longest the whole exchange may take, in seconds.
    """

    def __init__(self, *, allow_private: bool, timeout: float) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        # no proxies from the environment: the connection must reach the checked address
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=timeout,
            trust_env=False,
            headers={"user-agent": "graphsvc-webhooks"},
        )

    async def aclose(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    async def post(self, url: str, secret: str, message: str, body: bytes) -> DeliveryOutcome:
        """POST ``body`` to ``url`` signed with ``secret`` as message ``message``."""
        started = time.monotonic()

        def outcome(code: int | None, error: str, text: str = "") -> DeliveryOutcome:
            return DeliveryOutcome(code, error, text, time.monotonic() - started)

        try:
            target = await pin_target(url, allow_private=self.allow_private)
        except TargetRefused as exc:
            return outcome(None, f"target refused: {exc}")
        headers = {
            **signed_headers(secret, message, int(time.time()), body),
            "host": target.host,
        }
        extensions = {"sni_hostname": target.server_name} if target.server_name else {}
        try:
            with anyio.fail_after(self.timeout):
                request = self._client.build_request(
                    "POST", target.url, content=body, headers=headers, extensions=extensions
                )
                response = await self._client.send(request, stream=True)
                try:
                    kept = bytearray()
                    async for chunk in response.aiter_raw():
                        kept += chunk
                        if len(kept) >= RESPONSE_BODY_KEEP:
                            break
                finally:
                    await response.aclose()
        except TimeoutError:
            return outcome(None, f"no answer within {self.timeout:g} s")
        except httpx.HTTPError as exc:
            return outcome(None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        text = bytes(kept[:RESPONSE_BODY_KEEP]).decode("utf-8", "replace")
        code = response.status_code
        if 200 <= code < 300:
            return outcome(code, "", text)
        if response.is_redirect:
            where = response.headers.get("location", "")
            return outcome(code, f"HTTP {code}: redirect to {where[:200]!r} not followed", text)
        return outcome(code, f"HTTP {code}", text)


class DeliveryWorker:
    """Delivers every active subscription of a store (see the module docstring).

    Args:
        store: The open store.
        run: Runs store work in the API's worker loops (``Services.run``).
        sealer: Opens the subscriptions' secrets; a callable, so a missing key
            is an error of the deliveries that need it, not of the server's start.
        sender: Sends the POSTs.
        batch_size: Most events per delivery.
        poll_seconds: How often to look for new events and due retries.
        lease_seconds: Length of a lease (renewed when a third of it is left... or less).
        clock: Time for scheduling.
    """

    def __init__(
        self,
        store: GraphStore,
        run: Runner[object],
        sealer: Callable[[], SecretSealer],
        sender: Sender,
        *,
        batch_size: int,
        poll_seconds: float,
        lease_seconds: float,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self._run = run
        self._make_sealer = sealer
        self._sealer: SecretSealer | None = None
        self.sender = sender
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.clock: Clock = clock or SystemClock()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._delivering: set[str] = set()
        self._wake = anyio.Event()
        self._loop: object | None = None

    async def _call(self, work: Callable[[], Awaitable[T]]) -> T:
        return await self._run(work)  # type: ignore[return-value]

    def sealer(self) -> SecretSealer:
        """The sealer of the configured key, made on first use (then kept).

        Raises:
            InvalidInput: when no usable key is configured.
        """
        if self._sealer is None:
            self._sealer = self._make_sealer()
        return self._sealer

    # ------------------------------------------------------------------ waking
    def notify(self) -> None:
        """Something was committed: look for new events now (any thread may call this)."""
        import asyncio

        loop = self._loop
        if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_closed():
            loop.call_soon_threadsafe(self._set_wake)

    def _set_wake(self) -> None:
        self._wake.set()
        self._wake = anyio.Event()

    async def _wait(self, seconds: float) -> None:
        await self.clock.sleep(max(0.0, seconds), self._wake)

    # --------------------------------------------------------------- scheduler
    async def run_forever(self) -> None:
        """Start a delivery task for each due subscription, look again every poll."""
        import asyncio

        self._loop = asyncio.get_running_loop()
        async with anyio.create_task_group() as tasks:
            while True:
                wait = self.poll_seconds
                try:
                    hooks = await self._call(self.store.webhooks.list)
                except GraphSvcError as exc:
                    log.warning("listing webhooks failed", error=str(exc))
                    hooks = []
                now = self.clock.now()
                for hook in hooks:
                    if hook.state is not WebhookState.ACTIVE or hook.id in self._delivering:
                        continue
                    leased = hook.lease_until is not None and hook.lease_owner != self.owner
                    if (
                        leased
                        and hook.lease_until is not None
                        and hook.lease_until.timestamp() > now
                    ):
                        continue  # another process delivers it
                    if hook.next_attempt is not None and hook.next_attempt.timestamp() > now:
                        wait = min(wait, hook.next_attempt.timestamp() - now)
                        continue
                    self._delivering.add(hook.id)
                    tasks.start_soon(self._deliver_subscription, hook.id)
                await self._wait(wait)

    async def _deliver_subscription(self, webhook_id: str) -> None:
        """Deliver one subscription while this process holds its lease and it has work."""
        hooks = self.store.webhooks
        lease_until = 0.0
        try:
            while True:
                now = self.clock.now()
                if now >= lease_until - self.lease_seconds * 2 / 3:
                    until = now + self.lease_seconds
                    taken = await self._call(
                        functools.partial(
                            hooks.lease,
                            webhook_id,
                            self.owner,
                            now=_micros(now),
                            until=_micros(until),
                        )
                    )
                    if not taken:
                        return
                    lease_until = until
                hook = await self._call(lambda: hooks.get(webhook_id))
                if hook is None or hook.state is not WebhookState.ACTIVE:
                    return
                if hook.next_attempt is not None and hook.next_attempt.timestamp() > now:
                    return  # the scheduler comes back when it is due
                moved = await self._step(hook)
                if moved is None:
                    return
                if not moved:
                    await self._wait(self.poll_seconds)
        except GraphSvcError as exc:
            log.warning("delivering a webhook failed", webhook=webhook_id, error=str(exc))
        finally:
            # released before the scheduler may start another task for it: a release
            # after that task's lease would clear the lease it delivers under
            with anyio.move_on_after(RELEASE_WAIT, shield=True):
                try:
                    await self._call(lambda: hooks.release(webhook_id, self.owner))
                except GraphSvcError as exc:
                    log.warning(
                        "releasing a webhook lease failed", webhook=webhook_id, error=str(exc)
                    )
            self._delivering.discard(webhook_id)

    async def _step(self, hook: Webhook) -> bool | None:
        """Send the next batch of ``hook`` (or move past filtered events).

        Returns ``True`` when the cursor moved, ``False`` when there was
        nothing to send, ``None`` when the task should end (a failure was
        scheduled for later, or the subscription changed under it).
        """
        hooks = self.store.webhooks
        first = PENDING_READ if hook.batch_end is not None else self.batch_size
        page = await self._call(
            lambda: self.store.events(hook.filter, first=first, after=hook.cursor)
        )
        now = self.clock.now()
        if hook.cursor < page.oldest_seq - 1:
            error = (
                f"events after seq {hook.cursor} are no longer held (the oldest is "
                f"{page.oldest_seq}); nothing can be delivered in order from this cursor"
            )
            await self._call(
                lambda: hooks.postpone(
                    hook.id,
                    expected=hook.cursor,
                    batch_end=hook.batch_end or hook.cursor,
                    attempts=hook.attempts,
                    next_attempt=None,
                    error=error,
                    now=_micros(now),
                )
            )
            return None
        events = list(page.items)
        end = page.end_cursor
        if hook.batch_end is not None:
            events = [e for e in events if e.seq <= hook.batch_end]
            end = hook.batch_end
        elif events and not await self._call(
            lambda: hooks.pin_batch(hook.id, expected=hook.cursor, batch_end=end, now=_micros(now))
        ):
            return None  # disabled, deleted or moved meanwhile: look again
        if not events:
            if end > hook.cursor:  # a stretch the filter left out: move past it
                return (
                    bool(
                        await self._call(
                            lambda: hooks.advance(
                                hook.id, expected=hook.cursor, cursor=end, now=_micros(now)
                            )
                        )
                    )
                    or None
                )
            return False
        record, outcome = await self.send(hook, events, attempt=hook.attempts + 1, manual=False)
        now = self.clock.now()
        if outcome.succeeded:
            advanced = await self._call(
                lambda: hooks.advance(hook.id, expected=hook.cursor, cursor=end, now=_micros(now))
            )
            return True if advanced else None
        failed = hook.attempts + 1
        delay = retry_delay(failed)
        await self._call(
            lambda: hooks.postpone(
                hook.id,
                expected=hook.cursor,
                batch_end=end,
                attempts=failed,
                next_attempt=_micros(now + delay) if delay is not None else None,
                error=outcome.error,
                now=_micros(now),
            )
        )
        if delay is None:
            log.warning(
                "webhook failing after its last attempt",
                webhook=hook.id,
                url=hook.url,
                error=outcome.error,
                delivery=record.number,
            )
        return None

    async def send(
        self, hook: Webhook, events: Sequence[HistoryEvent], *, attempt: int, manual: bool
    ) -> tuple[DeliveryRecord, DeliveryOutcome]:
        """POST ``events`` to ``hook`` and record the attempt in its log."""
        message = message_id(hook.id, events)
        at = self.clock.now()
        try:
            secret = self.sealer().open(hook.sealed_secret)
        except GraphSvcError as exc:
            outcome = DeliveryOutcome(None, f"cannot sign: {exc}", "", 0.0)
        else:
            outcome = await self.sender.post(hook.url, secret, message, delivery_body(events))
        attempted = DeliveryAttempt(
            webhook_id=hook.id,
            message_id=message,
            first_seq=events[0].seq,
            last_seq=events[-1].seq,
            events=len(events),
            attempt=attempt,
            manual=manual,
            at=_micros(at),
            duration=outcome.duration,
            status_code=outcome.status_code,
            error=outcome.error,
            response_body=outcome.response_body,
            succeeded=outcome.succeeded,
        )
        record = await self._call(lambda: self.store.webhooks.record_delivery(attempted))
        return record, outcome
