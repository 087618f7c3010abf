"""Shape and vocabulary checks of a batch name every offending item."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from graphsvc.errors import BatchRejected
from graphsvc.model.validation import parse_batch, parse_batch_json, parse_datetime


def test_datetime_needs_a_time_zone() -> None:
    assert parse_datetime("2026-03-01T10:00:00+01:00") is not None
    assert parse_datetime("2026-03-01T10:00:00Z") is not None
    assert parse_datetime("2026-03-01T10:00:00") is None
    assert parse_datetime("yesterday") is None


def test_shape_and_vocabulary_errors_are_reported_together() -> None:
    raw = {
        "source": "x",
        "entities": [
            {"kind": "Servce", "key": "a"},
            {"kind": "Change", "key": "c", "attributes": {"plannedStart": "2026-03-01T10:00:00"}},
            {"kind": "Service", "key": "ok", "identifiers": {"Bad-Type": "v"}},
        ],
        "relations": [
            {
                "type": "RUNS_ON",
                "from": {"kind": "Service", "key": "ok"},
                "to": {"kind": "Service", "key": "ok"},
            }
        ],
    }
    with pytest.raises(BatchRejected) as caught:
        parse_batch(raw, origin="f.json")
    where = [(e.section, e.index, e.field) for e in caught.value.errors]
    assert where == [
        ("entities", 0, "kind"),
        ("entities", 1, "attributes.plannedStart"),
        ("entities", 2, "identifiers.Bad-Type"),
        ("relations", 0, "type"),
    ]
    assert "f.json" in str(caught.value)
    assert "time zone" in caught.value.errors[1].reason


def test_unknown_batch_fields_and_bad_json_are_refused() -> None:
    with pytest.raises(BatchRejected, match="Extra inputs are not permitted"):
        parse_batch({"source": "x", "entitys": []})
    with pytest.raises(BatchRejected, match="not valid JSON"):
        parse_batch_json(b'{"source": ')


def test_relation_endpoint_needs_key_or_identifiers() -> None:
    with pytest.raises(BatchRejected, match="either key or a non-empty identifiers"):
        parse_batch(
            {
                "source": "x",
                "relations": [
                    {
                        "type": "DEPENDS_ON",
                        "from": {"kind": "Service"},
                        "to": {"kind": "Service", "key": "b"},
                    }
                ],
            }
        )


def test_well_known_relation_attributes_apply_only_where_declared() -> None:
    with pytest.raises(BatchRejected, match="redundancyGroup does not apply to OWNS"):
        parse_batch(
            {
                "source": "x",
                "relations": [
                    {
                        "type": "OWNS",
                        "from": {"kind": "Team", "key": "t"},
                        "to": {"kind": "Service", "key": "s"},
                        "attributes": {"redundancyGroup": "g"},
                    }
                ],
            }
        )


def test_kinds_are_accepted_in_either_spelling() -> None:
    """PRODUCT.md 4.7: ``SERVICE`` (GraphQL's spelling) names the kind as ``Service`` does."""
    from graphsvc.model.batch import IngestBatch
    from graphsvc.model.vocabulary import EntityKind

    batch = IngestBatch.model_validate(
        {
            "source": "s",
            "entities": [
                {"kind": "SERVICE", "key": "a"},
                {"kind": "CONFIGURATION_ITEM", "key": "b", "attributes": {"ciClass": "vm"}},
            ],
            "relations": [
                {
                    "type": "RUNS_ON",
                    "from": {"kind": "SERVICE", "key": "a"},
                    "to": {"kind": "ConfigurationItem", "key": "b"},
                }
            ],
        }
    )
    assert [e.kind for e in batch.entities] == [EntityKind.SERVICE, EntityKind.CONFIGURATION_ITEM]
    assert batch.relations[0].from_.kind is EntityKind.SERVICE
    with pytest.raises(ValidationError, match="'Service'"):
        IngestBatch.model_validate({"source": "s", "entities": [{"kind": "service", "key": "a"}]})
