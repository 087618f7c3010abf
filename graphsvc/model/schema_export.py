"""The JSON Schema of the ingest batch, derived from the models and the vocabulary.

``graphsvc export-schema`` writes it to ``schema/ingest-batch.schema.json``; a
test fails when the committed file differs from what the code derives.

The schema is the pydantic schema of :class:`~graphsvc.model.batch.IngestBatch`
(shape) plus one conditional per entity kind (typed well-known attributes) and
per relation type (allowed endpoint kinds, typed relation attributes). What
needs the store (required attributes of *new* entities, endpoints that must
exist, identification) cannot be expressed in JSON Schema and is enforced by
the ingest engine.
"""

from __future__ import annotations

from typing import Any

import orjson

from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import VOCABULARY, AttributeSpec, AttributeType, Vocabulary

__all__ = ["batch_schema", "batch_schema_json"]

SCHEMA_ID = "https://graphsvc.dev/schema/ingest-batch.schema.json"


def _attribute_schema(spec: AttributeSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"description": spec.description}
    match spec.type:
        case AttributeType.STRING:
            out["type"] = "string"
        case AttributeType.EMAIL:
            out.update(type="string", format="email")
        case AttributeType.DATETIME:
            out.update(
                type="string",
                format="date-time",
                pattern=r"(Z|[+-]\d\d:?\d\d)$",
            )
        case AttributeType.ENUM:
            out.update(type="string", enum=list(spec.choices))
        case AttributeType.BOOLEAN:
            out["type"] = "boolean"
        case AttributeType.INTEGER:
            out["type"] = "integer"
        case AttributeType.NUMBER:
            out["type"] = "number"
    if spec.minimum is not None:
        out["minimum"] = spec.minimum
    if spec.maximum is not None:
        out["maximum"] = spec.maximum
    # null removes an attribute (required ones may never be removed)
    if not spec.required:
        out = {"anyOf": [out, {"type": "null"}], "description": spec.description}
    return out


def batch_schema(vocabulary: Vocabulary = VOCABULARY) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of one ingest batch."""
    schema = IngestBatch.model_json_schema(by_alias=True, mode="validation")
    defs = schema.setdefault("$defs", {})
    entity_conditions = []
    for kind, spec in vocabulary.kinds.items():
        props = {a.name: _attribute_schema(a) for a in spec.attributes}
        entity_conditions.append(
            {
                "if": {"properties": {"kind": {"const": kind.value}}},
                "then": {
                    "description": spec.description,
                    "properties": {"attributes": {"type": "object", "properties": props}},
                },
            }
        )
    defs["EntityItem"]["allOf"] = entity_conditions
    relation_conditions = []
    for type_, tspec in vocabulary.relation_types.items():
        shapes = [
            {
                "description": f"{rule.meaning} (impact: {rule.impact.value})",
                "properties": {
                    "from": {
                        "properties": {"kind": {"enum": sorted(k.value for k in rule.from_kinds)}}
                    },
                    "to": {
                        "properties": {"kind": {"enum": sorted(k.value for k in rule.to_kinds)}}
                    },
                },
            }
            for rule in tspec.rules
        ]
        props = {a.name: _attribute_schema(a) for a in tspec.attributes}
        relation_conditions.append(
            {
                "if": {"properties": {"type": {"const": type_.value}}},
                "then": {
                    "anyOf": shapes,
                    "properties": {"attributes": {"type": "object", "properties": props}},
                },
            }
        )
    defs["RelationItem"]["allOf"] = relation_conditions
    defs["EntityRef"]["oneOf"] = [{"required": ["key"]}, {"required": ["identifiers"]}]
    identifier_types = {
        name: {
            "type": "string",
            "description": f"{spec.description} ({spec.strength.value} identifier)",
        }
        for name, spec in vocabulary.identifiers.items()
    }
    defs["EntityItem"]["properties"]["identifiers"]["properties"] = identifier_types
    defs["EntityItem"]["properties"]["identifiers"]["propertyNames"] = {
        "pattern": "^[a-z][A-Za-z0-9]*$"
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "graphsvc ingest batch",
        "description": (
            "One ingest batch (PRODUCT.md section 2). Generated from graphsvc.model by "
            "`graphsvc export-schema`; do not edit by hand."
        ),
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def batch_schema_json(vocabulary: Vocabulary = VOCABULARY) -> str:
    """Return :func:`batch_schema` as stable, indented JSON text (with a final newline)."""
    return (
        orjson.dumps(
            batch_schema(vocabulary), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        ).decode()
        + "\n"
    )
