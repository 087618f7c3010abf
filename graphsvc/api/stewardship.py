"""REST for resolving identity conflicts (admin scope; issue 21, PRODUCT.md 2).

``POST /api/v1/entities/merge`` ``{survivor, other}``: each an entity as
``Kind/key`` (its own key: an alias is refused, 409) or as its GraphQL global
id; merges ``other`` into ``survivor`` (:mod:`graphsvc.ingest.stewardship`) and
answers the survivor, the merged key, the relations moved and dropped and the
seqs of the conflicts resolved.

``POST /api/v1/identity-conflicts/{seq}/dismiss`` ``{reason}``: dismisses one
open conflict and answers it as now closed. A conflict closed already is a 409;
an unknown seq a 404; an empty reason a 400; a reason longer than
:data:`~graphsvc.ingest.stewardship.MAX_REASON` characters a 422 naming
``body.reason``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from strawberry import relay

from graphsvc.api.rest import (
    _PROBLEMS,
    Admin,
    ConflictOut,
    EntityOut,
    Svc,
    _kind,
)
from graphsvc.errors import InvalidInput, NotFound
from graphsvc.ingest.stewardship import MAX_REASON, IdentityStewardship
from graphsvc.model.cursor import MAX_POSITION
from graphsvc.model.vocabulary import EntityKind

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["identity"], responses=_PROBLEMS)

REF_FIELD = (
    "An entity as Kind/key (either kind spelling; its own key, not an alias) or as its "
    "GraphQL global id."
)


class MergeIn(BaseModel):
    """The two entities to merge: ``other`` is merged into ``survivor``."""

    model_config = ConfigDict(extra="forbid")

    survivor: str = Field(min_length=1, max_length=2048, description=REF_FIELD)
    other: str = Field(min_length=1, max_length=2048, description=REF_FIELD)


class MergeOut(BaseModel):
    """What a merge did."""

    model_config = ConfigDict(populate_by_name=True)

    survivor: EntityOut
    merged_key: str = Field(alias="mergedKey", description="The merged key, now an alias.")
    relations_moved: int = Field(alias="relationsMoved")
    relations_dropped: int = Field(
        alias="relationsDropped", description="Relations between the two (loops), ended."
    )
    resolved_conflicts: list[int] = Field(
        alias="resolvedConflicts", description="Seqs of the conflicts now resolved."
    )


class DismissIn(BaseModel):
    """Why the conflict is no problem."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=MAX_REASON, description="1 to 500 characters, kept.")


ConflictSeq = Annotated[
    int, Path(ge=1, le=MAX_POSITION, description="The conflict's seq (from the listing).")
]


async def _entity(steward: IdentityStewardship, role: str, ref: str) -> int:
    """The entity id a ``Kind/key`` or a global id names.

    Raises:
        InvalidInput: when ``ref`` is neither.
        NotFound: when no entity has the key.
        Conflict: when the key is an alias.
    """
    kind_text, slash, key = ref.partition("/")
    kind: EntityKind | None = None
    if slash and key:
        try:
            kind = _kind(kind_text)
        except InvalidInput:
            kind = None
    if kind is not None:
        return await steward.entity_by_key(kind, key, role=role)
    try:
        parsed = relay.GlobalID.from_id(ref)
        number = int(parsed.node_id)
        kinds = {k.value for k in EntityKind}
        if parsed.type_name not in kinds or not 1 <= number <= MAX_POSITION:
            raise ValueError
    except (ValueError, TypeError):
        msg = (
            f"{role}: {ref[:80]!r} is neither Kind/key (for example Service/billing) "
            "nor the global id of an entity"
        )
        raise InvalidInput(msg) from None
    return number


@router.post(
    "/entities/merge",
    response_model=MergeOut,
    response_model_by_alias=True,
    summary="Merge one entity into another (admin)",
)
async def merge_entities(body: MergeIn, principal: Admin, svc: Svc) -> MergeOut:
    """Merge ``other`` into ``survivor``, recorded like an ingest merge (source ``admin``)."""
    steward = IdentityStewardship(svc.store, svc.engine.policy)

    async def work() -> MergeOut:
        survivor = await _entity(steward, "survivor", body.survivor)
        other = await _entity(steward, "other", body.other)
        result = await steward.merge_entities(survivor, other, actor=principal.name)
        record = (await svc.store.entities([result.survivor_id]))[0]
        if record is None:  # pragma: no cover - the survivor was just written
            msg = f"entity {result.survivor_id} is gone"
            raise NotFound(msg)
        return MergeOut(
            survivor=EntityOut.of(record),
            merged_key=result.merged_key,
            relations_moved=result.relations_moved,
            relations_dropped=result.relations_dropped,
            resolved_conflicts=list(result.resolved_conflicts),
        )

    return await svc.run(work, writes=True)


@router.post(
    "/identity-conflicts/{seq}/dismiss",
    response_model=ConflictOut,
    response_model_by_alias=True,
    summary="Dismiss an identity conflict (admin)",
)
async def dismiss_identity_conflict(
    seq: ConflictSeq, body: DismissIn, principal: Admin, svc: Svc
) -> ConflictOut:
    """Dismiss one open identity conflict with a reason; it stays listed as dismissed."""
    steward = IdentityStewardship(svc.store, svc.engine.policy)
    conflict = await svc.run(
        lambda: steward.dismiss_conflict(seq, body.reason, actor=principal.name), writes=True
    )
    return ConflictOut.of(conflict)
