"""Schemathesis over the REST API's OpenAPI document, in-process (ASGI).

Every operation of ``/openapi.json`` gets generated requests, valid and invalid
(schemathesis's positive and negative modes). What must hold, whatever is sent:

* no 5xx (``not_a_server_error``), no Python traceback in any body;
* status codes, content types, headers and bodies conform to the document;
* invalid requests are refused (``negative_data_rejection``);
* a refused write (any 4xx answer to a POST) leaves the store exactly as it was:
  every table of the SQLite file has the same number of rows before and after.

Checks left out, and why: the authentication checks (``ignored_auth`` and the
like) are meaningless here: with no token configured the app serves loopback
clients as admin (local mode), so there is no authentication to ignore; tokens
are tested in ``tests/api/test_auth.py``. ``positive_data_acceptance`` is off
because a batch can match the schema and still be refused for what it says
(an unknown relation endpoint, an attribute of the wrong type for its kind):
a 4xx problem document is then the right answer, and it is checked like any.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.apps import BASE_URL, SMALL, FuzzApp, build_app
from tests.fuzz.campaign import budget, count
from tests.fuzz.mutations import dump_json, edit_tree

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


# The NDJSON form of POST /ingest is a string in the document: send it as text.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

APP = build_app("rest")
schema = schemathesis.openapi.from_dict(APP.app.openapi())
schema.app = APP.app
schema.config.update(base_url=BASE_URL)


@pytest.fixture(scope="module", autouse=True)
def rest_app() -> Iterator[FuzzApp]:
    APP.load_small_graph()
    yield APP
    APP.close()


@schema.parametrize()
@settings(
    max_examples=budget("rest"),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
def test_rest_api(case: schemathesis.Case, rest_app: FuzzApp) -> None:
    count("rest")
    _short_long_polls(case)
    writes = case.method.upper() == "POST" and case.path != "/api/v1/entities/resolve"
    before = rest_app.snapshot() if writes else None
    response = case.call(timeout=30)
    assert "Traceback (most recent call last)" not in response.text
    case.validate_response(response, checks=CHECKS)
    if before is not None and 400 <= response.status_code < 500:
        after = rest_app.snapshot()
        changed = {t: (before[t], after.get(t)) for t in before if before[t] != after.get(t)}
        assert not changed, (
            f"{case.method} {case.path} was refused ({response.status_code}: "
            f"{response.text[:300]}) but wrote to the store: {changed}"
        )


def _short_long_polls(case: schemathesis.Case) -> None:
    """Cap a valid long-poll ``wait`` at a tenth of a second.

    Generated waits of up to 30 s on a feed with nothing new made this test take
    over a minute and a half; the long poll itself is tested in
    ``tests/api/test_events_api.py``. Invalid waits (text, negative, too large) are
    left as generated, so that their refusal is still checked.
    """
    query = case.query or {}
    if "wait" not in query or case.meta is None:
        return
    component = case.meta.components.get(ParameterLocation.QUERY)
    if component is None or component.mode is not GenerationMode.POSITIVE:
        return  # a negative case: its wait must reach the server as generated
    query["wait"] = 0.1


# ------------------------------------------------------------- NDJSON streams

SMALL_ITEMS: list[dict[str, Any]] = [
    *json.loads(SMALL.read_text())["entities"],
    *json.loads(SMALL.read_text())["relations"],
]


class _Drawer:
    """Gives a composite's ``draw`` the shape of ``st.data()`` (what the mutations take)."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw


@st.composite
def ndjson_streams(draw: st.DrawFn) -> tuple[bytes, int]:
    """A stream of item lines: real items, mutated items, garbage and blank lines."""
    lines: list[bytes] = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["item", "item", "item", "mutated", "garbage", "blank"]))
        if kind == "blank":
            lines.append(b"")
            continue
        if kind == "garbage":
            lines.append(draw(st.sampled_from([b"[1]", b"nul\x00l", b"{", b'"x"', b"\xff\xfe"])))
            continue
        item = copy.deepcopy(draw(st.sampled_from(SMALL_ITEMS)))
        if kind == "mutated":
            item = edit_tree(_Drawer(draw), item)
        lines.append(dump_json(item))
    return b"\n".join(lines), draw(st.integers(1, 4))


def first_batch_end(stream: bytes, batch_size: int) -> float:
    """Line number of the last line of the first batch (inf when the stream has fewer items)."""
    items = 0
    for number, line in enumerate(stream.split(b"\n"), start=1):
        if line.strip():
            items += 1
            if items == batch_size:
                return number
    return float("inf")


@settings(
    max_examples=budget("rest"),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
@given(ndjson_streams(), st.booleans())
def test_ndjson_streams(case: tuple[bytes, int], complete: bool) -> None:
    count("rest-ndjson")
    stream, batch_size = case
    before = APP.snapshot()
    with asgi.ASGIClient(APP.app, base_url=BASE_URL) as client:
        r = client.post(
            f"/api/v1/ingest?source=ndjson-fuzz&batchSize={batch_size}&complete={complete}",
            data=stream,
            headers={"content-type": "application/x-ndjson"},
        )
        assert r.status_code in (200, 400, 413, 422), r.text
        assert "Traceback (most recent call last)" not in r.text
        if r.status_code == 200:
            return
        problem = r.json()
        assert {"title", "status", "detail"} <= problem.keys(), problem
        lines = [e["index"] for e in problem.get("errors", []) if e.get("index") is not None]
        if "; 0 applied before it" in problem["detail"] or (
            lines and min(lines) <= first_batch_end(stream, batch_size)
        ):
            assert APP.snapshot() == before, f"refused at its first batch but wrote: {problem}"
        else:  # batches before the refused one stay applied, inside a run ended incomplete
            latest = client.get("/api/v1/runs?source=ndjson-fuzz&first=1").json()
            assert latest and latest[0]["state"] == "incomplete", (latest, problem)
