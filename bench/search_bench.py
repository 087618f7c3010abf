"""Text search timings, with and without the trigram index (issue 22, "fast on the big graph").

    python bench/search_bench.py [--nodes 100000] [--requests 20] [--out /tmp/search.json]

Builds the entities of a generated graph (bench/graphgen.py; keys ``svc-0001234``,
``ci-…``, ``team-…``, names ``service 1234``/``ci 1234``) in a temporary embedded
store (schema version 6, the text index kept by the writer), then times
``find_entities`` (first page of 25 and its count) for each text of :data:`TEXTS`:

* ``index``: the store as built (texts of 3+ characters use ``entity_text``);
* ``scan``: the same file turned back into a version 5 store (text index dropped)
  and opened read-only, as an old file is read: the entity table is scanned,
  counting bounded at 10,000 like the index path;
* ``scan_unbounded``: the SQL the store ran before (``count(*)`` and the page,
  ``instr(lower(key))`` over the whole table), for the record;

and the explorer's identifier lookup of the search page (``resolve_identifiers``
for every kind, as ``/search`` does on its first page). p50/p95/max in ms.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graphgen import cached, entity_item

from graphsvc.config import Settings
from graphsvc.errors import InvalidInput
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.store.base import EntityQuery, GraphStore
from graphsvc.store.factory import store_from_settings

BATCH = 5000
PAGE = 25


def texts(n: int, home: Path) -> dict[str, str]:
    """Texts to time: an exact key, a rare and a frequent substring, a name, a miss, short."""
    g = cached(n, n, 42, home)
    i = next(i for i in range(int(n * 0.8), n) if int(g.tier[i]) >= 4)  # a service
    key = g.key(i)
    return {
        "exact key": key,
        "exact key, upper case": key.upper(),
        "key middle (rare)": key[3:],
        "name": f"service {i}",
        "frequent (svc)": "svc",
        "no match": "zzz-nothing",
        "two characters (rare)": "zq",
        "two characters (frequent)": "sv",
    }


async def build(n: int, db: Path, folder: Path) -> float:
    g = cached(n, n, 42, folder)  # relations are generated, not stored
    started = time.perf_counter()
    async with store_from_settings(Settings(data=db, durability="normal")) as store:
        engine = IngestEngine(store)
        for lo in range(0, n, BATCH):
            items = [entity_item(g, i) for i in range(lo, min(n, lo + BATCH))]
            await engine.ingest(IngestBatch.model_validate({"source": "bench", "entities": items}))
    return time.perf_counter() - started


def stats(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "p50": round(statistics.median(ms), 1),
        "p95": round(ms[min(len(ms) - 1, int(len(ms) * 0.95))], 1),
        "max": round(ms[-1], 1),
    }


async def time_store(store: GraphStore, cases: dict[str, str], requests: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, text in cases.items():
        samples = []
        for _ in range(requests + 1):
            started = time.perf_counter()
            page = await store.find_entities(EntityQuery(text=text), first=PAGE)
            samples.append(time.perf_counter() - started)
        out[label] = {
            **stats(samples[1:]),
            "total": page.total,
            "more": page.total_is_lower_bound,
        }
    return out


async def time_identifiers(store: GraphStore, text: str, requests: int) -> dict[str, float]:
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        for kind in EntityKind:
            pairs = []
            for id_type in VOCABULARY.identifiers:
                try:
                    pairs.append((id_type, VOCABULARY.normalize_identifier(id_type, text)))
                except (ValueError, InvalidInput):
                    continue
            await store.resolve_identifiers(kind, pairs)
        samples.append(time.perf_counter() - started)
    return stats(samples)


def time_old_sql(db: Path, cases: dict[str, str], requests: int) -> dict[str, Any]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    where = "status != 3 AND (instr(lower(key), ?) > 0 OR instr(lower(name), ?) > 0)"
    out: dict[str, Any] = {}
    for label, text in cases.items():
        p = (text.lower(), text.lower())
        samples = []
        for _ in range(requests + 1):
            started = time.perf_counter()
            conn.execute(f"SELECT count(*) FROM entity WHERE {where}", p).fetchone()
            conn.execute(f"SELECT id FROM entity WHERE {where} ORDER BY id LIMIT ?", (*p, 26))
            samples.append(time.perf_counter() - started)
        out[label] = stats(samples[1:])
    conn.close()
    return out


def as_version_5(db: Path, old: Path) -> None:
    shutil.copy(db, old)
    conn = sqlite3.connect(old)
    for trigger in ("entity_text_insert", "entity_text_update", "entity_text_delete"):
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("DROP TABLE entity_text")
    conn.execute("UPDATE meta SET value = '5' WHERE name = 'schema_version'")
    conn.commit()
    conn.execute("VACUUM")
    conn.close()


async def measure(n: int, requests: int, home: Path) -> dict[str, Any]:
    db = home / "search.db"
    built = await build(n, db, home)
    cases = texts(n, home)
    figures: dict[str, Any] = {"entities": n, "requests": requests, "ingest_seconds": built}
    async with store_from_settings(Settings(data=db, read_only=True)) as store:
        figures["index"] = await time_store(store, cases, requests)
        figures["identifier_lookup"] = await time_identifiers(store, cases["exact key"], requests)
    old = home / "v5.db"
    as_version_5(db, old)
    figures["file_mb"] = {
        "v6": round(db.stat().st_size / 1e6, 1),
        "v5": round(old.stat().st_size / 1e6, 1),
    }
    async with store_from_settings(Settings(data=old, read_only=True)) as store:
        figures["scan"] = await time_store(store, cases, requests)
    figures["scan_unbounded"] = time_old_sql(old, cases, requests)
    started = time.perf_counter()
    async with store_from_settings(Settings(data=old)):
        pass  # a writable open migrates version 5 to 6: builds the text index
    figures["migration_seconds"] = round(time.perf_counter() - started, 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("/tmp/search-bench.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        figures = anyio.run(measure, args.nodes, args.requests, Path(home))
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"{'text':30} {'index p50/p95':>16} {'scan p50/p95':>16} {'old SQL p50/p95':>16}  total")
    for label in figures["index"]:
        i, s, o = figures["index"][label], figures["scan"][label], figures["scan_unbounded"][label]
        total = f"{'>' if i['more'] else ''}{i['total']}"
        print(
            f"{label:30} {i['p50']:>7} /{i['p95']:>7} {s['p50']:>7} /{s['p95']:>7} "
            f"{o['p50']:>7} /{o['p95']:>7}  {total}"
        )
    print(f"identifier lookup (8 kinds): {figures['identifier_lookup']}")
    print(
        f"ingest {figures['ingest_seconds']:.1f} s; file {figures['file_mb']}; "
        f"migration v5 -> v6 {figures['migration_seconds']} s; written {args.out}"
    )


if __name__ == "__main__":
    main()
