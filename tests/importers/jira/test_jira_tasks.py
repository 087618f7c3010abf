"""Jira issues as tasks (issue 19 item 4): status, effort, dates, assignee, prerequisites.

Real responses: the Atlassian REST v2 "Get issue" example (ED-1, links of type
Dependent in both directions, time tracking), the jira-ruby Agile sprint issue
list (HSP-1, ``timetracking.originalEstimateSeconds``), and a search result of
a Jira Cloud project written in the documented shape with Blocks links (see
``tests/data/jira/SOURCE.md``).
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
from graphsvc.model.batch import EntityItem
from graphsvc.model.validation import validate_batch
from graphsvc.model.vocabulary import Direction, EntityKind
from graphsvc.store.base import GraphStore
from importers.jira import JiraImporter
from importers.jira.importer import browse_url, link_prerequisite, task_status
from importers.jira.records import JiraIssue, JiraLink

DATA = Path(__file__).parents[2] / "data" / "jira"
TASKS = DATA / "crafted-INFRA-tasks-search.json"
ED1 = DATA / "atlassian-rest-v2-get-issue-ED-1.json"
SPRINT = DATA / "jira-ruby-sprint-1_issues.json"
CHANGES = DATA / "crafted-OPS-changes-search.json"

PROJ, TASK, PERSON = EntityKind.PROJECT, EntityKind.TASK, EntityKind.PERSON
BOB = "jira/user/712020:3f2a9c1e-7d44-4b8e-9a51-0c6e2d8f1b77"  # no e-mail in the response


def transform(*paths: Path, **settings: str) -> ImportResult:
    importer = JiraImporter()
    options = ImporterOptions(settings=settings)
    return importer.transform([(p, importer.parse(p, options)) for p in paths], options)


def entity(result: ImportResult, kind: EntityKind, key: str) -> EntityItem:
    matches = [e for e in result.entities if e.kind is kind and e.key == key]
    assert len(matches) == 1, (kind, key)
    return matches[0]


def triples(result: ImportResult, type_: str | None = None) -> set[tuple[str, str, str]]:
    return {
        (r.type.value, str(r.from_.key), str(r.to.key))
        for r in result.relations
        if type_ is None or r.type.value == type_
    }


# --------------------------------------------------------------------- transform


def test_tasks_of_a_cloud_search_result() -> None:
    result = transform(TASKS)
    assert entity(result, TASK, "jira/INFRA-21").attributes == {
        "due": "2024-05-10T00:00:00+00:00",
        "effortHours": 8,  # timeoriginalestimate 28800 s
        "externalUrl": "https://infra.atlassian.net/browse/INFRA-21",
        "issueType": "Task",
        "jiraStatus": "Done",
        "origin": "ppm",
        "priority": "Medium",
        "resolution": "Done",
        "status": "done",
    }
    infra22 = entity(result, TASK, "jira/INFRA-22").attributes
    assert infra22["status"] == "in_progress"  # category indeterminate
    assert infra22["effortHours"] == 16  # timetracking.originalEstimateSeconds 57600
    assert infra22["plannedStart"] == "2024-05-20T00:00:00+00:00"  # "Start date" via names
    assert entity(result, TASK, "jira/INFRA-23").attributes["status"] == "blocked"
    assert entity(result, TASK, "jira/INFRA-24").attributes["status"] == "cancelled"  # Won't Do
    # the epic is a project by default; it is no task
    assert entity(result, PROJ, "jira/INFRA-20").attributes["projectType"] == "epic"
    assert not [e for e in result.entities if e.kind is TASK and e.key == "jira/INFRA-20"]
    alice = entity(result, PERSON, "alice.network@example.org")
    assert (alice.name, alice.attributes) == (
        "Alice Network",
        {"email": "alice.network@example.org"},
    )
    assert entity(result, PERSON, BOB).identifiers == {}
    assert triples(result, "ASSIGNED_TO") == {
        ("ASSIGNED_TO", "jira/INFRA-21", "alice.network@example.org"),
        ("ASSIGNED_TO", "jira/INFRA-22", BOB),
        ("ASSIGNED_TO", "jira/INFRA-24", BOB),
    }
    assert triples(result, "PART_OF") == {
        *(("PART_OF", f"jira/INFRA-{n}", "jira/INFRA") for n in (21, 22, 23, 24)),
        *(("PART_OF", f"jira/INFRA-{n}", "jira/INFRA-20") for n in (21, 22, 23)),  # parent epic
    }


def test_blocks_links_become_requires_from_the_blocked_task() -> None:
    result = transform(TASKS)
    # INFRA-21 blocks INFRA-22 (listed on both, once), INFRA-22 blocks INFRA-23,
    # SEC-7 (outside the run) blocks INFRA-23
    assert triples(result, "REQUIRES") == {
        ("REQUIRES", "jira/INFRA-22", "jira/INFRA-21"),
        ("REQUIRES", "jira/INFRA-23", "jira/INFRA-22"),
        ("REQUIRES", "jira/INFRA-23", "jira/SEC-7"),
    }
    assert [w.message for w in result.warnings] == [
        "skipped 1 'Relates' issue link(s): only prerequisite links (blocks, requires, depends "
        "on) map to a relation (REQUIRES)"
    ]
    (sec7,) = [n for n in result.references if "SEC-7" in n.value]
    assert (sec7.end, sec7.item, sec7.value) == ("to", "issue INFRA-23", "is blocked by 'SEC-7'")
    assert sec7.element == "/issues/3/fields/issuelinks/1"
    assert result.relations[sec7.relation].to.key == "jira/SEC-7"


def test_the_documented_get_issue_example_reads_links_by_their_wording() -> None:
    result = transform(ED1)
    ed1 = entity(result, TASK, "jira/ED-1")
    assert ed1.attributes == {
        "effortHours": 0.1667,  # originalEstimateSeconds 600
        "externalUrl": "https://your-domain.atlassian.net/browse/ED-1",
        "origin": "ppm",
    }
    # "Dependent": outward "is depended by" PR-2, inward "depends on" PR-3
    assert triples(result) == {
        ("PART_OF", "jira/ED-1", "jira/EX"),
        ("REQUIRES", "jira/PR-2", "jira/ED-1"),
        ("REQUIRES", "jira/ED-1", "jira/PR-3"),
    }
    assert result.warnings == ()  # no status field: no status, nothing to warn about


def test_the_agile_sprint_list_gives_effort_from_time_tracking() -> None:
    result = transform(SPRINT)
    hsp1 = entity(result, TASK, "jira/HSP-1")
    assert hsp1.attributes["effortHours"] == 0.1667
    assert hsp1.attributes["externalUrl"] == "http://www.example.com/jira/browse/HSP-1"
    assert triples(result) == {("PART_OF", "jira/HSP-1", "jira/EX")}


def test_a_task_linked_to_a_change_is_a_warning_not_a_relation(tmp_path: Path) -> None:
    document = json.loads(TASKS.read_text())
    infra23 = document["issues"][3]
    infra23["fields"]["issuelinks"][1]["inwardIssue"]["fields"]["issuetype"]["name"] = "Change"
    path = tmp_path / "search.json"
    path.write_text(json.dumps(document))
    result = transform(path)
    assert ("REQUIRES", "jira/INFRA-23", "jira/SEC-7") not in triples(result)
    assert (
        "skipped 1 'Blocks' issue link(s): the vocabulary has no relation from a change to an "
        "issue of type Task" in [w.message for w in result.warnings]
    )


def test_an_epic_blocked_by_a_task_requires_it(tmp_path: Path) -> None:
    document = json.loads(TASKS.read_text())
    link = document["issues"][1]["fields"]["issuelinks"][0]
    link["outwardIssue"] = {"key": "INFRA-20", "fields": {"issuetype": {"name": "Epic"}}}
    link["id"] = "20999"
    path = tmp_path / "search.json"
    path.write_text(json.dumps(document))
    assert ("REQUIRES", "jira/INFRA-20", "jira/INFRA-21") in triples(transform(path))


def make(status: str | None, category: str | None, resolution: str | None = None) -> JiraIssue:
    return JiraIssue(
        "X-1", "", "Task", status=status, status_category=category, resolution=resolution
    )


@pytest.mark.parametrize(
    ("status", "category", "resolution", "expected"),
    [
        ("To Do", "new", None, "open"),
        ("Ready", "new", None, "open"),
        ("In Progress", "indeterminate", None, "in_progress"),
        ("Done", "done", "Done", "done"),
        ("Done", "done", "Duplicate", "cancelled"),
        ("Blocked", "indeterminate", None, "blocked"),
        ("On Hold", "new", None, "blocked"),
        ("Won't Do", "done", None, "cancelled"),
        ("Declined", "done", None, "cancelled"),
        ("Closed", None, None, "done"),  # old Jira, no categories
        ("Open", None, None, "open"),
        ("Triage", None, None, None),
    ],
)
def test_task_status(
    status: str, category: str | None, resolution: str | None, expected: str | None
) -> None:
    assert task_status(make(status, category, resolution)) == expected


@pytest.mark.parametrize(
    ("type_name", "direction", "phrase", "expected"),
    [
        ("Blocks", "outward", "blocks", "this"),
        ("Blocks", "inward", "is blocked by", "other"),
        ("Blocker", "outward", "blocks", "this"),  # issues.apache.org
        ("Required", "outward", "requires", "other"),
        ("Required", "inward", "is required by", "this"),
        ("dependent", "outward", "depends upon", "other"),
        ("Dependent", "outward", "is depended by", "this"),  # Atlassian's example
        ("Blocker", "inward", "Blocker", "other"),  # wording says nothing: type and direction
        ("Blocked", "outward", "Blocked", None),  # issues.apache.org: says nothing at all
        ("Relates", "outward", "relates to", None),
        ("Duplicate", "inward", "is duplicated by", None),
    ],
)
def test_link_prerequisite(type_name: str, direction: str, phrase: str, expected: str) -> None:
    link = JiraLink(
        type_name, "outward" if direction == "outward" else "inward", phrase, "Y-1", None, None
    )
    assert link_prerequisite(link) == expected


def test_browse_url_keeps_the_context_path() -> None:
    assert (
        browse_url("http://host/jira/rest/api/2/issue/10002", "A-1")
        == "http://host/jira/browse/A-1"
    )
    assert browse_url("https://x.atlassian.net/rest/agile/1.0/issue/1", "B-2") == (
        "https://x.atlassian.net/browse/B-2"
    )
    assert browse_url(None, "A-1") is None
    assert browse_url("https://elsewhere/issue/1", "A-1") is None


@pytest.mark.parametrize(
    ("where", "value"),
    [("timeoriginalestimate", "8h"), ("timeoriginalestimate", -1), ("timetracking", True)],
)
def test_an_estimate_that_is_no_number_of_seconds_is_refused(
    tmp_path: Path, where: str, value: object
) -> None:
    document = json.loads(TASKS.read_text())
    fields = document["issues"][2]["fields"]
    if where == "timetracking":
        fields["timetracking"]["originalEstimateSeconds"] = value
        element = "/issues/2/fields/timetracking/originalEstimateSeconds"
    else:
        fields[where] = value
        element = f"/issues/2/fields/{where}"
    path = tmp_path / "search.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ParseError) as info:
        transform(path)
    assert (info.value.path, info.value.element) == (str(path), element)
    assert "number of seconds" in info.value.reason


def test_every_batch_is_valid_and_the_output_deterministic() -> None:
    result = transform(TASKS, ED1, SPRINT, CHANGES)
    for batch in batches_of(result, source="jira", scope="cloud", run_id=None, size=4):
        assert validate_batch(batch) == []
    assert transform(TASKS, ED1, SPRINT, CHANGES) == result


# -------------------------------------------------------------------- integration


async def run(engine: IngestEngine, *paths: Path) -> ImportReport:
    importer = cast("Importer[object]", JiraImporter())
    return await run_import(importer, list(paths), EngineSink(engine), source="jira", scope="ppm")


async def test_tasks_ingest_into_the_store_and_a_missing_blocker_is_reported(
    engine: IngestEngine, store: GraphStore
) -> None:
    first = await run(engine, TASKS)
    # 4 tasks, the project, the epic, 2 people
    assert first.summary.entities_created == 8
    assert [u.describe() for u in first.unresolved] == [
        f"{TASKS}: /issues/3/fields/issuelinks/1: issue INFRA-23: issuelinks is blocked by "
        "'SEC-7' is not in the graph (neither in this import nor in the store); the REQUIRES "
        "relation was not created"
    ]
    assert first.summary.relations_created == 12  # 14 relations, less the one to SEC-7
    (infra23,) = await store.resolve([(TASK, "jira/INFRA-23")])
    assert infra23 is not None
    (record,) = await store.entities([infra23])
    assert record is not None
    assert record.attributes["status"] == "blocked"
    assert record.attributes["due"] == "2024-06-15T00:00:00+00:00"
    page = await store.relations(infra23, Direction.OUT, first=10)
    ends = {r.id: r for r in await store.entities([r.to_id for r in page.items]) if r}
    assert {(r.type.value, ends[r.to_id].key) for r in page.items} == {
        ("REQUIRES", "jira/INFRA-22"),
        ("PART_OF", "jira/INFRA"),
        ("PART_OF", "jira/INFRA-20"),
    }

    again = await run(engine, TASKS)
    assert (again.summary.created, again.summary.updated, again.summary.marked_stale) == (0, 0, 0)
