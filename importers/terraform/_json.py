"""Reading and narrowing decoded JSON for the Terraform importer.

Decoded JSON is typed as ``object`` and narrowed here; every failure becomes a
:class:`~graphsvc.errors.ParseError` that names the file and the element (a
JSONPath-like location such as ``resources[3].instances[0]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeGuard

import orjson

from graphsvc.errors import ParseError

__all__ = ["is_object", "load_json", "opt_str", "require_list", "require_object", "require_str"]

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
