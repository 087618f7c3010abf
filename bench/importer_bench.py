"""Importer benchmark (issue 6): parsing cost against the ingest engine's cost.

    python bench/importer_bench.py [--k8s-objects 100000] [--nmap-hosts 50000]

For a generated ``kubectl get -o json`` List of 100,000 objects and a generated
Nmap XML of 50,000 hosts, each imported as one run into a fresh embedded store:

* ``parse + transform``: the importer's own time (reading the file, building
  ingest items);
* ``ingest``: the same items through the engine as one run of 5,000-item
  batches (validation, identification, reconciliation, history), i.e. the
  engine's raw rate on the same data;
* a second, unchanged import of the same file (the idempotent path).

The goal: the importer's parsing costs less than the ingest itself.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import ImporterOptions, ImportResult, load_importer
from graphsvc.ingest.runner import EngineSink, batches_of, drop_dangling, run_import
from graphsvc.store.factory import store_from_settings

HERE = Path(__file__).parent


async def measure(fmt: str, path: Path, workdir: Path) -> dict[str, float]:
    importer = load_importer(fmt)
    options = ImporterOptions(scope="bench")
    t = time.perf_counter()
    parsed = [(path, importer.parse(path, options))]
    t_parse = time.perf_counter() - t
    t = time.perf_counter()
    result = importer.transform(parsed, options)
    t_transform = time.perf_counter() - t
    items = len(result.entities) + len(result.relations)

    store = store_from_settings(Settings(data=workdir / f"{fmt}-raw.db", durability="normal"))
    async with store:
        engine = IngestEngine(store)
        kept, _ = await drop_dangling(result, EngineSink(engine))
        result = ImportResult(result.entities, kept, result.warnings)
        run = await engine.start_run(importer.default_source, "bench")
        t = time.perf_counter()
        for batch in batches_of(
            result, source=importer.default_source, scope="bench", run_id=run.run_id, size=5000
        ):
            await engine.ingest(batch)
        await engine.finish_run(run.run_id, complete=True)
        t_ingest = time.perf_counter() - t

    store = store_from_settings(Settings(data=workdir / f"{fmt}-cli.db", durability="normal"))
    async with store:
        sink = EngineSink(IngestEngine(store))
        t = time.perf_counter()
        first = await run_import(importer, [path], sink, scope="bench")
        t_first = time.perf_counter() - t
        t = time.perf_counter()
        second = await run_import(importer, [path], sink, scope="bench")
        t_second = time.perf_counter() - t
    return {
        "items": items,
        "parse_s": t_parse,
        "transform_s": t_transform,
        "importer_s": t_parse + t_transform,
        "ingest_s": t_ingest,
        "engine_items_per_s": items / t_ingest,
        "importer_over_ingest": (t_parse + t_transform) / t_ingest,
        "full_import_s": t_first,
        "full_import_items_per_s": items / t_first,
        "reimport_unchanged_s": t_second,
        "reimport_created": first.summary.created,
        "reimport_changes": second.summary.created + second.summary.updated,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--k8s-objects", type=int, default=100_000)
    ap.add_argument("--nmap-hosts", type=int, default=50_000)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        k8s = work / "k8s.json"
        nmap = work / "nmap.xml"
        subprocess.run(
            [
                sys.executable,
                str(HERE / "gen_kubernetes.py"),
                str(k8s),
                "-n",
                str(args.k8s_objects),
                "--compact",
            ],
            check=True,
        )
        subprocess.run(
            [sys.executable, str(HERE / "gen_nmap.py"), str(nmap), "--hosts", str(args.nmap_hosts)],
            check=True,
        )
        figures["kubernetes"] = anyio.run(measure, "kubernetes", k8s, work)
        print("kubernetes", json.dumps(figures["kubernetes"]), flush=True)
        figures["nmap"] = anyio.run(measure, "nmap", nmap, work)
        print("nmap", json.dumps(figures["nmap"]), flush=True)
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
