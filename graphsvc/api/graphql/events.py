"""The GraphQL event feed (PRODUCT.md 8): the query field and the subscription ``events``.

The query field is ``events(after, first, filter)``; the subscription
``events(filter, after)`` runs over ``graphql-transport-ws``.

Every committed change is an event of the store's history, in seq order (commit
order). The field pages through them with the one cursor scheme of the API
(:mod:`graphsvc.model.cursor`): a cursor encodes a seq. Unlike other
connections, ``pageInfo.endCursor`` is given even when the page has no edge: it
is where the reader goes on from, past any events the filter left out, so
a client following the feed passes it as ``after`` every time.

The subscription sends each matching event as it commits, as an edge whose
cursor resumes the subscription (or the query) after it. It starts after
``after``, or at the oldest event held; a cursor older than that, or events
pruned while the subscriber lagged, end it with an error ``GONE``; so does a
token revoked meanwhile (``UNAUTHENTICATED``, checked at each heartbeat
interval). Subscriptions count against the server's limit of event streams
(``TOO_MANY_STREAMS``) and end when the server shuts down.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from contextlib import aclosing

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from graphsvc.api.feed import FOLLOW_PAGE, FeedBusy, Gone, Revoked, follow
from graphsvc.api.graphql.context import GraphContext
from graphsvc.api.graphql.types import (
    EntityKindEnum,
    HistoryEventType,
    PageInfo,
    RelationTypeEnum,
    decode_cursor,
    encode_cursor,
    page_size,
)
from graphsvc.api.tokens import Scope
from graphsvc.model.records import HistoryEvent, ItemKind
from graphsvc.model.vocabulary import EntityKind, RelationType
from graphsvc.store.base import EventPage, EventQuery

__all__ = ["EventsQuery", "EventsSubscription"]

ItemKindEnum = strawberry.enum(
    ItemKind, name="ItemKind", description="Whether an event concerns an entity or a relation."
)

MAX_FILTER_SOURCES = 50
"""Most sources one filter names (``sources`` or ``excludeSources``)."""


@strawberry.input(description="Conditions an event must meet; all given ones apply.")
class EventFilter:
    item: ItemKindEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Only events of entities, or only of relations."
    )
    kinds: list[EntityKindEnum] | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description=(
            "Only events of entities of these kinds; with `types`, events of either; "
            "alone, no relation event."
        ),
    )
    types: list[RelationTypeEnum] | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Only events of relations of these types (see `kinds`)."
    )
    sources: list[str] | None = strawberry.field(
        default=None, description="Only events made by these sources."
    )
    exclude_sources: list[str] | None = strawberry.field(
        default=None, description="No event made by these sources (no echo of a tool's writes)."
    )


@strawberry.type
class EventEdge:
    cursor: str
    node: HistoryEventType


@strawberry.type(description="A page of the event feed, in commit order.")
class EventConnection:
    edges: list[EventEdge]
    page_info: PageInfo
    oldest_seq: int = strawberry.field(
        description="The oldest seq the server holds; a cursor before it is refused (GONE)."
    )


def _query(found: EventFilter | None) -> EventQuery:
    if found is None:
        return EventQuery()
    for name, values in (("sources", found.sources), ("excludeSources", found.exclude_sources)):
        if values is not None and len(values) > MAX_FILTER_SOURCES:
            msg = f"filter.{name} names {len(values)} sources; at most {MAX_FILTER_SOURCES}"
            raise GraphQLError(msg, extensions={"code": "BAD_FILTER"})
    return EventQuery(
        item=ItemKind(found.item) if found.item is not None else None,
        kinds=frozenset(EntityKind(k) for k in found.kinds) if found.kinds else None,
        types=frozenset(RelationType(t) for t in found.types) if found.types else None,
        sources=frozenset(found.sources) if found.sources else None,
        exclude_sources=frozenset(found.exclude_sources or ()),
    )


@strawberry.type
class EventsQuery:
    """The event feed field of ``Query`` (needs the ``read`` scope)."""

    @strawberry.field(
        description=(
            "Committed changes after a cursor, in commit order (PRODUCT.md 8). "
            "`pageInfo.endCursor` is always the cursor to go on from, even on an empty page; "
            "`hasNextPage` false means the reader has caught up."
        )
    )
    async def events(
        self,
        info: Info[GraphContext, None],
        after: str | None = None,
        first: int | None = None,
        filter: EventFilter | None = None,
    ) -> EventConnection:
        size = page_size(info, first)
        start = decode_cursor(after)
        page = await info.context.store.events(_query(filter), first=size, after=start)
        if start is not None and start < page.oldest_seq - 1:
            msg = (
                f"the cursor is older than the oldest event the server holds "
                f"(seq {page.oldest_seq}): read the current state again and follow the feed "
                "from its start"
            )
            raise GraphQLError(msg, extensions={"code": "GONE", "oldestSeq": page.oldest_seq})
        edges = [
            EventEdge(cursor=encode_cursor(e.seq), node=HistoryEventType.of(e)) for e in page.items
        ]
        return EventConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=start is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=encode_cursor(page.end_cursor),
            ),
            oldest_seq=page.oldest_seq,
        )


def _gone(cursor: int, oldest_seq: int) -> GraphQLError:
    msg = Gone(cursor, oldest_seq).detail.replace(f"after={cursor} is", "the cursor is")
    return GraphQLError(msg, extensions={"code": "GONE", "oldestSeq": oldest_seq})


@strawberry.type
class EventsSubscription:
    """The event feed as it happens (needs the ``read`` scope)."""

    @strawberry.subscription(
        description=(
            "Every committed change matching the filter, as it commits, in commit order "
            "(PRODUCT.md 8), after `after` (an edge's cursor) or from the oldest event held. "
            "Resume with the last edge's cursor. Errors end it: GONE (events pruned before "
            "they were read), UNAUTHENTICATED (the token was revoked), TOO_MANY_STREAMS."
        )
    )
    async def events(
        self,
        info: Info[GraphContext, None],
        filter: EventFilter | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[EventEdge, None]:
        context = info.context
        hub = context.feed
        if hub is None:
            msg = "subscriptions are served over graphql-transport-ws at /graphql"
            raise GraphQLError(msg, extensions={"code": "BAD_REQUEST"})
        if not context.principal.allows(Scope.READ) or not context.recheck():
            msg = "the API token is not valid (unknown, revoked or expired)"
            raise GraphQLError(msg, extensions={"code": "UNAUTHENTICATED"})
        query = _query(filter)
        start = decode_cursor(after)
        workers, store = context.workers, context.store

        async def read(q: EventQuery, first: int, cursor: int) -> EventPage:
            def work() -> Awaitable[EventPage]:
                return store.events(q, first=first, after=cursor)

            return await (work() if workers is None else workers.run(work))

        try:
            place = hub.take()
        except FeedBusy as exc:
            raise GraphQLError(str(exc), extensions={"code": "TOO_MANY_STREAMS"}) from None
        try:
            page = await read(query, FOLLOW_PAGE, start or 0)
            if start is not None and start < page.oldest_seq - 1:
                raise _gone(start, page.oldest_seq)
            cursor = start if start is not None else page.oldest_seq - 1
            items = follow(hub, read, query, cursor, first=page, still_allowed=context.recheck)
            async with aclosing(items):
                async for item in items:
                    if isinstance(item, HistoryEvent):
                        yield EventEdge(
                            cursor=encode_cursor(item.seq), node=HistoryEventType.of(item)
                        )
                    elif isinstance(item, Gone):
                        raise _gone(item.cursor, item.oldest_seq)
                    elif isinstance(item, Revoked):
                        msg = "the API token is no longer valid (revoked or expired)"
                        raise GraphQLError(msg, extensions={"code": "UNAUTHENTICATED"})
        finally:
            place.release()
