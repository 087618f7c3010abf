"""The benchmark generator writes seeded Nmap XML the importer reads (small N only)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from graphsvc.ingest.importer import ImporterOptions
from graphsvc.ingest.runner import batches_of
from graphsvc.model.validation import validate_batch
from importers.nmap import NmapImporter

GENERATOR = Path(__file__).parents[3] / "bench" / "gen_nmap.py"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_nmap", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_scan_is_seeded_and_imports_cleanly(tmp_path: Path) -> None:
    gen = generator()
    first, second, other = (
        tmp_path / "a" / "scan.xml",
        tmp_path / "b" / "scan.xml",
        tmp_path / "c.xml",
    )
    for path in (first, second):
        path.parent.mkdir()
        assert gen.main([str(path), "--hosts", "300", "--seed", "11"]) == 0
    assert first.read_bytes() == second.read_bytes()
    gen.main([str(other), "--hosts", "300", "--seed", "12"])
    assert other.read_bytes() != first.read_bytes()

    text = first.read_text()
    up = int(re.search(r'<hosts up="(\d+)" down="(\d+)" total="300"', text).group(1))  # type: ignore[union-attr]
    assert 200 < up < 300
    importer = NmapImporter()
    options = ImporterOptions()
    scan = importer.parse(first, options)
    assert len(scan.hosts) == 300
    result = importer.transform([(first, scan)], options)
    hosts = [e for e in result.entities if e.attributes["ciClass"] == "host"]
    assert len(hosts) == up
    assert all({"ipAddress", "macAddress", "fqdn"} <= h.identifiers.keys() for h in hosts)
    assert all("os" in h.attributes and "osFamily" in h.attributes for h in hosts)
    assert len(result.relations) == len(result.entities) - up  # one RUNS_ON per open port
    assert [w.message for w in result.warnings] == [
        f"skipped {300 - up} host(s) whose status is not up"
    ]
    for batch in batches_of(result, source="nmap", scope="bench", run_id=None, size=500):
        assert validate_batch(batch) == []
