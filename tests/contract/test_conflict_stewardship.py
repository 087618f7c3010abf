"""Resolving identity conflicts by hand, on every backend: an administrator's merge of
two entities (recorded like an ingest merge) and the dismissal of a conflict, with
the conflicts' states (open, dismissed, resolved) listed, counted and kept across a
restart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from graphsvc.errors import Conflict, InvalidInput, NotFound
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.stewardship import ADMIN_SOURCE, MAX_REASON, IdentityStewardship
from graphsvc.model.records import ConflictState, HistoryOp, ItemKind
from graphsvc.model.vocabulary import Direction, EntityKind, RelationType
from graphsvc.store.base import EventQuery, GraphStore, ItemRef
from graphsvc.store.factory import store_from_settings
from tests.conftest import store_settings
from tests.contract.helpers import CI, SVC, batch, ent, entity_id, get, rel

Reopen = Callable[[], Awaitable[GraphStore]]
OPEN, DISMISSED, RESOLVED = ConflictState.OPEN, ConflictState.DISMISSED, ConflictState.RESOLVED


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


def host(key: str, **identifiers: str) -> dict[str, object]:
    return {**ent(CI, key), "identifiers": identifiers}


async def two_conflicts(engine: IngestEngine) -> None:
    """h1 and node-7 clash on an fqdn; x1 and x2 on an IP address.

    node-7 carries h1's fqdn but its own serial, so it is another entity and the
    fqdn stays with h1 (a conflict). Services run on both; node-7 is part of h1.
    """
    await engine.ingest(
        batch(
            "cmdb",
            [
                {**host("h1", serial="SN1", fqdn="h.example.org"), "attributes": {
                    "ciClass": "server", "environment": "prod"}},
                ent(SVC, "web"),
                ent(SVC, "api"),
                host("x1", serial="X1", ipAddress="10.0.0.9"),
            ],
            [
                rel("RUNS_ON", (SVC, "web"), (CI, "h1")),
                rel("RUNS_ON", (SVC, "api"), (CI, "h1")),
            ],
        )
    )  # fmt: skip
    await engine.ingest(
        batch(
            "k8s",
            [
                {**host("node-7", serial="SN7", fqdn="h.example.org", ipAddress="10.0.0.7"),
                 "attributes": {"ciClass": "k8s_node", "owner": "platform"}},
                ent(SVC, "api"),
                ent(SVC, "batch"),
                host("x2", serial="X2", ipAddress="10.0.0.9"),
            ],
            [
                rel("RUNS_ON", (SVC, "api"), (CI, "node-7"), note="from k8s"),
                rel("RUNS_ON", (SVC, "batch"), (CI, "node-7")),
                rel("PART_OF", (CI, "node-7"), (CI, "h1")),
            ],
        )
    )  # fmt: skip


async def test_a_merge_is_recorded_like_an_ingest_merge_and_resolves_the_conflict(
    store: GraphStore, engine: IngestEngine, reopen: Reopen
) -> None:
    await two_conflicts(engine)
    page = await store.identity_conflicts(first=10, state=OPEN)
    assert page.total == 2
    h1, node7 = await entity_id(store, CI, "h1"), await entity_id(store, CI, "node-7")
    [fqdn_conflict] = [c for c in page.items if c.id_type == "fqdn"]
    assert (fqdn_conflict.entity_id, fqdn_conflict.holder_id) == (node7, h1)

    steward = IdentityStewardship(store, engine.policy)
    result = await steward.merge_entities(h1, node7, actor="alice")
    assert (result.survivor_id, result.merged_id, result.merged_key) == (h1, node7, "node-7")
    assert (result.relations_moved, result.relations_dropped) == (2, 1)
    assert result.resolved_conflicts == (fqdn_conflict.seq,)

    async def check(s: GraphStore) -> None:
        assert await entity_id(s, CI, "node-7") == h1  # the key is an alias now
        record = await get(s, CI, "h1")
        assert "node-7" in record.aliases
        # fields the survivor lacked are taken; a value both hold stays the survivor's
        assert record.identifiers == {
            "serial": "SN1",
            "fqdn": "h.example.org",
            "ipAddress": "10.0.0.7",
        }
        assert record.attributes["ciClass"] == "server"
        assert record.attributes["owner"] == "platform"
        assert await s.resolve_identifiers(EntityKind.CONFIGURATION_ITEM, [("ipAddress", "10.0.0.7")]) == [(h1,)]  # fmt: skip
        assert (await s.entities([node7]))[0].id == h1  # type: ignore[union-attr]
        incoming = await s.relations(h1, Direction.IN, first=50)
        live = [r for r in incoming.items if r.status.value != "retired"]
        runs_on = [r for r in live if r.type is RelationType.RUNS_ON]
        froms = sorted(e.key for e in await s.entities([r.from_id for r in runs_on]) if e)
        assert froms == ["api", "batch", "web"]  # api's two relations are one
        [api_rel] = [r for r in live if r.from_id == await entity_id(s, SVC, "api")]
        assert api_rel.attributes.get("note") == "from k8s"  # folded into h1's own relation
        assert not [r for r in live if r.type is RelationType.PART_OF]  # the loop is gone
        # the history: merged on the survivor, merged_into on the other, by admin and alice
        events = (await s.history(ItemRef(ItemKind.ENTITY, h1), first=100)).items
        ops = {(e.op, e.item_id, e.source, e.actor) for e in events}
        assert (HistoryOp.MERGED, h1, ADMIN_SOURCE, "alice") in ops
        assert (HistoryOp.MERGED_INTO, node7, ADMIN_SOURCE, "alice") in ops
        merged = [e for e in events if e.op is HistoryOp.MERGED][-1]
        assert merged.changes["merged"].new == "node-7"
        # the conflict is resolved, naming the merge; the other one is still open
        everything = await s.identity_conflicts(first=10)
        assert everything.total == 2
        [closed] = [c for c in everything.items if c.seq == fqdn_conflict.seq]
        assert closed.state is RESOLVED and closed.closure is not None
        assert closed.closure.actor == "alice"
        assert closed.closure.reason == "merged ConfigurationItem/node-7 into ConfigurationItem/h1"
        assert closed.closure.at == result.at
        open_now = await s.identity_conflicts(first=10, state=OPEN)
        assert (open_now.total, [c.id_type for c in open_now.items]) == (1, ["ipAddress"])
        resolved = await s.identity_conflicts(first=10, state=RESOLVED)
        assert (resolved.total, [c.seq for c in resolved.items]) == (1, [fqdn_conflict.seq])

    await check(store)
    feed = await store.events(EventQuery(sources=frozenset({ADMIN_SOURCE})), first=100)
    assert {e.op for e in feed.items} >= {HistoryOp.MERGED, HistoryOp.MERGED_INTO}
    # a later batch naming the merged key reaches the survivor, and records nothing new
    summary = await engine.ingest(batch("k8s", [host("node-7", fqdn="h.example.org")]))
    assert (summary.entities_created, summary.identity_conflicts) == (0, 0)
    assert (await store.identity_conflicts(first=10)).total == 2
    await check(await reopen())


async def test_dismissing_a_conflict_keeps_it_listed_with_reason_actor_and_time(
    store: GraphStore, engine: IngestEngine, reopen: Reopen
) -> None:
    await two_conflicts(engine)
    x1, x2 = await entity_id(store, CI, "x1"), await entity_id(store, CI, "x2")
    [ip] = [c for c in (await store.identity_conflicts(first=10)).items if c.id_type == "ipAddress"]
    steward = IdentityStewardship(store, engine.policy)
    with pytest.raises(InvalidInput, match="give a reason"):
        await steward.dismiss_conflict(ip.seq, "  \n ", actor="bob")
    with pytest.raises(InvalidInput, match="at most 500"):
        await steward.dismiss_conflict(ip.seq, "x" * (MAX_REASON + 1), actor="bob")
    with pytest.raises(InvalidInput, match="control character"):
        await steward.dismiss_conflict(ip.seq, "ok\x00", actor="bob")
    with pytest.raises(NotFound, match="no identity conflict 999999"):
        await steward.dismiss_conflict(999_999, "why", actor="bob")
    assert (await store.identity_conflicts(first=10, state=OPEN)).total == 2  # nothing written

    dismissed = await steward.dismiss_conflict(ip.seq, " two VPCs, one private IP ", actor="bob")
    assert dismissed.state is DISMISSED and dismissed.closure is not None
    assert (dismissed.closure.reason, dismissed.closure.actor) == (
        "two VPCs, one private IP",
        "bob",
    )
    with pytest.raises(Conflict, match=r"already dismissed \(by bob"):
        await steward.dismiss_conflict(ip.seq, "again", actor="carol")

    async def check(s: GraphStore, still_open: int) -> None:
        everything = await s.identity_conflicts(first=10)
        assert everything.total == 2
        [listed] = [c for c in everything.items if c.seq == ip.seq]
        assert listed.closure == dismissed.closure
        assert (await s.identity_conflicts(first=10, state=OPEN)).total == still_open
        page = await s.identity_conflicts(first=10, state=DISMISSED)
        assert [c.seq for c in page.items] == [ip.seq]
        for entity in (x1, x2):
            events = (await s.history(ItemRef(ItemKind.ENTITY, entity), first=50)).items
            [event] = [e for e in events if e.op is HistoryOp.CONFLICT_DISMISSED]
            assert (event.source, event.actor) == (ADMIN_SOURCE, "bob")
            assert event.changes["identityConflict"].new == ip.seq
            assert event.changes["reason"].new == "two VPCs, one private IP"

    await check(store, 1)
    # the same clash carried again is not recorded again: it stays dismissed
    summary = await engine.ingest(batch("k8s", [host("x2", serial="X2", ipAddress="10.0.0.9")]))
    assert summary.identity_conflicts == 1
    assert (await store.identity_conflicts(first=10, state=OPEN)).total == 1
    # a resolved conflict cannot be dismissed
    h1, node7 = await entity_id(store, CI, "h1"), await entity_id(store, CI, "node-7")
    [fqdn] = (await steward.merge_entities(node7, h1, actor="alice")).resolved_conflicts
    with pytest.raises(Conflict, match="already resolved"):
        await steward.dismiss_conflict(fqdn, "late", actor="bob")
    await check(await reopen(), 0)


async def test_a_merge_refuses_what_it_cannot_merge_and_writes_nothing(
    store: GraphStore, engine: IngestEngine
) -> None:
    await two_conflicts(engine)
    await engine.ingest(batch("cmdb", [{**host("gone", serial="G1"), "status": "retired"}]))
    h1, node7, x1 = [await entity_id(store, CI, k) for k in ("h1", "node-7", "x1")]
    web, gone = await entity_id(store, SVC, "web"), await entity_id(store, CI, "gone")
    steward = IdentityStewardship(store, engine.policy)
    before = (await store.events(EventQuery(), first=0)).end_cursor
    with pytest.raises(InvalidInput, match="the same entity"):
        await steward.merge_entities(h1, h1, actor="a")
    with pytest.raises(InvalidInput, match="is a ConfigurationItem and other a Service"):
        await steward.merge_entities(h1, web, actor="a")
    with pytest.raises(NotFound, match=r"other \(entity 987654\)"):
        await steward.merge_entities(h1, 987_654, actor="a")
    with pytest.raises(Conflict, match="ConfigurationItem/gone is retired"):
        await steward.merge_entities(h1, gone, actor="a")
    assert (await store.events(EventQuery(), first=0)).end_cursor == before
    await steward.merge_entities(h1, node7, actor="a")
    with pytest.raises(Conflict, match="was merged into entity"):
        await steward.merge_entities(x1, node7, actor="a")
    with pytest.raises(Conflict, match="was merged into entity"):
        await steward.merge_entities(node7, x1, actor="a")
