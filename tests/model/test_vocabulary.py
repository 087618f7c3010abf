"""The vocabulary is consistent, and everything derived from it stays in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphsvc.model.schema_export import batch_schema, batch_schema_json
from graphsvc.model.vocabulary import (
    VOCABULARY,
    Direction,
    EntityKind,
    ImpactFlow,
    RelationType,
)

ROOT = Path(__file__).parents[2]


def test_every_kind_and_type_is_declared_once_with_a_stable_code() -> None:
    assert set(VOCABULARY.kinds) == set(EntityKind)
    assert set(VOCABULARY.relation_types) == set(RelationType)
    codes = [k.code for k in VOCABULARY.kinds.values()]
    assert len(set(codes)) == len(codes) and min(codes) >= 1 and max(codes) < 16
    type_codes = [t.code for t in VOCABULARY.relation_types.values()]
    assert len(set(type_codes)) == len(type_codes) and max(type_codes) < 32


def test_relation_rules_follow_the_product_table() -> None:
    rule = VOCABULARY.rule_for
    k = EntityKind
    assert rule(RelationType.DEPENDS_ON, k.PROJECT, k.SERVICE) is not None
    assert rule(RelationType.DEPENDS_ON, k.SERVICE, k.PROJECT) is None
    assert rule(RelationType.RUNS_ON, k.SERVICE, k.SERVICE) is None
    part_of_svc = rule(RelationType.PART_OF, k.CONFIGURATION_ITEM, k.SERVICE)
    part_of_team = rule(RelationType.PART_OF, k.TEAM, k.TEAM)
    assert part_of_svc is not None and part_of_svc.impact is ImpactFlow.FROM_TO
    assert part_of_team is not None and part_of_team.impact is ImpactFlow.NONE
    assert rule(RelationType.PART_OF, k.TEAM, k.SERVICE) is None
    modifies = rule(RelationType.MODIFIES, k.CHANGE, k.CONFIGURATION_ITEM)
    assert modifies is not None and modifies.impact is ImpactFlow.START_SET


def test_impact_steps_follow_the_impact_column() -> None:
    steps = {(s.type, s.direction) for s in VOCABULARY.impact_steps}
    assert steps == {
        (RelationType.DEPENDS_ON, Direction.IN),
        (RelationType.RUNS_ON, Direction.IN),
        (RelationType.PART_OF, Direction.OUT),
    }
    reverse = {(s.type, s.direction) for s in VOCABULARY.dependency_steps}
    assert reverse == {(t, d.reverse()) for t, d in steps}
    assert VOCABULARY.redundancy_types == {RelationType.DEPENDS_ON, RelationType.RUNS_ON}


@pytest.mark.parametrize(
    ("id_type", "raw", "normalised"),
    [
        ("fqdn", "DB1.Example.ORG.", "db1.example.org"),
        ("macAddress", "00-1A-2b-3C-4d-5E", "00:1a:2b:3c:4d:5e"),
        ("ipAddress", " 2001:DB8::0001 ", "2001:db8::1"),
        ("serial", " VMW-42 ", "VMW-42"),
        ("customThing", " x ", "x"),
    ],
)
def test_identifier_normalisation(id_type: str, raw: str, normalised: str) -> None:
    assert VOCABULARY.normalize_identifier(id_type, raw) == normalised


def test_committed_json_schema_matches_the_code() -> None:
    committed = (ROOT / "schema" / "ingest-batch.schema.json").read_text()
    assert committed == batch_schema_json(), "schema/ drifted: run `graphsvc export-schema`"


def test_json_schema_carries_the_vocabulary() -> None:
    schema = batch_schema()
    entity = schema["$defs"]["EntityItem"]
    assert entity["properties"]["kind"]["$ref"].endswith("EntityKind")
    assert set(schema["$defs"]["EntityKind"]["enum"]) == {k.value for k in EntityKind}
    tiers = [c for c in entity["allOf"] if c["if"]["properties"]["kind"]["const"] == "Service"]
    tier = tiers[0]["then"]["properties"]["attributes"]["properties"]["tier"]["anyOf"][0]
    assert (tier["type"], tier["minimum"], tier["maximum"]) == ("integer", 1, 4)


def test_every_kind_declares_its_words_and_report_place() -> None:
    """What the report, REST and analyses need of a kind lives in the vocabulary (issue 18, 3)."""
    from graphsvc.model.vocabulary import VOCABULARY

    orders = [spec.report_order for spec in VOCABULARY.kinds.values()]
    assert len(set(orders)) == len(orders) and min(orders) > 0
    for spec in VOCABULARY.kinds.values():
        assert spec.noun[0] and spec.noun[1] and spec.short_name, spec.kind
    assert VOCABULARY.noun(EntityKind.PERSON, 2) == "people"
    assert VOCABULARY.short_name(EntityKind.CONFIGURATION_ITEM) == "CI"
    assert VOCABULARY.kinds_in_report_order[0] is EntityKind.SERVICE


def test_steps_take_their_kinds_from_the_relation_rules() -> None:
    from graphsvc.model.vocabulary import VOCABULARY, Direction, RelationType

    [owned] = VOCABULARY.steps(RelationType.OWNS, Direction.IN)
    assert owned.to_kinds == {EntityKind.TEAM}
    assert owned.from_kinds == {
        EntityKind.SERVICE,
        EntityKind.CONFIGURATION_ITEM,
        EntityKind.PROJECT,
    }
    teams = VOCABULARY.steps(RelationType.PART_OF, Direction.OUT, leaving={EntityKind.TEAM})
    assert [(s.from_kinds, s.to_kinds) for s in teams] == [
        (frozenset({EntityKind.TEAM}), frozenset({EntityKind.TEAM}))
    ]
    assert VOCABULARY.steps(RelationType.OWNS, Direction.OUT, leaving={EntityKind.PERSON}) == ()


def test_steps_can_be_narrowed_to_the_kinds_reached() -> None:
    [by_change] = VOCABULARY.steps(
        RelationType.MODIFIES, Direction.IN, reaching={EntityKind.CHANGE}
    )
    assert by_change.to_kinds == {EntityKind.CHANGE}
    assert by_change.from_kinds == {EntityKind.SERVICE, EntityKind.CONFIGURATION_ITEM}
    assert VOCABULARY.steps(RelationType.MODIFIES, Direction.IN, reaching={EntityKind.TEAM}) == ()
