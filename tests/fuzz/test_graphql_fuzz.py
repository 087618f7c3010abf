"""Schemathesis over GraphQL, from the exported SDL (``schema/schema.graphql``), in-process.

The app runs in production mode (no introspection), so the schema comes from
the exported file, as clients get it. Every root field, queries and mutations,
gets generated documents with generated arguments. What must hold:

* no 5xx, and no error masked as ``Unexpected error.``: that is what an
  exception graphsvc did not raise on purpose becomes (see
  ``graphsvc.api.graphql.guards``). Schemathesis's own ``not_a_server_error``
  check is not used for GraphQL: it counts every execution error with a
  ``path`` as a server error, but graphsvc answers bad arguments (an unknown
  global id, a malformed cursor) with such errors, each with a code
  (``BAD_ID``, ``BAD_CURSOR``), as GraphQL services do;
* every answer is a GraphQL response: a JSON object with ``data`` and/or
  ``errors``, each error an object with a ``message`` string;
* no Python traceback (or exception class path) in any answer;
* a rejected mutation (``errors``, non-empty ``userErrors``, or a null
  ``summary``/``run``) leaves the store exactly as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.fuzz.apps import BASE_URL, FuzzApp, build_app
from tests.fuzz.campaign import budget, count

SDL = Path(__file__).parents[2] / "schema" / "schema.graphql"

APP = build_app("graphql")
schema = schemathesis.graphql.from_path(SDL)
schema.app = APP.app
schema.config.update(base_url=f"{BASE_URL}/graphql")

MASKED = "Unexpected error."
LEAKS = ("Traceback (most recent call last)", 'File "/', "graphsvc.", "sqlite3.")


@pytest.fixture(scope="module", autouse=True)
def graphql_app() -> Iterator[FuzzApp]:
    APP.load_small_graph()
    yield APP
    APP.close()


def rejected(body: dict[str, Any]) -> bool | None:
    """Whether a mutation was refused: True, False, or None when the selection cannot tell."""
    if body.get("errors"):
        return True
    verdict: bool | None = None
    for payload in (body.get("data") or {}).values():
        if not isinstance(payload, dict):
            return True
        if payload.get("userErrors"):
            return True
        for result in ("summary", "run"):
            if result in payload:
                if payload[result] is None:
                    return True
                verdict = False
        if payload.get("userErrors") == []:
            verdict = False
    return verdict


@schema.parametrize()
@settings(
    max_examples=budget("graphql"),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
def test_graphql(case: schemathesis.Case, graphql_app: FuzzApp) -> None:
    count("graphql")
    query = str((case.body or {}).get("query", "")) if isinstance(case.body, dict) else ""
    mutation = query.lstrip().startswith("mutation")
    before = graphql_app.snapshot() if mutation else None
    response = case.call(timeout=30)
    for leak in LEAKS:
        assert leak not in response.text, f"{leak!r} in the answer: {response.text[:500]}"
    assert response.status_code < 500, response.text[:500]
    body = response.json()
    assert isinstance(body, dict), body
    assert "data" in body or "errors" in body, body
    for error in body.get("errors") or []:
        assert isinstance(error, dict) and isinstance(error.get("message"), str), error
        assert error["message"].strip(), error
        assert error["message"] != MASKED, f"an unexpected error (masked): {error}"
    if before is not None and rejected(body):
        after = graphql_app.snapshot()
        changed = {t: (before[t], after.get(t)) for t in before if before[t] != after.get(t)}
        assert not changed, (
            f"a refused mutation wrote to the store: {changed}\n{query[:500]}\n"
            f"{json.dumps(body)[:500]}"
        )
