"""A run whose source or scope the batch model refuses is an InvalidInput, not a ValidationError.

Found by fuzzing ``POST /api/v1/runs`` (tests/fuzz): ``{"source": ""}`` was a 500.
"""

from __future__ import annotations

import pytest

from graphsvc.errors import InvalidInput
from graphsvc.ingest.engine import IngestEngine
from graphsvc.store.base import GraphStore


@pytest.mark.parametrize(
    ("source", "scope", "named"),
    [
        ("", "default", "source"),
        ("-x", "default", "source"),
        ("ok", "", "scope"),
        ("a" * 129, "s", "source"),
    ],
)
async def test_start_run_refuses_unacceptable_names_and_writes_nothing(
    store: GraphStore, engine: IngestEngine, source: str, scope: str, named: str
) -> None:
    with pytest.raises(InvalidInput, match=named):
        await engine.start_run(source, scope)
    assert await store.runs(first=10) == []
