"""The Standard Webhooks signature (https://www.standardwebhooks.com, "Signature scheme").

A delivery carries ``webhook-id`` (the message id, the same on every attempt of
a batch: receivers dedupe on it), ``webhook-timestamp`` (seconds since the
epoch when it was sent; receivers refuse old ones against replays) and
``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256, keyed with the
secret's bytes (the base64 after ``whsec_``), of ``{id}.{timestamp}.{body}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from graphsvc.api.webhooks.sealing import SECRET_PREFIX

__all__ = ["signature", "signed_headers"]


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value for one delivery."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Return the three Standard Webhooks headers (and the content type) of a delivery."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }
