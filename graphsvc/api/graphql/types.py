"""GraphQL types, derived from the vocabulary.

``Entity`` is the interface every entity type implements (Relay ``Node``); one
object type per entity kind is generated from :data:`VOCABULARY`, with a typed
field for each of the kind's well-known attributes beside the full
``attributes`` JSON. Relations, history and entity lists are cursor
connections (forward pagination: ``first``/``after``; cursors are opaque).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Optional, cast

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.types.enum import StrawberryEnumDefinition

from graphsvc.api.graphql.context import GraphContext, RelationsKey
from graphsvc.errors import InvalidCursor
from graphsvc.model import cursor as model_cursor
from graphsvc.model.cursor import MAX_POSITION, encode_cursor
from graphsvc.model.records import (
    ConflictState,
    EntityRecord,
    HistoryEvent,
    IdentityConflict,
    ItemKind,
    RelationRecord,
)
from graphsvc.model.vocabulary import (
    VOCABULARY,
    AttributeType,
    Direction,
    EntityKind,
    RelationType,
    Status,
)
from graphsvc.store.base import ItemRef

__all__ = [
    "CONFLICT_TYPE_NAME",
    "ENTITY_TYPES",
    "MAX_POSITION",
    "ConflictStateEnum",
    "EntityConnection",
    "EntityInterface",
    "EntityKindEnum",
    "HistoryConnection",
    "IdentityConflictConnection",
    "IdentityConflictEdge",
    "IdentityConflictType",
    "PageInfo",
    "RelationConnection",
    "RelationNode",
    "RelationTypeEnum",
    "StatusEnum",
    "decode_cursor",
    "encode_cursor",
    "entity_number",
    "entity_object",
    "global_id_parts",
    "page_size",
]

EntityKindEnum = strawberry.enum(
    EntityKind,
    name="EntityKind",
    description=(
        "The kinds of entity. Answers spell them SERVICE; arguments also take the spelling of "
        "REST and ingest batches (Service, ConfigurationItem)."
    ),
)


def _accept_both_kind_spellings() -> None:
    """Add each kind's REST spelling (``ConfigurationItem``) as a deprecated enum alias.

    An argument may name a kind either way; answers say ``CONFIGURATION_ITEM``,
    because strawberry serialises a value under the first name that has it.
    """
    definition: StrawberryEnumDefinition = EntityKindEnum.__strawberry_definition__  # type: ignore[attr-defined]
    primary = list(definition.values)
    definition.values = primary + [
        dataclasses.replace(
            value,
            name=value.value,
            description=f"The same as {value.name}.",
            deprecation_reason=f"Spell it {value.name}, as answers do (both are accepted).",
        )
        for value in primary
        if value.name != value.value
    ]


_accept_both_kind_spellings()
RelationTypeEnum = strawberry.enum(
    RelationType, name="RelationType", description="The relation types."
)
StatusEnum = strawberry.enum(Status, name="EntityStatus", description="active, stale or retired.")
DirectionEnum = strawberry.enum(
    Direction, name="Direction", description="OUT: from -> to; IN: to -> from."
)


def entity_number(global_id: str, *, what: str = "the global id of an entity") -> int:
    """Return the entity number of a Relay global id naming an entity kind.

    Raises:
        GraphQLError: (``BAD_ID``) when the id is not base64 of ``<Kind>:<number>``, names a
            relation, or its number is outside ``1..MAX_POSITION``.
    """
    type_name, number = global_id_parts(global_id, what=what)
    try:
        EntityKind(type_name)
    except ValueError:
        raise _bad_id(global_id, what) from None
    return number


def global_id_parts(
    global_id: str, *, what: str = "a global id of this service"
) -> tuple[str, int]:
    """Return the type name and number of a Relay global id.

    Raises:
        GraphQLError: (``BAD_ID``) when the id is malformed or its number is outside
            ``1..MAX_POSITION``.
    """
    try:
        parsed = relay.GlobalID.from_id(global_id)
        number = int(parsed.node_id)
    except (ValueError, TypeError):
        raise _bad_id(global_id, what) from None
    if not 1 <= number <= MAX_POSITION:
        raise _bad_id(global_id, what)
    return parsed.type_name, number


def _bad_id(global_id: str, what: str) -> GraphQLError:
    return GraphQLError(
        f"{global_id[:64]!r} is not {what}: take the id field of an entity (for example "
        '`entity(kind: SERVICE, key: "billing") { id }`)',
        extensions={"code": "BAD_ID"},
    )


def decode_cursor(cursor: str | None) -> int | None:
    """Return the position a cursor encodes (:func:`graphsvc.model.cursor.decode_cursor`).

    Raises:
        GraphQLError: (``BAD_CURSOR``) when the cursor was not made by this service.
    """
    try:
        return model_cursor.decode_cursor(cursor)
    except InvalidCursor as exc:
        raise GraphQLError(str(exc), extensions={"code": "BAD_CURSOR"}) from None


def page_size(info: Info[GraphContext, None], first: int | None) -> int:
    """Return the page size to use, refusing one above the configured maximum.

    Raises:
        GraphQLError: when ``first`` is negative or above ``GRAPHSVC_PAGE_SIZE_MAX``.
    """
    settings = info.context.settings
    if first is None:
        return settings.page_size_default
    if first < 0:
        msg = "first must not be negative"
        raise GraphQLError(msg, extensions={"code": "PAGE_SIZE"})
    if first > settings.page_size_max:
        msg = f"first is {first}; the largest page is {settings.page_size_max}"
        raise GraphQLError(msg, extensions={"code": "PAGE_SIZE"})
    return first


@strawberry.type(description="Relay page information (forward pagination).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="Who set a field's current value, and when.")
class FieldProvenance:
    field: str
    source: str
    at: datetime


@strawberry.type(description="One field's value before and after a change.")
class FieldChangeType:
    field: str
    old: JSON | None
    new: JSON | None


@strawberry.type(name="HistoryEvent", description="One entry of the append-only history.")
class HistoryEventType:
    seq: int
    at: datetime
    op: str
    item: str
    item_id: int
    source: str
    actor: str
    run_id: str | None
    changes: list[FieldChangeType]

    @classmethod
    def of(cls, event: HistoryEvent) -> HistoryEventType:
        return cls(
            seq=event.seq,
            at=event.at,
            op=event.op.value,
            item=event.item.value,
            item_id=event.item_id,
            source=event.source,
            actor=event.actor,
            run_id=event.run_id,
            changes=[
                FieldChangeType(field=k, old=cast("JSON", v.old), new=cast("JSON", v.new))
                for k, v in event.changes.items()
            ],
        )


@strawberry.type
class HistoryEdge:
    cursor: str
    node: HistoryEventType


@strawberry.type(description="A page of history events, oldest first.")
class HistoryConnection:
    edges: list[HistoryEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Every event, not only this page.")


@strawberry.interface(name="Entity", description="What every entity type has.")
class EntityInterface(relay.Node):
    id: relay.NodeID[int]
    record: strawberry.Private[EntityRecord]

    @strawberry.field(description="The entity's kind.")
    def kind(self) -> EntityKindEnum:  # type: ignore[valid-type]
        return self.record.kind

    @strawberry.field(description="Natural key, unique within the kind.")
    def key(self) -> str:
        return self.record.key

    @strawberry.field
    def name(self) -> str:
        return self.record.name

    @strawberry.field
    def status(self) -> StatusEnum:  # type: ignore[valid-type]
        return self.record.status

    @strawberry.field(description="Every attribute, well-known or not.")
    def attributes(self) -> JSON:
        return cast("JSON", dict(self.record.attributes))

    @strawberry.field(description="Identifier type -> normalised value.")
    def identifiers(self) -> JSON:
        return cast("JSON", dict(self.record.identifiers))

    @strawberry.field(
        description="Other keys naming this entity (keys of entities merged into it)."
    )
    def aliases(self) -> list[str]:
        return list(self.record.aliases)

    @strawberry.field
    def first_seen(self) -> datetime:
        return self.record.first_seen

    @strawberry.field
    def last_seen(self) -> datetime:
        return self.record.last_seen

    @strawberry.field(description="Who set each field (name, attributes.<a>, identifiers.<t>).")
    def provenance(self) -> list[FieldProvenance]:
        return [
            FieldProvenance(field=k, source=v.source, at=v.at)
            for k, v in sorted(self.record.provenance.items())
        ]

    @strawberry.field(description="Relations leaving this entity (from = this one).")
    async def outgoing(
        self,
        info: Info[GraphContext, None],
        types: list[RelationTypeEnum] | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
        include_retired: bool = False,
    ) -> RelationConnection:
        return await _relations(
            info, self.record.id, Direction.OUT, types, first, after, include_retired
        )

    @strawberry.field(description="Relations reaching this entity (to = this one).")
    async def incoming(
        self,
        info: Info[GraphContext, None],
        types: list[RelationTypeEnum] | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
        include_retired: bool = False,
    ) -> RelationConnection:
        return await _relations(
            info, self.record.id, Direction.IN, types, first, after, include_retired
        )

    @strawberry.field(
        description="Every change to this entity, oldest first (merged-in entities included)."
    )
    async def history(
        self, info: Info[GraphContext, None], first: int | None = None, after: str | None = None
    ) -> HistoryConnection:
        size = page_size(info, first)
        page = await info.context.store.history(
            ItemRef(ItemKind.ENTITY, self.record.id), first=size, after=decode_cursor(after)
        )
        edges = [
            HistoryEdge(cursor=encode_cursor(e.seq), node=HistoryEventType.of(e))
            for e in page.items
        ]
        return HistoryConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls,
        *,
        info: Info[GraphContext, None],
        node_ids: Iterable[str],
        required: bool = False,
    ) -> list[EntityInterface | None]:
        records = await info.context.loaders.entity.load_many([int(i) for i in node_ids])
        out: list[EntityInterface | None] = []
        for record in records:
            obj = entity_object(record) if record is not None else None
            if obj is not None and not isinstance(obj, cls):
                obj = None  # the id names an entity of another kind
            out.append(obj)
        return out


@strawberry.type(name="Relation", description="A relation (type, from, to) with its attributes.")
class RelationNode(relay.Node):
    id: relay.NodeID[int]
    record: strawberry.Private[RelationRecord]

    @strawberry.field
    def type(self) -> RelationTypeEnum:  # type: ignore[valid-type]
        return self.record.type

    @strawberry.field(name="from")
    async def from_(self, info: Info[GraphContext, None]) -> EntityInterface | None:
        return entity_object(await info.context.loaders.entity.load(self.record.from_id))

    @strawberry.field
    async def to(self, info: Info[GraphContext, None]) -> EntityInterface | None:
        return entity_object(await info.context.loaders.entity.load(self.record.to_id))

    @strawberry.field
    def status(self) -> StatusEnum:  # type: ignore[valid-type]
        return self.record.status

    @strawberry.field
    def attributes(self) -> JSON:
        return cast("JSON", dict(self.record.attributes))

    @strawberry.field
    def first_seen(self) -> datetime:
        return self.record.first_seen

    @strawberry.field
    def last_seen(self) -> datetime:
        return self.record.last_seen

    @strawberry.field
    def provenance(self) -> list[FieldProvenance]:
        return [
            FieldProvenance(field=k, source=v.source, at=v.at)
            for k, v in sorted(self.record.provenance.items())
        ]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls,
        *,
        info: Info[GraphContext, None],
        node_ids: Iterable[str],
        required: bool = False,
    ) -> list[RelationNode | None]:
        records = await info.context.loaders.relation.load_many([int(i) for i in node_ids])
        return [RelationNode(id=r.id, record=r) if r is not None else None for r in records]


@strawberry.type
class RelationEdge:
    cursor: str
    node: RelationNode


@strawberry.type(description="A page of relations, ordered by id.")
class RelationConnection:
    edges: list[RelationEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class EntityEdge:
    cursor: str
    node: EntityInterface


@strawberry.type(description="A page of entities, ordered by id, with the count of every match.")
class EntityConnection:
    edges: list[EntityEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(
        description="Every entity that matches; with a text or attribute filter, counting "
        "stops above 10,000: then it is 10,000 and totalCountIsLowerBound is true."
    )
    total_count_is_lower_bound: bool = strawberry.field(
        default=False,
        description="True when more entities match than totalCount (more than 10,000); "
        "paging still reaches every one.",
    )


async def _relations(
    info: Info[GraphContext, None],
    entity_id: int,
    direction: Direction,
    types: Sequence[RelationType] | None,
    first: int | None,
    after: str | None,
    include_retired: bool,
) -> RelationConnection:
    size = page_size(info, first)
    start = decode_cursor(after)
    type_set = frozenset(types) if types else None
    ctx = info.context
    if include_retired:
        page = await ctx.store.relations(
            entity_id, direction, types=type_set, first=size, after=start
        )
        ids = [r.id for r in page.items]
        total, has_next = page.total, page.has_next
        records: Sequence[RelationRecord | None] = page.items
    else:
        all_ids = await ctx.loaders.relations.load(RelationsKey(entity_id, direction, type_set))
        total = len(all_ids)
        remaining = [i for i in all_ids if start is None or i > start]
        ids = remaining[:size]
        has_next = len(remaining) > size
        records = await ctx.loaders.relation.load_many(ids)
    edges = [
        RelationEdge(cursor=encode_cursor(r.id), node=RelationNode(id=r.id, record=r))
        for r in records
        if r is not None
    ]
    return RelationConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=start is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total,
    )


_SCALAR_TYPES: dict[AttributeType, type] = {
    AttributeType.STRING: str,
    AttributeType.EMAIL: str,
    AttributeType.ENUM: str,
    AttributeType.DATETIME: str,
    AttributeType.INTEGER: int,
    AttributeType.NUMBER: float,
    AttributeType.BOOLEAN: bool,
}


def _attribute_field(name: str, python_type: type, description: str) -> Any:
    def resolve(root: EntityInterface) -> Any:
        value = root.record.attributes.get(name)
        if value is None:
            return None
        if python_type is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return value if isinstance(value, python_type) else None

    resolve.__annotations__ = {"root": EntityInterface, "return": Optional[python_type]}  # noqa: UP045
    return strawberry.field(resolver=resolve, description=description)


_INTERFACE_FIELDS = frozenset(
    {
        "id",
        "kind",
        "key",
        "name",
        "status",
        "attributes",
        "identifiers",
        "aliases",
        "firstSeen",
        "lastSeen",
        "provenance",
        "outgoing",
        "incoming",
        "history",
        "record",
    }
)


def attribute_field_name(kind: EntityKind, attribute: str) -> str:
    """Return the GraphQL field of a well-known attribute.

    The attribute's own name, or ``<kind><Attribute>`` when that name is taken by
    the ``Entity`` interface (a project's ``status`` is ``projectStatus``).
    """
    if attribute not in _INTERFACE_FIELDS:
        return attribute
    prefix = kind.value[0].lower() + kind.value[1:]
    return prefix + attribute[0].upper() + attribute[1:]


def _entity_type(kind: EntityKind) -> type[EntityInterface]:
    spec = VOCABULARY.kinds[kind]
    namespace: dict[str, Any] = {"__annotations__": {}, "__doc__": spec.description}
    for attr in spec.attributes:
        namespace[attribute_field_name(kind, attr.name)] = _attribute_field(
            attr.name, _SCALAR_TYPES[attr.type], f"{attr.description} (attributes.{attr.name})"
        )
    cls = type(kind.value, (EntityInterface,), namespace)
    return cast(
        "type[EntityInterface]", strawberry.type(cls, name=kind.value, description=spec.description)
    )


ENTITY_TYPES: dict[EntityKind, type[EntityInterface]] = {k: _entity_type(k) for k in EntityKind}
"""One GraphQL object type per entity kind."""


CONFLICT_TYPE_NAME = "IdentityConflict"
"""The type name in an identity conflict's global id."""

ConflictStateEnum = strawberry.enum(
    ConflictState,
    name="IdentityConflictState",
    description="OPEN, DISMISSED (judged harmless, with a reason) or RESOLVED (merged).",
)


@strawberry.type(
    name="IdentityConflict",
    description=(
        "An item carried an identifier value another entity holds; the value stayed "
        "with that entity (PRODUCT.md 2, Identification)."
    ),
)
class IdentityConflictType:
    record: strawberry.Private[IdentityConflict]

    @strawberry.field(
        description="Its global id (for dismissIdentityConflict); the REST routes use seq."
    )
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(relay.GlobalID(CONFLICT_TYPE_NAME, str(self.record.seq))))

    @strawberry.field(description="Its position among the recorded conflicts.")
    def seq(self) -> int:
        return self.record.seq

    @strawberry.field(description="OPEN until an administrator dismisses or resolves it.")
    def state(self) -> ConflictStateEnum:  # type: ignore[valid-type]
        return self.record.state

    @strawberry.field(description="When it was dismissed or resolved.")
    def closed_at(self) -> datetime | None:
        return self.record.closure.at if self.record.closure else None

    @strawberry.field(description="Who dismissed or resolved it (a token's name, cli).")
    def closed_by(self) -> str | None:
        return self.record.closure.actor if self.record.closure else None

    @strawberry.field(
        description="The reason of a dismissal; for a resolution, the merge that resolved it."
    )
    def close_reason(self) -> str | None:
        return self.record.closure.reason if self.record.closure else None

    @strawberry.field(description="When the batch that carried it was applied.")
    def at(self) -> datetime:
        return self.record.at

    @strawberry.field(description="The entities' kind.")
    def kind(self) -> EntityKindEnum:  # type: ignore[valid-type]
        return self.record.kind

    @strawberry.field(description="The identifier type (ipAddress, serial, ...).")
    def identifier_type(self) -> str:
        return self.record.id_type

    @strawberry.field(description="The identifier value, normalised.")
    def value(self) -> str:
        return self.record.value

    @strawberry.field(description="The key the item was sent with.")
    def item_key(self) -> str:
        return self.record.item_key

    @strawberry.field(description="The source whose batch carried the value.")
    def source(self) -> str:
        return self.record.source

    @strawberry.field(description="The run of that batch, if any.")
    def run_id(self) -> str | None:
        return self.record.run_id

    @strawberry.field(description="The entity the item was identified as (without the value).")
    async def entity(self, info: Info[GraphContext, None]) -> EntityInterface | None:
        return entity_object(await info.context.loaders.entity.load(self.record.entity_id))

    @strawberry.field(description="The entity that keeps the value.")
    async def holder(self, info: Info[GraphContext, None]) -> EntityInterface | None:
        return entity_object(await info.context.loaders.entity.load(self.record.holder_id))


@strawberry.type
class IdentityConflictEdge:
    cursor: str
    node: IdentityConflictType


@strawberry.type(description="A page of identity conflicts, oldest first.")
class IdentityConflictConnection:
    edges: list[IdentityConflictEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(
        description="Every recorded conflict in the state asked (every state when none was)."
    )


def entity_object(record: EntityRecord | None) -> EntityInterface | None:
    """Return the GraphQL object of an entity record (``None`` for ``None``)."""
    if record is None:
        return None
    return ENTITY_TYPES[record.kind](id=record.id, record=record)
