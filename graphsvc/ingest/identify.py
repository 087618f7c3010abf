"""Which entity an incoming item is: the identification rule of PRODUCT.md section 2.

Pure functions over what the store holds (no store access), so that the engine,
the relation endpoint resolution and the tests' reference model apply one rule.
An incoming entity of a kind is, in this order:

1. the entity with the same key, or whose alias that key is;
2. else the one entity of that kind holding one of the item's *strong*
   identifier values, whatever its status (a strong match revives a retired
   entity);
3. else the one ``active`` or ``stale`` entity of that kind holding one of the
   item's *weak* identifier values whose strong identifiers do not disagree
   with the item's (both have a value of one type, and the values differ);
4. else a new entity.

The first rule that gives exactly one entity decides. No identifier value
moves between entities: a value the item carries that another entity holds
(any holder for a strong type; an ``active`` or ``stale`` holder for a weak
one) stays with that entity and becomes an :class:`IdentityClash`. A weak
value held only by retired entities is free: a new host may reuse a retired
host's IP address. A value is held by at most one ``active`` or ``stale``
entity: a retired entity revived by a strong match gives up the weak values
another live entity took meanwhile (the engine applies this after the item).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from graphsvc.model.vocabulary import VOCABULARY, IdentifierStrength, Status, Vocabulary

__all__ = [
    "LIVE",
    "Holder",
    "Identification",
    "IdentityClash",
    "creation_order",
    "disagree",
    "identify",
    "resolve_endpoint",
]

LIVE = frozenset({Status.ACTIVE, Status.STALE})
"""The statuses whose holders keep a weak identifier value to themselves."""
_LIVE = LIVE


@dataclass(frozen=True, slots=True)
class Holder:
    """An entity (existing, or planned earlier in the batch) as identification sees it."""

    id: int
    status: Status
    identifiers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class IdentityClash:
    """The item carries identifier ``type`` = ``value``, which entity ``holder`` keeps."""

    type: str
    value: str
    holder: int


@dataclass(frozen=True, slots=True)
class Identification:
    """The answer for one item.

    Attributes:
        entity: The entity it is (``None``: a new entity).
        rule: Which rule decided: 1 key, 2 strong, 3 weak, 4 new.
        keep: The item's identifier values its entity may hold (type -> value).
        clashes: The values it may not hold, each with the entity that keeps it.
    """

    entity: int | None
    rule: int
    keep: Mapping[str, str] = field(default_factory=dict)
    clashes: tuple[IdentityClash, ...] = ()


def creation_order(entity_id: int) -> tuple[bool, int]:
    """Sort key putting entities in the order they were created.

    Stored ids ascend with creation; entities planned in the batch being
    planned have temporary ids -1, -2, ... and come after every stored one.
    """
    return (entity_id < 0, abs(entity_id))


def disagree(
    a: Mapping[str, str], b: Mapping[str, str], vocabulary: Vocabulary = VOCABULARY
) -> bool:
    """Whether two sets of identifiers name different things by a strong type."""
    return any(
        t in b and b[t] != v and vocabulary.identifier_strength(t) is IdentifierStrength.STRONG
        for t, v in a.items()
    )


def _strong_holders(
    identifiers: Mapping[str, str],
    holders: Mapping[tuple[str, str], Iterable[Holder]],
    vocabulary: Vocabulary,
) -> set[int]:
    return {
        h.id
        for t, v in identifiers.items()
        if vocabulary.identifier_strength(t) is IdentifierStrength.STRONG
        for h in holders.get((t, v), ())
    }


def _weak_holders(
    identifiers: Mapping[str, str],
    holders: Mapping[tuple[str, str], Iterable[Holder]],
    vocabulary: Vocabulary,
) -> set[int]:
    return {
        h.id
        for t, v in identifiers.items()
        if vocabulary.identifier_strength(t) is IdentifierStrength.WEAK
        for h in holders.get((t, v), ())
        if h.status in _LIVE and not disagree(identifiers, h.identifiers, vocabulary)
    }


def identify(
    key_match: int | None,
    identifiers: Mapping[str, str],
    holders: Mapping[tuple[str, str], Iterable[Holder]],
    vocabulary: Vocabulary = VOCABULARY,
) -> Identification:
    """Apply the rule (module docstring) to one item.

    Args:
        key_match: The entity the item's key (or alias) names, if any.
        identifiers: The item's identifiers, normalised.
        holders: For each (type, value) the item carries, the unmerged entities
            of its kind that hold it, any status (the item's own entity may be
            among them).
        vocabulary: Says which identifier types are strong.
    """
    if key_match is not None:
        entity, rule = key_match, 1
    else:
        strong = _strong_holders(identifiers, holders, vocabulary)
        weak = _weak_holders(identifiers, holders, vocabulary)
        if len(strong) == 1:
            entity, rule = next(iter(strong)), 2
        elif len(weak) == 1:
            entity, rule = next(iter(weak)), 3
        else:
            entity, rule = None, 4
    keep: dict[str, str] = {}
    clashes: list[IdentityClash] = []
    for t, v in identifiers.items():
        strong_type = vocabulary.identifier_strength(t) is IdentifierStrength.STRONG
        others = sorted(
            (
                h.id
                for h in holders.get((t, v), ())
                if h.id != entity and (strong_type or h.status in _LIVE)
            ),
            key=creation_order,
        )
        if others:
            clashes.append(IdentityClash(t, v, others[0]))
        else:
            keep[t] = v
    return Identification(entity, rule, keep, tuple(clashes))


@dataclass(frozen=True, slots=True)
class EndpointAnswer:
    """A relation endpoint given by identifiers: the entity, or the two it could be."""

    entity: int | None
    ambiguous: tuple[int, ...] = ()


def resolve_endpoint(
    identifiers: Mapping[str, str],
    holders: Mapping[tuple[str, str], Iterable[Holder]],
    vocabulary: Vocabulary = VOCABULARY,
) -> EndpointAnswer:
    """Resolve ``{kind, identifiers}`` by rules 2 and 3; two candidates at a rule is ambiguous.

    Returns the one entity (``entity``), nothing (both ``None``/empty: no
    holder), or ``ambiguous`` naming the candidates of the first rule that
    found more than one.
    """
    strong = _strong_holders(identifiers, holders, vocabulary)
    if len(strong) == 1:
        return EndpointAnswer(next(iter(strong)))
    if len(strong) > 1:
        return EndpointAnswer(None, tuple(sorted(strong)))
    weak = _weak_holders(identifiers, holders, vocabulary)
    if len(weak) == 1:
        return EndpointAnswer(next(iter(weak)))
    return EndpointAnswer(None, tuple(sorted(weak)))
