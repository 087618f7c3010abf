"""Two-way sync end to end (PRODUCT.md 8, issue 20 item 4), on both stores.

Two small real HTTP servers stand for a PPM tool and an ITSM tool. Each keeps
its own copy of the tasks, writes to graphsvc through ``POST /api/v1/ingest``
under its own source with its own write token, and receives graphsvc's changes
through its own webhook subscription, filtered to ``Task`` events with
``excludeSources`` set to its own source. Every delivery is checked with the
``standardwebhooks`` package before the tool acts on it; a delivery that does
not verify is answered 401 and counted.

graphsvc is the real app served by uvicorn on a loopback port (its lifespan
runs the delivery worker), so the tools, which act inside their webhook
handlers as real tools do, reach it over real sockets.

The story: the PPM tool plans three tasks; the ITSM tool receives them, takes
them into work (status ``in_progress``) and writes that back; the PPM tool
receives each change once and writes its whole copy back, which changes
nothing and so echoes nowhere. The ITSM tool holds ``status`` (priority 10):
when the PPM tool marks a task done, the ingest answer lists that write as not
applied, naming ``itsm`` as holder, the effort sent beside it is applied, and the
PPM tool corrects its copy to the kept value. Last, the ITSM tool closes the
task and the PPM tool receives that. Deliveries are counted exactly, raw and
distinct; no event reaches the tool that wrote it, and every event reaches the
other.

A second test has the ITSM tool fail to acknowledge a delivery it has already
acted on: graphsvc sends the same delivery again (same ``webhook-id``), the tool
writes the same values back, which is no change, so the PPM tool still receives
the change once, without deduplicating anything.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from standardwebhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError
from strawberry import relay

from graphsvc.api.app import create_app
from graphsvc.api.tokens import Scope, TokenStore
from graphsvc.api.webhooks.delivery import RETRY_DELAYS
from graphsvc.config import Settings

KEY = "hZ3r0Ha5VxJ8lU0a6tqg2mF4n9Vd8Z1cW2eYk7bQpXs="  # a Fernet key (tests only)
PPM, ITSM = "ppm", "itsm"
PRIORITIES = {ITSM: 10}  # the ITSM tool holds what it sets: status once it has set it


# ------------------------------------------------------------------ graphsvc


class ShiftedClock:
    """Wall time plus an offset a test moves: retries due in 5 s come at once."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    async def sleep(self, seconds: float, wake: anyio.Event) -> None:
        with anyio.move_on_after(min(seconds, 0.02)):
            await wake.wait()


@dataclass
class Graphsvc:
    """graphsvc served on loopback, with an admin token and one write token per tool."""

    url: str
    admin: httpx.Client
    tokens: dict[str, str]
    clock: ShiftedClock

    def events(self) -> list[dict[str, Any]]:
        r = self.admin.get("/api/v1/events", params={"limit": 1000})
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    def subscribe(self, tool: Tool) -> str:
        """Subscribe ``tool`` to Task events without its own writes; give it the secret."""
        r = self.admin.post(
            "/api/v1/webhooks",
            json={
                "url": tool.url,
                "description": f"{tool.source} tool",
                "filter": {"kinds": ["Task"], "excludeSources": [tool.source]},
            },
        )
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["filter"]["excludeSources"] == [tool.source]
        tool.secret = made["secret"]
        webhook_id: str = made["id"]
        return webhook_id

    def hook(self, webhook_id: str) -> dict[str, Any]:
        r = self.admin.get(f"/api/v1/webhooks/{webhook_id}")
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        return found

    def delivery_log(self, webhook_id: str) -> list[dict[str, Any]]:
        r = self.admin.get(f"/api/v1/webhooks/{webhook_id}/deliveries", params={"limit": 100})
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items[::-1]  # oldest first

    def task_status(self, key: str) -> Any:
        r = self.admin.get(f"/api/v1/entities/Task/{key}")
        assert r.status_code == 200, r.text
        return r.json()["attributes"].get("status")


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free loopback port; yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        until(lambda: server.started or not thread.is_alive(), "graphsvc to start")
        assert thread.is_alive(), "graphsvc did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def graphsvc(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Graphsvc]:
    store: dict[str, Any] = {}
    if backend == "neo4j":
        neo4j: Settings = request.getfixturevalue("empty_neo4j")
        store = {
            k: getattr(neo4j, k)
            for k in ("store", "neo4j_uri", "neo4j_user", "neo4j_password", "neo4j_database")
        }
    tokens_file = tmp_path / "tokens.db"
    tokens = TokenStore(tokens_file)
    admin = tokens.create("sync-admin", Scope.ADMIN)[1]
    writers = {tool: tokens.create(f"{tool}-tool", Scope.WRITE)[1] for tool in (PPM, ITSM)}
    settings = Settings(
        data=tmp_path / "g.db",
        tokens_file=tokens_file,
        auth="tokens",
        durability="normal",
        log_format="json",
        source_priorities=PRIORITIES,
        webhook_key=KEY,
        webhook_allow_private=True,  # the tools listen on loopback
        webhook_poll_seconds=0.02,
        **store,
    )
    clock = ShiftedClock()
    with (
        served(create_app(settings, webhook_clock=clock)) as url,
        httpx.Client(
            base_url=url, headers={"authorization": f"Bearer {admin}"}, timeout=10
        ) as client,
    ):
        yield Graphsvc(url, client, writers, clock)


# --------------------------------------------------------------------- tools


@dataclass
class Delivery:
    """One POST a tool received."""

    webhook_id: str
    events: list[dict[str, Any]]
    verified: bool
    answered: int


@dataclass
class Tool:
    """A PPM or ITSM tool: its copy of the tasks, a webhook receiver, a client to graphsvc.

    ``react`` is what the tool does with the verified events of one delivery
    (inside the handler, before it answers); ``answer`` is the status it
    answers after reacting (a test makes it fail to acknowledge).
    """

    source: str
    graphsvc: httpx.Client
    react: Callable[[Tool, list[dict[str, Any]]], None]
    secret: str = ""
    port: int = 0
    copy: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    applied: list[tuple[str, str, Any]] = field(default_factory=list)
    """Changes from graphsvc the tool applied to its copy: (key, field, value)."""
    errors: list[str] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    """Statuses to answer the next deliveries with (then 204)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphsvc-events"

    # ---- reading and writing graphsvc, as the tool's integration does
    def ingest(self, entities: list[dict[str, Any]]) -> dict[str, Any]:
        """Write ``entities`` under the tool's own source; return the ingest answer."""
        r = self.graphsvc.post("/api/v1/ingest", json={"source": self.source, "entities": entities})
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    def task(self, item_id: int) -> dict[str, Any]:
        """The task an event names (events carry ``itemId``: read its key and attributes)."""
        node_id = relay.GlobalID("Task", str(item_id))
        r = self.graphsvc.post(
            "/graphql",
            json={
                "query": "query($id: ID!) { node(id: $id) { ... on Task { key name attributes } } }",
                "variables": {"id": str(node_id)},
            },
        )
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()["data"]["node"]
        return found

    def apply(self, event: dict[str, Any]) -> str:
        """Apply an updated event's attribute changes to the copy; return the task's key."""
        key: str = self.task(event["itemId"])["key"]
        for change in event["changes"]:
            name = change["field"].removeprefix("attributes.")
            self.copy.setdefault(key, {})[name] = change["new"]
            self.applied.append((key, name, change["new"]))
        return key

    # ---- receiving
    def received(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)

    def events(self) -> list[dict[str, Any]]:
        """The events of every verified delivery answered 2xx, in the order received."""
        return [e for d in self.received() if d.verified and d.answered < 300 for e in d.events]


@contextmanager
def listening(tool: Tool) -> Iterator[Tool]:
    """Run ``tool``'s webhook receiver, a real HTTP server on loopback."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = dict(self.headers.items())
            try:
                events = Verifier(tool.secret).verify(body, headers)["events"]
            except WebhookVerificationError as exc:
                tool.errors.append(f"a delivery did not verify: {exc}")
                self._answer(401, headers.get("webhook-id", ""), [], verified=False)
                return
            try:
                with tool.lock:  # one delivery at a time, as graphsvc sends them
                    tool.react(tool, events)
            except Exception as exc:  # a failing tool answers 500: graphsvc retries
                tool.errors.append(f"{type(exc).__name__}: {exc}")
                self._answer(500, headers["webhook-id"], events, verified=True)
                return
            status = tool.answers.pop(0) if tool.answers else 204
            self._answer(status, headers["webhook-id"], events, verified=True)

        def _answer(
            self, status: int, webhook_id: str, events: list[dict[str, Any]], *, verified: bool
        ) -> None:
            with tool.lock:
                tool.deliveries.append(Delivery(webhook_id, events, verified, status))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tool.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tool
    finally:
        server.shutdown()
        server.server_close()


def ppm_reacts(tool: Tool, events: list[dict[str, Any]]) -> None:
    """The PPM tool takes graphsvc's changes into its plan (it never writes back here)."""
    for event in events:
        if event["op"] == "updated":
            tool.apply(event)


def itsm_reacts(tool: Tool, events: list[dict[str, Any]]) -> None:
    """The ITSM tool opens a ticket per new task, takes it into work and writes that back."""
    taken = []
    for event in events:
        if event["op"] == "created":
            task = tool.task(event["itemId"])
            tool.copy[task["key"]] = {**task["attributes"], "status": "in_progress"}
            taken.append(
                {"kind": "Task", "key": task["key"], "attributes": {"status": "in_progress"}}
            )
        elif event["op"] == "updated":
            tool.apply(event)
    if taken:
        tool.ingest(taken)


def until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def settled(gs: Graphsvc, *webhook_ids: str) -> None:
    """Wait until every subscription's cursor is at the last event: nothing more will come."""
    last = gs.events()[-1]["seq"]

    def at_last(webhook_id: str) -> bool:
        return bool(gs.hook(webhook_id)["cursor"] == last)

    for webhook_id in webhook_ids:
        until(functools.partial(at_last, webhook_id), f"{webhook_id} at seq {last}")


# --------------------------------------------------------------------- tests

PLAN = {
    "PRJ-7/T-1": {"status": "open", "effortHours": 8, "origin": "ppm"},
    "PRJ-7/T-2": {"status": "open", "effortHours": 4, "origin": "ppm"},
    "PRJ-7/T-3": {"status": "open", "effortHours": 12, "origin": "ppm"},
}


def plan(ppm: Tool) -> dict[str, Any]:
    """The PPM tool plans the tasks and writes them to graphsvc."""
    ppm.copy = {k: dict(v) for k, v in PLAN.items()}
    return ppm.ingest(
        [
            {"kind": "Task", "key": k, "name": f"task {k}", "attributes": dict(v)}
            for k, v in ppm.copy.items()
        ]
    )


def test_a_ppm_tool_and_an_itsm_tool_keep_their_tasks_in_step(graphsvc: Graphsvc) -> None:
    gs = graphsvc
    with ExitStack() as stack:
        clients = {
            name: stack.enter_context(
                httpx.Client(
                    base_url=gs.url,
                    headers={"authorization": f"Bearer {gs.tokens[name]}"},
                    timeout=10,
                )
            )
            for name in (PPM, ITSM)
        }
        ppm = stack.enter_context(listening(Tool(PPM, clients[PPM], ppm_reacts)))
        itsm = stack.enter_context(listening(Tool(ITSM, clients[ITSM], itsm_reacts)))
        ppm_hook, itsm_hook = gs.subscribe(ppm), gs.subscribe(itsm)

        # 1. the PPM tool plans three tasks; the ITSM tool takes them into work and writes
        #    that back; the PPM tool receives the three status changes
        assert plan(ppm)["entitiesCreated"] == 3
        until(lambda: len(ppm.applied) >= 3, "the PPM tool to receive the status changes")
        assert sorted(ppm.applied) == [(k, "status", "in_progress") for k in sorted(PLAN)]
        assert {k: v["status"] for k, v in itsm.copy.items()} == dict.fromkeys(PLAN, "in_progress")

        # 2. the PPM tool writes its whole copy back: nothing changes, nothing echoes
        echo = ppm.ingest(
            [{"kind": "Task", "key": k, "attributes": dict(v)} for k, v in ppm.copy.items()]
        )
        assert (echo["entitiesUnchanged"], echo["entitiesUpdated"], echo["unapplied"]) == (
            3,
            0,
            [],
        )

        # 3. the ITSM tool holds status: the PPM tool's "done" is not applied, the effort
        #    sent with it is; the answer names the holder and the PPM tool corrects its copy
        ppm.copy["PRJ-7/T-2"].update(status="done", effortHours=16)
        sent = [{"kind": "Task", "key": "PRJ-7/T-2", "attributes": ppm.copy["PRJ-7/T-2"]}]
        answer = ppm.ingest(sent)
        assert answer["entitiesUpdated"] == 1 and answer["unappliedTotal"] == 1
        [refused] = answer["unapplied"]
        assert refused == {
            "item": "entity",
            "section": "entities",
            "index": 0,
            "label": "Task/PRJ-7/T-2",
            "field": "attributes.status",
            "sent": "done",
            "kept": "in_progress",
            "holder": ITSM,
            "holderPriority": 10,
            "sender": PPM,
            "senderPriority": 0,
            "reason": "source 'itsm' (priority 10) holds attributes.status; "
            "source 'ppm' (priority 0) may not change it",
        }
        for write in answer["unapplied"]:  # what the losing tool does with the answer
            key = sent[write["index"]]["key"]
            ppm.copy[key][write["field"].removeprefix("attributes.")] = write["kept"]
        assert ppm.copy["PRJ-7/T-2"] == {
            "status": "in_progress",
            "effortHours": 16,
            "origin": "ppm",
        }
        assert gs.task_status("PRJ-7/T-2") == "in_progress"
        until(lambda: len(itsm.applied) >= 1, "the ITSM tool to receive the new effort")
        assert itsm.applied == [("PRJ-7/T-2", "effortHours", 16)]

        # 4. the ITSM tool closes the task; the PPM tool receives it
        itsm.copy["PRJ-7/T-2"]["status"] = "done"
        assert (
            itsm.ingest([{"kind": "Task", "key": "PRJ-7/T-2", "attributes": {"status": "done"}}])[
                "entitiesUpdated"
            ]
            == 1
        )
        until(lambda: len(ppm.applied) >= 4, "the PPM tool to receive the closure")
        assert ppm.applied[3] == ("PRJ-7/T-2", "status", "done")

        # every event is delivered; afterwards nothing more can come
        settled(gs, ppm_hook, itsm_hook)
        feed = gs.events()
        assert [(e["op"], e["source"]) for e in feed] == [
            *[("created", PPM)] * 3,
            *[("updated", ITSM)] * 3,
            ("updated", PPM),
            ("updated", ITSM),
        ]
        assert [e["actor"] for e in feed] == [
            *["ppm-tool"] * 3,
            *["itsm-tool"] * 3,
            "ppm-tool",
            "itsm-tool",
        ]

        # exact counts, raw and distinct: each tool got two deliveries, each answered 2xx
        # at the first attempt, so no delivery was sent twice and nobody had to dedupe
        for tool, hook_id in ((ppm, ppm_hook), (itsm, itsm_hook)):
            got = tool.received()
            assert tool.errors == []
            assert [len(d.events) for d in got] == [3, 1], tool.source
            assert all(d.verified and d.answered == 204 for d in got)
            assert len({d.webhook_id for d in got}) == 2
            seqs = [e["seq"] for e in tool.events()]
            assert seqs == sorted(set(seqs)), "each event once, in order"
            log = gs.delivery_log(hook_id)
            assert [(d["attempt"], d["succeeded"]) for d in log] == [(1, True), (1, True)]
            assert [d["messageId"] for d in log] == [d.webhook_id for d in got]
        # neither side receives its own writes, and every event reaches the other side
        assert all(e["source"] != PPM for e in ppm.events())
        assert all(e["source"] != ITSM for e in itsm.events())
        delivered = sorted(e["seq"] for e in ppm.events() + itsm.events())
        assert delivered == [e["seq"] for e in feed]
        assert [(k, f, v) for k, f, v in ppm.applied].count(("PRJ-7/T-2", "status", "done")) == 1

        # both copies agree with graphsvc
        for key in PLAN:
            status = gs.task_status(key)
            assert ppm.copy[key]["status"] == itsm.copy[key]["status"] == status
        assert gs.task_status("PRJ-7/T-2") == "done"


def test_a_delivery_acted_on_but_not_acknowledged_reaches_the_other_tool_once(
    graphsvc: Graphsvc,
) -> None:
    gs = graphsvc
    with ExitStack() as stack:
        clients = {
            name: stack.enter_context(
                httpx.Client(
                    base_url=gs.url,
                    headers={"authorization": f"Bearer {gs.tokens[name]}"},
                    timeout=10,
                )
            )
            for name in (PPM, ITSM)
        }
        ppm = stack.enter_context(listening(Tool(PPM, clients[PPM], ppm_reacts)))
        itsm = stack.enter_context(listening(Tool(ITSM, clients[ITSM], itsm_reacts)))
        ppm_hook, itsm_hook = gs.subscribe(ppm), gs.subscribe(itsm)
        itsm.answers = [503]  # acts on the first delivery, then fails to acknowledge it

        plan(ppm)
        until(lambda: len(ppm.applied) >= 3, "the PPM tool to receive the status changes")
        until(lambda: gs.hook(itsm_hook)["attempts"] == 1, "the failed attempt recorded")
        gs.clock.offset += RETRY_DELAYS[0] * 1.25 + 0.1  # the retry is due (5 s + jitter)
        until(lambda: len(itsm.received()) == 2, "the retry")
        settled(gs, ppm_hook, itsm_hook)

        first, retry = itsm.received()
        assert (first.answered, retry.answered) == (503, 204)
        assert retry.webhook_id == first.webhook_id and retry.events == first.events
        log = gs.delivery_log(itsm_hook)
        assert [(d["attempt"], d["succeeded"]) for d in log] == [(1, False), (2, True)]
        # the ITSM tool wrote "in_progress" twice; the second write changed nothing, so the
        # PPM tool received one delivery of three events and applied each change once
        assert [e["source"] for e in gs.events()] == [PPM] * 3 + [ITSM] * 3
        assert [len(d.events) for d in ppm.received()] == [3]
        assert sorted(ppm.applied) == [(k, "status", "in_progress") for k in sorted(PLAN)]
        assert itsm.errors == ppm.errors == []
