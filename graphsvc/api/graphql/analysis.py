"""GraphQL fields of the analyses (PRODUCT.md 4.2 to 4.7): types and resolvers.

The analyses are computed by :mod:`graphsvc.analysis`; this module only maps
their frozen results onto the result shapes of PRODUCT.md 4.7.

Pagination of affected entities: an ``Impact`` resolves its aggregates and one
page of ``affected`` from one analysis run. The resolver of ``impact`` (or
``changeImpact``, ``dependencies``) looks ahead in the query for the first
``affected(first:, after:)`` selection and computes that page with the
aggregates; a second, different page selected in the same query (with an
alias) costs another run. Without an ``affected`` selection no page is built.

``asOf`` answers are read from history; the entities inside them are as they
were then, but fields reached *through* such an entity (its relations,
history) read the graph as it is now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError
from pydantic import ValidationError
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from graphsvc.analysis._common import Interval
from graphsvc.analysis.changes import (
    ChangeImpact,
    ConflictKind,
    change_impact,
)
from graphsvc.analysis.health import (
    CheckUnit,
    HealthCheckResult,
    HealthEntity,
    HealthReport,
    ScorePoint,
    health_entities,
    score_trend,
)
from graphsvc.analysis.health import health as health_of
from graphsvc.analysis.impact import (
    AffectedConnection,
    Impact,
    ImpactState,
    NoticeRole,
    PathStep,
    TeamNotice,
    dependencies,
    impact,
)
from graphsvc.analysis.impact import PageInfo as AnalysisPageInfo
from graphsvc.analysis.ownership import (
    GhostOwner,
    Ownership,
    count_ghost_owners,
    count_orphans,
    ghost_owners,
    orphans,
)
from graphsvc.analysis.ownership import ownership as ownership_of
from graphsvc.analysis.readiness import (
    CandidatePair,
    CheckResult,
    Readiness,
    ReadinessStatus,
    consolidation_candidates,
    consolidation_readiness,
)
from graphsvc.api.graphql.context import GraphContext
from graphsvc.api.graphql.derive import answer_type, register_answer_type
from graphsvc.api.graphql.types import (
    EntityEdge,
    EntityInterface,
    EntityKindEnum,
    PageInfo,
    decode_cursor,
    encode_cursor,
    entity_number,
    entity_object,
    page_size,
)
from graphsvc.errors import AnswerTooLarge, InvalidCursor, InvalidInput, NotFound
from graphsvc.ingest.runner import resolve_refs
from graphsvc.model.batch import EntityRef
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import EntityKind

__all__ = ["AnalysisQuery"]

T = TypeVar("T")
U = TypeVar("U")

ImpactStateEnum = strawberry.enum(
    ImpactState,
    name="ImpactState",
    description="DOWN: a failed dependency no redundant alternative covers; else DEGRADED.",
)
NoticeRoleEnum = strawberry.enum(
    NoticeRole, name="NoticeRole", description="Why a team is notified: it owns or supports."
)
ConflictKindEnum = strawberry.enum(
    ConflictKind, name="ConflictKind", description="What a change conflicts with."
)
CheckResultEnum = strawberry.enum(CheckResult, name="CheckResult", description="PASS, WARN, FAIL.")
HealthCheckUnitEnum = strawberry.enum(
    CheckUnit, name="HealthCheckUnit", description="What a health check's figure counts."
)
ReadinessStatusEnum = strawberry.enum(
    ReadinessStatus,
    name="ReadinessStatus",
    description=(
        "BLOCKED if a check fails, AT_RISK if one warns, else READY; NOT_APPLICABLE when the "
        "project consolidates nothing (score 0, no checks; see reason)."
    ),
)

MAX_START_IDS = 1000
"""Most start entities one impact or dependencies query may name."""


def _entity(record: EntityRecord) -> EntityInterface:
    obj = entity_object(record)
    assert obj is not None
    return obj


def _entities(records: Iterable[EntityRecord]) -> list[EntityInterface]:
    return [_entity(r) for r in records]


def _as_of(value: datetime | None) -> datetime | None:
    """A time without zone is read as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _bad_input(exc: InvalidInput) -> GraphQLError:
    code = (
        "ANSWER_TOO_LARGE"
        if isinstance(exc, AnswerTooLarge)
        else "BAD_CURSOR"
        if isinstance(exc, InvalidCursor)
        else "BAD_INPUT"
    )
    return GraphQLError(str(exc), extensions={"code": code})


def _entity_id(global_id: strawberry.ID) -> int:
    """Return the entity number of a Relay global id of an entity (``BAD_ID`` otherwise)."""
    return entity_number(global_id)


def _path_steps(info: Info[GraphContext, None]) -> tuple[bool, int | None]:
    """Whether the query shows paths of affected entities, and the bound of their steps.

    Paths are built only when some ``affected`` below this field selects ``path``.
    """
    roots = info.selected_fields[0].selections if info.selected_fields else ()
    wanted = _selects_path(roots, below_affected=False)
    return wanted, info.context.settings.graphql_max_path_steps if wanted else None


# The two searches below are module functions, not closures: a nested function that
# calls itself is a reference cycle, freed only by a garbage collection.


def _selects_path(selections: Sequence[Any], *, below_affected: bool) -> bool:
    """Whether ``selections`` select ``path`` somewhere below an ``affected``."""
    return _selects_below_affected(selections, "path", below_affected=below_affected)


def _selects_below_affected(selections: Sequence[Any], name: str, *, below_affected: bool) -> bool:
    """Whether ``selections`` select the field ``name`` somewhere below an ``affected``."""
    for sel in selections:
        found = getattr(sel, "name", None)
        if below_affected and found == name:
            return True
        inner = getattr(sel, "selections", ()) or ()
        if _selects_below_affected(
            inner, name, below_affected=below_affected or found == "affected"
        ):
            return True
    return False


def _redundancy(info: Info[GraphContext, None]) -> bool:
    """Whether the query shows which redundancy groups keep DEGRADED entities up (savedBy)."""
    roots = info.selected_fields[0].selections if info.selected_fields else ()
    return _selects_below_affected(roots, "savedBy", below_affected=False)


def _first_affected_args(info: Info[GraphContext, None]) -> tuple[int | None, str | None] | None:
    """Find the arguments of the first ``affected`` selection below this field.

    Returns ``None`` when the query selects no ``affected``.
    """
    return _search_affected(info.selected_fields[0].selections if info.selected_fields else ())


def _search_affected(selections: Sequence[Any]) -> tuple[int | None, str | None] | None:
    """``first`` and ``after`` of the first ``affected`` in ``selections`` (depth first)."""
    for sel in selections:
        if getattr(sel, "name", None) == "affected":
            args = getattr(sel, "arguments", {}) or {}
            first, after = args.get("first"), args.get("after")
            # literal arguments arrive as their source text; variables as values
            if isinstance(first, str):
                first = int(first) if first.lstrip("-").isdigit() else None
            return first, after if isinstance(after, str) else None
        found = _search_affected(getattr(sel, "selections", ()) or ())
        if found is not None:
            return found
    return None


class _Answers(Generic[T]):
    """The runs of one analysis, one per requested page, each computed once."""

    def __init__(
        self,
        compute: Callable[[int, str | None], Awaitable[T]],
        default: tuple[int, str | None],
    ) -> None:
        self._compute = compute
        self._default = default
        self._runs: dict[tuple[int, str | None], asyncio.Future[T]] = {}

    async def page(self, first: int, after: str | None) -> T:
        key = (first, after)
        run = self._runs.get(key)
        if run is None:
            run = self._runs[key] = asyncio.ensure_future(self._compute(first, after))
        try:
            return await asyncio.shield(run)
        except InvalidInput as exc:
            raise _bad_input(exc) from None

    async def any(self) -> T:
        """Return the run the aggregates come from (the looked-ahead page)."""
        return await self.page(*self._default)


async def _answers(
    info: Info[GraphContext, None], compute: Callable[[int, str | None], Awaitable[T]]
) -> _Answers[T]:
    args = _first_affected_args(info)
    default = (0, None) if args is None else (page_size(info, args[0]), args[1])
    answers = _Answers(compute, default)
    await answers.any()  # errors (unknown change, bad cursor) surface on this field
    return answers


# ------------------------------------------------------------------ answer types
#
# Derived from the analyses' result dataclasses (see graphsvc.api.graphql.derive);
# what is written here is only what a dataclass field cannot say by itself.


class _Projected(Generic[T, U]):
    """One part of another answer's runs (the impact inside a change impact)."""

    def __init__(self, answers: _Answers[T], project: Callable[[T], U]) -> None:
        self._answers = answers
        self._project = project

    async def any(self) -> U:
        return self._project(await self._answers.any())

    async def page(self, first: int, after: str | None) -> U:
        return self._project(await self._answers.page(first, after))


def _relation_id(root: PathStep) -> strawberry.ID:
    return strawberry.ID(relay.to_base64("Relation", root.relation_id))


register_answer_type(AnalysisPageInfo, PageInfo)
TimeWindow = answer_type(Interval, name="TimeWindow")
PathStepType = answer_type(
    PathStep,
    overrides={
        "relation_id": strawberry.field(
            resolver=_relation_id, description="Global id of the relation."
        )
    },
)
AffectedConnectionType = answer_type(AffectedConnection)
TeamNoticeType = answer_type(TeamNotice, rename={"role": "why"})
OwnershipType = answer_type(Ownership)
GhostOwnerType = answer_type(GhostOwner)
ReadinessType = answer_type(Readiness)
CandidatePairType = answer_type(CandidatePair)


HealthEntityType = answer_type(HealthEntity)


@strawberry.type(name="HealthEntityEdge")
class HealthEntityEdge:
    cursor: str
    node: HealthEntityType  # type: ignore[valid-type]


@strawberry.type(
    name="HealthEntityConnection", description="The entities failing a health check, by id."
)
class HealthEntityConnection:
    edges: list[HealthEntityEdge]
    page_info: PageInfo
    total_count: int


async def _health_check_entities(
    root: HealthCheckResult,
    info: Info[GraphContext, None],
    first: int | None = None,
    after: str | None = None,
) -> HealthEntityConnection:
    try:
        page = await health_entities(
            info.context.store, root, first=page_size(info, first), after=decode_cursor(after)
        )
    except InvalidInput as exc:
        raise _bad_input(exc) from None
    edges = [HealthEntityEdge(cursor=encode_cursor(h.entity.id), node=h) for h in page.items]
    return HealthEntityConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=encode_cursor(page.end_cursor) if page.end_cursor is not None else None,
        ),
        total_count=page.total,
    )


HealthCheckType = answer_type(
    HealthCheckResult,
    name="HealthCheck",
    overrides={
        "entities": strawberry.field(
            resolver=_health_check_entities,
            description="The entities failing the check with why, one page at a time.",
        )
    },
)
register_answer_type(HealthCheckResult, HealthCheckType)


async def _health_trend(root: HealthReport, info: Info[GraphContext, None]) -> list[Any]:
    return list((await score_trend(info.context.store, root)).trend)


HealthType = answer_type(
    HealthReport,
    name="Health",
    overrides={
        "trend": strawberry.field(
            resolver=_health_trend,
            graphql_type=list[answer_type(ScorePoint)],  # type: ignore[misc]
            description=(
                "The score over the last 30 days, oldest first: at the 29 UTC midnights "
                "before the report's moment, then at that moment (null: no entity then). "
                "Past points are computed once per store and kept."
            ),
        )
    },
)


async def _affected_page(
    root: Any, info: Info[GraphContext, None], first: int | None = None, after: str | None = None
) -> AffectedConnectionType:  # type: ignore[valid-type]
    answer: Impact = await root.source.page(page_size(info, first), after)
    return answer.affected


ImpactType = answer_type(
    Impact,
    lazy=True,
    overrides={
        "affected": strawberry.field(
            resolver=_affected_page,
            description="One page of affected entities with depth, state and path.",
        )
    },
)


def _impact_of(answer: ChangeImpact) -> Impact:
    return answer.impact


def _change_impact_impact(root: Any) -> ImpactType:  # type: ignore[valid-type]
    return ImpactType(source=_Projected(root.source, _impact_of))  # type: ignore[no-any-return]


ChangeImpactType = answer_type(
    ChangeImpact,
    lazy=True,
    rename={
        "unlinked_ci": "unlinkedConfigurationItem",
        "unlinked_ci_entity": "unlinkedConfigurationItemEntity",
    },
    overrides={
        "impact": strawberry.field(
            resolver=_change_impact_impact,
            description="The impact of the start set (unbounded).",
        )
    },
)


@strawberry.type(name="OrphanConnection", description="Services and CIs without any owner.")
class OrphanConnection:
    edges: list[EntityEdge]
    page_info: PageInfo
    kind: strawberry.Private[EntityKind | None]

    @strawberry.field(
        description="Every orphan, not only this page (counted only when asked: a full scan)."
    )
    async def total_count(self, info: Info[GraphContext, None]) -> int:
        return await count_orphans(info.context.store, self.kind)


@strawberry.type(name="GhostOwnerEdge")
class GhostOwnerEdge:
    cursor: str
    node: GhostOwnerType  # type: ignore[valid-type]


@strawberry.type(name="GhostOwnerConnection")
class GhostOwnerConnection:
    edges: list[GhostOwnerEdge]
    page_info: PageInfo

    @strawberry.field(
        description="Every ghost owner, not only this page (counted only when asked: a scan)."
    )
    async def total_count(self, info: Info[GraphContext, None]) -> int:
        return await count_ghost_owners(info.context.store)


# ------------------------------------------------------------------ query fields


@strawberry.input(
    name="EntityRefInput",
    description=(
        'An entity named by kind and key or alias ({kind: SERVICE, key: "billing"}), or by '
        'kind and identifiers ({kind: CONFIGURATION_ITEM, identifiers: {fqdn: "db1.example.org"}}).'
    ),
)
class EntityRefInput:
    kind: EntityKindEnum  # type: ignore[valid-type]
    key: str | None = None
    identifiers: JSON | None = None


def _ref_text(kind: EntityKind, key: str) -> str:
    return f"{kind.value}/{key[:80]}"


def _entity_ref(ref: EntityRefInput) -> EntityRef:
    """The ingest model's reference for ``ref`` (``BAD_INPUT`` when it names nothing)."""
    try:
        return EntityRef.model_validate(
            {
                "kind": EntityKind(ref.kind).value,
                **({"key": ref.key} if ref.key is not None else {}),
                **({"identifiers": ref.identifiers} if ref.identifiers is not None else {}),
            }
        )
    except ValidationError as exc:
        problems = "; ".join(e["msg"] for e in exc.errors())[:300]
        named = f"{EntityKind(ref.kind).value}/{(ref.key or '')[:80]}"
        msg = f"the reference {named} is not valid: {problems}"
        raise GraphQLError(msg, extensions={"code": "BAD_INPUT"}) from None


def _ref_label(ref: EntityRef) -> str:
    if ref.key is not None:
        return _ref_text(ref.kind, ref.key)
    shown = ", ".join(f"{k}={v}" for k, v in sorted((ref.identifiers or {}).items()))
    return f"{ref.kind.value} with {shown[:120]}"


async def named_entities(
    info: Info[GraphContext, None],
    ids: list[strawberry.ID] | None,
    refs: list[EntityRefInput] | None,
) -> list[int]:
    """Return the entity numbers that global ``ids`` and ``refs`` name, in that order.

    Raises:
        GraphQLError: ``BAD_INPUT`` when neither names anything or more than
            :data:`MAX_START_IDS` are named; ``BAD_ID`` for a malformed global id;
            ``NOT_FOUND`` naming every id and reference that names no entity (the
            ``unknown`` extension lists them).
    """
    ids, refs = ids or [], refs or []
    if not ids and not refs:
        msg = (
            'name the entities: refs: [{kind: SERVICE, key: "billing"}] (kind and key or '
            "alias), or ids: [...] (global ids from an entity's id field)"
        )
        raise GraphQLError(msg, extensions={"code": "BAD_INPUT"})
    if len(ids) + len(refs) > MAX_START_IDS:
        msg = f"{len(ids) + len(refs)} entities named; at most {MAX_START_IDS} are allowed"
        raise GraphQLError(msg, extensions={"code": "BAD_INPUT"})
    numbers = [_entity_id(i) for i in ids]
    records = await info.context.loaders.entity.load_many(numbers) if numbers else []
    unknown = [str(i)[:80] for i, r in zip(ids, records, strict=True) if r is None]
    wanted = [_entity_ref(r) for r in refs]
    found = await resolve_refs(info.context.store, wanted) if wanted else []
    unknown += [_ref_label(r) for r, f in zip(wanted, found, strict=True) if f is None]
    if unknown:
        raise not_found(unknown)
    return numbers + [f for f in found if f is not None]


def not_found(unknown: list[str]) -> GraphQLError:
    """The ``NOT_FOUND`` error naming what names no entity (at most 20 shown)."""
    shown = ", ".join(unknown[:20]) + (
        f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
    )
    return GraphQLError(
        f"no entity has {'this id or key' if len(unknown) == 1 else 'these ids or keys'}: {shown}",
        extensions={"code": "NOT_FOUND", "unknown": unknown[:100]},
    )


def _scan_page_info(
    has_next: bool, after: str | None, cursors: list[str], scanned: int | None
) -> PageInfo:
    """Page info of a scanning list: the end cursor is the last entity *scanned*.

    Resuming from it skips what this page already looked at, found or not.
    """
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=encode_cursor(scanned) if scanned is not None else None,
    )


@strawberry.type
class AnalysisQuery:
    """The analysis fields of ``Query`` (every one needs the ``read`` scope)."""

    @strawberry.field(
        description="What is affected if these entities fail or change (PRODUCT.md 4.2)."
    )
    async def impact(
        self,
        info: Info[GraphContext, None],
        ids: list[strawberry.ID] | None = None,
        refs: list[EntityRefInput] | None = None,
        max_depth: int | None = None,
        as_of: datetime | None = None,
    ) -> ImpactType:  # type: ignore[valid-type]
        start, when = await named_entities(info, ids, refs), _as_of(as_of)
        store = info.context.store

        paths, most = _path_steps(info)
        saved = _redundancy(info)

        def compute(first: int, after: str | None) -> Awaitable[Impact]:
            return impact(
                store,
                start,
                max_depth=max_depth,
                as_of=when,
                first=first,
                after=after,
                paths=paths,
                max_path_steps=most,
                redundancy=saved,
            )

        return ImpactType(source=await _answers(info, compute))  # type: ignore[no-any-return]

    @strawberry.field(description="What these entities need: the reverse walk of impact.")
    async def dependencies(
        self,
        info: Info[GraphContext, None],
        ids: list[strawberry.ID] | None = None,
        refs: list[EntityRefInput] | None = None,
        max_depth: int | None = None,
        as_of: datetime | None = None,
    ) -> ImpactType:  # type: ignore[valid-type]
        start, when = await named_entities(info, ids, refs), _as_of(as_of)
        store = info.context.store

        paths, most = _path_steps(info)

        def compute(first: int, after: str | None) -> Awaitable[Impact]:
            return dependencies(
                store,
                start,
                max_depth=max_depth,
                as_of=when,
                first=first,
                after=after,
                paths=paths,
                max_path_steps=most,
            )

        return ImpactType(source=await _answers(info, compute))  # type: ignore[no-any-return]

    @strawberry.field(description="Owners, supporters and escalation of one entity (4.3).")
    async def ownership(
        self,
        info: Info[GraphContext, None],
        id: strawberry.ID | None = None,
        ref: EntityRefInput | None = None,
        as_of: datetime | None = None,
    ) -> OwnershipType:  # type: ignore[valid-type]
        if (id is None) == (ref is None):
            msg = 'name one entity: ref: {kind: SERVICE, key: "billing"}, or id: a global id'
            raise GraphQLError(msg, extensions={"code": "BAD_INPUT"})
        [number] = await named_entities(
            info, [id] if id is not None else None, [ref] if ref is not None else None
        )
        try:
            answer = await ownership_of(info.context.store, number, as_of=_as_of(as_of))
        except NotFound as exc:
            raise not_found([str(exc)]) from None
        return answer

    @strawberry.field(description="Services and CIs that are not retired and have no owner.")
    async def orphans(
        self,
        info: Info[GraphContext, None],
        kind: EntityKindEnum | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> OrphanConnection:
        try:
            page = await orphans(
                info.context.store, kind, first=page_size(info, first), after=decode_cursor(after)
            )
        except InvalidInput as exc:
            raise _bad_input(exc) from None
        edges = [EntityEdge(cursor=encode_cursor(r.id), node=_entity(r)) for r in page.items]
        return OrphanConnection(
            kind=kind,
            edges=edges,
            page_info=_scan_page_info(
                page.has_next, after, [e.cursor for e in edges], page.end_cursor
            ),
        )

    @strawberry.field(description="Teams that own something but have no members or are inactive.")
    async def ghost_owners(
        self, info: Info[GraphContext, None], first: int | None = None, after: str | None = None
    ) -> GhostOwnerConnection:
        page = await ghost_owners(
            info.context.store, first=page_size(info, first), after=decode_cursor(after)
        )
        edges = [GhostOwnerEdge(cursor=encode_cursor(g.team.id), node=g) for g in page.items]
        return GhostOwnerConnection(
            edges=edges,
            page_info=_scan_page_info(
                page.has_next, after, [e.cursor for e in edges], page.end_cursor
            ),
        )

    @strawberry.field(
        description=(
            "How trustworthy the graph is (PRODUCT.md 9): the score (0-100, formula in the "
            "README), each check with its figure, bounds, result and failing entities, and "
            "the figures per source; as of a past time with asOf."
        )
    )
    async def health(
        self, info: Info[GraphContext, None], as_of: datetime | None = None
    ) -> HealthType:  # type: ignore[valid-type]
        return await health_of(info.context.store, as_of=_as_of(as_of))

    @strawberry.field(
        description="A change's start set, impact, teams, projects, conflicts and risk (4.4)."
    )
    async def change_impact(
        self, info: Info[GraphContext, None], key: str, as_of: datetime | None = None
    ) -> ChangeImpactType:  # type: ignore[valid-type]
        store, when = info.context.store, _as_of(as_of)

        paths, most = _path_steps(info)
        saved = _redundancy(info)

        def compute(first: int, after: str | None) -> Awaitable[ChangeImpact]:
            return change_impact(
                store,
                key,
                as_of=when,
                first=first,
                after=after,
                paths=paths,
                max_path_steps=most,
                redundancy=saved,
            )

        try:
            return ChangeImpactType(source=await _answers(info, compute))  # type: ignore[no-any-return]
        except NotFound:
            raise not_found([_ref_text(EntityKind.CHANGE, key)]) from None

    @strawberry.field(description="Whether a consolidation project can go ahead (4.6).")
    async def consolidation_readiness(
        self, info: Info[GraphContext, None], project_key: str, as_of: datetime | None = None
    ) -> ReadinessType:  # type: ignore[valid-type]
        try:
            answer = await consolidation_readiness(
                info.context.store, project_key, as_of=_as_of(as_of)
            )
        except NotFound:
            raise not_found([_ref_text(EntityKind.PROJECT, project_key)]) from None
        return answer

    @strawberry.field(
        description="Pairs of live services sharing a capability, most shared consumers first."
    )
    async def consolidation_candidates(
        self,
        info: Info[GraphContext, None],
        capability: str | None = None,
        first: int | None = None,
    ) -> list[CandidatePairType]:  # type: ignore[valid-type]
        pairs = await consolidation_candidates(
            info.context.store, capability=capability, first=page_size(info, first)
        )
        return list(pairs)
