"""The identification rule of PRODUCT.md section 2, on every backend.

Each scenario is also checked after the store is closed and opened again:
the answer never depends on uptime (the embedded store answers lookups from
an index it builds on open; a difference between that index kept up to date
and the index rebuilt is a bug this file exists to catch).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from graphsvc.errors import BatchRejected
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.runner import resolve_refs
from graphsvc.model.batch import EntityRef
from graphsvc.model.vocabulary import (
    VOCABULARY,
    Direction,
    EntityKind,
    IdentifierStrength,
    Status,
)
from graphsvc.store.base import GraphStore
from graphsvc.store.factory import store_from_settings
from tests.conftest import store_settings
from tests.contract.helpers import CI, SVC, batch, ent, entity_id, get

Reopen = Callable[[], Awaitable[GraphStore]]


@pytest.fixture
async def reopen(
    store: GraphStore, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Reopen]:
    """Close the test's store and open the same data again (as a restart would)."""
    opened: list[GraphStore] = []

    async def again() -> GraphStore:
        await store.close()
        for s in opened:
            await s.close()
        fresh = store_from_settings(store_settings(backend, request, tmp_path))
        await fresh.open()
        opened.append(fresh)
        return fresh

    yield again
    for s in opened:
        await s.close()


async def before_and_after(store: GraphStore, reopen: Reopen) -> AsyncIterator[GraphStore]:
    """The running store, then the same data opened again."""
    yield store
    yield await reopen()


async def by_identifier(store: GraphStore, kind: str, **identifiers: str) -> int | None:
    """The entity a relation endpoint ``{kind, identifiers}`` names (``None``: none or two)."""
    ref = EntityRef(kind=EntityKind(kind), identifiers=identifiers)
    return (await resolve_refs(store, [ref]))[0]


def host(key: str, **identifiers: str) -> dict[str, object]:
    return {**ent(CI, key), "identifiers": identifiers}


def test_every_identifier_type_the_importers_use_has_a_strength() -> None:
    used = {
        "serial", "fqdn", "hostname", "ipAddress", "macAddress", "k8sUid", "awsArn",
        "cloudResourceId", "servicenowSysId", "jiraKey", "purl", "bomRef",
    }  # fmt: skip
    assert used <= set(VOCABULARY.identifiers)
    strong = {
        n for n, s in VOCABULARY.identifiers.items() if s.strength is IdentifierStrength.STRONG
    }
    assert {"fqdn", "hostname", "ipAddress", "macAddress"}.isdisjoint(strong)
    assert {"serial", "k8sUid", "awsArn", "servicenowSysId"} <= strong
    assert VOCABULARY.identifier_strength("someToolsId") is IdentifierStrength.WEAK


async def test_a_retired_hosts_ip_reused_by_a_new_host_is_a_new_entity(
    store: GraphStore, engine: IngestEngine, reopen: Reopen
) -> None:
    await engine.ingest(batch("s1", [host("rv2-old", ipAddress="10.77.0.8")]))
    await engine.ingest(
        batch("s1", [{**host("rv2-old", ipAddress="10.77.0.8"), "status": "retired"}])
    )
    summary = await engine.ingest(batch("s2", [host("rv2-new", ipAddress="10.77.0.8")]))
    assert (summary.entities_created, summary.merged, summary.revived) == (1, 0, 0)
    assert summary.identity_conflicts == 0  # a retired holder does not keep a weak value
    async for s in before_and_after(store, reopen):
        old, new = await entity_id(s, CI, "rv2-old"), await entity_id(s, CI, "rv2-new")
        assert old != new
        assert (await get(s, CI, "rv2-old")).status is Status.RETIRED
        assert (await get(s, CI, "rv2-new")).identifiers == {"ipAddress": "10.77.0.8"}
        assert await by_identifier(s, CI, ipAddress="10.77.0.8") == new


async def test_the_same_steps_after_a_restart_give_the_same_entities(
    store: GraphStore, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    await IngestEngine(store).ingest(batch("s1", [host("rv2-old", ipAddress="10.77.0.8")]))
    retired = {**host("rv2-old", ipAddress="10.77.0.8"), "status": "retired"}
    await IngestEngine(store).ingest(batch("s1", [retired]))
    await store.close()
    fresh = store_from_settings(store_settings(backend, request, tmp_path))
    await fresh.open()
    try:
        summary = await IngestEngine(fresh).ingest(
            batch("s2", [host("rv2-new", ipAddress="10.77.0.8")])
        )
        assert (summary.entities_created, summary.merged, summary.revived) == (1, 0, 0)
    finally:
        await fresh.close()


async def test_a_strong_identifier_revives_a_retired_entity(
    store: GraphStore, engine: IngestEngine, reopen: Reopen
) -> None:
    await engine.ingest(batch("s1", [host("srv-a", serial="SN-1", ipAddress="10.0.0.1")]))
    await engine.ingest(batch("s1", [{**host("srv-a", serial="SN-1"), "status": "retired"}]))
    summary = await engine.ingest(batch("s2", [host("asset-9", serial="sn-1 ".upper().strip())]))
    # "SN-1" again: the same machine came back under another tool's key
    assert (summary.entities_created, summary.merged, summary.revived) == (0, 1, 1)
    async for s in before_and_after(store, reopen):
        one = await entity_id(s, CI, "srv-a")
        assert await entity_id(s, CI, "asset-9") == one
        record = await get(s, CI, "asset-9")
        assert (record.status, record.aliases) == (Status.ACTIVE, ("asset-9",))


async def test_a_weak_match_with_a_disagreeing_strong_identifier_is_another_thing(
    store: GraphStore, engine: IngestEngine, reopen: Reopen
) -> None:
    await engine.ingest(batch("aws", [host("i-1", awsArn="arn:1", ipAddress="10.0.3.1")]))
    summary = await engine.ingest(batch("aws", [host("i-2", awsArn="arn:2", ipAddress="10.0.3.1")]))
    # two instances with one private IP in two VPCs: two entities; the IP stays with i-1
    assert (summary.entities_created, summary.identity_conflicts) == (1, 1)
    async for s in before_and_after(store, reopen):
        assert await entity_id(s, CI, "i-1") != await entity_id(s, CI, "i-2")
        assert (await get(s, CI, "i-2")).identifiers == {"awsArn": "arn:2"}
        assert await by_identifier(s, CI, ipAddress="10.0.3.1") == await entity_id(s, CI, "i-1")


async def test_an_item_with_two_entities_weak_values_takes_neither(
    store: GraphStore, engine: IngestEngine, reopen: Reopen
) -> None:
    await engine.ingest(
        batch(
            "s1",
            [
                host("mc4-A", serial="4SA", fqdn="a4.example.org"),
                host("mc4-B", serial="4SB", macAddress="00:44:22:33:44:55"),
            ],
        )
    )
    summary = await engine.ingest(
        batch("s2", [host("mc4-X", fqdn="a4.example.org", macAddress="00-44-22-33-44-55")])
    )
    # rule 3 finds two entities: neither; X is new and takes no value of theirs
    assert (summary.entities_created, summary.merged, summary.identity_conflicts) == (1, 0, 2)
    async for s in before_and_after(store, reopen):
        a, b, x = [await entity_id(s, CI, k) for k in ("mc4-A", "mc4-B", "mc4-X")]
        assert len({a, b, x}) == 3
        assert (await get(s, CI, "mc4-A")).identifiers == {
            "serial": "4SA",
            "fqdn": "a4.example.org",
        }
        assert (await get(s, CI, "mc4-B")).identifiers == {
            "serial": "4SB",
            "macAddress": "00:44:22:33:44:55",
        }
        assert (await get(s, CI, "mc4-X")).identifiers == {}
        assert await by_identifier(s, CI, macAddress="00:44:22:33:44:55") == b
        conflicts = (await s.identity_conflicts(first=10)).items
        assert sorted((c.id_type, c.entity_id, c.holder_id) for c in conflicts) == [
            ("fqdn", x, a),
            ("macAddress", x, b),
        ]


async def test_a_relation_by_a_weak_value_reaches_its_holder_not_the_claimant(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch("s1", [host("mc4-B", serial="4SB", macAddress="00:44:22:33:44:55"), ent(SVC, "app")])
    )
    await engine.ingest(batch("s2", [host("mc4-A", serial="4SA", macAddress="00:44:22:33:44:55")]))
    await engine.ingest(
        batch(
            "s3",
            relations=[
                {
                    "type": "RUNS_ON",
                    "from": {"kind": SVC, "key": "app"},
                    "to": {"kind": CI, "identifiers": {"macAddress": "00:44:22:33:44:55"}},
                }
            ],
        )
    )
    b = await entity_id(store, CI, "mc4-B")
    assert (await get(store, CI, "mc4-A")).identifiers == {"serial": "4SA"}
    incoming = await store.relations(b, Direction.IN, first=10)
    assert [r.type.value for r in incoming.items] == ["RUNS_ON"]


async def test_an_endpoint_naming_two_entities_rejects_the_batch_naming_both(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(
        batch(
            "s1", [host("h-1", serial="S1"), host("h-2", serial="S2", k8sUid="K2"), ent(SVC, "app")]
        )
    )

    def runs_on(**identifiers: str) -> dict[str, object]:
        return {
            "type": "RUNS_ON",
            "from": {"kind": SVC, "key": "app"},
            "to": {"kind": CI, "identifiers": identifiers},
        }

    with pytest.raises(BatchRejected) as caught:
        await engine.ingest(
            batch("s2", relations=[runs_on(serial="S1"), runs_on(serial="S1", k8sUid="K2")])
        )
    [error] = caught.value.errors
    assert (error.section, error.index, error.field) == ("relations", 1, "to")
    assert "ConfigurationItem/h-1" in error.reason and "ConfigurationItem/h-2" in error.reason
    assert (
        len((await store.relations(await entity_id(store, CI, "h-1"), Direction.IN, first=5)).items)
        == 0
    )


async def test_keys_are_compared_in_unicode_nfc(
    store: GraphStore, engine: IngestEngine, reopen: Reopen
) -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    await engine.ingest(batch("s1", [ent(SVC, composed)]))
    summary = await engine.ingest(batch("s2", [ent(SVC, decomposed, tier=2)]))
    assert (summary.entities_created, summary.entities_updated) == (0, 1)
    async for s in before_and_after(store, reopen):
        assert await entity_id(s, SVC, decomposed) == await entity_id(s, SVC, composed)
        assert (await get(s, SVC, decomposed)).key == composed


async def test_identifier_values_are_compared_in_nfc_and_the_types_own_form(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch("s1", [host("n-1", hostname="Caf\u00e9-01")]))
    summary = await engine.ingest(batch("s2", [host("n-2", hostname="CAFE\u0301-01 ")]))
    assert (summary.entities_created, summary.merged) == (0, 1)
    assert await entity_id(store, CI, "n-2") == await entity_id(store, CI, "n-1")


async def test_a_revived_entity_gives_up_a_weak_value_another_took_meanwhile(
    store: GraphStore, engine: IngestEngine, reopen: Reopen
) -> None:
    """Found by tests/fuzz/test_identity_machine.py: one live holder per value."""
    await engine.ingest(batch("s1", [host("k0", fqdn="h1.x"), host("k3")]))
    await engine.ingest(batch("s1", [{**host("k0"), "status": "retired"}]))
    await engine.ingest(batch("s1", [host("k3", awsArn="arn:1", fqdn="h1.x")]))  # free now
    summary = await engine.ingest(batch("s1", [host("k0")]))  # back, by its key
    assert (summary.revived, summary.identity_conflicts) == (1, 1)
    async for s in before_and_after(store, reopen):
        k0, k3 = await entity_id(s, CI, "k0"), await entity_id(s, CI, "k3")
        assert (await get(s, CI, "k0")).identifiers == {}
        assert (await get(s, CI, "k3")).identifiers == {"awsArn": "arn:1", "fqdn": "h1.x"}
        assert await by_identifier(s, CI, fqdn="h1.x") == k3
        [conflict] = (await s.identity_conflicts(first=5)).items
        assert (conflict.id_type, conflict.entity_id, conflict.holder_id) == ("fqdn", k0, k3)
