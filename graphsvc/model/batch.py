"""The ingest batch: the one document importers, REST and GraphQL all send (PRODUCT.md 2).

These pydantic models check the *shape* of a batch. What the vocabulary says
about it (allowed relation shapes, attribute types, identifier types, required
attributes) is checked by :func:`graphsvc.model.validation.validate_batch`, which
names every offending item at once.

A batch in JSON uses camelCase (``runId``, ``dryRun``, ``from``); Python code may
use the field names (``run_id``, ``dry_run``, ``from_``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

from graphsvc.model.vocabulary import EntityKind, RelationType, normalize_key

__all__ = [
    "MAX_KEY_LENGTH",
    "EntityItem",
    "EntityRef",
    "IngestBatch",
    "ItemStatus",
    "RelationItem",
]

MAX_KEY_LENGTH = 512
"""Longest natural key, name or identifier value accepted."""

Key = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_KEY_LENGTH), AfterValidator(normalize_key)
]
"""A natural key (or identifier value): compared and stored in Unicode NFC."""
Name = Annotated[str, StringConstraints(max_length=MAX_KEY_LENGTH)]
SourceName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/+\-]*$"),
]
ScopeName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
RunId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
IdentifierMap = dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Key]
AttributeMap = dict[Annotated[str, StringConstraints(min_length=1, max_length=128)], JsonValue]

ItemStatus = Literal["active", "retired"]
"""Status an item may carry in a batch: ``retired`` retires it explicitly;
``active`` (or nothing) asserts it."""


def _kind_in_either_spelling(value: object) -> object:
    """A kind's upper snake name (``SERVICE``, GraphQL's spelling) names it too."""
    if isinstance(value, str) and not isinstance(value, EntityKind):
        for kind in EntityKind:
            if value == kind.name:
                return kind.value
    return value


KindName = Annotated[EntityKind, BeforeValidator(_kind_in_either_spelling)]
"""An entity kind in a batch: ``Service`` or ``SERVICE`` (PRODUCT.md 4.7: either spelling)."""


class EntityRef(BaseModel):
    """A relation endpoint: ``{kind, key}`` or ``{kind, identifiers}``.

    A key names the entity (or an alias of it). Identifiers name the entity of
    that kind that holds any of them; one must exist in the store or the batch.
    Exactly one of ``key`` and ``identifiers`` must be given (checked by
    :func:`graphsvc.model.validation.validate_batch`).
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
    )

    kind: KindName
    key: Key | None = None
    identifiers: IdentifierMap | None = None

    def label(self) -> str:
        """Return ``kind/key`` or ``kind{type=value,…}`` for messages."""
        if self.key is not None:
            return f"{self.kind.value}/{self.key}"
        ids = ",".join(f"{t}={v}" for t, v in (self.identifiers or {}).items())
        return f"{self.kind.value}{{{ids}}}"


class EntityItem(BaseModel):
    """An entity as a source sees it.

    Only the attributes and identifiers sent are set; the others keep their
    values. An attribute sent as ``null`` is removed (if the source may overwrite
    it). ``name`` defaults to the key when the entity is created.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
    )

    kind: KindName
    key: Key
    name: Name | None = None
    status: ItemStatus | None = None
    identifiers: IdentifierMap = Field(default_factory=dict)
    attributes: AttributeMap = Field(default_factory=dict)

    def label(self) -> str:
        """Return ``kind/key`` for messages."""
        return f"{self.kind.value}/{self.key}"


class RelationItem(BaseModel):
    """A relation ``(type, from, to)`` as a source sees it."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
    )

    type: RelationType
    from_: EntityRef = Field(alias="from")
    to: EntityRef
    status: ItemStatus | None = None
    attributes: AttributeMap = Field(default_factory=dict)

    def label(self) -> str:
        """Return ``TYPE from -> to`` for messages."""
        return f"{self.type.value} {self.from_.label()} -> {self.to.label()}"


class IngestBatch(BaseModel):
    """One ingest batch.

    Attributes:
        source: Which tool or job sends it; attribute provenance and source
            priorities refer to this name.
        scope: The part of the world the source describes (a cluster, an
            account, a site). Staleness never crosses scopes.
        run_id: The run this batch belongs to (from ``startRun``); ``None`` for
            a batch on its own.
        complete: With no ``run_id``: this batch is a complete run of its own, so
            what the source asserted before in this scope and not here goes stale.
        dry_run: Validate and report what would change; write nothing.
        entities: Entities to create or update.
        relations: Relations to create or update.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
    )

    source: SourceName
    scope: ScopeName = "default"
    run_id: RunId | None = None
    complete: StrictBool = False
    dry_run: StrictBool = False
    entities: list[EntityItem] = Field(default_factory=list)
    relations: list[RelationItem] = Field(default_factory=list)
