"""The one cursor scheme of every paginated answer (GraphQL connections and REST pages).

A cursor is opaque to callers: URL-safe base64 of ``c:<position>``, where the
position is whatever the list is ordered by (an entity id, a history sequence
number, the index of an affected entity in breadth-first order). Callers pass
back the ``endCursor`` they were given; anything else is refused.
"""

from __future__ import annotations

import base64
import binascii

from graphsvc.errors import InvalidCursor

__all__ = ["MAX_POSITION", "decode_cursor", "encode_cursor"]

MAX_POSITION = 2**62
"""The largest id, sequence number or position any store or analysis hands out; a cursor
naming more (or less than zero) is refused before anything reads it."""


def encode_cursor(position: int) -> str:
    """Return the opaque cursor of a position (``0 <= position <= MAX_POSITION``)."""
    return base64.urlsafe_b64encode(f"c:{position}".encode()).decode()


def decode_cursor(cursor: str | None) -> int | None:
    """Return the position a cursor encodes (``None`` for ``None``: from the start).

    Raises:
        InvalidCursor: when the cursor was not made by :func:`encode_cursor`, or names a
            position outside ``0..MAX_POSITION``. The message quotes at most 64 characters
            of it.
    """
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not text.startswith("c:"):
            raise ValueError(text)
        position = int(text[2:])
        if not 0 <= position <= MAX_POSITION:
            raise ValueError(text)
    except (ValueError, binascii.Error, UnicodeError):
        msg = f"invalid cursor {cursor[:64]!r}: pass the endCursor of the previous page"
        raise InvalidCursor(msg) from None
    return position
