"""Events benchmark (issue 20): what events cost ingest, and how soon a receiver has them.

    python bench/events_bench.py ingest  [--nodes 1000000] [--edges 5000000] [--out F]
    python bench/events_bench.py latency [--subscriptions 10] [--seconds 60] [--out F]

``ingest`` puts the seeded 1M/5M graph (bench/graphgen.py) through the ingest engine
twice in one run, the way ``bench/core_bench.py`` does: once as graphsvc is (each
created entity and relation is an event, written in the commit's transaction), and once
with the writer's history insert replaced by nothing (no event written; a variant that
exists only in this benchmark). The figure is the ratio of the engine's seconds; the
order of the two runs alternates with ``--pairs``.

``latency`` starts ``graphsvc serve`` on a fresh embedded store, with a receiver process
(a threaded HTTP server answering 204, recording the wall-clock time each delivery
arrived) and ``--subscriptions`` webhook subscriptions to it, plus one Server-Sent Events
follower of ``/api/v1/events/stream`` in the receiver process. Then:

1. ingest throughput with no subscription, then the same load (other keys) with the
   subscriptions and the follower delivering: the ratio is what delivery costs ingest on
   the same two cores;
2. a paced phase (``--rate`` single-entity batches per second for ``--seconds``):
   commit-to-receiver latency per event and subscription, measured from the event's
   commit time (``at``, set when the commit starts) and from the ingest answer the client
   received, p50/p99/max, for webhooks and for the SSE follower.

Every event must reach every subscription (checked; a missing one fails the run).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import orjson

sys.path.insert(0, str(Path(__file__).parent))

from crash_trials import free_port, request, serve, stop, wait_ready

# ------------------------------------------------------------------- ingest


def ingest_pair(nodes: int, edges: int, seed: int, workdir: Path, pairs: int) -> dict[str, Any]:
    """Run the engine ingest with and without events, ``pairs`` times, alternating."""
    import core_bench
    from graphgen import cached

    from graphsvc.store.embedded import writer

    g = cached(nodes, edges, seed, workdir)
    real_history = writer.ChangeSetWriter._history

    def no_history(_self: writer.ChangeSetWriter) -> None:
        return None

    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    for i in range(pairs):
        order = ["off", "on"] if i % 2 == 0 else ["on", "off"]
        for mode in order:
            writer.ChangeSetWriter._history = real_history if mode == "on" else no_history  # type: ignore[method-assign]
            with tempfile.TemporaryDirectory(dir=workdir) as tmp:
                print(f"events {mode}, pair {i + 1}:", flush=True)
                figures = anyio.run(core_bench.engine_ingest, g, Path(tmp) / "g.db")
                figures["history_events"] = float(figures["history_events"])
                runs[mode].append(figures)
                print(
                    f"  engine {figures['engine_seconds']:.1f} s, "
                    f"{figures['history_events']:,.0f} events, "
                    f"{figures['bytes_on_disk'] / 1e6:,.0f} MB",
                    flush=True,
                )
    writer.ChangeSetWriter._history = real_history  # type: ignore[method-assign]
    on = statistics.median(r["engine_seconds"] for r in runs["on"])
    off = statistics.median(r["engine_seconds"] for r in runs["off"])
    on_bytes = statistics.median(r["bytes_on_disk"] for r in runs["on"])
    off_bytes = statistics.median(r["bytes_on_disk"] for r in runs["off"])
    return {
        "graph": {"entities": nodes, "relations": edges, "seed": seed},
        "runs": runs,
        "engine_seconds_on": on,
        "engine_seconds_off": off,
        "ratio_on_to_off": on / off,
        "goal_ratio": 1.10,
        "bytes_on_disk_on": on_bytes,
        "bytes_on_disk_off": off_bytes,
    }


# ------------------------------------------------------------------ receiver


class _Recorder:
    def __init__(self, out: Path) -> None:
        self.sink = out.open("ab", buffering=0)
        self.lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record) + b"\n"
        with self.lock:
            self.sink.write(line)


def receive(port: int, out: Path, server_port: int) -> None:
    """The receiver process: webhook deliveries and an SSE follower, one line per arrival."""
    recorder = _Recorder(out)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrived = time.time()
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            events = orjson.loads(body)["events"]
            recorder.write(
                {
                    "via": self.path,
                    "arrived": arrived,
                    "events": [[e["seq"], e["at"]] for e in events],
                }
            )

        def log_message(self, *_args: Any) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=follow_stream, args=(server_port, recorder), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=httpd.shutdown).start())
    httpd.serve_forever()


def follow_stream(server_port: int, recorder: _Recorder) -> None:
    """Read ``/api/v1/events/stream`` from now on; record each event's arrival."""
    after = None
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server_port, timeout=60)
            path = "/api/v1/events/stream" + (f"?after={after}" if after is not None else "")
            conn.request("GET", path, headers={"Accept": "text/event-stream"})
            response = conn.getresponse()
            data: list[str] = []
            while True:
                raw = response.fp.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\n")
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    arrived = time.time()
                    event = json.loads("\n".join(data))
                    data = []
                    if isinstance(event, dict) and "seq" in event:
                        after = event["seq"]
                        recorder.write(
                            {
                                "via": "sse",
                                "arrived": arrived,
                                "events": [[event["seq"], event["at"]]],
                            }
                        )
        except OSError:
            time.sleep(0.2)


# ------------------------------------------------------------------ latency


def post(port: int, body: dict[str, Any]) -> float:
    """POST an ingest batch; return the wall-clock time its answer arrived."""
    status, answer = request(port, "POST", "/api/v1/ingest", orjson.dumps(body), timeout=120)
    if status != 200:
        raise SystemExit(f"ingest answered {status}: {answer[:300]!r}")
    return time.time()


def batch(prefix: str, lo: int, hi: int) -> dict[str, Any]:
    return {
        "source": "bench",
        "entities": [
            {
                "kind": "Service",
                "key": f"{prefix}-{i}",
                "name": f"{prefix} {i}",
                "attributes": {"tier": 2},
            }
            for i in range(lo, hi)
        ],
    }


def throughput(port: int, prefix: str, batches: int, size: int) -> float:
    """Entities per second through ``POST /api/v1/ingest``, one batch after another."""
    start = time.perf_counter()
    for b in range(batches):
        post(port, batch(prefix, b * size, (b + 1) * size))
    return batches * size / (time.perf_counter() - start)


def last_seq(port: int) -> int:
    status, body = request(port, "GET", "/api/v1/events?limit=1")
    assert status == 200, body
    return int(orjson.loads(body)["lastSeq"])


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_ms": at(0.50) * 1000,
        "p90_ms": at(0.90) * 1000,
        "p99_ms": at(0.99) * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def arrivals(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def busy_arrivals_span(items: list[dict[str, Any]], lo: int, hi: int) -> float:
    """Seconds from the first to the last webhook arrival of events ``lo < seq <= hi``."""
    times = [
        a["arrived"]
        for a in items
        if a["via"] != "sse" and any(lo < seq <= hi for seq, _ in a["events"])
    ]
    return max(times) - min(times) if times else 0.0


def wait_delivered(path: Path, vias: set[str], through: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        top: dict[str, int] = {}
        for a in arrivals(path):
            top[a["via"]] = max([top.get(a["via"], 0)] + [s for s, _ in a["events"]])
        if all(top.get(v, 0) >= through for v in vias):
            return
        time.sleep(0.2)
    raise SystemExit(f"not every receiver had seq {through} after {timeout} s: {top}")


def latency(subscriptions: int, seconds: float, rate: float, load_batches: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port, hook_port = free_port(), free_port()
        server = serve(
            work / "g.db",
            port,
            work / "server.log",
            {"GRAPHSVC_WEBHOOK_ALLOW_PRIVATE": "1", "GRAPHSVC_AUTH": "local"},
        )
        receiver = None
        try:
            if wait_ready(port, server, 60) is None:
                raise SystemExit(
                    f"the server did not start: {(work / 'server.log').read_text()[-2000:]}"
                )
            size = 500
            print("throughput without subscriptions ...", flush=True)
            quiet_rate = throughput(port, "quiet", load_batches, size)
            print(f"  {quiet_rate:,.0f} entities/s", flush=True)

            record = work / "arrivals.ndjson"
            receiver = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "receive",
                    "--port",
                    str(hook_port),
                    "--server-port",
                    str(port),
                    "--record",
                    str(record),
                ]
            )
            time.sleep(1.0)
            vias = {"sse"}
            for k in range(subscriptions):
                status, body = request(
                    port,
                    "POST",
                    "/api/v1/webhooks",
                    orjson.dumps(
                        {
                            "url": f"http://127.0.0.1:{hook_port}/hook/{k}",
                            "description": f"bench {k}",
                        }
                    ),
                )
                assert status == 201, body
                vias.add(f"/hook/{k}")
            print(
                f"throughput with {subscriptions} subscriptions and an SSE follower ...", flush=True
            )
            start_seq = last_seq(port)
            busy_rate = throughput(port, "busy", load_batches, size)
            end_seq = last_seq(port)
            loaded = time.monotonic()
            print(f"  {busy_rate:,.0f} entities/s", flush=True)
            wait_delivered(record, vias, end_seq, timeout=900)
            caught_up = time.monotonic() - loaded
            busy_arrivals = arrivals(record)
            print(f"  every receiver had every event {caught_up:.1f} s after the load", flush=True)

            print(f"paced: {rate:g} single-entity batches/s for {seconds:g} s ...", flush=True)
            acked: dict[int, float] = {}
            paced_start = last_seq(port)
            n = int(seconds * rate)
            t0 = time.monotonic()
            for i in range(n):
                pause = t0 + i / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                answered = post(port, batch("paced", i, i + 1))
                acked[paced_start + i + 1] = answered
            paced_end = last_seq(port)
            assert paced_end == paced_start + n, (paced_start, paced_end, n)
            wait_delivered(record, vias, paced_end)
            every = arrivals(record)
        finally:
            if receiver is not None:
                receiver.terminate()
                receiver.wait(10)
            stop(server)

    def from_commit(items: list[dict[str, Any]], lo: int, hi: int) -> dict[str, dict[str, float]]:
        per_via: dict[str, list[float]] = {}
        seen: dict[str, set[int]] = {}
        for a in items:
            kind = "sse" if a["via"] == "sse" else "webhook"
            for seq, at in a["events"]:
                if lo < seq <= hi and seq not in seen.setdefault(a["via"], set()):
                    seen[a["via"]].add(seq)
                    committed = datetime.fromisoformat(at).timestamp()
                    per_via.setdefault(kind, []).append(a["arrived"] - committed)
        for via in vias:
            missing = set(range(lo + 1, hi + 1)) - seen.get(via, set())
            if missing:
                raise SystemExit(
                    f"{via} never received {len(missing)} events, e.g. {sorted(missing)[:5]}"
                )
        return {kind: percentiles(v) for kind, v in per_via.items()}

    def from_answer(items: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
        per_via: dict[str, list[float]] = {}
        seen: set[tuple[str, int]] = set()
        for a in items:
            kind = "sse" if a["via"] == "sse" else "webhook"
            for seq, _ in a["events"]:
                if seq in acked and (a["via"], seq) not in seen:
                    seen.add((a["via"], seq))
                    per_via.setdefault(kind, []).append(a["arrived"] - acked[seq])
        return {kind: percentiles(v) for kind, v in per_via.items()}

    return {
        "subscriptions": subscriptions,
        "sse_followers": 1,
        "load": {
            "batches": load_batches,
            "batch_entities": 500,
            "entities_per_s_without_subscriptions": quiet_rate,
            "entities_per_s_with_subscriptions": busy_rate,
            "ratio_without_to_with": quiet_rate / busy_rate,
            "latency_from_commit_under_load": from_commit(busy_arrivals, start_seq, end_seq),
            "events": end_seq - start_seq,
            "caught_up_seconds_after_the_load": caught_up,
            "delivered_events_per_s_per_subscription": (end_seq - start_seq)
            / (busy_arrivals_span(busy_arrivals, start_seq, end_seq) or 1.0),
        },
        "paced": {
            "batches_per_s": rate,
            "seconds": seconds,
            "events": n,
            "latency_from_commit": from_commit(every, paced_start, paced_end),
            "latency_from_ingest_answer": from_answer(every),
        },
    }


# --------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="mode", required=True)
    ing = sub.add_parser("ingest")
    ing.add_argument("--nodes", type=int, default=1_000_000)
    ing.add_argument("--edges", type=int, default=5_000_000)
    ing.add_argument("--seed", type=int, default=42)
    ing.add_argument("--pairs", type=int, default=1)
    ing.add_argument("--workdir", type=Path, default=Path(__file__).parent / "data")
    ing.add_argument("--out", type=Path)
    lat = sub.add_parser("latency")
    lat.add_argument("--subscriptions", type=int, default=10)
    lat.add_argument("--seconds", type=float, default=60)
    lat.add_argument("--rate", type=float, default=10)
    lat.add_argument("--load-batches", type=int, default=40)
    lat.add_argument("--out", type=Path)
    rec = sub.add_parser("receive")
    rec.add_argument("--port", type=int, required=True)
    rec.add_argument("--server-port", type=int, required=True)
    rec.add_argument("--record", type=Path, required=True)
    args = ap.parse_args()
    if args.mode == "receive":
        receive(args.port, args.record, args.server_port)
        return
    if args.mode == "ingest":
        result = ingest_pair(args.nodes, args.edges, args.seed, args.workdir, args.pairs)
    else:
        result = latency(args.subscriptions, args.seconds, args.rate, args.load_batches)
    result["machine"] = {"cpus": os.cpu_count()}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        existing = json.loads(args.out.read_text()) if args.out.exists() else {}
        existing[args.mode] = result
        args.out.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    main()
