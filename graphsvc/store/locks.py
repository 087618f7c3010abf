"""A lock for async code that may run on several event loops in several threads.

The API runs requests on worker loops (one event loop per thread), so a store's
"one write transaction at a time" cannot be an :class:`asyncio.Lock`, which
belongs to one loop. :class:`ThreadSafeAsyncLock` is a :class:`threading.Lock`
taken without blocking the caller's loop: it tries, and while another holder
has it, sleeps a little (0.5 ms, doubling up to 10 ms) and tries again. Being
cancelled while waiting leaves nothing behind.
"""

from __future__ import annotations

import threading
from types import TracebackType

import anyio

__all__ = ["ThreadSafeAsyncLock"]


class ThreadSafeAsyncLock:
    """``async with lock:`` from any event loop in any thread (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def locked(self) -> bool:
        """Return whether someone holds the lock."""
        return self._lock.locked()

    async def __aenter__(self) -> None:
        """Take the lock, waiting without blocking the event loop."""
        wait = 0.0005
        while not self._lock.acquire(blocking=False):
            await anyio.sleep(wait)
            wait = min(wait * 2, 0.01)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Release the lock."""
        self._lock.release()
