"""Load and soak benchmark (issue 8, item 5): portal reads and importer writes, together.

    python bench/load.py [--db bench/data/graph-1m.db] [--duration 600] [--readers 8]
                         [--max-requests 2000000] [--out bench/results/load-1m.json]

1. Copies ``--db`` (with its ``-wal`` if not empty; refused while a graphsvc
   writer holds it) into a temporary directory beside it, with an empty token
   file (no token: loopback only, no ``Authorization`` needed); the copy is
   deleted at the end.
2. Starts ``graphsvc serve`` on 127.0.0.1 over the copy in its own process and
   waits for ``/readyz`` (time to ready reported). Non-loopback hosts are refused.
3. Takes ``--pool`` services from the store itself (GraphQL ``entities(kind:
   SERVICE)`` pages: keys and Relay ids), so any store works, the demo's too.
4. From this process (one ``httpx.AsyncClient``, HTTP/1.1 keep-alive, asyncio):

   * ``--readers`` closed-loop reader tasks, each picking by ``--mix`` weight:
     ``entity`` (a service with its owners), ``impact`` (summary, first 20
     affected with paths, teams to notify), ``ownership``, and ``check`` (below);
   * ``--writers`` importer tasks: runs of ``--batches-per-run`` batches
     (``POST /api/v1/runs``, ``POST /api/v1/ingest`` per batch, ``POST
     /api/v1/runs/{id}/finish`` complete), each batch ``--batch-items``
     ConfigurationItems tagged ``loadTag=load/<seed>`` and ``loadBatch=<n>``,
     each with a RUNS_ON from a pool service; ``--new-fraction`` of them are
     new keys, the others a fixed slot group re-asserted (updated) once per
     run, so the graph grows slowly and the complete runs mark last run's new
     items stale, then retired;
   * a ``check-sql`` task every ``--sql-check-every`` seconds.

   After ``--warmup`` seconds (not counted) it measures for ``--duration``
   seconds or ``--max-requests`` requests, whichever ends first, sampling the
   server's resident memory (``/proc/<pid>/status`` VmRSS) every ``--rss-every`` s.

**Half batches.** A check targets the batch being written (when there is one,
half of the time) or one of the last 20 written, and decides from what it sees:

* ``check`` (``POST /api/v1/entities/resolve`` of the batch's new keys, one
  index lookup under the store's lock): all found or none; none once the ingest
  was acknowledged is a *stale read*;
* ``check-sql`` (GraphQL ``entities(kind: CONFIGURATION_ITEM, filter:
  {attributes: {loadTag: t, loadBatch: n}}) { totalCount }``, one SQL count):
  0, all, or only the new ones once the batch re-asserting its slot group
  (``n`` plus ``--batches-per-run``) had been sent.

Anything else is a half-batch violation. Violations are counted from the first
request on, warm-up included. Errors are non-2xx answers, GraphQL ``errors``,
a null entity, or transport failures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import fcntl
import ipaddress
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

ENTITY_Q = """query Entity($k: String!) {
  entity(kind: SERVICE, key: $k) {
    id key name ... on Service { tier lifecycle }
    incoming(types: [OWNS]) { edges { node { from { key name } } } }
  }
}"""

IMPACT_Q = """query Impact($ids: [ID!]!, $d: Int) {
  impact(ids: $ids, maxDepth: $d) {
    summary { total deepest byKind { kind count } byState { state count }
              servicesByTier { tier count down degraded } }
    affected(first: 20) {
      totalCount
      edges { node { entity { key } depth state path { type from { key } to { key } } } }
    }
    teamsToNotify { team { key } why inherited }
  }
}"""

OWNERSHIP_Q = """query Ownership($id: ID!) {
  ownership(id: $id) {
    entity { key }
    owners { team { key } inherited }
    supporters { team { key } inherited }
    escalation { key }
  }
}"""

CHECK_SQL_Q = """query BatchCheck($f: EntityFilter!) {
  entities(kind: CONFIGURATION_ITEM, filter: $f, first: 1) { totalCount }
}"""

POOL_Q = """query Pool($after: String) {
  entities(kind: SERVICE, filter: {status: [ACTIVE]}, first: 500, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id key } }
  }
}"""

COUNT_Q = """query Count { cis: entities(kind: CONFIGURATION_ITEM, first: 1) { totalCount }
  all: entities(first: 1) { totalCount } }"""

OPS = (
    "entity",
    "impact",
    "ownership",
    "check",
    "check-sql",
    "run-start",
    "ingest",
    "run-finish",
    "livez",
)
JSON_HEADERS = {"Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def status_field(pid: int, field_name: str = "VmRSS") -> int:
    """A number from /proc/<pid>/status (kB for the Vm* fields)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split(f"{field_name}:")[1].split()[0])


def handles(pid: int) -> dict[str, int]:
    """Open file descriptors and threads of a process (a soak leaks them first)."""
    threads = status_field(pid, "Threads")
    fds = sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())
    return {"open_fds": fds, "threads": threads}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def check_loopback(host: str) -> None:
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise SystemExit(f"--host {host!r}: this benchmark runs against loopback only")


def copy_store(src: Path, dst: Path) -> float:
    """Copy a store file (and its ``-wal`` when not empty); seconds taken.

    The source is never opened with SQLite (a read-only open of a WAL database
    leaves ``-wal``/``-shm`` files beside it). A shared ``flock`` on the file
    itself (where a graphsvc writer holds its exclusive one) makes sure no writer
    is changing it meanwhile.
    """
    t = time.perf_counter()
    fd = os.open(src, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(
                f"{src} is open for writing by a graphsvc process; stop it first"
            ) from None
        shutil.copyfile(src, dst)
        wal = src.with_name(src.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            shutil.copyfile(wal, dst.with_name(dst.name + "-wal"))
    finally:
        os.close(fd)
    return time.perf_counter() - t


# ------------------------------------------------------------------ bookkeeping


@dataclass
class OpStats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)  # (seconds, what)


@dataclass
class Batch:
    number: int
    new_keys: list[str]
    items: int
    sent: float = 0.0
    acked: float | None = None
    failed: bool = False


@dataclass
class Shared:
    """What the tasks share (one event loop, no locks needed)."""

    args: argparse.Namespace
    services: list[tuple[str, str]]  # (relay id, key)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    measuring: bool = False
    measure_start: float = 0.0
    budget: int = 0  # measured requests left
    ops: dict[str, OpStats] = field(default_factory=lambda: {op: OpStats() for op in OPS})
    batches: dict[int, Batch] = field(default_factory=dict)
    in_flight: int | None = None
    max_sent: int = -1
    acked: list[int] = field(default_factory=list)
    runs_completed: int = 0
    runs_incomplete: int = 0
    written: dict[str, int] = field(default_factory=dict)
    checks: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    stale_reads: list[str] = field(default_factory=list)
    running: dict[str, int] = field(default_factory=dict)  # op -> requests in flight
    finishes: list[tuple[float, float, int, int]] = field(default_factory=list)
    stalls: list[tuple[float, float, frozenset[str]]] = field(default_factory=list)

    def count(self, name: str, n: int = 1) -> None:
        self.checks[name] = self.checks.get(name, 0) + n

    def take(self) -> bool:
        """Whether one more request may be sent (the bound applies while measuring)."""
        if self.stop.is_set():
            return False
        if self.measuring:
            if self.budget <= 0:
                self.stop.set()
                return False
            self.budget -= 1
        return True

    def record(
        self, op: str, started: float, elapsed: float, error: str | None, what: str = ""
    ) -> None:
        if not self.measuring or started < self.measure_start:
            return
        stats = self.ops[op]
        stats.latencies.append(elapsed)
        if len(stats.slowest) < 5 or elapsed > stats.slowest[-1][0]:
            stats.slowest.append((elapsed, what))
            stats.slowest.sort(reverse=True)
            del stats.slowest[5:]
        if error is not None:
            stats.errors += 1
            if len(stats.first_errors) < 5:
                stats.first_errors.append(error[:600])

    def target(self, rng: random.Random) -> Batch | None:
        """A batch to check: the one in flight (half of the time), else a recent one."""
        if self.in_flight is not None and (rng.random() < 0.5 or not self.acked):
            return self.batches[self.in_flight]
        if self.acked:
            return self.batches[rng.choice(self.acked[-20:])]
        return None


async def call(
    sh: Shared, client: httpx.AsyncClient, op: str, path: str, body: bytes, what: str = ""
) -> tuple[httpx.Response | None, str | None]:
    """POST one request, record its latency; the answer and an error text (None: fine)."""
    started = time.perf_counter()
    error: str | None = None
    response: httpx.Response | None = None
    sh.running[op] = sh.running.get(op, 0) + 1
    try:
        response = await client.post(path, content=body, headers=JSON_HEADERS)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        sh.running[op] -= 1
    elapsed = time.perf_counter() - started
    if response is not None and not answered_well(path, response):
        text = response.content[:500].decode(errors="replace")
        error = f"{response.status_code}: {text}"
    if op == "impact" and response is not None and error is None:
        at = response.content.find(b'"total":')  # the summary comes first: cheap to find
        if at >= 0:
            what += f" (reached {response.content[at + 8 : at + 20].split(b',')[0].decode()})"
    sh.record(op, started, elapsed, error, what)
    return response, error


def answered_well(path: str, response: httpx.Response) -> bool:
    """2xx, and for GraphQL no errors and no null answer (bytes scanned, parsed only if needed)."""
    if not response.is_success:
        return False
    if path != "/graphql":
        return True
    content = response.content
    if b'"errors"' in content and "errors" in orjson.loads(content):
        return False
    return not any(
        null in content for null in (b'"data":null', b'"entity":null', b'"ownership":null')
    )


async def pause(sh: Shared, seconds: float) -> None:
    """Sleep, waking early when the run stops."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sh.stop.wait(), timeout=seconds)


def gql(query: str, variables: dict[str, Any], name: str) -> bytes:
    return orjson.dumps({"query": query, "variables": variables, "operationName": name})


# ------------------------------------------------------------------ readers


async def reader(sh: Shared, client: httpx.AsyncClient, number: int) -> None:
    rng = random.Random(sh.args.seed * 1000 + number)
    names = list(sh.args.mix)
    weights = [sh.args.mix[n] for n in names]
    depth = sh.args.impact_max_depth
    while sh.take():
        op = rng.choices(names, weights)[0]
        relay_id, key = rng.choice(sh.services)
        if op == "check":
            batch = sh.target(rng)
            if batch is not None:
                await check_resolve(sh, client, batch)
                continue
            op = "entity"
        if op == "entity":
            await call(sh, client, op, "/graphql", gql(ENTITY_Q, {"k": key}, "Entity"), key)
        elif op == "impact":
            body = gql(IMPACT_Q, {"ids": [relay_id], "d": depth}, "Impact")
            await call(sh, client, op, "/graphql", body, key)
        elif op == "ownership":
            body = gql(OWNERSHIP_Q, {"id": relay_id}, "Ownership")
            await call(sh, client, op, "/graphql", body, key)
        if sh.args.think > 0:
            await asyncio.sleep(rng.expovariate(1 / sh.args.think))


def judge(
    sh: Shared,
    how: str,
    batch: Batch,
    seen: int,
    legal: set[int],
    acked_before: bool,
    was_in_flight: bool,
) -> None:
    sh.count(f"{how}_checks")
    sh.count(f"{how}_{'in_flight' if was_in_flight else 'written'}")
    if was_in_flight:
        sh.count(f"{how}_in_flight_saw_{'none' if seen == 0 else 'all'}")
    if seen in legal:
        return
    what = (
        f"{how}: batch {batch.number} ({batch.items} items, {len(batch.new_keys)} new): "
        f"saw {seen}, legal {sorted(legal)}, acknowledged before the check: {acked_before}"
    )
    if seen == 0 and acked_before:
        sh.stale_reads.append(what)
    else:
        sh.violations.append(what)


async def check_resolve(sh: Shared, client: httpx.AsyncClient, batch: Batch) -> None:
    """Resolve every new key of a batch in one request: all or none."""
    was_in_flight = batch.acked is None
    acked_before = batch.acked is not None
    refs = [{"kind": "ConfigurationItem", "key": k} for k in batch.new_keys]
    response, error = await call(
        sh, client, "check", "/api/v1/entities/resolve", orjson.dumps({"refs": refs})
    )
    if error is not None or response is None:
        return
    seen = sum(1 for i in orjson.loads(response.content)["ids"] if i is not None)
    n = len(batch.new_keys)
    legal = {n} if acked_before else {0, n}
    judge(sh, "resolve", batch, seen, legal, acked_before, was_in_flight)


async def check_sql(sh: Shared, client: httpx.AsyncClient, batch: Batch) -> None:
    """Count the batch's items by their loadBatch attribute in one SQL count."""
    was_in_flight = batch.acked is None
    acked_before = batch.acked is not None
    wanted = {"loadTag": f"load/{sh.args.seed}", "loadBatch": batch.number}
    body = gql(CHECK_SQL_Q, {"f": {"attributes": wanted}}, "BatchCheck")
    response, error = await call(sh, client, "check-sql", "/graphql", body)
    if error is not None or response is None:
        return
    seen = int(orjson.loads(response.content)["data"]["entities"]["totalCount"])
    legal = {batch.items}
    if not acked_before:
        legal.add(0)
    if sh.max_sent >= batch.number + sh.args.batches_per_run:
        legal.add(len(batch.new_keys))  # its slot group was re-asserted by a later batch
    judge(sh, "sql", batch, seen, legal, acked_before, was_in_flight)


async def sql_checker(sh: Shared, client: httpx.AsyncClient) -> None:
    rng = random.Random(sh.args.seed * 1000 + 999)
    every = sh.args.sql_check_every
    while not sh.stop.is_set():
        await pause(sh, rng.uniform(0.5 * every, 1.5 * every))
        batch = sh.target(rng)
        if batch is not None and sh.take():
            await check_sql(sh, client, batch)


async def prober(sh: Shared, client: httpx.AsyncClient) -> None:
    """``GET /livez`` every ``--probe-every`` s: how long the server's event loop is busy.

    ``/livez`` touches nothing, so its latency is the time the server took to
    get to it. A probe slower than ``--stall-ms`` is a stall; the operations in
    flight at its start or end are remembered, to see what stalls the server.
    """
    every = sh.args.probe_every
    limit = sh.args.stall_ms / 1e3
    while not sh.stop.is_set():
        await pause(sh, every)
        if sh.stop.is_set():
            break
        before = {op for op, n in sh.running.items() if n > 0}
        started = time.perf_counter()
        error: str | None = None
        try:
            response = await client.get("/livez")
            if not response.is_success:
                error = f"{response.status_code}: {response.text[:300]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - started
        sh.record("livez", started, elapsed, error)
        if elapsed > limit and sh.measuring and started >= sh.measure_start:
            during = before | {op for op, n in sh.running.items() if n > 0}
            sh.stalls.append((started - sh.measure_start, elapsed, frozenset(during)))


def stall_summary(sh: Shared) -> dict[str, Any]:
    overlap: dict[str, int] = {}
    for _, _, ops in sh.stalls:
        for op in ops:
            overlap[op] = overlap.get(op, 0) + 1
    worst = sorted(sh.stalls, key=lambda s: -s[1])[:5]
    return {
        "threshold_ms": sh.args.stall_ms,
        "count": len(sh.stalls),
        "seconds_stalled": round(sum(e for _, e, _ in sh.stalls), 1),
        "in_flight_during_stalls": dict(sorted(overlap.items(), key=lambda kv: -kv[1])),
        "worst": [
            {"at_s": round(t, 1), "ms": round(e * 1e3, 1), "in_flight": sorted(ops)}
            for t, e, ops in worst
        ],
    }


# ------------------------------------------------------------------ writers


def batch_document(sh: Shared, n: int, run_id: str, rng: random.Random) -> tuple[bytes, Batch]:
    """Batch ``n``: its slot group's pooled items (updated) plus new items, all ``loadBatch=n``."""
    a = sh.args
    per_run = a.batches_per_run
    n_new = round(a.batch_items * a.new_fraction)
    n_pooled = a.batch_items - n_new
    group = n % per_run
    tag = f"load/{a.seed}"
    entities: list[dict[str, Any]] = []
    relations: list[dict[str, Any]] = []
    new_keys: list[str] = []
    services = sh.services
    for i in range(n_pooled):
        slot = group * n_pooled + i
        key = f"{tag}/pool/{slot:06d}"
        svc = services[slot % len(services)][1]
        entities.append(
            {
                "kind": "ConfigurationItem",
                "key": key,
                "name": f"load pool {slot}",
                "attributes": {"ciClass": "container", "loadTag": tag, "loadBatch": n},
            }
        )
        relations.append(
            {
                "type": "RUNS_ON",
                "from": {"kind": "Service", "key": svc},
                "to": {"kind": "ConfigurationItem", "key": key},
            }
        )
    for i in range(n_new):
        key = f"{tag}/new/{n:07d}/{i:04d}"
        new_keys.append(key)
        entities.append(
            {
                "kind": "ConfigurationItem",
                "key": key,
                "name": f"load new {n}.{i}",
                "attributes": {"ciClass": "vm", "loadTag": tag, "loadBatch": n},
            }
        )
        relations.append(
            {
                "type": "RUNS_ON",
                "from": {"kind": "Service", "key": rng.choice(services)[1]},
                "to": {"kind": "ConfigurationItem", "key": key},
            }
        )
    rng.shuffle(entities)  # new and updated items interleaved in the batch
    document = {
        "source": "loadbench",
        "scope": tag,
        "runId": run_id,
        "entities": entities,
        "relations": relations,
    }
    return orjson.dumps(document), Batch(n, new_keys, len(entities))


async def writer(sh: Shared, client: httpx.AsyncClient, number: int, first_batch: int) -> None:
    """Runs of batches, one after the other (several writers: interleaved batch numbers)."""
    a = sh.args
    rng = random.Random(a.seed * 1000 + 500 + number)
    n = first_batch
    step = a.writers
    while not sh.stop.is_set():
        if not sh.take():
            break
        body = orjson.dumps({"source": "loadbench", "scope": f"load/{a.seed}"})
        response, error = await call(sh, client, "run-start", "/api/v1/runs", body)
        if error is not None or response is None:
            await asyncio.sleep(1)
            continue
        run_id = orjson.loads(response.content)["runId"]
        done = 0
        for _ in range(a.batches_per_run):
            if not sh.take():
                break
            document, batch = batch_document(sh, n, run_id, rng)
            sh.batches[n] = batch
            batch.sent = time.perf_counter()
            sh.in_flight = n
            sh.max_sent = max(sh.max_sent, n)
            response, error = await call(
                sh, client, "ingest", "/api/v1/ingest", document, f"batch {n}"
            )
            sh.in_flight = None
            if error is None and response is not None:
                batch.acked = time.perf_counter()
                sh.acked.append(n)
                if len(sh.acked) > 1000:
                    del sh.acked[:500]
                summary = orjson.loads(response.content)
                for name in (
                    "entitiesCreated",
                    "entitiesUpdated",
                    "entitiesUnchanged",
                    "relationsCreated",
                    "relationsUpdated",
                    "relationsUnchanged",
                ):
                    sh.written[name] = sh.written.get(name, 0) + int(summary.get(name, 0))
                sh.written["batches"] = sh.written.get("batches", 0) + 1
                seen = sum(
                    int(summary.get(k, 0))
                    for k in ("entitiesCreated", "entitiesUpdated", "entitiesUnchanged", "merged")
                )
                if seen != batch.items:
                    sh.violations.append(
                        f"ingest: batch {n} of {batch.items} items answered {seen} entities"
                    )
                done += 1
            else:
                batch.failed = True
            n += step
            if a.write_pause > 0:
                await asyncio.sleep(a.write_pause)
        complete = done == a.batches_per_run
        body = orjson.dumps({"complete": complete})
        t = time.perf_counter()
        response, error = await call(
            sh, client, "run-finish", f"/api/v1/runs/{run_id}/finish", body
        )
        if error is None and response is not None:
            summary = orjson.loads(response.content)
            stale, retired = int(summary.get("markedStale", 0)), int(summary.get("retired", 0))
            sh.written["markedStale"] = sh.written.get("markedStale", 0) + stale
            sh.written["retired"] = sh.written.get("retired", 0) + retired
            if sh.measuring and t >= sh.measure_start:
                ms = (time.perf_counter() - t) * 1e3
                sh.finishes.append((round(t - sh.measure_start, 1), round(ms, 1), stale, retired))
            if complete:
                sh.runs_completed += 1
            else:
                sh.runs_incomplete += 1
        if a.run_pause > 0 and not sh.stop.is_set():
            await pause(sh, a.run_pause)


# ------------------------------------------------------------------ the run


async def pool_of_services(
    client: httpx.AsyncClient, size: int
) -> tuple[list[tuple[str, str]], int]:
    out: list[tuple[str, str]] = []
    after: str | None = None
    total = 0
    while len(out) < size:
        r = await client.post(
            "/graphql", content=gql(POOL_Q, {"after": after}, "Pool"), headers=JSON_HEADERS
        )
        doc = r.json()
        assert r.status_code == 200 and "errors" not in doc, r.text[:500]
        page = doc["data"]["entities"]
        total = int(page["totalCount"])
        out.extend((e["node"]["id"], e["node"]["key"]) for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    if not out:
        raise SystemExit("the store has no active services to read")
    return out[:size], total


async def counts(client: httpx.AsyncClient) -> dict[str, int]:
    r = await client.post("/graphql", content=gql(COUNT_Q, {}, "Count"), headers=JSON_HEADERS)
    data = r.json()["data"]
    return {"entities": data["all"]["totalCount"], "configuration_items": data["cis"]["totalCount"]}


def failed(tasks: list[asyncio.Task[None]]) -> None:
    """Raise the first exception a finished task ended with."""
    for t in tasks:
        if t.done() and (exc := t.exception()) is not None:
            raise exc


async def load(args: argparse.Namespace, base: str, pid: int) -> dict[str, Any]:
    limits = httpx.Limits(
        max_connections=args.readers + args.writers + 4,
        max_keepalive_connections=args.readers + args.writers + 4,
    )
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        services, total_services = await pool_of_services(client, args.pool)
        before = await counts(client)
        print(
            f"pool: {len(services)} of {total_services} services; store: {before['entities']:,} entities",
            flush=True,
        )
        sh = Shared(args=args, services=services)
        tasks = [asyncio.create_task(reader(sh, client, i)) for i in range(args.readers)]
        tasks += [asyncio.create_task(writer(sh, client, w, w)) for w in range(args.writers)]
        if args.sql_check_every > 0:
            tasks.append(asyncio.create_task(sql_checker(sh, client)))
        if args.probe_every > 0:
            tasks.append(asyncio.create_task(prober(sh, client)))

        # warm-up, then measure
        warm_until = time.perf_counter() + args.warmup
        while time.perf_counter() < warm_until and not any(t.done() for t in tasks):
            await asyncio.sleep(0.2)
        failed(tasks)
        print(f"warmed up ({args.warmup:g} s); measuring for {args.duration:g} s...", flush=True)
        sh.budget = args.max_requests
        sh.measure_start = time.perf_counter()
        sh.measuring = True
        wall_start = datetime.datetime.now(datetime.UTC)
        cpu_server0, cpu_client0 = cpu_seconds(pid), sum(os.times()[:2])
        load_start = loadavg()
        handles_start = handles(pid)
        rss: list[tuple[float, float]] = [(0.0, status_field(pid) / 1024)]
        timeline: list[tuple[float, float, float, float, int]] = []
        last = (sh.measure_start, 0, sh.written.get("batches", 0))

        def sample(now: float) -> None:
            nonlocal last
            rss.append((now - sh.measure_start, status_field(pid) / 1024))
            done = sum(len(s.latencies) for op, s in sh.ops.items() if op != "livez")
            batches = sh.written.get("batches", 0)
            span = max(now - last[0], 1e-9)
            timeline.append(
                (
                    round(now - sh.measure_start, 1),
                    round(rss[-1][1], 1),
                    round((done - last[1]) / span, 1),
                    round((batches - last[2]) / span, 2),
                    len(sh.stalls),
                )
            )
            last = (now, done, batches)

        end_at = sh.measure_start + args.duration
        next_sample = sh.measure_start + args.rss_every
        next_print = sh.measure_start + 60
        while not sh.stop.is_set():
            now = time.perf_counter()
            if now >= end_at:
                sh.stop.set()
                break
            if any(t.done() and t.exception() is not None for t in tasks):
                sh.stop.set()
                failed(tasks)
            if now >= next_sample:
                sample(now)
                next_sample += args.rss_every
            if now >= next_print:
                done = sum(len(s.latencies) for s in sh.ops.values())
                print(
                    f"  {now - sh.measure_start:5.0f} s: {done:,} requests, "
                    f"{sh.written.get('batches', 0):,} batches, RSS {rss[-1][1]:,.0f} MB, "
                    f"violations {len(sh.violations)}, load {loadavg()[0]}",
                    flush=True,
                )
                next_print += 60
            await asyncio.sleep(min(0.2, max(0.0, min(end_at, next_sample) - now)))
        stopped = time.perf_counter()
        await asyncio.gather(*tasks)
        measured = time.perf_counter() - sh.measure_start
        cpu_server = cpu_seconds(pid) - cpu_server0
        cpu_client = sum(os.times()[:2]) - cpu_client0
        sample(time.perf_counter())
        peak = status_field(pid, "VmHWM") / 1024
        load_end = loadavg()
        handles_end = handles(pid)
        after = await counts(client)
    return {
        "sh": sh,
        "measured_s": measured,
        "stopped_after_s": stopped - sh.measure_start,
        "wall_start": wall_start,
        "rss": rss,
        "timeline": timeline,
        "handles": {"start": handles_start, "end": handles_end},
        "peak_rss_mb": peak,
        "cpu_server_s": cpu_server,
        "cpu_client_s": cpu_client,
        "loadavg_start": load_start,
        "loadavg_end": load_end,
        "before": before,
        "after": after,
        "pool": len(services),
        "services_total": total_services,
    }


def server_log_summary(path: Path, since: datetime.datetime) -> dict[str, Any]:
    """Problems in the server's log, and its own per-route latency while measuring."""
    problems: list[str] = []
    count = 0
    by_route: dict[str, list[float]] = {}
    with path.open("rb") as f:
        for line in f:
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                count += 1
                if len(problems) < 5:
                    problems.append(line[:600].decode(errors="replace"))
                continue
            if not isinstance(doc, dict):
                continue
            level = doc.get("level")
            status = doc.get("status")
            if level in ("warning", "error", "critical", "exception") or (
                isinstance(status, int) and status >= 500
            ):
                count += 1
                if len(problems) < 5:
                    problems.append(line[:600].decode(errors="replace"))
            if doc.get("event") == "request" and isinstance(doc.get("ms"), int | float):
                stamp = datetime.datetime.fromisoformat(str(doc.get("timestamp")))
                if stamp >= since:
                    route = str(doc.get("path"))
                    if route.startswith("/api/v1/runs/"):
                        route = "/api/v1/runs/{id}/finish"
                    by_route.setdefault(route, []).append(float(doc["ms"]))
    routes = {}
    for route, values in sorted(by_route.items()):
        values.sort()
        routes[route] = {
            "count": len(values),
            "p50_ms": round(pct(values, 0.5), 2),
            "p99_ms": round(pct(values, 0.99), 2),
            "max_ms": round(values[-1], 2),
        }
    return {"problem_lines": count, "first_problems": problems, "server_side_latency": routes}


def summarise(
    args: argparse.Namespace, out: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    sh: Shared = out["sh"]
    measured = out["measured_s"]
    ops: dict[str, Any] = {}
    total = errors = 0
    for op, stats in sh.ops.items():
        values = sorted(stats.latencies)
        if not values:
            continue
        if op != "livez":  # the probe is reported, not counted in the load
            total += len(values)
        errors += stats.errors
        ops[op] = {
            "count": len(values),
            "throughput_per_s": round(len(values) / measured, 2),
            "p50_ms": round(pct(values, 0.50) * 1e3, 2),
            "p99_ms": round(pct(values, 0.99) * 1e3, 2),
            "max_ms": round(values[-1] * 1e3, 2),
            "mean_ms": round(sum(values) / len(values) * 1e3, 2),
            "errors": stats.errors,
            "first_errors": stats.first_errors,
            "slowest": [[round(t * 1e3, 1), what] for t, what in stats.slowest],
        }
    rss = out["rss"]
    values = [mb for _, mb in rss]
    start_mb, end_mb = values[0], values[-1]
    return {
        "benchmark": "bench/load.py",
        "git_commit": git_commit(),
        "started_at": out["wall_start"].isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "note": f"{os.cpu_count()} cores shared by the client (this process) and the server",
            "loadavg_start": out["loadavg_start"],
            "loadavg_end": out["loadavg_end"],
            "cpu_server_s": round(out["cpu_server_s"], 1),
            "cpu_client_s": round(out["cpu_client_s"], 1),
            "cpu_server_share_of_2_cores": round(out["cpu_server_s"] / measured / 2, 3),
        },
        "config": {
            "db": str(args.db),
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "max_requests": args.max_requests,
            "readers": args.readers,
            "writers": args.writers,
            "mix": args.mix,
            "think_s": args.think,
            "impact_max_depth": args.impact_max_depth,
            "batch_items": args.batch_items,
            "new_fraction": args.new_fraction,
            "batches_per_run": args.batches_per_run,
            "write_pause_s": args.write_pause,
            "run_pause_s": args.run_pause,
            "sql_check_every_s": args.sql_check_every,
            "durability": args.durability,
            "service_pool": out["pool"],
            "seed": args.seed,
        },
        "graph": {
            "services_active": out["services_total"],
            "start": out["before"],
            "end": out["after"],
        },
        "server": {
            **extra,
            "handles": out["handles"],
            "rss_mb": {
                "start": round(start_mb, 1),
                "end": round(end_mb, 1),
                "min": round(min(values), 1),
                "max": round(max(values), 1),
                "growth_pct": round((end_mb - start_mb) / start_mb * 100, 2),
                "peak_vmhwm": round(out["peak_rss_mb"], 1),
                "samples": [[round(t, 1), round(mb, 1)] for t, mb in rss],
            },
        },
        "duration_s": round(measured, 1),
        "stopped_by": "max-requests" if out["stopped_after_s"] < args.duration - 1 else "duration",
        "requests": total,
        "requests_note": "all operations but the /livez probe",
        "throughput_per_s": round(total / measured, 2),
        "errors": errors,
        "operations": ops,
        "timeline": {
            "columns": ["at_s", "rss_mb", "requests_per_s", "batches_per_s", "stalls_so_far"],
            "rows": out["timeline"],
        },
        "run_finishes": {
            "columns": ["at_s", "ms", "marked_stale", "retired"],
            "rows": sh.finishes,
        },
        "event_loop_stalls": stall_summary(sh),
        "consistency": {
            "half_batch_violations": len(sh.violations),
            "stale_reads": len(sh.stale_reads),
            "first_violations": sh.violations[:5],
            "first_stale_reads": sh.stale_reads[:5],
            "checks": dict(sorted(sh.checks.items())),
        },
        "writes": {
            "batches_written": sh.written.get("batches", 0),
            "runs_completed": sh.runs_completed,
            "runs_finished_incomplete": sh.runs_incomplete,
            **{k: v for k, v in sh.written.items() if k != "batches"},
            "note": "warm-up included",
        },
    }


def table(fig: dict[str, Any]) -> str:
    lines = [
        f"{'operation':<11} {'count':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>9} {'max ms':>9} {'errors':>6}"
    ]
    for op, s in fig["operations"].items():
        lines.append(
            f"{op:<11} {s['count']:>8,} {s['throughput_per_s']:>8.1f} {s['p50_ms']:>8.1f} "
            f"{s['p99_ms']:>9.1f} {s['max_ms']:>9.1f} {s['errors']:>6}"
        )
    lines.append(
        f"{'total*':<11} {fig['requests']:>8,} {fig['throughput_per_s']:>8.1f}"
        f"{'':>28} {fig['errors']:>6}"
    )
    r = fig["server"]["rss_mb"]
    c = fig["consistency"]
    w = fig["writes"]
    lines += [
        "* without livez, the event-loop probe",
        f"duration {fig['duration_s']} s ({fig['stopped_by']}), time to ready "
        f"{fig['server']['time_to_ready_s']} s, load average {fig['machine']['loadavg_start']} -> "
        f"{fig['machine']['loadavg_end']}, server CPU {fig['machine']['cpu_server_s']} s, "
        f"client CPU {fig['machine']['cpu_client_s']} s",
        f"server RSS start {r['start']:,} MB, end {r['end']:,} MB, max {r['max']:,} MB, "
        f"growth {r['growth_pct']} %",
        f"half-batch violations {c['half_batch_violations']}, stale reads {c['stale_reads']}, "
        f"checks {c['checks']}",
        f"batches written {w['batches_written']:,}, runs completed {w['runs_completed']}, "
        f"CIs {fig['graph']['start']['configuration_items']:,} -> "
        f"{fig['graph']['end']['configuration_items']:,}",
        f"server log problem lines: {fig['server']['log']['problem_lines']}",
        f"/livez stalls over {fig['event_loop_stalls']['threshold_ms']:g} ms: "
        f"{fig['event_loop_stalls']['count']} ({fig['event_loop_stalls']['seconds_stalled']} s), "
        f"in flight then: {fig['event_loop_stalls']['in_flight_during_stalls']}",
    ]
    return "\n".join(lines)


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in ("entity", "impact", "ownership", "check"):
            raise argparse.ArgumentTypeError(f"unknown operation {name!r} in --mix")
        mix[name] = float(weight)
    return mix


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", type=Path, default=BENCH / "data" / "graph-1m.db")
    ap.add_argument("--host", default="127.0.0.1", help="loopback only")
    ap.add_argument("--duration", type=float, default=600, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=30, help="seconds of load before measuring")
    ap.add_argument("--max-requests", type=int, default=2_000_000, help="measured requests at most")
    ap.add_argument("--readers", type=int, default=8)
    ap.add_argument("--writers", type=int, default=1)
    ap.add_argument(
        "--mix", type=parse_mix, default=parse_mix("entity=4,impact=3,ownership=2,check=1")
    )
    ap.add_argument(
        "--think", type=float, default=0.0, help="mean pause of a reader between requests (s)"
    )
    ap.add_argument("--impact-max-depth", type=int, default=None, help="default: unbounded")
    ap.add_argument("--batch-items", type=int, default=200)
    ap.add_argument("--new-fraction", type=float, default=0.1, help="share of new keys per batch")
    ap.add_argument("--batches-per-run", type=int, default=20)
    ap.add_argument("--write-pause", type=float, default=0.0, help="seconds between batches")
    ap.add_argument("--run-pause", type=float, default=1.0, help="seconds between runs")
    ap.add_argument(
        "--sql-check-every",
        type=float,
        default=30.0,
        help="seconds; 0: no check-sql (a full scan of the entity table: ~1 s on 1M)",
    )
    ap.add_argument("--probe-every", type=float, default=0.25, help="GET /livez period; 0: none")
    ap.add_argument("--stall-ms", type=float, default=250.0, help="a slower /livez is a stall")
    ap.add_argument("--pool", type=int, default=2000, help="services to read and relate")
    ap.add_argument("--rss-every", type=float, default=10.0)
    ap.add_argument("--durability", choices=("full", "normal"), default="full")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    check_loopback(args.host)
    if not args.db.exists():
        raise SystemExit(f"{args.db} does not exist (bench/api_bench.py builds the 1M store)")
    if args.writers < 0 or args.readers < 0:
        raise SystemExit("--writers and --readers cannot be negative")

    tmp = Path(tempfile.mkdtemp(prefix="load-", dir=args.db.resolve().parent))
    server: subprocess.Popen[bytes] | None = None
    try:
        copy = tmp / "load.db"
        print(f"copying {args.db} to {copy}...", flush=True)
        copy_s = copy_store(args.db, copy)
        port = free_port()
        log_path = tmp / "server.log"
        env = {
            **os.environ,
            "GRAPHSVC_DATA": str(copy),
            "GRAPHSVC_TOKENS_FILE": str(tmp / "tokens.db"),
            "GRAPHSVC_DURABILITY": args.durability,
            "GRAPHSVC_LOG_FORMAT": "json",
            "GRAPHSVC_ENV": "production",
        }
        t0 = time.perf_counter()
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "graphsvc.cli.main",
                    "serve",
                    "--host",
                    args.host,
                    "--port",
                    str(port),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base = f"http://{args.host}:{port}"
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(
                    "the server did not become ready:\n" + log_path.read_text()[-3000:]
                )
            time.sleep(0.25)
        ready_s = time.perf_counter() - t0
        print(
            f"copied in {copy_s:.1f} s; server ready in {ready_s:.1f} s (pid {server.pid})",
            flush=True,
        )
        out = asyncio.run(load(args, base, server.pid))
        alive = server.poll() is None
        server.terminate()
        server.wait(timeout=120)
        extra: dict[str, Any] = {
            "copy_s": round(copy_s, 1),
            "time_to_ready_s": round(ready_s, 1),
            "alive_at_end": alive,
            "log": server_log_summary(log_path, out["wall_start"]),
        }
        figures = summarise(args, out, extra)
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(figures))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"wrote {args.out}")
    failed = figures["errors"] or figures["consistency"]["half_batch_violations"]
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
