"""Pure conversions between port values and what the Neo4j store keeps.

No driver here: item codes, JSON texts, the replay of status and redundancy
group logs for ``as_of`` reads, undoing history events, the attribute mirror
of indexed attributes, and the JSON equality of entity filters. Each function
reproduces what the embedded store does, so both backends answer alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import JsonValue

from graphsvc.model.records import ItemKind, Provenance, from_micros
from graphsvc.model.vocabulary import VOCABULARY, Vocabulary
from graphsvc.store.neo4j.cypher import attr_property

__all__ = [
    "decode",
    "dumps",
    "encode",
    "group_at",
    "indexed_mirror",
    "json_equal",
    "load_provenance",
    "provenance_json",
    "status_at",
]

"""Status codes by the names history events use."""

_INT64 = (-(2**63), 2**63 - 1)


def dumps(value: object) -> str:
    """Return compact JSON text (the form kept in node properties)."""
    return orjson.dumps(value).decode()


def encode(item: ItemKind, item_id: int) -> int:
    """Return the one-integer form of an item: ``id * 2`` (entity), ``id * 2 + 1`` (relation)."""
    return item_id * 2 + (1 if item is ItemKind.RELATION else 0)


def decode(code: int) -> tuple[ItemKind, int]:
    """Return (item kind, id) of an item code."""
    return (ItemKind.RELATION if code & 1 else ItemKind.ENTITY), code >> 1


def provenance_json(provenance: Mapping[str, tuple[str, int]]) -> str:
    """Return the stored form of provenance: field -> ``[source, micros]``."""
    return dumps({k: [source, at] for k, (source, at) in provenance.items()})


def load_provenance(raw: str | None, as_of: int | None = None) -> dict[str, Provenance]:
    """Return stored provenance as records (with ``as_of``: only what was set by then)."""
    out: dict[str, Provenance] = {}
    for fld, (source, at) in (orjson.loads(raw) if raw else {}).items():
        if as_of is None or at <= as_of:
            out[fld] = Provenance(str(source), from_micros(int(at)))
    return out


def load_provenance_pairs(raw: str | None) -> dict[str, tuple[str, int]]:
    """Return stored provenance as the ingest engine's ``(source, micros)`` pairs."""
    return {k: (str(s), int(at)) for k, (s, at) in (orjson.loads(raw) if raw else {}).items()}


def indexed_mirror(
    attributes: Mapping[str, JsonValue], vocabulary: Vocabulary = VOCABULARY
) -> dict[str, Any]:
    """Return ``attr_<a>`` -> value for every indexed attribute (``None`` removes it).

    Only JSON scalars (strings, numbers that fit 64 bits, booleans) are
    mirrored; anything else stays in the JSON only.
    """
    out: dict[str, Any] = {}
    for attribute in vocabulary.indexed_attributes:
        value = attributes.get(attribute)
        if isinstance(value, int) and not isinstance(value, bool):
            ok = _INT64[0] <= value <= _INT64[1]
            out[attr_property(attribute)] = value if ok else None
        elif isinstance(value, str | float | bool):
            out[attr_property(attribute)] = value
        else:
            out[attr_property(attribute)] = None
    return out


def mirrorable(value: JsonValue) -> bool:
    """Return whether Cypher can compare ``value`` with an ``attr_<a>`` mirror."""
    if isinstance(value, bool | str | float):
        return True
    return isinstance(value, int) and _INT64[0] <= value <= _INT64[1]


def json_equal(stored: Mapping[str, JsonValue], attribute: str, wanted: JsonValue) -> bool:
    """Return whether ``stored[attribute]`` equals ``wanted`` as the embedded store compares.

    Objects and arrays compare by their JSON text; ``None`` matches a stored
    JSON ``null`` (not a missing attribute); booleans match booleans only;
    numbers compare by value (a stored boolean counts as 0 or 1, as SQLite's
    ``json_extract`` has it); strings compare exactly.
    """
    if attribute not in stored:
        return False
    value = stored[attribute]
    if isinstance(wanted, dict | list):
        return isinstance(value, dict | list) and dumps(value) == dumps(wanted)
    if wanted is None:
        return value is None
    if isinstance(wanted, bool):
        return isinstance(value, bool) and value is wanted
    if isinstance(wanted, int | float):
        return isinstance(value, int | float) and value == wanted
    return isinstance(value, str) and value == wanted


def status_at(
    current: int, s_at: Sequence[int] | None, s_old: Sequence[int] | None, as_of: int | None
) -> int:
    """Return the status an item had at ``as_of`` (``None``: now).

    The log lists, oldest first, when the item left which status; the first
    entry after ``as_of`` holds the status it had then.
    """
    if as_of is None or not s_at or not s_old:
        return current
    for at, old in zip(s_at, s_old, strict=False):
        if at > as_of:
            return int(old)
    return current


def group_at(
    current: str | None,
    g_at: Sequence[int] | None,
    g_old: Sequence[str] | None,
    as_of: int | None,
) -> str | None:
    """Return the redundancy group a relation had at ``as_of`` (``None``: now).

    ``g_old`` holds the earlier groups as JSON texts (``null`` for none).
    """
    if as_of is None or not g_at or not g_old:
        return current
    for at, old in zip(g_at, g_old, strict=False):
        if at > as_of:
            value = orjson.loads(old)
            return value if isinstance(value, str) else None
    return current
