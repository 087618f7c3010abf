"""CMDB health benchmark (issue 21): health on the 1,000,000-entity graph, cold and after a commit.

    python bench/health_bench.py [--db bench/data/graph-1m.db] [--out bench/results/health-1m.json]
    python bench/health_bench.py --nodes 20000 --edges 100000      # a small graph, built here

The store (``--db``, the 1,000,000-entity / 5,000,000-relation store of
bench/core_bench.py; built from bench/graphgen.py's ``cached`` graph when missing)
is copied once to ``<db>-health.db``, because this benchmark commits to it. In a
fresh process it then times, in-process against the embedded store:

1. ``open``: the store opened (the index loaded);
2. ``health_cold``: the first ``health()`` (every check, per-source figures);
3. ``health_warm``: ``health()`` again, nothing committed since;
4. ``health_after_commit``: ``health()`` after one more commit (a batch of 100
   services, some without owner), which is what a ``/metrics`` scrape pays once
   per commit;
5. ``score_only``: ``health_score()`` (the trend's per-point pass);
6. ``health_as_of``: ``health(as_of=one hour ago)``;
7. ``trend_cold`` / ``trend_warm``: the 30-day trend with an empty cache, then
   with the cache it filled.

Figures in seconds, with the score and each check's figure so a run can be
compared with the graph it ran on.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).parent))

from analysis_bench import ingest
from graphgen import cached

from graphsvc.analysis.health import ScoreCache, health, health_score, score_trend
from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.store.factory import store_from_settings


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await work()
    return round(time.perf_counter() - started, 3), result


async def measure(db: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    store = store_from_settings(Settings(data=db, durability="normal"))
    started = time.perf_counter()
    await store.open()
    figures["open"] = round(time.perf_counter() - started, 3)
    try:
        stats = await store.stats()
        figures["entities"], figures["relations"] = stats.entities, stats.relations
        figures["health_cold"], report = await timed(lambda: health(store))
        figures["health_warm"], _ = await timed(lambda: health(store))
        figures["score"] = report.score
        figures["checks"] = {
            c.name: {
                "figure": c.figure,
                "result": c.result.value,
                "failing": c.failing,
                "population": c.population,
                "undecided": c.undecided,
            }
            for c in report.checks
        }
        stamp = int(time.time())
        batch = IngestBatch.model_validate(
            {
                "source": "health-bench",
                "entities": [
                    {
                        "kind": "Service",
                        "key": f"health-bench-{stamp}-{i}",
                        "attributes": {"lifecycle": "live", "tier": 1 + i % 4},
                    }
                    for i in range(100)
                ],
            }
        )
        figures["commit"], _ = await timed(lambda: IngestEngine(store).ingest(batch))
        figures["health_after_commit"], after = await timed(lambda: health(store))
        figures["score_after_commit"] = after.score
        figures["score_only"], _ = await timed(lambda: health_score(store))
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        figures["health_as_of"], _ = await timed(lambda: health(store, as_of=hour_ago))
        cache = ScoreCache()
        figures["trend_cold"], _ = await timed(lambda: score_trend(store, after, cache=cache))
        figures["trend_points_computed"] = cache.computed
        figures["trend_warm"], _ = await timed(lambda: score_trend(store, after, cache=cache))
    finally:
        await store.close()
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    here = Path(__file__).parent
    ap.add_argument("--db", type=Path, default=None, help="an existing store (copied once)")
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workdir", type=Path, default=here / "data")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir if args.workdir.exists() else None) as tmp:
        if args.db is None:
            g = cached(args.nodes, args.edges, args.seed, args.workdir)
            db = Path(tmp) / "graphsvc.db"
            t = time.perf_counter()
            anyio.run(ingest, g, db)
            print(f"ingested {args.nodes:,} entities in {time.perf_counter() - t:.1f} s")
        else:
            db = args.db.with_name(args.db.stem + "-health.db")
            if not db.exists():
                shutil.copyfile(args.db, db)
        figures = anyio.run(measure, db)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
