"""A PPM tool's task export through the CSV importer (issue 19 item 4).

An MS Project task table saved as CSV (``tests/data/csv_table/SOURCE.md``):
the mapping reads its dates (``date`` with a strptime format), its work
(``hours``), its Status values (``values``), and its predecessors and
resources (``targetPattern`` drops the dependency type, lag and allocation).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from graphsvc.errors import ParseError
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult
from graphsvc.ingest.runner import EngineSink, ImportReport, batches_of, run_import
from graphsvc.model.validation import validate_batch
from graphsvc.model.vocabulary import Direction, EntityKind
from graphsvc.store.base import GraphStore
from importers.csv_table import CsvImporter
from importers.csv_table.mapping import convert

DATA = Path(__file__).parents[2] / "data" / "csv_table"
TASKS = DATA / "msproject-ehr-migration.csv"
ORG = DATA / "org.csv"
TASK = EntityKind.TASK
P = "msp/ehr-migration/"


def transform(*paths: Path, **settings: str) -> ImportResult:
    importer = CsvImporter()
    options = ImporterOptions(settings=settings)
    return importer.transform([(p, importer.parse(p, options)) for p in paths], options)


def triples(result: ImportResult, type_: str) -> set[tuple[str, str]]:
    return {(str(r.from_.key), str(r.to.key)) for r in result.relations if r.type.value == type_}


def test_an_ms_project_export_maps_to_tasks() -> None:
    result = transform(TASKS)
    tasks = {e.key: e for e in result.entities if e.kind is TASK}
    assert sorted(tasks) == [f"{P}{n}" for n in (2, 3, 4, 5, 6)]
    assert tasks[f"{P}4"].name == "Provision database cluster"
    assert tasks[f"{P}4"].attributes == {
        "due": "2024-06-06T17:00:00+00:00",
        "effortHours": 36,
        "origin": "ppm",
        "plannedStart": "2024-06-04T08:00:00+00:00",
        "status": "in_progress",  # Late
    }
    assert tasks[f"{P}2"].attributes["status"] == "done"
    assert tasks[f"{P}5"].attributes["effortHours"] == 16  # "2d": two 8-hour days
    assert tasks[f"{P}6"].attributes["effortHours"] == 40
    assert triples(result, "REQUIRES") == {
        (f"{P}3", f"{P}2"),
        (f"{P}4", f"{P}2"),
        (f"{P}5", f"{P}3"),
        (f"{P}5", f"{P}4"),  # 4FS+1 day
        (f"{P}6", f"{P}5"),  # 5SS
    }
    assert triples(result, "ASSIGNED_TO") == {
        (f"{P}2", "team-it"),
        (f"{P}3", "team-it"),
        (f"{P}4", "team-dba"),
        (f"{P}4", "team-it"),  # team-it[50%]
        (f"{P}5", "team-dba"),
    }
    assert triples(result, "PART_OF") == {(f"{P}{n}", "msp/EHR migration") for n in (2, 3, 4, 5, 6)}
    for batch in batches_of(result, source="msp", scope="ehr", run_id=None, size=4):
        assert validate_batch(batch) == []


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("16", 16),
        ("16h", 16),
        ("36 hrs", 36),
        ("2d", 16),
        ("2 days", 16),
        ("1 wk", 40),
        ("30 mins", 0.5),
        ("3 ehrs", 3),
        ("4h?", 4),
        ("1,200 hrs", 1200),
    ],
)
def test_hours(text: str, hours: float) -> None:
    assert convert(text, "hours") == hours


@pytest.mark.parametrize(
    ("text", "form", "expected"),
    [
        ("2024-06-03", None, "2024-06-03T00:00:00+00:00"),
        ("2024-06-03T08:00:00", None, "2024-06-03T08:00:00+00:00"),
        ("2024-06-03T08:00:00+02:00", None, "2024-06-03T08:00:00+02:00"),
        ("06/03/24", "%m/%d/%y", "2024-06-03T00:00:00+00:00"),  # Smartsheet
    ],
)
def test_dates(text: str, form: str | None, expected: str) -> None:
    assert convert(text, "date", form) == expected


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_cells_name_the_line_and_column(tmp_path: Path) -> None:
    mapping = (TASKS.parent / (TASKS.name + ".mapping.yaml")).read_text()
    lines = TASKS.read_text().splitlines()
    for bad, column, reason in (
        (lines[1].replace("8 hrs", "eight"), "Work", "is not a number of hours"),
        (lines[1].replace("Mon 6/3/24 8:00 AM", "3 June"), "Start", "is not a date in the format"),
        (lines[1].replace(",,team-it", ",FS2,team-it"), "Predecessors", "targetPattern"),
    ):
        path = write(tmp_path, "tasks.csv", "\n".join([lines[0], bad]) + "\n")
        write(tmp_path, "tasks.csv.mapping.yaml", mapping)
        with pytest.raises(ParseError) as info:
            transform(path)
        assert info.value.element == f"line 2, column {column!r}", bad
        assert reason in info.value.reason


def test_mapping_errors_for_the_new_options(tmp_path: Path) -> None:
    table = write(tmp_path, "t.csv", "ID,Work\n1,8h\n")
    for mapping, where in (
        (
            "kind: Task\nkey: ID\nattributes:\n  effortHours: {column: Work, type: string}\n",
            "attributes.effortHours.type",
        ),
        (
            "kind: Task\nkey: ID\nattributes:\n  effortHours: {column: Work, format: '%d'}\n",
            "attributes.effortHours.format",
        ),
        (
            "kind: Task\nkey: ID\nrelations:\n  - {column: Work, type: REQUIRES, targetKind: Task,"
            " targetPattern: '(['}\n",
            "relations[0].targetPattern",
        ),
    ):
        map_path = write(tmp_path, "m.yaml", mapping)
        with pytest.raises(ParseError) as info:
            transform(table, mapping=str(map_path))
        assert (info.value.path, info.value.element) == (str(map_path), where)


# -------------------------------------------------------------------- integration


async def run(engine: IngestEngine, *paths: Path, scope: str, **settings: str) -> ImportReport:
    importer = cast("Importer[object]", CsvImporter())
    return await run_import(
        importer, list(paths), EngineSink(engine), source="msp", scope=scope, settings=settings
    )


async def test_the_tasks_ingest_with_their_teams_and_project(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    projects = write(tmp_path, "projects.csv", "Project,Start\nEHR migration,2024-06-17\n")
    write(
        tmp_path,
        "projects.csv.mapping.yaml",
        "kind: Project\nkey: Project\nkeyPrefix: msp/\nname: Project\n"
        "attributes:\n  plannedStart: {column: Start, type: date}\n",
    )
    await run(engine, ORG, projects, scope="org")
    report = await run(engine, TASKS, scope="ehr")
    assert not report.unresolved
    assert report.summary.entities_created == 5
    assert report.summary.relations_created == 5 + 5 + 5  # REQUIRES, ASSIGNED_TO, PART_OF
    (task5,) = await store.resolve([(TASK, f"{P}5")])
    assert task5 is not None
    page = await store.relations(task5, Direction.OUT, first=10)
    ends = {r.id: r for r in await store.entities([r.to_id for r in page.items]) if r}
    assert {(r.type.value, ends[r.to_id].key) for r in page.items} == {
        ("REQUIRES", f"{P}3"),
        ("REQUIRES", f"{P}4"),
        ("ASSIGNED_TO", "team-dba"),
        ("PART_OF", "msp/EHR migration"),
    }
    again = await run(engine, TASKS, scope="ehr")
    assert (again.summary.created, again.summary.updated, again.summary.marked_stale) == (0, 0, 0)
