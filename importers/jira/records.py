"""What one Jira REST file says, as frozen records (the importer's parsed form)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "JiraFile",
    "JiraIssue",
    "JiraLink",
    "JiraLinkType",
    "JiraPage",
    "JiraProject",
    "JiraUser",
]


@dataclass(frozen=True, slots=True)
class JiraProject:
    """A project (``GET /rest/api/2/project/{key}``).

    Attributes:
        key: Project key (``ABDERA``).
        name: Project name.
        element: JSON pointer of the project in its file.
        jira_id: Numeric id, when given.
        project_type: ``projectTypeKey`` (``software``, ``service_desk``, ``business``).
        lead: The lead's display name (else user name, key or account id).
        lead_account: The lead's user name, key or account id.
        description: Project description.
        category: ``projectCategory.name``.
        url: The project's URL field.
        archived: ``archived`` (Jira Cloud), when given.
    """

    key: str
    name: str
    element: str
    jira_id: str | None = None
    project_type: str | None = None
    lead: str | None = None
    lead_account: str | None = None
    description: str | None = None
    category: str | None = None
    url: str | None = None
    archived: bool | None = None


@dataclass(frozen=True, slots=True)
class JiraLink:
    """One entry of an issue's ``fields.issuelinks`` as seen from that issue.

    Attributes:
        type_name: The link type's name (``Blocker``).
        direction: ``outward``: this issue -> the other (``this blocks other``);
            ``inward``: the other -> this issue.
        phrase: The link's wording from this issue's side (``blocks``, ``is blocked by``).
        other_key: The linked issue's key.
        other_type: The linked issue's type name, when the link embeds it.
        link_id: The link's id (the same on both issues), when given.
    """

    type_name: str
    direction: Literal["outward", "inward"]
    phrase: str
    other_key: str
    other_type: str | None
    link_id: str | None


@dataclass(frozen=True, slots=True)
class JiraUser:
    """A user named by an issue field (``fields.assignee``).

    Jira Server/Data Center names users by ``name``/``key``; Jira Cloud by
    ``accountId`` (and shows ``emailAddress`` only when the user's privacy
    settings allow).

    Attributes:
        account: ``accountId`` (Cloud), else ``name``, else ``key`` (Server).
        display_name: ``displayName`` (else the account).
        email: ``emailAddress``, when given and not empty.
    """

    account: str
    display_name: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class JiraIssue:
    """An issue (``GET /rest/api/2/issue/{key}`` or an element of a search result).

    Custom fields (change type, risk, planned start/end) are found while parsing,
    by the settings or by the field names of the response (``expand=names``);
    their values are kept as strings.

    Attributes:
        key: Issue key (``OPS-12``).
        element: JSON pointer of the issue in its file.
        issue_type: ``fields.issuetype.name`` (``""`` when absent).
        summary: ``fields.summary``.
        project_key: ``fields.project.key`` (else the key's prefix).
        project_name: ``fields.project.name``, when given.
        status: ``fields.status.name``.
        status_category: ``fields.status.statusCategory.key`` (``new``,
            ``indeterminate``, ``done``), absent in old Jira versions.
        resolution: ``fields.resolution.name``.
        priority: ``fields.priority.name``.
        change_type: The change type field's value (``Emergency``).
        risk: The risk field's value.
        planned_start: The planned start field's value, as written.
        planned_end: The planned end field's value, as written.
        parent_key: ``fields.parent.key``.
        epic_key: ``fields.epic.key`` (Agile API) or the ``Epic Link`` field.
        links: ``fields.issuelinks``.
        parent_type: ``fields.parent.fields.issuetype.name`` (Jira Cloud puts an
            issue's epic in ``parent``), when the response embeds it.
        self_url: The issue's ``self`` (its REST URL).
        assignee: ``fields.assignee``; ``None`` when unassigned.
        due_date: ``fields.duedate`` as written (a date: ``2024-06-01``).
        original_estimate_seconds: ``fields.timeoriginalestimate``, else
            ``fields.timetracking.originalEstimateSeconds``; ``None`` when unset.
    """

    key: str
    element: str
    issue_type: str
    summary: str = ""
    project_key: str = ""
    project_name: str | None = None
    status: str | None = None
    status_category: str | None = None
    resolution: str | None = None
    priority: str | None = None
    change_type: str | None = None
    risk: str | None = None
    planned_start: str | None = None
    planned_end: str | None = None
    parent_key: str | None = None
    epic_key: str | None = None
    links: tuple[JiraLink, ...] = ()
    parent_type: str | None = None
    self_url: str | None = None
    assignee: JiraUser | None = None
    due_date: str | None = None
    original_estimate_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class JiraLinkType:
    """One issue link type (``GET /rest/api/2/issueLinkType``).

    Attributes:
        name: Its name (``Blocker``).
        inward: Inward wording (``is blocked by``).
        outward: Outward wording (``blocks``).
    """

    name: str
    inward: str
    outward: str


@dataclass(frozen=True, slots=True)
class JiraPage:
    """Where a search result sits in the whole result.

    Attributes:
        start_at: ``startAt``.
        count: Issues in this file.
        total: ``total`` (``None`` when the response does not say).
    """

    start_at: int
    count: int
    total: int | None


@dataclass(frozen=True, slots=True)
class JiraFile:
    """One Jira REST response file.

    Attributes:
        path: The file, for messages.
        shape: What it holds: ``project``, ``projects``, ``issue``, ``issues`` (a bare
            array of issues), ``search`` or ``linkTypes``.
        projects: Its projects.
        issues: Its issues.
        link_types: Its link types.
        page: For a search result: which page it is.
    """

    path: str
    shape: str
    projects: tuple[JiraProject, ...] = ()
    issues: tuple[JiraIssue, ...] = ()
    link_types: tuple[JiraLinkType, ...] = ()
    page: JiraPage | None = None
