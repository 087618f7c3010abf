"""Explorer page timings on the 1,000,000-entity graph (issue 22, 5).

    python bench/explorer_bench.py [--db bench/data/graph-1m.db] [--requests 30] \
        [--out bench/results/explorer-1m.json]
    python bench/explorer_bench.py --demo --out /tmp/explorer-demo.json    # the demo graph, built here
    python bench/explorer_bench.py --nodes 20000 --edges 100000 --out /tmp/explorer-20k.json
        # a small graph of the 1M graph's shape (bench/graphgen.py), built here
    python bench/explorer_bench.py --seed-work [--db ...]   # the PPM/ITSM layer added first

Each page of :data:`PAGES` is asked for ``--requests`` times (after one cold
request, reported apart) through the real app in this process (``create_app``,
its lifespan, ``httpx.ASGITransport``: routing, the worker loops, the store, the
analyses and the templates, everything a server does but the socket), and the
time of each answer is taken: p50, p95 and max per page. Local mode, the store
opened read-only (``--read-only``'s replica: nothing is written, so the 1M file
needs no copy).

Pages about an entity are timed for two subjects:

* ``typical``: a service whose impact is of typical size, as bench/latency.py
  picks them: of ``--candidates`` services (seeded sample), impact size of each,
  the one at the median;
* ``hub``: the largest hub, the entity the most ``DEPENDS_ON``/``RUNS_ON``
  relations point to (its impact reaches most of the graph; the page stays
  bounded: 25 rows and the summary).

The goal (PRODUCT.md 10 / issue 22): p95 <= 300 ms for typical pages; each row
says whether it meets it (hub rows are reported against it too, for the record).
A page whose route does not exist (the router's 404, not the explorer's) is left
out and named, so the table can list pages before they are merged. A page with
``--budget`` seconds spent stops early and says how many requests it got.

``--seed-work``: the generated graphs have no changes, windows, projects or team
capacities, so the change, calendar, team and project pages have nothing to show.
This option first ingests a small PPM/ITSM layer over the graph (:func:`work_batch`,
the batch format of the demo and the importers): ~200 changes over the next 8
weeks modifying sampled services (and one modifying the hub), 10 blackout and 10
maintenance windows, 10 consolidation projects with 8 tasks each assigned to 10
teams given ``capacityHoursPerWeek``. The file given by ``--db`` is never written:
it is copied to a temporary directory and the copy is seeded (then opened
read-only as usual). The change page is timed for a typical change and the
hub's (``change-hub``), the team page for the busiest team.

The health page's first request computes the document (reported as ``cold_ms``);
later ones are served from the per-commit cache (``p50``/``p95``); its trend points
are computed in the background, and ``health_trend_filled_s`` says how long that took.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from analysis_bench import ingest
from graphgen import cached

from graphsvc.analysis.impact import impact
from graphsvc.api.app import create_app
from graphsvc.config import Settings
from graphsvc.demo import demo_batches
from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import EntityKind, RelationType
from graphsvc.store.base import GraphStore
from graphsvc.store.factory import store_from_settings

BENCH = Path(__file__).parent
GOAL_P95_MS = 300.0


@dataclass(frozen=True, slots=True)
class PageCase:
    """One page to time.

    Attributes:
        name: The page's name in the results.
        path: The path and query; ``{kind}``, ``{key}`` (percent-encoded) and
            ``{prefix}`` (the key's first three characters: a short search text)
            are the subject's. A path without them is timed once, with no subject.
    """

    name: str
    path: str

    @property
    def per_subject(self) -> bool:
        """Whether the page is about an entity (timed for each subject)."""
        return any(f in self.path for f in ("{kind}", "{key}", "{prefix}"))


PAGES: tuple[PageCase, ...] = (
    PageCase("home", "/"),
    PageCase("search-all", "/search?q="),
    PageCase("search-deep", "/search?q=&after=500000"),
    PageCase("search-key", "/search?q={key}"),
    PageCase("search-short", "/search?q={prefix}"),
    PageCase("entity", "/entity/{kind}/{key}"),
    PageCase("entity-in-page", "/entity/{kind}/{key}?in=1000"),
    PageCase("impact", "/impact?ref={kind}/{key}"),
    PageCase("health", "/health"),
    PageCase("change", "/change/{change}"),
    PageCase("change-hub", "/change/{hub_change}"),
    PageCase("calendar", "/calendar"),
    PageCase("team", "/team/{team}"),
    PageCase("project", "/project/{project}"),
)
"""The explorer's pages. ``{change}``, ``{team}`` and ``{project}`` are the first
entity of that kind in the store (pages of a kind the store lacks are left out)."""


@dataclass(frozen=True, slots=True)
class Subject:
    """An entity the per-entity pages are timed for."""

    label: str
    kind: EntityKind
    key: str
    impact_total: int

    def fields(self, extra: dict[str, str]) -> dict[str, str]:
        """The format fields of :attr:`PageCase.path` for this subject."""
        return {
            "kind": self.kind.value,
            "key": quote(self.key, safe=""),
            "prefix": quote(self.key[:3], safe=""),
            **extra,
        }


async def _impact_total(store: GraphStore, entity_id: int) -> int:
    answer = await impact(store, [entity_id], first=1, paths=False, redundancy=False)
    return answer.summary.total


async def pick_subjects(store: GraphStore, candidates: int) -> tuple[list[Subject], dict[str, Any]]:
    """The typical service (median impact size of a seeded sample) and the largest hub."""
    services = (await store.entity_columns(frozenset({EntityKind.SERVICE}))).ids
    rng = np.random.default_rng(7)
    sample = rng.choice(services, min(candidates, len(services)), replace=False)
    totals = [await _impact_total(store, int(i)) for i in sample]
    median = float(np.median(totals))
    typical_id = int(sample[int(np.argmin([abs(t - median) for t in totals]))])

    edges = await store.relation_columns(frozenset({RelationType.DEPENDS_ON, RelationType.RUNS_ON}))
    live = edges.statuses != 2  # not retired
    hub_id = int(np.argmax(np.bincount(edges.to_ids[live])))

    subjects = []
    for label, entity_id in (("typical", typical_id), ("hub", hub_id)):
        [record] = await store.entities([entity_id])
        assert record is not None, entity_id
        subjects.append(
            Subject(label, record.kind, record.key, await _impact_total(store, entity_id))
        )
    sizes = {
        "candidates": len(totals),
        "p25": float(np.percentile(totals, 25)),
        "median": median,
        "p75": float(np.percentile(totals, 75)),
        "largest_of_sample": int(max(totals)),
    }
    return subjects, sizes


async def first_keys(store: GraphStore) -> dict[str, str]:
    """A key of a Change, a Team and a Project (the pages of those kinds), when there is one."""
    found = {}
    for field, kind in (
        ("change", EntityKind.CHANGE),
        ("team", EntityKind.TEAM),
        ("project", EntityKind.PROJECT),
    ):
        ids = (await store.entity_columns(frozenset({kind}))).ids
        if len(ids):
            [record] = await store.entities([int(ids[0])])
            if record is not None:
                found[field] = quote(record.key, safe="")
    return found


async def time_page(
    client: httpx.AsyncClient, path: str, requests: int, budget: float
) -> dict[str, Any]:
    """Cold time, then ``requests`` timed answers (fewer when ``budget`` seconds run out)."""
    began = time.perf_counter()
    cold = await client.get(path)
    cold_ms = (time.perf_counter() - began) * 1e3
    if cold.status_code == 404 and not cold.headers["content-type"].startswith("text/html"):
        return {"path": path, "missing": True}
    assert cold.status_code == 200, (path, cold.status_code, cold.text[-300:])
    times = []
    spent = time.perf_counter()
    for _ in range(requests):
        began = time.perf_counter()
        r = await client.get(path)
        times.append((time.perf_counter() - began) * 1e3)
        assert r.status_code == 200, (path, r.status_code)
        if time.perf_counter() - spent > budget:
            break
    p50, p95 = (float(x) for x in np.percentile(times, [50, 95]))
    return {
        "path": path,
        "bytes": len(cold.content),
        "cold_ms": round(cold_ms, 1),
        "n": len(times),
        "p50_ms": round(p50, 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(max(times), 1),
        "meets_goal": p95 <= GOAL_P95_MS,
    }


async def measure(
    db: Path,
    requests: int,
    candidates: int,
    budget: float,
    keys: dict[str, str] | None = None,
) -> dict[str, Any]:
    settings = Settings(data=db, read_only=True, auth="local", log_format="json", env="production")
    app = create_app(settings)
    figures: dict[str, Any] = {"db": str(db), "requests": requests, "goal_p95_ms": GOAL_P95_MS}
    began = time.perf_counter()
    async with app.router.lifespan_context(app):
        figures["open_s"] = round(time.perf_counter() - began, 1)
        store: GraphStore = app.state.services.store
        stats = await store.stats()
        figures["entities"], figures["relations"] = stats.entities, stats.relations
        subjects, sizes = await pick_subjects(store, candidates)
        figures["typical_impact_sizes"] = sizes
        figures["subjects"] = {
            s.label: {"ref": f"{s.kind.value}/{s.key}", "impact_total": s.impact_total}
            for s in subjects
        }
        extra = {**await first_keys(store), **(keys or {})}
        trend_began: float | None = None
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        rows: list[dict[str, Any]] = []
        missing: list[str] = []
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", timeout=600
        ) as client:
            for case in PAGES:
                targets: list[tuple[str, dict[str, str]]]
                if case.per_subject:
                    targets = [(s.label, s.fields(extra)) for s in subjects]
                else:
                    targets = [("-", extra)]
                for label, fields in targets:
                    try:
                        path = case.path.format(**fields)
                    except KeyError:
                        missing.append(f"{case.name} (no entity of that kind)")
                        break
                    if case.name == "health":
                        trend_began = time.perf_counter()
                    row = await time_page(client, path, requests, budget)
                    if row.get("missing"):
                        missing.append(f"{case.name} ({path}: no such route)")
                        break
                    rows.append({"page": case.name, "subject": label, **row})
                    print(_line(rows[-1]), flush=True)
        figures["pages"] = rows
        cache = app.state.health_cache
        while trend_began is not None and cache.pending and time.perf_counter() - trend_began < 600:
            await anyio.sleep(0.1)
        if trend_began is not None:
            figures["health_trend_filled_s"] = round(time.perf_counter() - trend_began, 1)
            figures["health_trend_pending_at_end"] = cache.pending
        figures["left_out"] = missing
        typical = [r for r in rows if r["subject"] != "hub" and not r["page"].endswith("-hub")]
        figures["typical_pages_meet_goal"] = all(r["meets_goal"] for r in typical)
    return figures


def _line(row: dict[str, Any]) -> str:
    flag = "ok " if row["meets_goal"] else "SLOW"
    return (
        f"{flag} {row['page']:<14} {row['subject']:<8} p50 {row['p50_ms']:>8.1f} ms"
        f"  p95 {row['p95_ms']:>8.1f} ms  max {row['max_ms']:>8.1f} ms"
        f"  cold {row['cold_ms']:>8.1f} ms  n={row['n']}  {row['path']}"
    )


SEED_CHANGES = 200
SEED_WINDOWS = 10
SEED_PROJECTS = 10
SEED_TASKS = 8
SEED_TEAMS = 10


def _ref(kind: str, key: str) -> dict[str, str]:
    return {"kind": kind, "key": key}


def _at(day: date, days: int, hour: int = 0) -> str:
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment = midnight + timedelta(days=days, hours=hour)
    return moment.isoformat()


def work_batch(
    today: date, services: list[str], hub: tuple[str, str], teams: list[str], seed: int = 7
) -> dict[str, Any]:
    """A small PPM/ITSM layer over a big graph, as one ingest batch (PRODUCT.md 4.4, 4.6, 7).

    ``services``: keys of services the changes, windows and tasks touch (sampled);
    ``hub``: the hub's kind and key (change ``CHG-SEED-HUB`` modifies it); ``teams``:
    keys of the teams given capacities and assigned the tasks and changes.
    """
    rng = np.random.default_rng(seed)
    entities: list[dict[str, Any]] = []
    relations: list[dict[str, Any]] = []

    def pick(n: int) -> list[str]:
        return [services[int(i)] for i in rng.choice(len(services), n, replace=False)]

    for i, team in enumerate(teams):
        hours = int(rng.choice([40, 75, 110, 150]))
        attributes = {"capacityHoursPerWeek": hours, "projectShare": 0.5 if i % 2 else 0.3}
        entities.append({**_ref("Team", team), "attributes": attributes})
    for i in range(SEED_CHANGES):
        key = f"CHG-SEED-{i:04}"
        day = int(rng.integers(0, 56))
        start = int(rng.choice([1, 20, 21, 22, 23]))
        attributes = {
            "state": str(rng.choice(["scheduled", "review", "new"])),
            "changeType": str(rng.choice(["normal", "standard", "emergency"], p=[0.7, 0.25, 0.05])),
            "plannedStart": _at(today, day, start),
            "plannedEnd": _at(today, day, start + 2),
            "risk": str(rng.choice(["low", "moderate", "high"])),
        }
        entities.append(
            {**_ref("Change", key), "name": f"Seeded change {i}", "attributes": attributes}
        )
        for target in pick(int(rng.integers(1, 4))):
            relations.append(
                {"type": "MODIFIES", "from": _ref("Change", key), "to": _ref("Service", target)}
            )
        assignee = teams[int(rng.integers(len(teams)))]
        relations.append(
            {"type": "ASSIGNED_TO", "from": _ref("Change", key), "to": _ref("Team", assignee)}
        )
    entities.append(
        {
            **_ref("Change", "CHG-SEED-HUB"),
            "name": "Replace the hub",
            "attributes": {
                "state": "scheduled",
                "changeType": "normal",
                "plannedStart": _at(today, 10, 22),
                "plannedEnd": _at(today, 11, 2),
                "risk": "high",
            },
        }
    )
    relations.append({"type": "MODIFIES", "from": _ref("Change", "CHG-SEED-HUB"), "to": _ref(*hub)})
    for i in range(SEED_WINDOWS):
        day = int(rng.integers(0, 50))
        for kind, key, attributes in (
            (
                "blackout",
                f"blackout-seed-{i:02}",
                {"start": _at(today, day), "end": _at(today, day + 3), "reason": "seeded freeze"},
            ),
            (
                "maintenance",
                f"maint-seed-{i:02}",
                {
                    "start": _at(today, day % 7, 1),
                    "end": _at(today, day % 7, 5),
                    "recurrence": "weekly",
                },
            ),
        ):
            entities.append(
                {**_ref("Window", key), "attributes": {"windowType": kind, **attributes}}
            )
            for target in pick(3):
                relations.append(
                    {
                        "type": "APPLIES_TO",
                        "from": _ref("Window", key),
                        "to": _ref("Service", target),
                    }
                )
    for p in range(SEED_PROJECTS):
        project = f"PRJ-SEED-{p:02}"
        entities.append(
            {
                **_ref("Project", project),
                "name": f"Seeded consolidation {p}",
                "attributes": {
                    "status": "in progress",
                    "projectType": "consolidation",
                    "plannedStart": _at(today, -30),
                    "plannedEnd": _at(today, 120),
                },
            }
        )
        retiring = pick(2)
        for target in retiring:
            relations.append(
                {
                    "type": "CONSOLIDATES",
                    "from": _ref("Project", project),
                    "to": _ref("Service", target),
                }
            )
        for t in range(SEED_TASKS):
            task = f"TASK-SEED-{p:02}-{t}"
            start = int(rng.integers(0, 48))
            entities.append(
                {
                    **_ref("Task", task),
                    "name": f"Seeded task {t} of {project}",
                    "attributes": {
                        "status": "open",
                        "effortHours": int(rng.integers(8, 120)),
                        "plannedStart": _at(today, start),
                        "due": _at(today, start + int(rng.integers(3, 15))),
                    },
                }
            )
            relations.append(
                {"type": "PART_OF", "from": _ref("Task", task), "to": _ref("Project", project)}
            )
            team = teams[int(rng.integers(len(teams)))]
            relations.append(
                {"type": "ASSIGNED_TO", "from": _ref("Task", task), "to": _ref("Team", team)}
            )
            relations.append(
                {"type": "MODIFIES", "from": _ref("Task", task), "to": _ref("Service", pick(1)[0])}
            )
    return {"source": "bench-seed", "scope": "work", "entities": entities, "relations": relations}


async def seed_work(db: Path, candidates: int) -> dict[str, Any]:
    """Ingest :func:`work_batch` into the store at ``db`` (opened for writing once)."""
    store = store_from_settings(Settings(data=db, durability="normal"))
    async with store:
        subjects, _sizes = await pick_subjects(store, candidates)
        hub = next(s for s in subjects if s.label == "hub")
        services = (await store.entity_columns(frozenset({EntityKind.SERVICE}))).ids
        rng = np.random.default_rng(11)
        chosen = rng.choice(services, min(400, len(services)), replace=False)
        team_ids = (await store.entity_columns(frozenset({EntityKind.TEAM}))).ids
        teams_chosen = rng.choice(team_ids, min(SEED_TEAMS, len(team_ids)), replace=False)
        records = await store.entities([int(i) for i in (*chosen, *teams_chosen)])
        keys = [r.key for r in records if r is not None and r.kind is EntityKind.SERVICE]
        teams = [r.key for r in records if r is not None and r.kind is EntityKind.TEAM]
        batch = work_batch(datetime.now(UTC).date(), keys, (hub.kind.value, hub.key), teams)
        began = time.perf_counter()
        summary = await IngestEngine(store, IngestPolicy()).ingest(
            IngestBatch.model_validate(batch), actor="bench"
        )
        assigned = [
            r["to"]["key"]
            for r in batch["relations"]
            if r["type"] == "ASSIGNED_TO" and r["from"]["kind"] == "Task"
        ]
        busiest = max(set(assigned), key=assigned.count)
        return {
            "entities": len(batch["entities"]),
            "relations": len(batch["relations"]),
            "ingest_s": round(time.perf_counter() - began, 1),
            "written": summary.model_dump_json()[:300]
            if hasattr(summary, "model_dump_json")
            else "",
            "keys": {
                "change": "CHG-SEED-0000",
                "hub_change": "CHG-SEED-HUB",
                "team": quote(busiest, safe=""),
                "project": "PRJ-SEED-00",
            },
        }


async def build_demo(db: Path) -> None:
    """Load the demo graph (dates relative to today) into a new embedded store at ``db``."""
    store = store_from_settings(Settings(data=db, durability="normal"))
    async with store:
        engine = IngestEngine(store, IngestPolicy())
        for batch in demo_batches(datetime.now(UTC).date()):
            await engine.ingest(batch, actor="demo")


def main() -> None:
    """Parse the arguments, time the pages, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=BENCH / "data" / "graph-1m.db")
    parser.add_argument("--demo", action="store_true", help="time the demo graph, built here")
    parser.add_argument("--nodes", type=int, help="time a generated graph of this many entities")
    parser.add_argument("--edges", type=int, default=0, help="its relations (with --nodes)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--candidates", type=int, default=200, help="services sampled for typical")
    parser.add_argument("--budget", type=float, default=60.0, help="most seconds per page")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "explorer-1m.json")
    parser.add_argument(
        "--seed-work",
        action="store_true",
        help="add changes, windows, projects, tasks and capacities first (to a copy of --db)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        db = args.db
        if args.demo:
            db = Path(home) / "demo.db"
            anyio.run(build_demo, db)
        elif args.nodes:
            db = Path(home) / "generated.db"
            edges = args.edges or 5 * args.nodes
            anyio.run(ingest, cached(args.nodes, edges, args.seed, Path(home)), db)
        elif not db.exists():
            sys.exit(f"{db} does not exist (bench/core_bench.py builds the 1M store)")
        seeded: dict[str, Any] = {}
        if args.seed_work:
            if db == args.db:  # never write the input: seed a copy
                copy = Path(home) / "seeded.db"
                for suffix in ("", "-wal", "-shm"):
                    if Path(f"{db}{suffix}").exists():
                        shutil.copyfile(f"{db}{suffix}", f"{copy}{suffix}")
                db = copy
            seeded = anyio.run(seed_work, db, args.candidates)
            print(f"seeded {seeded['entities']} entities, {seeded['relations']} relations")
        keys = seeded.get("keys")
        figures = anyio.run(measure, db, args.requests, args.candidates, args.budget, keys)
        if seeded:
            figures["seeded_work"] = seeded
    figures["db"] = (
        "demo graph"
        if args.demo
        else f"generated {args.nodes} entities, seed {args.seed}"
        if args.nodes
        else str(args.db)
    )
    figures["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    verdict = "meet" if figures["typical_pages_meet_goal"] else "do NOT meet"
    print(f"typical pages {verdict} p95 <= {GOAL_P95_MS:.0f} ms; written {args.out}")
    if figures["left_out"]:
        print("left out: " + "; ".join(figures["left_out"]))


if __name__ == "__main__":
    main()
