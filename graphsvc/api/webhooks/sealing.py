"""Webhook signing secrets: made by the server, shown once, kept sealed at rest.

A secret is ``whsec_`` and the base64 of 32 random bytes (the Standard Webhooks
format, which its libraries read as is). It is answered once, when its
subscription is created, and stored only **sealed**: encrypted with Fernet
(AES-128-CBC with an HMAC-SHA256 tag, from the ``cryptography`` package) under a
key the operator controls, so a copy of the store (a backup, a Neo4j dump) does
not give the secrets away without the key. The server needs the clear secret to
sign every delivery, so it cannot keep only a hash as it does for API tokens.

Where the key comes from:

* ``GRAPHSVC_WEBHOOK_KEY``: one or more Fernet keys (``Fernet.generate_key()``),
  comma separated. The first seals new secrets; every one opens, so a key is
  rotated by putting the new one first and keeping the old until every
  subscription was created again. Required on Neo4j, where processes are
  stateless and must all share the key.
* Otherwise, on the embedded store: the key file ``webhooks.key`` beside the
  data file (``GRAPHSVC_WEBHOOK_KEY_FILE``), created with mode 0600 when absent.
  A key file that others may read is refused. Back it up apart from the data:
  without it the secrets cannot be opened and subscriptions must be created again.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from graphsvc.config import Settings
from graphsvc.errors import InvalidInput, StoreCorrupted

__all__ = ["SECRET_PREFIX", "SecretSealer", "new_secret", "sealer_from_settings"]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    """Return a new signing secret, ``whsec_`` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class SecretSealer:
    """Seals and opens signing secrets with Fernet keys (see the module docstring).

    Args:
        keys: Fernet keys; the first seals, each one opens.

    Raises:
        InvalidInput: when there is no key or one is not a Fernet key.
    """

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            msg = "no webhook key given"
            raise InvalidInput(msg)
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except ValueError:
            msg = (
                "GRAPHSVC_WEBHOOK_KEY must be Fernet keys (32 url-safe base64-encoded bytes), "
                'comma separated; make one with python -c "from cryptography.fernet import '
                'Fernet; print(Fernet.generate_key().decode())"'
            )
            raise InvalidInput(msg) from None

    def seal(self, secret: str) -> str:
        """Return ``secret`` encrypted (a Fernet token, as text)."""
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """Return the secret that :meth:`seal` sealed.

        Raises:
            StoreCorrupted: when no key opens it (the key changed or was lost).
        """
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError):
            msg = (
                "no webhook key opens this subscription's secret (GRAPHSVC_WEBHOOK_KEY or the "
                "key file changed?): put the old key back, or create the subscription again"
            )
            raise StoreCorrupted(msg) from None


def _key_file(path: Path) -> bytes:
    """Read the key file, creating it (mode 0600, exclusively) when absent."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            msg = f"{path} may be read by other users (mode {oct(mode & 0o777)}): chmod 600 it"
            raise InvalidInput(msg) from None
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def sealer_from_settings(settings: Settings) -> SecretSealer:
    """Return the sealer of the configured key (see the module docstring).

    Raises:
        InvalidInput: on Neo4j without ``GRAPHSVC_WEBHOOK_KEY``, or with a bad key.
    """
    if settings.webhook_key is not None and settings.webhook_key.get_secret_value().strip():
        text = settings.webhook_key.get_secret_value()
        return SecretSealer([k.strip().encode() for k in text.split(",") if k.strip()])
    if settings.store != "embedded":
        msg = (
            "webhooks on Neo4j need GRAPHSVC_WEBHOOK_KEY (a Fernet key shared by every "
            "graphsvc process) to seal and open their signing secrets"
        )
        raise InvalidInput(msg)
    path = settings.webhook_key_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return SecretSealer([_key_file(path)])
