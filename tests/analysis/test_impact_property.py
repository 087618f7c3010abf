"""Property: impact reaches exactly what a plain breadth-first search reaches, at the same depths.

States and the redundancy that keeps DEGRADED entities up match a naive reading of the rule.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphsvc.analysis.impact import impact
from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.store.factory import store_from_settings

# node i: a Service when even, a CI when odd; edges (a, b, type) mean "a TYPE b"
N = 8
KINDS = ["Service", "ConfigurationItem"]


def kind(i: int) -> str:
    return KINDS[i % 2]


edge = st.tuples(
    st.integers(0, N - 1),
    st.integers(0, N - 1),
    st.sampled_from(["DEPENDS_ON", "RUNS_ON", "PART_OF"]),
).filter(lambda e: e[0] != e[1] and (e[2] != "RUNS_ON" or kind(e[1]) == "ConfigurationItem"))

GROUPS = ["g1", "g2"]


def bfs(
    edges: set[tuple[int, int, str]], starts: list[int], max_depth: int | None
) -> dict[int, int]:
    """Impact direction: DEPENDS_ON/RUNS_ON flow to -> from, PART_OF from -> to."""
    nxt: dict[int, set[int]] = {}
    for a, b, t in edges:
        if t == "PART_OF":
            nxt.setdefault(a, set()).add(b)
        else:
            nxt.setdefault(b, set()).add(a)
    depth = dict.fromkeys(starts, 0)
    queue = deque(starts)
    while queue:
        u = queue.popleft()
        if max_depth is not None and depth[u] >= max_depth:
            continue
        for v in nxt.get(u, ()):
            if v not in depth:
                depth[v] = depth[u] + 1
                queue.append(v)
    return depth


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edges=st.sets(edge, max_size=18),
    starts=st.lists(st.integers(0, N - 1), min_size=1, max_size=3, unique=True),
    max_depth=st.one_of(st.none(), st.integers(0, 4)),
)
def test_impact_matches_plain_bfs(
    tmp_path_factory: object,
    edges: set[tuple[int, int, str]],
    starts: list[int],
    max_depth: int | None,
) -> None:
    folder = tmp_path_factory.mktemp("prop")  # type: ignore[attr-defined]

    async def run() -> None:
        store = store_from_settings(Settings(data=Path(folder) / "g.db", durability="normal"))
        async with store:
            # one relation per (from, to) pair and type is unique by construction
            await IngestEngine(store).ingest(
                IngestBatch.model_validate(
                    {
                        "source": "prop",
                        "entities": [
                            {
                                "kind": kind(i),
                                "key": f"n{i}",
                                "attributes": {"ciClass": "x"} if i % 2 else {},
                            }
                            for i in range(N)
                        ],
                        "relations": [
                            {
                                "type": t,
                                "from": {"kind": kind(a), "key": f"n{a}"},
                                "to": {"kind": kind(b), "key": f"n{b}"},
                            }
                            for a, b, t in sorted(edges)
                        ],
                    }
                )
            )
            ids = await store.resolve([(kind(i), f"n{i}") for i in range(N)])  # type: ignore[misc]
            by_id = {x: i for i, x in enumerate(ids)}
            answer = await impact(store, [ids[s] for s in starts], max_depth=max_depth, first=N)
            got = {by_id[e.node.entity.id]: e.node.depth for e in answer.affected.edges}
            assert got == bfs(edges, starts, max_depth)
            assert answer.summary.total == len(got)
            for e in answer.affected.edges:
                assert len(e.node.path) == e.node.depth
            assert {s for s, d in got.items() if d == 0} == set(starts)

    anyio.run(run)


def states(edges: dict[tuple[int, int, str], str | None], depth: dict[int, int]) -> dict[int, str]:
    """The rule of PRODUCT.md 4.2 as a naive fixpoint over the reached entities."""
    size: dict[tuple[int, str], int] = {}
    for (a, _b, t), g in edges.items():
        if g is not None and t != "PART_OF":
            size[(a, g)] = size.get((a, g), 0) + 1
    down = {v for v, d in depth.items() if d == 0}
    changed = True
    while changed:
        changed = False
        for v in depth:
            if v in down:
                continue
            hit = False
            members: dict[str, int] = {}
            for (a, b, t), g in edges.items():
                src, dst = (a, b) if t == "PART_OF" else (b, a)
                if dst != v or src not in depth:
                    continue
                if g is None or t == "PART_OF":
                    hit = hit or src in down
                elif src in down:
                    members[g] = members.get(g, 0) + 1
            if hit or any(n == size[(v, g)] for g, n in members.items()):
                down.add(v)
                changed = True
    return {v: "DOWN" if v in down else "DEGRADED" for v in depth}


def survivors(
    edges: dict[tuple[int, int, str], str | None], depth: dict[int, int], state: dict[int, str]
) -> dict[int, list[tuple[str, int, list[int], list[tuple[int, bool]]]]]:
    """What keeps each DEGRADED entity up: its groups with a DOWN member, naively.

    Per entity, by group name: (group, relations in the group, DOWN members,
    (other member, whether it is reached)); empty for DOWN entities.
    """
    out: dict[int, list[tuple[str, int, list[int], list[tuple[int, bool]]]]] = {}
    for v in depth:
        out[v] = []
        if state[v] != "DEGRADED":
            continue
        groups: dict[str, list[int]] = {}
        for (a, b, t), g in edges.items():
            if a == v and g is not None and t != "PART_OF":
                groups.setdefault(g, []).append(b)
        for g, members in sorted(groups.items()):
            failed = sorted(b for b in set(members) if state.get(b) == "DOWN")
            if failed:
                alive = sorted((b, b in depth) for b in set(members) if state.get(b) != "DOWN")
                out[v].append((g, len(members), failed, alive))
    return out


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edges=st.lists(st.tuples(edge, st.sampled_from([None, *GROUPS])), max_size=18),
    starts=st.lists(st.integers(0, N - 1), min_size=1, max_size=3, unique=True),
    max_depth=st.one_of(st.none(), st.integers(0, 4)),
)
def test_states_match_the_naive_rule(
    tmp_path_factory: object,
    edges: list[tuple[tuple[int, int, str], str | None]],
    starts: list[int],
    max_depth: int | None,
) -> None:
    folder = tmp_path_factory.mktemp("states")  # type: ignore[attr-defined]
    grouped: dict[tuple[int, int, str], str | None] = {}
    for e, g in edges:
        grouped.setdefault(e, None if e[2] == "PART_OF" else g)

    async def run() -> None:
        store = store_from_settings(Settings(data=Path(folder) / "g.db", durability="normal"))
        async with store:
            await IngestEngine(store).ingest(
                IngestBatch.model_validate(
                    {
                        "source": "prop",
                        "entities": [
                            {
                                "kind": kind(i),
                                "key": f"n{i}",
                                "attributes": {"ciClass": "x"} if i % 2 else {},
                            }
                            for i in range(N)
                        ],
                        "relations": [
                            {
                                "type": t,
                                "from": {"kind": kind(a), "key": f"n{a}"},
                                "to": {"kind": kind(b), "key": f"n{b}"},
                                "attributes": {"redundancyGroup": g} if g else {},
                            }
                            for (a, b, t), g in sorted(grouped.items(), key=str)
                        ],
                    }
                )
            )
            ids = await store.resolve([(kind(i), f"n{i}") for i in range(N)])  # type: ignore[misc]
            by_id = {x: i for i, x in enumerate(ids)}
            answer = await impact(store, [ids[s] for s in starts], max_depth=max_depth, first=N)
            got = {by_id[e.node.entity.id]: e.node.state.value for e in answer.affected.edges}
            depth = bfs(set(grouped), starts, max_depth)
            assert got == states(grouped, depth)
            saved = {
                by_id[e.node.entity.id]: [
                    (
                        c.group,
                        c.members,
                        [by_id[f.id] for f in c.failed],
                        [(by_id[s.entity.id], s.degraded) for s in c.survivors],
                    )
                    for c in e.node.saved_by
                ]
                for e in answer.affected.edges
            }
            assert saved == survivors(grouped, depth, got)

    anyio.run(run)
