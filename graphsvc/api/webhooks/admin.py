"""Managing webhook subscriptions: what REST, GraphQL and ``graphsvc webhook`` share.

Every operation needs the ``admin`` scope (checked by the caller: the routes,
the GraphQL guard; the CLI works on the local store, or on a server with an
admin token). A secret is answered by :meth:`WebhookAdmin.create` only; nothing
else ever shows it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from graphsvc.api.webhooks.delivery import PENDING_READ, Clock, DeliveryWorker, Runner, Sender
from graphsvc.api.webhooks.sealing import new_secret, sealer_from_settings
from graphsvc.api.webhooks.targets import pin_target
from graphsvc.config import Settings
from graphsvc.errors import Conflict, InvalidInput, NotFound
from graphsvc.store.base import EventQuery, GraphStore
from graphsvc.store.webhooks import (
    DeliveryPage,
    DeliveryRecord,
    NewWebhook,
    Webhook,
    WebhookState,
)

__all__ = ["MAX_DESCRIPTION", "MAX_WEBHOOKS", "WebhookAdmin", "webhook_admin"]

T = TypeVar("T")

MAX_WEBHOOKS = 1000
"""Most subscriptions one store holds."""
MAX_DESCRIPTION = 500
"""Longest description, in characters."""


class WebhookAdmin:
    """The webhook operations over one store.

    Args:
        store: The open store.
        run: Runs store work where the API runs it (``Services.run``), or directly.
        worker: The delivery worker (woken after changes; sends resends).
        allow_private: Accept non-public targets (``GRAPHSVC_WEBHOOK_ALLOW_PRIVATE``).
    """

    def __init__(
        self,
        store: GraphStore,
        run: Runner[object],
        worker: DeliveryWorker,
        *,
        allow_private: bool,
    ) -> None:
        self.store = store
        self._run = run
        self.worker = worker
        self.allow_private = allow_private

    async def _call(self, work: Callable[[], Awaitable[T]]) -> T:
        return await self._run(work)  # type: ignore[return-value]

    def _now(self) -> int:
        return int(self.worker.clock.now() * 1_000_000)

    async def create(
        self, url: str, event_filter: EventQuery, *, description: str = "", after: int | None = None
    ) -> tuple[Webhook, str]:
        """Create an active subscription; return it and its secret (shown only now).

        Args:
            url: The target; refused unless public (see :mod:`.targets`).
            event_filter: Which events it receives.
            description: Free text for operators.
            after: Deliver events after this seq (default: the last one now, so
                only what is committed from now on; 0: the whole history).

        Raises:
            TargetRefused: naming why the URL may not receive deliveries.
            InvalidInput: for a description too long, an ``after`` beyond the
                last event, or too many subscriptions.
        """
        if len(description) > MAX_DESCRIPTION:
            msg = f"description has {len(description)} characters; at most {MAX_DESCRIPTION}"
            raise InvalidInput(msg)
        await pin_target(url, allow_private=self.allow_private)
        existing = await self._call(self.store.webhooks.list)
        if len(existing) >= MAX_WEBHOOKS:
            msg = f"this store holds {len(existing)} webhooks already; at most {MAX_WEBHOOKS}"
            raise InvalidInput(msg)
        last = (await self._call(self.store.stats)).history_events
        if after is not None and after > last:
            msg = f"after={after} is beyond the last event (seq {last})"
            raise InvalidInput(msg)
        secret = new_secret()
        sealed = self.worker.sealer().seal(secret)
        new = NewWebhook(
            url=url,
            filter=event_filter,
            description=description,
            sealed_secret=sealed,
            cursor=last if after is None else after,
            created=self._now(),
        )
        hook = await self._call(lambda: self.store.webhooks.create(new))
        self.worker.notify()
        return hook, secret

    async def list(self) -> list[Webhook]:
        """Every subscription, oldest first."""
        return await self._call(self.store.webhooks.list)

    async def get(self, webhook_id: str) -> Webhook:
        """One subscription.

        Raises:
            NotFound: when there is none with that id.
        """
        found = await self._call(lambda: self.store.webhooks.get(webhook_id))
        if found is None:
            msg = f"webhook {webhook_id!r} does not exist"
            raise NotFound(msg)
        return found

    async def _set_state(self, webhook_id: str, state: WebhookState) -> Webhook:
        now = self._now()
        found = await self._call(lambda: self.store.webhooks.set_state(webhook_id, state, now=now))
        if found is None:
            msg = f"webhook {webhook_id!r} does not exist"
            raise NotFound(msg)
        self.worker.notify()
        return found

    async def disable(self, webhook_id: str) -> Webhook:
        """Stop delivering (cursor kept). A delivery in flight ends; its result moves nothing."""
        return await self._set_state(webhook_id, WebhookState.DISABLED)

    async def enable(self, webhook_id: str) -> Webhook:
        """Deliver again from the cursor, the pending batch at once (also after failing)."""
        return await self._set_state(webhook_id, WebhookState.ACTIVE)

    async def delete(self, webhook_id: str) -> None:
        """Delete the subscription and its delivery log.

        Raises:
            NotFound: when there is none with that id.
        """
        if not await self._call(lambda: self.store.webhooks.delete(webhook_id)):
            msg = f"webhook {webhook_id!r} does not exist"
            raise NotFound(msg)

    async def deliveries(
        self, webhook_id: str, *, first: int, after: int | None = None
    ) -> DeliveryPage:
        """The subscription's delivery attempts, newest first.

        Raises:
            NotFound: when there is no such subscription.
        """
        await self.get(webhook_id)
        return await self._call(
            lambda: self.store.webhooks.deliveries(webhook_id, first=first, after=after)
        )

    async def resend(self, webhook_id: str, number: int) -> DeliveryRecord:
        """Send a logged delivery's events again, now, and log the attempt (``manual``).

        The same events under the same ``webhook-id``, whatever the
        subscription's state; outside the retry schedule, and the cursor does
        not move (a batch not yet acknowledged is still sent by the worker).

        Raises:
            NotFound: when the subscription or the delivery does not exist.
            Conflict: when the delivery's events are no longer held.
        """
        hook = await self.get(webhook_id)
        found = await self._call(lambda: self.store.webhooks.delivery(webhook_id, number))
        if found is None:
            msg = f"webhook {webhook_id!r} has no delivery {number}"
            raise NotFound(msg)
        page = await self._call(
            lambda: self.store.events(hook.filter, first=PENDING_READ, after=found.first_seq - 1)
        )
        events = [e for e in page.items if e.seq <= found.last_seq]
        if not events or events[0].seq != found.first_seq:
            msg = f"the events of delivery {number} (seq {found.first_seq}..) are no longer held"
            raise Conflict(msg)
        record, _ = await self.worker.send(hook, events, attempt=1, manual=True)
        return record


def webhook_admin(
    store: GraphStore, run: Runner[object], settings: Settings, *, clock: Clock | None = None
) -> WebhookAdmin:
    """Build the delivery worker and the operations of ``settings`` over an open store.

    The worker is not started: the app's lifespan runs :meth:`DeliveryWorker.run_forever`
    on writing servers. Close ``admin.worker.sender`` when done.
    """
    worker = DeliveryWorker(
        store,
        run,
        lambda: sealer_from_settings(settings),
        Sender(
            allow_private=settings.webhook_allow_private,
            timeout=settings.webhook_timeout_seconds,
        ),
        batch_size=settings.webhook_batch_size,
        poll_seconds=settings.webhook_poll_seconds,
        lease_seconds=settings.webhook_lease_seconds,
        clock=clock,
    )
    return WebhookAdmin(store, run, worker, allow_private=settings.webhook_allow_private)
