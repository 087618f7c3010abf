"""Following the event feed as it happens: the hub that wakes followers, and the follower.

Three ways of following the feed (PRODUCT.md 8) share this module: the long
poll ``GET /api/v1/events?wait=``, the Server-Sent Events stream
``GET /api/v1/events/stream`` and the GraphQL subscription ``events``.

**Waking.** A :class:`FeedHub` is one per app. The store calls
:meth:`FeedHub.notify` after each commit of this process (a commit listener,
:meth:`~graphsvc.store.base.GraphStore.add_commit_listener`), from whatever
thread committed; a read replica's follower notifies when it applied the
writer's commits. Commits of other processes (other graphsvc processes on
Neo4j) are seen by one shared fallback poll (:meth:`FeedHub.watch`): while
anyone waits, one cheap read of the last seq every ``poll_seconds`` for the
whole process, never one per follower. A follower reads the store only when
woken, or at each heartbeat.

**Bounds.** At most ``max_followers`` streams and subscriptions at once
(:meth:`FeedHub.follower`, refused with :class:`FeedBusy`); each holds at most
one page of :data:`FOLLOW_PAGE` events in memory and sends it before it reads
the next (a slow client slows its own reads, nothing queues up). A follower
ends when the hub closes (the server shuts down), after ``stream_max_seconds``
(the client resumes from its last seq, as ``EventSource`` does by itself), when
its caller's token is no longer valid (checked at each heartbeat), and when
pruning removed events it had not read yet (:class:`Gone`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import anyio
import structlog
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from graphsvc.errors import GraphSvcError
from graphsvc.model.records import HistoryEvent
from graphsvc.store.base import EventPage, EventQuery

__all__ = [
    "FOLLOW_PAGE",
    "EventStreamResponse",
    "FeedBusy",
    "FeedHub",
    "FeedItem",
    "FollowerPlace",
    "Gone",
    "Heartbeat",
    "ReadEvents",
    "Revoked",
    "follow",
]

log = structlog.get_logger("graphsvc.feed")

FOLLOW_PAGE = 100
"""Events a follower reads from the store at once (and so holds in memory at most)."""

ReadEvents = Callable[[EventQuery, int, int], Awaitable[EventPage]]
"""``read(query, first, after)``: one :meth:`GraphStore.events` call, wherever it runs."""


class FeedBusy(GraphSvcError):
    """As many streams and subscriptions follow the feed as the server allows."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Nothing new for a while: a comment keeps proxies from closing the stream.

    Attributes:
        cursor: Where the follower is (past events its filter left out): a
            client resuming from here misses nothing.
    """

    cursor: int


@dataclass(frozen=True, slots=True)
class Gone:
    """Events after the follower's cursor were pruned before it read them.

    Attributes:
        cursor: The follower's cursor.
        oldest_seq: The oldest seq the store holds now.
    """

    cursor: int
    oldest_seq: int

    @property
    def detail(self) -> str:
        """What happened and what to do, for the client."""
        return (
            f"after={self.cursor} is older than the oldest event the server holds "
            f"(seq {self.oldest_seq}): read the current state again and follow the feed "
            f"from after={self.oldest_seq - 1}"
        )


@dataclass(frozen=True, slots=True)
class Revoked:
    """The follower's token is no longer valid (revoked or expired): the stream ends."""


FeedItem = HistoryEvent | Heartbeat | Gone | Revoked


class FeedHub:
    """Wakes feed followers on commits, bounds how many there are, and ends them.

    Args:
        max_followers: Most streams and subscriptions at once.
        poll_seconds: How often the shared fallback poll looks for commits of
            other processes while anyone waits.
        heartbeat_seconds: Longest silence of a stream (a heartbeat then).
        stream_max_seconds: A stream is ended after this long (``0``: never).
    """

    def __init__(
        self,
        *,
        max_followers: int,
        poll_seconds: float,
        heartbeat_seconds: float,
        stream_max_seconds: float,
    ) -> None:
        self.max_followers = max_followers
        self.poll_seconds = poll_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.stream_max_seconds = stream_max_seconds
        self._lock = threading.Lock()
        self._generation = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()
        self._followers = 0
        self._closed = False
        self._last_seen = 0

    @property
    def generation(self) -> int:
        """How many notifications there were: read it before reading the store."""
        return self._generation

    @property
    def closed(self) -> bool:
        """Whether the server is shutting down (every follower ends)."""
        return self._closed

    @property
    def waiting(self) -> int:
        """Readers waiting for a commit now (long polls and idle followers)."""
        return len(self._waiters)

    @property
    def followers(self) -> int:
        """Streams and subscriptions following the feed now."""
        return self._followers

    def notify(self) -> None:
        """Something may have been committed: wake every waiter. Thread-safe, quick."""
        with self._lock:
            self._generation += 1
            waiters = list(self._waiters)
        for loop, future in waiters:
            with suppress(RuntimeError):  # that loop is closed: its waiter is gone
                loop.call_soon_threadsafe(_wake, future)

    def close(self) -> None:
        """The server is shutting down: end every follower now and refuse new ones."""
        self._closed = True
        self.notify()

    async def wait(self, generation: int, timeout: float) -> None:
        """Return after the first notification past ``generation``, or after ``timeout`` s.

        Returns at once when one came already (so a commit between a reader's
        store read and this call is never slept through) or the hub is closed.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (loop, future)
        with self._lock:
            if self._generation != generation or self._closed:
                return
            self._waiters.add(entry)
        try:
            with anyio.move_on_after(max(0.0, timeout)):
                await future
        finally:
            with self._lock:
                self._waiters.discard(entry)

    @contextmanager
    def follower(self) -> Iterator[None]:
        """Hold one follower place for the block (see :meth:`take`)."""
        place = self.take()
        try:
            yield
        finally:
            place.release()

    def take(self) -> FollowerPlace:
        """Take one follower place; release it when the follower ends.

        Raises:
            FeedBusy: when ``max_followers`` are following already, or the hub is closed.
        """
        with self._lock:
            if self._closed:
                msg = "the server is shutting down; follow the feed again from your last seq"
                raise FeedBusy(msg)
            if self._followers >= self.max_followers:
                msg = (
                    f"{self._followers} event streams and subscriptions are open, the most "
                    f"this server allows (GRAPHSVC_EVENT_STREAMS_MAX={self.max_followers}); "
                    "try again later, or use the long poll GET /api/v1/events?wait=30"
                )
                raise FeedBusy(msg)
            self._followers += 1
        return FollowerPlace(self)

    def _release(self) -> None:
        with self._lock:
            self._followers -= 1

    async def watch(self, read: ReadEvents) -> None:
        """The shared fallback poll (a background task of the app; runs until cancelled).

        While anyone waits, reads the last seq every ``poll_seconds`` and wakes
        the waiters when it grew: commits of other processes reach them this way.
        """
        while not self._closed:
            await anyio.sleep(self.poll_seconds)
            if not self._waiters:
                continue
            try:
                page = await read(EventQuery(), 0, self._last_seen)
            except GraphSvcError as exc:  # the store is away for now: followers retry too
                log.warning("looking for new events failed", error=str(exc))
                continue
            if page.last_seq != self._last_seen:
                self._last_seen = page.last_seq
                self.notify()


class FollowerPlace:
    """One place among the hub's followers; :meth:`release` gives it back (once)."""

    def __init__(self, hub: FeedHub) -> None:
        self._hub: FeedHub | None = hub

    def release(self) -> None:
        """Give the place back; later calls do nothing."""
        hub, self._hub = self._hub, None
        if hub is not None:
            hub._release()


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` response that ends cleanly however it ends.

    Starlette stops watching for the client's disconnect on servers of ASGI
    spec 2.4 and later (a gone client is then noticed only at the next write);
    this response always watches, so a stream whose client went away stops at
    once, even while it waits for events. Whatever ends it (the client, the
    stream's own end, the server shutting down), the body's generator is
    closed and ``on_close`` runs (it gives the follower place back).
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        on_close: Callable[[], None],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(content, headers=headers)
        self._frames = content
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002
        """Stream until the body ends or the client disconnects."""
        try:
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    with suppress(OSError):  # the client went away while we wrote
                        await self.stream_response(send)
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                aclose = getattr(self._frames, "aclose", None)
                if aclose is not None:
                    await aclose()
                self._on_close()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def follow(
    hub: FeedHub,
    read: ReadEvents,
    query: EventQuery,
    cursor: int,
    *,
    first: EventPage | None = None,
    still_allowed: Callable[[], bool] = lambda: True,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncGenerator[FeedItem, None]:
    """Yield every event after ``cursor`` matching ``query``, as they commit, in seq order.

    Also yields a :class:`Heartbeat` after ``hub.heartbeat_seconds`` without
    anything else, and at last a :class:`Gone` (then it ends) when events it
    had not read were pruned, or a :class:`Revoked` when ``still_allowed()``
    (asked at each heartbeat) turns false. It ends without a word when the hub
    closes or ``hub.stream_max_seconds`` have passed: the caller resumes from
    the last seq it got.

    Args:
        hub: Wakes the follower.
        read: Reads one page of the store's events.
        query: Which events.
        cursor: The seq after which to start (``0``: from the first).
        first: The page the caller read already from ``cursor`` (to answer 410
            before streaming), so it is not read twice.
        still_allowed: Whether the caller may still read.
        clock: Monotonic seconds (tests pass their own).
    """
    started = last_output = checked = clock()
    ends = started + hub.stream_max_seconds if hub.stream_max_seconds > 0 else float("inf")
    page = first
    while not hub.closed:
        generation = hub.generation
        if page is None:
            page = await read(query, FOLLOW_PAGE, cursor)
        if cursor < page.oldest_seq - 1:
            yield Gone(cursor, page.oldest_seq)
            return
        for event in page.items:
            yield event
            last_output = clock()
        cursor = page.end_cursor
        more, page = page.has_next, None
        now = clock()
        if now >= ends:
            return
        if now - checked >= hub.heartbeat_seconds:  # a busy stream is checked as often
            checked = now
            if not still_allowed():
                yield Revoked()
                return
        if more:
            continue
        if now - last_output >= hub.heartbeat_seconds:
            yield Heartbeat(cursor)
            last_output = now
        await hub.wait(generation, min(last_output + hub.heartbeat_seconds, ends) - now)
