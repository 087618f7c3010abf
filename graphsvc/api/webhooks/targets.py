"""Which URLs may receive webhook deliveries, checked at creation and before every delivery.

A webhook makes the server send requests to a URL an admin chose; without
limits that is a way into the server's own network (server-side request
forgery). So, unless ``GRAPHSVC_WEBHOOK_ALLOW_PRIVATE`` is set:

* only ``http`` and ``https`` URLs with a host name, no user or password in them
  (the URL is shown in lists; receivers authenticate graphsvc by the signature);
* the host is resolved and **every** address it resolves to must be public:
  private, loopback, link-local, multicast, reserved, unspecified, shared
  (carrier-grade NAT) and site-local addresses are refused, IPv4-mapped IPv6
  addresses judged as the IPv4 address they carry;
* the check runs again before each delivery, and the delivery connects to the
  address that was checked (:class:`PinnedTarget`: the URL's host is replaced by
  that address, the ``Host`` header and TLS name stay the host's), so a DNS
  answer that changes between the check and the connection (DNS rebinding)
  cannot steer it elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from graphsvc.errors import InvalidInput

__all__ = ["MAX_URL_LENGTH", "PinnedTarget", "TargetRefused", "check_url", "pin_target"]

MAX_URL_LENGTH = 2048
RESOLVE_SECONDS = 5.0
"""Longest a host name may take to resolve."""
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class TargetRefused(InvalidInput):
    """A webhook URL that may not receive deliveries; the message says why."""


@dataclass(frozen=True, slots=True)
class PinnedTarget:
    """Where one delivery goes: the URL with the checked address in place of the host.

    Attributes:
        url: The URL to connect to (host replaced by the checked address).
        host: The ``Host`` header (the URL's host and port as written).
        server_name: The name TLS verifies and sends (SNI); ``None`` for plain HTTP.
    """

    url: str
    host: str
    server_name: str | None


def check_url(url: str) -> SplitResult:
    """Check the form of a webhook URL and return its parts.

    Raises:
        TargetRefused: naming what is wrong.
    """
    if len(url) > MAX_URL_LENGTH:
        msg = f"the URL has {len(url)} characters; at most {MAX_URL_LENGTH}"
        raise TargetRefused(msg)
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        msg = "the URL holds spaces or control characters"
        raise TargetRefused(msg)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        msg = f"not a URL: {exc}"
        raise TargetRefused(msg) from None
    if parts.scheme not in ("http", "https"):
        msg = f"only http and https URLs receive webhooks, not {parts.scheme or 'no scheme'!r}"
        raise TargetRefused(msg)
    if not parts.hostname:
        msg = "the URL names no host"
        raise TargetRefused(msg)
    if parts.username is not None or parts.password is not None:
        msg = (
            "a URL with a user or password is refused (it would be shown in lists); "
            "receivers authenticate graphsvc by the webhook signature"
        )
        raise TargetRefused(msg)
    if port == 0:
        msg = "port 0 is not a port a receiver listens on"
        raise TargetRefused(msg)
    return parts


def _refusal(address: _IP) -> str | None:
    """Why ``address`` may not receive webhooks (``None``: it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("shared (carrier-grade NAT)", address in _SHARED),
        (
            "site-local",
            isinstance(address, ipaddress.IPv6Address) and address.is_site_local,
        ),
        ("not global", not address.is_global),
    )
    for name, refused in checks:
        if refused:
            return name
    return None


async def _addresses(host: str, port: int) -> list[_IP]:
    """Every address ``host`` resolves to (an address literal: itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        msg = f"the host {host!r} cannot be resolved ({exc})"
        raise TargetRefused(msg) from None
    except TimeoutError:
        msg = f"the host {host!r} was not resolved within {RESOLVE_SECONDS:g} s"
        raise TargetRefused(msg) from None
    found: list[_IP] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        msg = f"the host {host!r} resolves to no address"
        raise TargetRefused(msg)
    return found


async def pin_target(url: str, *, allow_private: bool) -> PinnedTarget:
    """Check ``url`` (form, then every address its host resolves to) and pin one address.

    Args:
        url: The webhook URL.
        allow_private: Accept non-public addresses (``GRAPHSVC_WEBHOOK_ALLOW_PRIVATE``).

    Raises:
        TargetRefused: naming the reason (and the address refused).
    """
    parts = check_url(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await _addresses(host, port)
    if not allow_private:
        for address in addresses:
            why = _refusal(address)
            if why is not None:
                msg = (
                    f"the host {host!r} resolves to {address}, a {why} address: webhooks go "
                    "to public addresses only (GRAPHSVC_WEBHOOK_ALLOW_PRIVATE=true allows others)"
                )
                raise TargetRefused(msg)
    chosen = addresses[0]
    literal = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return PinnedTarget(pinned, host_header, host if parts.scheme == "https" else None)
