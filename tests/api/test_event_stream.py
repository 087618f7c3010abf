"""Following the feed as it happens (PRODUCT.md 8, issue 20): the SSE stream
``GET /api/v1/events/stream``, the GraphQL subscription ``events`` over
``graphql-transport-ws``, and retention's 410 / ``GONE``, against a real uvicorn
serving the real app over each store.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

import graphsvc.api.feed as feed_module
from graphsvc.api.feed import FeedHub, Gone, follow
from graphsvc.api.rest import _sse
from graphsvc.api.tokens import Scope, TokenStore
from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.model.batch import IngestBatch
from graphsvc.store.base import EventQuery
from graphsvc.store.embedded.store import EmbeddedStore
from tests.api.live import LiveServer, live_settings, sse_messages

Start = Callable[..., LiveServer]
FAST = {"event_heartbeat_seconds": 0.3, "event_poll_seconds": 0.1}


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start live servers (over ``store`` settings, else a new embedded file); all stopped after."""
    servers: list[LiveServer] = []

    def make(store: Settings | None = None, **overrides: Any) -> LiveServer:
        server = LiveServer(live_settings(store, tmp_path, **{**FAST, **overrides}))
        servers.append(server.start())
        return server

    yield make
    for server in servers:
        if server.thread.is_alive():
            server.stop()


@pytest.fixture
def store_of(backend: str, request: pytest.FixtureRequest) -> Settings | None:
    """The store settings of the test's backend (``None``: embedded)."""
    if backend == "neo4j":
        found: Settings = request.getfixturevalue("empty_neo4j")
        return found
    return None


def batch(source: str, *keys: str) -> dict[str, Any]:
    return {"source": source, "entities": [{"kind": "Service", "key": k} for k in keys]}


def cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"c:{seq}".encode()).decode()


def events_only(messages: Iterator[dict[str, str]], n: int) -> list[dict[str, Any]]:
    """The next ``n`` event messages (skipping comments and heartbeats), data parsed."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if "data" in message and "event" not in message:
            out.append({"id": message["id"], **json.loads(message["data"])})
            if len(out) == n:
                return out
    raise AssertionError(f"the stream ended after {len(out)} of {n} events")


# ------------------------------------------------------------------ SSE


def test_the_stream_follows_commits_at_once_and_resumes_from_last_event_id(
    start: Start, store_of: Settings | None
) -> None:
    live = start(store_of)
    live.ingest(batch("cmdb", "a1", "a2"))
    with httpx.Client(base_url=live.url, timeout=10) as client:
        with client.stream("GET", "/api/v1/events/stream?after=0") as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["cache-control"] == "no-cache"
            messages = sse_messages(r)
            assert next(messages) == {"comment": "graphsvc event feed", "retry": "2000"}
            first = events_only(messages, 2)
            assert [e["source"] for e in first] == ["cmdb", "cmdb"]
            assert [e["id"] for e in first] == [str(e["seq"]) for e in first]
            live.ingest(batch("itsm", "b1"))
            [third] = events_only(messages, 1)
            assert third["source"] == "itsm" and third["op"] == "created"
            heartbeat = next(messages)  # idle: a heartbeat carrying the cursor
            assert heartbeat == {"comment": "heartbeat", "id": third["id"]}
        # a reconnect sends Last-Event-ID, which wins over the URL's after
        headers = {"Last-Event-ID": first[1]["id"]}
        with client.stream("GET", "/api/v1/events/stream?after=0", headers=headers) as r:
            assert [e["seq"] for e in events_only(sse_messages(r), 1)] == [third["seq"]]
        # the filters of GET /events; a filtered stream's heartbeat moves past what it left out
        with client.stream("GET", "/api/v1/events/stream?excludeSource=itsm") as r:
            messages = sse_messages(r)
            assert [e["source"] for e in events_only(messages, 2)] == ["cmdb", "cmdb"]
            beat = next(m for m in messages if m.get("comment") == "heartbeat")
            assert beat["id"] == third["id"]


def test_a_commit_wakes_followers_at_once_without_any_poll(start: Start) -> None:
    live = start(event_poll_seconds=30, event_heartbeat_seconds=30)
    timeout = httpx.Timeout(10, read=5)
    with httpx.stream("GET", f"{live.url}/api/v1/events/stream", timeout=timeout) as r:
        messages = sse_messages(r)
        assert next(messages)["comment"] == "graphsvc event feed"
        deadline = time.monotonic() + 5
        while not live.services.feed.waiting:  # caught up, waiting for a commit
            assert time.monotonic() < deadline
            time.sleep(0.01)
        live.ingest(batch("cmdb", "x"))
        done = time.monotonic()
        [event] = events_only(messages, 1)  # long before any poll or heartbeat
        assert event["source"] == "cmdb" and time.monotonic() - done < 1.0


def test_hostile_stream_requests_are_refused_before_streaming(start: Start) -> None:
    live = start()
    with httpx.Client(base_url=live.url, timeout=10) as client:
        for headers, params in (
            ({"Last-Event-ID": "abc"}, {}),
            ({"Last-Event-ID": "9" * 20}, {}),
            ({"Last-Event-ID": "\uff11\uff12".encode()}, {}),  # full-width digits: no seq
            ({}, {"after": "-1"}),
            ({}, {"kind": "Spaceship"}),
            ({}, {"source": "bad name\x01"}),
        ):
            r = client.get("/api/v1/events/stream", headers=headers, params=params)
            assert r.status_code == 422, (headers, params, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["errors"], r.text
        r = client.get("/api/v1/events/stream", headers={"Last-Event-ID": "abc"})
        assert r.json()["errors"][0]["field"] == "Last-Event-ID"
    assert live.services.feed.followers == 0


def test_a_cap_on_streams_503_and_a_gone_client_frees_its_place(start: Start) -> None:
    live = start(event_streams_max=1)
    with httpx.Client(base_url=live.url, timeout=10) as client:
        with client.stream("GET", "/api/v1/events/stream") as r:
            messages = sse_messages(r)  # held: dropping it would close the stream
            assert next(messages)["comment"] == "graphsvc event feed"
            busy = client.get("/api/v1/events/stream")
            assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
            assert "GRAPHSVC_EVENT_STREAMS_MAX=1" in busy.json()["detail"]
            assert "graphsvc_event_followers 1.0" in client.get("/metrics").text
            with _ws(live) as ws:
                _init(ws)
                ws.send(json.dumps(_subscribe("1", "subscription { events { cursor } }")))
                answer = _next_message(ws)
                codes = [e["extensions"]["code"] for e in answer["payload"].get("errors", [])]
                assert codes == ["TOO_MANY_STREAMS"], answer
        deadline = time.monotonic() + 5
        while live.services.feed.followers:  # the client left: its stream ended
            assert time.monotonic() < deadline, "the stream outlived its client"
            time.sleep(0.02)
        assert "graphsvc_event_followers 0.0" in client.get("/metrics").text
        with client.stream("GET", "/api/v1/events/stream") as r:
            assert r.status_code == 200


def test_streams_end_cleanly_when_the_server_shuts_down(start: Start) -> None:
    live = start()
    ended: list[float] = []

    def read() -> None:
        with httpx.stream("GET", f"{live.url}/api/v1/events/stream", timeout=30) as r:
            for _ in sse_messages(r):
                pass
        ended.append(time.monotonic())

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 5
    while not live.services.feed.followers:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with _ws(live) as ws:
        _init(ws)
        ws.send(json.dumps(_subscribe("1", "subscription { events { cursor } }")))
        time.sleep(0.2)
        took = live.stop()
        with pytest.raises(ConnectionClosed) as closed:  # 1012: service restart, reconnect
            _next_message(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    reader.join(5)
    assert ended and took < 5, took


# ----------------------------------------------------------- retention


def test_pruned_cursors_get_410_everywhere(start: Start, store_of: Settings | None) -> None:
    live = start(store_of, event_retention_max=2, event_prune_every_seconds=0.05)
    for i in range(5):
        live.ingest(batch("cmdb", f"s{i}"))
    with httpx.Client(base_url=live.url, timeout=10) as client:
        deadline = time.monotonic() + 10
        while (oldest := client.get("/api/v1/events").json()["oldestSeq"]) < 4:  # keeps 4, 5
            assert time.monotonic() < deadline, "the server did not prune"
            time.sleep(0.05)
        for r in (
            client.get("/api/v1/events?after=0"),
            client.get("/api/v1/events/stream?after=1"),
            client.get("/api/v1/events/stream", headers={"Last-Event-ID": "0"}),
        ):
            assert r.status_code == 410, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert f"from after={oldest - 1}" in r.json()["detail"]
        gql = client.post(
            "/graphql", json={"query": f'{{ events(after: "{cursor(0)}") {{ oldestSeq }} }}'}
        )
        assert gql.json()["errors"][0]["extensions"]["code"] == "GONE"
        # without a cursor the stream starts at the oldest event held
        with client.stream("GET", "/api/v1/events/stream") as r:
            got = events_only(sse_messages(r), 1)
            assert got[0]["seq"] == oldest
    with _ws(live) as ws:
        _init(ws)
        query = "subscription($a: String) { events(after: $a) { cursor } }"
        ws.send(json.dumps(_subscribe("1", query, {"a": cursor(0)})))
        answer = _next_message(ws)
        assert answer["payload"]["errors"][0]["extensions"]["code"] == "GONE"
        assert _next_message(ws) == {"id": "1", "type": "complete"}


async def test_events_pruned_while_a_follower_lags_end_it_with_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_module, "FOLLOW_PAGE", 1)
    async with EmbeddedStore(tmp_path / "g.db") as store:
        engine = IngestEngine(store, IngestPolicy())
        for i in range(3):
            await engine.ingest(IngestBatch.model_validate(batch("cmdb", f"s{i}")))
        hub = FeedHub(max_followers=1, poll_seconds=1, heartbeat_seconds=10, stream_max_seconds=0)

        async def read(query: EventQuery, first: int, after: int) -> Any:
            return await store.events(query, first=first, after=after)

        items = follow(hub, read, EventQuery(), 0)
        first = await anext(items)
        assert getattr(first, "seq", None) == 1
        await store.prune_events(keep=1)  # seqs 1 and 2 go; the follower has read only 1
        gone = await anext(items)
        assert gone == Gone(1, 3)
        frame = _sse(gone)
        assert frame.startswith(b"event: gone\ndata: ") and b'"oldestSeq":3' in frame
        with pytest.raises(StopAsyncIteration):
            await anext(items)


# ------------------------------------------------------- subscriptions


def _ws(live: LiveServer, **kwargs: Any) -> ClientConnection:
    url = live.url.replace("http://", "ws://") + "/graphql"
    return connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10, **kwargs)  # type: ignore[list-item]


def _init(ws: ClientConnection, payload: dict[str, Any] | None = None) -> None:
    ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
    assert json.loads(ws.recv(10)) == {"type": "connection_ack"}


def _subscribe(op: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables}}


def _next_message(ws: ClientConnection) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(ws.recv(10))
    return found


SUBSCRIBE = "subscription($a: String) { events(after: $a) { cursor node { seq op source } } }"


def test_a_subscription_follows_commits_with_a_token_from_connection_init(
    start: Start, store_of: Settings | None, tmp_path: Path
) -> None:
    tokens = TokenStore(tmp_path / "tokens.db")
    _, reader = tokens.create("portal", Scope.READ)
    _, writer = tokens.create("importer", Scope.WRITE)
    tokens.close()
    live = start(store_of)
    live.ingest(batch("cmdb", "a1"), token=writer)
    with _ws(live) as ws:  # no token: refused when it says who it is
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    with _ws(live) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer x"}}))
        with pytest.raises(ConnectionClosed):
            ws.recv(10)
    with _ws(live) as ws:
        _init(ws, {"authorization": f"Bearer {reader}"})
        ws.send(json.dumps(_subscribe("s", SUBSCRIBE)))
        first = _next_message(ws)
        assert first["type"] == "next" and first["id"] == "s"
        edge = first["payload"]["data"]["events"]
        assert edge["node"]["source"] == "cmdb"
        live.ingest(batch("itsm", "b1"), token=writer)
        second = _next_message(ws)["payload"]["data"]["events"]
        assert second["node"]["source"] == "itsm"
        ws.send(json.dumps({"id": "s", "type": "complete"}))
        # queries and mutations do not run over the websocket (POST /graphql does)
        ws.send(json.dumps(_subscribe("q", "{ events(first: 1) { oldestSeq } }")))
        refused = _next_message(ws)
        assert refused["type"] == "error" and refused["id"] == "q", refused
    # the token in the upgrade request's header; resuming after an edge's cursor
    with _ws(live, additional_headers={"authorization": f"Bearer {reader}"}) as ws:
        _init(ws)
        ws.send(json.dumps(_subscribe("s", SUBSCRIBE, {"a": edge["cursor"]})))
        resumed = _next_message(ws)["payload"]["data"]["events"]
        assert resumed["node"]["seq"] == second["node"]["seq"]
    deadline = time.monotonic() + 5
    while live.services.feed.followers:
        assert time.monotonic() < deadline, "a subscription outlived its socket"
        time.sleep(0.02)


def test_a_revoked_token_ends_its_subscription(start: Start, tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path / "tokens.db")
    _, reader = tokens.create("portal", Scope.READ)
    live = start()
    with _ws(live) as ws:
        _init(ws, {"authorization": f"Bearer {reader}"})
        ws.send(json.dumps(_subscribe("s", SUBSCRIBE)))
        time.sleep(0.1)
        tokens.revoke("portal")
        answer = _next_message(ws)
        assert answer["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert _next_message(ws) == {"id": "s", "type": "complete"}
    tokens.close()


def test_production_limits_apply_to_subscriptions(start: Start) -> None:
    live = start()
    with _ws(live) as ws:
        _init(ws)
        ws.send(json.dumps(_subscribe("a", "subscription { evnts { cursor } }")))
        answer = _next_message(ws)
        text = json.dumps(answer)
        assert answer["type"] == "error" and "Did you mean" not in text and "events" not in text
        ws.send(json.dumps(_subscribe("b", "subscription { __schema { types { name } } }")))
        assert _next_message(ws)["type"] == "error"  # no introspection outside development
        huge = "subscription { events { " + "cursor " * 5000 + "} }"  # over the token limit
        ws.send(json.dumps(_subscribe("c", huge)))
        with pytest.raises(ConnectionClosed) as closed:  # refused unparsed
            _next_message(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
        assert "tokens" in closed.value.rcvd.reason
        assert live.services.feed.followers == 0


def test_a_subscription_that_does_not_parse_closes_the_socket_with_the_error(
    start: Start,
) -> None:
    live = start()
    with _ws(live) as ws:  # graphql-transport-ws: 4400 with the syntax error
        _init(ws)
        ws.send(json.dumps(_subscribe("a", "subscription { events(")))
        with pytest.raises(ConnectionClosed) as closed:
            _next_message(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    assert closed.value.rcvd.reason.startswith("Syntax Error"), closed.value.rcvd.reason
    assert live.services.feed.followers == 0


def test_websockets_opened_by_pages_of_other_sites_are_refused(start: Start) -> None:
    live = start()  # local mode: any local page could otherwise act as admin
    for origin in ("http://evil.example", "null"):
        with pytest.raises(InvalidStatus) as refused:
            _ws(live, origin=origin)
        assert refused.value.response.status_code == 403
    with _ws(live, origin=live.url) as ws:  # type: ignore[arg-type]
        _init(ws)
