"""GraphQL fields of the graph-shape health analyses: single points of failure and cycles.

``singlePointsOfFailure(id, asOf)`` maps :func:`graphsvc.analysis.spof.single_points_of_failure`
and ``dependencyCycles(first, after, asOf)`` pages the groups of
:func:`graphsvc.analysis.cycles.dependency_cycles` (computed whole, over the
whole graph, then paged by position). Both need the ``read`` scope, like every
query field, and run where the other analyses run (the request's worker loop,
under its deadline).
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from graphsvc.analysis.cycles import CycleGroup, dependency_cycles
from graphsvc.analysis.spof import SinglePoints, single_points_of_failure
from graphsvc.api.graphql.analysis import _as_of, named_entities, not_found
from graphsvc.api.graphql.context import GraphContext
from graphsvc.api.graphql.derive import answer_type
from graphsvc.api.graphql.types import PageInfo, decode_cursor, encode_cursor, page_size
from graphsvc.errors import InvalidInput, NotFound

__all__ = ["GraphHealthQuery"]

SinglePointsType = answer_type(SinglePoints)
CycleGroupType = answer_type(CycleGroup)


@strawberry.type(name="CycleGroupEdge")
class CycleGroupEdge:
    cursor: str
    node: CycleGroupType  # type: ignore[valid-type]


@strawberry.type(
    name="CycleGroupConnection",
    description="Groups of services and CIs that depend on each other in a circle, largest first.",
)
class CycleGroupConnection:
    edges: list[CycleGroupEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Every group, not only this page.")
    entities: int = strawberry.field(description="How many entities are in some group.")
    relations: int = strawberry.field(
        description="How many impact-carrying relations were looked at (the whole graph's)."
    )


@strawberry.type
class GraphHealthQuery:
    """Single points of failure and dependency cycles (every field needs ``read``)."""

    @strawberry.field(
        description=(
            "The entities whose failure alone makes this service DOWN (impact of that one "
            "entity marks it DOWN, PRODUCT.md 4.2), each with a path to it."
        )
    )
    async def single_points_of_failure(
        self, info: Info[GraphContext, None], id: strawberry.ID, as_of: datetime | None = None
    ) -> SinglePointsType:  # type: ignore[valid-type]
        [number] = await named_entities(info, [id], None)
        try:
            return await single_points_of_failure(info.context.store, number, as_of=_as_of(as_of))
        except NotFound as exc:
            raise not_found([str(exc)]) from None
        except InvalidInput as exc:
            raise GraphQLError(str(exc), extensions={"code": "BAD_INPUT"}) from None

    @strawberry.field(
        description=(
            "Groups of services and CIs that depend on each other in a circle (over the "
            "impact-carrying relations of the whole graph), each with one cycle as a path."
        )
    )
    async def dependency_cycles(
        self,
        info: Info[GraphContext, None],
        first: int | None = None,
        after: str | None = None,
        as_of: datetime | None = None,
    ) -> CycleGroupConnection:
        size = page_size(info, first)
        position = decode_cursor(after)
        begin = 0 if position is None else position + 1
        report = await dependency_cycles(info.context.store, as_of=_as_of(as_of))
        groups = report.groups[begin : begin + size]
        edges = [
            CycleGroupEdge(cursor=encode_cursor(begin + i), node=g) for i, g in enumerate(groups)
        ]
        return CycleGroupConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=begin + size < len(report.groups),
                has_previous_page=begin > 0,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=len(report.groups),
            entities=report.entities,
            relations=report.relations,
        )
