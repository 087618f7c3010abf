"""ServiceNow tasks (issue 19 item 4): sc_task, change_task and pm_project_task as Tasks.

The change task CTASK0010005 is the record the servicenow.itsm collection
documents (a task of the real change CHG0000001); catalog and project tasks
are written in the Table API shape with the documented fields (see
``tests/data/servicenow/SOURCE.md``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest

from graphsvc.errors import ParseError
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult
from graphsvc.ingest.runner import EngineSink, ImportReport, batches_of, run_import
from graphsvc.model.batch import EntityItem, EntityRef
from graphsvc.model.validation import validate_batch
from graphsvc.model.vocabulary import Direction, EntityKind
from graphsvc.store.base import GraphStore
from importers.servicenow import ServiceNowImporter
from importers.servicenow.records import SnowField, SnowRecord, SnowTable
from importers.servicenow.tasks import duration_hours, task_status

DATA = Path(__file__).parents[2] / "data" / "servicenow"
CHANGE = DATA / "table-api-change_request-CHG0000001.json"
CTASK = DATA / "table-api-change_task-CTASK0010005.json"
SCTASK = DATA / "sc_task-crafted.json"
PROJECT = DATA / "pm_project-crafted.json"
PRJTASK = DATA / "pm_project_task-crafted.json"
SERVERS = DATA / "table-api-cmdb_ci_server-response.json"
GROUPS = DATA / "table-api-sys_user_group-response.json"

TASK, PROJ = EntityKind.TASK, EntityKind.PROJECT
CAR_1 = "6cabe993c611222500bb025775ec8732"
DATABASE_GROUP = "287ee6fea9fe198100ada7950d0b1b73"
MISSING_CI = "f00dcafe00000000000000000000c0d7"


def transform(*paths: Path, **settings: str) -> ImportResult:
    importer = ServiceNowImporter()
    options = ImporterOptions(settings=settings)
    return importer.transform([(p, importer.parse(p, options)) for p in paths], options)


def entity(result: ImportResult, kind: EntityKind, key: str) -> EntityItem:
    matches = [e for e in result.entities if e.kind is kind and e.key == key]
    assert len(matches) == 1, (kind, key)
    return matches[0]


def end(ref: EntityRef) -> str:
    if ref.key is not None:
        return f"{ref.kind.value}/{ref.key}"
    (pair,) = (ref.identifiers or {}).items()
    return f"{ref.kind.value}{{{pair[1]}}}"


def relations(result: ImportResult) -> set[tuple[str, str, str]]:
    return {(r.type.value, end(r.from_), end(r.to)) for r in result.relations}


# --------------------------------------------------------------------- transform


def test_the_documented_change_task_is_a_task_the_change_implements() -> None:
    result = transform(CHANGE, CTASK)
    task = entity(result, TASK, "CTASK0010005")
    assert task.name == "Preliminary System Testing"
    assert task.identifiers == {"servicenowSysId": "a9f2e5bdc61122760052c1250f7ac503"}
    assert task.attributes == {
        "assignedTo": "f298d2d2c611227b0106c6be7f154bc8",  # no names in this export
        "due": "2020-09-05T22:22:39+00:00",  # raw Table API times are UTC
        "number": "CTASK0010005",
        "origin": "itsm",
        "priority": "3",
        "shortDescription": "Preliminary System Testing",
        "status": "open",
        "table": "change_task",
    }
    assert {t for t in relations(result) if "CTASK0010005" in t[1] + t[2]} == {
        ("IMPLEMENTS", "Change/CHG0000001", "Task/CTASK0010005"),
        ("ASSIGNED_TO", "Task/CTASK0010005", "Person{f298d2d2c611227b0106c6be7f154bc8}"),
    }
    assert result.scope_hint == "changes"  # work exports alone: their own scope


def test_catalog_tasks_modify_cis_and_are_assigned() -> None:
    result = transform(SCTASK)
    first = entity(result, TASK, "SCTASK0010001")
    assert first.attributes["status"] == "in_progress"
    assert first.attributes["plannedStart"] == "2024-05-08T08:00:00+00:00"  # expected_start
    assert first.attributes["externalUrl"] == (
        "https://dev215226.service-now.com/sc_task.do?sys_id=3c1f9a2e1b7d4e10a5c8e6f4d2b09a11"
    )
    assert entity(result, TASK, "SCTASK0010002").attributes["status"] == "open"  # -5 Pending
    assert relations(result) == {
        ("MODIFIES", "Task/SCTASK0010001", f"ConfigurationItem{{{CAR_1}}}"),
        ("ASSIGNED_TO", "Task/SCTASK0010001", f"Team{{{DATABASE_GROUP}}}"),
        ("ASSIGNED_TO", "Task/SCTASK0010001", "Person{681b365ec0a80164000fb0b05854a0cd}"),
        ("MODIFIES", "Task/SCTASK0010002", f"ConfigurationItem{{{MISSING_CI}}}"),
        ("ASSIGNED_TO", "Task/SCTASK0010002", f"Team{{{DATABASE_GROUP}}}"),
    }
    # a cmdb_ci outside the run may be a service: the runner tries that too
    (note,) = [n for n in result.references if n.field == "cmdb_ci" and MISSING_CI in n.value]
    assert note.item == "sc_task SCTASK0010002"
    assert note.other_kinds == (EntityKind.SERVICE,)


def test_project_tasks_are_ppm_work_part_of_their_project() -> None:
    result = transform(PROJECT, PRJTASK)
    project = entity(result, PROJ, "PRJ0010001")
    assert project.attributes["status"] == "Work in Progress"
    migrate = entity(result, TASK, "PRJTASK0010001")
    assert migrate.attributes["origin"] == "ppm"
    assert migrate.attributes["effortHours"] == 52  # effort 1970-01-03 04:00:00
    assert migrate.attributes["due"] == "2024-06-07T15:00:00+00:00"  # end_date, no due_date
    assert migrate.attributes["plannedStart"] == "2024-06-03T07:00:00+00:00"
    assert entity(result, TASK, "PRJTASK0010002").attributes["effortHours"] == 16
    assert {t for t in relations(result) if t[0] == "PART_OF"} == {
        ("PART_OF", "Task/PRJTASK0010001", "Project/PRJ0010001"),
        ("PART_OF", "Task/PRJTASK0010002", "Project/PRJ0010001"),
    }


def test_a_project_outside_the_run_is_named_by_sys_id() -> None:
    result = transform(PRJTASK)
    assert ("PART_OF", "Task/PRJTASK0010002", "Project{8a4dde73c611228401e0d2f5b6b0c1a2}") in (
        relations(result)
    )


def test_the_number_prefix_tells_the_table(tmp_path: Path) -> None:
    document = json.loads(CTASK.read_text())
    del document["result"][0]["sys_class_name"]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document))
    assert entity(transform(path), TASK, "CTASK0010005").attributes["table"] == "change_task"


def record(state: str, display: str | None = None, on_hold: str = "") -> SnowRecord:
    fields = {"state": SnowField(state, display), "on_hold": SnowField(on_hold)}
    return SnowRecord(SnowTable.TASK, "change_task", "/result/0", fields)


@pytest.mark.parametrize(
    ("state", "display", "on_hold", "expected"),
    [
        ("-5", None, "", "open"),
        ("1", "Open", "", "open"),
        ("2", None, "", "in_progress"),
        ("2", None, "true", "blocked"),
        ("3", "Closed Complete", "", "done"),
        ("3", None, "true", "done"),  # closed: on hold no longer matters
        ("4", "Closed Incomplete", "", "cancelled"),
        ("7", None, "", "cancelled"),
        ("", "Work in Progress", "", "in_progress"),  # a display-values-only export
        ("42", None, "", None),
    ],
)
def test_task_states(state: str, display: str | None, on_hold: str, expected: str) -> None:
    assert task_status(record(state, display, on_hold)) == expected


@pytest.mark.parametrize(
    ("raw", "hours"),
    [
        ("1970-01-01 04:00:00", 4),
        ("1970-01-03 04:00:00", 52),
        ("1970-01-01 00:30:00", 0.5),
        ("2 Days 4 Hours", 52),
        ("30 Minutes", 0.5),
        ("7.5", 7.5),
        ("soon", None),
        ("1969-12-31 23:00:00", None),
    ],
)
def test_durations(raw: str, hours: float | None) -> None:
    assert duration_hours(raw) == hours


def test_a_task_without_a_number_is_refused(tmp_path: Path) -> None:
    document = json.loads(SCTASK.read_text())
    document["result"][1]["number"] = ""
    path = tmp_path / "sc_task.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ParseError) as info:
        transform(path)
    assert (info.value.path, info.value.element) == (str(path), "/result/1/number")
    assert "no number" in info.value.reason
    assert "SCTASK" in info.value.reason


def test_a_task_reference_that_names_nothing_is_refused(tmp_path: Path) -> None:
    document = json.loads(PRJTASK.read_text())
    document["result"][0]["top_task"] = "Database consolidation"
    path = tmp_path / "pm_project_task.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ParseError) as info:
        transform(path)
    assert info.value.element == "/result/0/top_task"


def test_every_batch_is_valid() -> None:
    result = transform(CHANGE, CTASK, SCTASK, PROJECT, PRJTASK)
    for batch in batches_of(result, source="servicenow", scope="work", run_id=None, size=3):
        assert validate_batch(batch) == []
    assert transform(CHANGE, CTASK, SCTASK, PROJECT, PRJTASK) == result


# ------------------------------------------------------------------ through a store


async def run(engine: IngestEngine, *paths: Path, scope: str) -> ImportReport:
    importer = cast("Importer[object]", ServiceNowImporter())
    return await run_import(
        importer, list(paths), EngineSink(engine), source="servicenow", scope=scope
    )


async def test_tasks_ingest_and_unresolved_cis_are_reported(
    engine: IngestEngine, store: GraphStore
) -> None:
    cmdb = await run(engine, SERVERS, GROUPS, scope="cmdb")
    assert not cmdb.unresolved
    report = await run(engine, CHANGE, CTASK, SCTASK, PROJECT, PRJTASK, scope="work")
    assert report.summary.marked_stale == 0
    shown = sorted(u.describe() for u in report.unresolved)
    assert (
        f"{SCTASK}: /result/1/cmdb_ci: sc_task SCTASK0010002: cmdb_ci sys_id {MISSING_CI} is "
        "not in the graph (no ConfigurationItem or Service in this import or in the store); the "
        "MODIFIES relation was not created"
    ) in shown
    # users are not imported: every assigned_to is unresolved; so is the change's cmdb_ci
    assert sorted(u.reference.field for u in report.unresolved if u.reference) == [
        "assigned_to",
        "assigned_to",
        "assigned_to",
        "cmdb_ci",
        "cmdb_ci",
    ]
    (task_id,) = await store.resolve([(TASK, "SCTASK0010001")])
    assert task_id is not None
    page = await store.relations(task_id, Direction.OUT, first=10)
    ends = {r.id: r for r in await store.entities([r.to_id for r in page.items]) if r}
    assert {(r.type.value, ends[r.to_id].kind.value) for r in page.items} == {
        ("MODIFIES", "ConfigurationItem"),
        ("ASSIGNED_TO", "Team"),
    }
    (ctask_id,) = await store.resolve([(TASK, "CTASK0010005")])
    assert ctask_id is not None
    incoming = await store.relations(ctask_id, Direction.IN, first=10)
    assert [r.type.value for r in incoming.items] == ["IMPLEMENTS"]

    again = await run(engine, CHANGE, CTASK, SCTASK, PROJECT, PRJTASK, scope="work")
    assert (again.summary.created, again.summary.updated, again.summary.marked_stale) == (0, 0, 0)
