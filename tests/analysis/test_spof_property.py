"""Property: single points of failure are exactly the entities whose impact marks the service DOWN.

Random small graphs of services and CIs with redundancy groups, cycles, shared
members, stale and retired entities and relations; the answer of
``single_points_of_failure`` for every entity is compared with the definition
(PRODUCT.md 9): every ``x`` whose ``impact([x])`` (the real analysis) marks the
entity DOWN.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphsvc.analysis.impact import ImpactState, impact
from graphsvc.analysis.spof import have_single_points, single_points_of_failure
from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import VOCABULARY
from graphsvc.store.base import TraversalSpec
from graphsvc.store.factory import store_from_settings

N = 9
KINDS = ["Service", "ConfigurationItem"]


def kind(i: int) -> str:
    return KINDS[i % 2]


edge = st.tuples(
    st.integers(0, N - 1),
    st.integers(0, N - 1),
    st.sampled_from(["DEPENDS_ON", "DEPENDS_ON", "RUNS_ON", "PART_OF"]),
).filter(lambda e: e[0] != e[1] and (e[2] != "RUNS_ON" or kind(e[1]) == "ConfigurationItem"))

STATUS = st.sampled_from([None, None, None, None, "stale", "retired"])


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edges=st.lists(st.tuples(edge, st.sampled_from([None, "g1", "g1", "g2"]), STATUS), max_size=22),
    statuses=st.lists(STATUS, min_size=N, max_size=N),
)
def test_single_points_are_what_impact_marks_down(
    tmp_path_factory: object,
    edges: list[tuple[tuple[int, int, str], str | None, str | None]],
    statuses: list[str | None],
) -> None:
    folder = tmp_path_factory.mktemp("spof")  # type: ignore[attr-defined]
    relations: dict[tuple[int, int, str], tuple[str | None, str | None]] = {}
    for e, g, status in edges:
        relations.setdefault(e, (None if e[2] == "PART_OF" else g, status))

    async def run() -> None:
        store = store_from_settings(Settings(data=Path(folder) / "g.db", durability="normal"))
        async with store:
            engine = IngestEngine(store)
            await engine.ingest(
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
                            for (a, b, t), (g, _) in sorted(relations.items(), key=str)
                        ],
                    }
                )
            )
            # stale: a complete batch of the source leaves them out (and so the relations
            # that touch a stale entity); retired: sent again with status retired
            stale_e = {i for i, s in enumerate(statuses) if s == "stale"}
            await engine.ingest(
                IngestBatch.model_validate(
                    {
                        "source": "prop",
                        "complete": True,
                        "entities": [
                            {"kind": kind(i), "key": f"n{i}"} for i in range(N) if i not in stale_e
                        ],
                        "relations": [
                            {
                                "type": t,
                                "from": {"kind": kind(a), "key": f"n{a}"},
                                "to": {"kind": kind(b), "key": f"n{b}"},
                                "attributes": {"redundancyGroup": g} if g else {},
                            }
                            for (a, b, t), (g, st_) in sorted(relations.items(), key=str)
                            if st_ != "stale" and not {a, b} & stale_e
                        ],
                    }
                )
            )
            retire_e = [i for i, s in enumerate(statuses) if s == "retired"]
            retire_r = [e for e, (_, s) in relations.items() if s == "retired"]
            if retire_e or retire_r:
                await engine.ingest(
                    IngestBatch.model_validate(
                        {
                            "source": "prop",
                            "entities": [
                                {"kind": kind(i), "key": f"n{i}", "status": "retired"}
                                for i in retire_e
                            ],
                            "relations": [
                                {
                                    "type": t,
                                    "from": {"kind": kind(a), "key": f"n{a}"},
                                    "to": {"kind": kind(b), "key": f"n{b}"},
                                    "status": "retired",
                                }
                                for a, b, t in retire_r
                            ],
                        }
                    )
                )
            ids = await store.resolve([(kind(i), f"n{i}") for i in range(N)])  # type: ignore[misc]
            by_id = {x: i for i, x in enumerate(ids)}
            # the definition: impact([x]) of each x, unbounded
            downs: dict[int, set[int]] = {}
            for x in range(N):
                answer = await impact(store, [ids[x]], first=N, redundancy=False)
                downs[x] = {
                    by_id[e.node.entity.id]
                    for e in answer.affected.edges
                    if e.node.state is ImpactState.DOWN
                }
            # the health check's batch answer: every service and CI at once, one walk
            alive = [x for x in ids if x is not None]
            walk = await store.traverse(
                TraversalSpec(alive, VOCABULARY.dependency_steps, None, None, collect_edges=True)
            )
            where = {int(x): i for i, x in enumerate(walk.entities.tolist())}
            starts = [x for x in alive if x in where]
            batch = have_single_points(walk, [where[x] for x in starts])
            for x, has in zip(starts, batch, strict=True):
                s = by_id[x]
                assert has == any(x != y and s in downs[by_id[y]] for y in alive), s
            for s in range(N):
                got = await single_points_of_failure(store, ids[s])
                found = {by_id[p.entity.id] for p in got.points}
                expected = {x for x in range(N) if x != s and s in downs[x]}
                assert found == expected, (s, found, expected)
                for p in got.points:
                    assert len(p.path) == p.depth >= 1
                    # the path leaves the single point and ends at the service
                    first, last = p.path[0], p.path[-1]
                    assert p.entity.id in (first.from_.id, first.to.id)
                    assert ids[s] in (last.from_.id, last.to.id)
                    for a, b in zip(p.path, p.path[1:], strict=False):
                        assert {a.from_.id, a.to.id} & {b.from_.id, b.to.id}

    anyio.run(run)
