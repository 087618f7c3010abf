"""What the graph holds, as read back: entities, relations, history, runs.

These frozen records are what stores return and what analyses and the API
consume. Times are timezone-aware UTC datetimes; stores keep them as integer
microseconds since the Unix epoch (:func:`to_micros` / :func:`from_micros`), so
that every committed batch has its own strictly increasing commit time and
``asOf`` reads are exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import JsonValue

from graphsvc.model.vocabulary import EntityKind, RelationType, Status

__all__ = [
    "ConflictClosure",
    "ConflictState",
    "EntityRecord",
    "FieldChange",
    "HistoryEvent",
    "HistoryOp",
    "ItemKind",
    "Provenance",
    "RelationRecord",
    "RunRecord",
    "RunState",
    "from_micros",
    "to_micros",
]


def to_micros(moment: datetime) -> int:
    """Return ``moment`` as integer microseconds since the Unix epoch.

    Raises:
        ValueError: when ``moment`` has no time zone.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = f"a time without a time zone is refused: {moment.isoformat()}"
        raise ValueError(msg)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """Return the UTC datetime ``micros`` microseconds after the Unix epoch."""
    seconds, rest = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who last set a field, and when."""

    source: str
    at: datetime


class ItemKind(StrEnum):
    """Whether a history event or assertion is about an entity or a relation."""

    __hash__ = str.__hash__

    ENTITY = "entity"
    RELATION = "relation"


@dataclass(frozen=True, slots=True)
class EntityRecord:
    """An entity as stored.

    Attributes:
        id: The store's id; stable for the life of the entity. An entity merged
            into another answers with the survivor's id.
        kind: Its kind.
        key: Its natural key (unique within the kind).
        name: Display name.
        status: active, stale or retired.
        attributes: Free-form and well-known attributes.
        identifiers: Identifier type -> value (normalised).
        aliases: Other keys that name this entity (keys of entities merged into it).
        first_seen: When it was created.
        last_seen: When a source last asserted it.
        provenance: For ``name``, ``attributes.<a>`` and ``identifiers.<t>``: who set
            the current value and when.
    """

    id: int
    kind: EntityKind
    key: str
    name: str
    status: Status
    attributes: Mapping[str, JsonValue]
    identifiers: Mapping[str, str]
    first_seen: datetime
    last_seen: datetime
    aliases: tuple[str, ...] = ()
    provenance: Mapping[str, Provenance] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RelationRecord:
    """A relation as stored.

    Attributes:
        id: The store's id.
        type: The relation type.
        from_id: Id of the ``from`` entity.
        to_id: Id of the ``to`` entity.
        status: active, stale or retired.
        attributes: The relation's attributes.
        first_seen: When it was created.
        last_seen: When a source last asserted it.
        provenance: For ``attributes.<a>``: who set the current value and when.
    """

    id: int
    type: RelationType
    from_id: int
    to_id: int
    status: Status
    attributes: Mapping[str, JsonValue]
    first_seen: datetime
    last_seen: datetime
    provenance: Mapping[str, Provenance] = field(default_factory=dict)


class HistoryOp(StrEnum):
    """What a history event records."""

    __hash__ = str.__hash__

    CREATED = "created"
    UPDATED = "updated"
    """Name, attributes or identifiers changed; :attr:`HistoryEvent.changes` says which."""
    STATUS_CHANGED = "status_changed"
    MERGED = "merged"
    """Another entity (or an incoming key) was merged into this one."""
    MERGED_INTO = "merged_into"
    """This entity was merged into another; its key is now an alias of that one."""
    CONFLICT_DISMISSED = "conflict_dismissed"
    """An identity conflict this entity is part of was dismissed by an administrator;
    :attr:`HistoryEvent.changes` holds ``identityConflict`` (its seq) and ``reason``."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's value before and after an event (``None`` = absent)."""

    old: JsonValue
    new: JsonValue


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One entry of the append-only history.

    Attributes:
        seq: Position in the store's history (strictly increasing).
        at: Commit time of the batch that made the change.
        op: What happened.
        item: Whether it concerns an entity or a relation.
        item_id: The entity's or relation's id.
        source: The source whose batch (or run) made the change.
        actor: Who sent it (an API token's name, ``cli``), when known.
        run_id: The run, when the change came from one.
        changes: Field -> old/new value. Fields are ``name``, ``status``,
            ``attributes.<a>``, ``identifiers.<t>``, ``alias``, ``mergedInto``,
            ``merged``, ``identityConflict``, ``reason``.
    """

    seq: int
    at: datetime
    op: HistoryOp
    item: ItemKind
    item_id: int
    source: str
    actor: str
    run_id: str | None
    changes: Mapping[str, FieldChange] = field(default_factory=dict)


class ConflictState(StrEnum):
    """Where an identity conflict is: still to be looked at, or closed one way or the other."""

    __hash__ = str.__hash__

    OPEN = "open"
    DISMISSED = "dismissed"
    """An administrator judged it harmless (with a reason); it stays listed."""
    RESOLVED = "resolved"
    """An administrator merged its two entities into one."""


@dataclass(frozen=True, slots=True)
class ConflictClosure:
    """How, when and by whom an identity conflict was closed.

    Attributes:
        state: ``dismissed`` or ``resolved`` (never ``open``).
        at: Commit time of the dismissal or merge.
        actor: Who closed it (an API token's name, ``cli``).
        reason: The reason given for a dismissal; for a resolution, which merge
            resolved it (``merged Service/b into Service/a``).
    """

    state: ConflictState
    at: datetime
    actor: str
    reason: str


@dataclass(frozen=True, slots=True)
class IdentityConflict:
    """An item carried an identifier value another entity holds (PRODUCT.md 2).

    The value stayed with ``holder_id``; the item was identified as
    ``entity_id`` (by its key, another identifier, or as a new entity).

    Attributes:
        seq: Position among the store's conflicts (strictly increasing).
        at: Commit time of the batch.
        kind: The entities' kind.
        id_type: The identifier type.
        value: The identifier value (normalised).
        entity_id: The entity the item was identified as.
        holder_id: The entity that keeps the value.
        item_key: The key the item was sent with.
        source: The batch's source.
        run_id: The run the batch belonged to, if any.
        closure: How it was closed (dismissed or resolved); ``None`` while open.
    """

    seq: int
    at: datetime
    kind: EntityKind
    id_type: str
    value: str
    entity_id: int
    holder_id: int
    item_key: str
    source: str
    run_id: str | None
    closure: ConflictClosure | None = None

    @property
    def state(self) -> ConflictState:
        """``open`` until dismissed or resolved."""
        return ConflictState.OPEN if self.closure is None else self.closure.state

    def open_at(self, moment: datetime) -> bool:
        """Whether it was recorded by ``moment`` and not closed by then."""
        return self.at <= moment and (self.closure is None or self.closure.at > moment)


class RunState(StrEnum):
    """Where a run is."""

    OPEN = "open"
    COMPLETE = "complete"
    """Finished with ``complete=true``: staleness was applied."""
    INCOMPLETE = "incomplete"
    """Finished with ``complete=false`` (failed or abandoned): no staleness."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One ingest run of a source over a scope."""

    run_id: str
    source: str
    scope: str
    state: RunState
    started: datetime
    finished: datetime | None
    batches: int
