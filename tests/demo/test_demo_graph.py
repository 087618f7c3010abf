"""The demo graph (graphsvc/demo/hospital-group.yaml) loads, twice, and holds its showcases."""

from __future__ import annotations

import datetime
from collections import Counter

import pytest

from graphsvc.demo import demo_batches, resolve_time
from graphsvc.errors import BatchRejected
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.records import EntityRecord
from graphsvc.model.validation import parse_datetime
from graphsvc.model.vocabulary import Direction, EntityKind, RelationType, Status
from graphsvc.store.base import GraphStore

TODAY = datetime.date(2025, 3, 10)
"""A fixed load day, so that expected times can be written out."""

S, C, T, P = (
    EntityKind.SERVICE,
    EntityKind.CONFIGURATION_ITEM,
    EntityKind.TEAM,
    EntityKind.PROJECT,
)
PAGE = 500


@pytest.fixture(scope="module")
def batches() -> list[IngestBatch]:
    return demo_batches(TODAY)


async def load(store: GraphStore, batches: list[IngestBatch]) -> None:
    engine = IngestEngine(store)
    for batch in batches:
        await engine.ingest(batch)


async def entity(store: GraphStore, kind: EntityKind, key: str) -> EntityRecord:
    (found,) = await store.resolve([(kind, key)])
    assert found is not None, f"{kind.value}/{key} missing"
    (record,) = await store.entities([found])
    assert record is not None
    return record


async def neighbours(
    store: GraphStore, kind: EntityKind, key: str, type_: RelationType, direction: Direction
) -> set[tuple[EntityKind, str]]:
    """(kind, key) of the entities at the other end of ``key``'s ``type_`` relations."""
    record = await entity(store, kind, key)
    page = await store.relations(record.id, direction, types=frozenset({type_}), first=PAGE)
    assert not page.has_next
    ids = [r.to_id if direction is Direction.OUT else r.from_id for r in page.items]
    others = await store.entities(ids)
    return {(o.kind, o.key) for o in others if o is not None}


# ------------------------------------------------------------------ the file


def test_resolve_time_notation() -> None:
    assert resolve_time("@+3d 22:00", TODAY) == "2025-03-13T22:00:00+00:00"
    assert resolve_time("@-10d", TODAY) == "2025-02-28T00:00:00+00:00"
    assert resolve_time("@+0d 09:30", TODAY) == "2025-03-10T09:30:00+00:00"
    assert resolve_time("@ehr-team", TODAY) is None
    assert resolve_time("@+3d 22:00 ", TODAY) is None
    with pytest.raises(ValueError):
        resolve_time("@+1d 25:00", TODAY)


def test_batches_validate_with_times_resolved(batches: list[IngestBatch]) -> None:
    assert [b.source for b in batches] == [
        "hr",
        "servicenow",
        "servicenow",
        "servicenow",
        "k8s-prod",
        "ppm",
        "change-mgmt",
        "nmap",
        "nmap",
    ]
    # the scan reports one host twice (the second time with a server's FQDN)
    entities = [e for b in batches[:-1] for e in b.entities]
    relations = [r for b in batches for r in b.relations]
    assert 120 <= len(entities) <= 220
    assert 250 <= len(relations) <= 500
    keys = Counter((e.kind, e.key) for e in entities)
    assert max(keys.values()) == 1, "an entity is described twice"

    def strings(value: object) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        return []

    for item in [*entities, *relations]:
        for text in strings(dict(item.attributes)):
            assert resolve_time(text, TODAY) is None, f"{item.label()}: {text} left unresolved"

    change = next(e for e in entities if e.key == "CHG0041201")
    assert change.attributes["plannedStart"] == "2025-03-21T22:00:00+00:00"
    assert change.attributes["plannedEnd"] == "2025-03-22T01:00:00+00:00"
    assert change.attributes["backout"] == {
        "decideBy": "2025-03-22T00:15:00+00:00",
        "plan": "boot the previous NX-OS image",
    }
    for e in entities:
        if e.kind in (EntityKind.CHANGE, EntityKind.WINDOW):
            for name in ("plannedStart", "plannedEnd", "start", "end"):
                value = e.attributes.get(name)
                if value is not None:
                    assert isinstance(value, str)
                    assert parse_datetime(value) is not None


def test_an_invalid_relative_time_names_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    import graphsvc.demo as demo

    original = demo._resolve

    def broken(value: object, today: datetime.date) -> object:
        if value == "@+3d 20:00":
            return original("@+3d 25:00", today)
        return original(value, today)

    monkeypatch.setattr(demo, "_resolve", broken)
    with pytest.raises(BatchRejected, match=r"hospital-group\.yaml batch 7"):
        demo.demo_batches(TODAY)


# ------------------------------------------------------------------ loading


async def test_loads_and_a_second_load_changes_nothing(
    store: GraphStore, batches: list[IngestBatch]
) -> None:
    engine = IngestEngine(store)
    first = [await engine.ingest(b) for b in batches]
    distinct = {(e.kind, e.key) for b in batches for e in b.entities}  # a scan reports twice
    assert sum(s.entities_created for s in first) == len(distinct)
    assert sum(s.identity_conflicts for s in first) == 1  # its FQDN is a server's
    assert sum(s.relations_created for s in first) == sum(len(b.relations) for b in batches)
    assert sum(s.merged for s in first) == 0
    for batch, summary in zip(batches, [await engine.ingest(b) for b in batches], strict=True):
        assert (summary.entities_created, summary.entities_updated) == (0, 0), batch.source
        assert (summary.relations_created, summary.relations_updated) == (0, 0), batch.source


# ------------------------------------------------------------------ structure


async def test_ehr_consolidation_sources_and_targets(
    store: GraphStore, batches: list[IngestBatch]
) -> None:
    await load(store, batches)
    project = await entity(store, P, "PRJ-0101")
    assert project.attributes["projectType"] == "consolidation"
    sources = await neighbours(store, P, "PRJ-0101", RelationType.CONSOLIDATES, Direction.OUT)
    assert sources == {
        (S, "ehr-nbh"),
        (S, "ehr-staidans"),
        (C, "app-ehr-nbh"),
        (C, "app-ehr-staidans"),
    }
    for kind, key in sources:
        target = "ehr-unified" if kind is S else "app-ehr-unified"
        replaced_by = await neighbours(store, kind, key, RelationType.REPLACED_BY, Direction.OUT)
        assert replaced_by == {(kind, target)}
    # the one consumer that blocks readiness depends on an old EHR only
    needs = await neighbours(store, S, "theatre-scheduling", RelationType.DEPENDS_ON, Direction.OUT)
    assert needs == {(S, "ehr-staidans")}
    # one source lacks `load`, the target states `capacity`
    assert "load" not in (await entity(store, S, "ehr-staidans")).attributes
    assert "capacity" in (await entity(store, S, "ehr-unified")).attributes


async def test_billing_blackout_applies_to_billing(
    store: GraphStore, batches: list[IngestBatch]
) -> None:
    await load(store, batches)
    key = "blackout-billing-month-end-close"
    window = await entity(store, EntityKind.WINDOW, key)
    assert window.attributes["windowType"] == "blackout"
    covered = await neighbours(
        store, EntityKind.WINDOW, key, RelationType.APPLIES_TO, Direction.OUT
    )
    assert (S, "billing") in covered
    billing = await entity(store, S, "billing")
    assert billing.attributes["capability"] == "revenue-cycle"


async def test_ghost_and_retired_teams(store: GraphStore, batches: list[IngestBatch]) -> None:
    await load(store, batches)
    owned = await neighbours(store, T, "team-sa-interfaces", RelationType.OWNS, Direction.OUT)
    assert owned == {(C, "sa-hl7-gw")}
    members = await neighbours(store, T, "team-sa-interfaces", RelationType.MEMBER_OF, Direction.IN)
    assert members == set()
    retired = await entity(store, T, "team-sa-desktop")
    assert retired.status is Status.RETIRED
    assert await neighbours(store, T, "team-sa-desktop", RelationType.OWNS, Direction.OUT)


async def test_redundancy_group_and_inherited_owner(
    store: GraphStore, batches: list[IngestBatch]
) -> None:
    await load(store, batches)
    db = await entity(store, C, "db-billing")
    page = await store.relations(
        db.id, Direction.OUT, types=frozenset({RelationType.DEPENDS_ON}), first=PAGE
    )
    assert {r.attributes.get("redundancyGroup") for r in page.items} == {"billing-sql-ag"}
    assert len(page.items) == 2
    # sa-vna-shelf-02 -> sa-vna-array -> sa-vna-cluster -> pacs-staidans (owned)
    chain = [(C, "sa-vna-shelf-02"), (C, "sa-vna-array"), (C, "sa-vna-cluster")]
    for kind, key in chain:
        assert not await neighbours(store, kind, key, RelationType.OWNS, Direction.IN)
    ups = [await neighbours(store, k, key, RelationType.PART_OF, Direction.OUT) for k, key in chain]
    assert ups == [{chain[1]}, {chain[2]}, {(S, "pacs-staidans")}]
    owners = await neighbours(store, S, "pacs-staidans", RelationType.OWNS, Direction.IN)
    assert owners == {(T, "team-imaging")}
