"""Identity conflicts through the API: the ingest summary counts them, GraphQL
``identityConflicts`` and REST ``/api/v1/identity-conflicts`` list them."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api

A_AND_B = {
    "source": "s1",
    "entities": [
        {
            "kind": "ConfigurationItem",
            "key": "mc4-A",
            "identifiers": {"serial": "4SA", "fqdn": "a4.example.org"},
            "attributes": {"ciClass": "server"},
        },
        {
            "kind": "ConfigurationItem",
            "key": "mc4-B",
            "identifiers": {"serial": "4SB", "macAddress": "00:44:22:33:44:55"},
            "attributes": {"ciClass": "server"},
        },
    ],
}
X = {
    "source": "s2",
    "entities": [
        {
            "kind": "ConfigurationItem",
            "key": "mc4-X",
            "identifiers": {"fqdn": "a4.example.org", "macAddress": "00:44:22:33:44:55"},
            "attributes": {"ciClass": "vm"},
        }
    ],
}
QUERY = """query($after: String) {
  identityConflicts(first: 1, after: $after) {
    edges { cursor node {
      identifierType value itemKey source kind
      entity { key identifiers } holder { key identifiers }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def test_conflicts_are_counted_and_listed(api: Api) -> None:
    assert (await api.client.post("/api/v1/ingest", json=A_AND_B)).status_code == 200
    r = await api.client.post("/api/v1/ingest", json=X)
    assert r.status_code == 200, r.text
    summary = r.json()
    assert (summary["entitiesCreated"], summary["identityConflicts"]) == (1, 2)

    seen: list[dict[str, Any]] = []
    after = None
    while True:
        body = await api.gql(QUERY, {"after": after})
        assert "errors" not in body, body
        page = body["data"]["identityConflicts"]
        seen += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted((n["identifierType"], n["holder"]["key"]) for n in seen) == [
        ("fqdn", "mc4-A"),
        ("macAddress", "mc4-B"),
    ]
    for node in seen:
        assert (node["itemKey"], node["source"], node["kind"]) == (
            "mc4-X",
            "s2",
            "CONFIGURATION_ITEM",
        )
        assert node["entity"] == {"key": "mc4-X", "identifiers": {}}
        assert node["identifierType"] in node["holder"]["identifiers"]

    rest = await api.client.get("/api/v1/identity-conflicts", params={"first": 1})
    assert rest.status_code == 200, rest.text
    first = rest.json()
    assert len(first["items"]) == 1 and first["next"] is not None
    rest = await api.client.get(
        "/api/v1/identity-conflicts", params={"first": 5, "after": first["next"]}
    )
    second = rest.json()
    assert [i["identifierType"] for i in first["items"] + second["items"]] == [
        n["identifierType"] for n in seen
    ]
    assert second["next"] is None
    held = {i["identifierType"]: i["holderId"] for i in first["items"] + second["items"]}
    a = await api.client.get("/api/v1/entities/ConfigurationItem/mc4-A")
    assert held["fqdn"] == a.json()["id"]


async def test_bad_paging_is_a_4xx(api: Api) -> None:
    for params in ({"first": 0}, {"first": 501}, {"after": -1}, {"after": 2**64}):
        r = await api.client.get("/api/v1/identity-conflicts", params=params)
        assert r.status_code == 422, (params, r.text)
