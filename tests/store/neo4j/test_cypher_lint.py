"""Every generated statement passes Neo4j's own Cypher front end (parser and semantic
analysis of ``@neo4j-cypher/language-support``, Cypher 5), run through node.

Skipped unless node and the package are installed:
``npm ci --prefix tests/store/neo4j/cypher_lint``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from graphsvc.model.vocabulary import VOCABULARY, EntityKind, RelationType
from graphsvc.store.neo4j import cypher as q
from tests.store.neo4j.scenario import record, statements

LINT = Path(__file__).parent / "cypher_lint"
MODULE = LINT / "node_modules" / "@neo4j-cypher" / "language-support"


def _vocabulary_variants() -> list[q.Statement]:
    """Statements whose text varies with a kind or a type, for every kind and type."""
    row = {"id": 1, "src": 1, "dst": 2, "props": {"status": 0}}
    out = [q.create_entities(k, [{"id": 1, "props": {"key": "k"}}]) for k in EntityKind]
    out += [q.create_relations(t, [row]) for t in RelationType]
    out += [q.count_entities(q.EntityFilter(kind=k)) for k in EntityKind]
    out += [q.expand_level([1], RelationType, max_status=1, as_of=None)]
    out += [q.group_members([1], VOCABULARY.redundancy_types)]
    out += [q.attribute_column([1], a) for a in VOCABULARY.indexed_attributes]
    return out


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.skipif(
    not MODULE.exists(),
    reason="Cypher linter not installed: npm ci --prefix tests/store/neo4j/cypher_lint",
)
async def test_every_statement_passes_neo4j_cypher_front_end() -> None:
    unique: dict[str, q.Statement] = {}
    for st in [*statements(await record()), *_vocabulary_variants()]:
        unique.setdefault(st.text, st)
    payload = [{"text": s.text, "params": dict(s.params)} for s in unique.values()]
    done = subprocess.run(
        ["node", str(LINT / "lint.mjs")],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    problems = {item["text"]: diags for item, diags in zip(payload, results, strict=True) if diags}
    assert problems == {}
    assert len(payload) > 90
