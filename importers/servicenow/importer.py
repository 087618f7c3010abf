"""The ServiceNow importer: Table API exports -> CIs, services, teams, changes, tasks, relations."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import JsonValue

from graphsvc.errors import ParseError
from graphsvc.ingest.importer import (
    FieldReference,
    Importer,
    ImporterOptions,
    ImportResult,
    ImportWarning,
)
from graphsvc.model.batch import EntityItem, EntityRef, RelationItem
from graphsvc.model.vocabulary import VOCABULARY, EntityKind, RelationType
from importers.servicenow.changes import (
    CHANGE_TEXTS,
    TIME_ZONE_SETTING,
    change_number,
    read_time_zone,
    snow_datetime,
    text_block,
)
from importers.servicenow.codes import (
    CHANGE_STATES,
    CHANGE_TYPES,
    INSTALL_STATUS,
    OOB_REL_TYPE_IDS,
    OPERATIONAL_STATUS,
    RISKS,
    SERVICE_CLASSES,
    rel_mapping,
)
from importers.servicenow.parser import parse_servicenow_json
from importers.servicenow.records import SnowField, SnowFile, SnowRecord, SnowTable
from importers.servicenow.tasks import (
    STATE_LABELS,
    TASK_ORIGINS,
    duration_hours,
    instance_url,
    task_status,
)

__all__ = ["ServiceNowImporter", "snow_key"]

_CI, _SERVICE, _TEAM, _CHANGE, _PERSON, _TASK, _PROJECT = (
    EntityKind.CONFIGURATION_ITEM,
    EntityKind.SERVICE,
    EntityKind.TEAM,
    EntityKind.CHANGE,
    EntityKind.PERSON,
    EntityKind.TASK,
    EntityKind.PROJECT,
)
_TASK_STARTS = ("expected_start", "start_date", "planned_start_date", "work_start")
"""Task fields read, in this order, as ``plannedStart``."""
_TASK_EFFORTS = ("effort", "planned_effort", "estimated_work")
"""Task fields read, in this order, as ``effortHours``."""
_SYS_ID = "servicenowSysId"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "localhost6", "ip6-localhost"})
_JUNK_SERIALS = frozenset(
    {
        "0",
        "none",
        "null",
        "n/a",
        "na",
        "unknown",
        "not specified",
        "not available",
        "to be filled by o.e.m.",
        "default string",
        "system serial number",
        "chassis serial number",
        "serial",
        "0123456789",
        "123456789",
    }
)
_ENVIRONMENTS = {
    "production": "prod",
    "prod": "prod",
    "staging": "staging",
    "qa": "qa",
    "test": "test",
    "development": "dev",
    "dev": "dev",
    "disaster recovery": "dr",
    "lab": "lab",
    "demonstration": "demo",
}
_TEXT_FIELDS = (
    ("os", "os"),
    ("os_version", "osVersion"),
    ("os_service_pack", "osServicePack"),
    ("asset_tag", "assetTag"),
    ("category", "category"),
    ("subcategory", "subcategory"),
    ("short_description", "shortDescription"),
    ("model_number", "modelNumber"),
    ("dns_domain", "dnsDomain"),
    ("correlation_id", "correlationId"),
)
_DISPLAYED_REFERENCES = (
    ("location", "location"),
    ("company", "company"),
    ("manufacturer", "manufacturer"),
    ("model_id", "model"),
    ("department", "department"),
    ("cost_center", "costCenter"),
)
_USER_REFERENCES = (
    ("owned_by", "ownedBy"),
    ("managed_by", "managedBy"),
    ("supported_by", "supportedBy"),
    ("assigned_to", "assignedTo"),
)
_INTEGERS = (("cpu_count", "cpuCount"), ("cpu_core_count", "cpuCoreCount"), ("ram", "ramMb"))
_NUMBERS = (("disk_space", "diskSpaceGb"), ("cpu_speed", "cpuSpeedMhz"))


def snow_key(sys_id: str) -> str:
    """Return the natural key of the record ``sys_id`` (every kind but ``Change``).

    A change's key is its number (``CHG0000001``); its sys_id is its
    ``servicenowSysId`` identifier.
    """
    return f"snow/{sys_id}"


def _ref_id(ref: EntityRef) -> tuple[str, str]:
    """A relation end as sortable text: its kind and its key (or identifiers)."""
    if ref.key is not None:
        return (ref.kind.value, ref.key)
    return (
        ref.kind.value,
        ",".join(f"{t}={v}" for t, v in sorted((ref.identifiers or {}).items())),
    )


def _shown(ref_display: str, sys_id: str) -> str:
    """What a reference field says, for messages: ``'name' (sys_id …)`` or ``sys_id …``."""
    return f"{ref_display!r} (sys_id {sys_id})" if ref_display else f"sys_id {sys_id}"


@dataclass(slots=True)
class _Draft:
    kind: EntityKind
    key: str
    name: str = ""
    status: Literal["active", "retired"] | None = None
    identifiers: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, JsonValue] = field(default_factory=dict)

    def item(self) -> EntityItem:
        return EntityItem(
            kind=self.kind,
            key=self.key,
            name=self.name,
            status=self.status,
            identifiers=dict(sorted(self.identifiers.items())),
            attributes=dict(sorted(self.attributes.items())),
        )


@dataclass(slots=True)
class _Skipped:
    path: str
    element: str
    count: int = 0


_Triple = tuple[str, str, str, str, str]


class _Run:
    """The state of one transform (pure: fed only from the parsed files).

    Raises:
        ParseError: from the constructor, when two change records of the run
            share a number but not a sys_id, or one sys_id comes with two numbers.
    """

    def __init__(
        self,
        files: Sequence[SnowFile],
        service_classes: frozenset[str],
        time_zone: tzinfo | None = None,
    ) -> None:
        self.files = files
        self.service_classes = service_classes
        self.time_zone = time_zone
        self.entities: dict[tuple[EntityKind, str], _Draft] = {}
        self.relations: dict[_Triple, RelationItem] = {}
        self.notes: dict[_Triple, list[FieldReference]] = {}
        self.warnings: list[ImportWarning] = []
        self.skipped_types: dict[str, _Skipped] = {}
        self.kind_of: dict[str, EntityKind] = {}
        self.groups: set[str] = set()
        self.names: dict[str, str] = {}
        self.change_numbers: dict[str, str] = {}
        self.task_numbers: dict[str, str] = {}  # sys_id -> number, tasks of the run
        self.project_numbers: dict[str, str] = {}  # sys_id -> number, pm_project of the run
        self.rel_type_names: dict[str, str] = dict(OOB_REL_TYPE_IDS)
        numbered: dict[str, tuple[str, str, str]] = {}  # number -> sys_id, path, element
        for file in files:
            for record in file.records:
                if record.table is SnowTable.CI:
                    self.kind_of[record.sys_id] = self.ci_kind(record)
                    self.names[record.sys_id] = record.label("name")
                elif record.table is SnowTable.GROUP:
                    self.groups.add(record.sys_id)
                    self.names[record.sys_id] = record.label("name")
                elif record.table is SnowTable.CHANGE:
                    self.number_change(file.path, record, numbered)
                elif record.table is SnowTable.TASK:
                    self.task_numbers[record.sys_id] = change_number(record)
                elif record.table is SnowTable.PROJECT:
                    self.project_numbers[record.sys_id] = change_number(record)
                elif record.table is SnowTable.RELATION_TYPE:
                    name = record.value("name") or (
                        f"{record.value('parent_descriptor')}::{record.value('child_descriptor')}"
                    )
                    self.rel_type_names[record.sys_id] = name

    def number_change(
        self, path: str, record: SnowRecord, numbered: dict[str, tuple[str, str, str]]
    ) -> None:
        """Note a change's number (its key), refusing numbers that name two changes."""
        number = change_number(record)
        where = f"{record.element}/number"
        before = self.change_numbers.get(record.sys_id)
        if before is not None and before != number:
            raise ParseError(
                path,
                where,
                f"the change_request record (sys_id {record.sys_id}) has number {number!r} "
                f"here and {before!r} in another record of this import",
            )
        owner = numbered.get(number)
        if owner is not None and owner[0] != record.sys_id:
            raise ParseError(
                path,
                where,
                f"change number {number!r} names two change_request records: sys_id "
                f"{record.sys_id} here and sys_id {owner[0]} at {owner[1]}: {owner[2]}; a "
                "change's number is its key (exports of two ServiceNow instances go in "
                "separate imports)",
            )
        self.change_numbers[record.sys_id] = number
        numbered.setdefault(number, (record.sys_id, path, record.element))

    # ------------------------------------------------------------- helpers
    def ci_kind(self, record: SnowRecord) -> EntityKind:
        return _SERVICE if record.sys_class in self.service_classes else _CI

    def warn(self, path: str, element: str, message: str) -> None:
        self.warnings.append(ImportWarning(path, element, message))

    def draft(self, kind: EntityKind, sys_id: str) -> _Draft:
        return self.draft_key(kind, snow_key(sys_id))

    def draft_key(self, kind: EntityKind, key: str) -> _Draft:
        found = self.entities.get((kind, key))
        if found is None:
            found = self.entities[(kind, key)] = _Draft(kind, key)
        return found

    def relate(
        self,
        type_: RelationType,
        from_: tuple[EntityKind, str],
        to: tuple[EntityKind, str],
        attributes: dict[str, JsonValue] | None = None,
    ) -> None:
        self.relate_refs(
            type_,
            EntityRef(kind=from_[0], key=snow_key(from_[1])),
            EntityRef(kind=to[0], key=snow_key(to[1])),
            attributes,
        )

    def relate_refs(
        self,
        type_: RelationType,
        from_: EntityRef,
        to: EntityRef,
        attributes: dict[str, JsonValue] | None = None,
        notes: Sequence[FieldReference] = (),
    ) -> None:
        """Assert a relation; ``notes`` say which fields name its ends (relation index unset)."""
        triple = (type_.value, *_ref_id(from_), *_ref_id(to))
        self.relations[triple] = RelationItem.model_validate(
            {"type": type_, "from": from_, "to": to, "attributes": attributes or {}}
        )
        if notes:
            self.notes.setdefault(triple, []).extend(notes)

    def ref_to(self, sys_id: str, kind: EntityKind) -> tuple[EntityRef, bool]:
        """Return the end for the record ``sys_id`` of ``kind``, and whether this run holds it.

        A record of the run is named by its key (with the kind the run gives
        it); any other by its sys_id (``servicenowSysId``), which the store
        resolves whatever key the entity has.
        """
        in_run = self.kind_of.get(sys_id)
        if in_run is not None and kind in (_CI, _SERVICE):
            return EntityRef(kind=in_run, key=snow_key(sys_id)), True
        if kind is _TEAM and sys_id in self.groups:
            return EntityRef(kind=_TEAM, key=snow_key(sys_id)), True
        if kind is _CHANGE and sys_id in self.change_numbers:
            return EntityRef(kind=_CHANGE, key=self.change_numbers[sys_id]), True
        if kind is _TASK and sys_id in self.task_numbers:
            return EntityRef(kind=_TASK, key=self.task_numbers[sys_id]), True
        if kind is _PROJECT and sys_id in self.project_numbers:
            return EntityRef(kind=_PROJECT, key=self.project_numbers[sys_id]), True
        return EntityRef(kind=kind, identifiers={_SYS_ID: sys_id}), False

    def reference_label(self, ref: SnowField) -> str:
        """What a reference names, for people: its display value, else the run's name for it."""
        sys_id = ref.value.strip()
        return (ref.display or "").strip() or self.names.get(sys_id, "") or sys_id

    def is_group(self, ref: SnowField) -> bool:
        return bool(ref.value) and (
            "/sys_user_group/" in (ref.link or "") or ref.value in self.groups
        )

    # ------------------------------------------------------------- mapping
    def run(self) -> ImportResult:
        handlers: dict[SnowTable, Callable[[str, SnowRecord], None]] = {
            SnowTable.CI: self.ci,
            SnowTable.GROUP: self.group,
            SnowTable.CHANGE: self.change,
            SnowTable.TASK_CI: self.task_ci,
            SnowTable.RELATION: self.relation,
            SnowTable.TASK: self.task,
            SnowTable.PROJECT: self.project,
        }
        for file in self.files:
            if not file.records:
                self.warn(file.path, "", "the file holds no records")
            others: dict[str, list[SnowRecord]] = {}
            for record in file.records:
                handler = handlers.get(record.table)
                if handler is not None:
                    handler(file.path, record)
                elif record.table is SnowTable.OTHER:
                    others.setdefault(record.sys_class, []).append(record)
            for sys_class, records in sorted(others.items()):
                self.warn(
                    file.path,
                    records[0].element,
                    f"skipped {len(records)} record(s) of table {sys_class}: not mapped",
                )
        for name, skipped in sorted(self.skipped_types.items()):
            self.warn(skipped.path, skipped.element, f"skipped {skipped.count} {name}")
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

    def ci(self, path: str, record: SnowRecord) -> None:
        kind = self.kind_of[record.sys_id]
        draft = self.draft(kind, record.sys_id)
        draft.name = record.label("name") or record.sys_id
        draft.identifiers.update(self.ci_identifiers(path, record))
        attributes = self.ci_attributes(path, record)
        if kind is _SERVICE:
            attributes.update(self.service_attributes(record))
        else:
            attributes["ciClass"] = record.sys_class
        draft.attributes.update(attributes)
        retired = record.value("install_status") == "7" or record.value("operational_status") == "6"
        draft.status = "retired" if retired else None
        end = (kind, record.sys_id)
        for fld, type_ in (
            ("support_group", RelationType.SUPPORTS),
            ("managed_by_group", RelationType.OWNS),
            ("owned_by", RelationType.OWNS),
        ):
            ref = record.fields.get(fld)
            if ref is not None and self.is_group(ref):
                self.relate(type_, (_TEAM, ref.value.strip()), end)

    def ci_identifiers(self, path: str, record: SnowRecord) -> dict[str, str]:
        ids = {"servicenowSysId": record.sys_id}
        ip = record.value("ip_address")
        if ip:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                self.warn(path, f"{record.element}/ip_address", f"{ip!r} is not an IP address")
            else:
                if not (address.is_loopback or address.is_unspecified or address.is_link_local):
                    ids["ipAddress"] = str(address)
        host, fqdn, domain = (
            record.value("host_name"),
            record.value("fqdn"),
            record.value("dns_domain").strip("."),
        )
        if not fqdn and "." in host.strip("."):
            fqdn = host
        elif not fqdn and host and domain:
            fqdn = f"{host}.{domain}"
        if fqdn and fqdn.lower().rstrip(".") not in _LOCAL_NAMES:
            ids["fqdn"] = VOCABULARY.normalize_identifier("fqdn", fqdn)
        if host and "." not in host.strip(".") and host.lower() not in _LOCAL_NAMES:
            ids["hostname"] = VOCABULARY.normalize_identifier("hostname", host)
        serial = record.value("serial_number")
        if serial and serial.lower() not in _JUNK_SERIALS and serial.strip("0"):
            ids["serial"] = serial
        mac = record.value("mac_address")
        if mac:
            normal = VOCABULARY.normalize_identifier("macAddress", mac)
            if re.fullmatch(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}", normal):
                ids["macAddress"] = normal
            else:
                self.warn(path, f"{record.element}/mac_address", f"{mac!r} is not a MAC address")
        return ids

    def ci_attributes(self, path: str, record: SnowRecord) -> dict[str, JsonValue]:
        attributes: dict[str, JsonValue] = {}
        for fld, name in _TEXT_FIELDS:
            if text := record.label(fld):
                attributes[name] = text
        for fld, name in _DISPLAYED_REFERENCES:
            ref = record.fields.get(fld)
            if ref is not None and ref.display and ref.display.strip():
                attributes[name] = ref.display.strip()
        for fld, name in _USER_REFERENCES:
            ref = record.fields.get(fld)
            if ref is not None and ref.value.strip() and not self.is_group(ref):
                attributes[name] = ref.label.strip()
        for fld, name in _INTEGERS + _NUMBERS:
            raw = record.value(fld)
            if not raw:
                continue
            try:
                number = float(raw)
            except ValueError:
                self.warn(path, f"{record.element}/{fld}", f"{raw!r} is not a number; ignored")
                continue
            if number >= 0:  # ServiceNow writes -1 for "unknown"
                integral = (fld, name) in _INTEGERS or number.is_integer()
                attributes[name] = int(number) if integral else number
        if virtual := record.value("virtual"):
            attributes["virtual"] = virtual.lower() == "true"
        for fld, name, labels in (
            ("install_status", "installStatus", INSTALL_STATUS),
            ("operational_status", "operationalStatus", OPERATIONAL_STATUS),
        ):
            ref = record.fields.get(fld)
            if ref is not None and ref.value.strip():
                attributes[name] = ref.display or labels.get(ref.value.strip(), ref.value.strip())
        environment = record.label("environment") or record.label("used_for")
        if environment:
            attributes["environment"] = _ENVIRONMENTS.get(environment.lower(), environment.lower())
        return attributes

    def service_attributes(self, record: SnowRecord) -> dict[str, JsonValue]:
        attributes: dict[str, JsonValue] = {"sysClassName": record.sys_class}
        criticality = record.label("busines_criticality") or record.label("business_criticality")
        if criticality[:1] in ("1", "2", "3", "4"):
            attributes["tier"] = int(criticality[:1])
        classification = record.label("service_classification")
        if classification:
            attributes["serviceType"] = classification.lower().removesuffix(" service")
        elif record.sys_class.startswith("cmdb_ci_service_"):
            attributes["serviceType"] = record.sys_class.removeprefix("cmdb_ci_service_")
        install, operational = record.value("install_status"), record.value("operational_status")
        if install == "7" or operational == "6":
            attributes["lifecycle"] = "retired"
        elif operational == "1":
            attributes["lifecycle"] = "live"
        elif install in ("2", "4") or operational in ("7", "8"):
            attributes["lifecycle"] = "planned"
        return attributes

    def group(self, path: str, record: SnowRecord) -> None:
        draft = self.draft(_TEAM, record.sys_id)
        draft.name = record.label("name") or record.sys_id
        draft.identifiers["servicenowSysId"] = record.sys_id
        email = record.value("email")
        if email and _EMAIL.match(email):
            draft.attributes["email"] = email
        elif email:
            self.warn(path, f"{record.element}/email", f"{email!r} is not an e-mail address")
        if manager := record.label("manager"):
            draft.attributes["manager"] = manager
        if description := " ".join(record.label("description").split()):
            draft.attributes["description"] = description
        draft.status = "retired" if record.value("active").lower() == "false" else None
        parent = record.value("parent")
        if parent and parent != record.sys_id:
            self.relate(RelationType.PART_OF, (_TEAM, record.sys_id), (_TEAM, parent))

    def change(self, path: str, record: SnowRecord) -> None:
        number = self.change_numbers[record.sys_id]
        draft = self.draft_key(_CHANGE, number)
        draft.name = record.label("short_description") or number
        draft.identifiers[_SYS_ID] = record.sys_id
        draft.attributes.update(self.change_attributes(path, record, number))
        me = EntityRef(kind=_CHANGE, key=number)
        for fld, type_, kind, others in (
            ("cmdb_ci", RelationType.MODIFIES, _CI, (_SERVICE,)),
            ("business_service", RelationType.MODIFIES, _SERVICE, (_CI,)),
            ("service_offering", RelationType.MODIFIES, _SERVICE, (_CI,)),
            ("assignment_group", RelationType.ASSIGNED_TO, _TEAM, ()),
            ("assigned_to", RelationType.ASSIGNED_TO, _PERSON, ()),
        ):
            ref = record.fields.get(fld)
            target = ref.value.strip() if ref is not None else ""
            if ref is None or not target:
                continue
            end, in_run = self.ref_to(target, kind)
            note = FieldReference(
                -1,
                "to",
                path,
                f"{record.element}/{fld}",
                f"change {number}",
                fld,
                _shown((ref.display or "").strip(), target),
                () if in_run else others,
            )
            self.relate_refs(type_, me, end, notes=[note])

    def change_attributes(self, path: str, record: SnowRecord, number: str) -> dict[str, JsonValue]:
        """The attributes of a change record (see the package docstring).

        Raises:
            ParseError: for a date-time of a display-values-only export when the
                ``timeZone`` setting does not say which zone it is in.
        """
        attributes: dict[str, JsonValue] = {"number": number}
        if summary := record.label("short_description"):
            attributes["shortDescription"] = summary
        state = record.fields.get("state")
        if state is not None and (state.value.strip() or state.display):
            mapped = CHANGE_STATES.get((state.display or "").strip().lower()) or CHANGE_STATES.get(
                state.value.strip().lower()
            )
            if mapped:
                attributes["state"] = mapped
            else:
                self.warn(path, f"{record.element}/state", f"unknown change state {state.label!r}")
        type_ = record.fields.get("type")
        if type_ is not None and type_.value.strip():
            mapped = CHANGE_TYPES.get(type_.value.strip().lower()) or CHANGE_TYPES.get(
                (type_.display or "").strip().lower()
            )
            if mapped:
                attributes["changeType"] = mapped
            else:
                self.warn(path, f"{record.element}/type", f"unknown change type {type_.label!r}")
        for fld, name in (("start_date", "plannedStart"), ("end_date", "plannedEnd")):
            if when := self.change_time(path, record, f"change {number}", fld):
                attributes[name] = when
        risk = record.fields.get("risk")
        if risk is not None and risk.value.strip():
            attributes["risk"] = (risk.display or "").strip() or RISKS.get(
                risk.value.strip(), risk.value.strip()
            )
        approval = record.fields.get("approval")
        if approval is not None and approval.label.strip():
            # the choice value (requested, approved, rejected, not requested …)
            attributes["approval"] = (approval.value or approval.label).strip().lower()
        for fld, name in (("priority", "priority"), ("impact", "impact"), ("category", "category")):
            if text := record.label(fld):
                attributes[name] = text
        for fld, name in (
            ("requested_by", "requestedBy"),
            ("assignment_group", "assignmentGroup"),
            ("assigned_to", "assignedTo"),
            ("cmdb_ci", "configurationItem"),
        ):
            ref = record.fields.get(fld)
            if ref is not None and ref.value.strip():
                attributes[name] = self.reference_label(ref)
        for fld, name in CHANGE_TEXTS:
            if text := text_block(record.label(fld)):
                attributes[name] = text
        return attributes

    def change_time(self, path: str, record: SnowRecord, item: str, fld: str) -> str | None:
        """A date-time field as ISO 8601 with a zone (``None``: empty or unreadable).

        ``item`` names the record in messages (``change CHG0000001``).
        """
        raw = record.value(fld)
        if not raw:
            return None
        zone = self.time_zone
        if record.display_only and zone is None:
            raise ParseError(
                path,
                f"{record.element}/{fld}",
                f"{item}: {fld} {raw!r} comes from an export of display values only "
                "(sysparm_display_value=true), whose times are in the exporting user's time "
                "zone, not UTC: export with sysparm_display_value=all (or false), or name that "
                f"zone with --set {TIME_ZONE_SETTING}=Area/City",
            )
        when = snow_datetime(raw, zone) if record.display_only and zone else snow_datetime(raw)
        if when is None:
            self.warn(path, f"{record.element}/{fld}", f"{raw!r} is not a date-time")
        return when

    def task(self, path: str, record: SnowRecord) -> None:
        """A task of ``sc_task``, ``change_task`` or ``pm_project_task`` -> ``Task``.

        See the package docstring for the attributes. Relations, each with a
        note naming the field (an end outside the run is sent by sys_id and,
        when the store lacks it too, reported in ServiceNow's words):
        ``assignment_group`` -> ``ASSIGNED_TO`` the Team, ``assigned_to`` ->
        ``ASSIGNED_TO`` the Person, ``cmdb_ci`` -> ``MODIFIES`` the CI (or
        service), a change task's ``change_request`` -> that Change
        ``IMPLEMENTS`` the task, a project task's ``top_task`` (else
        ``project``) -> ``PART_OF`` the Project.
        """
        number = self.task_numbers[record.sys_id]
        table = record.sys_class
        draft = self.draft_key(_TASK, number)
        draft.name = record.label("short_description") or number
        draft.identifiers[_SYS_ID] = record.sys_id
        attributes: dict[str, JsonValue] = {
            "number": number,
            "origin": TASK_ORIGINS.get(table, "itsm"),
            "table": table,
        }
        status = task_status(record)
        if status:
            attributes["status"] = status
        elif record.label("state"):
            self.warn(
                path, f"{record.element}/state", f"unknown task state {record.label('state')!r}"
            )
        due_fields = ("due_date", "end_date") if table == "pm_project_task" else ("due_date",)
        for name, fields in (("due", due_fields), ("plannedStart", _TASK_STARTS)):
            for fld in fields:
                if when := self.change_time(path, record, f"task {number}", fld):
                    attributes[name] = when
                    break
        for fld in _TASK_EFFORTS:
            raw = record.value(fld) or record.label(fld)
            if not raw:
                continue
            hours = duration_hours(raw)
            if hours is None:
                self.warn(path, f"{record.element}/{fld}", f"{raw!r} is not a duration; ignored")
                continue
            attributes["effortHours"] = int(hours) if hours.is_integer() else round(hours, 4)
            break
        base = instance_url(record)
        if base:
            attributes["externalUrl"] = f"{base}/{table}.do?sys_id={record.sys_id}"
        if summary := record.label("short_description"):
            attributes["shortDescription"] = summary
        for fld, name in (
            ("priority", "priority"),
            ("assignment_group", "assignmentGroup"),
            ("assigned_to", "assignedTo"),
        ):
            ref = record.fields.get(fld)
            if ref is not None and ref.value.strip():
                attributes[name] = self.reference_label(ref) if fld != "priority" else ref.label
        draft.attributes.update(attributes)
        me = EntityRef(kind=_TASK, key=number)
        project_field = "top_task" if record.value("top_task") else "project"
        for fld, type_, kind, others, outgoing in (
            ("cmdb_ci", RelationType.MODIFIES, _CI, (_SERVICE,), True),
            ("assignment_group", RelationType.ASSIGNED_TO, _TEAM, (), True),
            ("assigned_to", RelationType.ASSIGNED_TO, _PERSON, (), True),
            ("change_request", RelationType.IMPLEMENTS, _CHANGE, (), False),
            (project_field, RelationType.PART_OF, _PROJECT, (), True),
        ):
            ref = record.fields.get(fld)
            target = ref.value.strip() if ref is not None else ""
            if ref is None or not target:
                continue
            if fld == "project" and table != "pm_project_task":
                continue
            end, in_run = self.ref_to(target, kind)
            note = FieldReference(
                -1,
                "to" if outgoing else "from",
                path,
                f"{record.element}/{fld}",
                f"{table} {number}",
                fld,
                _shown((ref.display or "").strip(), target),
                () if in_run else others,
            )
            from_, to = (me, end) if outgoing else (end, me)
            self.relate_refs(type_, from_, to, notes=[note])

    def project(self, path: str, record: SnowRecord) -> None:
        """A ``pm_project`` record -> ``Project`` keyed by its number (``PRJ0010001``).

        Attributes: ``status`` (the state's label), ``plannedStart`` /
        ``plannedEnd`` (``start_date`` / ``end_date``), ``priority``,
        ``shortDescription``, ``number``; identifier ``servicenowSysId``.
        """
        number = self.project_numbers[record.sys_id]
        draft = self.draft_key(_PROJECT, number)
        draft.name = record.label("short_description") or number
        draft.identifiers[_SYS_ID] = record.sys_id
        attributes: dict[str, JsonValue] = {"number": number}
        state = record.fields.get("state")
        if state is not None and state.label.strip():
            attributes["status"] = (state.display or "").strip() or STATE_LABELS.get(
                state.value.strip(), state.value.strip()
            )
        for fld, name in (("start_date", "plannedStart"), ("end_date", "plannedEnd")):
            if when := self.change_time(path, record, f"project {number}", fld):
                attributes[name] = when
        if priority := record.label("priority"):
            attributes["priority"] = priority
        if summary := record.label("short_description"):
            attributes["shortDescription"] = summary
        draft.attributes.update(attributes)

    def task_ci(self, path: str, record: SnowRecord) -> None:
        """An Affected CIs row: the change ``MODIFIES`` the CI."""
        task, item = record.fields["task"], record.fields["ci_item"]
        task_id, ci_id = task.value.strip(), item.value.strip()
        task_shown = (task.display or "").strip()
        number = self.change_numbers.get(task_id)
        if number is None and task_shown and not task_shown.upper().startswith("CHG"):
            self.skip(
                path,
                record,
                "task_ci row(s) of tasks that are not change requests (only a change's "
                "affected CIs are imported)",
            )
            return
        change, change_in_run = self.ref_to(task_id, _CHANGE)
        ci, ci_in_run = self.ref_to(ci_id, _CI)
        name = number or task_shown or f"with sys_id {task_id}"
        notes = [
            FieldReference(
                -1,
                "to",
                path,
                f"{record.element}/ci_item",
                f"change {name} (affected CIs)",
                "ci_item",
                _shown((item.display or "").strip(), ci_id),
                () if ci_in_run else (_SERVICE,),
            )
        ]
        if not change_in_run:
            notes.append(
                FieldReference(
                    -1,
                    "from",
                    path,
                    f"{record.element}/task",
                    "task_ci row",
                    "task",
                    _shown(task_shown, task_id),
                )
            )
        self.relate_refs(RelationType.MODIFIES, change, ci, notes=notes)

    def rel_type_name(self, ref: SnowField | None) -> str:
        if ref is None:
            return ""
        for text in (ref.display or "", ref.value):
            if "::" in text:
                return text.strip()
        return self.rel_type_names.get(ref.value.strip(), "")

    def skip(self, path: str, record: SnowRecord, what: str) -> None:
        skipped = self.skipped_types.setdefault(what, _Skipped(path, record.element))
        skipped.count += 1

    def relation(self, path: str, record: SnowRecord) -> None:
        ref = record.fields.get("type")
        name = self.rel_type_name(ref)
        if not name:
            unknown = ref.label if ref is not None and ref.label else "(none)"
            self.skip(
                path,
                record,
                f"cmdb_rel_ci record(s) of unknown type {unknown}: export with "
                "sysparm_display_value=all or add a cmdb_rel_type export to the run",
            )
            return
        mapping = rel_mapping(name)
        if mapping is None:
            self.skip(path, record, f"cmdb_rel_ci record(s) of type {name!r}: no graph relation")
            return
        parent, child = record.value("parent"), record.value("child")
        if not parent or not child:
            self.warn(path, record.element, "skipped: relationship without parent or child")
            return
        from_id, to_id = (parent, child) if mapping.from_parent else (child, parent)
        from_kind, to_kind = self.kind_of.get(from_id, _CI), self.kind_of.get(to_id, _CI)
        if VOCABULARY.rule_for(mapping.type, from_kind, to_kind) is None:
            self.warn(
                path,
                record.element,
                f"skipped {name!r}: {mapping.type.value} cannot go from {from_kind.value} "
                f"to {to_kind.value}",
            )
            return
        attributes: dict[str, JsonValue] = {}
        if mapping.redundant:
            attributes["redundancyGroup"] = f"cluster:{snow_key(from_id)}"
        self.relate(mapping.type, (from_kind, from_id), (to_kind, to_id), attributes)


CHANGE_SCOPE = "changes"
"""The scope of an import of work exports alone (changes, affected CIs, tasks, projects)."""


def _scope_hint(files: Sequence[SnowFile]) -> str | None:
    """``changes`` when every record is a change, affected-CI row, task or project, else ``None``.

    An import is one complete run of its source and scope. Change exports
    imported alone in the CMDB's scope would leave out every CI, group and
    relation the CMDB import asserted there, and make them all stale.
    """
    tables = {record.table for f in files for record in f.records}
    work = {SnowTable.CHANGE, SnowTable.TASK_CI, SnowTable.TASK, SnowTable.PROJECT}
    if tables and tables <= work:
        return CHANGE_SCOPE
    return None


class ServiceNowImporter(Importer[SnowFile]):
    """ServiceNow Table API exports -> CIs, services, teams, changes and relations.

    Settings: ``table`` (the table every record of the files comes from, when
    neither ``sys_class_name`` nor the file name tells) and ``serviceClasses``
    (comma-separated extra classes to import as ``Service``). See the package
    docstring for the mapping.
    """

    name: ClassVar[str] = "servicenow"
    default_source: ClassVar[str] = "servicenow"
    description: ClassVar[str] = (
        "ServiceNow Table API JSON: cmdb_ci*, cmdb_rel_ci, sys_user_group, change_request, "
        "sc_task, change_task, pm_project_task, pm_project"
    )

    def parse(self, path: Path, options: ImporterOptions) -> SnowFile:
        """Read one ServiceNow JSON export.

        Raises:
            ParseError: naming the file, the line/column or JSON pointer and the
                reason, when the file is not JSON, not a Table API (or CMDB
                Instance API) response, or holds a record whose table cannot be
                told or that has no sys_id.
        """
        return parse_servicenow_json(path, table=options.settings.get("table"))

    def transform(
        self, parsed: Sequence[tuple[Path, SnowFile]], options: ImporterOptions
    ) -> ImportResult:
        """Map every file of the run (see the package docstring).

        A record present in several files is one entity; per attribute, the
        later file (in the order given) wins.
        """
        extra = options.settings.get("serviceClasses", "")
        service_classes = SERVICE_CLASSES | {
            c.strip().lower() for c in extra.split(",") if c.strip()
        }
        zone = read_time_zone(options.settings.get(TIME_ZONE_SETTING))
        files = [f for _p, f in parsed]
        result = _Run(files, frozenset(service_classes), zone).run()
        return replace(result, scope_hint=_scope_hint(files))
