"""GraphQL fields of work and capacity (PRODUCT.md 7): teamLoad, capacityForecast, projectPlan.

The answer types are derived from the analyses' result dataclasses
(:mod:`graphsvc.api.graphql.derive`); what is written here is the fields'
arguments and the errors they answer with.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from graphsvc.analysis.plan import PlanStatus, ProblemKind, ProjectPlan, project_plan
from graphsvc.analysis.work import (
    CapacityForecast,
    TeamLoad,
    WeekLoad,
    WeekState,
    capacity_forecast,
    team_load,
)
from graphsvc.api.graphql.analysis import EntityRefInput, named_entities
from graphsvc.api.graphql.context import GraphContext
from graphsvc.api.graphql.derive import answer_type
from graphsvc.errors import AnswerTooLarge, InvalidInput, NotFound
from graphsvc.model.vocabulary import EntityKind

__all__ = ["WorkQuery"]

WeekStateEnum = strawberry.enum(
    WeekState,
    name="WeekState",
    description="OK; OVER_PROJECT_SHARE: project load above its share; OVERBOOKED: above capacity.",
)
ProblemKindEnum = strawberry.enum(
    ProblemKind, name="TaskProblemKind", description="What is wrong with an open task of a plan."
)
PlanStatusEnum = strawberry.enum(
    PlanStatus,
    name="PlanStatus",
    description="READY; AT_RISK: only blackouts and overbooked teams; BLOCKED: anything else.",
)


def _total_load(root: WeekLoad) -> float:
    return root.total_load


WeekLoadType = answer_type(
    WeekLoad,
    overrides={
        "total_load": strawberry.field(
            resolver=_total_load, description="Project and operational load together."
        )
    },
)
TeamLoadType = answer_type(TeamLoad)
CapacityForecastType = answer_type(CapacityForecast)
ProjectPlanType = answer_type(ProjectPlan)


def _aware(value: datetime) -> datetime:
    """A time without zone is read as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else _aware(value)


def _refused(exc: InvalidInput) -> GraphQLError:
    code = "ANSWER_TOO_LARGE" if isinstance(exc, AnswerTooLarge) else "BAD_INPUT"
    return GraphQLError(str(exc), extensions={"code": code})


def _not_found(what: str) -> GraphQLError:
    return GraphQLError(
        f"no entity has this key: {what}", extensions={"code": "NOT_FOUND", "unknown": [what]}
    )


async def _key_of(
    info: Info[GraphContext, None],
    kind: EntityKind,
    key: str | None,
    ref: EntityRefInput | None,
    key_name: str,
    ref_name: str,
) -> str:
    """The key of the one entity named by a key argument or a reference argument.

    A reference may name the entity by identifiers (``{kind: PROJECT, identifiers:
    {jiraKey: "EHR"}}``: the id a PPM tool knows it by).

    Raises:
        GraphQLError: ``BAD_INPUT`` unless exactly one of the two is given, or when the
            reference is of another kind; ``NOT_FOUND`` when it names nothing.
    """
    if (key is None) == (ref is None):
        msg = f'name the {kind.value.lower()}: {key_name}: "…", or {ref_name}: {{kind: …}}'
        raise GraphQLError(msg, extensions={"code": "BAD_INPUT"})
    if key is not None:
        return key
    assert ref is not None
    named = EntityKind(ref.kind)
    if named is not kind:
        msg = f"{ref_name} must be a {kind.value}, not a {named.value}"
        raise GraphQLError(msg, extensions={"code": "BAD_INPUT"})
    [number] = await named_entities(info, None, [ref])
    record = await info.context.loaders.entity.load(number)
    if record is None:  # merged or gone since it was resolved
        raise _not_found(f"{kind.value}/{number}")
    return record.key


@strawberry.type
class WorkQuery:
    """The work and capacity fields of ``Query`` (every one needs the ``read`` scope)."""

    @strawberry.field(
        description=(
            "A team's capacity and load per ISO week from the week holding `from` to the one "
            "holding `to` (PRODUCT.md 7)."
        )
    )
    async def team_load(
        self,
        info: Info[GraphContext, None],
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        team_key: str | None = None,
        team: EntityRefInput | None = None,
        as_of: datetime | None = None,
    ) -> TeamLoadType:  # type: ignore[valid-type]
        team_key = await _key_of(info, EntityKind.TEAM, team_key, team, "teamKey", "team")
        try:
            return await team_load(
                info.context.store, team_key, _aware(from_), _aware(to), as_of=_utc(as_of)
            )
        except NotFound:
            raise _not_found(f"Team/{team_key}") from None
        except InvalidInput as exc:
            raise _refused(exc) from None

    @strawberry.field(
        description="Every team with a week that is not OK in the period, worst first."
    )
    async def capacity_forecast(
        self,
        info: Info[GraphContext, None],
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        as_of: datetime | None = None,
    ) -> CapacityForecastType:  # type: ignore[valid-type]
        try:
            return await capacity_forecast(
                info.context.store, _aware(from_), _aware(to), as_of=_utc(as_of)
            )
        except InvalidInput as exc:
            raise _refused(exc) from None

    @strawberry.field(
        description=(
            "A project's prerequisites with their problems, critical path, earliest start and "
            "status (PRODUCT.md 7)."
        )
    )
    async def project_plan(
        self,
        info: Info[GraphContext, None],
        project_key: str | None = None,
        project: EntityRefInput | None = None,
        as_of: datetime | None = None,
    ) -> ProjectPlanType:  # type: ignore[valid-type]
        project_key = await _key_of(
            info, EntityKind.PROJECT, project_key, project, "projectKey", "project"
        )
        try:
            answer: ProjectPlan = await project_plan(
                info.context.store, project_key, as_of=_utc(as_of)
            )
        except NotFound:
            raise _not_found(f"Project/{project_key}") from None
        except InvalidInput as exc:
            raise _refused(exc) from None
        return answer
