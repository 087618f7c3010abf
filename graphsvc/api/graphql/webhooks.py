"""Webhooks in GraphQL (PRODUCT.md 8): ``webhooks`` and five mutations, admin scope only.

``webhooks`` lists subscriptions (never a secret) with, per subscription, its
``deliveries(first, after)``; ``createWebhook`` answers the secret once;
``disableWebhook``, ``enableWebhook``, ``deleteWebhook`` and
``resendWebhookDelivery`` act on one. Each field checks the ``admin`` scope
itself (``FORBIDDEN`` otherwise) before anything is read or written; the
schema's guard has checked ``read`` (queries) or ``write`` (mutations) already.
Input problems (a refused URL, an unknown id) come back as ``userErrors`` with
the path of the offending input field, as the ingest mutations do.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from graphsvc.api.graphql.context import GraphContext
from graphsvc.api.graphql.events import EventFilter, _query
from graphsvc.api.graphql.types import page_size
from graphsvc.api.tokens import Scope
from graphsvc.api.webhooks.admin import WebhookAdmin
from graphsvc.api.webhooks.targets import TargetRefused
from graphsvc.errors import GraphSvcError, InvalidInput, NotFound
from graphsvc.store.base import EventQuery
from graphsvc.store.webhooks import DeliveryRecord, Webhook

__all__ = ["WebhooksMutation", "WebhooksQuery"]


def _admin(info: Info[GraphContext, None]) -> WebhookAdmin:
    principal = info.context.principal
    if principal is not None and not principal.allows(Scope.ADMIN):
        msg = f"this token's scope ({principal.scope.value}) does not allow admin"
        raise GraphQLError(msg, extensions={"code": "FORBIDDEN"})
    admin = info.context.webhooks
    if admin is None:
        msg = "webhooks are managed on the writing server"
        raise GraphQLError(msg, extensions={"code": "READ_ONLY"})
    return admin


@strawberry.type(description="Which events a webhook receives.")
class WebhookFilterType:
    item: str | None
    kinds: list[str] | None
    types: list[str] | None
    sources: list[str] | None
    exclude_sources: list[str]

    @classmethod
    def of(cls, q: EventQuery) -> WebhookFilterType:
        return cls(
            item=q.item.value if q.item is not None else None,
            kinds=sorted(k.value for k in q.kinds) if q.kinds is not None else None,
            types=sorted(t.value for t in q.types) if q.types is not None else None,
            sources=sorted(q.sources) if q.sources is not None else None,
            exclude_sources=sorted(q.exclude_sources),
        )


@strawberry.type(name="WebhookDelivery", description="One delivery attempt.")
class WebhookDeliveryType:
    number: int
    message_id: str = strawberry.field(description="The webhook-id header sent.")
    first_seq: int
    last_seq: int
    events: int
    attempt: int
    manual: bool = strawberry.field(description="Sent by a resend.")
    at: datetime
    duration_seconds: float
    status_code: int | None
    error: str
    response_body: str = strawberry.field(description="At most 1 KB of the answer.")
    succeeded: bool

    @classmethod
    def of(cls, d: DeliveryRecord) -> WebhookDeliveryType:
        return cls(
            number=d.number,
            message_id=d.message_id,
            first_seq=d.first_seq,
            last_seq=d.last_seq,
            events=d.events,
            attempt=d.attempt,
            manual=d.manual,
            at=d.at,
            duration_seconds=round(d.duration, 6),
            status_code=d.status_code,
            error=d.error,
            response_body=d.response_body,
            succeeded=d.succeeded,
        )


@strawberry.type(description="Delivery attempts, newest first.")
class WebhookDeliveryPage:
    items: list[WebhookDeliveryType]
    has_more: bool
    next: int | None = strawberry.field(description="Pass as `after` for older attempts.")


@strawberry.type(name="Webhook", description="A subscription to the event feed (no secret).")
class WebhookType:
    id: str
    url: str
    description: str
    filter: WebhookFilterType
    state: str = strawberry.field(description="active, disabled or failing.")
    cursor: int = strawberry.field(description="The last seq delivered in order.")
    pending_batch_end: int | None
    attempts: int
    next_attempt: datetime | None
    last_error: str
    delivery_count: int
    created: datetime
    updated: datetime

    @classmethod
    def of(cls, h: Webhook) -> WebhookType:
        return cls(
            id=h.id,
            url=h.url,
            description=h.description,
            filter=WebhookFilterType.of(h.filter),
            state=h.state.value,
            cursor=h.cursor,
            pending_batch_end=h.batch_end,
            attempts=h.attempts,
            next_attempt=h.next_attempt,
            last_error=h.last_error,
            delivery_count=h.deliveries,
            created=h.created,
            updated=h.updated,
        )

    @strawberry.field(description="This subscription's delivery attempts, newest first.")
    async def deliveries(
        self, info: Info[GraphContext, None], first: int | None = None, after: int | None = None
    ) -> WebhookDeliveryPage:
        size = page_size(info, first)
        page = await _admin(info).deliveries(self.id, first=size, after=after)
        return WebhookDeliveryPage(
            items=[WebhookDeliveryType.of(d) for d in page.items],
            has_more=page.has_next,
            next=page.end_cursor,
        )


@strawberry.type
class WebhookError:
    field: list[str] = strawberry.field(description="Path of the offending input field.")
    message: str
    code: str


@strawberry.input(description="A subscription to create.")
class CreateWebhookInput:
    url: str
    filter: EventFilter | None = None
    description: str = ""
    after: int | None = strawberry.field(
        default=None, description="Deliver events after this seq (default: from now on)."
    )


@strawberry.type
class CreateWebhookPayload:
    webhook: WebhookType | None
    secret: str | None = strawberry.field(description="whsec_…, shown only in this answer.")
    user_errors: list[WebhookError]


@strawberry.type
class WebhookPayload:
    webhook: WebhookType | None
    user_errors: list[WebhookError]


@strawberry.type
class DeleteWebhookPayload:
    deleted: bool
    user_errors: list[WebhookError]


@strawberry.type
class ResendPayload:
    delivery: WebhookDeliveryType | None
    user_errors: list[WebhookError]


def _errors(exc: GraphSvcError, field: str) -> list[WebhookError]:
    code = {NotFound: "NOT_FOUND", TargetRefused: "INVALID", InvalidInput: "INVALID"}.get(
        type(exc), "ERROR"
    )
    return [
        WebhookError(field=["input", field] if field else ["input"], message=str(exc), code=code)
    ]


@strawberry.type
class WebhooksQuery:
    """The ``webhooks`` field of ``Query`` (needs the ``admin`` scope)."""

    @strawberry.field(description="Every webhook subscription, oldest first (admin scope).")
    async def webhooks(
        self, info: Info[GraphContext, None], id: str | None = None
    ) -> list[WebhookType]:
        admin = _admin(info)
        if id is not None:
            try:
                return [WebhookType.of(await admin.get(id))]
            except NotFound:
                return []
        return [WebhookType.of(h) for h in await admin.list()]


@strawberry.type
class WebhooksMutation:
    """Webhook mutations of ``Mutation`` (each needs the ``admin`` scope)."""

    @strawberry.mutation(description="Subscribe a URL to the event feed; the secret is shown once.")
    async def create_webhook(
        self, info: Info[GraphContext, None], input: CreateWebhookInput
    ) -> CreateWebhookPayload:
        admin = _admin(info)
        try:
            event_filter = _query(input.filter)
        except GraphQLError as exc:
            return CreateWebhookPayload(
                webhook=None,
                secret=None,
                user_errors=[
                    WebhookError(field=["input", "filter"], message=exc.message, code="INVALID")
                ],
            )
        try:
            hook, secret = await admin.create(
                input.url, event_filter, description=input.description, after=input.after
            )
        except TargetRefused as exc:
            return CreateWebhookPayload(webhook=None, secret=None, user_errors=_errors(exc, "url"))
        except GraphSvcError as exc:
            return CreateWebhookPayload(webhook=None, secret=None, user_errors=_errors(exc, ""))
        return CreateWebhookPayload(webhook=WebhookType.of(hook), secret=secret, user_errors=[])

    @strawberry.mutation(description="Stop delivering a webhook (its cursor is kept).")
    async def disable_webhook(self, info: Info[GraphContext, None], id: str) -> WebhookPayload:
        admin = _admin(info)
        try:
            return WebhookPayload(webhook=WebhookType.of(await admin.disable(id)), user_errors=[])
        except GraphSvcError as exc:
            return WebhookPayload(webhook=None, user_errors=_errors(exc, "id"))

    @strawberry.mutation(description="Deliver a webhook again from its cursor.")
    async def enable_webhook(self, info: Info[GraphContext, None], id: str) -> WebhookPayload:
        admin = _admin(info)
        try:
            return WebhookPayload(webhook=WebhookType.of(await admin.enable(id)), user_errors=[])
        except GraphSvcError as exc:
            return WebhookPayload(webhook=None, user_errors=_errors(exc, "id"))

    @strawberry.mutation(description="Delete a webhook and its delivery log.")
    async def delete_webhook(self, info: Info[GraphContext, None], id: str) -> DeleteWebhookPayload:
        admin = _admin(info)
        try:
            await admin.delete(id)
        except GraphSvcError as exc:
            return DeleteWebhookPayload(deleted=False, user_errors=_errors(exc, "id"))
        return DeleteWebhookPayload(deleted=True, user_errors=[])

    @strawberry.mutation(description="Send a delivery's events again now, same webhook-id.")
    async def resend_webhook_delivery(
        self, info: Info[GraphContext, None], id: str, number: int
    ) -> ResendPayload:
        admin = _admin(info)
        try:
            record = await admin.resend(id, number)
        except GraphSvcError as exc:
            return ResendPayload(delivery=None, user_errors=_errors(exc, "number"))
        return ResendPayload(delivery=WebhookDeliveryType.of(record), user_errors=[])
