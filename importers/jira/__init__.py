"""Jira importer (``graphsvc import jira project.json issues.json …``).

Reads Jira REST v2/v3 responses saved as JSON and tells their shape apart (see
:mod:`importers.jira.parser`): a project, a list or page of projects, a single
issue, a search result (``{"startAt", "total", "issues": [...]}``, also the Agile
sprint/board issue lists) and the issue link type catalogue. A file of another
shape raises :class:`~graphsvc.errors.ParseError` naming the file and the
reason; so does a file that is not JSON (for example truncated: the line and
column are named) and a project or issue without a key (its JSON pointer is
named).

Mapping (keys are ``jira/<project or issue key>``; every entity carries the
identifier ``jiraKey``):

* **Projects** -> ``Project``: ``projectType`` (``projectTypeKey``), ``sponsor``
  (the project lead's display name: Jira has no sponsor field, and the lead is
  the person accountable for the project), ``lead`` (the lead's user name or
  account id), ``description``, ``category``, ``url``, ``jiraId``, and
  ``status`` ``archived``/``active`` when the response says (Jira Cloud). A
  project that only appears as ``fields.project`` of an imported change is
  created with its key and name, so that the change's ``IMPLEMENTS`` has a target.
* **Change-like issues** -> ``Change``: issue types ``Change``, ``Change
  Request``, ``Deployment``, ``Release`` and ``Maintenance`` (case-insensitive;
  the ``changeTypes`` setting replaces the list, e.g. ``changeTypes=Change,Deployment``),
  with these attributes:

  - ``state``: from the status name when it is a known one (``Scheduled`` ->
    scheduled, ``Implementing``/``In Progress`` -> implement, ``In Review`` ->
    review, ``Awaiting approval``/``Planning`` -> assess, ``Declined``/``Canceled``
    -> cancelled, ``Open``/``To Do`` -> new, ``Done``/``Closed``/``Resolved`` ->
    closed), else from the status category (``new`` -> new, ``indeterminate`` ->
    implement, ``done`` -> closed); a closed issue resolved as Won't Do,
    Declined, Duplicate … is ``cancelled``. A status that tells nothing leaves
    ``state`` out, with a warning.
  - ``changeType``: the change type field (Jira Service Management's ``Change
    type``, or the ``changeTypeField`` setting) mapped to standard / normal /
    emergency; else ``emergency``/``standard`` when the issue type's name says
    so; else ``normal``. An unknown value gives ``normal`` and a warning.
  - ``plannedStart`` / ``plannedEnd``: the planned start/end fields (``Planned
    start``, ``Planned end``, ``Change start date``, ``Change completion date``
    found through the response's ``names``, i.e. ``expand=names``; or the
    ``plannedStartField`` / ``plannedEndField`` settings), only when the value is
    a date-time with a time zone (Jira writes ``2024-05-01T22:00:00.000+0200``);
    a date without a zone is left out with a warning.
  - ``risk`` (the ``Change risk``/``Risk`` field or ``riskField``),
    ``issueType``, ``jiraStatus``, ``priority``, ``resolution``.

  Each change ``IMPLEMENTS`` its project.
* **Project-like issues** (the ``projectIssueTypes`` setting, e.g.
  ``projectIssueTypes=Epic,Initiative``; none by default) -> ``Project`` with
  ``projectType`` = the issue type, ``status``, ``priority`` and planned dates;
  a change whose parent or epic is such an issue ``IMPLEMENTS`` it too.
* **Other issues** are skipped; one warning per file gives the count per type.

Issue links: the vocabulary allows a relation between a change and a project
only (``IMPLEMENTS``). A link between a change and a project-like issue becomes
``IMPLEMENTS`` (attribute ``jiraLink`` keeps the link's wording); links between
two changes, or from a change to any other issue, have no relation in the
vocabulary and are counted in one warning per link type and reason. A link
listed on both of its issues is counted once.

Search results are pages: when the search results of a run do not cover
``total``, a warning says so, because a complete run marks the changes on the
missing pages stale. The link type catalogue is accepted (so a whole export
folder can be imported) and maps to nothing.
"""

from importers.jira.importer import JiraImporter

__all__ = ["JiraImporter"]
