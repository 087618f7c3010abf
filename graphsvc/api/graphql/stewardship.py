"""Resolving identity conflicts in GraphQL: ``mergeEntities`` and ``dismissIdentityConflict``.

Both need the ``admin`` scope, checked by each field before anything is read or
written (``FORBIDDEN`` otherwise; the schema's guard has checked ``write`` and
refused a read replica already). Input problems (a malformed id, the same entity
twice, two kinds, an unknown id, a retired or merged entity, a conflict closed
already, an empty or too long reason) come back as ``userErrors`` naming the
argument, with the code ``BAD_ID``, ``INVALID``, ``NOT_FOUND`` or ``CONFLICT``.
What they do is :mod:`graphsvc.ingest.stewardship`.
"""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.types import Info

from graphsvc.api.graphql.context import GraphContext
from graphsvc.api.graphql.types import (
    CONFLICT_TYPE_NAME,
    ENTITY_TYPES,
    EntityInterface,
    IdentityConflictType,
    entity_object,
    global_id_parts,
)
from graphsvc.api.tokens import Scope
from graphsvc.errors import Conflict, GraphSvcError, InvalidInput, NotFound
from graphsvc.ingest.stewardship import MAX_REASON, IdentityStewardship
from graphsvc.model.cursor import MAX_POSITION

__all__ = ["StewardshipMutation"]

_ENTITY_TYPE_NAMES = frozenset(t.__name__ for t in ENTITY_TYPES.values()) | {
    k.value for k in ENTITY_TYPES
}


def _steward(info: Info[GraphContext, None]) -> IdentityStewardship:
    principal = info.context.principal
    if principal is not None and not principal.allows(Scope.ADMIN):
        msg = f"this token's scope ({principal.scope.value}) does not allow admin"
        raise GraphQLError(msg, extensions={"code": "FORBIDDEN"})
    engine = info.context.engine
    return IdentityStewardship(engine.store, engine.policy)


def _actor(info: Info[GraphContext, None]) -> str:
    principal = info.context.principal
    return principal.name if principal is not None else "graphql"


@strawberry.type(name="StewardshipError", description="A problem with an argument.")
class StewardshipError:
    field: list[str] = strawberry.field(description="The offending argument.")
    message: str
    code: str = strawberry.field(description="BAD_ID, INVALID, NOT_FOUND or CONFLICT.")


class _BadArgument(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _entity_number(argument: str, global_id: str) -> int:
    """The entity id a global id names.

    Raises:
        _BadArgument: when it is malformed or names a relation or a conflict.
    """
    try:
        type_name, number = global_id_parts(global_id, what="a global id of an entity")
    except GraphQLError as exc:
        raise _BadArgument(argument, exc.message) from None
    if type_name not in _ENTITY_TYPE_NAMES:
        msg = f"{global_id[:64]!r} is the id of a {type_name[:40]}, not of an entity"
        raise _BadArgument(argument, msg)
    return number


def _conflict_seq(value: str) -> int:
    """The seq an identity conflict's id (its global id, or the seq itself) names.

    Raises:
        _BadArgument: when it is neither.
    """
    text = value.strip()
    if text.isascii() and text.isdigit() and len(text) <= 19:
        seq = int(text)
    else:
        try:
            parsed = relay.GlobalID.from_id(text)
            if parsed.type_name != CONFLICT_TYPE_NAME:
                raise ValueError
            seq = int(parsed.node_id)
        except (ValueError, TypeError):
            msg = (
                f"{value[:64]!r} is not the id of an identity conflict: take the id (or seq) "
                "field of identityConflicts"
            )
            raise _BadArgument("id", msg) from None
    if not 1 <= seq <= MAX_POSITION:
        msg = f"{value[:64]!r} is not the id of an identity conflict (seq out of range)"
        raise _BadArgument("id", msg)
    return seq


_CODES: dict[type[GraphSvcError], str] = {
    NotFound: "NOT_FOUND",
    Conflict: "CONFLICT",
    InvalidInput: "INVALID",
}


def _errors(exc: Exception, field: str) -> list[StewardshipError]:
    if isinstance(exc, _BadArgument):
        return [StewardshipError(field=[exc.field], message=str(exc), code="BAD_ID")]
    code = next((c for t, c in _CODES.items() if isinstance(exc, t)), "ERROR")
    return [StewardshipError(field=[field], message=str(exc), code=code)]


@strawberry.type(description="What mergeEntities did.")
class MergeEntitiesPayload:
    survivor: EntityInterface | None = strawberry.field(
        description="The entity that remains, with the other's key among its aliases."
    )
    merged_key: str | None = strawberry.field(description="The merged entity's key (now an alias).")
    relations_moved: int | None = strawberry.field(
        description="Relations of the merged entity moved onto the survivor."
    )
    relations_dropped: int | None = strawberry.field(
        description="Relations between the two, ended (they would be loops)."
    )
    resolved_conflict_ids: list[strawberry.ID] = strawberry.field(
        description="The open identity conflicts between the two, now RESOLVED."
    )
    user_errors: list[StewardshipError]


@strawberry.type(description="What dismissIdentityConflict did.")
class DismissIdentityConflictPayload:
    conflict: IdentityConflictType | None = strawberry.field(
        description="The conflict, now DISMISSED with reason, actor and time."
    )
    user_errors: list[StewardshipError]


@strawberry.type
class StewardshipMutation:
    """``mergeEntities`` and ``dismissIdentityConflict`` (each needs the ``admin`` scope)."""

    @strawberry.mutation(
        description=(
            "Merge entity `other` into `survivor` (admin), recorded like an ingest merge: "
            "the other's key and identifiers kept by the survivor, its relations moved, "
            "`merged`/`merged_into` history events (source `admin`, the token as actor); "
            "the open identity conflicts between the two become RESOLVED."
        )
    )
    async def merge_entities(
        self, info: Info[GraphContext, None], survivor: strawberry.ID, other: strawberry.ID
    ) -> MergeEntitiesPayload:
        steward = _steward(info)
        try:
            keep = _entity_number("survivor", survivor)
            gone = _entity_number("other", other)
            result = await steward.merge_entities(keep, gone, actor=_actor(info))
        except (_BadArgument, GraphSvcError) as exc:
            # the store's messages name the argument they are about
            message = str(exc)
            field = "survivor" if "survivor" in message and "other" not in message else "other"
            return MergeEntitiesPayload(
                survivor=None,
                merged_key=None,
                relations_moved=None,
                relations_dropped=None,
                resolved_conflict_ids=[],
                user_errors=_errors(exc, field),
            )
        record = (await info.context.store.entities([result.survivor_id]))[0]
        return MergeEntitiesPayload(
            survivor=entity_object(record),
            merged_key=result.merged_key,
            relations_moved=result.relations_moved,
            relations_dropped=result.relations_dropped,
            resolved_conflict_ids=[
                strawberry.ID(str(relay.GlobalID(CONFLICT_TYPE_NAME, str(s))))
                for s in result.resolved_conflicts
            ],
            user_errors=[],
        )

    @strawberry.mutation(
        description=(
            "Dismiss an open identity conflict (admin) with a reason (1 to "
            f"{MAX_REASON} characters): it stays listed as DISMISSED with the reason, "
            "actor and time, and both its entities get a `conflict_dismissed` history event."
        )
    )
    async def dismiss_identity_conflict(
        self, info: Info[GraphContext, None], id: strawberry.ID, reason: str
    ) -> DismissIdentityConflictPayload:
        steward = _steward(info)
        field = "id"
        try:
            seq = _conflict_seq(id)
            field = "reason"
            if len(reason) > 4 * MAX_REASON:
                msg = f"reason: {len(reason):,} characters; at most {MAX_REASON} are kept"
                raise InvalidInput(msg)
            conflict = await steward.dismiss_conflict(seq, reason, actor=_actor(info))
        except (_BadArgument, GraphSvcError) as exc:
            if isinstance(exc, NotFound | Conflict):
                field = "id"
            return DismissIdentityConflictPayload(conflict=None, user_errors=_errors(exc, field))
        return DismissIdentityConflictPayload(
            conflict=IdentityConflictType(record=conflict), user_errors=[]
        )
