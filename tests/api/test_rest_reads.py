"""REST reads by kind and key: search, impact, dependencies, ownership (issue 18, item 1).

PRODUCT.md 4.7 and 5: every interface takes entities by kind and key, a kind in
either spelling (``Service``, ``SERVICE``), and an unknown reference is an error
that names it. The small graph: checkout DEPENDS_ON payments-api DEPENDS_ON
pg-main RUNS_ON vm-17; the team payments OWNS checkout.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api


def _keys(entities: list[dict[str, Any]]) -> list[str]:
    return [e["key"] for e in entities]


async def test_search_by_kind_in_either_spelling_text_and_status(api: Api) -> None:
    for kind in ("Service", "SERVICE"):
        r = await api.client.get(f"/api/v1/entities?kind={kind}&q=PAY")
        assert r.status_code == 200, r.text
        assert _keys(r.json()["items"]) == ["payments-api"]
        assert r.json()["total"] == 1
    every = (await api.client.get("/api/v1/entities?first=2")).json()
    assert every["total"] == 5 and len(every["items"]) == 2 and every["next"] is not None
    rest = (await api.client.get(f"/api/v1/entities?first=10&after={every['next']}")).json()
    assert len(rest["items"]) == 3 and rest["next"] is None
    retired = await api.client.get("/api/v1/entities?status=retired")
    assert retired.json()["items"] == []


async def test_one_entity_by_kind_in_either_spelling(api: Api) -> None:
    for kind in ("Service", "SERVICE"):
        r = await api.client.get(f"/api/v1/entities/{kind}/checkout")
        assert r.status_code == 200, (kind, r.text)
        assert r.json()["key"] == "checkout"
    missing = await api.client.get("/api/v1/entities/Service/nope")
    assert missing.status_code == 404 and "Service/nope" in missing.json()["detail"]


async def test_impact_and_dependencies_by_reference(api: Api) -> None:
    r = await api.client.get("/api/v1/impact?ref=ConfigurationItem/vm-17&first=10")
    assert r.status_code == 200, r.text
    answer = r.json()
    affected = [e["node"] for e in answer["affected"]["edges"]]
    assert [(a["entity"]["key"], a["depth"], a["state"]) for a in affected] == [
        ("vm-17", 0, "DOWN"),
        ("pg-main", 1, "DOWN"),
        ("payments-api", 2, "DOWN"),
        ("checkout", 3, "DOWN"),
    ]
    assert [step["type"] for step in affected[-1]["path"]] == [
        "RUNS_ON",
        "DEPENDS_ON",
        "DEPENDS_ON",
    ]
    assert answer["summary"]["total"] == 4
    assert [t["team"]["key"] for t in answer["teamsToNotify"]] == ["payments"]
    deps = await api.client.get("/api/v1/dependencies?ref=SERVICE/checkout&paths=false")
    keys = [e["node"]["entity"]["key"] for e in deps.json()["affected"]["edges"]]
    assert keys == ["checkout", "payments-api", "pg-main", "vm-17"]
    assert deps.json()["affected"]["edges"][1]["node"]["path"] == []
    two = await api.client.get(
        "/api/v1/impact?ref=Service/payments-api&ref=CONFIGURATION_ITEM/pg-main"
    )
    assert [s["key"] for s in two.json()["starts"]] == ["payments-api", "pg-main"]


async def test_ownership_by_reference_keeps_attribute_keys(api: Api) -> None:
    r = await api.client.get("/api/v1/ownership?ref=Service/checkout")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["entity"]["key"] == "checkout"
    assert [o["team"]["key"] for o in body["owners"]] == ["payments"]
    assert body["owners"][0]["inherited"] is False
    # dataclass fields are camelCase; the keys of free-form attributes are left alone
    assert "firstSeen" in body["entity"] and "first_seen" not in body["entity"]


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/api/v1/impact?ref=Service/nope&ref=Team/ghost", 404, "Service/nope, Team/ghost"),
        ("/api/v1/ownership?ref=Service/nope", 404, "Service/nope"),
        ("/api/v1/impact?ref=Gadget/x", 400, "'Gadget' is not a kind"),
        ("/api/v1/impact?ref=checkout", 400, "is not Kind/key"),
        ("/api/v1/impact", 422, "ref"),
        ("/api/v1/entities?kind=Gadget", 422, "SERVICE"),
        ("/api/v1/impact?ref=Service/checkout&first=501", 422, "first"),
        ("/api/v1/impact?ref=Service/checkout&after=nope", 400, "cursor"),
    ],
)
async def test_bad_references_are_refused_naming_them(
    api: Api, url: str, status: int, says: str
) -> None:
    r = await api.client.get(url)
    assert r.status_code == status, r.text
    assert says in r.text


async def test_the_openapi_document_describes_the_answers(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    for path in ("/api/v1/entities", "/api/v1/impact", "/api/v1/dependencies", "/api/v1/ownership"):
        assert "get" in document["paths"][path], path
    schemas = document["components"]["schemas"]
    assert "teamsToNotify" in schemas["Impact"]["properties"]
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                refs.append(ref)
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    dangling = {r for r in refs if r.rsplit("/", 1)[-1] not in schemas}
    assert not dangling, dangling


async def test_graphql_takes_a_kind_in_either_spelling_and_answers_one(api: Api) -> None:
    for kind in ("Service", "SERVICE"):
        body = await api.gql(
            f'{{ entity(kind: {kind}, key: "checkout") {{ kind key }} '
            f'impact(refs: [{{kind: {kind}, key: "payments-api"}}]) {{ starts {{ kind }} }} }}'
        )
        assert "errors" not in body, body
        assert body["data"]["entity"] == {"kind": "SERVICE", "key": "checkout"}
        assert body["data"]["impact"]["starts"] == [{"kind": "SERVICE"}]
    wrong = await api.gql('{ entity(kind: Services, key: "checkout") { key } }')
    assert "Services" in wrong["errors"][0]["message"]


async def test_impact_pages_follow_the_cursor_they_were_given(api: Api) -> None:
    first = await api.client.get("/api/v1/impact?ref=ConfigurationItem/vm-17&first=2")
    page = first.json()["affected"]
    assert [e["node"]["entity"]["key"] for e in page["edges"]] == ["vm-17", "pg-main"]
    after = page["pageInfo"]["endCursor"]
    rest = await api.client.get(f"/api/v1/impact?ref=ConfigurationItem/vm-17&first=2&after={after}")
    assert [e["node"]["entity"]["key"] for e in rest.json()["affected"]["edges"]] == [
        "payments-api",
        "checkout",
    ]
    forged = await api.client.get("/api/v1/impact?ref=ConfigurationItem/vm-17&after=1")
    assert forged.status_code == 400, forged.text
    assert "invalid cursor '1'" in forged.json()["detail"]
