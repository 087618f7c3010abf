"""ServiceNow change requests as people know them (issue 18, item 7).

The change is keyed by its number, carries its sys_id as an identifier, and
links to what it modifies (``cmdb_ci``, the Affected CIs of ``task_ci``) and
who does it (``assignment_group``, ``assigned_to``); every reference that names
nothing in the graph is reported in ServiceNow's words. The real change
CHG0000001 (a ``sysparm_display_value=all`` export) and the real server and
group exports, through the real embedded store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from graphsvc.errors import InvalidInput, ParseError
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult
from graphsvc.ingest.runner import EngineSink, ImportReport, run_import
from graphsvc.model.batch import EntityItem, EntityRef, IngestBatch
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import Direction, EntityKind, RelationType, Status
from graphsvc.store.base import EntityQuery, GraphStore
from importers.servicenow import ServiceNowImporter

DATA = Path(__file__).parents[2] / "data" / "servicenow"
SERVERS = DATA / "table-api-cmdb_ci_server-response.json"
GROUPS = DATA / "table-api-sys_user_group-response.json"
CHANGE = DATA / "table-api-change_request-CHG0000001.json"
MIXED = DATA / "cmdb_ci-crafted-mixed-classes.json"
TASK_CI = DATA / "task_ci-crafted-CHG0000001.json"

CI, SERVICE, TEAM, CHANGE_KIND, PERSON = (
    EntityKind.CONFIGURATION_ITEM,
    EntityKind.SERVICE,
    EntityKind.TEAM,
    EntityKind.CHANGE,
    EntityKind.PERSON,
)
NUMBER = "CHG0000001"
CHG_SYS_ID = "a9e9c33dc61122760072455df62663d2"
SFA_SYS_ID = "a9c0c8d2c6112276018f7705562f9cb0"  # Sales © Force Automation: the change's cmdb_ci
ITIL_USER = "681b365ec0a80164000fb0b05854a0cd"  # the change's assigned_to
CAR_1 = "6cabe993c611222500bb025775ec8732"  # a server of the real server export
DB_SERVER_2 = "14a9e27bc61122750037b90c4d34da38"
DB_PROD_07 = "f00dcafe00000000000000000000c0d7"  # a CI in no file (task_ci row 2)
DATABASE_GROUP = "287ee6fea9fe198100ada7950d0b1b73"  # "Database" in the real group export
REFERENCES = (
    "cmdb_ci",
    "business_service",
    "service_offering",
    "assignment_group",
    "assigned_to",
    "requested_by",
    "parent",
    "opened_by",
    "closed_by",
    "company",
    "location",
    "sys_domain",
)
"""Reference fields of the sample change (for deriving raw and display-only exports)."""
BASE = "https://dev215226.service-now.com/api/now/table"


# ----------------------------------------------------------------------- helpers


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
    return f"{ref.kind.value}{{{pair[0]}={pair[1]}}}"


def relations(result: ImportResult) -> set[tuple[str, str, str]]:
    return {(r.type.value, end(r.from_), end(r.to)) for r in result.relations}


def sample() -> dict[str, Any]:
    """The real change export, as JSON (one record)."""
    document: dict[str, Any] = json.loads(CHANGE.read_text(encoding="utf-8"))
    return document


def write(folder: Path, name: str, document: object) -> Path:
    path = folder / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def with_fields(folder: Path, name: str, **fields: object) -> Path:
    """The sample change with ``fields`` replaced (``None``: removed)."""
    document = sample()
    record = document["result"][0]
    for field, value in fields.items():
        if value is None:
            record.pop(field, None)
        else:
            record[field] = value
    return write(folder, name, document)


def values_only(folder: Path) -> Path:
    """The sample as ``sysparm_display_value=false`` gives it: raw values, references with links."""
    document = sample()
    record: dict[str, Any] = {}
    for field, value in document["result"][0].items():
        raw = value["value"] if isinstance(value, dict) else value
        if field in REFERENCES and raw:
            record[field] = {"link": f"{BASE}/sys_user/{raw}", "value": raw}
        else:
            record[field] = raw
    return write(folder, "change_request.json", {"result": [record]})


def display_only(folder: Path) -> Path:
    """The sample as ``sysparm_display_value=true`` gives it: labels, references without value."""
    document = sample()
    record: dict[str, Any] = {}
    for field, value in document["result"][0].items():
        shown = value["display_value"] if isinstance(value, dict) else value
        if field in REFERENCES and value["value"]:
            record[field] = {"display_value": shown, "link": f"{BASE}/cmdb_ci/{value['value']}"}
        else:
            record[field] = shown if shown is not None else ""
    return write(folder, "change_request.json", {"result": [record]})


def as_importer(importer: object) -> Importer[object]:
    return cast("Importer[object]", importer)


async def run(
    engine: IngestEngine, *paths: Path, scope: str | None = "dev", **settings: str
) -> ImportReport:
    return await run_import(
        as_importer(ServiceNowImporter()),
        list(paths),
        EngineSink(engine),
        source="servicenow",
        scope=scope,
        settings=settings,
    )


async def record_of(store: GraphStore, kind: EntityKind, key: str) -> EntityRecord:
    (entity_id,) = await store.resolve([(kind, key)])
    assert entity_id is not None, key
    (record,) = await store.entities([entity_id])
    assert record is not None
    return record


async def outgoing(store: GraphStore, entity_id: int) -> set[tuple[str, str, str]]:
    """(type, kind of the other end, its servicenowSysId) of the entity's outgoing relations."""
    page = await store.relations(entity_id, Direction.OUT, first=50)
    ends = {r.id: r for r in await store.entities([r.to_id for r in page.items]) if r}
    return {
        (r.type.value, ends[r.to_id].kind.value, ends[r.to_id].identifiers["servicenowSysId"])
        for r in page.items
        if r.status is Status.ACTIVE
    }


# --------------------------------------------------------------------- transform


def test_the_sample_change_is_keyed_by_its_number() -> None:
    result = transform(CHANGE)
    (change,) = result.entities
    assert (change.kind, change.key) == (CHANGE_KIND, NUMBER)
    assert change.name == "Rollback Oracle ® Version"
    assert change.identifiers == {"servicenowSysId": CHG_SYS_ID}
    assert change.attributes == {
        "approval": "requested",
        "assignedTo": "ITIL User",
        "backoutPlan": "Current prod environment to be snapshotted with VmWare\nprior to change.",
        "category": "Software",
        "changePlan": "Backup dataset, image current system, reinstall previous\nrelease, test",
        "changeType": "normal",
        "configurationItem": "Sales © Force Automation",
        "description": (
            "Performance of the Siebel SFA software has been severely\n"
            "degraded since the upgrade performed this weekend.\n\n"
            "We moved to an unsupported Oracle DB version. Need to rollback the\n"
            "Oracle Instance to a supported version."
        ),
        "impact": "3 - Low",
        "number": NUMBER,
        # raw values are UTC; the display values (+2 h in September) are never used
        "plannedEnd": "2020-09-12T01:00:00+00:00",
        "plannedStart": "2020-09-11T23:00:00+00:00",
        "priority": "3 - Moderate",
        "requestedBy": "David Loo",
        "risk": "High",  # the declared label, not the code 2
        "shortDescription": "Rollback Oracle ® Version",
        "state": "new",  # state -5
        "testPlan": "Multi-User testing on Sunday night",
    }


def test_references_outside_the_run_go_by_sys_id_with_notes_in_servicenow_words() -> None:
    result = transform(CHANGE)
    assert relations(result) == {
        ("MODIFIES", f"Change/{NUMBER}", f"ConfigurationItem{{servicenowSysId={SFA_SYS_ID}}}"),
        ("ASSIGNED_TO", f"Change/{NUMBER}", f"Person{{servicenowSysId={ITIL_USER}}}"),
    }
    notes = {(n.field, n.end): n for n in result.references}
    assert set(notes) == {("cmdb_ci", "to"), ("assigned_to", "to")}
    cmdb_ci = notes[("cmdb_ci", "to")]
    assert result.relations[cmdb_ci.relation].type is RelationType.MODIFIES
    assert cmdb_ci.path == str(CHANGE)
    assert cmdb_ci.element == "/result/0/cmdb_ci"
    assert cmdb_ci.item == f"change {NUMBER}"
    assert cmdb_ci.value == f"'Sales © Force Automation' (sys_id {SFA_SYS_ID})"
    assert cmdb_ci.other_kinds == (SERVICE,)  # a cmdb_ci may be a service
    assert notes[("assigned_to", "to")].other_kinds == ()


def test_records_of_the_run_are_named_by_key_with_their_kind() -> None:
    result = transform(MIXED, CHANGE)
    assert ("MODIFIES", f"Change/{NUMBER}", f"Service/snow/{SFA_SYS_ID}") in relations(result)
    (note,) = [n for n in result.references if n.field == "cmdb_ci"]
    assert note.other_kinds == ()


def test_affected_cis_of_a_task_ci_export(tmp_path: Path) -> None:
    result = transform(CHANGE, TASK_CI)
    change = f"Change/{NUMBER}"
    assert relations(result) == {
        ("MODIFIES", change, f"ConfigurationItem{{servicenowSysId={SFA_SYS_ID}}}"),
        ("MODIFIES", change, f"ConfigurationItem{{servicenowSysId={CAR_1}}}"),
        ("MODIFIES", change, f"ConfigurationItem{{servicenowSysId={DB_SERVER_2}}}"),
        ("MODIFIES", change, f"ConfigurationItem{{servicenowSysId={DB_PROD_07}}}"),
        ("ASSIGNED_TO", change, f"Person{{servicenowSysId={ITIL_USER}}}"),
    }
    # the change's own cmdb_ci is also an affected CI: one relation, both fields noted
    sfa = [n for n in result.references if SFA_SYS_ID in n.value]
    assert {(n.field, n.element) for n in sfa} == {
        ("cmdb_ci", "/result/0/cmdb_ci"),
        ("ci_item", "/result/3/ci_item"),
    }
    assert len({n.relation for n in sfa}) == 1
    (db_prod,) = [n for n in result.references if DB_PROD_07 in n.value]
    assert db_prod.item == f"change {NUMBER} (affected CIs)"
    assert db_prod.value == f"'db-prod-07' (sys_id {DB_PROD_07})"
    # the incident's row is skipped, with one warning
    (skipped,) = [w for w in result.warnings if "task_ci" in w.message]
    assert skipped.element == "/result/4"
    assert "not change requests" in skipped.message

    # without the change in the run, the row names the change by its sys_id
    alone = transform(TASK_CI)
    assert {end(r.from_) for r in alone.relations} == {f"Change{{servicenowSysId={CHG_SYS_ID}}}"}
    task_notes = [n for n in alone.references if n.end == "from"]
    assert {n.value for n in task_notes} == {f"'{NUMBER}' (sys_id {CHG_SYS_ID})"}


def test_a_values_only_export_keeps_times_and_names_what_it_can(tmp_path: Path) -> None:
    path = values_only(tmp_path)
    (change,) = transform(path).entities
    assert change.key == NUMBER
    assert change.attributes["plannedStart"] == "2020-09-11T23:00:00+00:00"
    assert change.attributes["state"] == "new"
    assert change.attributes["risk"] == "High"  # from the code 2
    assert change.attributes["approval"] == "requested"
    assert change.attributes["requestedBy"] == "5137153cc611227c000bbd1bd8cd2007"  # no name
    # a CI of the same run lends its name
    both = transform(MIXED, path)
    assert entity(both, CHANGE_KIND, NUMBER).attributes["configurationItem"] == (
        "Sales Force Automation"
    )


def test_a_display_values_only_export_needs_the_time_zone(tmp_path: Path) -> None:
    path = display_only(tmp_path)
    with pytest.raises(ParseError) as info:
        transform(path)
    error = info.value
    assert (error.path, error.element) == (str(path), "/result/0/start_date")
    assert f"change {NUMBER}: start_date '2020-09-12 01:00:00'" in error.reason
    assert "sysparm_display_value=true" in error.reason
    assert "--set timeZone=" in error.reason
    # told the exporting user's zone, the times come out right (the same instants as raw)
    (change,) = transform(path, timeZone="Europe/Amsterdam").entities
    assert change.attributes["plannedStart"] == "2020-09-12T01:00:00+02:00"
    assert change.attributes["plannedEnd"] == "2020-09-12T03:00:00+02:00"
    assert change.attributes["state"] == "new"  # from the label
    assert change.attributes["risk"] == "High"
    assert change.attributes["configurationItem"] == "Sales © Force Automation"
    with pytest.raises(InvalidInput, match="Mars/Olympus"):
        transform(path, timeZone="Mars/Olympus")


@pytest.mark.parametrize(
    ("fields", "element", "reason"),
    [
        ({"number": None}, "/result/0/number", "has no number"),
        ({"number": {"display_value": "", "value": ""}}, "/result/0/number", "has no number"),
        ({"number": 1}, "/result/0/number", "not a string: expected text such as 'CHG0000001', "),
        (
            {"number": {"display_value": 1, "value": 1}},
            "/result/0/number/value",
            "got the number 1",
        ),
        ({"number": ["CHG0000001"]}, "/result/0/number", "got an array"),
        ({"cmdb_ci": "db-prod-07"}, "/result/0/cmdb_ci", "got the string 'db-prod-07'"),
        ({"assignment_group": 7}, "/result/0/assignment_group", "got the number 7"),
        (
            {"assigned_to": {"value": ["x"]}},
            "/result/0/assigned_to/value",
            "must be a string, got an array",
        ),
        ({"cmdb_ci": {"name": "db"}}, "/result/0/cmdb_ci", "got an object with keys name"),
    ],
)
def test_hostile_change_records_are_refused_naming_record_and_field(
    tmp_path: Path, fields: dict[str, object], element: str, reason: str
) -> None:
    path = with_fields(tmp_path, "change_request.json", **fields)
    with pytest.raises(ParseError) as info:
        ServiceNowImporter().parse(path, ImporterOptions())
    error = info.value
    assert (error.path, error.element) == (str(path), element)
    assert reason in error.reason
    assert f"the change_request record (sys_id {CHG_SYS_ID})" in error.reason
    assert str(path) in str(error)


def test_a_bare_sys_id_reference_is_accepted(tmp_path: Path) -> None:
    # what sysparm_exclude_reference_link=true gives
    path = with_fields(tmp_path, "change_request.json", cmdb_ci=CAR_1)
    result = transform(path)
    assert ("MODIFIES", f"Change/{NUMBER}", f"ConfigurationItem{{servicenowSysId={CAR_1}}}") in (
        relations(result)
    )


def test_task_ci_rows_need_task_and_ci_item(tmp_path: Path) -> None:
    rows = json.loads(TASK_CI.read_text(encoding="utf-8"))
    rows["result"][1]["ci_item"] = {"display_value": "", "value": ""}
    path = write(tmp_path, "task_ci.json", rows)
    with pytest.raises(ParseError) as info:
        ServiceNowImporter().parse(path, ImporterOptions())
    assert info.value.element == "/result/1/ci_item"
    assert "the task_ci record (sys_id f00dcafe00000000000000000000e102) has no ci_item" in (
        info.value.reason
    )


def test_one_number_for_two_changes_is_refused(tmp_path: Path) -> None:
    document = sample()
    other = json.loads(json.dumps(document["result"][0]))
    other["sys_id"] = {"display_value": "f" * 32, "value": "f" * 32}
    document["result"].append(other)
    path = write(tmp_path, "change_request.json", document)
    with pytest.raises(ParseError) as info:
        transform(path)
    assert info.value.element == "/result/1/number"
    assert f"change number '{NUMBER}' names two change_request records" in info.value.reason


# ------------------------------------------------------------------ through a store


async def test_the_sample_change_is_found_by_number_and_a_reimport_changes_nothing(
    engine: IngestEngine, store: GraphStore
) -> None:
    first = await run(engine, CHANGE)
    assert first.summary.entities_created == 1
    assert first.summary.relations_created == 0
    # nothing else is in the graph: both references are named, in ServiceNow's words
    messages = [u.describe() for u in first.unresolved]
    assert messages == [
        f"{CHANGE}: /result/0/assigned_to: change {NUMBER}: assigned_to 'ITIL User' "
        f"(sys_id {ITIL_USER}) is not in the graph (neither in this import nor in the store); "
        "the ASSIGNED_TO relation was not created",
        f"{CHANGE}: /result/0/cmdb_ci: change {NUMBER}: cmdb_ci 'Sales © Force Automation' "
        f"(sys_id {SFA_SYS_ID}) is not in the graph (no ConfigurationItem or Service in this "
        "import or in the store); the MODIFIES relation was not created",
    ]
    assert all(u.warning in first.warnings for u in first.unresolved)

    change = await record_of(store, CHANGE_KIND, NUMBER)
    assert change.key == NUMBER
    assert change.identifiers == {"servicenowSysId": CHG_SYS_ID}
    assert change.attributes["risk"] == "High"
    assert change.attributes["configurationItem"] == "Sales © Force Automation"
    assert change.attributes["backoutPlan"].startswith("Current prod environment")

    second = await run(engine, CHANGE)
    assert (second.summary.created, second.summary.updated) == (0, 0)
    assert second.summary.entities_unchanged == 1
    assert second.summary.marked_stale == 0
    assert len(second.unresolved) == 2
    assert (await record_of(store, CHANGE_KIND, NUMBER)).id == change.id


async def test_modifies_and_assigned_to_when_the_cis_and_group_exist(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    cmdb = await run(engine, SERVERS, GROUPS, MIXED, scope="cmdb")
    assert not cmdb.unresolved
    change_file = with_fields(
        tmp_path,
        "change_request.json",
        assignment_group={"display_value": "Database", "value": DATABASE_GROUP},
    )
    # changes go under a scope of their own: a complete run of changes alone in the
    # CMDB's scope would mark the CMDB stale
    report = await run(engine, change_file, TASK_CI, scope="changes")
    assert report.summary.marked_stale == 0
    assert report.summary.relations_created == 4
    change = await record_of(store, CHANGE_KIND, NUMBER)
    assert await outgoing(store, change.id) == {
        # cmdb_ci (and the Affected CIs row) name a business service: found as a Service
        ("MODIFIES", "Service", SFA_SYS_ID),
        ("MODIFIES", "ConfigurationItem", CAR_1),
        ("MODIFIES", "ConfigurationItem", DB_SERVER_2),
        ("ASSIGNED_TO", "Team", DATABASE_GROUP),
    }
    # what is still missing: the unknown CI and the user (users are not imported)
    assert sorted((u.reference.field if u.reference else "") for u in report.unresolved) == [
        "assigned_to",
        "ci_item",
    ]
    (missing_ci,) = [u for u in report.unresolved if u.reference and u.reference.field == "ci_item"]
    assert missing_ci.warning.element == "/result/2/ci_item"
    assert "change CHG0000001 (affected CIs): ci_item 'db-prod-07'" in missing_ci.describe()

    again = await run(engine, change_file, TASK_CI, scope="changes")
    assert (again.summary.created, again.summary.updated, again.summary.marked_stale) == (0, 0, 0)


async def test_a_store_holding_the_old_sys_id_key_keeps_one_change(
    engine: IngestEngine, store: GraphStore
) -> None:
    # what earlier versions of this importer wrote: key snow/<sys_id>, a MODIFIES by key
    await run(engine, MIXED, scope="cmdb")
    old_key = f"snow/{CHG_SYS_ID}"
    await engine.ingest(
        IngestBatch.model_validate(
            {
                "source": "servicenow",
                "scope": "dev",
                "complete": True,
                "entities": [
                    {
                        "kind": "Change",
                        "key": old_key,
                        "name": f"{NUMBER} Rollback Oracle ® Version",
                        "identifiers": {"servicenowSysId": CHG_SYS_ID},
                        "attributes": {"number": NUMBER, "risk": "High", "state": "new"},
                    }
                ],
                "relations": [
                    {
                        "type": "MODIFIES",
                        "from": {"kind": "Change", "key": old_key},
                        "to": {"kind": "Service", "key": f"snow/{SFA_SYS_ID}"},
                    }
                ],
            }
        )
    )
    before = await record_of(store, CHANGE_KIND, old_key)

    report = await run(engine, CHANGE)
    assert report.summary.entities_created == 0
    assert report.summary.marked_stale == 0
    assert report.summary.relations_created == 0  # the MODIFIES is the one already there
    ids = await store.resolve([(CHANGE_KIND, NUMBER), (CHANGE_KIND, old_key)])
    assert ids == [before.id, before.id]
    after = await record_of(store, CHANGE_KIND, NUMBER)
    assert after.key == old_key
    assert NUMBER in after.aliases
    assert after.name == "Rollback Oracle ® Version"
    assert await outgoing(store, after.id) == {("MODIFIES", "Service", SFA_SYS_ID)}

    again = await run(engine, CHANGE)
    assert (again.summary.created, again.summary.updated, again.summary.merged) == (0, 0, 0)


async def test_a_refused_import_leaves_the_store_as_it_was(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    await run(engine, MIXED, CHANGE)
    before = await record_of(store, CHANGE_KIND, NUMBER)
    hostile = with_fields(tmp_path, "change_request.json", cmdb_ci="db-prod-07", risk="1")
    with pytest.raises(ParseError) as info:
        await run(engine, MIXED, hostile)
    assert info.value.element == "/result/0/cmdb_ci"
    with pytest.raises(ParseError):
        await run(engine, MIXED, display_only(tmp_path))
    after = await record_of(store, CHANGE_KIND, NUMBER)
    assert after.attributes == before.attributes
    assert after.status is Status.ACTIVE
    assert await outgoing(store, after.id) == {("MODIFIES", "Service", SFA_SYS_ID)}
    service = await record_of(store, SERVICE, f"snow/{SFA_SYS_ID}")
    assert service.status is Status.ACTIVE


def test_the_cli_names_every_unresolved_reference(tmp_path: Path) -> None:
    env = {**os.environ, "GRAPHSVC_DATA": str(tmp_path / "g.db"), "COLUMNS": "250"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "graphsvc.cli.main", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )

    done = cli("import", "servicenow", str(CHANGE), str(TASK_CI), "--set", "timeZone=UTC")
    assert done.returncode == 0, done.stderr
    # an empty graph: every reference is named, the cmdb_ci and its Affected CIs row
    # (one relation) both, in file order
    assert "6 reference(s) could not be resolved; 5 relation(s) were not created:" in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("unresolved: ")]
    assert [line.split(": ")[1:3] for line in lines] == [
        [str(CHANGE), "/result/0/assigned_to"],
        [str(CHANGE), "/result/0/cmdb_ci"],
        [str(TASK_CI), "/result/0/ci_item"],
        [str(TASK_CI), "/result/1/ci_item"],
        [str(TASK_CI), "/result/2/ci_item"],
        [str(TASK_CI), "/result/3/ci_item"],
    ]
    assert lines[1] == (
        f"unresolved: {CHANGE}: /result/0/cmdb_ci: change {NUMBER}: cmdb_ci "
        f"'Sales © Force Automation' (sys_id {SFA_SYS_ID}) is not in the graph (no "
        "ConfigurationItem or Service in this import or in the store); the MODIFIES relation "
        "was not created"
    )
    # each reference once: not repeated among the warnings
    assert "exists neither" not in done.stderr
    assert not [w for w in done.stderr.splitlines() if w.startswith("warning:") and "sys_id" in w]
    assert "not created" in done.stdout
    # the old spelling of --set still works; -o no longer means it
    again = cli("import", "servicenow", str(CHANGE), "--option", "timeZone=UTC")
    assert again.returncode == 0, again.stderr
    refused = cli("import", "servicenow", str(CHANGE), "-o", "timeZone=UTC")
    assert refused.returncode == 2


async def test_change_exports_alone_take_a_scope_of_their_own(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    """A careless operator imports the CMDB, then a change file, both without --scope.

    An import is one complete run of its source and scope: in the CMDB's scope the
    change file would have made every CI stale. Change exports alone go to the
    ``changes`` scope unless the caller names one; mixed files stay in ``default``.
    """
    cmdb = await run(engine, SERVERS, GROUPS, MIXED, scope=None)
    assert cmdb.scope == "default"
    report = await run(engine, with_fields(tmp_path, "change_request.json"), TASK_CI, scope=None)
    assert report.scope == "changes"
    assert report.summary.marked_stale == 0
    server = await record_of(store, EntityKind.CONFIGURATION_ITEM, (await first_ci_key(store)))
    assert server.status is Status.ACTIVE
    named = await run(engine, with_fields(tmp_path, "change_request.json"), scope="cmdb-2")
    assert named.scope == "cmdb-2"  # the caller's scope wins


async def first_ci_key(store: GraphStore) -> str:
    page = await store.find_entities(EntityQuery(kind=EntityKind.CONFIGURATION_ITEM), first=1)
    return page.items[0].key
