"""Crash trials (issues 8 and 20): SIGKILL an ingest or a delivery at a random moment, then check.

    python bench/crash_trials.py [--trials 100] [--seed 1] [--mode both|cli|http]
                                 [--out bench/results/crash-trials.json]
    python bench/crash_trials.py --mode cli --replay SEED     # one trial again
    python bench/crash_trials.py --mode delivery [--trials 100] [--out FILE]  # webhooks
    python bench/crash_trials.py --mode delivery --replay SEED --kill-point ingest|delivery

Each trial, in a fresh temporary folder, with ``GRAPHSVC_DURABILITY=full``:

1. writes ``BATCHES`` batch files. Batch ``i`` creates ``ENTITIES``
   ConfigurationItems keyed ``b<i>-<n>`` (attributes ``ciClass``, ``batch=i``)
   and a ring of ``RUNS_ON`` relations among them (attribute ``batch=i``), and
   updates earlier batches: attribute ``rev=i`` on the first ``UPDATES_1``
   entities of batch ``i-1`` and the first ``UPDATES_2`` of batch ``i-2``, and
   on the first ``REL_UPDATES`` relations of batch ``i-1``. So each batch is
   recognisable in the graph and in the history, creations and updates alike;
2. runs the ingest in a subprocess:

   * ``cli``: ``graphsvc import batch FILE...``; a batch is acknowledged when
     its ``committed batch N/T`` line arrives on stderr;
   * ``http``: ``graphsvc serve`` on a free loopback port, and a client here
     posting the batches one by one to ``POST /api/v1/ingest``; a batch is
     acknowledged when its 200 arrives;

3. kills the process with SIGKILL at a random moment: usually after a random
   number of acknowledgements plus a random part of the time a batch takes, so
   that the kill lands inside a later batch; sometimes (``EARLY``) at a random
   time from the start, which may be before the store exists;
4. reopens the store in this process (timed: the *reopen time*) and checks
   (:func:`check_store`): every acknowledged batch is fully present (every
   entity with its attribute values, every relation, every update); no batch is
   partly present (its creations, relations and updates all there or all
   absent; the batch in flight may be either); the batches present are the
   first ones; the history agrees with the graph (per entity: one creation at
   its ``first_seen``, then exactly one update per present batch that changed
   it, with old and new values; per relation likewise; events of one batch share
   its commit time, later batches have later times; the store's event count is
   exactly the events expected, so absent batches left none); the counts of
   entities and relations are exactly those of the present batches; then one
   more batch is ingested (the store is writable again);
5. starts ``graphsvc serve`` on the store and waits until ``/readyz`` answers
   200 (timed: *ready time*), and reads the entity written in step 4 over REST.

Any departure is a *violation*, described in one line; there must be none.
The RNG is seeded per trial (``seed`` in the results); the kill moment also
depends on timing, so a replay lands on a similar, not the same, moment.

**Delivery trials** (``--mode delivery``, issue 20: "kill -9 of the server
during ingest and during delivery: every committed change has its event, every
event is delivered at least once after the restart, in order per subscription,
no event for an unacknowledged batch"), on an embedded store of their own:

1. ``graphsvc serve`` with ``GRAPHSVC_WEBHOOK_ALLOW_PRIVATE=1`` and small
   delivery batches; two subscriptions to a receiver in this process
   (:class:`DurableReceiver`): ``all`` (every event) and ``cis`` (only the
   ConfigurationItems' events, so its cursor also moves past filtered ones).
   The receiver verifies each delivery's Standard Webhooks signature, waits a
   random few milliseconds, appends it to a file (flushed, fsynced), answers 204;
2. a client posts the batches (the ``http`` mode's), recording each 200;
3. the server is killed either during a batch (as the ``http`` mode) or a
   random 0 to 4 ms after the receiver answered its N-th delivery (N random),
   which lands between a 2xx and the cursor's move as often as not;
4. the store is reopened and checked as in step 4 above (every committed
   change has its event, exactly the events of the batches present; the
   batches present are the acknowledged ones, and perhaps the one in flight,
   whose acknowledgement the kill took), and one more entity is written;
5. the server is restarted on the store; when the receiver holds every event
   each subscription's filter selects in the feed (``GET /api/v1/events``), the
   deliveries read back from the file are checked per subscription
   (:func:`check_deliveries`): every event delivered, exactly as the feed holds
   it, and nothing else; each delivery consecutive events in seq order, none
   beginning after a gap; events sent again only by the first delivery after
   the kill (counted: ``redelivered_events``); one webhook-id, one content; the
   subscription active without an error afterwards.

Delivery results are written only with ``--out``.

Results go to ``bench/results/crash-trials.json``: trials run per mode, batches
checked, acknowledged batches, violations, reopen and ready times (median,
p90, max), the git commit and the parameters. ``tests/store/test_crash_trials.py``
runs a few trials of the same code in the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio

from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.records import HistoryEvent, HistoryOp, ItemKind
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.base import EntityQuery, GraphStore, ItemRef
from graphsvc.store.factory import store_from_settings

HERE = Path(__file__).parent
SOURCE = "crash"
KIND = "ConfigurationItem"
MODES = ("cli", "http")


@dataclass(frozen=True)
class Params:
    """The shape of one trial's ingest."""

    batches: int = 30
    entities: int = 120
    updates_1: int = 30
    updates_2: int = 15
    rel_updates: int = 20
    early: float = 0.1
    """Share of trials killed at a random time from the start instead of after acknowledgements."""
    early_window_cli_s: float = 1.6
    """CLI: early kills land this long after the spawn (start-up, checking, first batches)."""
    early_window_http_s: float = 0.3
    """HTTP: early kills land this long after the first post (the first batches)."""
    timeout_s: float = 90.0


def key(batch: int, n: int) -> str:
    return f"b{batch:04d}-{n:05d}"


def batch_doc(i: int, p: Params) -> dict[str, Any]:
    """Batch ``i`` as a JSON document (see the module docstring)."""
    entities: list[dict[str, Any]] = [
        {"kind": KIND, "key": key(i, n), "attributes": {"ciClass": "vm", "batch": i}}
        for n in range(p.entities)
    ]
    relations: list[dict[str, Any]] = [
        {
            "type": "RUNS_ON",
            "from": {"kind": KIND, "key": key(i, n)},
            "to": {"kind": KIND, "key": key(i, (n + 1) % p.entities)},
            "attributes": {"batch": i},
        }
        for n in range(p.entities)
    ]
    for back, count in ((1, p.updates_1), (2, p.updates_2)):
        if i - back >= 0:
            entities += [
                {"kind": KIND, "key": key(i - back, n), "attributes": {"rev": i}}
                for n in range(count)
            ]
    if i >= 1:
        relations += [
            {
                "type": "RUNS_ON",
                "from": {"kind": KIND, "key": key(i - 1, n)},
                "to": {"kind": KIND, "key": key(i - 1, (n + 1) % p.entities)},
                "attributes": {"rev": i},
            }
            for n in range(p.rel_updates)
        ]
    return {"source": SOURCE, "scope": "trial", "entities": entities, "relations": relations}


def entity_updaters(j: int, n: int, p: Params) -> list[int]:
    """The batches that set ``rev`` on entity ``(j, n)``, in order."""
    out = []
    if n < p.updates_1:
        out.append(j + 1)
    if n < p.updates_2:
        out.append(j + 2)
    return [k for k in out if k < p.batches]


def relation_updaters(j: int, n: int, p: Params) -> list[int]:
    """The batches that set ``rev`` on the relation leaving ``(j, n)``."""
    return [j + 1] if n < p.rel_updates and j + 1 < p.batches else []


def events_of_batch(k: int, p: Params) -> int:
    """How many history events batch ``k`` writes."""
    events = 2 * p.entities
    if k >= 1:
        events += min(p.updates_1, p.entities) + p.rel_updates
    if k >= 2:
        events += min(p.updates_2, p.entities)
    return events


# ------------------------------------------------------------------ processes


STORE_ENV: dict[str, str] = {}
"""``GRAPHSVC_*`` settings of another store for the trials (Neo4j: ``GRAPHSVC_STORE=neo4j``
and its ``GRAPHSVC_NEO4J_*``); empty for the embedded store on each trial's own file."""


def graphsvc_env(db: Path) -> dict[str, str]:
    """The environment of a graphsvc subprocess on ``db`` (no inherited GRAPHSVC_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSVC_")}
    env.update(GRAPHSVC_DATA=str(db), GRAPHSVC_DURABILITY="full", COLUMNS="200")
    env.update(STORE_ENV)
    return env


def store_settings(db: Path) -> Settings:
    """Settings of the store the trials write to (see :data:`STORE_ENV`)."""
    if not STORE_ENV:
        return Settings(data=db, durability="full")
    return Settings(
        data=db,
        store="neo4j",
        neo4j_uri=STORE_ENV["GRAPHSVC_NEO4J_URI"],
        neo4j_user=STORE_ENV["GRAPHSVC_NEO4J_USER"],
        neo4j_password=STORE_ENV["GRAPHSVC_NEO4J_PASSWORD"],  # type: ignore[arg-type]
        neo4j_database=STORE_ENV["GRAPHSVC_NEO4J_DATABASE"],
    )


def graphsvc_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "graphsvc.cli.main", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(
    port: int, method: str, path: str, body: bytes | None = None, timeout: float = 30.0
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float) -> float | None:
    """Poll ``/readyz`` until 200; return the seconds it took, ``None`` if it never did."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            return None
        try:
            status, _ = request(port, "GET", "/readyz", timeout=2.0)
            if status == 200:
                return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.02)
    return None


def serve(
    db: Path, port: int, log: Path, settings: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``graphsvc serve`` on ``db``; ``settings``: more ``GRAPHSVC_*`` variables."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            graphsvc_cmd("serve", "--host", "127.0.0.1", "--port", str(port)),
            env={**graphsvc_env(db), **(settings or {})},
            cwd=db.parent,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Acks:
    """Acknowledged batch indexes, appended by a reader thread, waited on by the killer."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.items: list[tuple[int, float]] = []
        self.ended = False
        self.errors: list[str] = []

    def add(self, index: int) -> None:
        with self.cond:
            self.items.append((index, time.perf_counter()))
            self.cond.notify_all()

    def end(self, error: str | None = None) -> None:
        with self.cond:
            if error:
                self.errors.append(error)
            self.ended = True
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float) -> None:
        with self.cond:
            self.cond.wait_for(lambda: len(self.items) >= count or self.ended, timeout)

    def batch_time(self) -> float:
        """The time a batch takes lately (median gap of the last acknowledgements)."""
        with self.cond:
            times = [t for _, t in self.items]
        if len(times) < 2:
            return 0.1
        return statistics.median(b - a for a, b in zip(times[-6:], times[-5:], strict=False))

    def indexes(self) -> list[int]:
        with self.cond:
            return [i for i, _ in self.items]


def read_cli_acks(stream: Any, acks: Acks, log: list[str]) -> None:
    """Read ``committed batch N/T`` lines from the CLI's stderr (batch N is index N-1)."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip("\n")
        log.append(line)
        if line.startswith("committed batch "):
            acks.add(int(line.split()[2].split("/")[0]) - 1)
    acks.end()


def post_batches(port: int, bodies: list[bytes], acks: Acks, log: list[str]) -> None:
    """Post the batches one by one; each 200 is an acknowledgement."""
    for i, body in enumerate(bodies):
        try:
            status, answer = request(port, "POST", "/api/v1/ingest", body)
        except (OSError, http.client.HTTPException) as exc:
            log.append(f"batch {i}: {type(exc).__name__}: {exc}")
            acks.end()
            return
        if status != 200:
            acks.end(f"batch {i} answered {status}: {answer[:300]!r}")
            return
        acks.add(i)
    acks.end()


# -------------------------------------------------------------------- trials


@dataclass
class Trial:
    """What one trial did and found."""

    mode: str
    seed: int
    batches: int
    plan: str = ""
    kill_after_s: float = 0.0
    killed_mid_run: bool = False
    """The process was still running when killed and had not acknowledged every batch."""
    acked: int = 0
    present: int = 0
    in_flight_present: bool = False
    """The batch after the last acknowledged one is present (committed, ack lost in the kill)."""
    reopen_s: float = 0.0
    check_s: float = 0.0
    ready_s: float | None = None
    duration_s: float = 0.0
    violations: list[str] = field(default_factory=list)


def run_trial(mode: str, seed: int, p: Params, workdir: Path | None = None) -> Trial:
    """Run one trial (see the module docstring) and return what it found."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    warm_up()
    started = time.perf_counter()
    rng = random.Random(seed)
    trial = Trial(mode=mode, seed=seed, batches=p.batches)
    with tempfile.TemporaryDirectory(prefix=f"crash-{mode}-", dir=workdir) as tmp:
        folder = Path(tmp)
        db = folder / "g.db"
        bodies = [json.dumps(batch_doc(i, p)).encode() for i in range(p.batches)]
        log: list[str] = []
        acks = Acks()
        early = rng.random() < p.early
        if early:
            window = p.early_window_cli_s if mode == "cli" else p.early_window_http_s
            delay = rng.uniform(0.0, window)
            trial.plan = f"kill {delay:.3f}s after the start"
        else:
            after = rng.randint(1, p.batches - 2)
            fraction = rng.uniform(0.0, 1.5)
            trial.plan = f"kill {fraction:.2f} batch-times after ack {after}"
        if mode == "cli":
            files = []
            for i, body in enumerate(bodies):
                path = folder / f"batch-{i:04d}.json"
                path.write_bytes(body)
                files.append(str(path))
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                graphsvc_cmd("import", "batch", *files),
                env=graphsvc_env(db),
                cwd=folder,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            worker = threading.Thread(target=read_cli_acks, args=(proc.stderr, acks, log))
        else:
            port = free_port()
            proc = serve(db, port, folder / "serve.log")
            if wait_ready(port, proc, p.timeout_s) is None:
                stop(proc)
                trial.violations.append("the service did not become ready before the ingest")
                return trial
            t0 = time.perf_counter()
            worker = threading.Thread(target=post_batches, args=(port, bodies, acks, log))
        worker.start()
        if early:
            time.sleep(max(0.0, delay - (time.perf_counter() - t0)))
        else:
            acks.wait_for(after, p.timeout_s)
            time.sleep(fraction * acks.batch_time())
        running = proc.poll() is None and not acks.ended
        trial.kill_after_s = time.perf_counter() - t0
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        worker.join(p.timeout_s)
        acked = acks.indexes()
        trial.acked = len(acked)
        trial.killed_mid_run = running and len(acked) < p.batches
        trial.violations += acks.errors
        if acked != list(range(len(acked))):
            trial.violations.append(f"acknowledged out of order: {acked}")
        if not running and len(acked) < p.batches:
            tail = " | ".join(log[-5:])
            trial.violations.append(
                f"the ingest ended by itself after {len(acked)} of {p.batches} batches: {tail}"
            )
        if mode == "http":
            serve_log = (folder / "serve.log").read_text(errors="replace")
            if "Traceback" in serve_log:
                trial.violations.append(f"the service logged a traceback: {serve_log[-500:]}")
        anyio.run(check_after_crash, db, p, set(acked), trial)
        port = free_port()
        server = serve(db, port, folder / "serve-after.log")
        try:
            trial.ready_s = wait_ready(port, server, p.timeout_s)
            if trial.ready_s is None:
                text = (folder / "serve-after.log").read_text(errors="replace")[-500:]
                trial.violations.append(
                    f"the service on the reopened store never got ready: {text}"
                )
            else:
                status, body = request(port, "GET", f"/api/v1/entities/{KIND}/after-crash")
                if status != 200:
                    trial.violations.append(
                        f"GET of the entity written after the crash answered {status}: {body[:200]!r}"
                    )
        finally:
            stop(server)
    trial.duration_s = time.perf_counter() - started
    return trial


_warm = False


def warm_up() -> None:
    """Open an empty store once in this process, so reopen times exclude one-off start costs.

    The first store opened in a process pays for imports and compiling the
    traversal kernels (about half a second here); the figure wanted is what
    recovery and the index rebuild cost.
    """
    global _warm
    if _warm:
        return

    async def open_close(path: Path) -> None:
        async with store_from_settings(Settings(data=path)):
            pass

    with tempfile.TemporaryDirectory(prefix="crash-warm-") as tmp:
        anyio.run(open_close, Path(tmp) / "warm.db")
    _warm = True


async def check_after_crash(db: Path, p: Params, acked: set[int], trial: Trial) -> None:
    """Reopen the store (timed), check it, and write one more batch."""
    t0 = time.perf_counter()
    store = store_from_settings(store_settings(db))
    try:
        await store.open()
    except Exception as exc:
        trial.violations.append(f"the store does not reopen: {type(exc).__name__}: {exc}")
        return
    trial.reopen_s = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        present = await check_store(store, p, acked, trial.violations)
        trial.check_s = time.perf_counter() - t1
        trial.present = len(present)
        trial.in_flight_present = len(acked) in present
        try:
            batch = IngestBatch.model_validate(
                {
                    "source": "after",
                    "entities": [
                        {"kind": KIND, "key": "after-crash", "attributes": {"ciClass": "vm"}}
                    ],
                }
            )
            summary = await IngestEngine(store).ingest(batch, actor="crash-trials")
            if summary.entities_created != 1:
                trial.violations.append(f"the ingest after the crash created {summary}")
        except Exception as exc:
            trial.violations.append(f"the store takes no write: {type(exc).__name__}: {exc}")
    finally:
        await store.close()


async def all_history(store: GraphStore, ref: ItemRef) -> list[HistoryEvent]:
    events: list[HistoryEvent] = []
    after = None
    while True:
        page = await store.history(ref, first=500, after=after)
        events += page.items
        if not page.has_next:
            return events
        after = page.end_cursor


async def check_store(
    store: GraphStore, p: Params, acked: set[int], violations: list[str]
) -> set[int]:
    """Check the store against the batches (module docstring, step 4); return the present ones.

    Appends one line per violation to ``violations``.
    """

    def fail(message: str) -> None:
        violations.append(message)

    stats = await store.stats()
    # ---- entities, read in pages
    records = []
    after = None
    while True:
        page = await store.find_entities(
            EntityQuery(kind=EntityKind.CONFIGURATION_ITEM), first=2000, after=after
        )
        records += page.items
        if not page.has_next:
            break
        after = page.end_cursor
    by_key = {}
    for r in records:
        if r.key == "after-crash":
            fail("an entity of the post-crash batch exists before it was written")
            continue
        by_key[r.key] = r
    counts: Counter[int] = Counter()
    for k in by_key:
        counts[int(k[1:5])] += 1
    present = {i for i in range(p.batches) if counts[i]}
    for i in range(p.batches):
        if counts[i] not in (0, p.entities):
            fail(f"batch {i} is partly present: {counts[i]} of its {p.entities} entities")
        if i in acked and counts[i] == 0:
            fail(f"acknowledged batch {i} is lost")
    unknown = set(counts) - set(range(p.batches))
    if unknown:
        fail(f"entities of batches that do not exist: {sorted(unknown)}")
    if present != set(range(len(present))):
        fail(f"the batches present are not the first ones: {sorted(present)}")
    if stats.entities != len(by_key):
        fail(f"stats counts {stats.entities} entities, the pages hold {len(by_key)}")

    # ---- relations (ids are dense from 1; read a margin beyond the count)
    ids = list(range(1, stats.relations + p.entities + 2))
    relations = [r for r in await store.relations_by_id(ids) if r is not None]
    if len(relations) != stats.relations:
        fail(f"stats counts {stats.relations} relations, reading by id finds {len(relations)}")
    by_id = {r.id: r for r in records}
    rel_by_from: dict[str, list[Any]] = defaultdict(list)
    for rel in relations:
        src, dst = by_id.get(rel.from_id), by_id.get(rel.to_id)
        if src is None or dst is None:
            fail(f"relation {rel.id} has an endpoint that is not a present entity")
            continue
        rel_by_from[src.key].append((rel, dst))
    rel_counts: Counter[int] = Counter()
    for k, rels in rel_by_from.items():
        rel_counts[int(k[1:5])] += len(rels)

    # ---- per batch and per item: values and history
    expected_events = 0
    update_effects: Counter[int] = Counter()  # batch -> updates of it found in histories
    commit_times: dict[int, set[Any]] = defaultdict(set)
    for j in sorted(present):
        expected_events += events_of_batch(j, p)
        if rel_counts[j] != p.entities:
            fail(f"batch {j}: {rel_counts[j]} of its {p.entities} relations present")
        for n in range(p.entities):
            k_ = key(j, n)
            rec = by_key.get(k_)
            if rec is None:
                fail(f"entity {k_} of present batch {j} is missing")
                continue
            updaters = [k for k in entity_updaters(j, n, p) if k in present]
            want: dict[str, Any] = {"ciClass": "vm", "batch": j}
            if updaters:
                want["rev"] = updaters[-1]
            if dict(rec.attributes) != want:
                fail(f"entity {k_}: attributes {dict(rec.attributes)}, expected {want}")
            events = await all_history(store, ItemRef(ItemKind.ENTITY, rec.id))
            check_item_history(
                f"entity {k_}",
                events,
                j,
                entity_updaters(j, n, p),
                present,
                rec.first_seen,
                update_effects,
                commit_times,
                fail,
            )
            # its relation (ring: n -> n+1)
            rels = rel_by_from.get(k_, [])
            target = key(j, (n + 1) % p.entities)
            if len(rels) != 1 or rels[0][1].key != target or rels[0][0].type.value != "RUNS_ON":
                fail(
                    f"entity {k_}: relations {[(r.type.value, d.key) for r, d in rels]}, expected RUNS_ON -> {target}"
                )
                continue
            rel = rels[0][0]
            r_updaters = [k for k in relation_updaters(j, n, p) if k in present]
            r_want: dict[str, Any] = {"batch": j}
            if r_updaters:
                r_want["rev"] = r_updaters[-1]
            if dict(rel.attributes) != r_want:
                fail(
                    f"relation {k_} -> {target}: attributes {dict(rel.attributes)}, expected {r_want}"
                )
            r_events = await all_history(store, ItemRef(ItemKind.RELATION, rel.id))
            check_item_history(
                f"relation {k_} -> {target}",
                r_events,
                j,
                relation_updaters(j, n, p),
                present,
                rel.first_seen,
                update_effects,
                commit_times,
                fail,
            )
    # updates are whole too: every present batch's updates found, none of an absent one
    for k in range(p.batches):
        want_updates = events_of_batch(k, p) - 2 * p.entities if k in present else 0
        if update_effects[k] != want_updates:
            fail(
                f"batch {k}: {update_effects[k]} of its {events_of_batch(k, p) - 2 * p.entities} updates present (expected {want_updates})"
            )
    # one commit time per batch, increasing with the batch number
    last = None
    for k in sorted(present):
        times = commit_times[k]
        if len(times) != 1:
            fail(f"batch {k}: its events carry {len(times)} different commit times")
            continue
        (at,) = times
        if last is not None and at <= last:
            fail(f"batch {k} committed at {at}, not after the batch before it ({last})")
        last = at
    if stats.history_events != expected_events:
        fail(
            f"the history holds {stats.history_events} events; the present batches wrote {expected_events}"
        )
    return present


def check_item_history(
    what: str,
    events: list[HistoryEvent],
    batch: int,
    updaters: list[int],
    present: set[int],
    first_seen: Any,
    update_effects: Counter[int],
    commit_times: dict[int, set[Any]],
    fail: Callable[[str], None],
) -> None:
    """One creation by its batch, then one update per present updater, in order."""
    if not events or events[0].op is not HistoryOp.CREATED:
        fail(f"{what}: history does not start with its creation: {[e.op.value for e in events]}")
        return
    created = events[0]
    if created.at != first_seen:
        fail(f"{what}: created at {created.at}, first seen {first_seen}")
    commit_times[batch].add(created.at)
    expected = [k for k in updaters if k in present]
    updates = events[1:]
    if [e.op for e in updates] != [HistoryOp.UPDATED] * len(expected):
        fail(
            f"{what}: events {[e.op.value for e in events]}, expected created + {len(expected)} updated"
        )
        return
    old = None
    for event, k in zip(updates, expected, strict=True):
        change = event.changes.get("attributes.rev")
        if (
            change is None
            or change.new != k
            or change.old != old
            or set(event.changes) != {"attributes.rev"}
        ):
            fail(f"{what}: update by batch {k} recorded as {dict(event.changes)}")
        old = k
        update_effects[k] += 1
        commit_times[k].add(event.at)
    for event in events:
        if event.source != SOURCE:
            fail(f"{what}: event {event.seq} from source {event.source!r}")


# ------------------------------------------------------------ delivery trials

SUBSCRIPTIONS: dict[str, dict[str, Any]] = {"all": {}, "cis": {"kinds": [KIND]}}
"""The subscriptions of a delivery trial: every event, and only the CIs' (no relation event)."""


KILL_POINTS = ("ingest", "delivery")
"""Where a delivery trial kills the server: during a batch, or just after a delivery."""


@dataclass(frozen=True)
class DeliveryParams:
    """The shape of one delivery trial."""

    ingest: Params = field(
        default_factory=lambda: Params(
            batches=12, entities=40, updates_1=12, updates_2=6, rel_updates=8, early=0.0
        )
    )
    webhook_batch_size: int = 25
    """``GRAPHSVC_WEBHOOK_BATCH_SIZE``: small, so that a batch of the ingest takes several deliveries."""
    poll_seconds: float = 0.05
    answer_delay_s: float = 0.01
    """The receiver waits a random time up to this before answering (deliveries lag the ingest)."""
    during_delivery: float = 0.5
    """Chance that a trial not told where to kill kills just after a delivery was answered."""
    timeout_s: float = 90.0


@dataclass
class DeliveryTrial(Trial):
    """What one delivery trial did and found (``mode`` is ``delivery``)."""

    kill_point: str = ""
    """``ingest`` (during a batch) or ``delivery`` (just after a delivery was answered)."""
    deliveries_before_kill: int = 0
    deliveries_after_restart: int = 0
    events_expected: dict[str, int] = field(default_factory=dict)
    """Per subscription: the events the store holds that its filter selects."""
    redelivered_events: dict[str, int] = field(default_factory=dict)
    """Per subscription: events delivered again after the restart (sent, 2xx, kill, cursor not moved)."""
    catch_up_s: float | None = None
    """From the restarted server's readiness until the receiver held every event."""


@dataclass(frozen=True)
class Received:
    """One delivery as the receiver recorded it (a line of its file)."""

    subscription: str
    webhook_id: str
    events: list[dict[str, Any]]
    at: float
    """``time.perf_counter()`` when the request arrived."""
    verified: bool


class DurableReceiver:
    """A webhook receiver on loopback that records every delivery durably before its 2xx.

    Each subscription posts to ``/<name>``; the receiver checks the Standard
    Webhooks signature with the ``standardwebhooks`` package (a delivery that
    does not verify is answered 401 and recorded as such), waits a random time
    up to ``delay_s``, appends the delivery as one JSON line to ``path``
    (flushed and fsynced), then answers 204. After the ``kill_after``-th
    delivery is answered, :attr:`answered_enough` is set.
    """

    def __init__(self, path: Path, rng: random.Random, delay_s: float) -> None:
        self.path = path
        self.rng = rng
        self.delay_s = delay_s
        self.secrets: dict[str, str] = {}
        self.cond = threading.Condition()
        self.count = 0
        self.seqs: dict[str, set[int]] = defaultdict(set)
        self.kill_after: int | None = None
        self.answered_enough = threading.Event()
        self._file = path.open("ab")
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                name = self.path.strip("/")
                status = receiver.record(name, body, dict(self.headers.items()), at)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
                receiver.answered()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, subscription: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{subscription}"

    def __enter__(self) -> DurableReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._file.close()

    def record(self, name: str, body: bytes, headers: dict[str, str], at: float) -> int:
        from standardwebhooks import Webhook
        from standardwebhooks.webhooks import WebhookVerificationError

        try:
            events: list[dict[str, Any]] = Webhook(self.secrets[name]).verify(body, headers)[
                "events"
            ]
            verified = True
        except (KeyError, WebhookVerificationError):
            events, verified = [], False
        with self.cond:
            delay = self.rng.uniform(0.0, self.delay_s)
        time.sleep(delay)
        line = {
            "subscription": name,
            "webhook_id": headers.get("webhook-id", ""),
            "events": events,
            "at": at,
            "verified": verified,
        }
        with self.cond:
            self._file.write(json.dumps(line).encode() + b"\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self.seqs[name].update(e["seq"] for e in events)
            self.cond.notify_all()
        return 204 if verified else 401

    def answered(self) -> None:
        with self.cond:
            self.count += 1
            if self.kill_after is not None and self.count >= self.kill_after:
                self.answered_enough.set()

    def wait_for(self, wanted: dict[str, set[int]], timeout: float) -> bool:
        """Wait until every subscription has received (at least) its wanted seqs."""
        with self.cond:
            return self.cond.wait_for(
                lambda: all(seqs <= self.seqs[name] for name, seqs in wanted.items()), timeout
            )

    def deliveries(self) -> list[Received]:
        """Every delivery recorded, in arrival order, read back from the file."""
        with self.cond:
            lines = self.path.read_bytes().splitlines()
        return [Received(**json.loads(line)) for line in lines]


def feed(port: int, query: str) -> list[dict[str, Any]]:
    """Every event of ``GET /api/v1/events`` with ``query`` (paged to the end)."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        status, body = request(port, "GET", f"/api/v1/events?after={after}&limit=1000{query}")
        if status != 200:
            raise RuntimeError(f"GET /api/v1/events answered {status}: {body[:200]!r}")
        page = json.loads(body)
        events += page["items"]
        if not page["hasMore"]:
            return events
        after = page["next"]


def check_deliveries(
    name: str, expected: list[dict[str, Any]], got: list[Received], kill_at: float
) -> tuple[list[str], int]:
    """Check one subscription's deliveries against the events its filter selects.

    Every expected event delivered, each exactly as the feed holds it, nothing
    else; each delivery a run of consecutive events in seq order; each delivery
    starting at most one event after the furthest delivered so far (no gap);
    events sent again only in the subscription's first delivery after the kill
    (the batch answered 2xx whose cursor move the kill prevented); one
    ``webhook-id``, one content. Returns the violations and the number of
    events delivered again.
    """
    violations: list[str] = []
    position = {e["seq"]: i for i, e in enumerate(expected)}
    by_id: dict[str, list[int]] = {}
    furthest = -1
    again = 0
    first_after_kill = True
    for d in got:
        seqs = [e["seq"] for e in d.events]
        where = f"{name}: delivery {d.webhook_id} ({seqs[:1]}..{seqs[-1:]})"
        if not d.verified:
            violations.append(f"{name}: a delivery did not verify ({d.webhook_id})")
            continue
        if not seqs:
            violations.append(f"{where} is empty")
            continue
        if by_id.setdefault(d.webhook_id, seqs) != seqs:
            violations.append(f"{where}: the same webhook-id carried {by_id[d.webhook_id]}")
        unknown = [
            e["seq"]
            for e in d.events
            if e["seq"] not in position or expected[position[e["seq"]]] != e
        ]
        if unknown:
            violations.append(f"{where}: events the store does not hold as sent: {unknown[:5]}")
            continue
        indexes = [position[s] for s in seqs]
        if indexes != list(range(indexes[0], indexes[0] + len(indexes))):
            violations.append(f"{where}: not consecutive events of the feed in seq order")
        if indexes[0] > furthest + 1:
            missing = [e["seq"] for e in expected[furthest + 1 : indexes[0]]]
            violations.append(f"{where}: skipped {len(missing)} events ({missing[:5]}...)")
        if indexes[0] <= furthest:
            repeated = min(furthest, indexes[-1]) - indexes[0] + 1
            if d.at > kill_at and first_after_kill:
                again += repeated
            else:
                violations.append(f"{where}: {repeated} events sent again without a crash")
        if d.at > kill_at:
            first_after_kill = False
        furthest = max(furthest, indexes[-1])
    if furthest != len(expected) - 1:
        violations.append(
            f"{name}: delivered up to event {furthest + 1} of {len(expected)} after the restart"
        )
    return violations, again


def run_delivery_trial(
    seed: int, dp: DeliveryParams, workdir: Path | None = None, kill_point: str | None = None
) -> DeliveryTrial:
    """Kill ``graphsvc serve`` during an ingest or just after a delivery; check the deliveries.

    ``kill_point`` (``ingest`` or ``delivery``) overrides the random choice.
    See the module docstring (delivery trials) for the steps and the invariants.
    """
    if STORE_ENV:
        raise ValueError("delivery trials run on an embedded store of their own")
    warm_up()
    started = time.perf_counter()
    p = dp.ingest
    rng = random.Random(seed)
    trial = DeliveryTrial(mode="delivery", seed=seed, batches=p.batches)
    drawn = "delivery" if rng.random() < dp.during_delivery else "ingest"
    trial.kill_point = kill_point or drawn
    settings = {
        "GRAPHSVC_WEBHOOK_ALLOW_PRIVATE": "1",
        "GRAPHSVC_WEBHOOK_BATCH_SIZE": str(dp.webhook_batch_size),
        "GRAPHSVC_WEBHOOK_POLL_SECONDS": str(dp.poll_seconds),
    }
    with (
        tempfile.TemporaryDirectory(prefix="crash-delivery-", dir=workdir) as tmp,
        DurableReceiver(
            Path(tmp) / "received.jsonl", random.Random(rng.random()), dp.answer_delay_s
        ) as receiver,
    ):
        folder = Path(tmp)
        db = folder / "g.db"
        port = free_port()
        proc = serve(db, port, folder / "serve.log", settings)
        if wait_ready(port, proc, dp.timeout_s) is None:
            stop(proc)
            trial.violations.append("the service did not become ready before the ingest")
            return trial
        hooks: dict[str, str] = {}
        for name, query in SUBSCRIPTIONS.items():
            body = {"url": receiver.url(name), "filter": query, "description": name}
            status, answer = request(port, "POST", "/api/v1/webhooks", json.dumps(body).encode())
            if status != 201:
                stop(proc)
                trial.violations.append(f"creating webhook {name} answered {status}: {answer!r}")
                return trial
            made = json.loads(answer)
            receiver.secrets[name] = made["secret"]
            hooks[name] = made["id"]
        bodies = [json.dumps(batch_doc(i, p)).encode() for i in range(p.batches)]
        acks, log = Acks(), list[str]()
        if trial.kill_point == "ingest":
            after = rng.randint(1, p.batches - 2)
            fraction = rng.uniform(0.0, 1.5)
            trial.plan = f"kill {fraction:.2f} batch-times after ack {after}"
        else:
            # at least events / batch size deliveries per subscription: kill after one of
            # the first 90 % of the fewest there can be
            fewest = sum(n // dp.webhook_batch_size for n in subscription_events(p).values())
            receiver.kill_after = rng.randint(1, max(1, int(fewest * 0.9)))
            fraction = rng.uniform(0.0, 0.004)
            trial.plan = (
                f"kill {fraction * 1000:.1f} ms after delivery {receiver.kill_after} was answered"
            )
        t0 = time.perf_counter()
        worker = threading.Thread(target=post_batches, args=(port, bodies, acks, log))
        worker.start()
        if trial.kill_point == "ingest":
            acks.wait_for(after, dp.timeout_s)
            time.sleep(fraction * acks.batch_time())
        else:
            receiver.answered_enough.wait(dp.timeout_s)
            time.sleep(fraction)
        running = proc.poll() is None
        trial.kill_after_s = time.perf_counter() - t0
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kill_at = time.perf_counter()
        worker.join(dp.timeout_s)
        acked = acks.indexes()
        trial.acked = len(acked)
        trial.killed_mid_run = running and (
            len(acked) < p.batches
            if trial.kill_point == "ingest"
            else receiver.answered_enough.is_set()
        )
        trial.violations += acks.errors
        if acked != list(range(len(acked))):
            trial.violations.append(f"acknowledged out of order: {acked}")
        if "Traceback" in (folder / "serve.log").read_text(errors="replace"):
            trial.violations.append("the service logged a traceback before the kill")
        # every committed change has its event, none of an unacknowledged batch
        anyio.run(check_after_crash, db, p, set(acked), trial)
        if trial.present not in (len(acked), len(acked) + 1):
            trial.violations.append(
                f"{trial.present} batches present after {len(acked)} acknowledged"
            )
        # restart: every event is delivered, in order per subscription
        port = free_port()
        server = serve(db, port, folder / "serve-after.log", settings)
        try:
            trial.ready_s = wait_ready(port, server, dp.timeout_s)
            if trial.ready_s is None:
                text = (folder / "serve-after.log").read_text(errors="replace")[-500:]
                trial.violations.append(f"the restarted service never got ready: {text}")
                return trial
            ready_at = time.perf_counter()
            expected = {
                "all": feed(port, ""),
                "cis": feed(port, f"&kind={KIND}"),
            }
            trial.events_expected = {name: len(events) for name, events in expected.items()}
            if len(expected["all"]) != trial_events(p, trial.present):
                trial.violations.append(
                    f"the feed holds {len(expected['all'])} events; the present batches and "
                    f"the write after the crash made {trial_events(p, trial.present)}"
                )
            wanted = {name: {e["seq"] for e in events} for name, events in expected.items()}
            if receiver.wait_for(wanted, dp.timeout_s):
                trial.catch_up_s = time.perf_counter() - ready_at
            else:
                trial.violations.append("the receiver did not get every event after the restart")
            got = sorted(receiver.deliveries(), key=lambda d: d.at)  # arrival order
            trial.deliveries_before_kill = sum(1 for d in got if d.at <= kill_at)
            trial.deliveries_after_restart = len(got) - trial.deliveries_before_kill
            for name, events in expected.items():
                mine = [d for d in got if d.subscription == name]
                found, again = check_deliveries(name, events, mine, kill_at)
                trial.violations += found
                trial.redelivered_events[name] = again
                status, answer = request(port, "GET", f"/api/v1/webhooks/{hooks[name]}")
                hook = json.loads(answer) if status == 200 else {}
                if hook.get("state") != "active" or hook.get("lastError"):
                    trial.violations.append(f"{name}: after the restart the webhook is {hook}")
            if "Traceback" in (folder / "serve-after.log").read_text(errors="replace"):
                trial.violations.append("the restarted service logged a traceback")
        finally:
            stop(server)
    trial.duration_s = time.perf_counter() - started
    return trial


def subscription_events(p: Params) -> dict[str, int]:
    """Events each subscription selects when every batch is committed."""
    entity_events = [
        p.entities
        + (min(p.updates_1, p.entities) if k >= 1 else 0)
        + (min(p.updates_2, p.entities) if k >= 2 else 0)
        for k in range(p.batches)
    ]
    return {
        "all": sum(events_of_batch(k, p) for k in range(p.batches)),
        "cis": sum(entity_events),
    }


def trial_events(p: Params, present: int) -> int:
    """Events of the first ``present`` batches and of the one write after the crash."""
    return sum(events_of_batch(k, p) for k in range(present)) + 1


def summarize_delivery(
    trials: list[DeliveryTrial], dp: DeliveryParams, seed: int
) -> dict[str, Any]:
    """The figures of a set of delivery trials (the JSON written with ``--out``)."""
    base = summarize(list(trials), dp.ingest, seed)
    base["parameters"] = {"seed": seed, **asdict(dp)}
    base["trials_by_kill_point"] = dict(Counter(t.kill_point for t in trials))
    base["deliveries_before_kill"] = sum(t.deliveries_before_kill for t in trials)
    base["deliveries_after_restart"] = sum(t.deliveries_after_restart for t in trials)
    base["events_expected"] = sum(sum(t.events_expected.values()) for t in trials)
    base["trials_with_redelivery"] = sum(1 for t in trials if any(t.redelivered_events.values()))
    base["redelivered_events"] = sum(sum(t.redelivered_events.values()) for t in trials)
    base["catch_up_s"] = spread([t.catch_up_s for t in trials if t.catch_up_s is not None])
    return base


# ------------------------------------------------------------------- summary


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "median": round(statistics.median(values), 4),
        "p90": round(percentile(values, 0.9), 4),
        "max": round(max(values), 4),
    }


def summarize(trials: list[Trial], p: Params, seed: int) -> dict[str, Any]:
    """The figures of a set of trials (the JSON written by the bench)."""
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        cwd=HERE,
        check=False,
    ).stdout.strip()
    violations = [f"{t.mode} seed {t.seed}: {v}" for t in trials for v in t.violations]
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, CPython {platform.python_version()}",
        "git_commit": commit,
        "git_dirty": bool(dirty),
        "parameters": {"seed": seed, **asdict(p)},
        "trials_run": dict(Counter(t.mode for t in trials)),
        "trials_killed_mid_run": dict(Counter(t.mode for t in trials if t.killed_mid_run)),
        "batches_checked": sum(t.batches for t in trials),
        "acked_batches": sum(t.acked for t in trials),
        "present_batches": sum(t.present for t in trials),
        "in_flight_batch_committed": sum(1 for t in trials if t.in_flight_present),
        "violations": violations,
        "reopen_s": spread([t.reopen_s for t in trials if t.reopen_s]),
        "check_s": spread([t.check_s for t in trials if t.check_s]),
        "ready_after_crash_s": spread([t.ready_s for t in trials if t.ready_s is not None]),
        "trial_s": spread([t.duration_s for t in trials]),
        "trials": [asdict(t) for t in trials],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--mode",
        choices=["both", *MODES, "delivery"],
        default="both",
        help="both: cli and http ingest trials; delivery: webhook delivery trials",
    )
    parser.add_argument("--replay", type=int, metavar="SEED", help="run one trial with this seed")
    parser.add_argument(
        "--kill-point",
        choices=KILL_POINTS,
        help="delivery mode: kill only during a batch, or only just after a delivery "
        "(default: alternately; give it with --replay)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the results JSON (cli/http: bench/results/crash-trials.json "
        "unless given; delivery: only when given)",
    )
    args = parser.parse_args()
    if args.mode == "delivery":
        return main_delivery(args)
    p = Params()
    modes = list(MODES) if args.mode == "both" else [args.mode]
    if args.replay is not None:
        plan = [(modes[0], args.replay)]
    else:
        plan = [(modes[t % len(modes)], args.seed * 100_000 + t) for t in range(args.trials)]
    trials: list[Trial] = []
    for number, (mode, seed) in enumerate(plan, start=1):
        trial = run_trial(mode, seed, p)
        trials.append(trial)
        state = "VIOLATION" if trial.violations else "ok"
        ready = f"{trial.ready_s:.2f}s" if trial.ready_s is not None else "never"
        print(
            f"[{number:3d}/{len(plan)}] {mode:4s} seed {seed}: {trial.plan}; "
            f"acked {trial.acked}/{trial.batches}, present {trial.present}"
            f"{' (in-flight batch committed)' if trial.in_flight_present else ''}"
            f"{'' if trial.killed_mid_run else ', not killed mid-run'}; "
            f"reopen {trial.reopen_s * 1000:.0f} ms, ready {ready}, "
            f"{trial.duration_s:.1f}s: {state}",
            flush=True,
        )
        for violation in trial.violations:
            print(f"      violation: {violation}", flush=True)
    result = summarize(trials, p, args.seed)
    if args.replay is None:
        out = args.out or HERE / "results" / "crash-trials.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    brief = {k: v for k, v in result.items() if k != "trials"}
    print(json.dumps(brief, indent=2, default=str))
    return 1 if result["violations"] else 0


def main_delivery(args: argparse.Namespace) -> int:
    """``--mode delivery``: run the delivery trials, print them, write ``--out`` if given."""
    dp = DeliveryParams()
    seeds = (
        [args.replay]
        if args.replay is not None
        else [args.seed * 100_000 + t for t in range(args.trials)]
    )
    trials: list[DeliveryTrial] = []
    for number, seed in enumerate(seeds, start=1):
        # alternately during a batch and just after a delivery, unless told
        point = args.kill_point or KILL_POINTS[(number - 1) % 2]
        trial = run_delivery_trial(seed, dp, kill_point=point)
        trials.append(trial)
        state = "VIOLATION" if trial.violations else "ok"
        catch_up = f"{trial.catch_up_s:.2f}s" if trial.catch_up_s is not None else "never"
        print(
            f"[{number:3d}/{len(seeds)}] delivery seed {seed}: {trial.plan}; "
            f"acked {trial.acked}/{trial.batches}, present {trial.present}"
            f"{' (in-flight batch committed)' if trial.in_flight_present else ''}"
            f"{'' if trial.killed_mid_run else ', not killed mid-run'}; "
            f"deliveries {trial.deliveries_before_kill} before the kill, "
            f"{trial.deliveries_after_restart} after; events {trial.events_expected}, "
            f"again {trial.redelivered_events}; caught up {catch_up} after ready, "
            f"{trial.duration_s:.1f}s: {state}",
            flush=True,
        )
        for violation in trial.violations:
            print(f"      violation: {violation}", flush=True)
    result = summarize_delivery(trials, dp, args.seed)
    if args.out is not None and args.replay is None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    brief = {k: v for k, v in result.items() if k != "trials"}
    print(json.dumps(brief, indent=2, default=str))
    return 1 if result["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
