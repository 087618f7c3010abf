"""Seeded generator of an enterprise-shaped graph in graphsvc's vocabulary.

The shape follows the workload study in the project's performance notes
(layered tiers, lognormal out-degree, Zipf-popular targets giving a few hubs
with tens of thousands of dependents, small peer clusters with mutual edges, and
rare long-range back edges that create a few large cycles):

======================  =====  ==================  ============================
tier                    share  kind                ciClass / serviceType
======================  =====  ==================  ============================
0 site / network        1 %    ConfigurationItem   site, network
1 host                  9 %    ConfigurationItem   server
2 VM / container        30 %   ConfigurationItem   vm, container
3 software / database   30 %   ConfigurationItem   database, middleware
4 application component 21 %   Service             application
5 business service      8 %    Service             business
teams                   1 %    Team                (each owns services and CIs)
======================  =====  ==================  ============================

Edges ``u -> v`` mean "u needs v": RUNS_ON from tiers 2-3 to tier 1-2 CIs,
DEPENDS_ON everywhere else (tier skips, peers, back edges). 5 % of the
dependents that use two or more CIs of the same tier put them in one
``redundancyGroup``. Ownership edges (Team OWNS) are part of the relation count.

Entity ``i`` has key ``e<i>`` with a kind prefix (``svc``, ``ci``, ``team``);
relation and entity order is shuffled so ids carry no locality.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

TIER_FRAC = [0.01, 0.09, 0.30, 0.30, 0.21, 0.08]
TIER_OUT_W = [0.0, 1.0, 1.0, 1.2, 1.6, 1.6]
CI_CLASSES = [("site", "network"), ("server",), ("vm", "container"), ("database", "middleware")]

# relation type codes used in the arrays (mapped to names by TYPE_NAMES)
DEPENDS_ON, RUNS_ON, OWNS = 0, 1, 2
TYPE_NAMES = {DEPENDS_ON: "DEPENDS_ON", RUNS_ON: "RUNS_ON", OWNS: "OWNS"}


@dataclass(frozen=True)
class Graph:
    """A generated graph as arrays (entity index = position)."""

    n: int
    tier: NDArray[np.int8]  # -1 for teams
    src: NDArray[np.int64]
    dst: NDArray[np.int64]
    typ: NDArray[np.int8]
    group: NDArray[np.int32]  # -1 none, else a group number (name = f"g{group}")

    def kind(self, i: int) -> str:
        t = int(self.tier[i])
        if t < 0:
            return "Team"
        return "Service" if t >= 4 else "ConfigurationItem"

    def key(self, i: int) -> str:
        t = int(self.tier[i])
        prefix = "team" if t < 0 else ("svc" if t >= 4 else "ci")
        return f"{prefix}-{i:07d}"


def generate(n: int = 1_000_000, m: int = 5_000_000, seed: int = 42) -> Graph:
    """Generate a graph with ``n`` entities and exactly ``m`` relations."""
    rng = np.random.default_rng(seed)
    n_teams = max(10, n // 100)
    n_ci = n - n_teams
    sizes = [round(f * n_ci) for f in TIER_FRAC]
    sizes[-1] = n_ci - sum(sizes[:-1])
    starts = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
    tier = np.concatenate(
        [np.repeat(np.arange(6, dtype=np.int8), sizes), np.full(n_teams, -1, np.int8)]
    )
    out_w = rng.lognormal(0.0, 0.8, n_ci)
    out_cdf, pop_cdf, pop_perm = [], [], []
    for t in range(6):
        w = out_w[starts[t] : starts[t] + sizes[t]]
        c = np.cumsum(w)
        out_cdf.append(c / c[-1])
        z = np.cumsum(1.0 / np.arange(1, sizes[t] + 1, dtype=np.float64))
        pop_cdf.append(z / z[-1])
        pop_perm.append(rng.permutation(sizes[t]))

    def pick(tiers: NDArray[np.int8], uniform: NDArray[np.bool_] | None) -> NDArray[np.int64]:
        out = np.empty(tiers.size, dtype=np.int64)
        for t in range(6):
            idx = np.nonzero(tiers == t)[0]
            if idx.size == 0:
                continue
            if uniform is None:
                loc = np.searchsorted(out_cdf[t], rng.random(idx.size), side="right")
            else:
                u = uniform[idx]
                loc = np.empty(idx.size, dtype=np.int64)
                nu = int(u.sum())
                loc[u] = rng.integers(0, sizes[t], nu)
                loc[~u] = pop_perm[t][
                    np.searchsorted(pop_cdf[t], rng.random(idx.size - nu), side="right").clip(
                        max=sizes[t] - 1
                    )
                ]
            out[idx] = starts[t] + np.minimum(loc, sizes[t] - 1)
        return out

    n_owns = int(m * 0.04)
    m_dep = m - n_owns

    def draw(k: int) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int8]]:
        m_peer = int(k * 0.02)
        m_back = max(1, int(k * 0.0002))
        m_lay = k - m_peer - m_back
        tw = np.array([sizes[t] * TIER_OUT_W[t] for t in range(6)], dtype=np.float64)
        st = rng.choice(6, size=m_lay, p=tw / tw.sum()).astype(np.int8)
        r = rng.random(m_lay)
        drop = np.where(r < 0.75, 1, np.where(r < 0.95, 2, 3))
        dt = np.maximum(st - drop, 0).astype(np.int8)
        s = pick(st, None)
        d = pick(dt, rng.random(m_lay) < 0.5)
        typ = np.where((st - dt == 1) & ((st == 2) | (st == 3)), RUNS_ON, DEPENDS_ON).astype(
            np.int8
        )
        pt = rng.choice([1, 2, 3, 4], size=m_peer)
        szs = np.array(sizes)[pt]
        loc = rng.integers(0, szs)
        grp = (loc // 4) * 4
        loc2 = grp + (loc - grp + rng.integers(1, 4, m_peer)) % 4
        loc2 = np.where(loc2 >= szs, grp, loc2)
        ps, pd = starts[pt] + loc, starts[pt] + loc2
        mutual = rng.random(m_peer) < 0.5
        ps, pd = np.concatenate([ps, pd[mutual]]), np.concatenate([pd, ps[mutual]])
        bs_t = rng.integers(0, 4, m_back)
        bd_t = rng.integers(4, 6, m_back)
        bs = starts[bs_t] + rng.integers(0, np.array(sizes)[bs_t])
        bd = starts[bd_t] + rng.integers(0, np.array(sizes)[bd_t])
        src = np.concatenate([s, ps, bs])
        dst = np.concatenate([d, pd, bd])
        t = np.concatenate([typ, np.full(ps.size + m_back, DEPENDS_ON, np.int8)])
        return src, dst, t

    have = 0
    keys_seen = np.empty(0, dtype=np.int64)
    parts: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int8]]] = []
    while have < m_dep:
        s, d, t = draw(int((m_dep - have) * 1.08) + 1000)
        ok = s != d
        s, d, t = s[ok], d[ok], t[ok]
        key = s * n + d
        key_u, first = np.unique(key, return_index=True)
        fresh = ~np.isin(key_u, keys_seen, assume_unique=True)
        first = np.sort(first[fresh])
        s, d, t = s[first], d[first], t[first]
        take = min(m_dep - have, s.size)
        sel = np.sort(rng.permutation(s.size)[:take])
        s, d, t = s[sel], d[sel], t[sel]
        keys_seen = np.union1d(keys_seen, s * n + d)
        parts.append((s, d, t))
        have += take
    src = np.concatenate([p[0] for p in parts])
    dst = np.concatenate([p[1] for p in parts])
    typ = np.concatenate([p[2] for p in parts])
    # a RUNS_ON must end at a CI: tier >= 1 targets only come from CI tiers, fine;
    # a RUNS_ON from a service (tier 4) is never produced (typ only for tiers 2-3)

    # redundancy groups: 5 % of sources with >= 2 same-type edges to one target tier
    group = np.full(src.size, -1, dtype=np.int32)
    order = np.lexsort((tier[dst], typ, src))
    s_o, t_o, tier_o = src[order], typ[order], tier[dst][order]
    boundary = np.ones(s_o.size, dtype=bool)
    boundary[1:] = (s_o[1:] != s_o[:-1]) | (t_o[1:] != t_o[:-1]) | (tier_o[1:] != tier_o[:-1])
    run_id = np.cumsum(boundary) - 1
    run_len = np.bincount(run_id)
    chosen = (run_len >= 2) & (rng.random(run_len.size) < 0.05)
    in_group = chosen[run_id]
    group[order[in_group]] = run_id[in_group].astype(np.int32)

    # ownership: each service and 20 % of CIs owned by a team (Zipf-skewed)
    team_ids = np.arange(n_ci, n, dtype=np.int64)
    owned = rng.permutation(n_ci)[:n_owns]
    team_rank = np.searchsorted(
        np.cumsum(1.0 / np.arange(1, n_teams + 1)) / np.sum(1.0 / np.arange(1, n_teams + 1)),
        rng.random(n_owns),
        side="right",
    ).clip(max=n_teams - 1)
    src = np.concatenate([src, team_ids[team_rank]])
    dst = np.concatenate([dst, owned.astype(np.int64)])
    typ = np.concatenate([typ, np.full(n_owns, OWNS, np.int8)])
    group = np.concatenate([group, np.full(n_owns, -1, np.int32)])

    # ids carry no locality; relation order shuffled like an import stream
    perm = rng.permutation(n)
    inverse = np.empty(n, dtype=np.int64)
    inverse[perm] = np.arange(n)
    tier = tier[perm]
    src, dst = inverse[src], inverse[dst]
    shuffle = rng.permutation(src.size)
    return Graph(n, tier, src[shuffle], dst[shuffle], typ[shuffle], group[shuffle])


def cached(n: int, m: int, seed: int, folder: Path) -> Graph:
    """Return the graph for (n, m, seed), generating it once into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"graph-{n}-{m}-{seed}.npz"
    if path.exists():
        z = np.load(path)
        return Graph(n, z["tier"], z["src"], z["dst"], z["typ"], z["group"])
    g = generate(n, m, seed)
    np.savez(path, tier=g.tier, src=g.src, dst=g.dst, typ=g.typ, group=g.group)
    return g


def entity_item(g: Graph, i: int) -> dict[str, object]:
    """The ingest item of entity ``i``."""
    t = int(g.tier[i])
    if t < 0:
        return {"kind": "Team", "key": g.key(i), "attributes": {"email": f"team{i}@example.org"}}
    if t >= 4:
        return {
            "kind": "Service",
            "key": g.key(i),
            "name": f"service {i}",
            "attributes": {
                "tier": 1 + (i % 4),
                "serviceType": "business" if t == 5 else "application",
                "lifecycle": "live",
            },
        }
    classes = CI_CLASSES[t]
    return {
        "kind": "ConfigurationItem",
        "key": g.key(i),
        "name": f"ci {i}",
        "identifiers": {"serial": f"SN{i:08d}"} if t == 1 else {},
        "attributes": {
            "ciClass": classes[i % len(classes)],
            "environment": "prod" if i % 3 else "test",
        },
    }


def relation_item(g: Graph, j: int) -> dict[str, object]:
    """The ingest item of relation ``j``."""
    s, d = int(g.src[j]), int(g.dst[j])
    item: dict[str, object] = {
        "type": TYPE_NAMES[int(g.typ[j])],
        "from": {"kind": g.kind(s), "key": g.key(s)},
        "to": {"kind": g.kind(d), "key": g.key(d)},
    }
    grp = int(g.group[j])
    if grp >= 0:
        item["attributes"] = {"redundancyGroup": f"g{grp}"}
    return item
