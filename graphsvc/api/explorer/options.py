"""The entity page's view options: relation filters by type and the history's order.

``outType`` / ``inType`` keep only the relations of one type leaving or reaching
the entity; the type is checked against the vocabulary (a relation type, any
case, that an entity of this kind can have in that direction), and a bad one is
answered 400 naming the parameter. ``historyOrder`` is ``newest`` (the default:
the latest change first) or ``oldest``.
"""

from __future__ import annotations

from graphsvc.errors import InvalidInput
from graphsvc.model.vocabulary import VOCABULARY, Direction, EntityKind, RelationType

__all__ = ["HISTORY_ORDERS", "relation_type_option", "relation_types_of"]

HISTORY_ORDERS = ("newest", "oldest")
"""The values of ``historyOrder`` (the first is the default)."""


def relation_types_of(kind: EntityKind, direction: Direction) -> tuple[RelationType, ...]:
    """The relation types an entity of ``kind`` can have in ``direction``, by name.

    ``OUT``: types whose rules allow ``kind`` at the ``from`` end; ``IN``: at the ``to`` end.
    """
    found = []
    for spec in VOCABULARY.relation_types.values():
        for rule in spec.rules:
            ends = rule.from_kinds if direction is Direction.OUT else rule.to_kinds
            if kind in ends:
                found.append(spec.type)
                break
    return tuple(sorted(found, key=lambda t: t.value))


def relation_type_option(
    text: str | None, kind: EntityKind, direction: Direction, name: str
) -> RelationType | None:
    """The relation type the parameter ``name`` asks for (``None``: every type).

    Args:
        text: The parameter's value (``None`` or empty: no filter).
        kind: The entity's kind.
        direction: Which relations the parameter filters.
        name: The parameter's name, for the message.

    Raises:
        InvalidInput: when ``text`` is not a relation type, or not one an entity
            of ``kind`` can have in ``direction``; the message lists those it can.
    """
    if not text:
        return None
    allowed = relation_types_of(kind, direction)
    for rtype in RelationType:
        if text.lower() in (rtype.value.lower(), rtype.name.lower()):
            if rtype in allowed:
                return rtype
            break
    way = "leaving" if direction is Direction.OUT else "reaching"
    msg = (
        f"query parameter {name}: {text[:60]!r} is not a relation type {way} a {kind.value}; "
        "give one of " + (", ".join(t.value for t in allowed) or "(none)")
    )
    raise InvalidInput(msg)
