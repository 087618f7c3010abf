"""Core benchmark (issue 2): ingest, reopen, traversal and memory, in one run.

    python bench/core_bench.py [--nodes 1000000] [--edges 5000000] [--workdir bench/data]

Steps, all on the same seeded graph (bench/graphgen.py) in the same run:

1. **Baseline**: a plain ``executemany`` upsert of the same rows into SQLite
   (entities by natural key; relations by natural keys resolved with a join),
   WAL, 10,000-row transactions. This is the reference rate.
2. **Engine**: the whole graph through :class:`graphsvc.ingest.engine.IngestEngine`
   as one run of 10,000-item batches (identification, reconciliation,
   provenance, history and assertions included), then ``finishRun(complete)``.
   Pydantic validation of the batch documents is timed separately.
3. **Service process**: a fresh process opens the stored graph (time until it
   is ready to traverse), walks the impact closure of the largest hub and of 200
   random starts through the store port, and compares each with
   ``scipy.sparse.csgraph.breadth_first_order`` on the same graph; then reports
   its peak resident memory, and times ``verify`` (what a server's start adds:
   every page read once) and ``check`` (``graphsvc check``).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).parent))

from graphgen import DEPENDS_ON, RUNS_ON, cached, entity_item, relation_item

from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.store.base import TraversalSpec
from graphsvc.store.factory import store_from_settings

BATCH = 10_000


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, reset by exec)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def baseline(g, db: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    c = sqlite3.connect(db, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=NORMAL")
    c.execute(
        "CREATE TABLE ci(id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, kind TEXT, name TEXT, attrs TEXT)"
    )
    c.execute(
        "CREATE TABLE rel(src INTEGER, dst INTEGER, type TEXT, attrs TEXT, PRIMARY KEY(src,dst,type)) WITHOUT ROWID"
    )
    c.execute("CREATE INDEX rel_dst ON rel(dst, src)")
    n, m = g.n, g.src.shape[0]
    t_e = t_r = 0.0
    for lo in range(0, n, BATCH):
        rows = []
        for i in range(lo, min(n, lo + BATCH)):
            item = entity_item(g, i)
            rows.append(
                (
                    item["key"],
                    item["kind"],
                    item.get("name", ""),
                    orjson.dumps(item.get("attributes", {})).decode(),
                )
            )
        t = time.perf_counter()
        c.execute("BEGIN")
        c.executemany(
            "INSERT INTO ci(key,kind,name,attrs) VALUES(?,?,?,?) "
            "ON CONFLICT(key) DO UPDATE SET name=excluded.name, attrs=excluded.attrs",
            rows,
        )
        c.execute("COMMIT")
        t_e += time.perf_counter() - t
    for lo in range(0, m, BATCH):
        rows = []
        for j in range(lo, min(m, lo + BATCH)):
            item = relation_item(g, j)
            rows.append(
                (
                    item["from"]["key"],
                    item["to"]["key"],
                    item["type"],
                    orjson.dumps(item.get("attributes", {})).decode(),
                )
            )  # type: ignore[index]
        t = time.perf_counter()
        c.execute("BEGIN")
        c.executemany(
            "INSERT INTO rel(src,dst,type,attrs) SELECT a.id, b.id, ?3, ?4 FROM ci a, ci b "
            "WHERE a.key=?1 AND b.key=?2 ON CONFLICT(src,dst,type) DO UPDATE SET attrs=excluded.attrs",
            rows,
        )
        c.execute("COMMIT")
        t_r += time.perf_counter() - t
    c.close()
    return {"entities_per_s": n / t_e, "relations_per_s": m / t_r, "seconds": t_e + t_r}


async def engine_ingest(g, db: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    store = store_from_settings(Settings(data=db, durability="normal"))
    n, m = g.n, g.src.shape[0]
    t_val_e = t_val_r = t_eng_e = t_eng_r = 0.0
    async with store:
        engine = IngestEngine(store)
        run = await engine.start_run("bench", "generated")
        done = 0
        for lo in range(0, n, BATCH):
            t0 = time.perf_counter()
            batch = IngestBatch.model_validate(
                {
                    "source": "bench",
                    "scope": "generated",
                    "runId": run.run_id,
                    "entities": [entity_item(g, i) for i in range(lo, min(n, lo + BATCH))],
                }
            )
            t1 = time.perf_counter()
            await engine.ingest(batch)
            t2 = time.perf_counter()
            t_val_e += t1 - t0
            t_eng_e += t2 - t1
            done += len(batch.entities)
        print(f"  entities through the engine: {n / t_eng_e:,.0f}/s", flush=True)
        for lo in range(0, m, BATCH):
            t0 = time.perf_counter()
            batch = IngestBatch.model_validate(
                {
                    "source": "bench",
                    "scope": "generated",
                    "runId": run.run_id,
                    "relations": [relation_item(g, j) for j in range(lo, min(m, lo + BATCH))],
                }
            )
            t1 = time.perf_counter()
            await engine.ingest(batch)
            t2 = time.perf_counter()
            t_val_r += t1 - t0
            t_eng_r += t2 - t1
            if (lo // BATCH) % 50 == 0:
                print(f"  {lo + BATCH:,} relations, {(lo + BATCH) / t_eng_r:,.0f}/s", flush=True)
        t = time.perf_counter()
        summary = await engine.finish_run(run.run_id, complete=True)
        t_finish = time.perf_counter() - t
        stats = await store.stats()
    return {
        "entities_per_s": n / t_eng_e,
        "relations_per_s": m / t_eng_r,
        "engine_seconds": t_eng_e + t_eng_r,
        "validation_seconds": t_val_e + t_val_r,
        "relations_per_s_with_validation": m / (t_eng_r + t_val_r),
        "finish_run_seconds": t_finish,
        "marked_stale": summary.marked_stale,
        "stored_entities": stats.entities,
        "stored_relations": stats.relations,
        "history_events": stats.history_events,
        "bytes_on_disk": stats.bytes_on_disk,
        "ingest_peak_rss_mb": peak_rss_mb(),
    }


async def service(db: Path, n: int, m: int, seed: int, workdir: Path) -> dict[str, float]:
    """Run in a fresh process: open, traverse, compare with scipy, report memory."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order

    t = time.perf_counter()
    store = store_from_settings(Settings(data=db), read_only=True)
    await store.open()
    # first traversal compiles or loads the kernel: part of "ready to traverse"
    await store.traverse(TraversalSpec([1], VOCABULARY.impact_steps, max_depth=1))
    open_s = time.perf_counter() - t
    rss_open = peak_rss_mb()

    g = cached(n, m, seed, workdir)
    ids = await store.resolve([(EntityKind(g.kind(i)), g.key(i)) for i in range(n)])
    to_store = np.asarray(ids, dtype=np.int64)
    dep = (g.typ == DEPENDS_ON) | (g.typ == RUNS_ON)
    # impact flows from the needed entity to the one that needs it
    rows, cols = to_store[g.dst[dep]], to_store[g.src[dep]]
    size = int(to_store.max()) + 1
    graph = csr_matrix((np.ones(rows.shape[0], dtype=np.int8), (rows, cols)), shape=(size, size))
    indeg = np.bincount(g.dst[dep], minlength=n)
    hub = int(to_store[int(np.argmax(indeg))])
    rng = np.random.default_rng(7)
    starts = [
        int(x) for x in to_store[rng.choice(n - n // 100, 200, replace=False)]
    ]  # services and CIs

    async def ours(s: int) -> tuple[float, int]:
        t0 = time.perf_counter()
        walk = await store.traverse(TraversalSpec([s], VOCABULARY.impact_steps))
        return time.perf_counter() - t0, len(walk)

    def theirs(s: int) -> tuple[float, int]:
        t0 = time.perf_counter()
        order, _pred = breadth_first_order(graph, s, directed=True, return_predecessors=True)
        return time.perf_counter() - t0, int(order.shape[0])

    await ours(hub)
    theirs(hub)
    hub_ours = min([await ours(hub) for _ in range(5)])
    hub_theirs = min(theirs(hub) for _ in range(5))
    assert hub_ours[1] == hub_theirs[1], (hub_ours, hub_theirs)
    ratios, our_times, their_times, mismatches = [], [], [], 0
    for s in starts:
        a, b = await ours(s), theirs(s)
        mismatches += a[1] != b[1]
        ratios.append(a[0] / b[0])
        our_times.append(a[0])
        their_times.append(b[0])
    peak = peak_rss_mb()
    # what the server's start adds (every page read once), and graphsvc check
    t = time.perf_counter()
    await store.verify()
    verify_s = time.perf_counter() - t
    t = time.perf_counter()
    report = await store.check()
    check_s = time.perf_counter() - t
    await store.close()
    return {
        "open_ready_seconds": open_s,
        "rss_after_open_mb": rss_open,
        "hub_dependents_direct": int(indeg.max()),
        "hub_reached": hub_ours[1],
        "hub_ms": hub_ours[0] * 1e3,
        "hub_scipy_ms": hub_theirs[0] * 1e3,
        "hub_ratio": hub_ours[0] / hub_theirs[0],
        "random_median_ms": statistics.median(our_times) * 1e3,
        "random_scipy_median_ms": statistics.median(their_times) * 1e3,
        "random_median_ratio": statistics.median(ratios),
        "random_reached_median": float(statistics.median([0])),
        "random_mismatches": mismatches,
        "service_peak_rss_mb": peak,
        "verify_seconds": verify_s,
        "check_seconds": check_s,
        "check_findings": len(report.findings),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "data")
    ap.add_argument("--service", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    if args.service:
        print(
            json.dumps(
                anyio.run(service, args.service, args.nodes, args.edges, args.seed, args.workdir)
            )
        )
        return
    t = time.perf_counter()
    g = cached(args.nodes, args.edges, args.seed, args.workdir)
    print(
        f"graph: {g.n:,} entities, {g.src.shape[0]:,} relations ({time.perf_counter() - t:.1f} s)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        base = baseline(g, Path(tmp) / "baseline.db")
        print(
            f"baseline executemany upsert: {base['relations_per_s']:,.0f} relations/s, {base['entities_per_s']:,.0f} entities/s",
            flush=True,
        )
        db = Path(tmp) / "graphsvc.db"
        eng = anyio.run(engine_ingest, g, db)
        print(
            f"engine: {eng['relations_per_s']:,.0f} relations/s ({eng['relations_per_s'] / base['relations_per_s']:.2f}x baseline)",
            flush=True,
        )
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--service",
                str(db),
                "--nodes",
                str(args.nodes),
                "--edges",
                str(args.edges),
                "--seed",
                str(args.seed),
                "--workdir",
                str(args.workdir),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ},
        )
        svc = json.loads(out.stdout.strip().splitlines()[-1])
    figures = {
        "graph": {"entities": g.n, "relations": int(g.src.shape[0]), "seed": args.seed},
        "baseline": base,
        "engine": eng,
        "engine_vs_baseline_relations": eng["relations_per_s"] / base["relations_per_s"],
        "service": svc,
    }
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
