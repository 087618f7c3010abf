"""The Jira importer: projects and issues -> Projects, Changes, Tasks, People and relations."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import JsonValue

from graphsvc.ingest.importer import (
    FieldReference,
    Importer,
    ImporterOptions,
    ImportResult,
    ImportWarning,
)
from graphsvc.model.batch import EntityItem, EntityRef, RelationItem
from graphsvc.model.validation import parse_datetime
from graphsvc.model.vocabulary import EntityKind, RelationType
from importers.jira.parser import parse_jira_json
from importers.jira.records import JiraFile, JiraIssue, JiraLink, JiraProject, JiraUser

__all__ = [
    "DEFAULT_CHANGE_TYPES",
    "DEFAULT_PROJECT_TYPES",
    "JiraImporter",
    "browse_url",
    "change_state",
    "jira_key",
    "link_prerequisite",
    "person_key",
    "task_status",
]

DEFAULT_CHANGE_TYPES = ("Change", "Change Request", "Deployment", "Release", "Maintenance")
"""Issue types imported as ``Change`` unless the ``changeTypes`` setting says otherwise."""

DEFAULT_PROJECT_TYPES = ("Epic",)
"""Issue types imported as ``Project`` unless the ``projectIssueTypes`` setting says otherwise."""

_PROJECT, _CHANGE, _TASK, _PERSON = (
    EntityKind.PROJECT,
    EntityKind.CHANGE,
    EntityKind.TASK,
    EntityKind.PERSON,
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_TASK_STATUSES: dict[str, str] = {
    # blocked
    "blocked": "blocked",
    "on hold": "blocked",
    "impeded": "blocked",
    "waiting": "blocked",
    # cancelled
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "declined": "cancelled",
    "rejected": "cancelled",
    "won't do": "cancelled",
    "abandoned": "cancelled",
    # in progress (old Jira without status categories)
    "in progress": "in_progress",
    "in review": "in_progress",
    "in test": "in_progress",
    "implementing": "in_progress",
    # open
    "open": "open",
    "to do": "open",
    "new": "open",
    "backlog": "open",
    "reopened": "open",
    "selected for development": "open",
    # done
    "done": "done",
    "closed": "done",
    "resolved": "done",
    "completed": "done",
    "complete": "done",
}
_CATEGORY_STATUSES = {"new": "open", "indeterminate": "in_progress", "done": "done"}
_PREREQUISITE_PHRASES = frozenset(
    {
        "blocks",
        "is required by",
        "is a prerequisite of",
        "is a prerequisite for",
        "is depended on by",
        "is depended upon by",
        "is depended by",
    }
)
"""Link wordings saying this issue must be done before the other (other ``REQUIRES`` this)."""
_DEPENDENT_PHRASES = frozenset(
    {
        "is blocked by",
        "requires",
        "has prerequisite",
        "depends on",
        "depends upon",
    }
)
"""Link wordings saying the other issue must be done before this one (this ``REQUIRES`` other)."""
_BLOCKS_TYPES = frozenset({"blocks", "blocker"})

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


def task_status(issue: JiraIssue) -> str | None:
    """Return the graph ``status`` of a task issue, or ``None`` when it cannot be told.

    A status named like blocked (``Blocked``, ``On Hold``, ``Impeded``,
    ``Waiting``) is ``blocked`` and one named like cancelled (``Cancelled``,
    ``Won't Do``, ``Declined``, ``Rejected``, ``Abandoned``) is ``cancelled``,
    whatever its category; otherwise the status category decides (``new`` ->
    open, ``indeterminate`` -> in_progress, ``done`` -> done) and, in old Jira
    versions without categories, the status name (``Open``, ``In Progress``,
    ``Closed`` …). A done issue resolved as not done (Won't Do, Declined,
    Duplicate …) is ``cancelled``.
    """
    by_name = _TASK_STATUSES.get((issue.status or "").strip().lower())
    if by_name in ("blocked", "cancelled"):
        return by_name
    status = _CATEGORY_STATUSES.get((issue.status_category or "").strip().lower()) or by_name
    if status == "done" and (issue.resolution or "").strip().lower() in _CANCEL_RESOLUTIONS:
        return "cancelled"
    return status


def link_prerequisite(link: JiraLink) -> Literal["this", "other"] | None:
    """Which end of an issue link must be done first, as seen from the issue holding it.

    Jira lists a link on both issues; from each issue's side, ``outwardIssue``
    means "this issue <outward wording> the other" and ``inwardIssue`` "this
    issue <inward wording> the other". The wording decides, so that link types
    named differently on each site agree: ``blocks``, ``is required by``,
    ``is depended upon by`` … make this issue the prerequisite (``"this"``: the
    other ``REQUIRES`` this one); ``is blocked by``, ``requires``, ``depends
    on`` … make the other one the prerequisite (``"other"``). When the wording
    says nothing (a type whose inward and outward names are both ``Blocked``),
    a type named ``Blocks`` or ``Blocker`` is read by its direction: outward,
    this issue blocks the other. Any other link is no prerequisite (``None``).
    """
    phrase = " ".join(link.phrase.lower().split())
    if phrase in _PREREQUISITE_PHRASES:
        return "this"
    if phrase in _DEPENDENT_PHRASES:
        return "other"
    if link.type_name.strip().lower() in _BLOCKS_TYPES:
        return "this" if link.direction == "outward" else "other"
    return None


def person_key(user: JiraUser) -> str:
    """Return the natural key of a Jira user as a ``Person``.

    The e-mail address (lower case) when the response shows it, so that the
    same person from another source is the same entity; else
    ``jira/user/<accountId or user name>``.
    """
    if user.email:
        return user.email.strip().lower()
    return f"jira/user/{user.account}"


def browse_url(self_url: str | None, key: str) -> str | None:
    """Return the issue's page (``https://host/browse/KEY``) from its REST ``self`` URL.

    The base is everything before ``/rest/`` (keeping a context path such as
    ``/jira``); ``None`` when ``self`` is absent or has no ``/rest/``.
    """
    if not self_url or "/rest/" not in self_url:
        return None
    return f"{self_url.split('/rest/', 1)[0]}/browse/{key}"


def _task_time(raw: str) -> str | None:
    """A Jira date or date-time as ISO 8601 with a zone; ``None`` if unreadable.

    A date without a time (``duedate``, Jira Cloud's Start date) carries no
    zone; it is read as the start of that day in UTC.
    """
    text = raw.strip()
    if _DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None
        return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat()
    parsed = parse_datetime(text)
    return parsed.isoformat() if parsed else None


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


_Triple = tuple[str, str, str, str, str]


class _Run:
    def __init__(self, files: Sequence[JiraFile], options: ImporterOptions) -> None:
        self.files = files
        settings = options.settings
        self.change_types = _types(settings.get("changeTypes"), DEFAULT_CHANGE_TYPES)
        self.project_types = _types(settings.get("projectIssueTypes"), DEFAULT_PROJECT_TYPES)
        self.entities: dict[tuple[EntityKind, str], _Draft] = {}
        self.relations: dict[_Triple, RelationItem] = {}
        self.notes: dict[_Triple, list[FieldReference]] = {}
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

    def relate(
        self,
        type_: RelationType,
        from_: tuple[EntityKind, str],
        to: tuple[EntityKind, str],
        attributes: dict[str, JsonValue] | None = None,
        note: FieldReference | None = None,
    ) -> None:
        """Assert a relation between two entities named by kind and natural key.

        ``note`` says which field names an end that may be outside the import
        (a linked issue), so that the runner can report it in Jira's words.
        """
        triple = (type_.value, from_[0].value, from_[1], to[0].value, to[1])
        self.relations[triple] = RelationItem.model_validate(
            {
                "type": type_,
                "from": EntityRef(kind=from_[0], key=from_[1]),
                "to": EntityRef(kind=to[0], key=to[1]),
                "attributes": attributes or {},
            }
        )
        if note is not None and note not in self.notes.get(triple, []):
            self.notes.setdefault(triple, []).append(note)

    def implements(self, change: str, project: str, attributes: dict[str, JsonValue]) -> None:
        self.relate(
            RelationType.IMPLEMENTS,
            (_CHANGE, jira_key(change)),
            (_PROJECT, jira_key(project)),
            attributes,
        )

    def is_project_issue(self, key: str, type_hint: str | None) -> bool:
        issue_type = self.issue_types.get(key, (type_hint or "").lower())
        return issue_type in self.project_types

    def kind_of(self, key: str, type_hint: str | None) -> EntityKind:
        """The kind an issue gets: by its type in this run, else by the type a link shows.

        An issue neither in the run nor typed by the link is taken to be a task.
        """
        issue_type = self.issue_types.get(key, (type_hint or "").lower())
        if issue_type in self.change_types:
            return _CHANGE
        if issue_type in self.project_types:
            return _PROJECT
        return _TASK

    # -------------------------------------------------------------------- run
    def run(self) -> ImportResult:
        for file in self.files:
            for project in file.projects:
                self.project(project)
        for file in self.files:
            if not (file.projects or file.issues or file.link_types):
                self.warn(file.path, "", "the file holds nothing to import")
            for issue in file.issues:
                kind = self.kind_of(issue.key, None)
                if kind is _CHANGE:
                    self.change(file.path, issue)
                elif kind is _PROJECT:
                    self.project_issue(file.path, issue)
                else:
                    self.task(file.path, issue)
        self.links()
        self.check_pages()
        entities = sorted(
            (d.item() for d in self.entities.values()), key=lambda e: (e.kind.value, e.key)
        )
        order = sorted(self.relations)
        return ImportResult(
            entities=tuple(entities),
            relations=tuple(self.relations[k] for k in order),
            warnings=tuple(self.warnings),
            references=tuple(
                replace(note, relation=index)
                for index, triple in enumerate(order)
                for note in self.notes.get(triple, ())
            ),
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

    def epics_of(self, issue: JiraIssue) -> list[str]:
        """The project-like issues (epics) an issue belongs to: its parent and its epic.

        An epic outside the run is created with its key as name (as a project
        named only by ``fields.project`` is), so that the relation has a target.
        """
        found: list[str] = []
        for target, hint in ((issue.parent_key, issue.parent_type), (issue.epic_key, "epic")):
            if target and target not in found and self.is_project_issue(target, hint):
                found.append(target)
                self.draft(_PROJECT, target)
        return found

    def change(self, path: str, issue: JiraIssue) -> None:
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
        for epic in self.epics_of(issue):
            self.implements(issue.key, epic, {})

    def task(self, path: str, issue: JiraIssue) -> None:
        """An issue that is neither change-like nor project-like: a ``Task``.

        Attributes: ``status`` (:func:`task_status`), ``effortHours`` (the
        original estimate), ``due`` (``duedate``), ``plannedStart`` (the start
        date field, when the response has one), ``origin`` ``ppm``,
        ``externalUrl`` (:func:`browse_url`), ``issueType``, ``jiraStatus``,
        ``priority``, ``resolution``. Relations: ``PART_OF`` the Jira project
        and the epic (parent or epic field) when that is imported as a project;
        ``ASSIGNED_TO`` the assignee as a ``Person`` (created here, with its
        e-mail). Issue links are mapped afterwards (:meth:`links`).
        """
        draft = self.draft(_TASK, issue.key)
        draft.name = f"{issue.key} {issue.summary}".strip()
        attributes: dict[str, JsonValue] = {"origin": "ppm"}
        if issue.issue_type:
            attributes["issueType"] = issue.issue_type
        status = task_status(issue)
        if status:
            attributes["status"] = status
        elif issue.status or issue.status_category:
            self.warn(
                path,
                issue.element,
                f"{issue.key}: status {issue.status!r} tells no task status; status left out",
            )
        if issue.original_estimate_seconds is not None:
            hours = issue.original_estimate_seconds / 3600
            attributes["effortHours"] = int(hours) if hours.is_integer() else round(hours, 4)
        for name, raw in (("due", issue.due_date), ("plannedStart", issue.planned_start)):
            if not raw:
                continue
            when = _task_time(raw)
            if when is None:
                self.warn(
                    path, issue.element, f"{issue.key}: {name} {raw!r} is not a date; left out"
                )
            else:
                attributes[name] = when
        url = browse_url(issue.self_url, issue.key)
        if url:
            attributes["externalUrl"] = url
        for name, value in (
            ("jiraStatus", issue.status),
            ("priority", issue.priority),
            ("resolution", issue.resolution),
        ):
            if value:
                attributes[name] = value
        draft.attributes.update(attributes)
        me = (_TASK, jira_key(issue.key))
        self.project_of(issue)
        self.relate(RelationType.PART_OF, me, (_PROJECT, jira_key(issue.project_key)))
        for epic in self.epics_of(issue):
            self.relate(RelationType.PART_OF, me, (_PROJECT, jira_key(epic)))
        if issue.assignee is not None:
            self.relate(RelationType.ASSIGNED_TO, me, (_PERSON, self.person(issue.assignee)))

    def person(self, user: JiraUser) -> str:
        """Draft the ``Person`` of a Jira user and return its key (:func:`person_key`)."""
        key = person_key(user)
        found = self.entities.get((_PERSON, key))
        if found is None:
            found = self.entities[(_PERSON, key)] = _Draft(_PERSON, key)
        found.name = user.display_name
        if user.email:
            found.identifiers["email"] = user.email.strip().lower()
            found.attributes["email"] = user.email.strip()
        return key

    # ------------------------------------------------------------------ links
    def links(self) -> None:
        """Map every issue link of the run once (it is listed on both its issues).

        A prerequisite link (:func:`link_prerequisite`) becomes ``REQUIRES``
        from the dependent issue to the prerequisite, when the vocabulary has
        it: a task or a project-like issue may require a task. A change linked
        with a project-like issue ``IMPLEMENTS`` it (attribute ``jiraLink``).
        Every other link is counted in one warning per file, link type and reason.
        """
        notes: Counter[tuple[str, str, str]] = Counter()
        seen: set[str] = set()
        for file in self.files:
            for issue in file.issues:
                for index, link in enumerate(issue.links):
                    if link.link_id is not None:
                        if link.link_id in seen:
                            continue
                        seen.add(link.link_id)
                    reason = self.link(file.path, issue, index, link)
                    if reason:
                        notes[(file.path, link.type_name, reason)] += 1
        for (path, type_name, reason), count in sorted(notes.items()):
            self.warn(path, "", f"skipped {count} {type_name!r} issue link(s): {reason}")

    def link(self, path: str, issue: JiraIssue, index: int, link: JiraLink) -> str | None:
        """Map one link; return why it was skipped, or ``None`` when it became a relation."""
        this, other = self.kind_of(issue.key, None), self.kind_of(link.other_key, link.other_type)
        first = link_prerequisite(link)
        if first is not None:
            pairs = {"this": (issue.key, this), "other": (link.other_key, other)}
            dependent, prerequisite = pairs["other" if first == "this" else "this"], pairs[first]
            if dependent[1] in (_TASK, _PROJECT) and prerequisite[1] is _TASK:
                element = f"{issue.element}/fields/issuelinks/{index}"
                note = FieldReference(
                    -1,
                    "to" if first == "other" else "from",
                    path,
                    element,
                    f"issue {issue.key}",
                    "issuelinks",
                    f"{link.phrase or link.type_name} {link.other_key!r}",
                )
                self.relate(
                    RelationType.REQUIRES,
                    (dependent[1], jira_key(dependent[0])),
                    (prerequisite[1], jira_key(prerequisite[0])),
                    {"jiraLink": link.phrase or link.type_name},
                    note,
                )
                return None
        if this is _CHANGE and other is _PROJECT:
            self.implements(issue.key, link.other_key, {"jiraLink": link.phrase or link.type_name})
            return None
        if this is _PROJECT and other is _CHANGE:
            self.implements(link.other_key, issue.key, {"jiraLink": link.phrase or link.type_name})
            return None
        if this is _CHANGE and other is _CHANGE:
            return "the vocabulary has no relation between two changes"
        if _CHANGE in (this, other):
            shown = (
                (link.other_type or "unknown")
                if this is _CHANGE
                else (issue.issue_type or "unknown")
            )
            return f"the vocabulary has no relation from a change to an issue of type {shown}"
        if first is not None:
            return (
                f"a {this.value if first == 'other' else other.value} cannot require a "
                f"{(other if first == 'other' else this).value}"
            )
        return "only prerequisite links (blocks, requires, depends on) map to a relation (REQUIRES)"

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
                    "every page in one run, or issues on the missing pages go stale",
                )


class JiraImporter(Importer[JiraFile]):
    """Jira REST responses -> ``Project``, ``Change``, ``Task`` and ``Person`` entities.

    Settings: ``changeTypes`` (comma-separated issue types imported as changes;
    default ``Change,Change Request,Deployment,Release,Maintenance``),
    ``projectIssueTypes`` (issue types imported as projects, e.g. ``Epic,Initiative``;
    default ``Epic``; an empty value imports epics as tasks), and
    ``changeTypeField``, ``riskField``, ``plannedStartField``,
    ``plannedEndField``, ``epicField`` (a field id such as ``customfield_10010``
    or a field name). See the package docstring for the mapping.
    """

    name: ClassVar[str] = "jira"
    default_source: ClassVar[str] = "jira"
    description: ClassVar[str] = "Jira REST JSON: projects, change-like issues and tasks"

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
