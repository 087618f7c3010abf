"""Property: any dependency graph between resources (cycles included) maps to a valid batch."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from graphsvc.ingest.importer import ImporterOptions
from graphsvc.model.batch import IngestBatch
from graphsvc.model.validation import validate_batch
from importers.terraform import TerraformImporter

NAMES = [f"g{i}" for i in range(6)]


def group_id(index: int) -> str:
    return f"sg-{index:017x}"


def state(edges: set[tuple[int, int]], counts: list[int]) -> dict[str, object]:
    resources = []
    for index, name in enumerate(NAMES):
        instances = []
        for n in range(counts[index]):
            dependencies = [
                f"aws_security_group.{NAMES[t]}" for s, t in sorted(edges) if s == index
            ]
            instances.append(
                {
                    "index_key": n,
                    "attributes": {"id": group_id(index * 10 + n)},
                    "dependencies": dependencies,
                }
            )
        resources.append(
            {
                "mode": "managed",
                "type": "aws_security_group",
                "name": name,
                "provider": "provider.aws",
                "instances": instances,
            }
        )
    return {"version": 4, "serial": 1, "lineage": "x", "resources": resources}


@settings(max_examples=60, deadline=None)
@given(
    edges=st.sets(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=20),
    counts=st.lists(st.integers(0, 2), min_size=6, max_size=6),
)
def test_any_dependency_graph(edges: set[tuple[int, int]], counts: list[int]) -> None:
    importer = TerraformImporter()
    options = ImporterOptions(scope="p")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.tfstate"
        path.write_text(json.dumps(state(edges, counts)))
        result = importer.transform([(path, importer.parse(path, options))], options)
    batch = IngestBatch(
        source="t", entities=list(result.entities), relations=list(result.relations)
    )
    assert validate_batch(batch) == []
    assert len(result.entities) == sum(counts)
    found = {(r.from_.key, r.to.key) for r in result.relations}
    assert all(a != b for a, b in found)
    expected = {
        (f"aws_security_group/{group_id(s * 10 + i)}", f"aws_security_group/{group_id(t * 10 + j)}")
        for s, t in edges
        for i in range(counts[s])
        for j in range(counts[t])
        if (s, i) != (t, j)
    }
    assert found == expected
    # a dependency on a resource with no instances names nothing in the state
    missing = {(s, t) for s, t in edges if counts[s] and not counts[t]}
    assert len(result.warnings) == sum(counts[s] for s, _ in missing)
