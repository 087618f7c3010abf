"""Health graph benchmark: dependency cycles and single points of failure on a seeded graph.

    python bench/health_graph_bench.py [--nodes 1000000] [--edges 5000000] [--workdir bench/data]
        [--naive 200] [--sample 200] [--db bench/data/graph-1m.db] [--out F]

On the graph of bench/graphgen.py (``cached(...)``), loaded once into an
embedded store under ``--workdir`` (kept for the next run):

1. **Cycles**: ``dependency_cycles`` over the whole graph (``step_edges`` read,
   compiled Tarjan, one ``networkx.find_cycle`` per group, records), beside
   ``scipy.sparse.csgraph.connected_components(connection="strong")`` on the
   same CSR; the groups of two or more entities must be the same count and sizes.
2. **Single points of failure** of the tier-1 service with the largest
   dependency closure (among ``--sample`` tier-1 services, lowest ids first):
   ``single_points_of_failure`` beside the naive definition, one impact per
   candidate (``--naive`` candidates timed and checked against the answer; the
   time for the whole closure is extrapolated when they are fewer).

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import anyio
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

sys.path.insert(0, str(Path(__file__).parent))

from graphgen import cached, entity_item, relation_item

from graphsvc.analysis._graph_kernels import strong_components
from graphsvc.analysis.cycles import cyclic_groups, dependency_cycles, one_cycle
from graphsvc.analysis.impact import analyse
from graphsvc.analysis.spof import single_points_of_failure
from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.store.base import EntityQuery, GraphStore, TraversalSpec
from graphsvc.store.factory import store_from_settings

BATCH = 10_000


async def load(store: GraphStore, g, marker: Path) -> float:  # type: ignore[no-untyped-def]
    """Ingest the graph once (entities, then relations, 10,000 items a batch)."""
    if marker.exists():
        return 0.0
    engine = IngestEngine(store)
    started = time.perf_counter()
    for lo in range(0, g.n, BATCH):
        items = [entity_item(g, i) for i in range(lo, min(g.n, lo + BATCH))]
        await engine.ingest(IngestBatch.model_validate({"source": "bench", "entities": items}))
    m = int(g.src.shape[0])
    for lo in range(0, m, BATCH):
        items = [relation_item(g, j) for j in range(lo, min(m, lo + BATCH))]
        await engine.ingest(IngestBatch.model_validate({"source": "bench", "relations": items}))
    marker.write_text("loaded\n")
    return time.perf_counter() - started


async def cycles_part(store: GraphStore) -> dict[str, object]:
    started = time.perf_counter()
    edges = await store.step_edges(VOCABULARY.impact_steps)
    read = time.perf_counter() - started
    started = time.perf_counter()
    report = await dependency_cycles(store)
    ours = time.perf_counter() - started
    ids, inverse = np.unique(np.concatenate([edges.source, edges.target]), return_inverse=True)
    inverse = inverse.reshape(-1)
    m = edges.source.shape[0]
    started = time.perf_counter()
    matrix = coo_matrix(
        (np.ones(m, dtype=np.int8), (inverse[:m], inverse[m:])), shape=(ids.size, ids.size)
    ).tocsr()
    built = time.perf_counter() - started
    started = time.perf_counter()
    _, labels = connected_components(matrix, directed=True, connection="strong")
    scipy_s = time.perf_counter() - started
    # the same search by the compiled kernel, on the same dense indexes (compiled already)
    s_idx, t_idx = inverse[:m].astype(np.int64), inverse[m:].astype(np.int64)
    kernel_runs = []
    for _ in range(3):
        started = time.perf_counter()
        strong_components(int(ids.size), s_idx, t_idx)
        kernel_runs.append(time.perf_counter() - started)
    scipy_runs = [scipy_s]
    for _ in range(2):
        started = time.perf_counter()
        connected_components(matrix, directed=True, connection="strong")
        scipy_runs.append(time.perf_counter() - started)
    started = time.perf_counter()
    found = cyclic_groups(edges)
    grouping_s = time.perf_counter() - started
    started = time.perf_counter()
    for members, group_edges in zip(found.members, found.edges, strict=True):
        one_cycle(members, group_edges)
    paths_s = time.perf_counter() - started
    sizes = np.bincount(labels)
    theirs = sorted(int(s) for s in sizes[sizes >= 2])
    mine = sorted(len(g.members) for g in report.groups if len(g.members) >= 2)
    return {
        "relations": int(m),
        "entities_with_relations": int(ids.size),
        "step_edges_s": round(read, 3),
        "dependency_cycles_s": round(ours, 3),
        "scipy_csr_build_s": round(built, 3),
        "scipy_strong_components_s": round(scipy_s, 3),
        "kernel_strong_components_s": round(min(kernel_runs), 3),
        "scipy_strong_components_best_of_3_s": round(min(scipy_runs), 3),
        "kernel_over_scipy": round(min(kernel_runs) / min(scipy_runs), 2),
        "kernel_over_scipy_with_csr_build": round(min(kernel_runs) / (min(scipy_runs) + built), 2),
        "cyclic_groups_s": round(grouping_s, 3),
        "one_cycle_per_group_networkx_s": round(paths_s, 3),
        "groups": len(report.groups),
        "entities_in_cycles": report.entities,
        "largest_group": max(mine, default=0),
        "same_groups_as_scipy": mine == theirs,
    }


async def spof_part(store: GraphStore, sample: int, naive: int) -> dict[str, object]:
    services = []
    after = None
    while len(services) < sample:
        page = await store.find_entities(
            EntityQuery(kind=EntityKind.SERVICE, attributes={"tier": 1}), first=500, after=after
        )
        services += [r.id for r in page.items]
        if not page.has_next:
            break
        after = page.end_cursor
    services = services[:sample]
    started = time.perf_counter()
    sizes = []
    for s in services:
        walk = await store.traverse(TraversalSpec([s], VOCABULARY.dependency_steps))
        sizes.append(len(walk))
    chosen = services[int(np.argmax(sizes))] if services else None
    picked_s = time.perf_counter() - started
    if chosen is None:
        return {"tier1_services": 0}
    started = time.perf_counter()
    answer = await single_points_of_failure(store, chosen)
    ours = time.perf_counter() - started
    walk = await store.traverse(TraversalSpec([chosen], VOCABULARY.dependency_steps))
    candidates = [int(x) for x in walk.entities[1:].tolist()]
    points = {p.entity.id for p in answer.points}
    tried = candidates[:naive]
    started = time.perf_counter()
    disagree = 0
    for x in tried:
        result = await analyse(
            store, [x], VOCABULARY.impact_steps, False, None, None, 0, None, paths=False
        )
        at = np.flatnonzero(result.walk.entities == chosen)
        down = bool(at.size) and bool(result.down[int(at[0])])
        disagree += down != (x in points)
    naive_s = time.perf_counter() - started
    per = naive_s / max(len(tried), 1)
    return {
        "tier1_services_sampled": len(services),
        "closure_search_s": round(picked_s, 3),
        "service": answer.service.key,
        "dependencies": answer.dependencies,
        "single_points": len(answer.points),
        "single_points_of_failure_s": round(ours, 3),
        "naive_candidates_timed": len(tried),
        "naive_s": round(naive_s, 3),
        "naive_whole_closure_s_estimated": round(per * len(candidates), 1),
        "naive_disagreements": disagree,
    }


async def main(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    g = cached(args.nodes, args.edges, args.seed, workdir)
    db = Path(args.db) if args.db else workdir / f"health-{args.nodes}-{args.edges}-{args.seed}.db"
    marker = db.with_suffix(".loaded")
    if args.db:  # a store of the same graph built elsewhere (bench/core_bench.py): only read
        marker = db
    store = store_from_settings(Settings(data=db, durability="normal"))
    async with store:
        loaded = await load(store, g, marker)
        out = {
            "nodes": args.nodes,
            "edges": args.edges,
            "load_s": round(loaded, 1),
            "cycles": await cycles_part(store),
            "spof": await spof_part(store, args.sample, args.naive),
        }
    print(json.dumps(out, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", default="bench/data")
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--naive", type=int, default=200)
    parser.add_argument(
        "--db",
        default=None,
        help="an existing store of the same graph (e.g. bench/data/graph-1m.db), read only",
    )
    parser.add_argument("--out", default=None, help="also write the JSON here")
    ns = parser.parse_args()
    anyio.run(main, ns)
