"""REST for webhooks under ``/api/v1/webhooks`` (admin scope; PRODUCT.md 8).

``POST /webhooks`` ``{url, filter, description?, after?}`` answers 201 with the
subscription and its ``secret``, shown this once. ``GET /webhooks``,
``GET /webhooks/{id}`` (never the secret), ``POST /webhooks/{id}/disable`` and
``/enable``, ``DELETE /webhooks/{id}``, ``GET /webhooks/{id}/deliveries`` (paged,
newest first) and ``POST /webhooks/{id}/deliveries/{number}/resend``. A URL that
may not receive deliveries is a 422 problem naming the field ``url`` and why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from graphsvc.api.problems import Problem, ProblemItem, problem_response
from graphsvc.api.rest import Admin, KindSpelling, Svc, _kind
from graphsvc.api.webhooks.admin import MAX_DESCRIPTION, WebhookAdmin
from graphsvc.api.webhooks.targets import MAX_URL_LENGTH, TargetRefused
from graphsvc.errors import InvalidInput
from graphsvc.model.batch import SourceName
from graphsvc.model.records import ItemKind
from graphsvc.model.vocabulary import RelationType
from graphsvc.store.base import EventQuery
from graphsvc.store.webhooks import DeliveryRecord, Webhook

__all__ = ["WebhookOut", "router"]

WEBHOOK_ID = r"^wh_[0-9a-f]{24}$"
WebhookId = Annotated[str, Path(pattern=WEBHOOK_ID, description="The subscription's id.")]


class WebhookFilterIn(BaseModel):
    """Which events a subscription receives (as the filters of ``GET /events``)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    item: ItemKind | None = Field(default=None, description="Only entity or relation events.")
    kinds: list[KindSpelling] | None = Field(
        default=None, max_length=50, description="Only events of entities of these kinds."
    )
    types: list[RelationType] | None = Field(
        default=None, max_length=50, description="Only events of relations of these types."
    )
    sources: list[SourceName] | None = Field(
        default=None, max_length=50, description="Only events made by these sources."
    )
    exclude_sources: list[SourceName] | None = Field(
        default=None,
        alias="excludeSources",
        max_length=50,
        description="No event made by these sources (a tool leaves out its own writes).",
    )

    def query(self) -> EventQuery:
        """The store's form of the filter."""
        return EventQuery(
            item=self.item,
            kinds=frozenset(_kind(k) for k in self.kinds) if self.kinds else None,
            types=frozenset(self.types) if self.types else None,
            sources=frozenset(self.sources) if self.sources else None,
            exclude_sources=frozenset(self.exclude_sources or ()),
        )


class WebhookFilterOut(BaseModel):
    """A subscription's filter."""

    model_config = ConfigDict(populate_by_name=True)

    item: str | None
    kinds: list[str] | None
    types: list[str] | None
    sources: list[str] | None
    exclude_sources: list[str] = Field(alias="excludeSources")

    @classmethod
    def of(cls, q: EventQuery) -> WebhookFilterOut:
        """Convert a store filter."""
        return cls(
            item=q.item.value if q.item is not None else None,
            kinds=sorted(k.value for k in q.kinds) if q.kinds is not None else None,
            types=sorted(t.value for t in q.types) if q.types is not None else None,
            sources=sorted(q.sources) if q.sources is not None else None,
            exclude_sources=sorted(q.exclude_sources),
        )


class WebhookCreateIn(BaseModel):
    """A subscription to create."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=MAX_URL_LENGTH, description="http(s) URL of a public host.")
    filter: WebhookFilterIn = Field(default_factory=WebhookFilterIn)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    after: int | None = Field(
        default=None,
        ge=0,
        le=2**62,
        description="Deliver events after this seq (default: from now on; 0: the whole history).",
    )


class WebhookOut(BaseModel):
    """A subscription and where its delivery stands (never its secret)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    url: str
    description: str
    filter: WebhookFilterOut
    state: str = Field(description="active, disabled, or failing (the last attempt failed).")
    cursor: int = Field(description="The last seq delivered in order (or filtered out).")
    pending_batch_end: int | None = Field(
        alias="pendingBatchEnd", description="While a batch is retried: the seq it ends at."
    )
    attempts: int = Field(description="Failed attempts of the pending batch.")
    next_attempt: datetime | None = Field(alias="nextAttempt")
    last_error: str = Field(alias="lastError")
    deliveries: int = Field(description="Attempts recorded so far (the last delivery number).")
    created: datetime
    updated: datetime

    @classmethod
    def of(cls, h: Webhook) -> WebhookOut:
        """Convert a stored subscription."""
        return cls(
            id=h.id,
            url=h.url,
            description=h.description,
            filter=WebhookFilterOut.of(h.filter),
            state=h.state.value,
            cursor=h.cursor,
            pending_batch_end=h.batch_end,
            attempts=h.attempts,
            next_attempt=h.next_attempt,
            last_error=h.last_error,
            deliveries=h.deliveries,
            created=h.created,
            updated=h.updated,
        )


class WebhookCreatedOut(WebhookOut):
    """A new subscription with its signing secret, shown this once."""

    secret: str = Field(
        description="whsec_…: verify deliveries with it (Standard Webhooks); not shown again."
    )


class DeliveryOut(BaseModel):
    """One delivery attempt."""

    model_config = ConfigDict(populate_by_name=True)

    number: int
    message_id: str = Field(alias="messageId", description="The webhook-id header sent.")
    first_seq: int = Field(alias="firstSeq")
    last_seq: int = Field(alias="lastSeq")
    events: int
    attempt: int
    manual: bool = Field(description="Sent by a resend.")
    at: datetime
    duration_seconds: float = Field(alias="durationSeconds")
    status_code: int | None = Field(alias="statusCode")
    error: str
    response_body: str = Field(alias="responseBody", description="At most 1 KB of the answer.")
    succeeded: bool

    @classmethod
    def of(cls, d: DeliveryRecord) -> DeliveryOut:
        """Convert a recorded attempt."""
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


class DeliveryPageOut(BaseModel):
    """Delivery attempts, newest first; pass ``next`` as ``after`` for older ones."""

    model_config = ConfigDict(populate_by_name=True)

    items: list[DeliveryOut]
    next: int | None
    has_more: bool = Field(alias="hasMore")


router = APIRouter(
    prefix="/api/v1/webhooks",
    responses={
        code: {"model": Problem, "content": {"application/problem+json": {}}}
        for code in (400, 401, 403, 404, 409, 422, 503)
    },
)


def _admin(svc: Svc) -> WebhookAdmin:
    if svc.webhooks is None:
        msg = "webhooks are managed on the writing server"
        raise InvalidInput(msg)
    return svc.webhooks


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreatedOut,
    response_model_by_alias=True,
    summary="Subscribe a URL to the event feed; the answer holds the secret, shown once",
)
async def create_webhook(body: WebhookCreateIn, _principal: Admin, svc: Svc) -> Any:
    """Create an active subscription: events committed from now on (or after ``after``)."""
    try:
        hook, secret = await _admin(svc).create(
            body.url, body.filter.query(), description=body.description, after=body.after
        )
    except TargetRefused as exc:
        return problem_response(
            422,
            "Invalid request",
            f"url: {exc}",
            [ProblemItem(section="body", field="url", reason=str(exc))],
        )
    return WebhookCreatedOut(**WebhookOut.of(hook).model_dump(), secret=secret)


@router.get("", response_model=list[WebhookOut], response_model_by_alias=True)
async def list_webhooks(_principal: Admin, svc: Svc) -> Any:
    """Every subscription, oldest first (never a secret)."""
    return [WebhookOut.of(h) for h in await _admin(svc).list()]


@router.get("/{webhook_id}", response_model=WebhookOut, response_model_by_alias=True)
async def get_webhook(webhook_id: WebhookId, _principal: Admin, svc: Svc) -> Any:
    """One subscription (never its secret)."""
    return WebhookOut.of(await _admin(svc).get(webhook_id))


@router.post("/{webhook_id}/disable", response_model=WebhookOut, response_model_by_alias=True)
async def disable_webhook(webhook_id: WebhookId, _principal: Admin, svc: Svc) -> Any:
    """Stop delivering; the cursor is kept."""
    return WebhookOut.of(await _admin(svc).disable(webhook_id))


@router.post("/{webhook_id}/enable", response_model=WebhookOut, response_model_by_alias=True)
async def enable_webhook(webhook_id: WebhookId, _principal: Admin, svc: Svc) -> Any:
    """Deliver again from the cursor (a failing subscription retries its batch at once)."""
    return WebhookOut.of(await _admin(svc).enable(webhook_id))


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
async def delete_webhook(webhook_id: WebhookId, _principal: Admin, svc: Svc) -> Response:
    """Delete the subscription and its delivery log."""
    await _admin(svc).delete(webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries", response_model=DeliveryPageOut, response_model_by_alias=True
)
async def list_deliveries(
    webhook_id: WebhookId,
    _principal: Admin,
    svc: Svc,
    after: Annotated[
        int | None, Query(ge=1, le=2**62, description="Only older than this number.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Most attempts answered.")] = 50,
) -> Any:
    """The subscription's delivery attempts, newest first."""
    page = await _admin(svc).deliveries(webhook_id, first=limit, after=after)
    return DeliveryPageOut(
        items=[DeliveryOut.of(d) for d in page.items],
        next=page.end_cursor,
        has_more=page.has_next,
    )


@router.post(
    "/{webhook_id}/deliveries/{number}/resend",
    response_model=DeliveryOut,
    response_model_by_alias=True,
)
async def resend_delivery(
    webhook_id: WebhookId,
    number: Annotated[int, Path(ge=1, le=2**62, description="The delivery's number.")],
    _principal: Admin,
    svc: Svc,
) -> Any:
    """Send a delivery's events again now (same webhook-id); answers the new attempt."""
    return DeliveryOut.of(await _admin(svc).resend(webhook_id, number))
