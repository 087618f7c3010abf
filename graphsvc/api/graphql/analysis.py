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

from graphsvc.analysis.changes import (
    ChangeImpact,
    Conflict,
    ConflictKind,
    RiskFactor,
    change_impact,
)
from graphsvc.analysis.impact import (
    Affected,
    Impact,
    ImpactState,
    NoticeRole,
    PathStep,
    ProjectReason,
    RedundancyCover,
    TeamNotice,
    dependencies,
    impact,
)
from graphsvc.analysis.ownership import (
    GhostOwner,
    OwnerRef,
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
    ReadinessCheck,
    ReadinessStatus,
    Replacement,
    consolidation_candidates,
    consolidation_readiness,
)
from graphsvc.api.graphql.context import GraphContext
from graphsvc.api.graphql.types import (
    EntityEdge,
    EntityInterface,
    EntityKindEnum,
    PageInfo,
    RelationTypeEnum,
    decode_cursor,
    encode_cursor,
    entity_number,
    entity_object,
    page_size,
)
from graphsvc.errors import AnswerTooLarge, InvalidInput, NotFound
from graphsvc.ingest.runner import resolve_refs
from graphsvc.model.batch import EntityRef
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import EntityKind

__all__ = ["AnalysisQuery"]

T = TypeVar("T")

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
    code = "ANSWER_TOO_LARGE" if isinstance(exc, AnswerTooLarge) else "BAD_INPUT"
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


def _position(cursor: str | None) -> str | None:
    """The analysis's page position of a GraphQL cursor (the one scheme of every connection).

    Raises:
        GraphQLError: ``BAD_CURSOR`` for a cursor this service did not make.
    """
    position = decode_cursor(cursor)
    return None if position is None else str(position)


def _cursor(position: str | None) -> str | None:
    """The GraphQL cursor of an analysis page position."""
    return None if position is None else encode_cursor(int(position))


async def _answers(
    info: Info[GraphContext, None], compute: Callable[[int, str | None], Awaitable[T]]
) -> _Answers[T]:
    args = _first_affected_args(info)
    default = (0, None) if args is None else (page_size(info, args[0]), _position(args[1]))
    answers = _Answers(compute, default)
    await answers.any()  # errors (unknown change, bad cursor) surface on this field
    return answers


# ------------------------------------------------------------------ impact types


@strawberry.type(name="PathStep", description="One relation walked on a path, as stored.")
class PathStepType:
    type: str = strawberry.field(description="The relation type, e.g. DEPENDS_ON.")
    from_: EntityInterface = strawberry.field(name="from", description="The relation's from.")
    to: EntityInterface = strawberry.field(description="The relation's to.")
    relation_id: strawberry.ID = strawberry.field(description="Global id of the relation.")

    @classmethod
    def of(cls, step: PathStep) -> PathStepType:
        return cls(
            type=step.type.value,
            from_=_entity(step.from_),
            to=_entity(step.to),
            relation_id=strawberry.ID(relay.to_base64("Relation", step.relation_id)),
        )


@strawberry.type(name="Affected", description="An affected (or needed) entity and why.")
class AffectedType:
    entity: EntityInterface
    depth: int = strawberry.field(description="Fewest hops from a start entity (starts: 0).")
    state: ImpactStateEnum  # type: ignore[valid-type]
    stale: bool
    path: list[PathStepType] = strawberry.field(
        description="One shortest path from a start entity, in walk order (empty for a start)."
    )
    saved_by: list[RedundancyCoverType] = strawberry.field(
        description=(
            "For a DEGRADED entity: the redundancy groups that keep it up, each with its DOWN "
            "members and the surviving members. Empty for a DOWN entity, for one DEGRADED only "
            "because what it needs is DEGRADED, and in dependencies answers."
        )
    )

    @classmethod
    def of(cls, a: Affected) -> AffectedType:
        return cls(
            entity=_entity(a.entity),
            depth=a.depth,
            state=a.state,
            stale=a.stale,
            path=[PathStepType.of(s) for s in a.path],
            saved_by=[RedundancyCoverType.of(c) for c in a.saved_by],
        )


@strawberry.type(name="Survivor", description="A member of a redundancy group that is not DOWN.")
class SurvivorType:
    entity: EntityInterface
    degraded: bool = strawberry.field(
        description="Reached by the impact and DEGRADED itself (false: not reached)."
    )


@strawberry.type(
    name="RedundancyCover",
    description="A redundancy group keeping a DEGRADED entity up: some members DOWN, not all.",
)
class RedundancyCoverType:
    group: str = strawberry.field(description="The redundancyGroup name.")
    members: int = strawberry.field(description="Live relations in the group.")
    failed: list[EntityInterface] = strawberry.field(description="The DOWN members.")
    survivors: list[SurvivorType] = strawberry.field(description="The members keeping it up.")

    @classmethod
    def of(cls, c: RedundancyCover) -> RedundancyCoverType:
        return cls(
            group=c.group,
            members=c.members,
            failed=_entities(c.failed),
            survivors=[
                SurvivorType(entity=_entity(v.entity), degraded=v.degraded) for v in c.survivors
            ],
        )


@strawberry.type(name="AffectedEdge")
class AffectedEdgeType:
    cursor: str
    node: AffectedType


@strawberry.type(
    name="AffectedConnection",
    description="Affected entities in breadth-first order; totalCount counts them all.",
)
class AffectedConnectionType:
    edges: list[AffectedEdgeType]
    page_info: PageInfo
    total_count: int


@strawberry.type(name="KindCount")
class KindCountType:
    kind: EntityKindEnum  # type: ignore[valid-type]
    count: int


@strawberry.type(name="StateCount")
class StateCountType:
    state: ImpactStateEnum  # type: ignore[valid-type]
    count: int


@strawberry.type(name="TierCount", description="Affected services of one tier (null: no tier).")
class TierCountType:
    tier: int | None
    count: int
    down: int
    degraded: int


@strawberry.type(name="ImpactSummary", description="Complete aggregates (never paginated).")
class ImpactSummaryType:
    total: int
    by_kind: list[KindCountType]
    by_state: list[StateCountType]
    services_by_tier: list[TierCountType]
    stale: int
    deepest: int


@strawberry.type(name="TeamNotice", description="A team to notify, and why.")
class TeamNoticeType:
    team: EntityInterface
    why: NoticeRoleEnum  # type: ignore[valid-type]
    inherited: bool = strawberry.field(
        description="True when the team serves only PART_OF ancestors of affected entities."
    )
    via: list[EntityInterface] = strawberry.field(
        description="Up to five ancestors the role was inherited through."
    )
    via_count: int = strawberry.field(description="How many such ancestors there are.")
    affected: int = strawberry.field(description="Affected entities the team is notified for.")

    @classmethod
    def of(cls, t: TeamNotice) -> TeamNoticeType:
        return cls(
            team=_entity(t.team),
            why=t.role,
            inherited=t.inherited,
            via=_entities(t.via),
            via_count=t.via_count,
            affected=t.affected,
        )


@strawberry.type(name="ProjectReason", description="Why a project is affected.")
class ProjectReasonType:
    project: EntityInterface
    relation: RelationTypeEnum = strawberry.field(  # type: ignore[valid-type]
        description="DEPENDS_ON, DELIVERS, CONSOLIDATES, or IMPLEMENTS (through open changes)."
    )
    count: int
    entities: list[EntityInterface] = strawberry.field(description="Up to five examples.")
    changes: list[EntityInterface]

    @classmethod
    def of(cls, r: ProjectReason) -> ProjectReasonType:
        return cls(
            project=_entity(r.project),
            relation=r.relation,
            count=r.count,
            entities=_entities(r.entities),
            changes=_entities(r.changes),
        )


@strawberry.type(
    name="Impact",
    description="What is affected (impact) or needed (dependencies), with aggregates.",
)
class ImpactType:
    answers: strawberry.Private[_Answers[Any]]
    project: strawberry.Private[Callable[[Any], Impact]]

    async def _any(self) -> Impact:
        return self.project(await self.answers.any())

    @strawberry.field(description="The start entities walked (unknown or retired ones left out).")
    async def starts(self) -> list[EntityInterface]:
        return _entities((await self._any()).starts)

    @strawberry.field(description="Counts by kind and state; services by tier.")
    async def summary(self) -> ImpactSummaryType:
        s = (await self._any()).summary
        return ImpactSummaryType(
            total=s.total,
            by_kind=[KindCountType(kind=k.kind, count=k.count) for k in s.by_kind],
            by_state=[StateCountType(state=c.state, count=c.count) for c in s.by_state],
            services_by_tier=[
                TierCountType(tier=t.tier, count=t.count, down=t.down, degraded=t.degraded)
                for t in s.services_by_tier
            ],
            stale=s.stale,
            deepest=s.deepest,
        )

    @strawberry.field(description="One page of affected entities with depth, state and path.")
    async def affected(
        self, info: Info[GraphContext, None], first: int | None = None, after: str | None = None
    ) -> AffectedConnectionType:
        page = await self.answers.page(page_size(info, first), _position(after))
        conn = self.project(page).affected
        return AffectedConnectionType(
            edges=[
                AffectedEdgeType(cursor=encode_cursor(int(e.cursor)), node=AffectedType.of(e.node))
                for e in conn.edges
            ],
            page_info=PageInfo(
                has_next_page=conn.page_info.has_next_page,
                has_previous_page=conn.page_info.has_previous_page,
                start_cursor=_cursor(conn.page_info.start_cursor),
                end_cursor=_cursor(conn.page_info.end_cursor),
            ),
            total_count=conn.total_count,
        )

    @strawberry.field(description="Owners first, then support teams; most affected first.")
    async def teams_to_notify(self) -> list[TeamNoticeType]:
        return [TeamNoticeType.of(t) for t in (await self._any()).teams_to_notify]

    @strawberry.field(description="Projects affected, by key.")
    async def affected_projects(self) -> list[EntityInterface]:
        return _entities((await self._any()).affected_projects)

    @strawberry.field(description="Why each project is affected.")
    async def project_reasons(self) -> list[ProjectReasonType]:
        return [ProjectReasonType.of(r) for r in (await self._any()).project_reasons]

    @strawberry.field(description="The depth limit used (null: unbounded).")
    async def max_depth(self) -> int | None:
        return (await self._any()).max_depth

    @strawberry.field(description="The time the graph was read at (null: now).")
    async def as_of(self) -> datetime | None:
        return (await self._any()).as_of


def _same(answer: Impact) -> Impact:
    return answer


def _impact_of(answer: ChangeImpact) -> Impact:
    return answer.impact


# ------------------------------------------------------------------ ownership types


@strawberry.type(name="OwnerRef", description="An owning or support team, direct or inherited.")
class OwnerRefType:
    team: EntityInterface
    inherited: bool
    via: list[EntityInterface] = strawberry.field(
        description="The entities the team serves directly (the entity itself when direct)."
    )
    chains: list[list[EntityInterface]] = strawberry.field(
        description="For an inherited team: one PART_OF chain per via entity, entity first."
    )

    @classmethod
    def of(cls, o: OwnerRef) -> OwnerRefType:
        return cls(
            team=_entity(o.team),
            inherited=o.inherited,
            via=_entities(o.via),
            chains=[_entities(c) for c in o.chains],
        )


@strawberry.type(name="Ownership", description="Who owns and supports an entity.")
class OwnershipType:
    entity: EntityInterface
    owners: list[OwnerRefType]
    supporters: list[OwnerRefType]
    escalation: list[EntityInterface] = strawberry.field(
        description="Members of the owning teams, then the teams they are PART_OF."
    )

    @classmethod
    def of(cls, o: Ownership) -> OwnershipType:
        return cls(
            entity=_entity(o.entity),
            owners=[OwnerRefType.of(r) for r in o.owners],
            supporters=[OwnerRefType.of(r) for r in o.supporters],
            escalation=_entities(o.escalation),
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


@strawberry.type(name="GhostOwner", description="A team that owns something but cannot act.")
class GhostOwnerType:
    team: EntityInterface
    owns: int
    no_members: bool
    inactive: bool
    reason: str

    @classmethod
    def of(cls, g: GhostOwner) -> GhostOwnerType:
        return cls(
            team=_entity(g.team),
            owns=g.owns,
            no_members=g.no_members,
            inactive=g.inactive,
            reason=g.reason,
        )


@strawberry.type(name="GhostOwnerEdge")
class GhostOwnerEdge:
    cursor: str
    node: GhostOwnerType


@strawberry.type(name="GhostOwnerConnection")
class GhostOwnerConnection:
    edges: list[GhostOwnerEdge]
    page_info: PageInfo

    @strawberry.field(
        description="Every ghost owner, not only this page (counted only when asked: a scan)."
    )
    async def total_count(self, info: Info[GraphContext, None]) -> int:
        return await count_ghost_owners(info.context.store)


# ------------------------------------------------------------------ change types


@strawberry.type(name="Conflict", description="A conflict of a change and what causes it.")
class ConflictType:
    kind: ConflictKindEnum  # type: ignore[valid-type]
    other: EntityInterface = strawberry.field(description="The other change, or the window.")
    entities: list[EntityInterface] = strawberry.field(
        description="The entities that cause it (at most 50; see totalEntities)."
    )
    explanation: str
    total_entities: int

    @classmethod
    def of(cls, c: Conflict) -> ConflictType:
        return cls(
            kind=c.kind,
            other=_entity(c.other),
            entities=_entities(c.entities),
            explanation=c.explanation,
            total_entities=c.total_entities,
        )


@strawberry.type(name="RiskFactor", description="One input of the risk score.")
class RiskFactorType:
    name: str
    value: str
    points: int
    explanation: str

    @classmethod
    def of(cls, r: RiskFactor) -> RiskFactorType:
        return cls(name=r.name, value=r.value, points=r.points, explanation=r.explanation)


@strawberry.type(name="TimeWindow", description="A half-open interval [start, end).")
class TimeWindow:
    start: datetime
    end: datetime


@strawberry.type(name="ChangeImpact", description="A change's impact, conflicts and risk.")
class ChangeImpactType:
    answers: strawberry.Private[_Answers[ChangeImpact]]

    @strawberry.field
    async def change(self) -> EntityInterface:
        return _entity((await self.answers.any()).change)

    @strawberry.field(description="What the change MODIFIES.")
    async def start_set(self) -> list[EntityInterface]:
        return _entities((await self.answers.any()).start_set)

    @strawberry.field(description="Who does the work: the teams and people it is ASSIGNED_TO.")
    async def assigned_to(self) -> list[EntityInterface]:
        return _entities((await self.answers.any()).assigned_to)

    @strawberry.field(
        description=(
            "The CI the change tool names (configurationItem) when it is none of what the "
            "change MODIFIES: it was unknown when the change was imported (null otherwise)."
        )
    )
    async def unlinked_configuration_item(self) -> str | None:
        return (await self.answers.any()).unlinked_ci

    @strawberry.field(
        description="The entity the graph now holds under that name, if one (null otherwise)."
    )
    async def unlinked_configuration_item_entity(self) -> EntityInterface | None:
        found = (await self.answers.any()).unlinked_ci_entity
        return _entity(found) if found is not None else None

    @strawberry.field(description="The impact of the start set (unbounded).")
    def impact(self) -> ImpactType:
        return ImpactType(answers=self.answers, project=_impact_of)

    @strawberry.field(description="COLLISIONs, then BLACKOUTs, then OUTSIDE_MAINTENANCE.")
    async def conflicts(self) -> list[ConflictType]:
        return [ConflictType.of(c) for c in (await self.answers.any()).conflicts]

    @strawberry.field(description="0 to 100: the capped sum of the risk factors' points.")
    async def risk_score(self) -> int:
        return (await self.answers.any()).risk_score

    @strawberry.field(description="Every input of the risk score.")
    async def risk_factors(self) -> list[RiskFactorType]:
        return [RiskFactorType.of(r) for r in (await self.answers.any()).risk_factors]

    @strawberry.field(description="The planned window (null when the change states none).")
    async def window(self) -> TimeWindow | None:
        w = (await self.answers.any()).window
        return TimeWindow(start=w.start, end=w.end) if w is not None else None


# ------------------------------------------------------------------ readiness types


@strawberry.type(name="ReadinessCheck", description="One readiness check and what fails it.")
class ReadinessCheckType:
    name: str = strawberry.field(
        description="targets, consumersMigrated, ownership, conflicts, capacity or dataQuality."
    )
    result: CheckResultEnum  # type: ignore[valid-type]
    entities: list[EntityInterface]
    reason: str

    @classmethod
    def of(cls, c: ReadinessCheck) -> ReadinessCheckType:
        return cls(name=c.name, result=c.result, entities=_entities(c.entities), reason=c.reason)


@strawberry.type(name="Replacement", description="A source and the targets it is REPLACED_BY.")
class ReplacementType:
    source: EntityInterface
    targets: list[EntityInterface]

    @classmethod
    def of(cls, r: Replacement) -> ReplacementType:
        return cls(source=_entity(r.source), targets=_entities(r.targets))


@strawberry.type(name="Readiness", description="Whether a consolidation can go ahead.")
class ReadinessType:
    project: EntityInterface
    status: ReadinessStatusEnum  # type: ignore[valid-type]
    score: int
    checks: list[ReadinessCheckType]
    replacements: list[ReplacementType]
    reason: str = strawberry.field(
        description="One line: why this status (the failing and warning checks, or why N/A)."
    )

    @classmethod
    def of(cls, r: Readiness) -> ReadinessType:
        return cls(
            project=_entity(r.project),
            status=r.status,
            score=r.score,
            checks=[ReadinessCheckType.of(c) for c in r.checks],
            replacements=[ReplacementType.of(x) for x in r.replacements],
            reason=r.reason,
        )


@strawberry.type(name="CandidatePair", description="Two live services with one capability.")
class CandidatePairType:
    first: EntityInterface
    second: EntityInterface
    capability: str
    shared_consumers: list[EntityInterface]

    @classmethod
    def of(cls, p: CandidatePair) -> CandidatePairType:
        return cls(
            first=_entity(p.first),
            second=_entity(p.second),
            capability=p.capability,
            shared_consumers=_entities(p.shared_consumers),
        )


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
    ) -> ImpactType:
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

        return ImpactType(answers=await _answers(info, compute), project=_same)

    @strawberry.field(description="What these entities need: the reverse walk of impact.")
    async def dependencies(
        self,
        info: Info[GraphContext, None],
        ids: list[strawberry.ID] | None = None,
        refs: list[EntityRefInput] | None = None,
        max_depth: int | None = None,
        as_of: datetime | None = None,
    ) -> ImpactType:
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

        return ImpactType(answers=await _answers(info, compute), project=_same)

    @strawberry.field(description="Owners, supporters and escalation of one entity (4.3).")
    async def ownership(
        self,
        info: Info[GraphContext, None],
        id: strawberry.ID | None = None,
        ref: EntityRefInput | None = None,
        as_of: datetime | None = None,
    ) -> OwnershipType:
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
        return OwnershipType.of(answer)

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
        edges = [
            GhostOwnerEdge(cursor=encode_cursor(g.team.id), node=GhostOwnerType.of(g))
            for g in page.items
        ]
        return GhostOwnerConnection(
            edges=edges,
            page_info=_scan_page_info(
                page.has_next, after, [e.cursor for e in edges], page.end_cursor
            ),
        )

    @strawberry.field(
        description="A change's start set, impact, teams, projects, conflicts and risk (4.4)."
    )
    async def change_impact(
        self, info: Info[GraphContext, None], key: str, as_of: datetime | None = None
    ) -> ChangeImpactType:
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
            return ChangeImpactType(answers=await _answers(info, compute))
        except NotFound:
            raise not_found([_ref_text(EntityKind.CHANGE, key)]) from None

    @strawberry.field(description="Whether a consolidation project can go ahead (4.6).")
    async def consolidation_readiness(
        self, info: Info[GraphContext, None], project_key: str, as_of: datetime | None = None
    ) -> ReadinessType:
        try:
            answer = await consolidation_readiness(
                info.context.store, project_key, as_of=_as_of(as_of)
            )
        except NotFound:
            raise not_found([_ref_text(EntityKind.PROJECT, project_key)]) from None
        return ReadinessType.of(answer)

    @strawberry.field(
        description="Pairs of live services sharing a capability, most shared consumers first."
    )
    async def consolidation_candidates(
        self,
        info: Info[GraphContext, None],
        capability: str | None = None,
        first: int | None = None,
    ) -> list[CandidatePairType]:
        pairs = await consolidation_candidates(
            info.context.store, capability=capability, first=page_size(info, first)
        )
        return [CandidatePairType.of(p) for p in pairs]
