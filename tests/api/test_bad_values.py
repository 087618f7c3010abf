"""Bad values are refused the same way on every path, and one answer names every offending item."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.api.conftest import Api

MUTATION = """mutation($attributes: JSON!) {
  ingest(input: {source: "gql", entities: [
    {kind: CONFIGURATION_ITEM, key: "vm-1", attributes: $attributes}
  ]}) { summary { entitiesCreated } userErrors { field message } }
}"""


async def _count(api: Api) -> int:
    return (await api.services.store.stats()).entities


@pytest.mark.parametrize(
    ("literal", "why"),
    [
        ("NaN", "NaN or Infinity"),
        ("Infinity", "NaN or Infinity"),
        ("-Infinity", "NaN or Infinity"),
        ("1e400", "NaN or Infinity"),
        ("18446744073709551615", "beyond 64 bits"),
        ('[1, {"deep": NaN}]', "NaN or Infinity"),
    ],
)
async def test_numbers_json_cannot_carry_are_refused_by_graphql_and_rest(
    api: Api, literal: str, why: str
) -> None:
    before = await _count(api)
    # GraphQL: Python's JSON reader takes NaN and turns 1e400 into Infinity
    variables = '{"attributes": {"ciClass": "vm", "weight": ' + literal + "}}"
    body = '{"query": ' + json.dumps(MUTATION) + ', "variables": ' + variables + "}"
    r = await api.client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    if "NaN" in literal or "Infinity" in literal or "e400" in literal:
        # not JSON a strict reader takes: refused before GraphQL, as REST refuses it
        assert r.status_code == 400, r.text
        assert "not valid JSON" in r.json()["detail"]
    else:
        assert r.status_code == 200, r.text
        answer = r.json()["data"]["ingest"]
        assert answer["summary"] is None
        [error] = answer["userErrors"]
        assert error["field"] == ["input", "entities", "0", "attributes", "weight"]
        assert why in error["message"]
    # REST: refused as well (not valid JSON, or the same check)
    rest = (
        '{"source": "rest", "entities": [{"kind": "ConfigurationItem", "key": "vm-1", '
        '"attributes": {"ciClass": "vm", "weight": ' + literal + "}}]}"
    )
    r = await api.client.post(
        "/api/v1/ingest", content=rest, headers={"content-type": "application/json"}
    )
    assert r.status_code in (400, 422), r.text
    assert await _count(api) == before


BOTH: dict[str, Any] = {
    "source": "cmdb",
    "entities": [
        {"kind": "Service", "key": "shop", "attributes": {"tier": "high"}},
        {"kind": "Service", "key": "pay", "attributes": {"tier": 1}},
        {"kind": "ConfigurationItem", "key": "vm-9"},
        {"kind": "Nonsense", "key": "x"},
    ],
    "relations": [
        {
            "type": "DEPENDS_ON",
            "from": {"kind": "Service", "key": "pay"},
            "to": {"kind": "ConfigurationItem", "key": "nowhere"},
        },
        {
            "type": "DEPENDS_ON",
            "from": {"kind": "Service", "key": "pay"},
            "to": {"kind": "Service", "key": "shop"},
        },
    ],
}
EXPECTED = {
    ("entities", 0, "attributes.tier"),  # vocabulary: wrong type
    ("entities", 2, "attributes.ciClass"),  # store: a new CI needs ciClass
    ("entities", 3, "kind"),  # shape: unknown kind
    ("relations", 0, "to"),  # store: endpoint exists nowhere
}


async def test_one_rest_answer_names_schema_and_store_errors_together(api: Api) -> None:
    before = await _count(api)
    r = await api.client.post("/api/v1/ingest", json=BOTH)
    assert r.status_code == 422, r.text
    items = r.json()["errors"]
    assert {(e["section"], e["index"], e["field"]) for e in items} == EXPECTED
    assert await _count(api) == before


async def test_one_graphql_answer_names_schema_and_store_errors_together(api: Api) -> None:
    before = await _count(api)
    query = """mutation($input: IngestInput!) {
      ingest(input: $input) { summary { entitiesCreated } userErrors { field message } } }"""
    valid = copy.deepcopy({**BOTH, "entities": BOTH["entities"][:3]})
    for entity in valid["entities"]:
        entity["kind"] = {"Service": "SERVICE", "ConfigurationItem": "CONFIGURATION_ITEM"}[
            entity["kind"]
        ]
    for relation in valid["relations"]:
        for end in ("from", "to"):
            relation[end] = {
                **relation[end],
                "kind": {"Service": "SERVICE", "ConfigurationItem": "CONFIGURATION_ITEM"}[
                    relation[end]["kind"]
                ],
            }
    body = await api.gql(query, {"input": valid})
    answer = body["data"]["ingest"]
    assert answer["summary"] is None
    fields = {tuple(e["field"][1:4]) for e in answer["userErrors"]}
    assert fields == {
        ("entities", "0", "attributes"),
        ("entities", "2", "attributes"),
        ("relations", "0", "to"),
    }
    assert await _count(api) == before


async def test_an_attribute_that_is_not_well_known_is_stored_with_a_warning(api: Api) -> None:
    batch = {
        "source": "cmdb",
        "entities": [{"kind": "Service", "key": "s", "attributes": {"tire": 1}}],
    }
    r = await api.client.post("/api/v1/ingest", json=batch)
    assert r.status_code == 200, r.text
    [warning] = r.json()["warnings"]
    assert "attributes.tire is not a well-known Service attribute (did you mean tier?)" in warning
    entity = await api.client.get("/api/v1/entities/Service/s")
    assert entity.json()["attributes"] == {"tire": 1}
