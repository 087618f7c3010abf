"""The event feed (PRODUCT.md 8, issue 20): the history of the whole store after a cursor.

Every committed change is an event of the append-only history, written with the
change; :meth:`GraphStore.events` reads them in seq order (commit order), paged
by a cursor, filtered by item kind, entity kind, relation type and source.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.records import FieldChange, HistoryEvent, HistoryOp, ItemKind
from graphsvc.model.vocabulary import EntityKind, RelationType
from graphsvc.store.base import (
    ChangeSet,
    EventPage,
    EventQuery,
    GraphStore,
    ItemRef,
    Merge,
    NewHistory,
    WriteTransaction,
)
from graphsvc.store.factory import store_from_settings
from tests.conftest import store_settings
from tests.contract.helpers import CI, SVC, batch, ent, entity_id, rel

ALL = EventQuery()
Reopen = Callable[[], Awaitable[GraphStore]]


@pytest.fixture
async def reopen(
    store: GraphStore, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Reopen]:
    """Close the test's store and open the same data again (as a restart would)."""
    opened: list[GraphStore] = []

    async def again() -> GraphStore:
        await store.close()
        fresh = store_from_settings(store_settings(backend, request, tmp_path))
        await fresh.open()
        opened.append(fresh)
        return fresh

    yield again
    for s in opened:
        await s.close()


async def merge(store: GraphStore, loser: int, survivor: int) -> None:
    """Merge ``loser`` into ``survivor`` through the port, with its two events."""

    async def work(tx: WriteTransaction) -> None:
        at = await tx.next_commit_time()
        await tx.apply(
            ChangeSet(
                at=at,
                source="steward",
                scope="default",
                actor="test",
                run_id=None,
                run_seq=0,
                merges=[Merge(loser, survivor)],
                history=[
                    NewHistory(
                        HistoryOp.MERGED_INTO,
                        ItemRef(ItemKind.ENTITY, loser),
                        {"mergedInto": FieldChange(None, survivor)},
                    ),
                    NewHistory(
                        HistoryOp.MERGED,
                        ItemRef(ItemKind.ENTITY, survivor),
                        {"merged": FieldChange(None, loser)},
                    ),
                ],
            )
        )

    await store.transact(work)


async def feed(
    store: GraphStore, query: EventQuery = ALL, *, after: int = 0, first: int = 100
) -> tuple[list[HistoryEvent], int]:
    """Follow the feed to its end; return every event and the final cursor."""
    out: list[HistoryEvent] = []
    cursor = after
    while True:
        page = await store.events(query, first=first, after=cursor)
        out += page.items
        assert page.end_cursor >= cursor
        cursor = page.end_cursor
        if not page.has_next:
            return out, cursor


async def small_graph(engine: IngestEngine) -> None:
    """cmdb: 2 services, 1 host and 2 relations; itsm: a later attribute change."""
    await engine.ingest(
        batch(
            "cmdb",
            [ent(SVC, "web", tier=1), ent(SVC, "db"), ent(CI, "vm")],
            [rel("DEPENDS_ON", (SVC, "web"), (SVC, "db")), rel("RUNS_ON", (SVC, "db"), (CI, "vm"))],
        ),
        actor="loader",
    )
    await engine.ingest(batch("itsm", [ent(SVC, "web", tier=2)]), actor="desk")


async def test_every_change_is_an_event_in_seq_order(
    store: GraphStore, engine: IngestEngine
) -> None:
    empty = await store.events(ALL, first=10)
    assert empty == EventPage((), False, 0, 1)
    await small_graph(engine)
    page = await store.events(ALL, first=100)
    assert not page.has_next
    seqs = [e.seq for e in page.items]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) == 6
    assert page.end_cursor == seqs[-1]
    assert page.oldest_seq == seqs[0] == 1
    created, update = page.items[:5], page.items[5]
    assert {e.op for e in created} == {HistoryOp.CREATED}
    assert [e.item for e in created].count(ItemKind.RELATION) == 2
    assert {(e.source, e.actor) for e in created} == {("cmdb", "loader")}
    web = await entity_id(store, SVC, "web")
    assert (update.op, update.item, update.item_id) == (HistoryOp.UPDATED, ItemKind.ENTITY, web)
    assert (update.source, update.actor) == ("itsm", "desk")
    assert {k: (v.old, v.new) for k, v in update.changes.items()} == {"attributes.tier": (1, 2)}


async def test_events_after_a_cursor_and_nothing_after_the_last(
    store: GraphStore, engine: IngestEngine
) -> None:
    await small_graph(engine)
    everything, cursor = await feed(store)
    later = await store.events(ALL, first=10, after=everything[2].seq)
    assert later.items == tuple(everything[3:])
    caught_up = await store.events(ALL, first=10, after=cursor)
    assert caught_up == EventPage((), False, cursor, 1, cursor)
    await engine.ingest(batch("cmdb", [ent(SVC, "new")]))
    fresh = await store.events(ALL, first=10, after=cursor)
    assert [(e.op, e.seq > cursor) for e in fresh.items] == [(HistoryOp.CREATED, True)]
    assert fresh.end_cursor == fresh.items[0].seq
    # an empty page asked for moves nothing but says whether there is more
    none = await store.events(ALL, first=0, after=cursor)
    assert none == EventPage((), True, cursor, 1, fresh.items[0].seq)


async def test_paging_sees_every_event_once(store: GraphStore, engine: IngestEngine) -> None:
    for i in range(4):
        await engine.ingest(batch("cmdb", [ent(SVC, f"s{i}a"), ent(SVC, f"s{i}b")]))
    everything, _ = await feed(store, first=100)
    assert len(everything) == 8
    paged, _ = await feed(store, first=3)
    assert paged == everything
    first_page = await store.events(ALL, first=3)
    assert first_page.has_next and first_page.end_cursor == first_page.items[-1].seq


async def test_filters_by_item_kind_type_and_source(
    store: GraphStore, engine: IngestEngine
) -> None:
    await small_graph(engine)
    ids = {
        key: await entity_id(store, kind, key)
        for kind, key in ((SVC, "web"), (SVC, "db"), (CI, "vm"))
    }

    async def items(query: EventQuery) -> list[tuple[str, int, str]]:
        events, _ = await feed(store, query)
        return [(e.item.value, e.item_id, e.op.value) for e in events]

    entities = await items(EventQuery(item=ItemKind.ENTITY))
    assert len(entities) == 4 and {i for i, _, _ in entities} == {"entity"}
    relations = await items(EventQuery(item=ItemKind.RELATION))
    assert len(relations) == 2 and {i for i, _, _ in relations} == {"relation"}
    services = await items(EventQuery(kinds=frozenset({EntityKind.SERVICE})))
    assert sorted((i, n, op) for i, n, op in services) == sorted(
        [
            ("entity", ids["web"], "created"),
            ("entity", ids["db"], "created"),
            ("entity", ids["web"], "updated"),
        ]
    )
    depends = await items(EventQuery(types=frozenset({RelationType.DEPENDS_ON})))
    assert [(i, op) for i, _, op in depends] == [("relation", "created")]
    both = await items(
        EventQuery(
            kinds=frozenset({EntityKind.CONFIGURATION_ITEM}),
            types=frozenset({RelationType.RUNS_ON}),
        )
    )
    assert [i for i, _, _ in both] == ["entity", "relation"]
    assert both[0][1] == ids["vm"]
    # kinds and item together: no relation event is of a kind
    assert (
        await items(EventQuery(item=ItemKind.RELATION, kinds=frozenset({EntityKind.SERVICE}))) == []
    )
    itsm = await items(EventQuery(sources=frozenset({"itsm"})))
    assert itsm == [("entity", ids["web"], "updated")]
    assert await items(EventQuery(exclude_sources=frozenset({"cmdb"}))) == itsm
    assert await items(EventQuery(exclude_sources=frozenset({"itsm"}))) == (await items(ALL))[:5]
    assert await items(EventQuery(sources=frozenset({"nobody"}))) == []
    assert len(await items(EventQuery(sources=frozenset({"cmdb", "itsm"})))) == 6
    # a filter that matches nothing still moves the cursor to the end
    page = await store.events(EventQuery(sources=frozenset({"nobody"})), first=10)
    assert page == EventPage((), False, 6, 1, 6)


async def test_a_sparse_filter_scans_a_bounded_window_and_moves_on(
    store: GraphStore, engine: IngestEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("graphsvc.store.embedded.store", "graphsvc.store.neo4j.store"):
        monkeypatch.setattr(f"{module}.EVENT_SCAN", 2)
    await engine.ingest(batch("cmdb", [ent(SVC, f"x{i}") for i in range(5)]))
    await engine.ingest(batch("itsm", [ent(SVC, "late")]))
    query = EventQuery(sources=frozenset({"itsm"}))
    first = await store.events(query, first=10)
    assert first == EventPage((), True, 2, 1, 6)
    events, cursor = await feed(store, query)
    assert [e.seq for e in events] == [6] and cursor == 6
    everything, _ = await feed(store, first=10)
    assert [e.seq for e in everything] == [1, 2, 3, 4, 5, 6]


async def test_merges_and_retirements_are_events(store: GraphStore, engine: IngestEngine) -> None:
    await engine.ingest(batch("cmdb", [ent(SVC, "keep"), ent(SVC, "lose"), ent(CI, "old")]))
    _, cursor = await feed(store)
    keep, lose = await entity_id(store, SVC, "keep"), await entity_id(store, SVC, "lose")
    old = await entity_id(store, CI, "old")
    await merge(store, lose, keep)
    await engine.ingest(batch("cmdb", [{**ent(CI, "old"), "status": "retired"}]))
    events, _ = await feed(store, after=cursor)
    ops = {(e.item_id, e.op) for e in events}
    assert (lose, HistoryOp.MERGED_INTO) in ops
    assert (keep, HistoryOp.MERGED) in ops
    retired = [e for e in events if e.item_id == old]
    assert [e.op for e in retired] == [HistoryOp.STATUS_CHANGED]
    assert retired[0].changes["status"].new == "retired"
    # the merged entity's events keep its kind
    services, _ = await feed(store, EventQuery(kinds=frozenset({EntityKind.SERVICE})), after=cursor)
    assert {(e.item_id, e.op) for e in services} == {
        (lose, HistoryOp.MERGED_INTO),
        (keep, HistoryOp.MERGED),
    }
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs))


async def test_events_survive_a_reopen(
    store: GraphStore, engine: IngestEngine, reopen: Reopen
) -> None:
    await small_graph(engine)
    before, cursor = await feed(store)
    fresh = await reopen()
    after, again = await feed(fresh)
    assert after == before and again == cursor
    await IngestEngine(fresh).ingest(batch("cmdb", [ent(SVC, "after-restart")]))
    later, _ = await feed(fresh, after=cursor)
    assert [e.seq for e in later] == [cursor + 1]


async def test_a_reader_following_concurrent_writers_misses_nothing(
    store: GraphStore, engine: IngestEngine
) -> None:
    done = asyncio.Event()
    seen: list[int] = []

    async def writer(w: int) -> None:
        for b in range(4):
            await engine.ingest(batch(f"w{w}", [ent(SVC, f"w{w}-{b}-{i}") for i in range(3)]))

    async def reader() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            page = await store.events(ALL, first=5, after=cursor)
            seen.extend(e.seq for e in page.items)
            cursor = page.end_cursor
            if finished and not page.has_next:
                return
            await asyncio.sleep(0)

    follow = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(3)))
    done.set()
    await follow
    everything, _ = await feed(store)
    assert seen == [e.seq for e in everything]
    assert len(seen) == 36 and seen == sorted(set(seen))
