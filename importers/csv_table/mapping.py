"""Loading and checking a column mapping file (format: see the package docstring).

Every problem raises :class:`~graphsvc.errors.ParseError` naming the mapping
file, the field (``relations[1].type``) and the reason, before any row is read.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import yaml

from graphsvc.errors import ParseError
from graphsvc.model.validation import check_attribute, parse_datetime
from graphsvc.model.vocabulary import (
    VOCABULARY,
    AttributeType,
    EntityKind,
    RelationType,
)
from importers import _yaml
from importers.csv_table.records import AttributeRule, CsvMapping, RelationRule, Scalar, ValueType

__all__ = ["VALUE_TYPES", "convert", "find_mapping", "load_mapping"]

VALUE_TYPES: tuple[ValueType, ...] = (
    "string",
    "integer",
    "number",
    "boolean",
    "datetime",
    "date",
    "hours",
)
"""The ``type`` values an attribute rule may give."""

_TRUE = frozenset({"true", "yes", "y", "1", "t", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "off"})
_IDENTIFIER_TYPE = re.compile(r"^[a-z][A-Za-z0-9]*$")
_TOP_LEVEL = frozenset(
    {
        "kind",
        "key",
        "keyPrefix",
        "name",
        "attributes",
        "identifiers",
        "relations",
        "delimiter",
        "encoding",
    }
)
_RELATION_FIELDS = frozenset(
    {
        "column",
        "type",
        "targetKind",
        "direction",
        "separator",
        "targetPrefix",
        "targetIdentifier",
        "targetPattern",
        "attributes",
    }
)
_COMPATIBLE: dict[ValueType, ValueType] = {"date": "datetime", "hours": "number"}
"""Types that give values of another type (a date gives a datetime, hours a number)."""
_HOURS = re.compile(
    r"^([+]?\d+(?:\.\d+)?)\s*(h|hr|hrs|hour|hours|d|day|days|w|wk|wks|week|weeks|"
    r"m|min|mins|minute|minutes|emin|ehr|ehrs)?\??$",
    re.IGNORECASE,
)
_HOURS_PER = {"h": 1.0, "d": 8.0, "w": 40.0, "m": 1 / 60}
"""Hours per unit (first letter): a working day is 8 hours, a week 40, as MS Project assumes."""
_VOCABULARY_TYPES: dict[AttributeType, ValueType] = {
    AttributeType.INTEGER: "integer",
    AttributeType.NUMBER: "number",
    AttributeType.BOOLEAN: "boolean",
    AttributeType.DATETIME: "datetime",
}


def _hours(text: str) -> Scalar:
    match = _HOURS.match(text.replace(",", ""))
    if not match:
        msg = f"{text!r} is not a number of hours (such as 16, 16h, 16 hrs, 2d, 2 days)"
        raise ValueError(msg)
    number = float(match.group(1))
    unit = (match.group(2) or "h").lower().removeprefix("e")  # elapsed units: same length
    hours = number * _HOURS_PER[unit[0]]
    return int(hours) if hours.is_integer() else round(hours, 4)


def _date(text: str, form: str | None) -> Scalar:
    if form is not None:
        try:
            parsed = datetime.strptime(text, form)
        except ValueError:
            msg = f"{text!r} is not a date in the format {form!r}"
            raise ValueError(msg) from None
    else:
        zoned = parse_datetime(text)
        if zoned is not None:
            return zoned.isoformat()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            msg = f"{text!r} is not an ISO 8601 date or date-time"
            raise ValueError(msg) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def convert(text: str, type_: ValueType, form: str | None = None) -> Scalar:
    """Convert one cell (already stripped, not empty) to ``type_``.

    ``integer``: an optional sign and digits. ``number``: any finite decimal
    number (an integer stays an integer). ``boolean``: true/false, yes/no, y/n,
    1/0, t/f, on/off (any case). ``datetime``: ISO 8601 with a time zone,
    returned in ISO form. ``date``: what PPM tools export: an ISO 8601 date or
    date-time, or text in the strptime format ``form``; a value without a zone
    is read in UTC (``2024-06-03`` -> ``2024-06-03T00:00:00+00:00``).
    ``hours``: a number of hours with an optional unit as MS Project and
    Smartsheet write work (``16``, ``16h``, ``16 hrs``, ``2d`` and ``2 days`` of
    8 hours, ``1w`` of 40 hours, ``30m``/``30 mins``; elapsed units ``ehrs``,
    ``emin`` too; a trailing ``?`` for an estimate is ignored). ``string``: the
    text itself.

    Raises:
        ValueError: with the reason, when the text does not convert.
    """
    if type_ == "string":
        return text
    if type_ == "date":
        return _date(text, form)
    if type_ == "hours":
        return _hours(text)
    if type_ == "integer":
        if not re.fullmatch(r"[+-]?\d+", text):
            msg = f"{text!r} is not an integer"
            raise ValueError(msg)
        return int(text)
    if type_ == "number":
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            msg = f"{text!r} is not a number"
            raise ValueError(msg) from None
        if not math.isfinite(number):
            msg = f"{text!r} is not a finite number"
            raise ValueError(msg)
        return number
    if type_ == "boolean":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        msg = f"{text!r} is not a boolean (true/false, yes/no, 1/0)"
        raise ValueError(msg)
    parsed = parse_datetime(text)
    if parsed is None:
        msg = f"{text!r} is not an ISO 8601 date-time with a time zone"
        raise ValueError(msg)
    return parsed.isoformat()


def find_mapping(csv_path: Path, setting: str | None) -> Path:
    """Return the mapping file of ``csv_path``.

    The ``mapping`` setting wins (a path as given on the command line);
    otherwise ``<csv>.mapping.yaml``, ``.mapping.yml`` or ``.mapping.json``
    next to the CSV file.

    Raises:
        ParseError: when there is none.
    """
    if setting:
        return Path(setting)
    for suffix in (".mapping.yaml", ".mapping.yml", ".mapping.json"):
        candidate = csv_path.with_name(csv_path.name + suffix)
        if candidate.is_file():
            return candidate
    raise ParseError(
        str(csv_path),
        "",
        "no column mapping: give --option mapping=FILE, or put "
        f"{csv_path.name}.mapping.yaml next to the file",
    )


class _Checker:
    def __init__(self, path: Path) -> None:
        self.name = str(path)

    def fail(self, where: str, reason: str) -> ParseError:
        return ParseError(self.name, where, reason)

    def text(self, raw: object, where: str, *, required: bool = True) -> str | None:
        if raw is None and not required:
            return None
        if not isinstance(raw, str) or not raw.strip():
            raise self.fail(where, "must be a non-empty string")
        return raw.strip()

    def mapping(self, raw: object, where: str) -> Mapping[str, object]:
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            raise self.fail(where, "must be a mapping of name to value")
        return cast("Mapping[str, object]", raw)

    def kind(self, raw: object, where: str) -> EntityKind:
        try:
            return EntityKind(str(raw))
        except ValueError:
            known = ", ".join(k.value for k in EntityKind)
            raise self.fail(where, f"{raw!r} is not a kind (one of {known})") from None

    def constant(self, raw: object, type_: ValueType, where: str) -> Scalar:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise self.fail(where, "a constant must be a string, number or boolean")
        if type_ == "string" or isinstance(raw, str):
            try:
                return convert(str(raw).strip(), type_)
            except ValueError as exc:
                raise self.fail(where, str(exc)) from None
        if type_ == "integer" and not isinstance(raw, int):
            raise self.fail(where, f"{raw!r} is not an integer")
        if type_ in ("integer", "number"):
            return raw
        raise self.fail(where, f"{raw!r} is not a {type_}")

    def attribute(self, name: str, raw: object, kind: EntityKind | None) -> AttributeRule:
        where = f"attributes.{name}"
        if not name.strip():
            raise self.fail("attributes", "an attribute name must not be empty")
        spec = VOCABULARY.kinds[kind].attribute(name) if kind else None
        default = _default_type(name, kind)
        if isinstance(raw, str):
            rule = AttributeRule(name, default, column=self.text(raw, where))
        else:
            body = self.mapping(raw, where)
            unknown = set(body) - {"column", "value", "type", "values", "format"}
            if unknown:
                raise self.fail(where, f"unknown field(s) {', '.join(sorted(unknown))}")
            type_raw = body.get("type", default)
            if type_raw not in VALUE_TYPES:
                raise self.fail(f"{where}.type", f"must be one of {', '.join(VALUE_TYPES)}")
            type_: ValueType = type_raw
            if ("column" in body) == ("value" in body):
                raise self.fail(where, "give either column or value")
            values: dict[str, str] = {}
            for cell, mapped in self.mapping(body.get("values"), f"{where}.values").items():
                if isinstance(mapped, bool) or not isinstance(mapped, str | int | float):
                    raise self.fail(f"{where}.values.{cell}", "must be a string or number")
                values[" ".join(str(cell).split()).lower()] = str(mapped)
            form = self.text(body.get("format"), f"{where}.format", required=False)
            if form is not None and type_ != "date":
                raise self.fail(f"{where}.format", "a format is for type date only")
            if "column" in body:
                rule = AttributeRule(
                    name,
                    type_,
                    column=self.text(body["column"], f"{where}.column"),
                    values=values,
                    format=form,
                )
            else:
                value = self.constant(body["value"], type_, f"{where}.value")
                rule = AttributeRule(name, type_, value=value)
        if spec is not None and _COMPATIBLE.get(rule.type, rule.type) != default:
            raise self.fail(
                f"{where}.type",
                f"{name} of a {kind.value if kind else ''} is of type {spec.type.value}; "
                f"type {rule.type} does not fit",
            )
        if spec is not None and rule.value is not None:
            reason = check_attribute(spec, rule.value)
            if reason:
                raise self.fail(f"{where}.value", f"{name} {reason}")
        return rule

    def relation(self, raw: object, index: int, kind: EntityKind | None) -> RelationRule:
        where = f"relations[{index}]"
        body = self.mapping(raw, where)
        unknown = set(body) - _RELATION_FIELDS
        if unknown:
            raise self.fail(where, f"unknown field(s) {', '.join(sorted(unknown))}")
        column = self.text(body.get("column"), f"{where}.column")
        type_raw = body.get("type")
        try:
            type_ = RelationType(str(type_raw))
        except ValueError:
            known = ", ".join(t.value for t in RelationType)
            raise self.fail(
                f"{where}.type", f"{type_raw!r} is not a relation type ({known})"
            ) from None
        target_kind = self.kind(body.get("targetKind"), f"{where}.targetKind")
        direction = body.get("direction", "out")
        if direction not in ("out", "in"):
            raise self.fail(
                f"{where}.direction", "must be out (row -> target) or in (target -> row)"
            )
        separator = body.get("separator")
        if separator is not None and (not isinstance(separator, str) or not separator):
            raise self.fail(f"{where}.separator", "must be a non-empty string")
        prefix = body.get("targetPrefix", "")
        if not isinstance(prefix, str):
            raise self.fail(f"{where}.targetPrefix", "must be a string")
        identifier = self.text(
            body.get("targetIdentifier"), f"{where}.targetIdentifier", required=False
        )
        if identifier is not None and not _IDENTIFIER_TYPE.match(identifier):
            raise self.fail(f"{where}.targetIdentifier", "must match ^[a-z][A-Za-z0-9]*$")
        pattern = self.text(body.get("targetPattern"), f"{where}.targetPattern", required=False)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise self.fail(
                    f"{where}.targetPattern", f"not a regular expression: {exc}"
                ) from None
        attributes: dict[str, Scalar] = {}
        spec = VOCABULARY.relation_types[type_]
        for name, value in self.mapping(body.get("attributes"), f"{where}.attributes").items():
            attr = spec.attribute(name)
            kind_of = _VOCABULARY_TYPES.get(attr.type, "string") if attr else "string"
            attributes[name] = self.constant(value, kind_of, f"{where}.attributes.{name}")
            reason = check_attribute(attr, attributes[name]) if attr else None
            if reason:
                raise self.fail(f"{where}.attributes.{name}", f"{name} {reason}")
        rule = RelationRule(
            column=column or "",
            type=type_,
            target_kind=target_kind,
            direction=direction,
            separator=separator,
            target_prefix=prefix,
            target_identifier=identifier,
            target_pattern=pattern,
            attributes=attributes,
            where=where,
        )
        if kind is not None:
            reason = relation_problem(rule, kind)
            if reason:
                raise self.fail(f"{where}.type", reason)
        return rule

    def check(self, raw: object) -> CsvMapping:
        if not isinstance(raw, Mapping):
            raise self.fail("", "the mapping must be a YAML/JSON mapping (object) at the top")
        unknown = set(raw) - _TOP_LEVEL
        if unknown:
            raise self.fail("", f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        kind_raw = raw.get("kind")
        kind: EntityKind | None = None
        kind_column: str | None = None
        if isinstance(kind_raw, Mapping):
            if set(kind_raw) != {"column"}:
                raise self.fail("kind", "give a kind, or {column: NAME}")
            kind_column = self.text(kind_raw["column"], "kind.column")
        elif kind_raw is None:
            raise self.fail("kind", "is required: a kind, or {column: NAME}")
        else:
            kind = self.kind(kind_raw, "kind")
        key = self.text(raw.get("key"), "key")
        name = self.text(raw.get("name"), "name", required=False)
        prefix = raw.get("keyPrefix", "")
        if not isinstance(prefix, str):
            raise self.fail("keyPrefix", "must be a string")
        attributes = tuple(
            self.attribute(str(n), v, kind)
            for n, v in self.mapping(raw.get("attributes"), "attributes").items()
        )
        identifiers: list[tuple[str, str]] = []
        for id_type, column in self.mapping(raw.get("identifiers"), "identifiers").items():
            if not _IDENTIFIER_TYPE.match(str(id_type)):
                raise self.fail(f"identifiers.{id_type}", "must match ^[a-z][A-Za-z0-9]*$")
            identifiers.append((str(id_type), self.text(column, f"identifiers.{id_type}") or ""))
        relations_raw = raw.get("relations") or []
        if not isinstance(relations_raw, list):
            raise self.fail("relations", "must be a list")
        relations = tuple(self.relation(r, i, kind) for i, r in enumerate(relations_raw))
        if kind is not None:
            names = {a.name for a in attributes}
            missing = [a for a in VOCABULARY.kinds[kind].required_attributes if a not in names]
            if missing:
                raise self.fail("attributes", f"a {kind.value} needs {', '.join(missing)}")
        delimiter = raw.get("delimiter", ",")
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise self.fail("delimiter", "must be one character")
        encoding = raw.get("encoding", "utf-8-sig")
        if not isinstance(encoding, str):
            raise self.fail("encoding", "must be a string")
        try:
            "".encode(encoding)
        except LookupError:
            raise self.fail("encoding", f"unknown encoding {encoding!r}") from None
        if encoding.lower().replace("-", "").replace("_", "") == "utf8":
            encoding = "utf-8-sig"  # skips a byte order mark
        return CsvMapping(
            path=self.name,
            key=key or "",
            kind=kind,
            kind_column=kind_column,
            key_prefix=prefix,
            name=name,
            attributes=attributes,
            identifiers=tuple(identifiers),
            relations=relations,
            delimiter=delimiter,
            encoding=encoding,
        )


def _default_type(name: str, kind: EntityKind | None) -> ValueType:
    """Return the type a well-known attribute converts to by default.

    That is its type for the mapping's kind or, with a kind column, the type
    every kind declaring it agrees on; ``string`` otherwise.
    """
    kinds = [kind] if kind is not None else list(EntityKind)
    types = {
        _VOCABULARY_TYPES.get(spec.type, "string")
        for k in kinds
        if (spec := VOCABULARY.kinds[k].attribute(name)) is not None
    }
    return types.pop() if len(types) == 1 else "string"


def relation_problem(rule: RelationRule, kind: EntityKind) -> str | None:
    """Return why a row of ``kind`` cannot have relations of ``rule``, or ``None``."""
    from_kind, to_kind = (
        (kind, rule.target_kind) if rule.direction == "out" else (rule.target_kind, kind)
    )
    if VOCABULARY.rule_for(rule.type, from_kind, to_kind) is None:
        return f"{rule.type.value} cannot go from {from_kind.value} to {to_kind.value}"
    return None


def load_mapping(path: Path) -> CsvMapping:
    """Read and check a mapping file (YAML, or JSON for a ``.json`` file).

    Raises:
        ParseError: naming the mapping file, the field (or line and column of a
            syntax error) and the reason.
    """
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ParseError(name, "", f"cannot read the mapping: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ParseError(name, f"byte {exc.start}", "not UTF-8 text") from None
    raw: object
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParseError(
                name, f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}"
            ) from None
        except RecursionError:
            raise ParseError(name, "", "not valid JSON: nested too deeply") from None
    else:
        try:
            raw = _yaml.load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ParseError(name, where, f"not valid YAML: {exc.problem}") from None
        except yaml.YAMLError as exc:
            raise ParseError(name, "", f"not valid YAML: {exc}") from None
    return _Checker(path).check(raw)
