"""Every ingest rule of PRODUCT.md section 2, against every store backend."""

from __future__ import annotations

import pytest

from graphsvc.errors import BatchRejected, Conflict, NotFound
from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.model.records import HistoryOp, ItemKind, RunState
from graphsvc.model.vocabulary import Direction, Status
from graphsvc.store.base import EntityQuery, GraphStore, ItemRef
from tests.contract.helpers import CI, SVC, batch, ent, entity_id, get, rel


async def count(store: GraphStore, **kw: object) -> int:
    return (await store.find_entities(EntityQuery(**kw), first=0)).total  # type: ignore[arg-type]


async def history_ops(store: GraphStore, kind: str, key: str) -> list[HistoryOp]:
    page = await store.history(
        ItemRef(ItemKind.ENTITY, await entity_id(store, kind, key)), first=100
    )
    return [e.op for e in page.items]


# ------------------------------------------------------------------ atomic


async def test_invalid_item_rejects_whole_batch_naming_every_item(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch(entities=[ent(SVC, "existing")]))
    bad = batch(
        entities=[ent(SVC, "fine"), ent(CI, "no-class", ciClass=None), ent(SVC, "tiered", tier=9)],
        relations=[
            rel("DEPENDS_ON", (SVC, "fine"), (CI, "ghost")),
            rel("OWNS", (SVC, "fine"), (SVC, "existing")),
        ],
    )
    with pytest.raises(BatchRejected) as caught:
        await engine.ingest(bad)
    reasons = {(e.section, e.index): e for e in caught.value.errors}
    assert set(reasons) == {("entities", 1), ("entities", 2), ("relations", 0), ("relations", 1)}
    assert reasons[("entities", 2)].key == "Service/tiered"
    assert "at most 4" in reasons[("entities", 2)].reason
    assert "ciClass" in reasons[("entities", 1)].reason
    assert "OWNS cannot go from Service to Service" in reasons[("relations", 1)].reason
    assert await count(store) == 1  # nothing of the batch was written


async def test_missing_endpoint_rejects_and_writes_nothing(
    store: GraphStore, engine: IngestEngine
) -> None:
    with pytest.raises(BatchRejected) as caught:
        await engine.ingest(
            batch(entities=[ent(SVC, "a")], relations=[rel("DEPENDS_ON", (SVC, "a"), (SVC, "b"))])
        )
    (error,) = caught.value.errors
    assert (error.section, error.index, error.field) == ("relations", 0, "to")
    assert "no Service with key 'b'" in error.reason
    assert await count(store) == 0


async def test_relation_to_itself_is_refused(engine: IngestEngine) -> None:
    with pytest.raises(BatchRejected, match="itself"):
        await engine.ingest(
            batch(entities=[ent(SVC, "a")], relations=[rel("DEPENDS_ON", (SVC, "a"), (SVC, "a"))])
        )


async def test_required_attribute_checked_on_creation_only(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch(entities=[ent(CI, "db", ciClass="database")]))
    # a partial view of an existing CI may omit ciClass
    summary = await engine.ingest(
        batch(source="monitor", entities=[{"kind": CI, "key": "db", "attributes": {"load": 3}}])
    )
    assert summary.entities_updated == 1
    assert (await get(store, CI, "db")).attributes == {"ciClass": "database", "load": 3}


# --------------------------------------------------------------- idempotent


async def test_same_batch_twice_changes_nothing_but_last_seen(
    store: GraphStore, engine: IngestEngine
) -> None:
    b = batch(
        entities=[ent(SVC, "checkout", tier=1), ent(CI, "db")],
        relations=[rel("DEPENDS_ON", (SVC, "checkout"), (CI, "db"), criticality="high")],
    )
    first = await engine.ingest(b)
    assert (first.entities_created, first.relations_created) == (2, 1)
    before = await get(store, SVC, "checkout")
    ops_before = await history_ops(store, SVC, "checkout")
    second = await engine.ingest(b)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)
    after = await get(store, SVC, "checkout")
    assert after.attributes == before.attributes
    assert after.provenance == before.provenance
    assert after.last_seen > before.last_seen
    assert after.first_seen == before.first_seen
    assert await history_ops(store, SVC, "checkout") == ops_before


# ------------------------------------------------------------- identification


async def test_shared_identifier_identifies_and_keeps_alias(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch(
            source="cmdb",
            entities=[{**ent(CI, "srv-42"), "identifiers": {"fqdn": "DB1.Example.org."}}],
        )
    )
    summary = await engine.ingest(
        batch(
            source="nmap",
            entities=[
                {
                    **ent(CI, "10.0.0.5", ciClass="host", os="linux"),
                    "identifiers": {"fqdn": "db1.example.org", "ipAddress": "10.0.0.5"},
                }
            ],
        )
    )
    assert (summary.entities_created, summary.merged) == (0, 1)
    assert await count(store, kind=None) == 1
    one = await entity_id(store, CI, "srv-42")
    assert await entity_id(store, CI, "10.0.0.5") == one
    record = await get(store, CI, "10.0.0.5")
    assert record.key == "srv-42"
    assert record.aliases == ("10.0.0.5",)
    assert record.identifiers == {"fqdn": "db1.example.org", "ipAddress": "10.0.0.5"}
    assert record.attributes["os"] == "linux"
    # later batches naming the alias reach the same entity, relations too
    await engine.ingest(
        batch(
            source="nmap",
            entities=[ent(SVC, "app")],
            relations=[rel("RUNS_ON", (SVC, "app"), (CI, "10.0.0.5"))],
        )
    )
    page = await store.relations(one, Direction.IN, first=10)
    assert [r.type.value for r in page.items] == ["RUNS_ON"]
    assert HistoryOp.MERGED in await history_ops(store, CI, "srv-42")


async def test_items_of_one_batch_sharing_an_identifier_are_one_entity(
    store: GraphStore, engine: IngestEngine
) -> None:
    summary = await engine.ingest(
        batch(
            entities=[
                {**ent(CI, "a"), "identifiers": {"serial": "S1"}},
                {**ent(CI, "b", rack="r1"), "identifiers": {"serial": "S1"}},
            ]
        )
    )
    assert summary.entities_created == 1
    assert await entity_id(store, CI, "a") == await entity_id(store, CI, "b")
    assert (await get(store, CI, "b")).attributes["rack"] == "r1"


async def test_identifiers_match_within_a_kind_only(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch(
            entities=[
                {**ent(SVC, "s"), "identifiers": {"serial": "X"}},
                {**ent(CI, "c"), "identifiers": {"serial": "X"}},
            ]
        )
    )
    assert await entity_id(store, SVC, "s") != await entity_id(store, CI, "c")


async def test_an_identifier_another_stored_entity_holds_is_a_conflict_not_a_merge(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch(
            source="nmap",
            entities=[
                {
                    **ent(CI, "ip-10.0.0.7", ciClass="host"),
                    "identifiers": {"ipAddress": "10.0.0.7"},
                },
                ent(SVC, "web"),
            ],
            relations=[rel("RUNS_ON", (SVC, "web"), (CI, "ip-10.0.0.7"))],
        )
    )
    await engine.ingest(
        batch(
            source="snow",
            entities=[
                {
                    **ent(CI, "snow-77", ciClass="server", serial="SN7"),
                    "identifiers": {"fqdn": "h7.example.org"},
                },
            ],
        )
    )
    nmap_ci = await entity_id(store, CI, "ip-10.0.0.7")
    snow_ci = await entity_id(store, CI, "snow-77")
    # nmap now reports the FQDN snow-77 holds: its key names its own entity
    # (rule 1), and the FQDN stays where it is, recorded as a conflict
    summary = await engine.ingest(
        batch(
            source="nmap",
            entities=[
                {
                    **ent(CI, "ip-10.0.0.7", ciClass="host"),
                    "identifiers": {"ipAddress": "10.0.0.7", "fqdn": "H7.example.org."},
                }
            ],
        )
    )
    assert (summary.merged, summary.identity_conflicts) == (0, 1)
    assert await entity_id(store, CI, "snow-77") == snow_ci != nmap_ci
    assert (await get(store, CI, "ip-10.0.0.7")).identifiers == {"ipAddress": "10.0.0.7"}
    assert (await get(store, CI, "snow-77")).identifiers == {"fqdn": "h7.example.org"}
    page = await store.identity_conflicts(first=10)
    [conflict] = page.items
    assert (conflict.id_type, conflict.value) == ("fqdn", "h7.example.org")
    assert (conflict.entity_id, conflict.holder_id) == (nmap_ci, snow_ci)
    assert (conflict.source, conflict.item_key, conflict.kind.value) == ("nmap", "ip-10.0.0.7", CI)
    assert not page.has_next
    # the same clash again is counted in the summary but recorded once (idempotent)
    again = await engine.ingest(
        batch(
            source="nmap",
            entities=[{**ent(CI, "ip-10.0.0.7"), "identifiers": {"fqdn": "h7.example.org"}}],
        )
    )
    assert again.identity_conflicts == 1
    assert (await store.identity_conflicts(first=10)).items == (conflict,)
    later = await store.identity_conflicts(first=10, after=conflict.seq)
    assert later.items == () and later.total == 1  # the total counts every conflict
    assert page.total == 1


# --------------------------------------------------------------- reconciliation


async def test_lower_priority_source_cannot_overwrite(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch(source="authority", entities=[ent(SVC, "s", tier=1)]))
    await engine.ingest(batch(source="lowly", entities=[ent(SVC, "s", tier=4, note="x")]))
    record = await get(store, SVC, "s")
    assert record.attributes == {"tier": 1, "note": "x"}
    assert record.provenance["attributes.tier"].source == "authority"
    assert record.provenance["attributes.note"].source == "lowly"


async def test_equal_priority_overwrites_and_higher_takes_over(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch(source="a", entities=[ent(SVC, "s", tier=3)]))
    await engine.ingest(batch(source="b", entities=[ent(SVC, "s", tier=2)]))
    assert (await get(store, SVC, "s")).attributes["tier"] == 2
    await engine.ingest(batch(source="authority", entities=[ent(SVC, "s", tier=2)]))
    record = await get(store, SVC, "s")
    assert record.provenance["attributes.tier"].source == "authority"  # same value, owner upgraded
    await engine.ingest(batch(source="b", entities=[ent(SVC, "s", tier=1)]))
    assert (await get(store, SVC, "s")).attributes["tier"] == 2


async def test_null_removes_an_attribute_under_the_same_rule(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch(source="authority", entities=[ent(SVC, "s", owner_note="keep", scratch="x")])
    )
    await engine.ingest(batch(source="a", entities=[ent(SVC, "s", owner_note=None)]))
    assert (await get(store, SVC, "s")).attributes == {"owner_note": "keep", "scratch": "x"}
    await engine.ingest(batch(source="authority", entities=[ent(SVC, "s", scratch=None)]))
    assert (await get(store, SVC, "s")).attributes == {"owner_note": "keep"}
    with pytest.raises(BatchRejected, match="ciClass is required"):
        await engine.ingest(
            batch(entities=[{"kind": CI, "key": "c", "attributes": {"ciClass": None}}])
        )


# ------------------------------------------------------------- runs, staleness


async def test_complete_run_marks_unasserted_items_stale_within_source_and_scope(
    store: GraphStore, engine: IngestEngine
) -> None:
    full = [ent(CI, "n1"), ent(CI, "n2"), ent(CI, "n3")]
    await engine.ingest(batch(source="k8s", scope="eu", entities=full, complete=True))
    await engine.ingest(batch(source="k8s", scope="us", entities=[ent(CI, "u1")], complete=True))
    await engine.ingest(batch(source="cmdb", entities=[ent(CI, "n3")]))
    run = await engine.start_run("k8s", "eu")
    assert run.state is RunState.OPEN
    await engine.ingest(
        batch(source="k8s", scope="eu", run_id=run.run_id, entities=[ent(CI, "n1")])
    )
    # nothing goes stale before the run finishes
    assert (await get(store, CI, "n2")).status is Status.ACTIVE
    summary = await engine.finish_run(run.run_id, complete=True)
    assert summary.marked_stale == 1
    assert (await get(store, CI, "n1")).status is Status.ACTIVE
    assert (await get(store, CI, "n2")).status is Status.STALE  # only k8s/eu asserted it
    assert (await get(store, CI, "n3")).status is Status.ACTIVE  # cmdb still asserts it
    assert (await get(store, CI, "u1")).status is Status.ACTIVE  # other scope untouched


async def test_incomplete_or_abandoned_run_changes_no_status(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch(source="k8s", entities=[ent(CI, "n1"), ent(CI, "n2")], complete=True))
    run = await engine.start_run("k8s")
    await engine.ingest(batch(source="k8s", run_id=run.run_id, entities=[ent(CI, "n1")]))
    summary = await engine.finish_run(run.run_id, complete=False)
    assert summary.run_state is RunState.INCOMPLETE
    assert (await get(store, CI, "n2")).status is Status.ACTIVE
    with pytest.raises(Conflict, match="already finished"):
        await engine.ingest(batch(source="k8s", run_id=run.run_id, entities=[ent(CI, "n1")]))
    with pytest.raises(Conflict):
        await engine.finish_run(run.run_id, complete=True)


async def test_run_errors(engine: IngestEngine) -> None:
    with pytest.raises(NotFound):
        await engine.ingest(batch(source="k8s", run_id="nope", entities=[ent(CI, "n1")]))
    run = await engine.start_run("k8s", "eu")
    with pytest.raises(Conflict, match="belongs to source"):
        await engine.ingest(
            batch(source="other", scope="eu", run_id=run.run_id, entities=[ent(CI, "n1")])
        )
    with pytest.raises(BatchRejected, match="complete applies"):
        await engine.ingest(batch(source="k8s", scope="eu", run_id=run.run_id, complete=True))
    with pytest.raises(NotFound):
        await engine.finish_run("nope", complete=True)


async def test_stale_items_retire_after_n_complete_runs_and_revive_when_seen(
    store: GraphStore, engine: IngestEngine
) -> None:
    both = [ent(CI, "keep"), ent(CI, "gone")]
    await engine.ingest(batch(source="k8s", entities=both, complete=True))
    first = await engine.ingest(batch(source="k8s", entities=[ent(CI, "keep")], complete=True))
    assert first.marked_stale == 1
    assert (await get(store, CI, "gone")).status is Status.STALE
    second = await engine.ingest(batch(source="k8s", entities=[ent(CI, "keep")], complete=True))
    assert second.retired == 1  # retire_after_missing_runs=2
    assert (await get(store, CI, "gone")).status is Status.RETIRED
    third = await engine.ingest(batch(source="k8s", entities=both, complete=True))
    assert third.revived == 1
    assert (await get(store, CI, "gone")).status is Status.ACTIVE


async def _unrenewed(store: GraphStore, run_id: str, limit: int) -> set[int]:
    """Entity ids of the k8s/default assertions a complete run would reread."""
    async with store.write() as tx:
        found = await tx.get_run(run_id)
        assert found is not None
        rows = await tx.missing_assertions("k8s", "default", found[1], saturated_at=limit)
    return {a.ref.id for a in rows}


async def test_retired_items_are_not_reread_by_later_complete_runs(
    store: GraphStore, engine: IngestEngine
) -> None:
    both = [ent(CI, "keep"), ent(CI, "gone")]
    await engine.ingest(batch(source="k8s", entities=both, complete=True))
    for _ in range(2):
        await engine.ingest(batch(source="k8s", entities=[ent(CI, "keep")], complete=True))
    assert (await get(store, CI, "gone")).status is Status.RETIRED
    for _ in range(3):  # before the count stopped at the threshold, these reread "gone"
        later = await engine.ingest(batch(source="k8s", entities=[ent(CI, "keep")], complete=True))
        assert (later.marked_stale, later.retired) == (0, 0)
        assert later.run_id is not None
        assert await _unrenewed(store, later.run_id, limit=2) == set()
    # a raised threshold rereads it (counting on to the new one) but never revives it
    raised = IngestEngine(store, IngestPolicy(retire_after_missing_runs=4))
    gone = await entity_id(store, CI, "gone")
    assert later.run_id is not None
    assert await _unrenewed(store, later.run_id, limit=4) == {gone}
    for _ in range(2):
        run = await raised.ingest(batch(source="k8s", entities=[ent(CI, "keep")], complete=True))
        assert (run.marked_stale, run.retired, run.revived) == (0, 0, 0)
    assert run.run_id is not None
    assert await _unrenewed(store, run.run_id, limit=4) == set()
    assert (await get(store, CI, "gone")).status is Status.RETIRED


async def test_lowered_threshold_retires_items_already_missed_that_often(
    store: GraphStore,
) -> None:
    patient = IngestEngine(store, IngestPolicy(retire_after_missing_runs=5))
    both = [ent(CI, "keep"), ent(CI, "gone")]
    await patient.ingest(batch(source="k8s", entities=both, complete=True))
    for _ in range(3):
        await patient.ingest(batch(source="k8s", entities=[ent(CI, "keep")], complete=True))
    assert (await get(store, CI, "gone")).status is Status.STALE  # missed 3 of 5
    strict = IngestEngine(store, IngestPolicy(retire_after_missing_runs=2))
    run = await strict.ingest(batch(source="k8s", entities=[ent(CI, "keep")], complete=True))
    assert run.retired == 1
    assert (await get(store, CI, "gone")).status is Status.RETIRED


async def test_item_kept_by_another_source_retires_when_that_source_drops_it(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch(source="k8s", entities=[ent(CI, "keep"), ent(CI, "x")], complete=True)
    )
    await engine.ingest(batch(source="nmap", entities=[ent(CI, "x")], complete=True))
    for _ in range(4):  # k8s's count for x stops at the threshold; nmap still asserts it
        await engine.ingest(batch(source="k8s", entities=[ent(CI, "keep")], complete=True))
    assert (await get(store, CI, "x")).status is Status.ACTIVE
    for _ in range(2):
        await engine.ingest(batch(source="nmap", entities=[ent(CI, "other")], complete=True))
    assert (await get(store, CI, "x")).status is Status.RETIRED


async def test_relations_go_stale_too(store: GraphStore, engine: IngestEngine) -> None:
    ents = [ent(SVC, "a"), ent(CI, "b")]
    await engine.ingest(
        batch(entities=ents, relations=[rel("RUNS_ON", (SVC, "a"), (CI, "b"))], complete=True)
    )
    summary = await engine.ingest(batch(entities=ents, complete=True))
    assert summary.marked_stale == 1
    page = await store.relations(await entity_id(store, SVC, "a"), Direction.OUT, first=10)
    assert [r.status for r in page.items] == [Status.STALE]


async def test_explicit_retirement(store: GraphStore, engine: IngestEngine) -> None:
    await engine.ingest(batch(entities=[ent(SVC, "old")], relations=[]))
    summary = await engine.ingest(batch(entities=[{**ent(SVC, "old"), "status": "retired"}]))
    assert summary.retired == 1
    record = await get(store, SVC, "old")
    assert record.status is Status.RETIRED
    page = await store.history(ItemRef(ItemKind.ENTITY, record.id), first=10)
    assert page.items[-1].op is HistoryOp.STATUS_CHANGED
    assert page.items[-1].changes["status"].old == "active"
    assert page.items[-1].changes["status"].new == "retired"


# --------------------------------------------------------------------- dry run


async def test_dry_run_reports_and_writes_nothing(store: GraphStore, engine: IngestEngine) -> None:
    await engine.ingest(batch(entities=[ent(SVC, "a", tier=1), ent(SVC, "b")], complete=True))
    stats_before = await store.stats()
    summary = await engine.ingest(
        batch(entities=[ent(SVC, "a", tier=2), ent(SVC, "c")], complete=True, dryRun=True)
    )
    assert summary.dry_run
    assert (summary.entities_created, summary.entities_updated, summary.marked_stale) == (1, 1, 1)
    ops = {(c.op, c.label) for c in summary.changes}
    assert ("create", "Service/c") in ops
    assert ("stale", "Service/b") in ops
    assert any(c.op == "update" and c.fields == ("attributes.tier",) for c in summary.changes)
    stats_after = await store.stats()
    assert (stats_after.entities, stats_after.history_events) == (
        stats_before.entities,
        stats_before.history_events,
    )
    assert (await get(store, SVC, "a")).attributes["tier"] == 1
    assert (await get(store, SVC, "b")).status is Status.ACTIVE


# --------------------------------------------------------------------- history


async def test_history_records_every_change_with_time_source_actor_and_run(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch(source="cmdb", entities=[ent(SVC, "s", tier=3)]), actor="alice")
    run = await engine.start_run("snow")
    await engine.ingest(
        batch(
            source="snow", run_id=run.run_id, entities=[{**ent(SVC, "s", tier=2), "name": "Shop"}]
        ),
        actor="bob",
    )
    await engine.finish_run(run.run_id, complete=True)
    page = await store.history(ItemRef(ItemKind.ENTITY, await entity_id(store, SVC, "s")), first=10)
    created, updated = page.items
    one = await store.history(ItemRef(ItemKind.ENTITY, await entity_id(store, SVC, "s")), first=1)
    assert (len(one.items), one.has_next, one.total, page.total) == (1, True, 2, 2)
    assert (created.op, created.source, created.actor) == (HistoryOp.CREATED, "cmdb", "alice")
    assert (updated.op, updated.source, updated.actor, updated.run_id) == (
        HistoryOp.UPDATED,
        "snow",
        "bob",
        run.run_id,
    )
    assert (
        updated.changes["attributes.tier"].old == 3 and updated.changes["attributes.tier"].new == 2
    )
    assert updated.changes["name"].old == "s" and updated.changes["name"].new == "Shop"
    assert created.at < updated.at


async def test_as_of_reads_the_past(store: GraphStore, engine: IngestEngine) -> None:
    await engine.ingest(batch(entities=[ent(SVC, "s", tier=3)]))
    t1 = (await store.stats()).last_commit
    assert t1 is not None
    await engine.ingest(batch(entities=[ent(SVC, "s", tier=1), ent(SVC, "later")]))
    sid, later = await entity_id(store, SVC, "s"), await entity_id(store, SVC, "later")
    past = await store.entities([sid, later], as_of=t1)
    assert past[0] is not None and past[0].attributes == {"tier": 3}
    assert past[1] is None
    assert await store.resolve(
        [
            (
                __import__("graphsvc.model.vocabulary", fromlist=["EntityKind"]).EntityKind.SERVICE,
                "later",
            )
        ],
        as_of=t1,
    ) == [None]
    await engine.ingest(batch(entities=[{**ent(SVC, "s"), "status": "retired"}]))
    now = await store.entities([sid])
    then = await store.entities([sid], as_of=t1)
    assert now[0] is not None and now[0].status is Status.RETIRED
    assert then[0] is not None and then[0].status is Status.ACTIVE
