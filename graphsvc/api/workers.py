"""Worker event loops: where requests do their work, so the server's loop never stalls.

The server's event loop accepts connections, reads requests, checks tokens and
writes answers; it must never run long (PRODUCT.md section 6: health checks and
small reads keep answering while a heavy query or a bulk load runs). Everything
that takes CPU or store time (GraphQL execution with its analyses and the
completion of its answer, REST reads, ingest) runs in :class:`WorkerLoops`: a
few threads, each running an event loop of its own, so the async store port and
the analyses run there unchanged, and a worker interleaves many light requests
at their awaits. A request goes to the worker with the fewest requests in flight
among those whose loop is turning. A loop turns when it waits for events or has
come back from that wait within the last 25 ms (its selector notes both, so an
idle loop costs nothing: no timer wakes it); one that has not come back for 25 ms
is held by a computation (a heavy query), so new work goes elsewhere and work
sent there that has not started yet is taken back and sent to another worker.
Requests that were already running on that loop wait for the computation to
reach an await or its deadline. The GIL still lets only one
thread run Python at a time, but a thread that computes gives it up every
switch interval (the server sets 1 ms), so the server's loop and the other
workers keep answering. Few workers share the GIL with fewer hand-overs (more
throughput); more give room to more heavy requests at once.

The request's context travels with the work (its :class:`~graphsvc.deadline.Deadline`
among it). When the request is cancelled (its deadline passed, or its client
went away), the worker's task is cancelled at its next ``await`` and the shared
deadline is marked, so code that computes without awaiting stops at its next
:func:`~graphsvc.deadline.check_deadline`.
"""

from __future__ import annotations

import asyncio
import contextvars
import selectors
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from contextlib import suppress
from typing import Generic, TypeVar

from graphsvc.deadline import current_deadline

__all__ = ["WorkerLoops"]

T = TypeVar("T")


STALE_AFTER = 0.025
"""A worker whose loop has not come back to its selector for this long is held by a
computation: no new work goes there, and work sent there that has not started is
taken back."""


class _NotingSelector(selectors.DefaultSelector):
    """The platform's default selector, noting when its loop waits and comes back.

    An event loop calls :meth:`select` once per turn (with no timeout when work is
    ready): a loop that has not come back from it for a while, and is not
    waiting in it, is running one long callback. Other threads read the two
    notes without a lock: each is a single attribute written by the loop's thread.
    """

    def __init__(self) -> None:
        super().__init__()
        self.waiting = False
        self.back_at = time.monotonic()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """Wait for events as the default selector does, noting the wait."""
        self.waiting = True
        try:
            ready: list[tuple[selectors.SelectorKey, int]] = super().select(timeout)
        finally:
            self.back_at = time.monotonic()
            self.waiting = False
        return ready


class _Worker:
    def __init__(self, name: str) -> None:
        self.selector = _NotingSelector()
        self.loop = asyncio.SelectorEventLoop(self.selector)
        self.in_flight = 0  # handed to this worker and not answered (counted on the caller's loop)
        self.running = 0  # tasks alive on this worker's loop (counted on that loop)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def stale(self, now: float) -> bool:
        """Whether this worker's loop is held by a computation right now."""
        selector = self.selector
        return not selector.waiting and now - selector.back_at > STALE_AFTER


class _Job:
    """One piece of work sent to a worker; started there, or taken back before it started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.state = "sent"

    def claim(self, state: str) -> bool:
        """Move from ``sent`` to ``state`` (``started`` or ``taken back``); once only."""
        with self._lock:
            if self.state != "sent":
                return False
            self.state = state
            return True


class _Dispatch(Generic[T]):
    """One call of :meth:`WorkerLoops.run`: where its work was sent, and taking it back.

    A class rather than closures that call each other: such closures form a
    reference cycle holding the whole request (its context, loaders, answer), which
    only the garbage collector could free, in pauses that stop every thread.
    """

    def __init__(self, loops: WorkerLoops, work: Callable[[], Awaitable[T]], writes: bool) -> None:
        self.loops = loops
        self.work = work
        self.writes = writes
        self.home = asyncio.get_running_loop()
        self.context = contextvars.copy_context()
        self.done: Future[T] = Future()
        self.task_box: list[asyncio.Task[T]] = []
        self.sent: list[tuple[_Worker, _Job, asyncio.TimerHandle]] = []

    def send(self, avoid: frozenset[_Worker]) -> None:
        """Hand the work to a worker (the writer when it writes), avoiding ``avoid``."""
        worker = self.loops._writer if self.writes else self.loops._pick(avoid)
        job = _Job()
        worker.in_flight += 1
        worker.loop.call_soon_threadsafe(
            WorkerLoops._start, worker, job, self.work, self.context, self.done, self.task_box
        )
        check = self.home.call_later(STALE_AFTER, self.take_back, worker, job, avoid)
        self.sent.append((worker, job, check))

    def take_back(self, worker: _Worker, job: _Job, avoid: frozenset[_Worker]) -> None:
        """Send the work elsewhere if ``worker``'s loop is held and has not started it."""
        if not self.writes and job.claim("taken back"):
            worker.in_flight -= 1
            self.send(avoid | {worker})

    def cancel(self) -> None:
        """The caller was cancelled: stop the work wherever it was sent."""
        stop = current_deadline()
        if stop is not None:
            stop.cancelled = True
        for worker, job, _ in self.sent:
            if job.claim("taken back"):
                worker.in_flight -= 1
        tasks = self.task_box
        for worker, _, _ in self.sent:
            worker.loop.call_soon_threadsafe(lambda: [t.cancel() for t in tasks])

    def settle(self) -> None:
        """The call ended: stop the checks and count the work as answered."""
        for worker, job, check in self.sent:
            check.cancel()  # also drops its reference to this dispatch
            if job.state == "started":
                worker.in_flight -= 1
        self.sent.clear()


class WorkerLoops:
    """Threads with an event loop each, running coroutines handed to :meth:`run`.

    Args:
        size: How many worker threads (and so how many requests compute at once).
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            msg = "at least one worker is needed"
            raise ValueError(msg)
        self._workers = [_Worker(f"graphsvc-worker-{i}") for i in range(size)]
        self._writer = _Worker("graphsvc-writer")
        self._closed = False

    @property
    def size(self) -> int:
        """How many worker threads there are."""
        return len(self._workers)

    def in_flight(self) -> int:
        """How many requests wait for an answer from the workers now."""
        return sum(w.in_flight for w in (*self._workers, self._writer))

    def running(self) -> int:
        """How many pieces of work still run in the workers (stopped ones until their check)."""
        return sum(w.running for w in (*self._workers, self._writer))

    async def run(self, work: Callable[[], Awaitable[T]], *, writes: bool = False) -> T:
        """Run ``work()`` on the least busy worker loop and return its result.

        Work that ``writes`` (ingest, runs, mutations) runs on a loop of its own:
        the store takes one write at a time anyway, and the planning of a big
        batch holds its loop for a second, which would hold up reads that share it.

        The caller's context variables are copied to the work. Cancelling the
        caller cancels the work (see the module docstring).

        Raises:
            RuntimeError: after :meth:`close`.
            BaseException: whatever ``work`` raised.
        """
        if self._closed:
            msg = "the worker loops are closed"
            raise RuntimeError(msg)
        dispatch: _Dispatch[T] = _Dispatch(self, work, writes)
        dispatch.send(frozenset())
        try:
            return await asyncio.wrap_future(dispatch.done)
        except asyncio.CancelledError:
            dispatch.cancel()
            raise
        finally:
            dispatch.settle()

    def _pick(self, avoid: frozenset[_Worker]) -> _Worker:
        """The worker with the fewest requests in flight among those whose loop turns."""
        now = time.monotonic()
        turning = [w for w in self._workers if w not in avoid and not w.stale(now)]
        return min(turning or self._workers, key=lambda w: w.in_flight)

    @staticmethod
    def _start(
        worker: _Worker,
        job: _Job,
        work: Callable[[], Awaitable[T]],
        context: contextvars.Context,
        done: Future[T],
        task_box: list[asyncio.Task[T]],
    ) -> None:
        if done.cancelled() or not job.claim("started"):
            return
        task = worker.loop.create_task(_call(work), context=context)
        task_box.append(task)
        worker.running += 1
        task.add_done_callback(lambda t: _settle(t, done, worker))

    async def aclose(self, release: Callable[[], Awaitable[None]] | None = None) -> bool:
        """Stop every worker loop and join the threads.

        Args:
            release: Run on each worker loop first (the store lets go of what it
                opened on that loop); its errors are ignored.

        Returns:
            Whether every thread ended within 10 s. One that did not is still in
            a piece of synchronous work (a long read): the store must not be
            closed under it (closing a SQLite connection under a running
            statement crashes the process).
        """
        self._closed = True
        for worker in (*self._workers, self._writer):
            if release is not None:
                finished = asyncio.run_coroutine_threadsafe(_quietly(release), worker.loop)
                await asyncio.wrap_future(finished)
            worker.loop.call_soon_threadsafe(_cancel_all_and_stop, worker.loop)
        for worker in (*self._workers, self._writer):
            await asyncio.to_thread(worker.thread.join, 10)
        return not any(w.thread.is_alive() for w in (*self._workers, self._writer))


async def _quietly(release: Callable[[], Awaitable[None]]) -> None:
    with suppress(Exception):
        await release()


async def _call(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


def _settle(task: asyncio.Task[T], done: Future[T], worker: _Worker) -> None:
    worker.running -= 1
    if done.cancelled():
        return
    if task.cancelled():
        done.cancel()
    elif (error := task.exception()) is not None:
        done.set_exception(error)
    else:
        done.set_result(task.result())


def _cancel_all_and_stop(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()
    loop.call_soon(loop.stop)
