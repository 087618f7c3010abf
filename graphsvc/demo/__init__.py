"""The demo graph: a regional hospital group after a merger (``graphsvc demo``).

The graph lives in ``hospital-group.yaml`` next to this module, as a list of
ingest batches (PRODUCT.md section 2) under a top-level ``batches:`` key. Its
comments describe the story and list what each query should find in it.

Times in the demo are relative to the day it is loaded, so that its changes
and windows always lie in the near future. Any attribute value, of an entity
or a relation and also nested inside lists and objects, that is exactly a
string of the form::

    "@" ("+" | "-") DAYS "d" [" " HH ":" MM]

is replaced by that instant in UTC, written ISO 8601 with ``+00:00``. For
example, with today = 2025-03-10:

* ``"@+3d 22:00"`` -> ``"2025-03-13T22:00:00+00:00"``
* ``"@-10d"`` -> ``"2025-02-28T00:00:00+00:00"`` (no time means 00:00)
* ``"@+0d 09:30"`` -> ``"2025-03-10T09:30:00+00:00"``

Other strings, keys, names and identifiers are left as they are.
"""

from __future__ import annotations

import datetime
import re
from importlib.resources import files

import yaml

from graphsvc.errors import BatchRejected, ItemError
from graphsvc.model.batch import IngestBatch
from graphsvc.model.validation import parse_batch

__all__ = ["DEMO_FILE", "demo_batches", "resolve_time"]

DEMO_FILE = "hospital-group.yaml"
"""Name of the demo graph inside the package."""

_RELATIVE = re.compile(r"@(?P<days>[+-]\d{1,5})d(?: (?P<hh>\d{2}):(?P<mm>\d{2}))?")


def resolve_time(value: str, today: datetime.date) -> str | None:
    """Resolve one relative time of the demo notation.

    Args:
        value: A string such as ``"@+3d 22:00"`` or ``"@-10d"``.
        today: The day the offsets count from.

    Returns:
        The instant as ISO 8601 with ``+00:00``, or ``None`` when ``value`` is
        not in the notation.

    Raises:
        ValueError: when ``value`` is in the notation but names no valid time
            (``"@+1d 25:00"``).
    """
    match = _RELATIVE.fullmatch(value)
    if match is None:
        return None
    day = today + datetime.timedelta(days=int(match["days"]))
    time = datetime.time(int(match["hh"] or 0), int(match["mm"] or 0))
    return datetime.datetime.combine(day, time, tzinfo=datetime.UTC).isoformat()


def _resolve(value: object, today: datetime.date) -> object:
    """Return ``value`` with every string in the notation resolved, recursively."""
    if isinstance(value, str):
        resolved = resolve_time(value, today)
        return value if resolved is None else resolved
    if isinstance(value, list):
        return [_resolve(item, today) for item in value]
    if isinstance(value, dict):
        return {name: _resolve(item, today) for name, item in value.items()}
    return value


def _resolve_items(raw: object, today: datetime.date) -> object:
    """Return a batch document whose item attributes have their times resolved.

    Anything that is not shaped like a batch is returned unchanged, for
    :func:`parse_batch` to reject with a proper message.
    """
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    for section in ("entities", "relations"):
        items = raw.get(section)
        if not isinstance(items, list):
            continue
        out[section] = [
            {**item, "attributes": _resolve(item["attributes"], today)}
            if isinstance(item, dict) and isinstance(item.get("attributes"), dict)
            else item
            for item in items
        ]
    return out


def _reject(origin: str, reason: str) -> BatchRejected:
    return BatchRejected([ItemError("batch", None, "", "", reason)], origin=origin)


def demo_batches(today: datetime.date) -> list[IngestBatch]:
    """Read the demo graph and return its batches, ready for the ingest engine.

    Load them in order: a batch names only entities created by itself or by an
    earlier batch.

    Args:
        today: The day relative times (``"@+3d 22:00"``) count from.

    Returns:
        The validated batches, in file order.

    Raises:
        BatchRejected: when the file is not a mapping with a ``batches`` list,
            when a relative time is invalid, or when a batch does not validate
            (origin ``hospital-group.yaml batch N``, N counting from 1).
    """
    text = files("graphsvc.demo").joinpath(DEMO_FILE).read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    raws = document.get("batches") if isinstance(document, dict) else None
    if not isinstance(raws, list):
        raise _reject(DEMO_FILE, "expected a mapping with a `batches` list")
    batches: list[IngestBatch] = []
    for number, raw in enumerate(raws, start=1):
        origin = f"{DEMO_FILE} batch {number}"
        try:
            resolved = _resolve_items(raw, today)
        except ValueError as exc:
            raise _reject(origin, f"bad relative time: {exc}") from None
        batches.append(parse_batch(resolved, origin=origin))
    return batches
