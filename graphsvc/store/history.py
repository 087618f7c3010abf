"""Reading an item as it was: undoing history events (shared by both backends).

Both stores keep an item's current state and its history events (each with the
old and new value of every field it changed). An item as of a past time is its
current state with the later events undone, newest first: :func:`revert`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import JsonValue

from graphsvc.model.fields import FieldPath, FieldSection
from graphsvc.model.records import HistoryOp

__all__ = ["STATUS_CODES", "ItemState", "revert"]

STATUS_CODES: Mapping[str, int] = {"active": 0, "stale": 1, "retired": 2, "merged": 3}
"""Status names in history events -> the codes stores keep."""


@dataclass(frozen=True, slots=True)
class ItemState:
    """What an undo restores of an entity or relation."""

    attributes: dict[str, JsonValue]
    identifiers: dict[str, str]
    name: str
    status: int


def revert(state: ItemState, events: Sequence[tuple[str, str | None]]) -> ItemState | None:
    """Undo ``events`` (op and JSON changes, newest first) on an item's current ``state``.

    Returns the state before the events, or ``None`` when one of them created
    the item (it did not exist then). ``state`` is not changed.
    """
    attributes = dict(state.attributes)
    identifiers = dict(state.identifiers)
    name, status = state.name, state.status
    for op, raw in events:
        if op == HistoryOp.CREATED.value:
            return None
        changes: dict[str, list[Any]] = orjson.loads(raw) if raw else {}
        for text, (old, _new) in changes.items():
            path = FieldPath.parse(text)
            if path is None:
                continue
            if path.section is FieldSection.STATUS and isinstance(old, str):
                status = STATUS_CODES.get(old, status)
            elif path.section is FieldSection.NAME and isinstance(old, str):
                name = old
            elif path.section is FieldSection.ATTRIBUTES:
                if old is None:
                    attributes.pop(path.member, None)
                else:
                    attributes[path.member] = old
            elif path.section is FieldSection.IDENTIFIERS:
                if old is None:
                    identifiers.pop(path.member, None)
                else:
                    identifiers[path.member] = str(old)
    return ItemState(attributes, identifiers, name, status)
