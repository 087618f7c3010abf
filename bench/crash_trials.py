"""Crash trials (issue 8): SIGKILL an ingest at a random moment, then check the store.

    python bench/crash_trials.py [--trials 100] [--seed 1] [--mode both|cli|http]
                                 [--out bench/results/crash-trials.json]
    python bench/crash_trials.py --mode cli --replay SEED     # one trial again

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


def serve(db: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            graphsvc_cmd("serve", "--host", "127.0.0.1", "--port", str(port)),
            env=graphsvc_env(db),
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
    parser.add_argument("--mode", choices=["both", *MODES], default="both")
    parser.add_argument("--replay", type=int, metavar="SEED", help="run one trial with this seed")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "crash-trials.json")
    args = parser.parse_args()
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
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    brief = {k: v for k, v in result.items() if k != "trials"}
    print(json.dumps(brief, indent=2, default=str))
    return 1 if result["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
