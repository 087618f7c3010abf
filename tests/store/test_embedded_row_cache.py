"""The embedded store's row cache never serves a row older than the last commit (issue 17).

:class:`~graphsvc.store.embedded.rowcache.RowCache` keeps rows read from the
file until the next commit. These tests change entities, relations and aliases
between reads, on the writer and on a read replica, and race a commit against a
read whose rows were loaded before it.
"""

from __future__ import annotations

from pathlib import Path

from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.embedded.rowcache import RowCache, State
from graphsvc.store.embedded.store import EmbeddedStore


def batch(name: str, *, alias: str | None = None, tier: int = 2) -> IngestBatch:
    entity: dict[str, object] = {
        "kind": "Service",
        "key": "billing",
        "name": name,
        "attributes": {"tier": tier},
        "identifiers": {"backstageRef": "component:default/billing"},
    }
    entities: list[dict[str, object]] = [entity]
    if alias is not None:  # another key, the same strong identifier: an alias of billing
        entities.append({**entity, "key": alias})
    return IngestBatch.model_validate(
        {
            "source": "test",
            "entities": [*entities, {"kind": "Team", "key": "payments", "name": "Payments"}],
            "relations": [
                {
                    "type": "OWNS",
                    "from": {"kind": "Team", "key": "payments"},
                    "to": {"kind": "Service", "key": "billing"},
                    "attributes": {"since": name},
                }
            ],
        }
    )


async def billing(store: EmbeddedStore) -> tuple[str, object, tuple[str, ...], object]:
    [found] = await store.resolve([(EntityKind.SERVICE, "billing")])
    assert found is not None
    [record] = await store.entities([found])
    assert record is not None
    relations = await store.relations_by_id(list(range(1, 5)))
    owns = [r for r in relations if r is not None]
    return record.name, record.attributes.get("tier"), record.aliases, owns[0].attributes


async def test_reads_after_each_commit_see_that_commit(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "g.db", durability="normal")
    await store.open()
    engine = IngestEngine(store, IngestPolicy())
    try:
        await engine.ingest(batch("one"))
        assert await billing(store) == ("one", 2, (), {"since": "one"})
        assert await billing(store) == ("one", 2, (), {"since": "one"})  # from memory
        assert store._entity_row_cache.hits > 0
        await engine.ingest(batch("two", alias="bill", tier=1))
        assert await billing(store) == ("two", 1, ("bill",), {"since": "two"})
        replica = EmbeddedStore(tmp_path / "g.db", read_only=True)
        await replica.open()
        try:
            assert await billing(replica) == ("two", 1, ("bill",), {"since": "two"})
            await engine.ingest(batch("three", alias="bill", tier=3))
            assert await billing(replica) == ("two", 1, ("bill",), {"since": "two"})
            await replica.catch_up()
            assert await billing(replica) == ("three", 3, ("bill",), {"since": "three"})
        finally:
            await replica.close()
    finally:
        await store.close()


def test_rows_loaded_across_a_state_change_are_not_kept() -> None:
    index = object()
    version = [1]

    def state() -> State:
        return index, version[0]

    cache: RowCache[str] = RowCache(10)

    def load_then_commit(ids: list[int]) -> dict[int, str]:
        rows = {i: f"old {i}" for i in ids}
        version[0] += 1  # a commit lands after the rows were read
        return rows

    assert cache.read([1, 2], state, load_then_commit) == {1: "old 1", 2: "old 2"}
    fresh = cache.read([1], state, lambda ids: {i: f"new {i}" for i in ids})
    assert fresh == {1: "new 1"}
    assert cache.read([1], state, lambda ids: {}) == {1: "new 1"}  # kept: no commit since
    version[0] += 1
    assert cache.read([1], state, lambda ids: dict.fromkeys(ids, "newer")) == {1: "newer"}


def test_a_new_index_object_invalidates_everything() -> None:
    cache: RowCache[str] = RowCache(10)
    first, second = object(), object()
    cache.read([1], lambda: (first, 0), lambda ids: {1: "first"})
    assert cache.read([1], lambda: (second, 0), lambda ids: {1: "second"}) == {1: "second"}


def test_capacity_bounds_the_cache_and_zero_disables_it() -> None:
    cache: RowCache[int] = RowCache(3)
    loads: list[list[int]] = []

    def load(ids: list[int]) -> dict[int, int]:
        loads.append(ids)
        return {i: i for i in ids}

    state = (object(), 0)
    cache.read(range(10), lambda: state, load)
    assert len(cache._values) == 3
    off: RowCache[int] = RowCache(0)
    off.read([1], lambda: state, load)
    off.read([1], lambda: state, load)
    assert loads[-2:] == [[1], [1]]


async def test_a_commit_keeps_the_rows_it_did_not_write(tmp_path: Path) -> None:
    """An importer's commit drops only what it wrote: a portal's rows stay in memory."""
    store = EmbeddedStore(tmp_path / "g.db", durability="normal")
    await store.open()
    engine = IngestEngine(store, IngestPolicy())
    try:
        await engine.ingest(batch("one"))
        assert await billing(store) == ("one", 2, (), {"since": "one"})
        other = IngestBatch.model_validate(
            {
                "source": "importer",
                "entities": [
                    {"kind": "ConfigurationItem", "key": "vm-1", "attributes": {"ciClass": "vm"}}
                ],
            }
        )

        def misses() -> tuple[int, int]:
            return store._entity_row_cache.misses, store._relation_row_cache.misses

        before = misses()
        await billing(store)
        unknown = misses()[1] - before[1]  # relation ids billing() asks for that do not exist
        await engine.ingest(other)  # writes nothing billing reads
        before = misses()
        assert await billing(store) == ("one", 2, (), {"since": "one"})
        assert misses() == (before[0], before[1] + unknown)
        await engine.ingest(batch("two", tier=1))  # writes billing and its OWNS relation
        assert await billing(store) == ("two", 1, (), {"since": "two"})
        assert misses()[0] > before[0] and misses()[1] > before[1] + unknown
        await engine.ingest(batch("three", alias="bill", tier=3))  # an alias: every list re-read
        assert await billing(store) == ("three", 3, ("bill",), {"since": "three"})
    finally:
        await store.close()


def test_advance_drops_written_rows_and_refuses_a_gap() -> None:
    index = object()
    cache: RowCache[str] = RowCache(10)
    cache.read([1, 2, 3], lambda: (index, 1), lambda ids: {i: f"v1 {i}" for i in ids})
    cache.advance((index, 1), (index, 2), [2])
    assert cache.read([1, 2, 3], lambda: (index, 2), lambda ids: {i: f"v2 {i}" for i in ids}) == {
        1: "v1 1",
        2: "v2 2",
        3: "v1 3",
    }
    cache.advance((index, 3), (index, 4), [])  # it missed commit 3: it keeps nothing
    assert cache.read([1], lambda: (index, 4), lambda ids: {1: "v4 1"}) == {1: "v4 1"}
    cache.advance((index, 4), (index, 5), None)  # any row may have changed
    assert cache.read([1], lambda: (index, 5), lambda ids: {1: "v5 1"}) == {1: "v5 1"}
    # a reader that loaded at version 5 stores after the cache moved on to 6: nothing kept
    cache.advance((index, 5), (index, 6), [])
    cache._remember((index, 5), {7: "v5 7"})
    assert cache.read([7], lambda: (index, 6), lambda ids: {7: "v6 7"}) == {7: "v6 7"}
