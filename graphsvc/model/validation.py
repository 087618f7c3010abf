"""Checking a batch against the vocabulary, naming every offending item.

Two passes, both collecting every error rather than stopping at the first:

1. :func:`parse_batch` / :func:`parse_batch_json` check the shape with the
   pydantic models of :mod:`graphsvc.model.batch` and turn pydantic's errors into
   :class:`~graphsvc.errors.ItemError` values that name the item's index and key.
2. :func:`validate_batch` checks what the vocabulary says: the relation's shape is
   allowed, well-known attributes have their declared types, identifier types are
   well formed, and ``complete`` is not combined with ``runId``.

What needs the store (required attributes of a *new* entity, endpoints that must
exist) is checked by the ingest engine, which reports it the same way.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import orjson
from pydantic import JsonValue, ValidationError

from graphsvc.errors import BatchRejected, ItemError, PartialBatch
from graphsvc.model.batch import EntityItem, IngestBatch, RelationItem
from graphsvc.model.vocabulary import (
    VOCABULARY,
    AttributeSpec,
    AttributeType,
    EntityKind,
    Vocabulary,
    normalize_key,
)

__all__ = [
    "attribute_warnings",
    "check_attribute",
    "missing_required",
    "parse_batch",
    "parse_batch_json",
    "parse_datetime",
    "unrepresentable",
    "valid_part",
    "validate_batch",
]

_IDENTIFIER_TYPE = re.compile(r"^[a-z][A-Za-z0-9]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def parse_datetime(value: str) -> datetime | None:
    """Parse an ISO 8601 date-time that carries a time zone.

    Returns:
        The aware datetime, or ``None`` when ``value`` is not ISO 8601 or has no zone.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    return parsed


def check_attribute(spec: AttributeSpec, value: JsonValue) -> str | None:
    """Return why ``value`` does not fit ``spec``, or ``None`` when it fits.

    ``None`` values are not checked here: they mean "remove the attribute".
    """
    t = spec.type
    if t in (AttributeType.STRING, AttributeType.ENUM, AttributeType.EMAIL, AttributeType.DATETIME):
        if not isinstance(value, str):
            return f"must be a string, got {_json_type(value)}"
        if t is AttributeType.ENUM and value not in spec.choices:
            return f"must be one of {', '.join(spec.choices)}; got {value!r}"
        if t is AttributeType.EMAIL and not _EMAIL.match(value):
            return f"must be an e-mail address; got {value!r}"
        if t is AttributeType.DATETIME and parse_datetime(value) is None:
            return f"must be an ISO 8601 date-time with a time zone; got {value!r}"
        return None
    if t is AttributeType.BOOLEAN:
        return (
            None if isinstance(value, bool) else f"must be true or false, got {_json_type(value)}"
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {_json_type(value)}"
    if t is AttributeType.INTEGER and not isinstance(value, int):
        return f"must be an integer, got {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if spec.minimum is not None and value < spec.minimum:
        return f"must be at least {_num(spec.minimum)}; got {value!r}"
    if spec.maximum is not None and value > spec.maximum:
        return f"must be at most {_num(spec.maximum)}; got {value!r}"
    return None


def missing_required(
    kind: EntityKind, attributes: Mapping[str, JsonValue], vocabulary: Vocabulary = VOCABULARY
) -> list[str]:
    """Return the required attributes of ``kind`` that ``attributes`` lacks (or sets to null)."""
    return [
        name for name in vocabulary.kinds[kind].required_attributes if attributes.get(name) is None
    ]


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


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


_INT64 = (-(2**63), 2**63 - 1)


def unrepresentable(value: object) -> str | None:
    """Say why a JSON value cannot be stored as sent, or ``None`` when it can.

    NaN and Infinity are not JSON numbers (Python's JSON reader accepts them,
    and a number too large for a double, such as ``1e400``, becomes Infinity);
    integers must fit in 64 bits. Arrays and objects are checked inside.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return "is NaN or Infinity, which JSON cannot carry (too large a number becomes Infinity)"
    if isinstance(value, int):
        if _INT64[0] <= value <= _INT64[1]:
            return None
        return "is an integer beyond 64 bits"
    if isinstance(value, list):
        return next((r for r in map(unrepresentable, value) if r), None)
    if isinstance(value, Mapping):
        return next((r for r in map(unrepresentable, value.values()) if r), None)
    return None


def attribute_warnings(
    batch: IngestBatch, vocabulary: Vocabulary = VOCABULARY, limit: int | None = None
) -> list[str]:
    """One warning per attribute that is not well-known for its kind or relation type.

    Such attributes are stored (PRODUCT.md 2, "Atomic"); the warning names the
    nearest well-known attribute when one is close (``tire`` -> ``tier``).
    With ``limit``, the first ``limit`` warnings only (the search for the
    nearest name costs: a batch of 100,000 odd attributes looks for 100).
    """
    out: list[str] = []
    for index, entity in enumerate(batch.entities):
        kind = vocabulary.kinds[entity.kind]
        if limit is not None and len(out) >= limit:
            return out[:limit]
        for name in entity.attributes:
            if kind.attribute(name) is None:
                known = [a.name for a in kind.attributes]
                out.append(
                    f"entities[{index}] {entity.label()}: attributes.{name} is not a well-known "
                    f"{entity.kind.value} attribute{_nearest(name, known)}"
                )
    for index, relation in enumerate(batch.relations):
        spec = vocabulary.relation_types[relation.type]
        if limit is not None and len(out) >= limit:
            return out[:limit]
        for name in relation.attributes:
            if spec.attribute(name) is None and not _is_well_known_relation_attribute(
                name, vocabulary
            ):
                known = [a.name for a in spec.attributes]
                out.append(
                    f"relations[{index}] {relation.label()}: attributes.{name} is not a "
                    f"well-known {relation.type.value} attribute{_nearest(name, known)}"
                )
    return out if limit is None else out[:limit]


def _nearest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _check_identifiers(identifiers: Mapping[str, str]) -> list[tuple[str, str]]:
    problems = []
    for id_type, value in identifiers.items():
        if not _IDENTIFIER_TYPE.match(id_type):
            problems.append(
                (f"identifiers.{id_type}", "identifier type must match ^[a-z][A-Za-z0-9]*$")
            )
        elif not value.strip():
            problems.append((f"identifiers.{id_type}", "identifier value is blank"))
    return problems


def _entity_errors(item: EntityItem, vocabulary: Vocabulary) -> list[tuple[str, str]]:
    problems = _check_identifiers(item.identifiers)
    if not item.key.strip():
        problems.append(("key", "key is blank"))
    spec = vocabulary.kinds[item.kind]
    for name, value in item.attributes.items():
        bad = unrepresentable(value)
        if bad:
            problems.append((f"attributes.{name}", f"{name} {bad}"))
            continue
        attr = spec.attribute(name)
        if attr is None or value is None:
            if value is None and attr is not None and attr.required:
                problems.append((f"attributes.{name}", f"{name} is required for {item.kind.value}"))
            continue
        reason = check_attribute(attr, value)
        if reason:
            problems.append((f"attributes.{name}", f"{name} {reason}"))
    return problems


def _relation_errors(item: RelationItem, vocabulary: Vocabulary) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    spec = vocabulary.relation_types[item.type]
    if spec.rule_for(item.from_.kind, item.to.kind) is None:
        allowed = "; ".join(
            f"{'|'.join(sorted(k.value for k in r.from_kinds))} -> "
            f"{'|'.join(sorted(k.value for k in r.to_kinds))}"
            for r in spec.rules
        )
        problems.append(
            (
                "type",
                f"{item.type.value} cannot go from {item.from_.kind.value} to "
                f"{item.to.kind.value} (allowed: {allowed})",
            )
        )
    for end, ref in (("from", item.from_), ("to", item.to)):
        if (ref.key is None) == (not ref.identifiers):
            problems.append((end, "give either key or a non-empty identifiers map, not both"))
        for fld, reason in _check_identifiers(ref.identifiers or {}):
            problems.append((f"{end}.{fld}", reason))
    for name, value in item.attributes.items():
        bad = unrepresentable(value)
        if bad:
            problems.append((f"attributes.{name}", f"{name} {bad}"))
            continue
        attr = spec.attribute(name)
        if attr is None:
            if _is_well_known_relation_attribute(name, vocabulary):
                problems.append(
                    (f"attributes.{name}", f"{name} does not apply to {item.type.value} relations")
                )
            continue
        if value is None:
            continue
        problem = check_attribute(attr, value)
        if problem:
            problems.append((f"attributes.{name}", f"{name} {problem}"))
    return problems


def _is_well_known_relation_attribute(name: str, vocabulary: Vocabulary) -> bool:
    return any(spec.attribute(name) for spec in vocabulary.relation_types.values())


def validate_batch(batch: IngestBatch, vocabulary: Vocabulary = VOCABULARY) -> list[ItemError]:
    """Check ``batch`` against the vocabulary and return every problem found.

    Returns:
        One :class:`ItemError` per problem; an empty list when the batch is valid
        as far as it can be checked without the store.
    """
    errors: list[ItemError] = []
    if batch.complete and batch.run_id is not None:
        errors.append(
            ItemError(
                "batch",
                None,
                "",
                "complete",
                "complete applies to a batch without runId; "
                "finish a run with finishRun(complete=true)",
            )
        )
    for index, entity in enumerate(batch.entities):
        for fld, reason in _entity_errors(entity, vocabulary):
            errors.append(ItemError("entities", index, entity.label(), fld, reason))
    for index, relation in enumerate(batch.relations):
        for fld, reason in _relation_errors(relation, vocabulary):
            errors.append(ItemError("relations", index, relation.label(), fld, reason))
    return errors


def _raw_label(section: str, raw: object) -> str:
    """Best-effort label of a raw item that failed shape validation."""
    if not isinstance(raw, Mapping):
        return ""
    if section == "entities":
        return f"{raw.get('kind', '?')}/{raw.get('key', '?')}"

    def end(ref: object) -> str:
        if isinstance(ref, Mapping):
            return f"{ref.get('kind', '?')}/{ref.get('key', '?')}"
        return "?"

    return f"{raw.get('type', '?')} {end(raw.get('from'))} -> {end(raw.get('to'))}"


def _item_errors(exc: ValidationError, raw: object) -> list[ItemError]:
    errors: list[ItemError] = []
    sections = raw if isinstance(raw, Mapping) else {}
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        message = err["msg"]
        if len(loc) >= 2 and loc[0] in ("entities", "relations") and isinstance(loc[1], int):
            section, index = str(loc[0]), loc[1]
            items = sections.get(section)
            raw_item = items[index] if isinstance(items, Sequence) and index < len(items) else None
            fld = ".".join(str(p) for p in loc[2:])
            errors.append(ItemError(section, index, _raw_label(section, raw_item), fld, message))
        else:
            fld = ".".join(str(p) for p in loc)
            errors.append(ItemError("batch", None, "", fld, message))
    return errors


def _error_order(error: ItemError) -> tuple[int, int]:
    section = {"batch": 0, "entities": 1, "relations": 2}.get(error.section, 3)
    return section, -1 if error.index is None else error.index


def _errors_of_well_formed_items(
    raw: object, shape_errors: list[ItemError], vocabulary: Vocabulary
) -> tuple[list[ItemError], PartialBatch | None]:
    """Check the items whose shape was fine when another item's was not.

    Keeps the promise that one rejection names every offending item. Returns
    their vocabulary errors and, when the header is fine, the batch of the
    items without any error, for the engine to check against the store.
    """
    if not isinstance(raw, Mapping):
        return [], None
    bad = {(e.section, e.index) for e in shape_errors}
    errors: list[ItemError] = []
    good: dict[str, list[tuple[int, object]]] = {"entities": [], "relations": []}
    checks: tuple[tuple[str, type[EntityItem] | type[RelationItem]], ...] = (
        ("entities", EntityItem),
        ("relations", RelationItem),
    )
    for section, model in checks:
        items = raw.get(section)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if (section, index) in bad:
                continue
            try:
                parsed = model.model_validate(item)
            except ValidationError:  # pragma: no cover - reported by the batch pass
                continue
            if isinstance(parsed, EntityItem):
                problems = _entity_errors(parsed, vocabulary)
            else:
                problems = _relation_errors(parsed, vocabulary)
            errors.extend(ItemError(section, index, parsed.label(), f, r) for f, r in problems)
            if not problems:
                good[section].append((index, item))
    if any(e.section == "batch" for e in shape_errors):
        return errors, None
    header = {k: v for k, v in raw.items() if k not in ("entities", "relations")}
    try:
        rest = IngestBatch.model_validate(
            {
                **header,
                "entities": [item for _, item in good["entities"]],
                "relations": [item for _, item in good["relations"]],
            }
        )
    except ValidationError:
        return errors, None
    kept = {i for i, _ in good["entities"]}
    sent = raw.get("entities")
    left_out = frozenset(
        (str(item.get("kind")), normalize_key(str(item.get("key"))))
        for i, item in enumerate(sent if isinstance(sent, list) else [])
        if i not in kept and isinstance(item, Mapping)
    )
    partial = PartialBatch(
        rest,
        tuple(i for i, _ in good["entities"]),
        tuple(i for i, _ in good["relations"]),
        left_out,
    )
    return errors, partial


def parse_batch(
    raw: object, *, origin: str = "", vocabulary: Vocabulary = VOCABULARY
) -> IngestBatch:
    """Turn a decoded JSON document into a checked :class:`IngestBatch`.

    Args:
        raw: The decoded document (a dict for a valid batch).
        origin: Where it came from (a file name, ``request body``), for messages.
        vocabulary: The vocabulary to check against.

    Raises:
        BatchRejected: naming every offending item, when the shape or the
            vocabulary is violated.
    """
    try:
        batch = IngestBatch.model_validate(raw)
    except ValidationError as exc:
        errors = _item_errors(exc, raw)
        more, rest = _errors_of_well_formed_items(raw, errors, vocabulary)
        errors.extend(more)
        errors.sort(key=_error_order)
        raise BatchRejected(errors, origin=origin, rest=rest) from None
    errors = validate_batch(batch, vocabulary)
    if errors:
        raise BatchRejected(errors, origin=origin, rest=valid_part(batch, errors))
    return batch


def valid_part(batch: IngestBatch, errors: Sequence[ItemError]) -> PartialBatch | None:
    """The items of ``batch`` no error names, for the store checks (``None``: a header error)."""
    if any(e.section == "batch" for e in errors):
        return None
    bad_entities = {e.index for e in errors if e.section == "entities"}
    bad_relations = {e.index for e in errors if e.section == "relations"}
    entities = tuple(i for i in range(len(batch.entities)) if i not in bad_entities)
    relations = tuple(i for i in range(len(batch.relations)) if i not in bad_relations)
    rest = batch.model_copy(
        update={
            "entities": [batch.entities[i] for i in entities],
            "relations": [batch.relations[i] for i in relations],
        }
    )
    left_out = frozenset(
        (batch.entities[i].kind.value, batch.entities[i].key) for i in bad_entities if i is not None
    )
    return PartialBatch(rest, entities, relations, left_out)


def parse_batch_json(
    data: bytes | str, *, origin: str = "", vocabulary: Vocabulary = VOCABULARY
) -> IngestBatch:
    """Parse and check one JSON batch document.

    Raises:
        BatchRejected: when the text is not JSON, or as :func:`parse_batch`.
    """
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BatchRejected(
            [ItemError("batch", None, "", "", f"not valid JSON: {exc}")], origin=origin
        ) from None
    return parse_batch(raw, origin=origin, vocabulary=vocabulary)
