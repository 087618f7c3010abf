"""Explorer sessions: a read token exchanged for a cookie, and the CSRF token of each form.

In ``tokens`` mode a person signs in once with an API token (scope ``read`` or
more); the server checks it and answers a random session id in a cookie
(``HttpOnly``, ``SameSite=Strict``, ``Secure`` when the request came over
HTTPS, ``Path`` the app's root). The token itself never goes back to the
browser. Every page request looks the session up and *verifies its token
again*, so a revoked or expired token ends its sessions at once.

Sessions live in the server's memory (:class:`SessionBook`): a restart signs
everyone out, nothing about a session is written to disk, and a replica keeps
its own. A session ends after :data:`IDLE_SECONDS` without use, at sign-out, or
when :data:`MOST_SESSIONS` newer ones push it out (oldest use first).

CSRF: every ``POST`` form carries a token the server checks against the
session's own (after sign-in) or against a pre-session cookie set with the
sign-in form (double submit, for the sign-in form itself). Cookies are
``SameSite=Strict``, so a page of another site never sends them anyway; the
token is the second line. Forms that only read (search) use ``GET`` and change
nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CSRF_COOKIE",
    "IDLE_SECONDS",
    "MOST_SESSIONS",
    "SESSION_COOKIE",
    "Session",
    "SessionBook",
    "same_secret",
]

SESSION_COOKIE = "gsv_session"
"""The cookie that holds a session id."""

CSRF_COOKIE = "gsv_csrf"
"""The pre-session cookie the sign-in form's CSRF token is checked against."""

IDLE_SECONDS = 8 * 3600.0
"""A session unused this long is forgotten."""

MOST_SESSIONS = 10_000
"""Sessions kept at most; beyond, the least recently used is forgotten."""


def same_secret(a: str, b: str) -> bool:
    """Whether two secrets are equal, compared in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True, slots=True)
class Session:
    """One signed-in browser.

    Attributes:
        token: The API token it signed in with (checked again on every request).
        csrf: The CSRF token every form of this session carries.
    """

    token: str
    csrf: str


class SessionBook:
    """The open sessions, by the SHA-256 of their id (thread-safe).

    Args:
        idle_seconds: How long an unused session lives.
        most: How many sessions are kept at most.
        clock: Monotonic seconds (tests inject one).
    """

    def __init__(
        self,
        *,
        idle_seconds: float = IDLE_SECONDS,
        most: int = MOST_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._idle = idle_seconds
        self._most = most
        self._clock = clock
        self._lock = threading.Lock()
        self._open: OrderedDict[bytes, tuple[Session, float]] = OrderedDict()

    @staticmethod
    def _digest(session_id: str) -> bytes:
        return hashlib.sha256(session_id.encode("utf-8", "replace")).digest()

    def open(self, token: str) -> tuple[str, Session]:
        """Open a session for ``token`` (already verified); return its id and the session."""
        session_id = secrets.token_urlsafe(32)
        session = Session(token=token, csrf=secrets.token_urlsafe(32))
        with self._lock:
            self._open[self._digest(session_id)] = (session, self._clock())
            while len(self._open) > self._most:
                self._open.popitem(last=False)
        return session_id, session

    def find(self, session_id: str | None) -> Session | None:
        """Return the session of ``session_id`` if it is open and fresh (its use is recorded)."""
        if not session_id or len(session_id) > 100:
            return None
        digest = self._digest(session_id)
        now = self._clock()
        with self._lock:
            found = self._open.get(digest)
            if found is None:
                return None
            session, used = found
            if now - used > self._idle:
                del self._open[digest]
                return None
            self._open[digest] = (session, now)
            self._open.move_to_end(digest)
            return session

    def close(self, session_id: str | None) -> None:
        """Forget a session (sign-out); an unknown id is ignored."""
        if session_id:
            with self._lock:
                self._open.pop(self._digest(session_id), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)
