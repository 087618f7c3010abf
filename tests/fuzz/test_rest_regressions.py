"""What the REST fuzzing found, pinned: each case once, with the answer it must get."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from schemathesis.python import asgi

from tests.fuzz.apps import BASE_URL, SMALL, FuzzApp, build_app

PROBLEM = "application/problem+json"


@pytest.fixture
def app() -> Iterator[FuzzApp]:
    a = build_app("regressions")
    a.load_small_graph()
    yield a
    a.close()


@pytest.fixture
def client(app: FuzzApp) -> Iterator[asgi.ASGIClient]:
    with asgi.ASGIClient(app.app, base_url=BASE_URL) as c:
        yield c


def assert_problem(r: object, status: int) -> dict[str, object]:
    assert getattr(r, "status_code", None) == status, getattr(r, "text", r)
    assert r.headers["content-type"].startswith(PROBLEM), r.headers  # type: ignore[attr-defined]
    body: dict[str, object] = r.json()  # type: ignore[attr-defined]
    assert {"title", "status", "detail"} <= body.keys(), body
    assert body["status"] == status
    return body


@pytest.mark.parametrize("source", ["", " bad", "a" * 200])
def test_a_run_with_an_unacceptable_source_is_refused_not_a_500(
    app: FuzzApp, client: asgi.ASGIClient, source: str
) -> None:
    before = app.snapshot()
    body = assert_problem(client.post("/api/v1/runs", json={"source": source}), 400)
    assert "source" in str(body["detail"])
    assert app.snapshot() == before


@pytest.mark.parametrize(
    "path", ["/api/v1/entities/resolve", "/api/v1/runs", "/api/v1/runs/x/finish"]
)
def test_a_body_that_is_not_json_gets_a_problem_document(
    client: asgi.ASGIClient, path: str
) -> None:
    r = client.post(path, data=b"\xd9J\xaf", headers={"content-type": "application/json"})
    assert_problem(r, 400)


def test_framework_errors_are_problem_documents_too(client: asgi.ASGIClient) -> None:
    assert_problem(client.get("/api/v1/nowhere"), 404)
    assert_problem(client.delete("/api/v1/runs"), 405)


@pytest.mark.parametrize("value", [0, 1, "false", "yes", None])
def test_dry_run_and_complete_must_be_json_booleans(
    app: FuzzApp, client: asgi.ASGIClient, value: object
) -> None:
    before = app.snapshot()
    for flag in ("dryRun", "complete"):
        batch = {**json.loads(SMALL.read_text()), flag: value}
        body = assert_problem(client.post("/api/v1/ingest", json=batch), 422)
        assert flag in json.dumps(body["errors"])
    assert app.snapshot() == before


@pytest.mark.parametrize(
    "stream",
    [
        b"[1, 2]\n",
        b"not json\n",
        b'{"kind": "Service"}\n',
        b'{"kind": "Service", "key": "x", "attributes": {"tier": "one"}}\n',
        b'{"type": "OWNS", "from": {"kind": "Team", "key": "nobody"},'
        b' "to": {"kind": "Service", "key": "nothing"}}\n',
    ],
)
def test_an_ndjson_stream_refused_at_its_first_batch_writes_nothing_not_even_a_run(
    app: FuzzApp, client: asgi.ASGIClient, stream: bytes
) -> None:
    before = app.snapshot()
    r = client.post(
        "/api/v1/ingest?source=fuzz&complete=true",
        data=stream,
        headers={"content-type": "application/x-ndjson"},
    )
    assert_problem(r, 422)
    assert app.snapshot() == before


def test_an_ndjson_stream_still_runs_as_one_run_and_an_empty_one_is_a_complete_run(
    app: FuzzApp, client: asgi.ASGIClient
) -> None:
    small = json.loads(SMALL.read_text())
    lines = b"\n".join(json.dumps(i).encode() for i in small["entities"] + small["relations"])
    r = client.post(
        "/api/v1/ingest?source=stream&scope=s&complete=true&batchSize=2",
        data=lines,
        headers={"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["batches"] == 5 and done["runState"] == "complete" and done["runId"]
    runs = client.get("/api/v1/runs?source=stream").json()
    assert [run["batches"] for run in runs] == [5]
    r = client.post(
        "/api/v1/ingest?source=stream&scope=s&complete=true",
        data=b"",
        headers={"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["runState"] == "complete"
    assert len(client.get("/api/v1/runs?source=stream").json()) == 2


def test_an_ndjson_stream_refused_later_keeps_the_batches_before_and_ends_its_run_incomplete(
    app: FuzzApp, client: asgi.ASGIClient
) -> None:
    good = b'{"kind": "Service", "key": "later-ok", "attributes": {"tier": 1}}'
    r = client.post(
        "/api/v1/ingest?source=partial&complete=true&batchSize=1",
        data=good + b"\nnot json\n",
        headers={"content-type": "application/x-ndjson"},
    )
    body = assert_problem(r, 422)
    assert "1 applied before it" in str(body["detail"]) or "line" in str(body["detail"])
    runs = client.get("/api/v1/runs?source=partial").json()
    assert [run["state"] for run in runs] == ["incomplete"]
    assert client.get("/api/v1/entities/Service/later-ok").status_code == 200
