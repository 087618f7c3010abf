"""Analysis benchmark (issue 4): full answers against the bare traversal, in-process and over HTTP.

    python bench/impact_bench.py [--db bench/data/graph-1m.db] [--starts 200] [--out FILE]

On the seeded 1,000,000-entity / 5,000,000-relation store of bench/core_bench.py
(built once if missing), in one run:

1. **In-process.** From the largest hub and from ``--starts`` random services and
   CIs: the bare traversal (``store.traverse`` of the start, impact direction)
   and the full ``impact`` answer (states, aggregates, first page of 100 with
   paths), best of 3 each; the same answer through strawberry's
   ``schema.execute`` (GraphQL, no HTTP). Ratios are per start, medians reported.
2. **HTTP.** ``graphsvc serve`` on the same store in its own process; the same
   GraphQL query per start from one client, one request at a time.
3. **Demo graph.** ``changeImpact`` of every demo change and
   ``consolidationReadiness`` of every demo consolidation, in-process (median of
   20 runs each, the slowest reported).
4. **asOf a week back.** A copy of the store gets seven "daily" runs, each
   changing 1% of it (10,000 entity updates, 25,000 relations retired, 25,000
   new relations); then ``impact`` as of the time before the first day, from
   the random starts (median), and from the hub.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
from strawberry import relay

sys.path.insert(0, str(Path(__file__).parent))

from graphgen import DEPENDS_ON, RUNS_ON, Graph, cached, entity_item, relation_item

from graphsvc.analysis.changes import change_impact
from graphsvc.analysis.impact import impact
from graphsvc.analysis.readiness import consolidation_readiness
from graphsvc.api.graphql.context import GraphContext
from graphsvc.api.graphql.schema import build_schema
from graphsvc.api.tokens import Principal, Scope
from graphsvc.config import Settings
from graphsvc.demo import demo_batches
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.store.base import GraphStore, TraversalSpec
from graphsvc.store.factory import store_from_settings

QUERY = """query Impact($ids: [ID!]!) {
  impact(ids: $ids) {
    summary { total stale deepest byKind { kind count } byState { state count }
              servicesByTier { tier count down degraded } }
    affected(first: 100) {
      totalCount
      edges { cursor node { entity { id kind key name } depth state stale
                            path { type from { key } to { key } } } }
    }
    teamsToNotify { team { key name } why inherited viaCount affected }
    affectedProjects { key }
  }
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def best(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    out, times = None, []
    for _ in range(repeat):
        t = time.perf_counter()
        out = await fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def hub_of(g: Graph) -> int:
    dep = (g.typ == DEPENDS_ON) | (g.typ == RUNS_ON)
    return int(np.argmax(np.bincount(g.dst[dep], minlength=g.n)))


def random_starts(g: Graph, count: int) -> list[int]:
    rng = np.random.default_rng(7)
    pool = np.flatnonzero(g.tier >= 0)  # services and CIs (teams have tier -1)
    return [int(i) for i in rng.choice(pool, count, replace=False)]


async def resolve(store: GraphStore, g: Graph, ids: list[int]) -> list[int]:
    found = await store.resolve([(EntityKind(g.kind(i)), g.key(i)) for i in ids])
    assert all(f is not None for f in found)
    return [int(f) for f in found if f is not None]


def gid(g: Graph, i: int, number: int) -> str:
    return relay.to_base64(g.kind(i), number)


# ------------------------------------------------------------------ 1. in-process


async def in_process(db: Path, g: Graph, hub: int, starts: list[int]) -> dict[str, Any]:
    settings = Settings(data=db)
    store = store_from_settings(settings, read_only=True)
    schema = build_schema(settings)
    steps = VOCABULARY.impact_steps
    async with store:
        engine = IngestEngine(store)

        async def gql(number: int, i: int) -> Any:
            ctx = GraphContext(
                store=store, engine=engine, settings=settings, principal=Principal("b", Scope.READ)
            )
            result = await schema.execute(
                QUERY, variable_values={"ids": [gid(g, i, number)]}, context_value=ctx
            )
            assert result.errors is None, result.errors
            return result.data

        (h,) = await resolve(store, g, [hub])
        await store.traverse(TraversalSpec([h], steps))
        await impact(store, [h])  # compile, warm caches
        t_walk, walk = await best(lambda: store.traverse(TraversalSpec([h], steps)), 3)
        t_full, answer = await best(lambda: impact(store, [h]), 3)
        t_gql, _ = await best(lambda: gql(h, hub), 3)
        numbers = await resolve(store, g, starts)
        walks, fulls, gqls, ratios, sizes = [], [], [], [], []
        for n, i in zip(numbers, starts, strict=True):
            tw, _ = await best(lambda n=n: store.traverse(TraversalSpec([n], steps)), 3)
            tf, a = await best(lambda n=n: impact(store, [n]), 3)
            tg, _ = await best(lambda n=n, i=i: gql(n, i), 3)
            walks.append(tw)
            fulls.append(tf)
            gqls.append(tg)
            ratios.append(tf / tw)
            sizes.append(a.summary.total)
    return {
        "hub": {
            "reached": len(walk),
            "services": sum(t.count for t in answer.summary.services_by_tier),
            "teams_to_notify": len(answer.teams_to_notify),
            "projects": len(answer.affected_projects),
            "traverse_ms": t_walk * 1e3,
            "impact_ms": t_full * 1e3,
            "impact_over_traverse": t_full / t_walk,
            "graphql_in_process_ms": t_gql * 1e3,
            "graphql_in_process_over_traverse": t_gql / t_walk,
        },
        "random": {
            "starts": len(starts),
            "reached_median": statistics.median(sizes),
            "reached_max": max(sizes),
            "traverse_median_ms": statistics.median(walks) * 1e3,
            "impact_median_ms": statistics.median(fulls) * 1e3,
            "impact_p90_ms": float(np.percentile(fulls, 90)) * 1e3,
            "impact_over_traverse_median": statistics.median(ratios),
            "graphql_in_process_median_ms": statistics.median(gqls) * 1e3,
        },
    }


# ------------------------------------------------------------------ 2. HTTP


def over_http(db: Path, g: Graph, hub: int, starts: list[int], numbers: dict[int, int]) -> Any:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "graphsvc.cli.main", "serve", "--port", str(port)],
        env={**os.environ, "GRAPHSVC_DATA": str(db), "GRAPHSVC_LOG_FORMAT": "json"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not become ready")
            time.sleep(0.5)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:

            def ask(i: int) -> float:
                t = time.perf_counter()
                r = client.post(
                    "/graphql", json={"query": QUERY, "variables": {"ids": [gid(g, i, numbers[i])]}}
                )
                elapsed = time.perf_counter() - t
                assert r.status_code == 200 and "errors" not in r.json(), r.text[:500]
                return elapsed

            ask(hub)
            hub_ms = min(ask(hub) for _ in range(3)) * 1e3
            for i in starts[:20]:
                ask(i)  # warm up
            times = [min(ask(i) for _ in range(3)) for i in starts]
        rss = int(Path(f"/proc/{server.pid}/status").read_text().split("VmHWM:")[1].split()[0])
    finally:
        server.terminate()
        server.wait(timeout=60)
    return {
        "hub_ms": hub_ms,
        "random_median_ms": statistics.median(times) * 1e3,
        "random_p90_ms": float(np.percentile(times, 90)) * 1e3,
        "server_peak_rss_mb": rss / 1024,
    }


# ------------------------------------------------------------------ 3. demo graph


async def demo_graph() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = store_from_settings(Settings(data=Path(tmp) / "demo.db", durability="normal"))
        async with store:
            engine = IngestEngine(store)
            batches = demo_batches(datetime.datetime.now(datetime.UTC).date())
            for batch in batches:
                await engine.ingest(batch)
            changes = sorted(
                {e.key for b in batches for e in b.entities if e.kind is EntityKind.CHANGE}
            )
            projects = sorted(
                {
                    e.key
                    for b in batches
                    for e in b.entities
                    if e.kind is EntityKind.PROJECT
                    and (e.attributes or {}).get("projectType") == "consolidation"
                }
            )
            out: dict[str, Any] = {"changes": len(changes), "consolidations": len(projects)}
            worst = ("", 0.0)
            for key in changes:
                await change_impact(store, key)
                runs = []
                for _ in range(20):
                    t = time.perf_counter()
                    await change_impact(store, key)
                    runs.append(time.perf_counter() - t)
                if statistics.median(runs) > worst[1]:
                    worst = (key, statistics.median(runs))
            out["change_impact_slowest"] = {"key": worst[0], "median_ms": worst[1] * 1e3}
            worst = ("", 0.0)
            for key in projects:
                await consolidation_readiness(store, key)
                runs = []
                for _ in range(20):
                    t = time.perf_counter()
                    await consolidation_readiness(store, key)
                    runs.append(time.perf_counter() - t)
                if statistics.median(runs) > worst[1]:
                    worst = (key, statistics.median(runs))
            out["readiness_slowest"] = {"key": worst[0], "median_ms": worst[1] * 1e3}
    return out


# ------------------------------------------------------------------ 4. asOf


def daily_batches(g: Graph, day: int, run_id: str) -> list[IngestBatch]:
    """One day's changes: 1% of the entities updated, 1% of the relations replaced."""
    rng = np.random.default_rng(100 + day)
    live = np.flatnonzero(g.tier >= 0)
    touched = rng.choice(live, g.n // 100, replace=False)
    entities = []
    for i in touched.tolist():
        item = entity_item(g, i)
        attrs = dict(item["attributes"])  # type: ignore[call-overload]
        if item["kind"] == "Service":
            attrs["tier"] = 1 + (i + day) % 4
        else:
            attrs["environment"] = f"day-{day}"
        entities.append({**item, "attributes": attrs})
    m = g.src.shape[0]
    retire = rng.choice(m, m // 200, replace=False)
    retired = [{**relation_item(g, j), "status": "retired"} for j in retire.tolist()]
    services = np.flatnonzero(g.tier >= 4)
    a = rng.choice(services, m // 200)
    b = rng.choice(services, m // 200)
    added = [
        {
            "type": "DEPENDS_ON",
            "from": {"kind": "Service", "key": g.key(int(x))},
            "to": {"kind": "Service", "key": g.key(int(y))},
        }
        for x, y in zip(a.tolist(), b.tolist(), strict=True)
        if x != y
    ]
    header = {"source": "bench", "scope": "generated", "runId": run_id}
    items = [("entities", entities), ("relations", retired), ("relations", added)]
    out = []
    for section, rows in items:
        for lo in range(0, len(rows), 10_000):
            out.append(IngestBatch.model_validate({**header, section: rows[lo : lo + 10_000]}))
    return out


async def week_of_changes(db: Path, g: Graph) -> datetime.datetime:
    store = store_from_settings(Settings(data=db, durability="normal"))
    async with store:
        engine = IngestEngine(store)
        before = (await store.stats()).last_commit
        assert before is not None
        for day in range(1, 8):
            t = time.perf_counter()
            run = await engine.start_run("bench", "generated")
            for batch in daily_batches(g, day, run.run_id):
                await engine.ingest(batch)
            await engine.finish_run(run.run_id, complete=False)
            print(f"  day {day}: {time.perf_counter() - t:.1f} s", flush=True)
    return before


async def as_of_answers(
    db: Path, g: Graph, hub: int, starts: list[int], then: datetime.datetime
) -> dict[str, Any]:
    store = store_from_settings(Settings(data=db), read_only=True)
    async with store:
        numbers = await resolve(store, g, starts)
        (h,) = await resolve(store, g, [hub])
        await impact(store, [numbers[0]], as_of=then)
        times, differ = [], 0
        for n in numbers:
            t, past = await best(lambda n=n: impact(store, [n], as_of=then), 3)
            times.append(t)
            now = await impact(store, [n])
            differ += past.summary != now.summary
        t_hub, _ = await best(lambda: impact(store, [h], as_of=then), 2)
        t_hub_now, _ = await best(lambda: impact(store, [h]), 2)
    return {
        "random_median_ms": statistics.median(times) * 1e3,
        "random_p90_ms": float(np.percentile(times, 90)) * 1e3,
        "starts_whose_answer_changed_since": differ,
        "hub_ms": t_hub * 1e3,
        "hub_now_ms": t_hub_now * 1e3,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", type=Path, default=Path(__file__).parent / "data" / "graph-1m.db")
    ap.add_argument("--starts", type=int, default=200)
    ap.add_argument(
        "--phases",
        default="in-process,http,demo,as-of",
        help="comma-separated subset of: in-process, http, demo, as-of",
    )
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    workdir = Path(__file__).parent / "data"
    g = cached(1_000_000, 5_000_000, 42, workdir)
    if not args.db.exists():
        import core_bench

        print(f"building {args.db} (once)...", flush=True)
        anyio.run(core_bench.engine_ingest, g, args.db)
    hub, starts = hub_of(g), random_starts(g, args.starts)
    figures: dict[str, Any] = {"graph": {"entities": g.n, "relations": int(g.src.shape[0])}}
    phases = set(args.phases.split(","))
    if "in-process" in phases:
        print("in-process...", flush=True)
        figures["in_process"] = anyio.run(in_process, args.db, g, hub, starts)
        print(json.dumps(figures["in_process"], indent=2), flush=True)

    async def numbers() -> dict[int, int]:
        store = store_from_settings(Settings(data=args.db), read_only=True)
        async with store:
            found = await resolve(store, g, [hub, *starts])
        return dict(zip([hub, *starts], found, strict=True))

    if "http" in phases:
        print("over HTTP...", flush=True)
        figures["http"] = over_http(args.db, g, hub, starts, anyio.run(numbers))
        ip = figures.get("in_process")
        if ip is not None:
            figures["http"]["hub_over_traverse"] = (
                figures["http"]["hub_ms"] / ip["hub"]["traverse_ms"]
            )
            figures["http"]["random_median_over_traverse"] = (
                figures["http"]["random_median_ms"] / ip["random"]["traverse_median_ms"]
            )
        print(json.dumps(figures["http"], indent=2), flush=True)
    if "demo" in phases:
        print("demo graph...", flush=True)
        figures["demo"] = asyncio.run(demo_graph())
        print(json.dumps(figures["demo"], indent=2), flush=True)
    if "as-of" in phases:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            copy = Path(tmp) / "graph-week.db"
            print("copying the store for a week of changes...", flush=True)
            shutil.copyfile(args.db, copy)
            t = time.perf_counter()
            then = anyio.run(week_of_changes, copy, g)
            figures["as_of"] = {"week_of_changes_s": time.perf_counter() - t}
            figures["as_of"].update(anyio.run(as_of_answers, copy, g, hub, starts, then))
            print(json.dumps(figures["as_of"], indent=2), flush=True)
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
