"""The embedded store's in-memory attribute columns survive a reopen and stay compact."""

from __future__ import annotations

from pathlib import Path

from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.embedded.store import EmbeddedStore


async def test_columns_are_rebuilt_on_open_and_large_dictionaries_are_compacted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "g.db"
    entities = [
        {
            "kind": "Service",
            "key": f"s{i}",
            "attributes": {"capability": f"cap-{i}", "tier": 1 + i % 4},
        }
        for i in range(600)
    ]
    async with EmbeddedStore(path, durability="normal") as store:
        await IngestEngine(store).ingest(
            IngestBatch.model_validate({"source": "t", "entities": entities})
        )
    async with EmbeddedStore(path, read_only=True) as store:
        ids = await store.resolve([(EntityKind.SERVICE, f"s{i}") for i in (5, 599, 5)])
        assert None not in ids
        wanted = [i for i in ids if i is not None]
        caps = await store.attribute_column(wanted, "capability")
        assert caps.decoded() == ["cap-5", "cap-599", "cap-5"]
        assert len(caps.values) == 2  # only the values asked for, not all 600
        tiers = await store.attribute_column(wanted, "tier")
        assert tiers.decoded() == [2, 4, 2]


async def test_as_of_columns_replay_only_what_changed_and_follow_later_commits(
    tmp_path: Path,
) -> None:
    def batch(**tiers: int | None) -> IngestBatch:
        return IngestBatch.model_validate(
            {
                "source": "t",
                "entities": [
                    {"kind": "Service", "key": k, "attributes": {"tier": v}}
                    for k, v in tiers.items()
                ],
            }
        )

    async with EmbeddedStore(tmp_path / "g.db", durability="normal") as store:
        engine = IngestEngine(store)
        await engine.ingest(batch(a=1, b=2, c=3))
        t1 = (await store.stats()).last_commit
        assert t1 is not None
        await engine.ingest(batch(a=4))
        ids = await store.resolve([(EntityKind.SERVICE, k) for k in "abc"])
        wanted = [i for i in ids if i is not None]
        # the first past read builds the change times from history
        assert (await store.attribute_column(wanted, "tier", as_of=t1)).decoded() == [1, 2, 3]
        t2 = (await store.stats()).last_commit
        assert t2 is not None
        # later commits are tracked from then on
        await engine.ingest(batch(b=None, c=1, d=2))
        d = (await store.resolve([(EntityKind.SERVICE, "d")]))[0]
        assert d is not None
        past = await store.attribute_column([*wanted, d], "tier", as_of=t2)
        assert past.decoded() == [4, 2, 3, None]
        assert (await store.attribute_column([*wanted, d], "tier")).decoded() == [4, None, 1, 2]


async def test_a_commit_indexes_attributes_as_one_entity_at_a_time_would(tmp_path: Path) -> None:
    """Commits index attributes in bulk (one array write per column); the columns
    hold what indexing each entity alone gives: values set, changed, removed."""

    def batch(round_: int) -> IngestBatch:
        return IngestBatch.model_validate(
            {
                "source": "t",
                "entities": [
                    {
                        "kind": "Service",
                        "key": f"s{i}",
                        "attributes": {"tier": 1 + (i + round_) % 4}
                        | ({"capability": f"cap-{i}"} if (i + round_) % 3 else {}),
                    }
                    for i in range(50)
                ],
            }
        )

    async with EmbeddedStore(tmp_path / "g.db", durability="normal") as store:
        engine = IngestEngine(store)
        for round_ in range(3):
            await engine.ingest(batch(round_))
            ids = [
                i
                for i in await store.resolve([(EntityKind.SERVICE, f"s{i}") for i in range(50)])
                if i
            ]
            records = await store.entities(ids)
            for name in ("tier", "capability"):
                column = await store.attribute_column(ids, name)
                expected = [r.attributes.get(name) if r else None for r in records]
                assert column.decoded() == expected, (round_, name)
