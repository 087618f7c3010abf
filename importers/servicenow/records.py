"""What one ServiceNow export file says, as frozen records (the importer's parsed form)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["SnowField", "SnowFile", "SnowRecord", "SnowTable"]


class SnowTable(StrEnum):
    """Which family of tables a record comes from (decides how it is mapped)."""

    CI = "cmdb_ci"
    """``cmdb_ci`` and every class extending it (servers, services, applications …)."""
    RELATION = "cmdb_rel_ci"
    """CI relationships (``parent``, ``child``, ``type``)."""
    RELATION_TYPE = "cmdb_rel_type"
    """Relationship types (``name`` = ``Parent descriptor::Child descriptor``)."""
    GROUP = "sys_user_group"
    """User groups (teams)."""
    CHANGE = "change_request"
    """Change requests."""
    TASK = "task"
    """Tasks: ``sc_task``, ``change_task`` and ``pm_project_task`` records."""
    PROJECT = "pm_project"
    """PPM projects (``pm_project``): the targets of project tasks' ``top_task``."""
    TASK_CI = "task_ci"
    """Affected CIs of tasks (``task``, ``ci_item``): a change's Affected CIs related list."""
    OTHER = "other"
    """Any other table: skipped with a warning."""


@dataclass(frozen=True, slots=True)
class SnowField:
    """One field of a record, whatever way the Table API rendered it.

    A plain field is ``"text"``; a reference is ``{"link": url, "value": sys_id}``;
    with ``sysparm_display_value=all`` every field is ``{"display_value", "value"
    [, "link"]}``; with ``sysparm_display_value=true`` a reference is
    ``{"display_value", "link"}`` (the sys_id is then read from the link).

    Attributes:
        value: The raw value (a sys_id for references, a code for choices);
            ``""`` when empty.
        display: The display value, when the export carries one.
        link: The referenced record's URL, for references.
    """

    value: str
    display: str | None = None
    link: str | None = None

    @property
    def label(self) -> str:
        """The display value when there is one, else the raw value."""
        return self.display if self.display else self.value


@dataclass(frozen=True, slots=True)
class SnowRecord:
    """One record of a Table API (or CMDB Instance API) response.

    Attributes:
        table: The table family it belongs to.
        sys_class: Its class: ``sys_class_name`` when present, else the table
            named by the ``table`` setting or the file name.
        element: Where it is in the file, as a JSON pointer (``/result/3``).
        fields: Its fields by name; nested values other than references are dropped.
        display_only: The export holds display values only
            (``sysparm_display_value=true``): a reference carries
            ``display_value`` without ``value``, or a change's ``state`` is a
            label rather than its code. Its date-times are then in the
            exporting user's time zone, not UTC.
    """

    table: SnowTable
    sys_class: str
    element: str
    fields: Mapping[str, SnowField]
    display_only: bool = False

    def value(self, name: str) -> str:
        """Return the raw value of field ``name`` stripped (``""`` when absent)."""
        found = self.fields.get(name)
        return found.value.strip() if found else ""

    def label(self, name: str) -> str:
        """Return the display value of field ``name`` (else its raw value), stripped."""
        found = self.fields.get(name)
        return found.label.strip() if found else ""

    @property
    def sys_id(self) -> str:
        """The record's ``sys_id`` (``""`` when absent)."""
        return self.value("sys_id")


@dataclass(frozen=True, slots=True)
class SnowFile:
    """One ServiceNow export file.

    Attributes:
        path: The file, for messages.
        records: Its records in file order.
    """

    path: str
    records: tuple[SnowRecord, ...]
