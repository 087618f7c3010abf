"""``run_import`` around any importer: dangling relations, validation, timings, failed runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from graphsvc.errors import BatchRejected, StoreUnavailable
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult
from graphsvc.ingest.results import IngestSummary
from graphsvc.ingest.runner import EngineSink, drop_dangling, resolve_refs, run_import
from graphsvc.model.batch import EntityItem, EntityRef, IngestBatch, RelationItem
from graphsvc.model.records import RunState
from graphsvc.model.vocabulary import EntityKind, RelationType
from graphsvc.store.base import GraphStore

CI = EntityKind.CONFIGURATION_ITEM


def ci(key: str, **identifiers: str) -> EntityItem:
    return EntityItem(kind=CI, key=key, identifiers=identifiers, attributes={"ciClass": "server"})


def depends(from_: EntityRef, to: EntityRef) -> RelationItem:
    return RelationItem.model_validate({"type": RelationType.DEPENDS_ON, "from": from_, "to": to})


def key(k: str) -> EntityRef:
    return EntityRef(kind=CI, key=k)


class Fixed(Importer[None]):
    """An importer whose result is given (the file is not read)."""

    name: ClassVar[str] = "fixed"
    default_source: ClassVar[str] = "fixed"
    description: ClassVar[str] = "a given result"

    def __init__(self, result: ImportResult) -> None:
        self.result = result

    def parse(self, path: Path, options: ImporterOptions) -> None:
        del path, options

    def transform(
        self, parsed: Sequence[tuple[Path, None]], options: ImporterOptions
    ) -> ImportResult:
        del parsed, options
        return self.result


async def test_dangling_relations_are_dropped_and_the_rest_is_written(
    engine: IngestEngine, store: GraphStore
) -> None:
    await engine.ingest(IngestBatch(source="other", entities=[ci("db", fqdn="DB.example.com.")]))
    result = ImportResult(
        entities=(ci("app"), ci("web", ipAddress="10.0.0.1")),
        relations=(
            depends(key("app"), EntityRef(kind=CI, identifiers={"fqdn": "db.example.com"})),
            depends(key("app"), key("nowhere")),
            depends(key("web"), key("app")),
            depends(key("app"), EntityRef(kind=CI, identifiers={"ipAddress": "10.0.0.1"})),
            depends(key("web"), EntityRef(kind=CI, identifiers={"fqdn": "gone.example.com"})),
        ),
    )
    kept, warnings = await drop_dangling(result, EngineSink(engine))
    assert [r.label() for r in kept] == [
        "DEPENDS_ON ConfigurationItem/app -> ConfigurationItem{fqdn=db.example.com}",
        "DEPENDS_ON ConfigurationItem/web -> ConfigurationItem/app",
        "DEPENDS_ON ConfigurationItem/app -> ConfigurationItem{ipAddress=10.0.0.1}",
    ]
    assert [w.element for w in warnings] == ["relation 1 of the import", "relation 4 of the import"]
    assert "ConfigurationItem/nowhere exists neither in this import nor in the store" in (
        warnings[0].message
    )

    report = await run_import(Fixed(result), [Path("x")], EngineSink(engine))
    assert (report.summary.entities_created, report.summary.relations_created) == (2, 3)
    assert len(report.warnings) == 2
    t = report.timings
    assert min(t.parse_s, t.transform_s, t.check_s, t.write_s) >= 0 and t.write_s > 0


async def test_resolve_refs_finds_keys_aliases_and_identifiers(
    engine: IngestEngine, store: GraphStore
) -> None:
    await engine.ingest(IngestBatch(source="a", entities=[ci("one", serial="S1"), ci("two")]))
    await engine.ingest(IngestBatch(source="b", entities=[ci("uno", serial="S1")]))  # an alias
    ids = await resolve_refs(
        store,
        [
            key("one"),
            key("uno"),
            EntityRef(kind=CI, identifiers={"serial": "S1"}),
            EntityRef(kind=CI, identifiers={"serial": "nope", "fqdn": "x.example.com"}),
            EntityRef(kind=EntityKind.SERVICE, key="one"),
            key("two"),
        ],
    )
    assert ids[0] is not None and ids[0] == ids[1] == ids[2]
    assert ids[3] is None and ids[4] is None and ids[5] not in (None, ids[0])


async def test_invalid_items_are_named_by_their_place_in_the_import(
    engine: IngestEngine, store: GraphStore
) -> None:
    entities = tuple(ci(f"e{i}") for i in range(5))
    owns = RelationItem.model_validate(
        {"type": RelationType.OWNS, "from": key("e1"), "to": key("e2")}
    )
    relations = (*(depends(key("e0"), key(f"e{i}")) for i in range(1, 5)), owns)
    with pytest.raises(BatchRejected) as info:
        await run_import(
            Fixed(ImportResult(entities, relations)),
            [Path("x")],
            EngineSink(engine),
            batch_size=2,
        )
    (error,) = info.value.errors
    # entities fill batches 1-3, relations 4-6: the sixth relation is relations[4]
    assert (error.section, error.index) == ("relations", 4)
    assert (await store.stats()).entities == 0


class Failing(EngineSink):
    """The real engine, whose second batch fails as an unreachable service would."""

    def __init__(self, engine: IngestEngine) -> None:
        super().__init__(engine)
        self.sent = 0
        self.finished: list[bool] = []

    async def send(self, batch: IngestBatch) -> IngestSummary:
        self.sent += 1
        if self.sent == 2:
            msg = "connection lost"
            raise StoreUnavailable(msg)
        return await super().send(batch)

    async def finish_run(self, run_id: str, *, complete: bool) -> IngestSummary:
        self.finished.append(complete)
        return await super().finish_run(run_id, complete=complete)


async def test_a_failure_half_way_finishes_the_run_incomplete(
    engine: IngestEngine, store: GraphStore
) -> None:
    sink = Failing(engine)
    with pytest.raises(StoreUnavailable):
        await run_import(
            Fixed(ImportResult(tuple(ci(f"e{i}") for i in range(4)))),
            [Path("x")],
            sink,
            batch_size=2,
        )
    assert sink.finished == [False]
    (run,) = await store.runs(source="fixed", first=5)
    assert run.state is RunState.INCOMPLETE
