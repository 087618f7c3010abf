"""The Jira importer against real Jira REST responses and a change search result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest

from graphsvc.errors import ParseError
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult
from graphsvc.ingest.runner import EngineSink, ImportReport, batches_of, run_import
from graphsvc.model.batch import EntityItem
from graphsvc.model.records import EntityRecord
from graphsvc.model.validation import validate_batch
from graphsvc.model.vocabulary import Direction, EntityKind, Status
from graphsvc.store.base import GraphStore
from importers.jira import JiraImporter
from importers.jira.records import JiraFile

DATA = Path(__file__).parents[2] / "data" / "jira"
PROJECT = DATA / "jira-ruby-project-SAMPLEPROJECT.json"
ABDERA = DATA / "go-jira-project-ABDERA.json"
SEARCH = DATA / "jira-ruby-project-SAMPLEPROJECT-issues-search.json"
ISSUE = DATA / "jira-ruby-issue-10002.json"
SPRINT = DATA / "go-jira-issues_in_sprint.json"
LINK_TYPES = DATA / "go-jira-all_issuelinktypes.json"
CHANGES = DATA / "crafted-OPS-changes-search.json"
ALL = (PROJECT, ABDERA, SEARCH, ISSUE, SPRINT, LINK_TYPES, CHANGES)

PROJ, CHG, TASK, PERSON = (
    EntityKind.PROJECT,
    EntityKind.CHANGE,
    EntityKind.TASK,
    EntityKind.PERSON,
)


def parse(path: Path, **settings: str) -> JiraFile:
    return JiraImporter().parse(path, ImporterOptions(settings=settings))


def transform(*paths: Path, **settings: str) -> ImportResult:
    importer = JiraImporter()
    options = ImporterOptions(settings=settings)
    return importer.transform([(p, importer.parse(p, options)) for p in paths], options)


def entity(result: ImportResult, kind: EntityKind, key: str) -> EntityItem:
    matches = [e for e in result.entities if e.kind is kind and e.key == key]
    assert len(matches) == 1, (kind, key)
    return matches[0]


def triples(result: ImportResult) -> set[tuple[str, str, str]]:
    return {(r.type.value, str(r.from_.key), str(r.to.key)) for r in result.relations}


# --------------------------------------------------------------------- transform


def test_shapes_are_told_apart() -> None:
    shapes = {p.name: parse(p).shape for p in ALL}
    assert shapes == {
        PROJECT.name: "project",
        ABDERA.name: "project",
        SEARCH.name: "search",
        ISSUE.name: "issue",
        SPRINT.name: "search",
        LINK_TYPES.name: "linkTypes",
        CHANGES.name: "search",
    }


def test_projects() -> None:
    result = transform(PROJECT, ABDERA)
    abdera = entity(result, PROJ, "jira/ABDERA")
    assert abdera.name == "Abdera"
    assert abdera.identifiers == {"jiraKey": "ABDERA"}
    assert abdera.attributes == {
        "description": "The Abdera project is an implementation of the Atom Syndication Format "
        "(RFC4287) and the Atom Publishing Protocol specifications published by the IETF "
        "Atompub working group.",
        "jiraId": "12310505",
        "lead": "rooneg",
        "sponsor": "Garrett Rooney",
        "url": "http://abdera.apache.org",
    }
    sample = entity(result, PROJ, "jira/SAMPLEPROJECT")
    assert sample.name == "Sample Project for Developing RoR RESTful API"
    assert sample.attributes == {"jiraId": "10001", "lead": "admin", "sponsor": "admin"}
    assert result.relations == ()
    assert result.warnings == ()


def test_non_change_issues_become_tasks_of_their_project() -> None:
    result = transform(PROJECT, SEARCH, ISSUE)
    tasks = [e for e in result.entities if e.kind is TASK]
    assert len(tasks) == 11  # SAMPLEPROJECT-1 is in the search and the issue file: one task
    one = entity(result, TASK, "jira/SAMPLEPROJECT-1")
    assert one.attributes == {
        "due": "2011-12-14T00:00:00+00:00",  # duedate "2011-12-14": start of the day, UTC
        "externalUrl": "http://localhost:2990/jira/browse/SAMPLEPROJECT-1",
        "issueType": "Task",
        "jiraStatus": "Open",
        "origin": "ppm",
        "priority": "Major",
        "status": "open",  # status "Open", no statusCategory in this old Jira
    }
    admin = entity(result, PERSON, "admin@example.com")
    assert admin.identifiers == {"email": "admin@example.com"}
    assert admin.attributes == {"email": "admin@example.com"}
    assert ("PART_OF", "jira/SAMPLEPROJECT-1", "jira/SAMPLEPROJECT") in triples(result)
    assert ("ASSIGNED_TO", "jira/SAMPLEPROJECT-1", "admin@example.com") in triples(result)
    assert len(result.relations) == 22  # PART_OF and ASSIGNED_TO for each of the 11
    assert result.warnings == ()


def test_real_issues_become_changes_when_their_type_is_configured() -> None:
    result = transform(PROJECT, SEARCH, changeTypes="Task")
    changes = [e for e in result.entities if e.kind is CHG]
    assert len(changes) == 11
    one = entity(result, CHG, "jira/SAMPLEPROJECT-1")
    assert one.name == "SAMPLEPROJECT-1 MOOOOOOARRR NINJAAAA!"
    assert one.identifiers == {"jiraKey": "SAMPLEPROJECT-1"}
    assert one.attributes == {
        "changeType": "normal",
        "issueType": "Task",
        "jiraStatus": "Open",
        "priority": "Major",
        "state": "new",  # status "Open", no statusCategory in this old Jira
    }
    assert ("IMPLEMENTS", "jira/SAMPLEPROJECT-1", "jira/SAMPLEPROJECT") in triples(result)
    assert len(result.relations) == 11


def test_sprint_page_is_flagged_as_incomplete_and_its_project_is_created() -> None:
    result = transform(SPRINT, changeTypes="Task")
    ar86 = entity(result, CHG, "jira/AR-86")
    assert ar86.attributes["state"] == "new"  # status "Ready", category "new"
    team = entity(result, PROJ, "jira/AR")
    assert team.name == "Team Argon"  # from fields.project, no project file in the run
    # the Agile epic field names AR-37, an epic outside the run: created by its key
    assert triples(result) == {
        ("IMPLEMENTS", "jira/AR-86", "jira/AR"),
        ("IMPLEMENTS", "jira/AR-86", "jira/AR-37"),
    }
    assert entity(result, PROJ, "jira/AR-37").identifiers == {"jiraKey": "AR-37"}
    (warning,) = result.warnings
    assert "holds 1 of its 10 issues" in warning.message


def test_change_issues_states_types_windows_and_links() -> None:
    result = transform(CHANGES)
    ops1 = entity(result, CHG, "jira/OPS-1")
    assert ops1.name == "OPS-1 Upgrade PostgreSQL on db01"
    assert ops1.attributes == {
        "changeType": "emergency",  # Change type field, found through names
        "issueType": "Change",
        "jiraStatus": "Scheduled",
        "plannedEnd": "2024-05-02T02:00:00+02:00",
        "plannedStart": "2024-05-01T22:00:00+02:00",
        "priority": "Major",
        "risk": "High",
        "state": "scheduled",
    }
    ops2 = entity(result, CHG, "jira/OPS-2")
    assert ops2.attributes["state"] == "closed"
    assert ops2.attributes["changeType"] == "normal"
    ops3 = entity(result, CHG, "jira/OPS-3")
    assert ops3.attributes["state"] == "cancelled"  # Declined, resolved as Won't Do
    assert ops3.attributes["changeType"] == "standard"
    assert "plannedStart" not in ops3.attributes  # date without a time zone
    assert entity(result, CHG, "jira/OPS-4").attributes["state"] == "new"
    ops = entity(result, PROJ, "jira/OPS")
    assert ops.name == "IT Operations"
    assert {t for t in triples(result) if t[0] == "IMPLEMENTS" and t[2] == "jira/OPS"} == {
        ("IMPLEMENTS", f"jira/OPS-{n}", "jira/OPS") for n in (1, 2, 3, 4)
    }
    assert entity(result, TASK, "jira/OPS-11").attributes["issueType"] == "Bug"
    messages = sorted(w.message for w in result.warnings)
    assert messages == [
        "OPS-3: plannedStart '2024-06-01' is not a date-time with a time zone; left out",
        # the Blocker link appears on OPS-1 and OPS-2 but is one link
        "skipped 1 'Blocker' issue link(s): the vocabulary has no relation between two changes",
        "skipped 1 'Relates' issue link(s): the vocabulary has no relation from a change to an "
        "issue of type Task",
    ]


def test_epics_are_projects_by_default_and_link_changes_through_links_and_epic_field() -> None:
    result = transform(CHANGES)
    epic = entity(result, PROJ, "jira/OPS-10")
    assert epic.name == "Data centre exit"
    assert epic.attributes == {
        "plannedEnd": "2024-12-31T00:00:00+00:00",
        "plannedStart": "2024-04-01T00:00:00+00:00",
        "priority": "Major",
        "projectType": "epic",
        "status": "In Progress",
    }
    assert {t for t in triples(result) if t[2] == "jira/OPS-10"} == {
        ("IMPLEMENTS", "jira/OPS-1", "jira/OPS-10"),  # OPS-10 incorporates OPS-1
        ("IMPLEMENTS", "jira/OPS-4", "jira/OPS-10"),  # the Agile epic field
    }
    (link,) = [
        r for r in result.relations if r.from_.key == "jira/OPS-1" and r.to.key == "jira/OPS-10"
    ]
    assert link.attributes == {"jiraLink": "is part of"}


def test_change_types_setting_replaces_the_default_list() -> None:
    result = transform(CHANGES, changeTypes="Change")
    assert sorted(e.key for e in result.entities if e.kind is CHG) == ["jira/OPS-1", "jira/OPS-3"]
    # the Deployment and the Release are tasks now
    assert {e.key for e in result.entities if e.kind is TASK} >= {"jira/OPS-2", "jira/OPS-4"}


def test_an_empty_project_issue_types_setting_makes_epics_tasks() -> None:
    result = transform(CHANGES, projectIssueTypes="")
    assert entity(result, TASK, "jira/OPS-10").attributes["status"] == "in_progress"
    assert not [e for e in result.entities if e.kind is PROJ and e.key == "jira/OPS-10"]


def test_field_settings_pick_custom_fields(tmp_path: Path) -> None:
    document = json.loads(CHANGES.read_text())
    del document["names"]
    bare = tmp_path / "search.json"
    bare.write_text(json.dumps(document))
    assert "changeType" in entity(transform(bare), CHG, "jira/OPS-1").attributes
    assert entity(transform(bare), CHG, "jira/OPS-1").attributes["changeType"] == "normal"
    configured = transform(
        bare,
        changeTypeField="customfield_10100",
        riskField="customfield_10101",
        plannedStartField="customfield_10102",
        plannedEndField="customfield_10103",
    )
    ops1 = entity(configured, CHG, "jira/OPS-1")
    assert ops1.attributes["changeType"] == "emergency"
    assert ops1.attributes["risk"] == "High"
    assert ops1.attributes["plannedStart"] == "2024-05-01T22:00:00+02:00"


def test_project_list_and_link_types_are_read(tmp_path: Path) -> None:
    listing = tmp_path / "projects.json"
    listing.write_text(
        json.dumps([json.loads(PROJECT.read_text()), json.loads(ABDERA.read_text())])
    )
    result = transform(listing, LINK_TYPES)
    assert [e.key for e in result.entities] == ["jira/ABDERA", "jira/SAMPLEPROJECT"]
    assert parse(LINK_TYPES).link_types[1].outward == "blocks"


def test_every_batch_is_valid_and_output_is_sorted_and_deterministic() -> None:
    result = transform(*ALL, projectIssueTypes="Epic")
    keys = [(e.kind.value, e.key) for e in result.entities]
    assert keys == sorted(keys)
    for batch in batches_of(result, source="jira", scope="cloud", run_id=None, size=3):
        assert validate_batch(batch) == []
    assert transform(*ALL, projectIssueTypes="Epic") == result


# ---------------------------------------------------------------------- malformed


def parse_error(path: Path) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    return info.value


def test_truncated_json_names_line_and_column(tmp_path: Path) -> None:
    cut = tmp_path / "search.json"
    cut.write_bytes(SEARCH.read_bytes()[:3000])
    error = parse_error(cut)
    assert error.element.startswith("line ")
    assert ", column " in error.element
    assert "not valid JSON" in error.reason


@pytest.mark.parametrize(
    ("document", "element", "reason"),
    [
        ({"foo": 1}, "/", "not a Jira REST response this importer reads"),
        ([1, 2], "/", "JSON objects only"),
        ({"issues": [{"fields": {}}]}, "/issues/0/key", "an issue needs a key"),
        ({"issues": [{"key": "X-1"}]}, "/issues/0/fields", "needs a fields object"),
        (
            {"issues": [{"key": "X-1", "fields": {"issuelinks": [{"id": "1"}]}}]},
            "/issues/0/fields/issuelinks/0",
            "inwardIssue or an outwardIssue",
        ),
        ({"errorMessages": ["Issue does not exist"]}, "/errorMessages", "error response"),
        ({"values": [{"name": "no key"}]}, "/values/0/key", "a project needs a key"),
    ],
)
def test_wrong_shapes_are_refused(
    tmp_path: Path, document: object, element: str, reason: str
) -> None:
    path = tmp_path / "jira.json"
    path.write_text(json.dumps(document))
    error = parse_error(path)
    assert error.element == element
    assert reason in error.reason


# -------------------------------------------------------------------- integration


async def run(engine: IngestEngine, *paths: Path) -> ImportReport:
    # run_import takes Importer[object]; Importer is invariant in its parsed type
    importer = cast("Importer[object]", JiraImporter())
    return await run_import(importer, list(paths), EngineSink(engine), source="jira", scope="ops")


async def record_of(store: GraphStore, kind: EntityKind, key: str) -> EntityRecord:
    (entity_id,) = await store.resolve([(kind, key)])
    assert entity_id is not None, key
    (record,) = await store.entities([entity_id])
    assert record is not None
    return record


async def test_import_twice_changes_nothing_then_a_missing_change_goes_stale(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    changes = tmp_path / "changes.json"
    changes.write_text(CHANGES.read_text())
    first = await run(engine, PROJECT, changes)
    # 4 changes, OPS, SAMPLEPROJECT, the epic OPS-10, the Bug OPS-11 as a task, its assignee
    assert first.summary.entities_created == 9
    assert first.summary.relations_created == 8
    second = await run(engine, PROJECT, changes)
    assert second.summary.created == 0
    assert second.summary.updated == 0
    assert second.summary.marked_stale == 0

    document = json.loads(CHANGES.read_text())
    document["issues"] = [i for i in document["issues"] if i["key"] != "OPS-3"]
    document["total"] = len(document["issues"])
    changes.write_text(json.dumps(document))
    third = await run(engine, PROJECT, changes)
    assert third.summary.marked_stale == 2  # the change and its IMPLEMENTS
    assert third.summary.created == 0
    assert third.summary.updated == 0
    assert (await record_of(store, CHG, "jira/OPS-3")).status is Status.STALE
    assert (await record_of(store, CHG, "jira/OPS-1")).status is Status.ACTIVE
    ops = await record_of(store, PROJ, "jira/OPS")
    assert ops.status is Status.ACTIVE
    page = await store.relations(ops.id, Direction.IN, first=10)
    statuses = sorted(r.status.value for r in page.items)
    assert statuses == ["active", "active", "active", "active", "stale"]
