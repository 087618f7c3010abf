"""Jira importer (``graphsvc import jira project.json issues.json …``).

Reads Jira REST v2/v3 responses saved as JSON and tells their shape apart (see
:mod:`importers.jira.parser`): a project, a list or page of projects, a single
issue, a search result (``{"startAt", "total", "issues": [...]}``, also the Agile
sprint/board issue lists) and the issue link type catalogue. A file of another
shape raises :class:`~graphsvc.errors.ParseError` naming the file and the
reason; so does a file that is not JSON (for example truncated: the line and
column are named), a project or issue without a key, and an original
estimate that is not a number of seconds (their JSON pointer is named).

Mapping (keys are ``jira/<project or issue key>``; every project, change and
task carries the identifier ``jiraKey``):

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
* **Project-like issues** (the ``projectIssueTypes`` setting; ``Epic`` by
  default, ``projectIssueTypes=Epic,Initiative`` for more, an empty value for
  none) -> ``Project`` with ``projectType`` = the issue type, ``status``,
  ``priority`` and planned dates; a change whose parent or epic is such an
  issue ``IMPLEMENTS`` it too.
* **Every other issue** (Task, Story, Bug, Sub-task …) -> ``Task`` (PRODUCT.md
  section 7), with ``origin`` ``ppm`` and:

  - ``status``: a status named like blocked (``Blocked``, ``On Hold``,
    ``Impeded``, ``Waiting``) -> ``blocked``, one named like cancelled
    (``Cancelled``, ``Won't Do``, ``Declined``, ``Rejected``) -> ``cancelled``;
    else the status category (``new`` -> open, ``indeterminate`` ->
    in_progress, ``done`` -> done; old Jira without categories: the status
    name, ``Open`` -> open, ``In Progress`` -> in_progress, ``Closed`` ->
    done); a done issue resolved as Won't Do, Duplicate … is ``cancelled``. An
    unknown status is left out with a warning; an issue without a status
    field has none.
  - ``effortHours``: the original estimate (``timeoriginalestimate`` seconds,
    else ``timetracking.originalEstimateSeconds``) in hours.
  - ``due``: ``duedate``. Jira due dates are dates without a time or zone:
    a date is read as the start of that day in UTC (``2024-06-01`` ->
    ``2024-06-01T00:00:00+00:00``). ``plannedStart``: the start date field
    (``Start date``, ``Planned start`` … found through ``names``, or the
    ``plannedStartField`` setting), read the same way.
  - ``externalUrl``: the issue's page, ``<base>/browse/<KEY>``, where
    ``<base>`` is the ``self`` URL up to ``/rest/`` (context path kept).
  - ``issueType``, ``jiraStatus``, ``priority``, ``resolution``.

  Relations: the task is ``PART_OF`` its Jira project and ``PART_OF`` its epic
  (``fields.parent`` or the epic field) when that is a project-like issue; a
  parent that is not (a sub-task's parent task) gives no relation, since the
  vocabulary has no task hierarchy. The assignee becomes a ``Person``
  (key: the e-mail address in lower case when the response shows it, so
  that other sources' people merge; else ``jira/user/<accountId or user
  name>``; attribute and identifier ``email``) and the task is ``ASSIGNED_TO`` it.

Issue links. Jira lists a link on both its issues (counted once, by link id);
from an issue's side ``outwardIssue`` reads "this <outward wording> other" and
``inwardIssue`` "this <inward wording> other". Prerequisite links become
``REQUIRES`` from the issue that waits to the one that must be done first,
decided by the wording so that sites that name the types differently agree:
``blocks``, ``is required by``, ``is depended (upon) by`` say this issue comes
first; ``is blocked by``, ``requires``, ``depends on`` say the other does; a
type named ``Blocks``/``Blocker`` whose wording says neither is read by
direction (outward: this blocks the other). So if A blocks B, B ``REQUIRES`` A.
The vocabulary allows a task or project-like issue to require a task; a
linked issue outside the run whose type the link does not show is taken to be
a task, and when the store does not hold it either the runner reports it in
Jira's words (``issue INFRA-23: issuelinks 'is blocked by SEC-7' …``) and
leaves the relation out. A link between a change and a project-like issue
becomes ``IMPLEMENTS`` (attribute ``jiraLink`` keeps the wording). Every other
link (between two changes, a change and a task, or a non-prerequisite link
such as Relates) is counted in one warning per file, link type and reason.

Search results are pages: when the search results of a run do not cover
``total``, a warning says so, because a complete run marks the issues on the
missing pages stale. The link type catalogue is accepted (so a whole export
folder can be imported) and maps to nothing.
"""

from importers.jira.importer import JiraImporter

__all__ = ["JiraImporter"]
