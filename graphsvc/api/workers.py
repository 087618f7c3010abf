"""Worker event loops: where requests do their work, so the server's loop never stalls.

The server's event loop accepts connections, reads requests, checks tokens and
writes answers; it must never run long (PRODUCT.md section 6: health checks and
small reads keep answering while a heavy query or a bulk load runs). Everything
that takes CPU or store time (GraphQL execution with its analyses and the
completion of its answer, REST reads, ingest) runs in :class:`WorkerLoops`: a
few threads, each running an event loop of its own, so the async store port and
the analyses run there unchanged. A request goes to the worker with the fewest
requests in flight. The GIL still lets only one thread run Python at a time,
but a thread that computes gives it up every switch interval (the server sets 1
ms), so the server's loop and the other workers keep answering.

The request's context travels with the work (its :class:`~graphsvc.deadline.Deadline`
among it). When the request is cancelled (its deadline passed, or its client
went away), the worker's task is cancelled at its next ``await`` and the shared
deadline is marked, so code that computes without awaiting stops at its next
:func:`~graphsvc.deadline.check_deadline`.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from contextlib import suppress
from typing import TypeVar

from graphsvc.deadline import current_deadline

__all__ = ["WorkerLoops"]

T = TypeVar("T")


class _Worker:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
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
        self._closed = False

    @property
    def size(self) -> int:
        """How many worker threads there are."""
        return len(self._workers)

    def in_flight(self) -> int:
        """How many requests wait for an answer from the workers now."""
        return sum(w.in_flight for w in self._workers)

    def running(self) -> int:
        """How many pieces of work still run in the workers (stopped ones until their check)."""
        return sum(w.running for w in self._workers)

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work()`` on the least busy worker loop and return its result.

        The caller's context variables are copied to the work. Cancelling the
        caller cancels the work (see the module docstring).

        Raises:
            RuntimeError: after :meth:`close`.
            BaseException: whatever ``work`` raised.
        """
        if self._closed:
            msg = "the worker loops are closed"
            raise RuntimeError(msg)
        worker = min(self._workers, key=lambda w: w.in_flight)
        context = contextvars.copy_context()
        done: Future[T] = Future()
        task_box: list[asyncio.Task[T]] = []

        def start() -> None:
            if done.cancelled():
                return
            task = worker.loop.create_task(_call(work), context=context)
            task_box.append(task)
            worker.running += 1
            task.add_done_callback(lambda t: _settle(t, done, worker))

        worker.in_flight += 1
        try:
            worker.loop.call_soon_threadsafe(start)
            return await asyncio.wrap_future(done)
        except asyncio.CancelledError:
            stop = current_deadline()
            if stop is not None:
                stop.cancelled = True
            worker.loop.call_soon_threadsafe(lambda: [t.cancel() for t in task_box])
            raise
        finally:
            worker.in_flight -= 1

    async def aclose(self, release: Callable[[], Awaitable[None]] | None = None) -> None:
        """Stop every worker loop and join the threads.

        Args:
            release: Run on each worker loop first (the store lets go of what it
                opened on that loop); its errors are ignored.
        """
        self._closed = True
        for worker in self._workers:
            if release is not None:
                finished = asyncio.run_coroutine_threadsafe(_quietly(release), worker.loop)
                await asyncio.wrap_future(finished)
            worker.loop.call_soon_threadsafe(_cancel_all_and_stop, worker.loop)
        for worker in self._workers:
            await asyncio.to_thread(worker.thread.join, 10)


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
