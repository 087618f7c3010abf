"""What only a real Neo4j 5 server can show: routing, access modes, retries, concurrent writers.

Each test runs against the test server of ``tests/conftest.py`` (by default
Neo4j Community 5.26 started from Maven Central), from an empty database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from neo4j.exceptions import SessionExpired

from graphsvc.config import Settings
from graphsvc.errors import Conflict, StoreError
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.store.base import TraversalSpec
from graphsvc.store.factory import store_from_settings
from graphsvc.store.neo4j.cypher import Statement
from graphsvc.store.neo4j.store import DriverGateway, Neo4jStore, Run
from tests.contract.helpers import batch, ent, rel

pytestmark = pytest.mark.neo4j
T = TypeVar("T")
SVC, CI = "Service", "ConfigurationItem"


def _gateway(settings: Settings, uri: str | None = None) -> DriverGateway:
    return DriverGateway(
        uri or settings.neo4j_uri,
        settings.neo4j_user,
        settings.neo4j_password.get_secret_value(),
        settings.neo4j_database,
    )


def _chain(prefix: str, n: int) -> Any:
    return batch(
        source="cmdb",
        entities=[ent(SVC, f"{prefix}{i}", tier=1 + i % 4) for i in range(n)],
        relations=[
            rel("DEPENDS_ON", (SVC, f"{prefix}{i}"), (SVC, f"{prefix}{i + 1}"))
            for i in range(n - 1)
        ],
    )


async def test_the_routing_scheme_reads_and_writes(empty_neo4j: Settings) -> None:
    """``neo4j://`` asks the server for a routing table; reads and writes then go by it."""
    routing = empty_neo4j.neo4j_uri.replace("bolt://", "neo4j://")
    assert routing.startswith("neo4j://")
    store = Neo4jStore(gateway=_gateway(empty_neo4j, routing))
    async with store:
        summary = await IngestEngine(store).ingest(_chain("r", 5))
        assert summary.entities_created == 5
        ids = await store.resolve([(EntityKind.SERVICE, "r4")])
        assert ids[0] is not None
        walk = await store.traverse(TraversalSpec([ids[0]], VOCABULARY.impact_steps))
        assert len(walk) == 5  # r4 and the four services that depend on it, in a chain


async def test_reads_run_in_read_transactions(empty_neo4j: Settings) -> None:
    """The server refuses a write in the store's read transactions, so on a cluster the
    reads may be served by followers (and a write slipped into a read would show)."""
    gateway = _gateway(empty_neo4j)
    await gateway.connect()
    try:

        async def write_in_read(run: Run) -> Any:
            return await run(Statement("CREATE (:GraphsvcProbe) RETURN 1 AS one", op="probe"))

        with pytest.raises(StoreError, match=r"(?i)read"):
            await gateway.read(write_in_read, "probing the access mode")
        rows = await gateway.write(write_in_read, "writing in a write transaction")
        assert rows == [{"one": 1}]
    finally:
        await gateway.close()


class _RetryOnce(DriverGateway):
    """Fails the first attempt of every managed write after its statements ran.

    ``SessionExpired`` is what the driver raises when the connection to the
    leader drops; it rolls the transaction back and runs the unit again.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.attempts = 0
        self.failed = 0
        self.armed = False

    async def write(self, work: Callable[[Run], Awaitable[T]], doing: str) -> T:
        first = self.armed

        async def flaky(run: Run) -> T:
            nonlocal first
            self.attempts += int(self.armed)
            result = await work(run)
            if first:
                first = False
                self.failed += 1
                msg = "forced by the test after the unit's statements ran"
                raise SessionExpired(msg)
            return result

        return await super().write(flaky, doing)


async def test_a_retried_write_unit_is_applied_once(empty_neo4j: Settings) -> None:
    """The driver runs a failed unit again; the store ends as after one clean run."""
    flaky = _RetryOnce(
        empty_neo4j.neo4j_uri,
        empty_neo4j.neo4j_user,
        empty_neo4j.neo4j_password.get_secret_value(),
        empty_neo4j.neo4j_database,
    )
    store = Neo4jStore(gateway=flaky)
    async with store:
        engine = IngestEngine(store)
        flaky.armed = True  # from here on (after open), every write unit fails once
        run = await engine.start_run("cmdb", "retry")
        in_run = {"run_id": run.run_id, "scope": "retry"}
        first = await engine.ingest(_chain("t", 20).model_copy(update=in_run))
        again = await engine.ingest(_chain("t", 20).model_copy(update=in_run))
        done = await engine.finish_run(run.run_id, complete=True)
        assert (flaky.failed, flaky.attempts) == (4, 8)  # every unit ran twice
        assert (first.entities_created, first.relations_created) == (20, 19)
        assert (again.entities_created, again.entities_updated) == (0, 0)
        assert done.marked_stale == 0
        stats = await store.stats()
        runs = await store.runs(source="cmdb")
    # one creation event per item, and ids 1..n without gaps: nothing applied twice
    assert (stats.entities, stats.relations, stats.history_events) == (20, 19, 39)
    assert [r.run_id for r in runs] == [run.run_id]
    async with store_from_settings(empty_neo4j) as plain:
        ids = await plain.resolve([(EntityKind.SERVICE, f"t{i}") for i in range(20)])
    assert sorted(i for i in ids if i is not None) == list(range(1, 21))


async def test_concurrent_writers_in_two_processes_are_serialised(empty_neo4j: Settings) -> None:
    """Two stores (two drivers, as two graphsvc processes would have) write overlapping
    batches at once: the meta node's lock serialises them, no key is created twice."""
    a = store_from_settings(empty_neo4j)
    b = store_from_settings(empty_neo4j)
    async with a, b:
        shared = [ent(SVC, f"shared{i}") for i in range(50)]

        def one(prefix: str) -> Any:
            return batch(
                source=prefix,
                entities=[*shared, *(ent(SVC, f"{prefix}{i}") for i in range(50))],
                relations=[
                    rel("DEPENDS_ON", (SVC, f"{prefix}{i}"), (SVC, f"shared{i}")) for i in range(50)
                ],
            )

        results = await asyncio.gather(
            *(IngestEngine(s).ingest(one(p)) for s, p in ((a, "a"), (b, "b"), (a, "c"), (b, "d")))
        )
        assert sum(r.entities_created for r in results) == 50 + 4 * 50
        stats = await a.stats()
    assert (stats.entities, stats.relations) == (250, 200)


async def test_a_constraint_violation_is_a_conflict(
    empty_neo4j: Settings, neo4j_admin: Any
) -> None:
    """A write the server's constraints refuse surfaces as ``Conflict``, not a driver error."""
    async with store_from_settings(empty_neo4j) as store:
        await IngestEngine(store).ingest(batch(entities=[ent(SVC, "taken")]))
        gateway = _gateway(empty_neo4j)
        await gateway.connect()
        try:

            async def duplicate_key(run: Run) -> Any:
                return await run(
                    Statement("CREATE (:Entity:Service {id: 999, key: 'taken'})", op="probe")
                )

            with pytest.raises(Conflict, match="constraint"):
                await gateway.write(duplicate_key, "creating a duplicate key")
        finally:
            await gateway.close()


async def test_server_notifications_stay_out_of_the_logs(
    empty_neo4j: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """On a young database every read names labels and properties the server has not
    seen yet; the driver logged each such notification as a warning (one per statement
    in the logs of a fresh install) until graphsvc turned them off."""
    caplog.set_level("INFO", logger="neo4j")
    gateway = _gateway(empty_neo4j)
    await gateway.connect()
    try:
        unknown = Statement("MATCH (n:GraphsvcNeverCreated) RETURN count(n) AS n", op="probe")
        rows = await gateway.read(lambda run: run(unknown), "reading an unknown label")
    finally:
        await gateway.close()
    assert rows == [{"n": 0}]
    noisy = [r.getMessage() for r in caplog.records if "notification" in r.getMessage().lower()]
    assert noisy == []


async def test_a_version_1_database_is_migrated_on_open(
    empty_neo4j: Settings, neo4j_admin: Any
) -> None:
    """Graph model 1 kept no identifiers of retired entities and one holder per value."""
    async with store_from_settings(empty_neo4j) as store:
        engine = IngestEngine(store)
        await engine.ingest(
            batch(entities=[{**ent(CI, "old"), "identifiers": {"serial": "S1", "fqdn": "a.x"}}])
        )
        await engine.ingest(batch(entities=[{**ent(CI, "old"), "status": "retired"}]))
        await engine.ingest(batch(entities=[{**ent(CI, "new"), "identifiers": {"fqdn": "a.x"}}]))
        await engine.ingest(batch(entities=[ent(SVC, "caf\u00e9")]))
        old, new = await store.resolve([(EntityKind.CONFIGURATION_ITEM, k) for k in ("old", "new")])
        [cafe] = await store.resolve([(EntityKind.SERVICE, "caf\u00e9")])
    # what graphsvc 1 left: no identifier node of the retired entity, the old constraint
    with neo4j_admin.session(database=empty_neo4j.neo4j_database) as session:
        session.run("MATCH (i:Identifier {entity: $old}) DELETE i", old=old).consume()
        session.run("DROP CONSTRAINT identifier_holder IF EXISTS").consume()
        session.run("DROP INDEX identifier_lookup IF EXISTS").consume()
        session.run(
            "CREATE CONSTRAINT identifier_value_unique IF NOT EXISTS "
            "FOR (i:Identifier) REQUIRE (i.kind, i.type, i.value) IS UNIQUE"
        ).consume()
        session.run("MATCH (m:GraphsvcStore) SET m.schema_version = '1'").consume()
        # graphsvc 1 stored keys as sent
        session.run(
            "MATCH (e:Entity {id: $id}) SET e.key = $key", id=cafe, key="cafe\u0301"
        ).consume()
    async with store_from_settings(empty_neo4j) as store:
        ci = EntityKind.CONFIGURATION_ITEM
        held = await store.resolve_identifiers(ci, [("serial", "S1"), ("fqdn", "a.x")])
        assert held == [(old,), tuple(sorted((old, new)))]
        assert await store.resolve([(EntityKind.SERVICE, "cafe\u0301")]) == [cafe]
        # the strong serial revives the retired entity, as the rule says
        summary = await IngestEngine(store).ingest(
            batch(entities=[{**ent(CI, "back"), "identifiers": {"serial": "S1"}}])
        )
        assert (summary.revived, summary.merged) == (1, 1)
    with neo4j_admin.session(database=empty_neo4j.neo4j_database) as session:
        version = session.run("MATCH (m:GraphsvcStore) RETURN m.schema_version AS v").single()
        constraints = {r["name"] for r in session.run("SHOW CONSTRAINTS YIELD name")}
    assert version is not None and version["v"] == "2"
    assert "identifier_holder" in constraints and "identifier_value_unique" not in constraints


async def test_check_finds_what_the_graph_lacks(empty_neo4j: Settings, neo4j_admin: Any) -> None:
    async with store_from_settings(empty_neo4j) as store:
        engine = IngestEngine(store)
        await engine.ingest(
            batch(entities=[{**ent(CI, "a"), "identifiers": {"ipAddress": "10.0.0.9"}}])
        )
        await engine.ingest(batch(entities=[ent(CI, "b")]))
        [a, b] = await store.resolve([(EntityKind.CONFIGURATION_ITEM, k) for k in ("a", "b")])
        assert (await store.check()).clean
        with neo4j_admin.session(database=empty_neo4j.neo4j_database) as session:
            session.run("MATCH (h:History {item: $item, op: 'created'}) DELETE h", item=a * 2)
            # what graphsvc 1 could leave: one IP on two active hosts
            session.run(
                "CREATE (:Identifier {kind: $kind, type: 'ipAddress', value: '10.0.0.9', "
                "entity: $b})",
                kind=VOCABULARY.kind_code(EntityKind.CONFIGURATION_ITEM),
                b=b,
            ).consume()
        report = await store.check()
    messages = [(f.check, f.message) for f in report.findings]
    assert ("history", f"entity {a} has no 'created' event") in messages
    assert any(c == "identifiers" and "'10.0.0.9'" in m for c, m in messages), messages


async def test_attributes_indexed_later_are_mirrored_on_open(
    empty_neo4j: Settings, neo4j_admin: Any
) -> None:
    """A store written before ``due`` and ``effortHours`` were indexed lacks their mirrors:
    the next open adds them, so filters on them find the old entities."""
    from graphsvc.store.base import EntityQuery

    task = {
        "kind": "Task",
        "key": "t-old",
        "attributes": {"due": "2030-01-10T00:00:00+00:00", "effortHours": 8, "note": "x"},
    }
    async with store_from_settings(empty_neo4j) as store:
        await IngestEngine(store).ingest(batch(entities=[task, ent(SVC, "s", tier=1)]))
    with neo4j_admin.session(database=empty_neo4j.neo4j_database) as session:
        # what a store of the version before looks like: no mirrors, no record of them
        session.run("MATCH (e:Entity) REMOVE e.attr_due, e.attr_effortHours, e.attr_tier").consume()
        session.run("MATCH (m:GraphsvcStore) SET m.mirrored = ['tier']").consume()
    async with store_from_settings(empty_neo4j) as store:
        query = EntityQuery(attributes={"due": "2030-01-10T00:00:00+00:00", "effortHours": 8})
        page = await store.find_entities(query, first=10)
        assert [e.key for e in page.items] == ["t-old"]
    with neo4j_admin.session(database=empty_neo4j.neo4j_database) as session:
        row = session.run(
            "MATCH (m:GraphsvcStore) MATCH (e:Entity {key: 't-old'}) "
            "RETURN m.mirrored AS mirrored, e.attr_due AS due, e.attr_note AS note"
        ).single()
        tier = session.run("MATCH (e:Entity {key: 's'}) RETURN e.attr_tier AS tier").single()
    assert row is not None and set(VOCABULARY.indexed_attributes) <= set(row["mirrored"])
    assert row["due"] == "2030-01-10T00:00:00+00:00" and row["note"] is None
    # tier was recorded as mirrored, so it is not backfilled (nothing reads every entity)
    assert tier is not None and tier["tier"] is None
