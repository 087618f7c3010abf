"""Reading and narrowing decoded JSON, shared by the JSON-based importers.

Decoded JSON is typed as ``object`` and narrowed here; every failure becomes a
:class:`~graphsvc.errors.ParseError` that names the file and the element (a
JSONPath-like location such as ``Reservations[0].Instances[2]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeGuard

import orjson

from graphsvc.errors import ParseError

__all__ = [
    "field",
    "is_object",
    "load_json",
    "objects",
    "opt_str",
    "path_field",
    "require_list",
    "require_object",
    "require_str",
    "strings",
]

_BOM = b"\xef\xbb\xbf"


def load_json(path: Path) -> object:
    """Read and decode one JSON file.

    Raises:
        ParseError: when the file cannot be read or is not valid JSON (the
            element names the line and column of the error).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    data = data.removeprefix(_BOM)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ParseError(
            str(path), f"line {exc.lineno} column {exc.colno}", f"not valid JSON: {exc.msg}"
        ) from None


def is_object(value: object) -> TypeGuard[Mapping[str, object]]:
    """Return whether ``value`` is a decoded JSON object."""
    return isinstance(value, dict)


def require_object(value: object, path: Path, element: str) -> Mapping[str, object]:
    """Return ``value`` as a JSON object.

    Raises:
        ParseError: when it is not an object.
    """
    if not is_object(value):
        raise ParseError(str(path), element, f"expected an object, got {_json_type(value)}")
    return value


def require_list(value: object, path: Path, element: str) -> Sequence[object]:
    """Return ``value`` as a JSON array.

    Raises:
        ParseError: when it is not an array.
    """
    if not isinstance(value, list):
        raise ParseError(str(path), element, f"expected an array, got {_json_type(value)}")
    return value


def require_str(obj: Mapping[str, object], key: str, path: Path, element: str) -> str:
    """Return the non-blank string ``obj[key]``.

    Raises:
        ParseError: when it is missing, not a string or blank.
    """
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        got = "nothing" if value is None else _json_type(value)
        raise ParseError(str(path), f"{element}.{key}", f"expected a non-empty string, got {got}")
    return value


def opt_str(value: object) -> str | None:
    """Return ``value`` when it is a non-blank string, else ``None``."""
    if isinstance(value, str) and value.strip():
        return value
    return None


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def field(obj: Mapping[str, object], name: str) -> object:
    """Return ``obj[name]``, matching the key case-insensitively.

    AWS CLI responses spell fields ``SubnetId``, AWS Config configuration
    items ``subnetId`` (and ``dBSubnetGroup`` for ``DBSubnetGroup``); one
    lookup serves both.
    """
    if name in obj:
        return obj[name]
    wanted = name.lower()
    for key, value in obj.items():
        if key.lower() == wanted:
            return value
    return None


def path_field(obj: Mapping[str, object], *names: str) -> object:
    """Follow ``names`` through nested objects (case-insensitively); ``None`` if absent."""
    current: object = obj
    for name in names:
        if not is_object(current):
            return None
        current = field(current, name)
    return current


def objects(value: object) -> list[Mapping[str, object]]:
    """Return the objects in ``value`` when it is an array (other entries are ignored)."""
    if not isinstance(value, list):
        return []
    return [item for item in value if is_object(item)]


def strings(value: object) -> list[str]:
    """Return the non-blank strings in ``value`` when it is an array."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str) and item.strip()]
