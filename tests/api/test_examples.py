"""Every GraphQL example in the README and the query cookbook answers on the demo (issue 18, 4).

PRODUCT.md 5, "Examples that run": each fenced ``graphql`` block of
``README.md`` and ``docs/queries.md`` is sent, as it is written, to the app
loaded with the demo graph (``graphsvc demo``'s batches, today's date). A block
fails the test when the answer carries an error, or when it is empty: every
top-level field null, an empty list, or a connection without edges. Blocks that
declare an ``$asOf`` variable get the time just after the demo was loaded; ``$from``
and ``$to`` get that time and eight weeks later.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from graphsvc.demo import demo_batches
from tests.api.conftest import Api, MakeApi

ROOT = Path(__file__).parents[2]
DOCUMENTS = (ROOT / "README.md", ROOT / "docs" / "queries.md")
BLOCK = re.compile(r"^```graphql\n(.*?)^```", re.MULTILINE | re.DOTALL)


def examples() -> list[tuple[str, str]]:
    """Every fenced ``graphql`` block: (``document:line``, the block)."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            found.append((f"{document.name}:{line}", match.group(1)))
    return found


def _empty(value: object) -> bool:
    if value is None or value == [] or value == {}:
        return True
    if isinstance(value, dict) and "edges" in value:
        return not value["edges"]
    return False


@pytest.fixture
async def demo(make_api: MakeApi) -> tuple[Api, str]:
    api: Api = await make_api()
    for batch in demo_batches(dt.datetime.now(dt.UTC).date()):
        r = await api.client.post(
            "/api/v1/ingest",
            content=batch.model_dump_json(by_alias=True, exclude_none=True),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 200, r.text
    return api, dt.datetime.now(dt.UTC).isoformat()


def test_the_documents_hold_the_examples_they_promise() -> None:
    per_document = {d.name: len(BLOCK.findall(d.read_text(encoding="utf-8"))) for d in DOCUMENTS}
    assert per_document["queries.md"] >= 20, per_document
    assert per_document["README.md"] >= 2, per_document


async def test_every_example_answers_with_data(demo: tuple[Api, str], backend: str) -> None:
    """One demo load per backend for all the examples; every failing block is named."""
    api, loaded = demo
    later = (dt.datetime.fromisoformat(loaded) + dt.timedelta(weeks=8)).isoformat()
    offered = {"asOf": loaded, "from": loaded, "to": later}
    failures = []
    found = examples()
    for where, query in found:
        variables = {k: v for k, v in offered.items() if f"${k}" in query} or None
        body = await api.gql(query, variables)
        data = body.get("data")
        if "errors" in body:
            failures.append(f"{where}: {body['errors']}")
        elif not data or all(_empty(v) for v in data.values()):
            failures.append(f"{where}: empty answer {data}")
    assert not failures, f"{len(failures)} of {len(found)} examples failed:\n" + "\n".join(failures)
