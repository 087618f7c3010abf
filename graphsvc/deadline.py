"""Request deadlines, checked cooperatively by long work.

A request past its deadline must stop its work, not only its answer
(PRODUCT.md section 6). Cancelling an ``await`` cannot interrupt Python code
that computes without awaiting (a walk, path building, GraphQL completing a
large answer, possibly in a worker thread), so such code calls
:func:`check_deadline` now and then: it raises :class:`DeadlineExceeded` once
the deadline of the request it works for has passed or the request was
cancelled. Outside a request (the CLI, tests) there is no deadline and the check
costs one context-variable read.

The deadline travels in a :class:`contextvars.ContextVar`, so work handed to
another thread with a copied context (``anyio.to_thread``, the API's worker
loops) sees the same :class:`Deadline` object, and a cancellation by the
request's owner is seen by the worker at its next check.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from graphsvc.errors import DeadlineExceeded

__all__ = ["Deadline", "check_deadline", "current_deadline", "deadline"]


@dataclass(eq=False)
class Deadline:
    """When the work of one request must stop.

    Attributes:
        seconds: The time the request was given.
        at: ``time.monotonic()`` at which it runs out.
        cancelled: Set by the request's owner when it gave up (the client went away,
            or the answer was already sent as 503); the work stops at its next check.
    """

    seconds: float
    at: float = field(init=False)
    cancelled: bool = False

    def __post_init__(self) -> None:
        self.at = time.monotonic() + self.seconds

    def expired(self) -> bool:
        """Return whether the work must stop now."""
        return self.cancelled or time.monotonic() >= self.at

    def check(self) -> None:
        """Raise :class:`DeadlineExceeded` when the work must stop."""
        if self.expired():
            raise DeadlineExceeded(self.seconds)


_CURRENT: ContextVar[Deadline | None] = ContextVar("graphsvc_deadline", default=None)


def current_deadline() -> Deadline | None:
    """Return the deadline of the request this code works for, if any."""
    return _CURRENT.get()


def check_deadline() -> None:
    """Raise :class:`DeadlineExceeded` when the current request must stop (see module)."""
    found = _CURRENT.get()
    if found is not None and found.expired():
        raise DeadlineExceeded(found.seconds)


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Give the work inside the block ``seconds`` (a fresh :class:`Deadline`)."""
    made = Deadline(seconds)
    token = _CURRENT.set(made)
    try:
        yield made
    finally:
        _CURRENT.reset(token)
