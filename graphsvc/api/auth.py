"""Who is calling, and whether they may: bearer tokens checked on every route.

The *auth mode* is fixed when the server starts (PRODUCT.md section 6) and
nothing that happens while it runs changes it:

* ``tokens``: every request needs ``Authorization: Bearer gsv_…``; a missing,
  unknown, revoked or expired token is answered 401, a token whose scope is too
  small 403. Revoking or expiring the last token leaves a server that refuses
  everyone, never an open one.
* ``local``: the server answers only loopback clients (``graphsvc serve`` also
  refuses to bind anything else) and treats them as ``admin``. Any other client
  gets 403 with the reason. So does a request whose ``Host`` header is not a
  loopback name (``localhost``, ``127.0.0.1``, ``[::1]``, with any port): a web
  page of another site whose DNS name was re-pointed at 127.0.0.1 (DNS
  rebinding) cannot use the local service.

``GRAPHSVC_AUTH=auto`` (the default) chooses once, at start: ``tokens`` when the
token file holds any token at all (revoked and expired ones included, so that
a server whose tokens were all revoked stays closed after a restart), ``local``
when no token was ever created.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from fastapi import HTTPException, status
from starlette.requests import HTTPConnection

from graphsvc.api.tokens import Principal, Scope, TokenStore

__all__ = ["LOCAL", "AuthMode", "Authenticator", "choose_auth_mode", "is_loopback"]

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


class AuthMode(StrEnum):
    """How callers are authenticated; fixed for the life of a server."""

    TOKENS = "tokens"
    LOCAL = "local"


def choose_auth_mode(setting: str, tokens: TokenStore) -> tuple[AuthMode, str]:
    """Return the mode for ``setting`` (``auto``, ``tokens`` or ``local``) and why.

    ``auto`` is ``tokens`` when the token file holds any token (of any state),
    ``local`` when it holds none.

    Raises:
        StoreUnavailable: when ``auto`` must read the token file and cannot.
    """
    if setting != "auto":
        return AuthMode(setting), f"GRAPHSVC_AUTH={setting}"
    held = tokens.count_all()
    if held:
        return AuthMode.TOKENS, f"GRAPHSVC_AUTH=auto and {tokens.path} holds {held} token(s)"
    return AuthMode.LOCAL, f"GRAPHSVC_AUTH=auto and no token was ever created in {tokens.path}"


@dataclass(frozen=True)
class Authenticator:
    """Turns a request into a :class:`Principal` under a fixed :class:`AuthMode`."""

    tokens: TokenStore
    mode: AuthMode

    def principal(
        self, request: HTTPConnection, needed: Scope, *, authorization: str | None = None
    ) -> Principal:
        """Return the caller of ``request`` if it may do what ``needed`` requires.

        Args:
            request: The request, or a websocket's upgrade request.
            needed: The scope the operation needs.
            authorization: The ``Authorization`` value to check instead of the
                request's header (a websocket's ``connection_init`` payload).

        Raises:
            HTTPException: 401 without a valid token, 403 when the scope is too small
                or, in local mode, when the client is not on loopback. (A websocket
                opened by a page of another origin is refused by strawberry's
                same-origin check before it gets here.)
        """
        if self.mode is AuthMode.LOCAL:
            return self._local(request)
        header = authorization or request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
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

    @staticmethod
    def _local(request: HTTPConnection) -> Principal:
        client = request.client.host if request.client else None
        if not is_loopback(client):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "this server runs in local mode (GRAPHSVC_AUTH=local, or no API token existed "
                "when it started), so only loopback clients are served; create a token with "
                "`graphsvc token create` and restart it in tokens mode",
            )
        addressed = host_name(request.headers.get("host", ""))
        if not is_loopback(addressed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this server runs in local mode, so only requests addressed to localhost "
                f"are served, not to {addressed[:64]!r}; create a token with "
                "`graphsvc token create` and restart it in tokens mode to serve other names",
            )
        return LOCAL
