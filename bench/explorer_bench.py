"""Explorer page timings on the 1,000,000-entity graph (issue 22, 5).

    python bench/explorer_bench.py [--db bench/data/graph-1m.db] [--requests 30] \
        [--out bench/results/explorer-1m.json]
    python bench/explorer_bench.py --demo --out /tmp/explorer-demo.json    # the demo graph, built here
    python bench/explorer_bench.py --nodes 20000 --edges 100000 --out /tmp/explorer-20k.json
        # a small graph of the 1M graph's shape (bench/graphgen.py), built here

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
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
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


async def measure(db: Path, requests: int, candidates: int, budget: float) -> dict[str, Any]:
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
        extra = await first_keys(store)
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
                    row = await time_page(client, path, requests, budget)
                    if row.get("missing"):
                        missing.append(f"{case.name} ({path}: no such route)")
                        break
                    rows.append({"page": case.name, "subject": label, **row})
                    print(_line(rows[-1]), flush=True)
        figures["pages"] = rows
        figures["left_out"] = missing
        typical = [r for r in rows if r["subject"] != "hub"]
        figures["typical_pages_meet_goal"] = all(r["meets_goal"] for r in typical)
    return figures


def _line(row: dict[str, Any]) -> str:
    flag = "ok " if row["meets_goal"] else "SLOW"
    return (
        f"{flag} {row['page']:<14} {row['subject']:<8} p50 {row['p50_ms']:>8.1f} ms"
        f"  p95 {row['p95_ms']:>8.1f} ms  max {row['max_ms']:>8.1f} ms"
        f"  cold {row['cold_ms']:>8.1f} ms  n={row['n']}  {row['path']}"
    )


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
        figures = anyio.run(measure, db, args.requests, args.candidates, args.budget)
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
