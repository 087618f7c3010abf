"""The Jira importer: projects and change-like issues -> Projects, Changes and relations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import JsonValue

from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult, ImportWarning
from graphsvc.model.batch import EntityItem, EntityRef, RelationItem
from graphsvc.model.validation import parse_datetime
from graphsvc.model.vocabulary import EntityKind, RelationType
from importers.jira.parser import parse_jira_json
from importers.jira.records import JiraFile, JiraIssue, JiraProject

__all__ = ["DEFAULT_CHANGE_TYPES", "JiraImporter", "change_state", "jira_key"]

DEFAULT_CHANGE_TYPES = ("Change", "Change Request", "Deployment", "Release", "Maintenance")
"""Issue types imported as ``Change`` unless the ``changeTypes`` setting says otherwise."""

_PROJECT, _CHANGE = EntityKind.PROJECT, EntityKind.CHANGE

_STATUS_STATES: dict[str, str] = {
    # cancelled
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "declined": "cancelled",
    "rejected": "cancelled",
    "won't do": "cancelled",
    "abandoned": "cancelled",
    # scheduled
    "scheduled": "scheduled",
    "awaiting implementation": "scheduled",
    "approved": "scheduled",
    # implement
    "implementing": "implement",
    "implementation": "implement",
    "in progress": "implement",
    # review
    "review": "review",
    "in review": "review",
    "under review": "review",
    "peer review": "review",
    "post implementation review": "review",
    # assess
    "assess": "assess",
    "assessment": "assess",
    "planning": "assess",
    "authorize": "assess",
    "awaiting approval": "assess",
    "waiting for approval": "assess",
    "evaluation": "assess",
    # new
    "new": "new",
    "open": "new",
    "to do": "new",
    "backlog": "new",
    "reopened": "new",
    "draft": "new",
    # closed
    "done": "closed",
    "closed": "closed",
    "resolved": "closed",
    "completed": "closed",
    "complete": "closed",
}
_CATEGORY_STATES = {"new": "new", "indeterminate": "implement", "done": "closed"}
_CANCEL_RESOLUTIONS = frozenset(
    {
        "won't do",
        "won't fix",
        "cancelled",
        "canceled",
        "declined",
        "rejected",
        "duplicate",
        "abandoned",
    }
)
_CHANGE_TYPES = {
    "standard": "standard",
    "normal": "normal",
    "emergency": "emergency",
    "expedited": "emergency",
}


def jira_key(key: str) -> str:
    """Return the natural key of the Jira project or issue ``key``."""
    return f"jira/{key}"


def change_state(issue: JiraIssue) -> str | None:
    """Return the graph ``state`` of a change issue, or ``None`` when it cannot be told.

    The status name decides when it is a known one (``Scheduled``, ``In
    Review``, ``Declined`` …); else the status category (``new`` -> new,
    ``indeterminate`` -> implement, ``done`` -> closed). A closed issue whose
    resolution says it was not done (Won't Do, Declined, Duplicate …) is
    ``cancelled``.
    """
    state = _STATUS_STATES.get((issue.status or "").strip().lower())
    if state is None:
        state = _CATEGORY_STATES.get((issue.status_category or "").strip().lower())
    if state == "closed" and (issue.resolution or "").strip().lower() in _CANCEL_RESOLUTIONS:
        return "cancelled"
    return state


@dataclass(slots=True)
class _Draft:
    kind: EntityKind
    key: str
    name: str = ""
    identifiers: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, JsonValue] = field(default_factory=dict)
    stub: bool = True

    def item(self) -> EntityItem:
        return EntityItem(
            kind=self.kind,
            key=self.key,
            name=self.name,
            identifiers=dict(sorted(self.identifiers.items())),
            attributes=dict(sorted(self.attributes.items())),
        )


def _types(setting: str | None, default: Sequence[str]) -> frozenset[str]:
    names = default if setting is None else setting.split(",")
    return frozenset(n.strip().lower() for n in names if n.strip())


class _Run:
    def __init__(self, files: Sequence[JiraFile], options: ImporterOptions) -> None:
        self.files = files
        settings = options.settings
        self.change_types = _types(settings.get("changeTypes"), DEFAULT_CHANGE_TYPES)
        self.project_types = _types(settings.get("projectIssueTypes"), ())
        self.entities: dict[tuple[EntityKind, str], _Draft] = {}
        self.relations: dict[tuple[str, str, str], RelationItem] = {}
        self.warnings: list[ImportWarning] = []
        self.issue_types: dict[str, str] = {}
        for file in files:
            for issue in file.issues:
                self.issue_types[issue.key] = issue.issue_type.lower()

    def warn(self, path: str, element: str, message: str) -> None:
        self.warnings.append(ImportWarning(path, element, message))

    def draft(self, kind: EntityKind, key: str) -> _Draft:
        found = self.entities.get((kind, jira_key(key)))
        if found is None:
            found = self.entities[(kind, jira_key(key))] = _Draft(kind, jira_key(key), name=key)
            found.identifiers["jiraKey"] = key
        return found

    def implements(self, change: str, project: str, attributes: dict[str, JsonValue]) -> None:
        self.relations[(jira_key(change), jira_key(project), "IMPLEMENTS")] = (
            RelationItem.model_validate(
                {
                    "type": RelationType.IMPLEMENTS,
                    "from": EntityRef(kind=_CHANGE, key=jira_key(change)),
                    "to": EntityRef(kind=_PROJECT, key=jira_key(project)),
                    "attributes": attributes,
                }
            )
        )

    def is_project_issue(self, key: str, type_hint: str | None) -> bool:
        issue_type = self.issue_types.get(key, (type_hint or "").lower())
        return issue_type in self.project_types

    # -------------------------------------------------------------------- run
    def run(self) -> ImportResult:
        for file in self.files:
            for project in file.projects:
                self.project(project)
        link_notes: Counter[tuple[str, str, str]] = Counter()
        seen_links: set[str] = set()
        for file in self.files:
            if not (file.projects or file.issues or file.link_types):
                self.warn(file.path, "", "the file holds nothing to import")
            skipped: Counter[str] = Counter()
            for issue in file.issues:
                kind = issue.issue_type.lower()
                if kind in self.change_types:
                    self.change(file.path, issue, link_notes, seen_links)
                elif kind in self.project_types:
                    self.project_issue(file.path, issue)
                else:
                    skipped[issue.issue_type or "(no type)"] += 1
            if skipped:
                counts = ", ".join(f"{t}: {n}" for t, n in sorted(skipped.items()))
                self.warn(
                    file.path,
                    "",
                    f"skipped {sum(skipped.values())} issue(s) whose type is not imported "
                    f"({counts}); see the changeTypes and projectIssueTypes settings",
                )
        for (path, type_name, reason), count in sorted(link_notes.items()):
            self.warn(path, "", f"skipped {count} {type_name!r} issue link(s): {reason}")
        self.check_pages()
        entities = sorted(
            (d.item() for d in self.entities.values()), key=lambda e: (e.kind.value, e.key)
        )
        return ImportResult(
            entities=tuple(entities),
            relations=tuple(self.relations[k] for k in sorted(self.relations)),
            warnings=tuple(self.warnings),
        )

    def project(self, project: JiraProject) -> None:
        draft = self.draft(_PROJECT, project.key)
        draft.stub = False
        draft.name = project.name
        attributes = draft.attributes
        for name, value in (
            ("projectType", project.project_type),
            ("sponsor", project.lead),
            ("lead", project.lead_account),
            ("description", project.description),
            ("category", project.category),
            ("url", project.url),
            ("jiraId", project.jira_id),
        ):
            if value:
                attributes[name] = value
        if project.archived is not None:
            attributes["status"] = "archived" if project.archived else "active"

    def project_of(self, issue: JiraIssue) -> None:
        draft = self.draft(_PROJECT, issue.project_key)
        if draft.stub and issue.project_name:
            draft.name = issue.project_name

    def dates(self, path: str, issue: JiraIssue) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {}
        for name, raw in (("plannedStart", issue.planned_start), ("plannedEnd", issue.planned_end)):
            if not raw:
                continue
            parsed = parse_datetime(raw)
            if parsed is None:
                self.warn(
                    path,
                    issue.element,
                    f"{issue.key}: {name} {raw!r} is not a date-time with a time zone; left out",
                )
            else:
                out[name] = parsed.isoformat()
        return out

    def project_issue(self, path: str, issue: JiraIssue) -> None:
        draft = self.draft(_PROJECT, issue.key)
        draft.stub = False
        draft.name = issue.summary or issue.key
        attributes = draft.attributes
        attributes["projectType"] = issue.issue_type.lower()
        if issue.status:
            attributes["status"] = issue.status
        if issue.priority:
            attributes["priority"] = issue.priority
        attributes.update(self.dates(path, issue))

    def change(
        self,
        path: str,
        issue: JiraIssue,
        link_notes: Counter[tuple[str, str, str]],
        seen_links: set[str],
    ) -> None:
        draft = self.draft(_CHANGE, issue.key)
        draft.name = f"{issue.key} {issue.summary}".strip()
        attributes: dict[str, JsonValue] = {"issueType": issue.issue_type}
        state = change_state(issue)
        if state:
            attributes["state"] = state
        else:
            self.warn(
                path,
                issue.element,
                f"{issue.key}: status {issue.status!r} tells no change state; state left out",
            )
        attributes["changeType"] = self.change_type(path, issue)
        attributes.update(self.dates(path, issue))
        for name, value in (
            ("risk", issue.risk),
            ("jiraStatus", issue.status),
            ("priority", issue.priority),
            ("resolution", issue.resolution),
        ):
            if value:
                attributes[name] = value
        draft.attributes.update(attributes)
        self.project_of(issue)
        self.implements(issue.key, issue.project_key, {})
        for target, hint in ((issue.parent_key, None), (issue.epic_key, "epic")):
            if target and self.is_project_issue(target, hint):
                self.implements(issue.key, target, {})
        for link in issue.links:
            if link.link_id is not None:
                if link.link_id in seen_links:
                    continue
                seen_links.add(link.link_id)
            other_type = self.issue_types.get(link.other_key, (link.other_type or "").lower())
            if self.is_project_issue(link.other_key, link.other_type):
                self.implements(
                    issue.key, link.other_key, {"jiraLink": link.phrase or link.type_name}
                )
            elif other_type in self.change_types:
                link_notes[
                    (path, link.type_name, "the vocabulary has no relation between two changes")
                ] += 1
            else:
                shown = link.other_type or "unknown"
                reason = f"the vocabulary has no relation from a change to an issue of type {shown}"
                link_notes[(path, link.type_name, reason)] += 1

    def change_type(self, path: str, issue: JiraIssue) -> str:
        if issue.change_type:
            mapped = _CHANGE_TYPES.get(issue.change_type.strip().lower())
            if mapped:
                return mapped
            self.warn(
                path,
                issue.element,
                f"{issue.key}: change type {issue.change_type!r} is not standard, normal or "
                "emergency; normal assumed",
            )
            return "normal"
        lowered = issue.issue_type.lower()
        for word in ("emergency", "standard"):
            if word in lowered:
                return word
        return "normal"

    def check_pages(self) -> None:
        """Warn when the search results of the run do not cover their ``total``.

        Pages of one search share its ``total``: the pages of every total are
        put together, and each total that is not covered gets one warning.
        """
        by_total: dict[int, tuple[str, set[int]]] = {}
        for file in self.files:
            page = file.page
            if page is None or page.total is None:
                continue
            path, covered = by_total.setdefault(page.total, (file.path, set()))
            covered.update(range(page.start_at, page.start_at + page.count))
        for total, (path, covered) in sorted(by_total.items()):
            if not set(range(total)) <= covered:
                self.warn(
                    path,
                    "",
                    f"this search result holds {len(covered)} of its {total} issues: import "
                    "every page in one run, or changes on the missing pages go stale",
                )


class JiraImporter(Importer[JiraFile]):
    """Jira REST responses -> ``Project`` and ``Change`` entities.

    Settings: ``changeTypes`` (comma-separated issue types imported as changes;
    default ``Change,Change Request,Deployment,Release,Maintenance``),
    ``projectIssueTypes`` (issue types imported as projects, e.g. ``Epic,Initiative``;
    default none), and ``changeTypeField``, ``riskField``, ``plannedStartField``,
    ``plannedEndField``, ``epicField`` (a field id such as ``customfield_10010``
    or a field name). See the package docstring for the mapping.
    """

    name: ClassVar[str] = "jira"
    default_source: ClassVar[str] = "jira"
    description: ClassVar[str] = "Jira REST JSON: projects and change-like issues"

    def parse(self, path: Path, options: ImporterOptions) -> JiraFile:
        """Read one Jira REST response file.

        Raises:
            ParseError: naming the file, the line/column or JSON pointer and the
                reason, when the file is not JSON, is of an unknown shape, or
                holds a project or issue without a key.
        """
        choices = {
            logical: options.settings[f"{logical}Field"]
            for logical in ("changeType", "risk", "plannedStart", "plannedEnd", "epic")
            if options.settings.get(f"{logical}Field")
        }
        return parse_jira_json(path, choices)

    def transform(
        self, parsed: Sequence[tuple[Path, JiraFile]], options: ImporterOptions
    ) -> ImportResult:
        """Map every file of the run (see the package docstring).

        An issue or project in several files is one entity; per attribute the
        later file (in the order given) wins.
        """
        return _Run([f for _p, f in parsed], options).run()
