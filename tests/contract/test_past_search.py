"""``find_entities`` with ``as_of`` and ``history`` newest first, on every store backend (issue 22).

A past search matches the names, statuses and attributes entities had then (the
key never changes), leaves out entities created later, counts the matches then,
pages across entities changed since and entities unchanged since, and returns
the records as they were then.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.records import ItemKind
from graphsvc.model.vocabulary import EntityKind, Status
from graphsvc.store.base import EntityQuery, GraphStore, ItemRef
from tests.contract.helpers import SVC, batch, ent, entity_id, get, merge


def named(key: str, name: str, **attributes: object) -> dict[str, object]:
    return {**ent(SVC, key, **attributes), "name": name}


async def two_times(store: GraphStore, engine: IngestEngine) -> datetime:
    """Load a graph, change it, and return a time between the two loads."""
    await engine.ingest(
        batch(
            "cmdb",
            entities=[
                named("svc-a", "Billing", tier=1),
                named("svc-b", "Ledger", tier=2),
                named("svc-d", "Billing desk", tier=3),
                named("svc-f", "Fax", tier=4),
            ],
        )
    )
    then = (await get(store, SVC, "svc-d")).first_seen
    await engine.ingest(
        batch(
            "cmdb",
            entities=[
                named("svc-a", "Invoicing", tier=1),  # renamed
                named("svc-b", "Ledger", tier=3),  # re-tiered
                named("svc-c", "Billing two", tier=1),  # new
                named("svc-d", "Billing desk", tier=3),  # unchanged
                named("svc-f", "Fax", tier=4),
            ],
        )
    )
    return then


async def keys(store: GraphStore, as_of: datetime | None, **query: object) -> list[str]:
    page = await store.find_entities(EntityQuery(**query), first=100, as_of=as_of)  # type: ignore[arg-type]
    assert page.total == len(page.items), "total counts the matches at that time"
    return [r.key for r in page.items]


async def test_a_past_search_matches_names_and_attributes_as_they_were(
    store: GraphStore, engine: IngestEngine
) -> None:
    then = await two_times(store, engine)
    # now: the renamed service is found by its new name, the new one exists
    assert await keys(store, None, text="billing") == ["svc-d", "svc-c"]
    assert await keys(store, None, text="invoic") == ["svc-a"]
    # then: the old name matches, the new one does not, the later entity is left out
    assert await keys(store, then, text="billing") == ["svc-a", "svc-d"]
    assert await keys(store, then, text="BILLING", kind=EntityKind.SERVICE) == ["svc-a", "svc-d"]
    assert await keys(store, then, text="invoic") == []
    assert await keys(store, then, text="svc-c") == []
    # attributes and statuses then
    assert await keys(store, then, attributes={"tier": 2}) == ["svc-b"]
    assert await keys(store, None, attributes={"tier": 2}) == []
    assert await keys(store, then, statuses=frozenset({Status.ACTIVE})) == [
        "svc-a",
        "svc-b",
        "svc-d",
        "svc-f",
    ]
    # the records are as they were then
    page = await store.find_entities(EntityQuery(text="billing"), first=10, as_of=then)
    assert [r.name for r in page.items] == ["Billing", "Billing desk"]
    assert page.items[0].attributes["tier"] == 1
    # before anything existed: nothing; far in the future: as now
    early = then - timedelta(days=3650)
    assert await keys(store, early) == []
    assert await keys(store, then + timedelta(days=3650), text="billing") == ["svc-d", "svc-c"]


async def test_a_past_search_pages_across_changed_and_unchanged_entities(
    store: GraphStore, engine: IngestEngine
) -> None:
    then = await two_times(store, engine)
    seen: list[str] = []
    after = None
    while True:
        page = await store.find_entities(EntityQuery(), first=1, after=after, as_of=then)
        assert page.total == 4, "svc-a, svc-b (changed since), svc-d, svc-f (unchanged)"
        seen += [r.key for r in page.items]
        if not page.has_next:
            break
        after = page.end_cursor
    assert seen == ["svc-a", "svc-b", "svc-d", "svc-f"]
    two = await store.find_entities(EntityQuery(text="billing"), first=1, as_of=then)
    assert [r.key for r in two.items] == ["svc-a"] and two.has_next and two.total == 2
    rest = await store.find_entities(
        EntityQuery(text="billing"), first=5, after=two.end_cursor, as_of=then
    )
    assert [r.key for r in rest.items] == ["svc-d"] and not rest.has_next
    assert (await store.find_entities(EntityQuery(), first=0, as_of=then)).total == 4


async def test_history_pages_newest_first(store: GraphStore, engine: IngestEngine) -> None:
    for tier in (1, 2, 3, 4):
        await engine.ingest(batch("cmdb", entities=[ent(SVC, "svc", tier=tier)]))
    ref = ItemRef(ItemKind.ENTITY, await entity_id(store, SVC, "svc"))
    oldest = await store.history(ref, first=100)
    assert len(oldest.items) == oldest.total >= 4
    seqs = [e.seq for e in oldest.items]
    newest: list[int] = []
    after = None
    while True:
        page = await store.history(ref, first=3, after=after, newest_first=True)
        assert page.total == oldest.total
        newest += [e.seq for e in page.items]
        if not page.has_next:
            break
        after = page.end_cursor
    assert newest == seqs[::-1]
    first = await store.history(ref, first=1, newest_first=True)
    assert first.items[0].changes["attributes.tier"].new == 4


async def test_a_past_search_answers_as_entities_as_of_does_for_a_merged_entity(
    store: GraphStore, engine: IngestEngine
) -> None:
    then = await two_times(store, engine)
    loser = await entity_id(store, SVC, "svc-f")
    await merge(store, loser, await entity_id(store, SVC, "svc-d"))
    assert await keys(store, None, text="fax") == []
    [past] = await store.entities([loser], as_of=then)
    assert await keys(store, then, text="fax") == ([] if past is None else ["svc-f"])
    assert await keys(store, then, text="billing desk") == ["svc-d"], "the survivor was there"
    total = (await store.find_entities(EntityQuery(), first=0, as_of=then)).total
    assert total == 3 + (past is not None)
