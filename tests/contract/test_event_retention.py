"""Event retention (issue 20 item 1): :meth:`GraphStore.prune_events` on every backend.

Pruning removes the oldest events, a prefix of the history in seq order, in
short batches; the oldest seq held moves up, a cursor below it is recognisable
(``after < oldest_seq - 1``), and the seqs of new events continue after the
newest, which is never removed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graphsvc.errors import ReadOnlyStore
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.records import HistoryOp, ItemKind
from graphsvc.store.base import EventPrune, EventQuery, GraphStore, ItemRef
from graphsvc.store.factory import store_from_settings
from tests.conftest import store_settings
from tests.contract.helpers import SVC, batch, ent, entity_id

ALL = EventQuery()


async def seqs(store: GraphStore, after: int = 0) -> list[int]:
    """Every seq held after ``after``."""
    page = await store.events(ALL, first=1000, after=after)
    assert not page.has_next
    return [e.seq for e in page.items]


async def test_keep_removes_the_oldest_in_batches_and_never_the_newest(
    store: GraphStore, engine: IngestEngine
) -> None:
    for i in range(4):
        await engine.ingest(batch("cmdb", [ent(SVC, f"s{i}a"), ent(SVC, f"s{i}b")]))
    assert await seqs(store) == list(range(1, 9))
    assert await store.prune_events() == EventPrune(0, 1, False)  # no rule: nothing goes
    first = await store.prune_events(keep=3, limit=2)
    assert first == EventPrune(2, 3, True)
    page = await store.events(ALL, first=100)
    assert (page.oldest_seq, [e.seq for e in page.items]) == (3, list(range(3, 9)))
    rest = await store.prune_events(keep=3, limit=100)
    assert (rest.removed, rest.oldest_seq) == (3, 6)
    assert await store.prune_events(keep=3) == EventPrune(0, 6, False)
    assert await seqs(store) == [6, 7, 8]
    assert (await store.events(ALL, first=1, after=4)).oldest_seq == 6  # after=4: events lost
    await store.prune_events(keep=0)
    assert await seqs(store) == [8]  # the newest stays
    await engine.ingest(batch("cmdb", [ent(SVC, "later")]))
    assert await seqs(store, after=8) == [9]  # seqs go on, never reused


async def test_before_removes_what_was_committed_earlier(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch("cmdb", [ent(SVC, "old1"), ent(SVC, "old2")]))
    cut = (await store.events(ALL, first=10)).items[-1].at + timedelta(microseconds=1)
    await engine.ingest(batch("cmdb", [ent(SVC, "new")]))
    done = await store.prune_events(before=cut)
    assert (done.removed, done.oldest_seq, done.more) == (2, 3, False)
    page = await store.events(ALL, first=10)
    assert [e.seq for e in page.items] == [3] and page.oldest_seq == 3
    # everything is older than a cut in the future, yet the newest event stays
    await store.prune_events(before=datetime.now(UTC) + timedelta(days=1))
    assert await seqs(store) == [3]
    # either rule removes: a cut in the past with keep=0 still prunes by count
    await engine.ingest(batch("cmdb", [ent(SVC, "newer")]))
    await store.prune_events(before=datetime(2000, 1, 1, tzinfo=UTC), keep=0)
    assert await seqs(store) == [4]


async def test_history_of_an_item_starts_at_its_oldest_kept_event(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch("cmdb", [ent(SVC, "web", tier=1)]))
    await engine.ingest(batch("cmdb", [ent(SVC, "web", tier=2)]))
    await engine.ingest(batch("cmdb", [ent(SVC, "other")]))
    web = await entity_id(store, SVC, "web")
    await store.prune_events(keep=2)  # the update (seq 2) and the last event stay
    history = await store.history(ItemRef(ItemKind.ENTITY, web), first=10)
    assert [e.op for e in history.items] == [HistoryOp.UPDATED]
    record = (await store.entities([web]))[0]
    assert record is not None and record.attributes["tier"] == 2  # the graph is untouched
    report = await store.check()
    assert report.clean, report.findings  # a pruned creation is not a finding
    assert "pruned" in report.checks["history"]


async def test_the_oldest_seq_survives_a_reopen_and_an_empty_store_prunes_nothing(
    store: GraphStore,
    engine: IngestEngine,
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    assert await store.prune_events(keep=0) == EventPrune(0, 1, False)
    for i in range(3):
        await engine.ingest(batch("cmdb", [ent(SVC, f"s{i}")]))
    await store.prune_events(keep=1)
    assert (await store.events(ALL, first=10, after=3)).oldest_seq == 3
    await store.close()
    again = store_from_settings(store_settings(backend, request, tmp_path))
    await again.open()
    try:
        page = await again.events(ALL, first=10)
        assert (page.oldest_seq, [e.seq for e in page.items]) == (3, [3])
    finally:
        await again.close()


async def test_a_read_replica_refuses_to_prune(tmp_path: Path) -> None:
    from graphsvc.store.embedded.store import EmbeddedStore

    async with EmbeddedStore(tmp_path / "w.db") as writer:
        replica = EmbeddedStore(writer.path, read_only=True)
        await replica.open()
        try:
            with pytest.raises(ReadOnlyStore):
                await replica.prune_events(keep=0)
        finally:
            await replica.close()
