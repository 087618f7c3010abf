"""Service benchmark (issue 3): ``entity(kind, key)`` with its owners over HTTP and in-process.

    python bench/api_bench.py [--db bench/data/graph-1m.db] [--requests 5000] [--concurrency 16]

1. Builds the 1,000,000-entity store with bench/core_bench.py's ingest when the
   file does not exist yet (several minutes, once).
2. Starts ``graphsvc serve`` on 127.0.0.1 in its own process over that store.
3. From this process, sends a bounded number of GraphQL requests (random
   services, each with its owning teams) with a fixed concurrency and reports
   throughput and p50/p99 latency.
4. Runs the same query with strawberry's ``schema.execute`` in-process on a
   read-only view of the same store, and reports the HTTP/in-process ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from graphgen import cached

from graphsvc.api.graphql.context import GraphContext
from graphsvc.api.graphql.schema import build_schema
from graphsvc.api.tokens import Principal, Scope
from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.store.factory import store_from_settings

QUERY = """query Entity($k: String!) {
  entity(kind: SERVICE, key: $k) {
    id key name ... on Service { tier lifecycle }
    incoming(types: [OWNS]) { edges { node { from { key name } } } }
  }
}"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def http_load(port: int, keys: list[str], concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    queue = list(keys)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while queue:
                key = queue.pop()
                t0 = time.perf_counter()
                r = await client.post(
                    "/graphql",
                    json={"query": QUERY, "variables": {"k": key}, "operationName": "Entity"},
                )
                latencies.append(time.perf_counter() - t0)
                if (
                    r.status_code != 200
                    or "errors" in r.json()
                    or r.json()["data"]["entity"] is None
                ):
                    errors += 1

        for _ in range(min(200, len(queue))):  # warm up
            key = queue.pop()
            await client.post("/graphql", json={"query": QUERY, "variables": {"k": key}})
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "throughput_per_s": len(latencies) / elapsed,
        "p50_ms": pct(latencies, 0.50) * 1e3,
        "p99_ms": pct(latencies, 0.99) * 1e3,
    }


async def in_process(db: Path, keys: list[str]) -> dict[str, float]:
    settings = Settings(data=db)
    store = store_from_settings(settings, read_only=True)
    schema = build_schema(settings)
    latencies: list[float] = []
    async with store:
        engine = IngestEngine(store)
        for i, key in enumerate(keys):
            ctx = GraphContext(
                store=store,
                engine=engine,
                settings=settings,
                principal=Principal("bench", Scope.READ),
            )
            t0 = time.perf_counter()
            result = await schema.execute(QUERY, variable_values={"k": key}, context_value=ctx)
            if i >= 200:
                latencies.append(time.perf_counter() - t0)
            assert result.errors is None and result.data and result.data["entity"] is not None, (
                result.errors
            )
    total = sum(latencies)
    return {
        "requests": len(latencies),
        "throughput_per_s": len(latencies) / total,
        "p50_ms": pct(latencies, 0.50) * 1e3,
        "p99_ms": pct(latencies, 0.99) * 1e3,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", type=Path, default=Path(__file__).parent / "data" / "graph-1m.db")
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=5_000_000)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    workdir = Path(__file__).parent / "data"
    g = cached(args.nodes, args.edges, 42, workdir)
    if not args.db.exists():
        import core_bench

        print(f"building {args.db} (once)...", flush=True)
        anyio.run(core_bench.engine_ingest, g, args.db)
    services = np.flatnonzero(g.tier >= 4)
    rng = np.random.default_rng(3)
    keys = [g.key(int(i)) for i in rng.choice(services, args.requests + 200)]

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "graphsvc.cli.main", "serve", "--port", str(port)],
        env={**os.environ, "GRAPHSVC_DATA": str(args.db), "GRAPHSVC_LOG_FORMAT": "json"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not become ready")
            time.sleep(0.5)
        http = asyncio.run(http_load(port, list(keys), args.concurrency))
        status = Path(f"/proc/{server.pid}/status").read_text()
        rss = int(status.split("VmHWM:")[1].split()[0]) / 1024
    finally:
        server.terminate()
        server.wait(timeout=60)
    local = anyio.run(in_process, args.db, keys[: min(len(keys), 3000)])
    figures = {
        "http": http,
        "in_process": local,
        "http_over_in_process_p50": http["p50_ms"] / local["p50_ms"],
        "in_process_over_http_throughput": local["throughput_per_s"] / http["throughput_per_s"],
        "server_peak_rss_mb": rss,
        "concurrency": args.concurrency,
    }
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
