"""Who is calling, and whether they may: bearer tokens checked on every route.

* When tokens exist, every request needs ``Authorization: Bearer gsv_…``; a
  missing, unknown, revoked or expired token is answered 401, a token whose
  scope is too small 403.
* When no token exists at all, the service runs in *local mode*: it serves only
  loopback clients (``graphsvc serve`` also refuses to bind anything else) and
  treats them as ``admin``. Any other client gets 403 with the reason. So does a
  request whose ``Host`` header is not a loopback name (``localhost``,
  ``127.0.0.1``, ``[::1]``, with any port): a web page of another site whose DNS
  name was re-pointed at 127.0.0.1 (DNS rebinding) cannot use the local service.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

from graphsvc.api.tokens import Principal, Scope, TokenStore

__all__ = ["LOCAL", "Authenticator", "is_loopback"]

LOCAL = Principal("local", Scope.ADMIN)
"""The caller in local mode (no tokens configured, loopback client)."""


def host_name(header: str) -> str:
    """Return the host of a ``Host`` header value, without port or IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def is_loopback(host: str | None) -> bool:
    """Return whether ``host`` is a loopback address (or the in-process test client)."""
    if host is None:
        return False
    if host in ("localhost", "testclient"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Authenticator:
    """Turns a request into a :class:`Principal` (see the module docstring)."""

    tokens: TokenStore
    _has_tokens: bool = False
    _checked_at: float = 0.0

    def has_tokens(self) -> bool:
        """Return whether any usable token exists (re-read at most once a second)."""
        now = time.monotonic()
        if now - self._checked_at > 1.0:
            self._has_tokens = self.tokens.active_count() > 0
            self._checked_at = now
        return self._has_tokens

    def principal(self, request: Request, needed: Scope) -> Principal:
        """Return the caller of ``request`` if it may do what ``needed`` requires.

        Raises:
            HTTPException: 401 without a valid token, 403 when the scope is too small
                or, in local mode, when the client is not on loopback.
        """
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if not self.has_tokens():
            client = request.client.host if request.client else None
            if not is_loopback(client):
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    "no API tokens are configured, so only loopback clients are served; "
                    "create one with `graphsvc token create`",
                )
            addressed = host_name(request.headers.get("host", ""))
            if not is_loopback(addressed):
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    f"no API tokens are configured, so only requests addressed to localhost "
                    f"are served, not to {addressed[:100]!r}; create a token with "
                    "`graphsvc token create` to serve other names",
                )
            return LOCAL
        if scheme.lower() != "bearer" or not presented.strip():
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "an API token is required: send Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = self.tokens.verify(presented.strip())
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "the API token is not valid (unknown, revoked or expired)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.allows(needed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"token {principal.name!r} has scope {principal.scope.value}; "
                f"this needs {needed.value}",
            )
        return principal
