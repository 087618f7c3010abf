"""Change report benchmark (issue 5): the CAB report of the demo and of a 50,000-entity blast radius.

    python bench/report_bench.py [--db bench/data/graph-1m.db] [--work bench/data/report-1m.db]
                                 [--target 50000] [--out bench/results/report-1m.json]

1. **Demo**: loads the demo graph into a temporary store and times the report of
   its largest change (build, then HTML with the diagram, Markdown, JSON; best of 5).
2. **1M graph**: copies the 1,000,000-entity store of bench/core_bench.py
   (``--db``; never written to) to ``--work`` once, and adds through the ingest
   engine a change ``CHG-BENCH-50K`` that MODIFIES enough host and site CIs for
   its impact set to reach ``--target`` entities (the generated graph has one
   giant strongly connected component: a hub reaches ~500,000 entities or only a
   few thousand, so a 50,000 blast radius is a change touching some sixty hosts,
   chosen with a seeded generator among hosts whose own impact is 500-5,000),
   plus a blackout window on one of them and a colliding change. A later run
   reuses the work copy. Then it times, best of 3: ``change_impact`` alone,
   building the report (every affected entity listed with its path), and
   rendering HTML (Graphviz included), Markdown and JSON; and reports sizes.

Timings are wall-clock in one process; the machine's other load makes them noisy.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from graphgen import DEPENDS_ON, RUNS_ON, cached

from graphsvc.analysis.changes import change_impact
from graphsvc.config import Settings
from graphsvc.demo import demo_batches
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.report import ReportFormat, build_change_report, render_report
from graphsvc.report.build import DEFAULT_MAX_ENTITIES
from graphsvc.report.diagram import draw
from graphsvc.store.base import GraphStore, TraversalSpec
from graphsvc.store.factory import store_from_settings

T = TypeVar("T")
CHANGE = "CHG-BENCH-50K"
OTHER = "CHG-BENCH-OTHER"
BLACKOUT = "bench-freeze"


async def best(fn: Callable[[], Awaitable[T]], repeat: int) -> tuple[float, T]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = await fn()
        times.append(time.perf_counter() - t)
    assert out is not None
    return min(times), out


def best_sync(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    assert out is not None
    return min(times), out


async def measure(store: GraphStore, key: str, repeat: int) -> dict[str, Any]:
    """Time one change's report: analysis, build, and each format."""
    await build_change_report(store, key)  # warm up (compiled kernels, caches)
    t_analysis, answer = await best(
        lambda: change_impact(store, key, first=DEFAULT_MAX_ENTITIES), repeat
    )
    t_build, report = await best(lambda: build_change_report(store, key), repeat)
    t_diagram, drawn = best_sync(lambda: draw(report), repeat)
    figures: dict[str, Any] = {
        "change": key,
        "impact_set": report.summary.impact_set,
        "modified": report.summary.modified,
        "listed": report.affected.listed,
        "services": sum(g.count for g in report.services),
        "services_listed_with_paths": sum(g.listed for g in report.services),
        "teams": len(report.teams),
        "conflicts": len(report.conflicts),
        "diagram_nodes": drawn.diagram.nodes,
        "diagram_collapsed": drawn.diagram.collapsed,
        "diagram_note": drawn.note,
        "change_impact_s": t_analysis,
        "build_s": t_build,
        "diagram_s": t_diagram,
        "impact_entities_paged": len(answer.impact.affected.edges),
    }
    for fmt in ReportFormat:
        t_render, text = best_sync(lambda fmt=fmt: render_report(report, fmt), repeat)
        figures[f"render_{fmt.value}_s"] = t_render
        figures[f"{fmt.value}_bytes"] = len(text.encode())
        figures[f"total_{fmt.value}_s"] = t_build + t_render
    return figures


async def demo(repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = store_from_settings(Settings(data=Path(tmp) / "demo.db", durability="normal"))
        async with store:
            engine = IngestEngine(store)
            for batch in demo_batches(datetime.datetime.now(datetime.UTC).date()):
                await engine.ingest(batch)
            return await measure(store, "CHG0041201", repeat)


async def choose_starts(store: GraphStore, target: int, seed: int, workdir: Path) -> list[str]:
    """Host and site CIs whose impact is 500-5,000, until their union reaches ``target``."""
    g = cached(1_000_000, 5_000_000, 42, workdir)
    dep = (g.typ == DEPENDS_ON) | (g.typ == RUNS_ON)
    indeg = np.bincount(g.dst[dep], minlength=g.n)
    candidates = np.flatnonzero((indeg >= 20) & (g.tier >= 0) & (g.tier <= 1))
    rng = np.random.default_rng(seed)
    rng.shuffle(candidates)
    union = np.zeros(0, dtype=np.int64)
    chosen: list[str] = []
    for i in candidates.tolist():
        (sid,) = await store.resolve([(EntityKind.CONFIGURATION_ITEM, g.key(i))])
        assert sid is not None
        walk = await store.traverse(TraversalSpec([sid], VOCABULARY.impact_steps))
        if 500 <= len(walk) <= 5000:
            union = np.union1d(union, walk.entities)
            chosen.append(g.key(i))
            if union.shape[0] >= target:
                return chosen
    msg = f"only {union.shape[0]} entities reachable from small hubs"
    raise RuntimeError(msg)


async def prepare(db: Path, work: Path, target: int, seed: int) -> None:
    """Copy the 1M store once and add the benchmark change into the copy."""
    if not work.exists():
        t = time.perf_counter()
        shutil.copyfile(db, work)
        print(f"copied {db} to {work} in {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    store = store_from_settings(Settings(data=work, durability="normal"))
    async with store:
        print(f"opened the copy in {time.perf_counter() - t:.1f} s", flush=True)
        if (await store.resolve([(EntityKind.CHANGE, CHANGE)]))[0] is not None:
            return
        keys = await choose_starts(store, target, seed, db.parent)
        c = "ConfigurationItem"
        window = {
            "state": "scheduled",
            "changeType": "normal",
            "plannedStart": "2030-01-05T20:00:00+00:00",
            "plannedEnd": "2030-01-06T02:00:00+00:00",
            "risk": "high",
        }
        entities: list[dict[str, Any]] = [
            {"kind": "Change", "key": CHANGE, "name": "Patch 64 hosts", "attributes": window},
            {
                "kind": "Change",
                "key": OTHER,
                "name": "Firmware upgrade",
                "attributes": {
                    **window,
                    "plannedStart": "2030-01-06T00:00:00+00:00",
                    "plannedEnd": "2030-01-06T04:00:00+00:00",
                },
            },
            {
                "kind": "Window",
                "key": BLACKOUT,
                "attributes": {
                    "windowType": "blackout",
                    "start": "2030-01-05T00:00:00+00:00",
                    "end": "2030-01-07T00:00:00+00:00",
                },
            },
        ]
        relations = [
            {
                "type": "MODIFIES",
                "from": {"kind": "Change", "key": CHANGE},
                "to": {"kind": c, "key": k},
            }
            for k in keys
        ]
        relations += [
            {
                "type": "MODIFIES",
                "from": {"kind": "Change", "key": OTHER},
                "to": {"kind": c, "key": keys[0]},
            },
            {
                "type": "APPLIES_TO",
                "from": {"kind": "Window", "key": BLACKOUT},
                "to": {"kind": c, "key": keys[1]},
            },
        ]
        await IngestEngine(store).ingest(
            IngestBatch.model_validate(
                {"source": "report-bench", "entities": entities, "relations": relations}
            )
        )
        print(f"added {CHANGE} modifying {len(keys)} CIs", flush=True)


async def large(work: Path, repeat: int) -> dict[str, Any]:
    t = time.perf_counter()
    store = store_from_settings(Settings(data=work), read_only=True)
    async with store:
        opened = time.perf_counter() - t
        figures = await measure(store, CHANGE, repeat)
        figures["open_s"] = opened
        report = await build_change_report(store, CHANGE)
        html = render_report(report, ReportFormat.HTML)
        out = work.with_suffix(".report.html")
        out.write_text(html, encoding="utf-8")
        figures["html_written_to"] = str(out)
        return figures


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data = Path(__file__).parent / "data"
    ap.add_argument("--db", type=Path, default=data / "graph-1m.db")
    ap.add_argument("--work", type=Path, default=data / "report-1m.db")
    ap.add_argument("--target", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-large", action="store_true", help="only the demo")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    figures: dict[str, Any] = {"demo": anyio.run(demo, 5)}
    print(json.dumps(figures["demo"], indent=2), flush=True)
    if not args.skip_large:
        if not args.db.exists():
            sys.exit(f"{args.db} is missing: build it with bench/core_bench.py first")
        anyio.run(prepare, args.db, args.work, args.target, args.seed)
        figures["large"] = anyio.run(large, args.work, args.repeat)
        print(json.dumps(figures["large"], indent=2), flush=True)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
