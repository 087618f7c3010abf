"""Bulk loads that finish (issue 17, item 4).

An NDJSON stream is bounded by an idle timeout between lines, not by the request
deadline; a cut stream (idle, client gone, bad batch) finishes its own run
incomplete with the count of batches it applied; an open run nobody feeds is
abandoned; a JSON batch too big for one request is refused before any work.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest

from graphsvc.ingest.abandon import ABANDONED_BY, IdleRunWatch
from graphsvc.model.records import RunState
from tests.api.conftest import Api, MakeApi
from tests.api.serving import chain_batch, serve


def lines(n: int, start: int = 0) -> list[bytes]:
    return [
        orjson.dumps({"kind": "Team", "key": f"team-{i}", "name": f"Team {i}"}) + b"\n"
        for i in range(start, start + n)
    ]


async def test_a_json_batch_too_big_for_one_request_is_refused_before_any_work(
    make_api: MakeApi,
) -> None:
    api: Api = await make_api(json_batch_max_items=100)
    before = await api.services.store.stats()
    r = await api.client.post("/api/v1/ingest", json=chain_batch(80))  # 80 + 79 items
    assert r.status_code == 413, r.text
    detail = r.json()["detail"]
    assert "159 items" in detail and "at most 100" in detail and "NDJSON" in detail
    assert await api.services.store.stats() == before
    assert (await api.client.post("/api/v1/ingest", json=chain_batch(50))).status_code == 200


async def test_an_idle_stream_is_ended_and_its_run_finished_incomplete(
    make_api: MakeApi,
) -> None:
    api: Api = await make_api(stream_idle_seconds=0.5)

    async def body() -> AsyncIterator[bytes]:
        for line in lines(4):
            yield line
        await asyncio.sleep(2)  # then nothing: the client hangs
        yield lines(1, 99)[0]

    r = await api.client.post(
        "/api/v1/ingest",
        params={"source": "slowpoke", "batchSize": "2"},
        content=body(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 408, r.text
    assert "sent nothing for 0.5 s" in r.json()["detail"]
    assert "2 batch(es) were applied" in r.json()["detail"]
    [run] = await api.services.store.runs(source="slowpoke")
    assert run.state is RunState.INCOMPLETE and run.batches == 2
    assert (await api.services.store.stats()).entities == 4


async def test_a_slow_stream_is_not_cut_by_the_request_deadline(make_api: MakeApi) -> None:
    api: Api = await make_api(request_timeout_seconds=1, stream_idle_seconds=5)

    async def body() -> AsyncIterator[bytes]:
        for line in lines(8):
            yield line
            await asyncio.sleep(0.3)  # 2.4 s in all, a line every 0.3 s

    started = time.monotonic()
    r = await api.client.post(
        "/api/v1/ingest",
        params={"source": "trickle", "batchSize": "3", "complete": "true"},
        content=body(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert time.monotonic() - started > 2
    assert r.status_code == 200, r.text
    assert r.json()["batches"] == 3 and r.json()["runState"] == "complete"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("bulk"), durability="normal") as base:
        yield base


def test_a_stream_whose_client_goes_away_finishes_its_run_incomplete(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /api/v1/ingest?source=vanishing&batchSize=2 HTTP/1.1\r\n"
            b"Host: localhost\r\nContent-Type: application/x-ndjson\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for line in lines(5):
            sock.sendall(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        time.sleep(1.0)  # the first two batches are applied
    deadline = time.monotonic() + 10
    while True:
        runs = httpx.get(f"{server}/api/v1/runs", params={"source": "vanishing"}).json()
        if (runs and runs[0]["state"] != "open") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    [run] = runs
    assert run["state"] == "incomplete" and run["batches"] == 2, run


async def test_an_open_run_nobody_feeds_is_abandoned(api: Api) -> None:
    svc = api.services
    now = [0.0]
    watch = IdleRunWatch(after_seconds=60, clock=lambda: now[0])
    idle = await svc.engine.start_run("forgotten", "default")
    fed = await svc.engine.start_run("busy", "default")
    assert await watch.sweep(svc.store, svc.engine) == []
    now[0] = 40.0
    batch = {"source": "busy", "runId": fed.run_id, "entities": [{"kind": "Team", "key": "b"}]}
    assert (await api.client.post("/api/v1/ingest", json=batch)).status_code == 200
    assert await watch.sweep(svc.store, svc.engine) == []
    now[0] = 61.0
    assert await watch.sweep(svc.store, svc.engine) == [idle.run_id]
    runs = {r.run_id: r for r in await svc.store.runs(first=10)}
    assert runs[idle.run_id].state is RunState.INCOMPLETE
    assert runs[fed.run_id].state is RunState.OPEN  # its count moved at 40 s
    now[0] = 101.0
    assert await watch.sweep(svc.store, svc.engine) == [fed.run_id]
    history = await api.gql('{ runs(source: "forgotten") { runId state } }')
    assert history["data"]["runs"][0]["state"] == "incomplete"
    events = await svc.store.runs(source="forgotten")
    assert events[0].finished is not None and ABANDONED_BY.startswith("graphsvc")
