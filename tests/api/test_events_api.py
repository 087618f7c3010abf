"""The event feed over REST and GraphQL (PRODUCT.md 8, issue 20 item 2, first slice).

``GET /api/v1/events`` pages the store's history after a cursor with filters
and a long poll; GraphQL ``events(after, first, filter)`` pages it as a
connection. Both run on the embedded store and the real Neo4j server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest

from graphsvc.model.cursor import encode_cursor
from graphsvc.store.base import EventPage, EventQuery
from tests.api.conftest import Api, MakeApi


def _batch(source: str, *keys: str, tier: int = 1) -> dict[str, Any]:
    return {
        "source": source,
        "entities": [{"kind": "Service", "key": k, "attributes": {"tier": tier}} for k in keys],
    }


async def _ingest(api: Api, body: dict[str, Any]) -> None:
    r = await api.client.post("/api/v1/ingest", json=body)
    assert r.status_code == 200, r.text


async def _events(api: Api, query: str = "") -> dict[str, Any]:
    r = await api.client.get(f"/api/v1/events{query}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_the_feed_pages_every_change_in_commit_order(api: Api) -> None:
    everything = await _events(api, "?limit=1000")
    items = everything["items"]
    assert items and not everything["hasMore"] and everything["oldestSeq"] == 1
    seqs = [e["seq"] for e in items]
    assert seqs == sorted(set(seqs)) and everything["next"] == seqs[-1]
    first = items[0]
    assert set(first) == {
        "seq", "at", "op", "item", "itemId", "source", "actor", "runId", "changes",
    }  # fmt: skip
    assert first["op"] == "created"
    paged: list[dict[str, Any]] = []
    cursor = 0
    while True:
        page = await _events(api, f"?after={cursor}&limit=2")
        paged += page["items"]
        cursor = page["next"]
        if not page["hasMore"]:
            break
    assert paged == items
    await _ingest(api, _batch("itsm", "checkout", tier=3))
    later = await _events(api, f"?after={everything['next']}")
    [change] = later["items"]
    assert (change["op"], change["item"], change["source"]) == ("updated", "entity", "itsm")
    assert {"field": "attributes.tier", "old": 1, "new": 3} in change["changes"]
    assert later["next"] == change["seq"]


async def test_filters_by_item_kind_type_and_source(api: Api) -> None:
    await _ingest(api, _batch("itsm", "checkout", "new-one", tier=2))
    everything = (await _events(api, "?limit=1000"))["items"]

    async def ops(query: str) -> list[tuple[str, str, str]]:
        items = (await _events(api, f"?limit=1000&{query}"))["items"]
        return [(e["item"], e["source"], e["op"]) for e in items]

    relations = await ops("item=relation")
    assert relations and {i for i, _, _ in relations} == {"relation"}
    assert len(relations) + len(await ops("item=entity")) == len(everything)
    services = await ops("kind=SERVICE")
    assert services and {i for i, _, _ in services} == {"entity"}
    assert await ops("kind=Service") == services
    depends = await ops("type=DEPENDS_ON")
    assert depends and {(i, op) for i, _, op in depends} == {("relation", "created")}
    both = await ops("kind=Service&type=DEPENDS_ON")
    assert len(both) == len(services) + len(depends)
    itsm = await ops("source=itsm")
    assert {s for _, s, _ in itsm} == {"itsm"} and len(itsm) == 2
    assert await ops("excludeSource=" + everything[0]["source"]) == itsm
    assert await ops("source=itsm&excludeSource=itsm") == []


async def test_a_long_poll_answers_when_an_ingest_commits(api: Api) -> None:
    cursor = (await _events(api, "?limit=1000"))["next"]
    started = time.monotonic()
    waiting = asyncio.create_task(
        api.client.get(f"/api/v1/events?after={cursor}&wait=20&source=late")
    )
    await asyncio.sleep(0.4)
    assert not waiting.done()
    await _ingest(api, _batch("other", "ignored"))  # filtered out: the poll keeps waiting
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await _ingest(api, _batch("late", "arrives"))
    r = await asyncio.wait_for(waiting, 10)
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    [event] = r.json()["items"]
    assert (event["source"], event["op"]) == ("late", "created")
    assert 0.6 < elapsed < 10


async def test_a_long_poll_with_nothing_new_ends_empty_at_its_wait(api: Api) -> None:
    cursor = (await _events(api, "?limit=1000"))["next"]
    started = time.monotonic()
    r = await api.client.get(f"/api/v1/events?after={cursor}&wait=0.6")
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert r.json() == {
        "items": [],
        "next": cursor,
        "hasMore": False,
        "oldestSeq": 1,
        "lastSeq": cursor,
    }
    assert 0.55 < elapsed < 5
    # without wait: at once
    started = time.monotonic()
    assert (await _events(api, f"?after={cursor}"))["items"] == []
    assert time.monotonic() - started < 0.5


async def test_a_cursor_older_than_the_oldest_event_is_gone(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = api.services.store
    real = store.events

    async def after_retention(
        query: EventQuery, *, first: int, after: int | None = None
    ) -> EventPage:
        page = await real(query, first=first, after=after)
        return dataclasses.replace(page, oldest_seq=5)

    monkeypatch.setattr(store, "events", after_retention)
    r = await api.client.get("/api/v1/events?after=2")
    assert r.status_code == 410, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == 410 and "after=2" in problem["detail"]
    assert "after=4" in problem["detail"]
    assert (await api.client.get("/api/v1/events?after=4")).status_code == 200
    assert (await api.client.get("/api/v1/events")).status_code == 200  # from the start
    gql = await api.gql(
        "query ($after: String) { events(after: $after) { oldestSeq } }", {"after": _cursor(2)}
    )
    assert gql["errors"][0]["extensions"]["code"] == "GONE"


def _cursor(seq: int) -> str:
    return encode_cursor(seq)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?after=-1", "after"),
        ("?after=abc", "after"),
        ("?after=" + "9" * 30, "after"),
        ("?limit=0", "limit"),
        ("?limit=100000000", "limit"),
        ("?wait=31", "wait"),
        ("?wait=-1", "wait"),
        ("?wait=nan", "wait"),
        ("?kind=Planet", "kind"),
        ("?type=LIKES", "type"),
        ("?item=thing", "item"),
        ("?source=" + "s" * 300, "source"),
    ],
)
async def test_hostile_inputs_are_422_naming_the_parameter(
    make_api: MakeApi, query: str, field: str
) -> None:
    api: Api = await make_api()  # the parameters are refused before any read: no graph needed
    r = await api.client.get(f"/api/v1/events{query}")
    assert r.status_code == 422, (query, r.text)
    problem = r.json()
    assert problem["errors"], problem
    assert any(e["section"] == "query" and e["field"].startswith(field) for e in problem["errors"])


async def test_graphql_events_page_with_the_one_cursor_scheme(api: Api) -> None:
    everything = (await _events(api, "?limit=1000"))["items"]
    query = """
      query ($after: String, $first: Int, $filter: EventFilter) {
        events(after: $after, first: $first, filter: $filter) {
          edges { cursor node { seq op item itemId source actor runId changes { field old new } } }
          pageInfo { hasNextPage endCursor }
          oldestSeq
        }
      }"""
    seen: list[int] = []
    after: str | None = None
    while True:
        body = await api.gql(query, {"after": after, "first": 2})
        assert "errors" not in body, body
        page = body["data"]["events"]
        seen += [e["node"]["seq"] for e in page["edges"]]
        assert page["oldestSeq"] == 1
        if page["edges"]:
            assert page["edges"][-1]["cursor"] == page["pageInfo"]["endCursor"]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert seen == [e["seq"] for e in everything]
    assert after == _cursor(everything[-1]["seq"])
    await _ingest(api, _batch("itsm", "checkout", tier=4))
    filtered = await api.gql(
        query, {"after": None, "filter": {"sources": ["itsm"], "kinds": ["SERVICE"]}}
    )
    [edge] = filtered["data"]["events"]["edges"]
    assert edge["node"]["source"] == "itsm" and edge["node"]["item"] == "entity"
    assert {"field": "attributes.tier", "old": 1, "new": 4} in edge["node"]["changes"]
    relations = await api.gql(query, {"filter": {"item": "RELATION", "types": ["DEPENDS_ON"]}})
    assert {e["node"]["item"] for e in relations["data"]["events"]["edges"]} == {"relation"}
    bad = await api.gql('{ events(after: "nonsense") { oldestSeq } }')
    assert bad["errors"][0]["extensions"]["code"] == "BAD_CURSOR"
    huge = await api.gql("{ events(first: 100000000) { oldestSeq } }")
    assert huge["errors"][0]["extensions"]["code"] == "PAGE_SIZE"


async def test_a_source_filter_must_be_a_source_name(make_api: MakeApi) -> None:
    """Found by the REST fuzz: any text was taken as a source name (control characters too)."""
    api: Api = await make_api()
    for value in ("\x18bad", "ä", " x", ""):
        for name in ("source", "excludeSource"):
            r = await api.client.get("/api/v1/events", params={name: value})
            assert r.status_code == 422, (name, value, r.text)
    ok = await api.client.get(
        "/api/v1/events", params={"source": "k8s-prod", "excludeSource": "ppm"}
    )
    assert ok.status_code == 200, ok.text
