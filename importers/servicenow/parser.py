"""Reading a ServiceNow export file into :class:`~importers.servicenow.records.SnowFile`.

Accepted shapes (anything else is a :class:`~graphsvc.errors.ParseError`):

* Table API: ``{"result": [record, …]}`` (one record: ``{"result": {…}}``);
* CMDB Instance API: ``{"result": {"attributes": {…}, "outbound_relations": […],
  "inbound_relations": […]}}``; its relations become ``cmdb_rel_ci`` records;
* a JSONv2 export ``{"records": […]}`` and a bare array of records.

Each record's table is told, in this order, by the ``table`` setting, by its
``sys_class_name``, by a table name in the file name (``…cmdb_ci_server…``,
``…sys_user_group…``, ``…task_ci…``), or by its fields (``parent``/``child``/
``type`` is a relationship, ``parent_descriptor`` a relationship type,
``task``/``ci_item`` an affected CI, a ``CHG…`` number a change request, an
``SCTASK…``, ``CTASK…`` or ``PRJTASK…`` number a task of ``sc_task``,
``change_task`` or ``pm_project_task``, a ``PRJ…`` number a ``pm_project``).

Change requests and affected CIs are checked field by field, since their
number and references become keys and relations (each failure is a
:class:`~graphsvc.errors.ParseError` naming the file, the JSON pointer of the
field and the record's sys_id):

* a change, a task and a project need a ``number``, a string (``"CHG0000001"`` or
  ``{"display_value": "CHG0000001", "value": "CHG0000001"}``): a number, an
  array or an empty value is refused;
* a reference (``cmdb_ci``, ``business_service``, ``service_offering``,
  ``assignment_group``, ``assigned_to``, ``requested_by``; a task's
  ``cmdb_ci``, ``assignment_group``, ``assigned_to``, ``change_request``,
  ``top_task``, ``project``; a ``task_ci`` row's ``task`` and ``ci_item``) is
  an object with a string ``value`` and/or
  ``display_value``/``link``, a bare 32-character sys_id (what
  ``sysparm_exclude_reference_link=true`` gives), or empty. Any other string
  (a name, as a display-values-only export without links gives) is refused:
  nothing could resolve it;
* a ``task_ci`` row needs both its ``task`` and its ``ci_item``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from graphsvc.errors import ParseError
from importers.servicenow.codes import SERVICE_CLASSES
from importers.servicenow.records import SnowField, SnowFile, SnowRecord, SnowTable
from importers.servicenow.tasks import TASK_ORIGINS, TASK_PREFIXES

__all__ = [
    "CHANGE_REFERENCES",
    "TASK_CI_REFERENCES",
    "TASK_REFERENCES",
    "classify",
    "parse_servicenow_json",
]

_TABLE_IN_NAME = re.compile(
    r"(cmdb_rel_ci|cmdb_rel_type|sys_user_group|change_request|service_offering|task_ci"
    r"|sc_task|change_task|pm_project_task|pm_project|cmdb_ci(?:_[a-z0-9]+)*)"
)
_SYS_ID = re.compile(r"^[0-9a-fA-F]{32}$")
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_STATE_CODE = re.compile(r"^-?\d+$")
CHANGE_REFERENCES = (
    "cmdb_ci",
    "business_service",
    "service_offering",
    "assignment_group",
    "assigned_to",
    "requested_by",
)
"""Reference fields of ``change_request`` that the importer reads."""
TASK_REFERENCES = (
    "cmdb_ci",
    "assignment_group",
    "assigned_to",
    "change_request",
    "top_task",
    "project",
)
"""Reference fields of task records (``sc_task``, ``change_task``, ``pm_project_task``)."""
TASK_CI_REFERENCES = ("task", "ci_item")
"""Reference fields of ``task_ci`` (both required)."""


def classify(sys_class: str, service_classes: frozenset[str] = SERVICE_CLASSES) -> SnowTable:
    """Return the table family of class (or table) ``sys_class``."""
    name = sys_class.strip().lower()
    if name == "cmdb_rel_ci":
        return SnowTable.RELATION
    if name == "cmdb_rel_type":
        return SnowTable.RELATION_TYPE
    if name == "sys_user_group":
        return SnowTable.GROUP
    if name.startswith("change_request"):
        return SnowTable.CHANGE
    if name == "task_ci":
        return SnowTable.TASK_CI
    if name in TASK_ORIGINS:
        return SnowTable.TASK
    if name == "pm_project":
        return SnowTable.PROJECT
    if name.startswith("cmdb_ci") or name in service_classes:
        return SnowTable.CI
    return SnowTable.OTHER


def _field(raw: object) -> SnowField | None:
    """Read one field value; ``None`` for values that are not fields (lists, objects)."""
    if raw is None:
        return SnowField("")
    if isinstance(raw, bool):
        return SnowField("true" if raw else "false")
    if isinstance(raw, str):
        return SnowField(raw)
    if isinstance(raw, int | float):
        return SnowField(str(raw))
    if isinstance(raw, Mapping) and {"value", "display_value", "link"} & raw.keys():
        value, display, link = raw.get("value"), raw.get("display_value"), raw.get("link")
        text = _field(value)
        shown = _field(display)
        url = link if isinstance(link, str) and link else None
        raw_value = text.value if text is not None else ""
        if not raw_value and value is None and url:
            # sysparm_display_value=true: references carry only display_value and link
            raw_value = url.rstrip("/").rsplit("/", 1)[-1]
        return SnowField(
            raw_value, shown.value if shown is not None and display is not None else None, url
        )
    return None


def _describe(value: object) -> str:
    """Name a JSON value's type (and a short form of it) for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else f"{value[:57]}..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _display_only(raw: Mapping[str, object], table: SnowTable) -> bool:
    """Whether a record comes from a display-values-only export (``sysparm_display_value=true``)."""
    for value in raw.values():
        if isinstance(value, Mapping) and "display_value" in value and "value" not in value:
            return True
    if table in (SnowTable.CHANGE, SnowTable.TASK, SnowTable.PROJECT):
        state = raw.get("state")
        if isinstance(state, str) and state.strip() and not _STATE_CODE.match(state.strip()):
            return True  # a label ("New"): raw exports give the code ("-5")
    return False


def _class_name(fields: Mapping[str, SnowField]) -> str:
    """The table a record's ``sys_class_name`` names (``""``: none, or not a table name).

    A display-values-only export gives the class's label (``Change Request``):
    a label whose words make a known table name is read as that table; any
    other label is not a table name, and the file name or the fields decide.
    """
    found = fields.get("sys_class_name")
    name = found.value.strip() if found is not None else ""
    if not name or _TABLE_NAME.match(name):
        return name
    guess = "_".join(name.lower().split())
    return guess if classify(guess) is not SnowTable.OTHER else ""


def _fields(raw: Mapping[str, object]) -> dict[str, SnowField]:
    out: dict[str, SnowField] = {}
    for name, value in raw.items():
        parsed = _field(value)
        if parsed is not None:
            out[str(name)] = parsed
    return out


class _Reader:
    def __init__(self, path: Path, table: str | None) -> None:
        self.name = str(path)
        self.table = table.strip().lower() if table else None
        match = _TABLE_IN_NAME.search(path.name.lower())
        self.name_table = match.group(1) if match else None
        self.records: list[SnowRecord] = []

    def fail(self, element: str, reason: str) -> ParseError:
        return ParseError(self.name, element, reason)

    def add(self, raw: object, element: str) -> None:
        if not isinstance(raw, Mapping):
            raise self.fail(element, f"a record must be a JSON object, got {type(raw).__name__}")
        fields = _fields(raw)
        sys_class = self.table or _class_name(fields)
        if not sys_class:
            sys_class = self.name_table or self._by_shape(fields)
        if not sys_class:
            raise self.fail(
                element,
                "cannot tell which table this record comes from: it has no sys_class_name, "
                "the file name names no known table (cmdb_ci…, cmdb_rel_ci, cmdb_rel_type, "
                "sys_user_group, change_request, task_ci, sc_task, change_task, "
                "pm_project_task, pm_project) and its fields match none "
                "(give the table with --set table=NAME)",
            )
        table = classify(sys_class)
        if table in (
            SnowTable.CI,
            SnowTable.GROUP,
            SnowTable.CHANGE,
            SnowTable.RELATION_TYPE,
            SnowTable.TASK,
            SnowTable.PROJECT,
        ):
            sys_id = fields.get("sys_id")
            if sys_id is None or not sys_id.value.strip():
                raise self.fail(f"{element}/sys_id", f"a {table.value} record needs a sys_id")
        found = fields.get("sys_id")
        record = f"the {table.value} record" + (
            f" (sys_id {found.value.strip()})" if found is not None and found.value.strip() else ""
        )
        if table is SnowTable.CHANGE:
            self.check_number(raw, element, record)
            self.check_references(raw, element, CHANGE_REFERENCES, record)
        elif table in (SnowTable.TASK, SnowTable.PROJECT):
            example = {"pm_project": "PRJ0010001"}.get(sys_class.lower(), "SCTASK0010001")
            self.check_number(raw, element, record, example, "record")
            self.check_references(raw, element, TASK_REFERENCES, record)
        elif table is SnowTable.TASK_CI:
            self.check_references(raw, element, TASK_CI_REFERENCES, record, required=True)
        self.records.append(
            SnowRecord(table, sys_class.lower(), element, fields, _display_only(raw, table))
        )

    def check_number(
        self,
        raw: Mapping[str, object],
        element: str,
        record: str,
        example: str = "CHG0000001",
        what: str = "change",
    ) -> None:
        """Refuse a record whose ``number`` (its key) is missing, empty or not a string.

        ``record`` names the record in messages (``the change_request record
        (sys_id …)``); ``example`` is a number of its table, ``what`` its noun.
        """
        where = f"{element}/number"
        number = raw.get("number")
        text: object = number
        if isinstance(number, Mapping):
            for part in ("value", "display_value"):
                got = number.get(part)
                if got is not None and not isinstance(got, str):
                    raise self.fail(
                        f"{where}/{part}",
                        f"{record} has a number that is "
                        f"not a string: expected text such as {example!r}, got {_describe(got)}",
                    )
            text = number.get("value") or number.get("display_value")
        elif number is not None and not isinstance(number, str):
            raise self.fail(
                where,
                f"{record} has a number that is not a "
                f"string: expected text such as {example!r}, got {_describe(number)}",
            )
        if not isinstance(text, str) or not text.strip():
            raise self.fail(
                where,
                f"{record} has no number: a {what} is known by its number "
                f"({example[:-7]}…), which is its key",
            )

    def check_references(
        self,
        raw: Mapping[str, object],
        element: str,
        names: tuple[str, ...],
        record: str,
        *,
        required: bool = False,
    ) -> None:
        """Refuse reference fields of a record that no sys_id can be read from.

        ``record`` names the record in messages; with ``required`` every field
        of ``names`` must be set.
        """
        expected = (
            'a reference: an object {"value": sys_id, "link": url} (with '
            "sysparm_display_value=all also display_value), or a bare 32-character sys_id"
        )
        for name in names:
            value = raw.get(name)
            where = f"{element}/{name}"
            if value is None or value == "" or (isinstance(value, Mapping) and not value):
                if required:
                    raise self.fail(
                        where, f"{record} has no {name}: a task_ci row needs {' and '.join(names)}"
                    )
                continue
            if isinstance(value, str):
                if _SYS_ID.match(value.strip()):
                    continue
                raise self.fail(
                    where,
                    f"{record}: {name} must be {expected}; got {_describe(value)}, which no "
                    "sys_id can be read from (export with sysparm_display_value=all, or "
                    "without sysparm_exclude_reference_link)",
                )
            if not isinstance(value, Mapping):
                raise self.fail(
                    where, f"{record}: {name} must be {expected}; got {_describe(value)}"
                )
            if not {"value", "display_value", "link"} & value.keys():
                raise self.fail(
                    where,
                    f"{record}: {name} must be {expected}; got an object with keys "
                    f"{', '.join(sorted(map(str, value)))}",
                )
            for part in ("value", "display_value", "link"):
                got = value.get(part)
                if got is not None and not isinstance(got, str):
                    raise self.fail(
                        f"{where}/{part}",
                        f"{record}: the {part} of reference {name} must be a string, "
                        f"got {_describe(got)}",
                    )
            if required and not (value.get("value") or value.get("link")):
                raise self.fail(
                    where, f"{record} has no {name}: a task_ci row needs {' and '.join(names)}"
                )

    @staticmethod
    def _by_shape(fields: Mapping[str, SnowField]) -> str:
        if {"parent", "child", "type"} <= fields.keys():
            return "cmdb_rel_ci"
        if {"parent_descriptor", "child_descriptor"} <= fields.keys():
            return "cmdb_rel_type"
        if {"task", "ci_item"} <= fields.keys():
            return "task_ci"
        number = fields.get("number", SnowField("")).value.upper()
        if number.startswith("CHG"):
            return "change_request"
        for prefix, table in TASK_PREFIXES.items():
            if number.startswith(prefix):
                return table
        if number.startswith("PRJ"):
            return "pm_project"
        return ""

    def instance(self, raw: Mapping[str, object]) -> None:
        """CMDB Instance API: one CI plus its relations."""
        attributes = raw.get("attributes")
        if not isinstance(attributes, Mapping):
            raise self.fail("/result/attributes", "must be a JSON object")
        before = len(self.records)
        self.add(attributes, "/result/attributes")
        ci = self.records[before]
        for side in ("outbound_relations", "inbound_relations"):
            relations = raw.get(side, [])
            if not isinstance(relations, list):
                raise self.fail(f"/result/{side}", "must be a JSON array")
            for index, rel in enumerate(relations):
                element = f"/result/{side}/{index}"
                if not isinstance(rel, Mapping):
                    raise self.fail(element, "a relation must be a JSON object")
                target, rel_type = _field(rel.get("target")), _field(rel.get("type"))
                if target is None or rel_type is None or not target.value:
                    raise self.fail(element, "a relation needs a type and a target")
                this = SnowField(ci.sys_id)
                parent, child = (this, target) if side == "outbound_relations" else (target, this)
                fields = {"parent": parent, "child": child, "type": rel_type}
                if isinstance(rel.get("sys_id"), str):
                    fields["sys_id"] = SnowField(str(rel["sys_id"]))
                self.records.append(SnowRecord(SnowTable.RELATION, "cmdb_rel_ci", element, fields))


def _decode(path: Path) -> object:
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(name, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(name, f"byte {exc.start}", "not UTF-8 text") from None
    try:
        raw: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            name, f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}"
        ) from None
    except RecursionError:
        raise ParseError(name, "", "not valid JSON: nested too deeply") from None
    return raw


def parse_servicenow_json(path: Path, *, table: str | None = None) -> SnowFile:
    """Read one ServiceNow JSON export (see the module docstring for the shapes).

    Args:
        path: The file.
        table: Table all its records come from, overriding ``sys_class_name``
            and the file name (the ``table`` setting).

    Raises:
        ParseError: naming the file, the line/column or JSON pointer, and the
            reason, when the file is not JSON (truncated, for example), not one
            of the accepted shapes, an error response, or holds a record whose
            table cannot be told or that lacks its sys_id.
    """
    raw = _decode(path)
    reader = _Reader(path, table)
    if isinstance(raw, Mapping) and "result" in raw:
        result = raw["result"]
        if isinstance(result, list):
            for index, record in enumerate(result):
                reader.add(record, f"/result/{index}")
        elif isinstance(result, Mapping) and isinstance(result.get("attributes"), Mapping):
            reader.instance(result)
        elif isinstance(result, Mapping):
            reader.add(result, "/result")
        else:
            raise reader.fail("/result", "must be a JSON array of records or one record")
    elif isinstance(raw, Mapping) and isinstance(raw.get("records"), list):
        for index, record in enumerate(raw["records"]):
            reader.add(record, f"/records/{index}")
    elif isinstance(raw, list):
        for index, record in enumerate(raw):
            reader.add(record, f"/{index}")
    elif isinstance(raw, Mapping) and "error" in raw:
        error = raw["error"]
        message = error.get("message") if isinstance(error, Mapping) else error
        raise reader.fail("/error", f"the file is a ServiceNow error response: {message}")
    else:
        if isinstance(raw, Mapping):
            got = f"an object with keys {', '.join(sorted(map(str, raw)))}" if raw else "{}"
        else:
            got = f"a JSON {type(raw).__name__}"
        raise reader.fail(
            "/",
            'not a ServiceNow Table API response: expected {"result": [...]} '
            f"(or a CMDB Instance API response, or an array of records), got {got}",
        )
    return SnowFile(reader.name, tuple(reader.records))
