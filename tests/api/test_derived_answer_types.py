"""The GraphQL answer types are derived from the analyses' result dataclasses.

Every field of a result dataclass is a field of its GraphQL type (camelCase, a few
renamed), typed from its hint and described by its docstring; a dataclass the
derivation cannot map is refused by name rather than guessed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import strawberry
from graphql import GraphQLNamedType, GraphQLObjectType, get_named_type
from pydantic.alias_generators import to_camel

from graphsvc.analysis._common import Interval
from graphsvc.analysis.changes import ChangeImpact, Conflict, RiskFactor
from graphsvc.analysis.impact import (
    Affected,
    AffectedConnection,
    Impact,
    ImpactState,
    ImpactSummary,
    PathStep,
    ProjectReason,
    RedundancyCover,
    Survivor,
    TeamNotice,
)
from graphsvc.analysis.ownership import GhostOwner, OwnerRef, Ownership
from graphsvc.analysis.readiness import CandidatePair, Readiness, ReadinessCheck, Replacement
from graphsvc.api.graphql.derive import answer_type
from graphsvc.api.graphql.schema import build_schema
from graphsvc.api.graphql.types import ENTITY_TYPES
from graphsvc.config import Settings
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import EntityKind, Status

RENAMED = {
    ("TeamNotice", "role"): "why",
    ("ChangeImpact", "unlinked_ci"): "unlinkedConfigurationItem",
    ("ChangeImpact", "unlinked_ci_entity"): "unlinkedConfigurationItemEntity",
}
RESULTS = [
    Affected,
    AffectedConnection,
    CandidatePair,
    ChangeImpact,
    Conflict,
    GhostOwner,
    Impact,
    ImpactSummary,
    OwnerRef,
    Ownership,
    PathStep,
    ProjectReason,
    Readiness,
    ReadinessCheck,
    RedundancyCover,
    Replacement,
    RiskFactor,
    Survivor,
    TeamNotice,
]


@pytest.fixture(scope="module")
def schema_types() -> dict[str, GraphQLNamedType]:
    schema = build_schema(Settings(env="development"))
    return dict(schema._schema.type_map)


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: r.__name__)
def test_every_result_field_is_a_graphql_field(
    schema_types: dict[str, GraphQLNamedType], result: type
) -> None:
    graphql_type = schema_types[result.__name__]
    assert isinstance(graphql_type, GraphQLObjectType)
    expected = [
        RENAMED.get((result.__name__, f.name), to_camel(f.name.rstrip("_")))
        for f in dataclasses.fields(result)
    ]
    assert list(graphql_type.fields) == expected
    assert graphql_type.description, f"{result.__name__} has no description"


def test_interval_is_the_time_window(schema_types: dict[str, GraphQLNamedType]) -> None:
    window = schema_types["TimeWindow"]
    assert isinstance(window, GraphQLObjectType)
    assert list(window.fields) == [f.name for f in dataclasses.fields(Interval)]


def test_field_types_follow_the_hints(schema_types: dict[str, GraphQLNamedType]) -> None:
    affected = schema_types["Affected"]
    assert isinstance(affected, GraphQLObjectType)
    assert str(affected.fields["entity"].type) == "Entity!"
    assert str(affected.fields["state"].type) == "ImpactState!"
    assert str(affected.fields["path"].type) == "[PathStep!]!"
    assert str(affected.fields["savedBy"].type) == "[RedundancyCover!]!"
    owner = schema_types["OwnerRef"]
    assert isinstance(owner, GraphQLObjectType)
    assert str(owner.fields["chains"].type) == "[[Entity!]!]!"
    change = schema_types["ChangeImpact"]
    assert isinstance(change, GraphQLObjectType)
    assert str(change.fields["window"].type) == "TimeWindow"
    assert str(change.fields["unlinkedConfigurationItemEntity"].type) == "Entity"
    step = schema_types["PathStep"]
    assert isinstance(step, GraphQLObjectType)
    assert str(step.fields["relationId"].type) == "ID!"
    assert get_named_type(step.fields["type"].type).name == "RelationType"


def test_descriptions_come_from_the_docstring_in_graphql_spelling(
    schema_types: dict[str, GraphQLNamedType],
) -> None:
    survivor = schema_types["Survivor"]
    assert isinstance(survivor, GraphQLObjectType)
    degraded = survivor.fields["degraded"].description or ""
    assert degraded.startswith("`true` when the impact reaches the member")
    assert "`maxDepth`" in degraded  # max_depth, as GraphQL spells it
    change = schema_types["ChangeImpact"]
    assert isinstance(change, GraphQLObjectType)
    entity_doc = change.fields["unlinkedConfigurationItemEntity"].description or ""
    assert "`unlinkedConfigurationItem`" in entity_doc  # the renamed field, not unlinked_ci


@dataclass(frozen=True, slots=True)
class _Probe:
    """A result a future analysis might return.

    Attributes:
        owner: The owning team, if any.
        states: ``None`` never; the states seen.
        seen_at: When it was seen.
    """

    owner: EntityRecord | None
    states: tuple[ImpactState, ...]
    seen_at: datetime
    score: int = 0


def _record() -> EntityRecord:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return EntityRecord(
        id=7,
        kind=EntityKind.TEAM,
        key="platform",
        name="Platform",
        status=Status.ACTIVE,
        attributes={},
        identifiers={},
        aliases=(),
        first_seen=at,
        last_seen=at,
        provenance={},
    )


ProbeType = answer_type(_Probe, name="Probe")


@strawberry.type
class _ProbeQuery:
    @strawberry.field
    def probe(self) -> ProbeType:  # type: ignore[valid-type]
        return _Probe(_record(), (ImpactState.DOWN,), datetime(2026, 2, 3, tzinfo=UTC), 4)


def test_a_new_result_dataclass_answers_without_a_hand_written_type() -> None:
    schema = strawberry.Schema(query=_ProbeQuery, types=list(ENTITY_TYPES.values()))
    sdl = str(schema)
    assert '"""A result a future analysis might return."""\ntype Probe' in sdl
    assert "owner: Entity\n" in sdl and "states: [ImpactState!]!" in sdl
    assert '"""`null` never; the states seen."""' in sdl
    answer = schema.execute_sync("{ probe { owner { key kind } states seenAt score } }")
    assert answer.errors is None, answer.errors
    assert answer.data == {
        "probe": {
            "owner": {"key": "platform", "kind": "TEAM"},
            "states": ["DOWN"],
            "seenAt": "2026-02-03T00:00:00+00:00",
            "score": 4,
        }
    }


@dataclass(frozen=True, slots=True)
class _Unmappable:
    """A result with a field GraphQL has no type for."""

    pairs: tuple[int, str]


def test_a_field_without_a_graphql_type_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"fixed tuple tuple\[int, str\]"):
        answer_type(_Unmappable)
