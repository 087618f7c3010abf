"""Neo4j against the embedded store (issue 15): ingest and the answers, as ratios.

    python bench/neo4j_bench.py [--nodes 100000] [--edges 500000] [--out bench/results/neo4j-100k.json]

Starts the Neo4j 5 server the tests use (``tests/neo4j_server``, its own home
folder, heap ``--heap``, page cache ``--page-cache``), generates the seeded
graph of ``bench/graphgen.py`` plus a few changes, windows and one
consolidation project, and for each store, one run:

1. ingest through the engine, as one run (entities, then relations, in batches
   of ``--batch``), with the seconds each Neo4j statement took (by statement
   name), so a slow statement shows itself;
2. ``impact`` of the largest hub and the median over random starts (typical),
   ``ownership`` over random starts, every ``change_impact`` and the
   ``consolidation_readiness`` of the project;
3. the ratio embedded / Neo4j for each (below 1: Neo4j is slower), and the
   Neo4j server's peak resident memory (``VmHWM`` of its JVM).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphgen import DEPENDS_ON, RUNS_ON, Graph, cached, entity_item, relation_item

from graphsvc.analysis.changes import change_impact
from graphsvc.analysis.impact import impact
from graphsvc.analysis.ownership import ownership
from graphsvc.analysis.readiness import consolidation_readiness
from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.base import GraphStore
from graphsvc.store.factory import store_from_settings
from graphsvc.store.neo4j.store import DriverGateway, Neo4jStore
from tests.neo4j_server.server import Neo4jServer, pinned_version

Row = dict[str, Any]


class ProfilingGateway:
    """A driver gateway that adds up the seconds each statement (by name) takes."""

    def __init__(self, inner: DriverGateway) -> None:
        self.inner = inner
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def _timed(
        self, run: Callable[[Any], Awaitable[list[Row]]]
    ) -> Callable[[Any], Awaitable[list[Row]]]:
        async def timed(statement: Any) -> list[Row]:
            t = time.perf_counter()
            try:
                return await run(statement)
            finally:
                self.seconds[statement.op or "?"] += time.perf_counter() - t
                self.calls[statement.op or "?"] += 1

        return timed

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def read(self, work: Any, doing: str) -> Any:
        return await self.inner.read(lambda run: work(self._timed(run)), doing)

    async def write(self, work: Any, doing: str) -> Any:
        return await self.inner.write(lambda run: work(self._timed(run)), doing)

    def begin(self, doing: str) -> AbstractAsyncContextManager[Any]:
        gateway = self

        @asynccontextmanager
        async def opened() -> AsyncIterator[Any]:
            async with gateway.inner.begin(doing) as tx:
                tx.run = gateway._timed(tx.run)  # type: ignore[method-assign]
                yield tx

        return opened()

    def top(self, count: int = 12) -> list[dict[str, Any]]:
        ranked = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:count]
        return [
            {"statement": op, "seconds": round(s, 3), "calls": self.calls[op]} for op, s in ranked
        ]


def extra_items(g: Graph, rng: np.random.Generator) -> dict[str, list[dict[str, Any]]]:
    """Changes (some colliding), a blackout window and one consolidation project."""
    services = [i for i in range(g.n) if g.tier[i] >= 4]
    cis = [i for i in range(g.n) if 0 <= g.tier[i] < 4]
    teams = [i for i in range(g.n) if g.tier[i] < 0]
    base = datetime(2027, 1, 4, 22, tzinfo=UTC)
    entities: list[dict[str, Any]] = []
    relations: list[dict[str, Any]] = []

    def ref(i: int) -> dict[str, str]:
        return {"kind": g.kind(i), "key": g.key(i)}

    for c in range(20):
        start = base + timedelta(hours=6 * (c % 5))
        entities.append(
            {
                "kind": "Change",
                "key": f"CHG{c:05d}",
                "attributes": {
                    "state": "scheduled",
                    "changeType": "normal",
                    "plannedStart": start.isoformat(),
                    "plannedEnd": (start + timedelta(hours=4)).isoformat(),
                },
            }
        )
        for i in rng.choice(cis, 3, replace=False).tolist():
            relations.append(
                {"type": "MODIFIES", "from": {"kind": "Change", "key": f"CHG{c:05d}"}, "to": ref(i)}
            )
    entities.append(
        {
            "kind": "Window",
            "key": "blackout-jan",
            "attributes": {
                "windowType": "blackout",
                "start": base.isoformat(),
                "end": (base + timedelta(days=2)).isoformat(),
            },
        }
    )
    for i in rng.choice(services, 50, replace=False).tolist():
        relations.append(
            {"type": "APPLIES_TO", "from": {"kind": "Window", "key": "blackout-jan"}, "to": ref(i)}
        )
    entities.append(
        {
            "kind": "Project",
            "key": "PRJ-consolidate",
            "attributes": {
                "projectType": "consolidation",
                "plannedStart": base.isoformat(),
                "plannedEnd": (base + timedelta(days=60)).isoformat(),
            },
        }
    )
    picked = rng.choice(services, 6, replace=False).tolist()
    for src, dst in zip(picked[:3], picked[3:], strict=True):
        relations.append(
            {
                "type": "CONSOLIDATES",
                "from": {"kind": "Project", "key": "PRJ-consolidate"},
                "to": ref(src),
            }
        )
        relations.append({"type": "REPLACED_BY", "from": ref(src), "to": ref(dst)})
    relations.append(
        {"type": "OWNS", "from": ref(teams[0]), "to": {"kind": "Project", "key": "PRJ-consolidate"}}
    )
    return {"entities": entities, "relations": relations}


async def ingest(store: GraphStore, g: Graph, extra: dict[str, Any], batch: int) -> dict[str, Any]:
    n, m = g.n, int(g.src.shape[0])
    engine = IngestEngine(store)
    t0 = time.perf_counter()
    run = await engine.start_run("bench", "generated")
    t_ent = t_rel = 0.0
    for lo in range(0, n, batch):
        b = IngestBatch.model_validate(
            {
                "source": "bench",
                "scope": "generated",
                "runId": run.run_id,
                "entities": [entity_item(g, i) for i in range(lo, min(n, lo + batch))],
            }
        )
        t = time.perf_counter()
        await engine.ingest(b)
        t_ent += time.perf_counter() - t
    print(f"    entities: {n / t_ent:,.0f}/s", flush=True)
    for lo in range(0, m, batch):
        b = IngestBatch.model_validate(
            {
                "source": "bench",
                "scope": "generated",
                "runId": run.run_id,
                "relations": [relation_item(g, j) for j in range(lo, min(m, lo + batch))],
            }
        )
        t = time.perf_counter()
        await engine.ingest(b)
        t_rel += time.perf_counter() - t
        if (lo // batch) % 20 == 0:
            print(
                f"    {min(m, lo + batch):,} relations, {min(m, lo + batch) / t_rel:,.0f}/s",
                flush=True,
            )
    await engine.ingest(
        IngestBatch.model_validate(
            {"source": "bench", "scope": "generated", "runId": run.run_id, **extra}
        )
    )
    t = time.perf_counter()
    await engine.finish_run(run.run_id, complete=True)
    t_finish = time.perf_counter() - t
    stats = await store.stats()
    return {
        "entities_per_s": n / t_ent,
        "relations_per_s": m / t_rel,
        "finish_run_seconds": t_finish,
        "total_seconds": time.perf_counter() - t0,
        "stored_entities": stats.entities,
        "stored_relations": stats.relations,
    }


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t)
    return out


async def answers(
    store: GraphStore, g: Graph, starts: list[int], changes: list[str]
) -> dict[str, Any]:
    dep = (g.typ == DEPENDS_ON) | (g.typ == RUNS_ON)
    h = int(np.argmax(np.bincount(g.dst[dep], minlength=g.n)))
    hub = (await store.resolve([(EntityKind(g.kind(h)), g.key(h))]))[0]
    assert hub is not None
    ids = await store.resolve([(EntityKind(g.kind(i)), g.key(i)) for i in starts])
    reached = (await impact(store, [hub])).summary.total  # also warms caches and kernels
    hub_runs = await timed(lambda: impact(store, [hub]), 1)
    typical: list[float] = []
    own: list[float] = []
    for sid in ids:
        assert sid is not None
        typical += await timed(lambda sid=sid: impact(store, [sid]), 1)
        own += await timed(lambda sid=sid: ownership(store, sid), 1)
    chg: list[float] = []
    for key in changes:
        chg += await timed(lambda key=key: change_impact(store, key), 1)
    ready = await timed(lambda: consolidation_readiness(store, "PRJ-consolidate"), 2)
    return {
        "hub_reached": reached,
        "impact_hub_s": min(hub_runs),
        "impact_typical_median_s": statistics.median(typical),
        "impact_typical_p90_s": float(np.percentile(typical, 90)),
        "ownership_median_s": statistics.median(own),
        "change_impact_median_s": statistics.median(chg),
        "change_impact_max_s": max(chg),
        "readiness_s": min(ready),
    }


async def one_store(
    name: str, store: GraphStore, g: Graph, extra: dict[str, Any], starts: list[int], batch: int
) -> dict[str, Any]:
    print(f"  {name}: ingest", flush=True)
    async with store:
        ing = await ingest(store, g, extra, batch)
        print(f"  {name}: answers", flush=True)
        ans = await answers(
            store, g, starts, [e["key"] for e in extra["entities"] if e["kind"] == "Change"]
        )
    return {"ingest": ing, "answers": ans}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    g = cached(args.nodes, args.edges, args.seed, args.workdir)
    rng = np.random.default_rng(7)
    extra = extra_items(g, rng)
    starts = [
        i for i in rng.choice(g.n, 2 * args.starts, replace=False).tolist() if g.tier[i] >= 0
    ][: args.starts]
    out: dict[str, Any] = {
        "graph": {"entities": g.n, "relations": int(g.src.shape[0]), "seed": args.seed},
        "neo4j_version": pinned_version(),
        "batch": args.batch,
        "starts": len(starts),
    }
    with tempfile.TemporaryDirectory() as tmp:
        embedded = store_from_settings(Settings(data=Path(tmp) / "g.db", durability="full"))
        out["embedded"] = await one_store("embedded", embedded, g, extra, starts, args.batch)
        server = Neo4jServer(Path(tmp) / "neo4j", heap=args.heap, page_cache=args.page_cache)
        conn = server.start()
        try:
            gateway = ProfilingGateway(
                DriverGateway(conn.bolt_uri, conn.user, conn.password, conn.database)
            )
            store = Neo4jStore(gateway=gateway)
            out["neo4j"] = await one_store("neo4j", store, g, extra, starts, args.batch)
            out["neo4j"]["slowest_statements"] = gateway.top()
            out["neo4j"]["server_peak_rss_mb"] = (server.peak_rss_bytes() or 0) / 2**20
            out["neo4j"]["heap"] = args.heap
            out["neo4j"]["page_cache"] = args.page_cache
        finally:
            server.stop()
    e, n = out["embedded"], out["neo4j"]
    out["ratio_embedded_over_neo4j"] = {
        "ingest_entities_per_s": n["ingest"]["entities_per_s"] / e["ingest"]["entities_per_s"],
        "ingest_relations_per_s": n["ingest"]["relations_per_s"] / e["ingest"]["relations_per_s"],
        **{k: e["answers"][k] / n["answers"][k] for k in e["answers"] if k.endswith("_s")},
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--edges", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--starts", type=int, default=30)
    ap.add_argument("--heap", default="2g")
    ap.add_argument("--page-cache", default="1g")
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "data")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    result = anyio.run(run, args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
