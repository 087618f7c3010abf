"""bench/gen_kubernetes.py: a small seeded List that the importer reads cleanly."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType

from graphsvc.ingest.importer import ImporterOptions
from graphsvc.model.batch import IngestBatch
from graphsvc.model.validation import validate_batch
from importers.kubernetes import KubernetesImporter

SCRIPT = Path(__file__).parents[3] / "bench" / "gen_kubernetes.py"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_kubernetes", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_list_is_seeded_and_imports_cleanly(tmp_path: Path) -> None:
    gen = generator()
    out = tmp_path / "k8s.json"
    assert gen.main([str(out), "-n", "1500", "--seed", "7"]) == 0
    again = tmp_path / "again.json"
    gen.main([str(again), "-n", "1500", "--seed", "7"])
    assert out.read_bytes() == again.read_bytes()
    other = tmp_path / "other.json"
    gen.main([str(other), "-n", "1500", "--seed", "8", "--compact"])
    assert other.read_bytes() != out.read_bytes()

    importer = KubernetesImporter()
    options = ImporterOptions(scope="bench")
    parsed = importer.parse(out, options)
    kinds = Counter(o.kind for o in parsed.objects)
    assert sum(kinds.values()) + len(parsed.warnings) == 1500
    assert {"Node", "Deployment", "ReplicaSet", "Pod", "Service", "StatefulSet"} <= set(kinds)
    assert kinds["Pod"] > kinds["Deployment"] > kinds["Node"]
    assert all(p.node_name and p.owners for p in parsed.objects if p.kind == "Pod")

    result = importer.transform([(out, parsed)], options)
    types = Counter(
        (r.type.value, str(r.attributes.get("redundancyGroup", "")).rsplit("#", 1)[-1])
        for r in result.relations
    )
    assert types[("RUNS_ON", "")] == kinds["Pod"]
    assert types[("DEPENDS_ON", "endpoints")] > 0
    assert types[("DEPENDS_ON", "replicas")] >= kinds["Pod"] + kinds["ReplicaSet"] - 20
    env = [r for r in result.relations if r.type.value == "DEPENDS_ON" and not r.attributes]
    assert any(r.to.identifiers for r in env)  # DB_HOST: an external database
    assert any(r.to.key and "/service/" in r.to.key for r in env)
    # only the skipped kinds warn (ConfigMap, ServiceAccount); every env reference resolves
    assert {w.message.split(" is not")[0] for w in result.warnings} <= {
        "kind ConfigMap",
        "kind ServiceAccount",
    }
    batch = IngestBatch(
        source="bench", entities=list(result.entities), relations=list(result.relations)
    )
    assert validate_batch(batch) == []
