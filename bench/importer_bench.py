"""Importer benchmark (issue 6): what parsing costs against what the ingest engine costs.

    python bench/importer_bench.py [--k8s-objects 100000] [--nmap-hosts 50000]
                                   [--out bench/results/importers.json]

For a generated ``kubectl get -o json`` List of 100,000 objects
(``bench/gen_kubernetes.py``) and a generated Nmap XML of 50,000 hosts
(``bench/gen_nmap.py``), each in its own process (so peak memory is its own):

* ``import``: ``run_import`` into a fresh embedded store as one run (what
  ``graphsvc import`` does, minus the progress bar), then the same file again
  (the unchanged re-import). Reported per phase from ``ImportReport.timings``:
  parse, transform, check (dangling relations and validation), write (the
  run: every batch through the engine), with rates in input objects/s and in
  ingested items (entities + relations)/s, and the peak RSS of the process.
* ``raw``: the same items, parsed and transformed once, sent straight to the
  engine as one run of 5,000-item batches on a fresh store: the engine's raw
  rate on the same data, with nothing of the runner around it.

The goal: ``importer_over_ingest`` = (parse + transform) / raw ingest < 1.

Durability is ``normal`` (no fsync per commit), as in the other benches. The
machine is shared, so run it more than once and read the figures as ranges.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import ImporterOptions, ImportResult, load_importer
from graphsvc.ingest.runner import EngineSink, ImportReport, batches_of, drop_dangling, run_import
from graphsvc.store.factory import store_from_settings

HERE = Path(__file__).parent
SCOPE = "bench"


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def phases(report: ImportReport, objects: int) -> dict[str, float]:
    t = report.timings
    total = t.parse_s + t.transform_s + t.check_s + t.write_s
    s = report.summary
    items = s.created + s.updated + s.unchanged
    return {
        "parse_s": round(t.parse_s, 2),
        "transform_s": round(t.transform_s, 2),
        "check_s": round(t.check_s, 2),
        "write_s": round(t.write_s, 2),
        "total_s": round(total, 2),
        "objects_per_s": round(objects / total),
        "items_per_s": round(items / total),
        "created": s.created,
        "updated": s.updated,
        "unchanged": s.unchanged,
        "merged": s.merged,
        "marked_stale": s.marked_stale,
    }


async def measure_import(fmt: str, path: Path, workdir: Path, objects: int) -> dict[str, Any]:
    importer = load_importer(fmt)
    store = store_from_settings(Settings(data=workdir / f"{fmt}-import.db", durability="normal"))
    async with store:
        sink = EngineSink(IngestEngine(store))
        first = await run_import(importer, [path], sink, scope=SCOPE)
        second = await run_import(importer, [path], sink, scope=SCOPE)
    return {
        "first": phases(first, objects),
        "reimport": phases(second, objects),
        "warnings": len(first.warnings),
        "peak_rss_mb": round(peak_rss_mb()),
    }


async def measure_raw(fmt: str, path: Path, workdir: Path) -> dict[str, Any]:
    importer = load_importer(fmt)
    options = ImporterOptions(scope=SCOPE)
    gc.disable()  # as run_import does while parsing and transforming
    t = time.perf_counter()
    parsed = [(path, importer.parse(path, options))]
    t_parse = time.perf_counter() - t
    t = time.perf_counter()
    result = importer.transform(parsed, options)
    t_transform = time.perf_counter() - t
    del parsed
    gc.enable()
    store = store_from_settings(Settings(data=workdir / f"{fmt}-raw.db", durability="normal"))
    async with store:
        engine = IngestEngine(store)
        kept, _ = await drop_dangling(result, EngineSink(engine))
        result = ImportResult(result.entities, kept, result.warnings)
        batches = list(
            batches_of(result, source=importer.default_source, scope=SCOPE, run_id=None, size=5000)
        )
        items = len(result.entities) + len(result.relations)
        gc.freeze()  # as run_import does while writing
        t = time.perf_counter()
        run = await engine.start_run(importer.default_source, SCOPE)
        for batch in batches:
            await engine.ingest(batch.model_copy(update={"run_id": run.run_id}))
        await engine.finish_run(run.run_id, complete=True)
        t_ingest = time.perf_counter() - t
        gc.unfreeze()
    return {
        "items": items,
        "entities": len(result.entities),
        "relations": len(result.relations),
        "parse_s": round(t_parse, 2),
        "transform_s": round(t_transform, 2),
        "ingest_s": round(t_ingest, 2),
        "engine_items_per_s": round(items / t_ingest),
        "importer_over_ingest": round((t_parse + t_transform) / t_ingest, 2),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints its figures as JSON."""
    if args.child == "import":
        figures = anyio.run(measure_import, args.format, args.path, args.workdir, args.objects)
    else:
        figures = anyio.run(measure_raw, args.format, args.path, args.workdir)
    print(json.dumps(figures))


def run_child(kind: str, fmt: str, path: Path, workdir: Path, objects: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--format",
            fmt,
            "--path",
            str(path),
            "--workdir",
            str(workdir),
            "--objects",
            str(objects),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--k8s-objects", type=int, default=100_000)
    ap.add_argument("--nmap-hosts", type=int, default=50_000)
    ap.add_argument("--only", choices=("kubernetes", "nmap"), help="measure one format")
    ap.add_argument("--out", type=Path, help="write the figures here (JSON)")
    ap.add_argument("--child", choices=("import", "raw"), help=argparse.SUPPRESS)
    ap.add_argument("--format", help=argparse.SUPPRESS)
    ap.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--objects", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    figures: dict[str, Any] = {
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, durability=normal",
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = {
            "kubernetes": (work / "k8s.json", args.k8s_objects),
            "nmap": (work / "nmap.xml", args.nmap_hosts),
        }
        for fmt, (path, objects) in inputs.items():
            if args.only and fmt != args.only:
                continue
            if fmt == "kubernetes":
                gen = ["gen_kubernetes.py", str(path), "-n", str(objects), "--compact"]
            else:
                gen = ["gen_nmap.py", str(path), "--hosts", str(objects)]
            subprocess.run([sys.executable, str(HERE / gen[0]), *gen[1:]], check=True)
            result: dict[str, Any] = {
                "input": f"{objects} {'objects' if fmt == 'kubernetes' else 'hosts'}, "
                f"{path.stat().st_size / 1e6:.0f} MB",
                "raw": run_child("raw", fmt, path, work, objects),
            }
            result.update(run_child("import", fmt, path, work, objects))
            figures[fmt] = result
            print(fmt, json.dumps(result), flush=True)
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
