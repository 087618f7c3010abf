"""Reading task records: which table, status, effort durations, the record's page.

Pure helpers of :mod:`importers.servicenow.importer` for ``sc_task``,
``change_task`` and ``pm_project_task`` records (see the package docstring
for the mapping).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from importers.servicenow.records import SnowRecord

__all__ = [
    "STATE_LABELS",
    "TASK_ORIGINS",
    "TASK_PREFIXES",
    "TASK_STATES",
    "duration_hours",
    "instance_url",
    "task_status",
]

TASK_ORIGINS: dict[str, str] = {
    "sc_task": "itsm",
    "change_task": "itsm",
    "pm_project_task": "ppm",
}
"""Task tables -> the ``origin`` of their tasks (which side raised the work)."""

TASK_PREFIXES: dict[str, str] = {
    "SCTASK": "sc_task",
    "CTASK": "change_task",
    "PRJTASK": "pm_project_task",
}
"""Out-of-box number prefixes -> table, for records without ``sys_class_name``."""

TASK_STATES: dict[str, str] = {
    # codes of the task table (sc_task, change_task, planned_task and pm_project_task)
    "-5": "open",  # Pending
    "1": "open",
    "2": "in_progress",  # Work in Progress (change_task: In Progress)
    "3": "done",  # Closed Complete (change_task: Closed)
    "4": "cancelled",  # Closed Incomplete (change_task: Canceled)
    "7": "cancelled",  # Closed Skipped
    # labels (display values)
    "pending": "open",
    "open": "open",
    "work in progress": "in_progress",
    "in progress": "in_progress",
    "closed complete": "done",
    "closed": "done",
    "complete": "done",
    "closed incomplete": "cancelled",
    "closed skipped": "cancelled",
    "canceled": "cancelled",
    "cancelled": "cancelled",
}
"""Task ``state`` codes and labels -> the graph's task ``status``."""

STATE_LABELS: dict[str, str] = {
    "-5": "Pending",
    "1": "Open",
    "2": "Work in Progress",
    "3": "Closed Complete",
    "4": "Closed Incomplete",
    "7": "Closed Skipped",
}
"""Task-table ``state`` codes -> labels (a project's status when the export has no labels)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GLIDE_DURATION = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_DURATION_PARTS = re.compile(r"(\d+(?:\.\d+)?)\s*(day|hour|minute|second)s?", re.IGNORECASE)
_PER_HOUR = {"day": 24.0, "hour": 1.0, "minute": 1 / 60, "second": 1 / 3600}


def task_status(record: SnowRecord) -> str | None:
    """Return the graph ``status`` of a task record, or ``None`` when its state is unknown.

    The state's code decides, else its label (:data:`TASK_STATES`); a task
    that is not closed and whose ``on_hold`` is true (change tasks) is
    ``blocked``. ``None`` also when the record has no state.
    """
    state = record.fields.get("state")
    if state is None:
        return None
    mapped = TASK_STATES.get(state.value.strip().lower()) or TASK_STATES.get(
        (state.display or "").strip().lower()
    )
    if mapped in ("open", "in_progress") and record.value("on_hold").lower() == "true":
        return "blocked"
    return mapped


def duration_hours(raw: str) -> float | None:
    """Return a ServiceNow duration as hours, or ``None`` when it is not one.

    A ``glide_duration`` field (``effort``, ``duration``) comes from the Table
    API as a date-time counted from the epoch: ``1970-01-01 08:00:00`` is 8
    hours, ``1970-01-03 04:00:00`` is 52. Its display value reads ``2 Days 4
    Hours``. A plain number (a custom decimal field) is taken as hours.
    """
    text = raw.strip()
    if not text:
        return None
    if _GLIDE_DURATION.match(text):
        try:
            when = datetime.fromisoformat(text).replace(tzinfo=UTC)
        except ValueError:
            return None
        seconds = (when - _EPOCH).total_seconds()
        return seconds / 3600 if seconds >= 0 else None
    try:
        number = float(text)
    except ValueError:
        parts = _DURATION_PARTS.findall(text)
        if not parts:
            return None
        return sum(float(n) * _PER_HOUR[unit.lower()] for n, unit in parts)
    return number if number >= 0 and number == number and number != float("inf") else None


def instance_url(record: SnowRecord) -> str | None:
    """Return the instance's base URL (``https://x.service-now.com``) from a reference link.

    Table API references carry ``link`` = ``<instance>/api/now/table/<table>/<sys_id>``;
    ``None`` when no field of the record has one.
    """
    for found in record.fields.values():
        if found.link and "/api/now/" in found.link:
            return found.link.split("/api/now/", 1)[0]
    return None
