"""Analysis benchmark (issue 4): the full ``impact`` answer against the bare traversal.

    python bench/analysis_bench.py [--nodes 100000] [--edges 500000] [--db PATH]

On the seeded graph of bench/graphgen.py (ingested once through the engine into
``--db``, or an existing store given with ``--db``), it times in-process:

1. ``impact`` (states, aggregates, the first page of 100 with paths) from the
   largest hub, against ``store.traverse`` of the same start (best of 5 each);
2. the same for 200 random starts (median of the per-start ratios);
3. ``change_impact`` and ``consolidation_readiness`` on a small hand-made graph.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from graphgen import DEPENDS_ON, RUNS_ON, cached, entity_item, relation_item

from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.store.base import TraversalSpec
from graphsvc.store.factory import store_from_settings

BATCH = 10_000


async def ingest(g: Any, db: Path) -> None:
    store = store_from_settings(Settings(data=db, durability="normal"))
    async with store:
        engine = IngestEngine(store)
        run = await engine.start_run("bench", "generated")
        n, m = g.n, g.src.shape[0]
        for lo in range(0, n, BATCH):
            await engine.ingest(
                IngestBatch.model_validate(
                    {
                        "source": "bench",
                        "scope": "generated",
                        "runId": run.run_id,
                        "entities": [entity_item(g, i) for i in range(lo, min(n, lo + BATCH))],
                    }
                )
            )
        for lo in range(0, m, BATCH):
            await engine.ingest(
                IngestBatch.model_validate(
                    {
                        "source": "bench",
                        "scope": "generated",
                        "runId": run.run_id,
                        "relations": [relation_item(g, j) for j in range(lo, min(m, lo + BATCH))],
                    }
                )
            )
        await engine.finish_run(run.run_id, complete=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--edges", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "data")
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--build-only", action="store_true")
    args = ap.parse_args()
    g = cached(args.nodes, args.edges, args.seed, args.workdir)
    db = args.db
    if db is not None and not db.exists():
        t = time.perf_counter()
        anyio.run(ingest, g, db)
        print(f"ingested into {db} in {time.perf_counter() - t:.1f} s", flush=True)
    if args.build_only:
        return
    if db is None:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            path = Path(tmp) / "graphsvc.db"
            t = time.perf_counter()
            anyio.run(ingest, g, path)
            print(f"ingested in {time.perf_counter() - t:.1f} s", flush=True)
            figures = anyio.run(measure, g, path)
    else:
        figures = anyio.run(measure, g, db)
    figures["small"] = anyio.run(small_graph)
    print(json.dumps(figures, indent=2))


async def best(fn: Any, repeat: int) -> tuple[float, Any]:
    out = None
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = await fn()
        times.append(time.perf_counter() - t)
    return min(times), out


async def measure(g: Any, db: Path) -> dict[str, Any]:
    from graphsvc.analysis.impact import impact

    store = store_from_settings(Settings(data=db), read_only=True)
    async with store:
        steps = VOCABULARY.impact_steps
        dep = (g.typ == DEPENDS_ON) | (g.typ == RUNS_ON)
        indeg = np.bincount(g.dst[dep], minlength=g.n)
        h = int(np.argmax(indeg))
        hub = (await store.resolve([(EntityKind(g.kind(h)), g.key(h))]))[0]
        assert hub is not None
        # warm up (compilation, caches)
        await store.traverse(TraversalSpec([hub], steps))
        await impact(store, [hub])
        t_walk, walk = await best(lambda: store.traverse(TraversalSpec([hub], steps)), 5)
        t_full, answer = await best(lambda: impact(store, [hub]), 5)
        s = answer.summary
        rng = np.random.default_rng(7)
        candidates = [i for i in rng.choice(g.n, 400, replace=False).tolist() if g.tier[i] >= 0][
            :200
        ]
        starts = await store.resolve([(EntityKind(g.kind(i)), g.key(i)) for i in candidates])
        ratios, walks, fulls, sizes = [], [], [], []
        for sid in starts:
            assert sid is not None
            tw, _ = await best(lambda sid=sid: store.traverse(TraversalSpec([sid], steps)), 3)
            tf, a = await best(lambda sid=sid: impact(store, [sid]), 3)
            ratios.append(tf / tw)
            walks.append(tw)
            fulls.append(tf)
            sizes.append(a.summary.total)
        return {
            "graph": {"entities": g.n, "relations": int(g.src.shape[0])},
            "hub_reached": len(walk),
            "hub_services": sum(t.count for t in s.services_by_tier),
            "hub_teams_to_notify": len(answer.teams_to_notify),
            "hub_traverse_ms": t_walk * 1e3,
            "hub_impact_ms": t_full * 1e3,
            "hub_ratio": t_full / t_walk,
            "random_reached_median": statistics.median(sizes),
            "random_traverse_median_ms": statistics.median(walks) * 1e3,
            "random_impact_median_ms": statistics.median(fulls) * 1e3,
            "random_ratio_median": statistics.median(ratios),
            "random_ratio_p90": float(np.percentile(ratios, 90)),
        }


async def small_graph() -> dict[str, float]:
    """A demo-sized graph: 300 services on 200 CIs, changes, windows, a consolidation."""
    from graphsvc.analysis.changes import change_impact
    from graphsvc.analysis.readiness import consolidation_readiness

    def ci(k: str) -> dict[str, Any]:
        return {"kind": "ConfigurationItem", "key": k, "attributes": {"ciClass": "vm"}}

    def svc(k: str, **a: Any) -> dict[str, Any]:
        return {"kind": "Service", "key": k, "attributes": a}

    def rel(t: str, a: tuple[str, str], b: tuple[str, str], **attrs: Any) -> dict[str, Any]:
        return {
            "type": t,
            "from": {"kind": a[0], "key": a[1]},
            "to": {"kind": b[0], "key": b[1]},
            "attributes": attrs,
        }

    S, C = "Service", "ConfigurationItem"  # noqa: N806
    rng = np.random.default_rng(1)
    ents: list[dict[str, Any]] = [ci(f"ci-{i}") for i in range(200)]
    ents += [svc(f"svc-{i}", tier=1 + i % 4, load=5, capacity=100) for i in range(300)]
    ents += [{"kind": "Team", "key": f"team-{i}"} for i in range(10)]
    rels = [
        rel("RUNS_ON", (S, f"svc-{i}"), (C, f"ci-{int(rng.integers(200))}")) for i in range(300)
    ]
    rels += [
        rel("DEPENDS_ON", (S, f"svc-{i}"), (S, f"svc-{int(rng.integers(i))}"))
        for i in range(1, 300)
    ]
    rels += [rel("OWNS", ("Team", f"team-{i % 10}"), (S, f"svc-{i}")) for i in range(300)]
    day = "2030-01-0{}T{:02d}:00:00+00:00"
    for i in range(20):
        ents.append(
            {
                "kind": "Change",
                "key": f"chg-{i}",
                "attributes": {
                    "state": "scheduled",
                    "changeType": "normal",
                    "plannedStart": day.format(1 + i % 3, 10),
                    "plannedEnd": day.format(1 + i % 3, 14),
                },
            }
        )
        rels.append(rel("MODIFIES", ("Change", f"chg-{i}"), (C, f"ci-{int(rng.integers(200))}")))
    ents.append(
        {
            "kind": "Window",
            "key": "w-freeze",
            "attributes": {
                "windowType": "blackout",
                "start": day.format(1, 0),
                "end": day.format(2, 0),
            },
        }
    )
    ents.append(
        {
            "kind": "Window",
            "key": "w-maint",
            "attributes": {
                "windowType": "maintenance",
                "start": day.format(1, 0),
                "end": day.format(1, 12),
            },
        }
    )
    rels += [rel("APPLIES_TO", ("Window", "w-freeze"), (S, f"svc-{i}")) for i in range(0, 300, 7)]
    rels += [rel("APPLIES_TO", ("Window", "w-maint"), (C, f"ci-{i}")) for i in range(200)]
    ents.append(
        {
            "kind": "Project",
            "key": "prj-merge",
            "attributes": {
                "projectType": "consolidation",
                "plannedStart": day.format(1, 0),
                "plannedEnd": day.format(5, 0),
            },
        }
    )
    rels += [
        rel("CONSOLIDATES", ("Project", "prj-merge"), (S, f"svc-{i}")) for i in range(200, 210)
    ]
    rels += [rel("REPLACED_BY", (S, f"svc-{i}"), (S, f"svc-{i + 10}")) for i in range(200, 210)]
    with tempfile.TemporaryDirectory() as tmp:
        store = store_from_settings(Settings(data=Path(tmp) / "small.db", durability="normal"))
        async with store:
            await IngestEngine(store).ingest(
                IngestBatch.model_validate({"source": "demo", "entities": ents, "relations": rels})
            )
            out: dict[str, float] = {}
            await change_impact(store, "chg-0")
            await consolidation_readiness(store, "prj-merge")
            times = []
            conflicts = affected = 0
            for i in range(20):
                t = time.perf_counter()
                answer = await change_impact(store, f"chg-{i}")
                times.append(time.perf_counter() - t)
                conflicts += len(answer.conflicts)
                affected += answer.impact.summary.total
            out["change_conflicts_total"] = conflicts
            out["change_impact_set_mean"] = affected / 20
            out["change_impact_median_ms"] = statistics.median(times) * 1e3
            out["change_impact_max_ms"] = max(times) * 1e3
            times = []
            for _ in range(20):
                t = time.perf_counter()
                await consolidation_readiness(store, "prj-merge")
                times.append(time.perf_counter() - t)
            out["readiness_median_ms"] = statistics.median(times) * 1e3
            r = await consolidation_readiness(store, "prj-merge")
            out["readiness_score"] = r.score
            return out


if __name__ == "__main__":
    main()
