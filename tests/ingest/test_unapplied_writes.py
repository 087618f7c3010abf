"""Writes the reconciliation rule refuses are listed in the ingest answer (PRODUCT.md 8).

"When both tools change the same field, the reconciliation rule settles it
(priority, then the later write), and the ingest answer lists each write that
was not applied and which source holds the field." Run on both stores.

"Not applied" means exactly: the field is held by another source of *higher*
priority and the item sends a different value (or ``null`` to remove it). The
same value is no conflict; an equal-priority source's write is applied (the
later write wins), so neither is listed.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.ingest.results import UNAPPLIED_LIMIT, IngestSummary, UnappliedWrite
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.base import GraphStore
from tests.conftest import STORE_BACKENDS, backend_params

SVC = "Service"
CI = "ConfigurationItem"
PRIORITIES = {"itsm": 10, "ppm": 5, "wiki": 5}


@pytest.fixture(params=backend_params(STORE_BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on the embedded store and on Neo4j."""
    name: str = request.param
    return name


@pytest.fixture
def engine(store: GraphStore) -> IngestEngine:
    """ITSM outranks the PPM tool and the wiki, which are equal."""
    return IngestEngine(store, IngestPolicy(source_priorities=PRIORITIES))


def batch(source: str, entities: Any = (), relations: Any = (), **header: Any) -> IngestBatch:
    return IngestBatch.model_validate(
        {"source": source, "entities": list(entities), "relations": list(relations), **header}
    )


def svc(key: str, name: str | None = None, **attributes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": SVC, "key": key, "attributes": attributes}
    if name is not None:
        item["name"] = name
    return item


async def record(store: GraphStore, key: str, kind: str = SVC) -> Any:
    found = (await store.resolve([(EntityKind(kind), key)]))[0]
    assert found is not None
    return (await store.entities([found]))[0]


async def test_a_lower_priority_write_is_listed_with_the_holder(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch("itsm", [svc("billing", "Billing", tier=1, lifecycle="live")]))
    answer = await engine.ingest(
        batch(
            "ppm",
            [
                svc("other", note="new"),
                svc("billing", "Billing (PPM)", tier=3, lifecycle="live", budget=12),
            ],
        )
    )
    assert answer.unapplied_total == 2
    assert answer.unapplied == (
        UnappliedWrite(
            item="entity",
            section="entities",
            index=1,
            label="Service/billing",
            field="name",
            sent="Billing (PPM)",
            kept="Billing",
            holder="itsm",
            holder_priority=10,
            sender="ppm",
            sender_priority=5,
            reason="source 'itsm' (priority 10) holds name; source 'ppm' (priority 5) "
            "may not change it",
        ),
        UnappliedWrite(
            item="entity",
            section="entities",
            index=1,
            label="Service/billing",
            field="attributes.tier",
            sent=3,
            kept=1,
            holder="itsm",
            holder_priority=10,
            sender="ppm",
            sender_priority=5,
            reason="source 'itsm' (priority 10) holds attributes.tier; source 'ppm' "
            "(priority 5) may not change it",
        ),
    )
    # the same value (lifecycle) is no conflict; a field nobody held (budget) is applied
    stored = await record(store, "billing")
    assert stored.name == "Billing"
    assert stored.attributes == {"tier": 1, "lifecycle": "live", "budget": 12}
    assert stored.provenance["attributes.tier"].source == "itsm"
    assert stored.provenance["attributes.budget"].source == "ppm"
    assert answer.entities_updated == 1  # budget


async def test_the_same_value_is_no_conflict(store: GraphStore, engine: IngestEngine) -> None:
    await engine.ingest(batch("itsm", [svc("billing", "Billing", tier=1)]))
    answer = await engine.ingest(batch("ppm", [svc("billing", "Billing", tier=1)]))
    assert (answer.unapplied, answer.unapplied_total) == ((), 0)
    assert answer.entities_unchanged == 1
    # and the lower source does not take the field over
    assert (await record(store, "billing")).provenance["attributes.tier"].source == "itsm"


async def test_equal_priority_the_later_write_wins_and_nothing_is_unapplied(
    store: GraphStore, engine: IngestEngine
) -> None:
    first = await engine.ingest(batch("ppm", [svc("billing", tier=2)]))
    later = await engine.ingest(batch("wiki", [svc("billing", tier=3)]))
    assert first.unapplied_total == later.unapplied_total == 0
    assert later.entities_updated == 1
    stored = await record(store, "billing")
    assert stored.attributes["tier"] == 3 and stored.provenance["attributes.tier"].source == "wiki"
    # the earlier tool writes again: it is the later write now, and wins
    again = await engine.ingest(batch("ppm", [svc("billing", tier=2)]))
    assert again.unapplied_total == 0
    assert (await record(store, "billing")).attributes["tier"] == 2


async def test_a_lower_priority_source_writing_later_is_not_applied_a_higher_one_is(
    store: GraphStore, engine: IngestEngine
) -> None:
    # priority comes before time: the later write of the lower source loses
    await engine.ingest(batch("itsm", [svc("billing", tier=1)]))
    later = await engine.ingest(batch("ppm", [svc("billing", tier=2)]))
    assert [(w.field, w.sent, w.kept, w.holder) for w in later.unapplied] == [
        ("attributes.tier", 2, 1, "itsm")
    ]
    # a higher source overwriting a lower one's field is applied, and not listed
    await engine.ingest(batch("ppm", [svc("payments", tier=2)]))
    higher = await engine.ingest(batch("itsm", [svc("payments", tier=1)]))
    assert higher.unapplied_total == 0
    assert (await record(store, "payments")).attributes["tier"] == 1
    # the holder itself changes its field freely
    own = await engine.ingest(batch("itsm", [svc("billing", tier=4)]))
    assert own.unapplied_total == 0 and (await record(store, "billing")).attributes["tier"] == 4


async def test_a_refused_removal_is_listed_with_null_sent(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch("itsm", [svc("billing", tier=1)]))
    answer = await engine.ingest(batch("ppm", [svc("billing", tier=None, absent=None)]))
    assert [(w.field, w.sent, w.kept) for w in answer.unapplied] == [("attributes.tier", None, 1)]
    assert "may not remove it" in answer.unapplied[0].reason
    assert (await record(store, "billing")).attributes == {"tier": 1}


async def test_identifiers_and_relation_attributes_are_reconciled_and_listed(
    store: GraphStore, engine: IngestEngine
) -> None:
    ci = {
        "kind": CI,
        "key": "web-1",
        "identifiers": {"fqdn": "web-1.example.com"},
        "attributes": {"ciClass": "server"},
    }
    runs_on = {
        "type": "RUNS_ON",
        "from": {"kind": SVC, "key": "billing"},
        "to": {"kind": CI, "key": "web-1"},
        "attributes": {"redundancyGroup": "web"},
    }
    await engine.ingest(batch("itsm", [svc("billing"), ci], [runs_on]))
    moved = {**ci, "identifiers": {"fqdn": "WEB-1.other.example.com"}}
    regrouped = {**runs_on, "attributes": {"redundancyGroup": "web-eu"}}
    answer = await engine.ingest(batch("ppm", [moved], [regrouped]))
    assert [(w.item, w.section, w.index, w.label, w.field, w.sent, w.kept) for w in answer.unapplied] == [
        ("entity", "entities", 0, "ConfigurationItem/web-1", "identifiers.fqdn",
         "web-1.other.example.com", "web-1.example.com"),
        ("relation", "relations", 0, "RUNS_ON Service/billing -> ConfigurationItem/web-1",
         "attributes.redundancyGroup", "web-eu", "web"),
    ]  # fmt: skip
    assert (await record(store, "web-1", CI)).identifiers == {"fqdn": "web-1.example.com"}


async def test_a_dry_run_lists_them_too_and_writes_nothing(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch("itsm", [svc("billing", tier=1)]))
    before = await store.stats()
    answer = await engine.ingest(batch("ppm", [svc("billing", tier=2, note="x")], dry_run=True))
    assert answer.dry_run
    assert [(w.field, w.sent, w.kept) for w in answer.unapplied] == [("attributes.tier", 2, 1)]
    assert await store.stats() == before
    assert "note" not in (await record(store, "billing")).attributes


async def test_a_run_lists_each_batch_and_its_finish_overrules_nothing(
    store: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch("itsm", [svc("billing", tier=1), svc("payments", tier=1)]))
    run = await engine.start_run("ppm")
    first = await engine.ingest(batch("ppm", [svc("billing", tier=2)], runId=run.run_id))
    second = await engine.ingest(batch("ppm", [svc("payments", tier=3)], runId=run.run_id))
    finished = await engine.finish_run(run.run_id, complete=True)
    assert (finished.unapplied, finished.unapplied_total) == ((), 0)
    total = first + second + finished
    assert total.unapplied_total == 2
    assert [w.label for w in total.unapplied] == ["Service/billing", "Service/payments"]


@pytest.mark.parametrize("backend", ["embedded"])  # the engine's work; Neo4j: tests/api
async def test_a_hundred_thousand_overruled_writes_give_a_bounded_answer(
    store: GraphStore, engine: IngestEngine
) -> None:
    """A careless tool resends a whole load under a lower priority: the true total, a short list."""
    attributes = {f"a{n:02}": n for n in range(100)}
    await engine.ingest(batch("itsm", [svc(f"s{i:04}", **attributes) for i in range(1000)]))
    changed = {name: value + 1 for name, value in attributes.items()}
    started = time.perf_counter()
    answer = await engine.ingest(batch("ppm", [svc(f"s{i:04}", **changed) for i in range(1000)]))
    elapsed = time.perf_counter() - started
    assert answer.unapplied_total == 100_000
    assert len(answer.unapplied) == UNAPPLIED_LIMIT
    assert answer.unapplied[0].label == "Service/s0000"
    assert answer.unapplied[-1].label == f"Service/s{(UNAPPLIED_LIMIT - 1) // 100:04}"
    assert answer.entities_unchanged == 1000
    assert elapsed < 20, elapsed  # about 1 s; odd attributes' warnings are bounded too
    assert len(answer.warnings) == 100
    # summed over batches (a run, a stream) the list stays bounded and the total true
    doubled = answer + answer
    assert (len(doubled.unapplied), doubled.unapplied_total) == (UNAPPLIED_LIMIT, 200_000)


def test_summaries_add_unapplied_writes_in_order() -> None:
    def write(n: int) -> UnappliedWrite:
        return UnappliedWrite("entity", "entities", n, f"Service/s{n}", "name", "x", "y", "a",
                              1, "b", 0, "r")  # fmt: skip

    one = IngestSummary(unapplied=(write(0),), unapplied_total=1)
    two = IngestSummary(unapplied=(write(1), write(2)), unapplied_total=7)
    both = one + two
    assert [w.index for w in both.unapplied] == [0, 1, 2]
    assert both.unapplied_total == 8
