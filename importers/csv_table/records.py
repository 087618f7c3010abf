"""The column mapping and the rows of one CSV table, as frozen records (the parsed form)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from graphsvc.model.vocabulary import EntityKind, RelationType

__all__ = [
    "AttributeRule",
    "CsvMapping",
    "CsvRelation",
    "CsvRow",
    "CsvTable",
    "RelationRule",
    "Scalar",
    "ValueType",
]

Scalar = str | int | float | bool
"""A converted cell value."""

ValueType = Literal["string", "integer", "number", "boolean", "datetime", "date", "hours"]
"""How a cell is converted."""


@dataclass(frozen=True, slots=True)
class AttributeRule:
    """Where one attribute comes from.

    Attributes:
        name: The attribute's name.
        type: How the cell (or constant) is converted.
        column: The column holding it; ``None`` for a constant.
        value: The constant, already converted; ``None`` when read from a column.
        values: Cell text (compared case-insensitively, spaces trimmed) -> the
            value to use instead, before conversion (``Complete`` -> ``done``);
            a cell not listed is converted as it is.
        format: For ``date``: a :func:`~datetime.datetime.strptime` format the
            cells are written in (``%a %m/%d/%y %I:%M %p``); ``None``: ISO 8601.
    """

    name: str
    type: ValueType
    column: str | None = None
    value: Scalar | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    format: str | None = None


@dataclass(frozen=True, slots=True)
class RelationRule:
    """One relation column.

    Attributes:
        column: The column holding the target(s).
        type: The relation type.
        target_kind: The kind of the target(s).
        direction: ``out``: row -> target; ``in``: target -> row.
        separator: Splits several targets in one cell; ``None``: one target per cell.
        target_prefix: Prepended to each target key.
        target_identifier: The cell holds this identifier of the target, not its key.
        target_pattern: A regular expression each target must match; its first
            group (else the whole match) is the target (``^([0-9]+)`` reads ``3``
            from MS Project's ``3FS+2 days``); ``None``: the part as it is.
        attributes: Constant attributes of every relation of this column.
        where: Where the rule is in the mapping file (``relations[0]``), for messages.
    """

    column: str
    type: RelationType
    target_kind: EntityKind
    direction: Literal["out", "in"] = "out"
    separator: str | None = None
    target_prefix: str = ""
    target_identifier: str | None = None
    target_pattern: str | None = None
    attributes: Mapping[str, Scalar] = field(default_factory=dict)
    where: str = ""


@dataclass(frozen=True, slots=True)
class CsvMapping:
    """A validated column mapping (see the package docstring for the file format).

    Attributes:
        path: The mapping file, for messages.
        key: The column holding each row's key.
        kind: The kind of every row, or ``None`` when ``kind_column`` says.
        kind_column: The column holding each row's kind.
        key_prefix: Prepended to every key.
        name: The column holding each row's name, if any.
        attributes: Attribute rules.
        identifiers: (identifier type, column) pairs.
        relations: Relation rules.
        delimiter: The CSV delimiter.
        encoding: The file's encoding.
    """

    path: str
    key: str
    kind: EntityKind | None = None
    kind_column: str | None = None
    key_prefix: str = ""
    name: str | None = None
    attributes: tuple[AttributeRule, ...] = ()
    identifiers: tuple[tuple[str, str], ...] = ()
    relations: tuple[RelationRule, ...] = ()
    delimiter: str = ","
    encoding: str = "utf-8-sig"

    def columns(self) -> dict[str, str]:
        """Every column the mapping reads -> the mapping field that names it."""
        out = {self.key: "key"}
        if self.kind_column:
            out.setdefault(self.kind_column, "kind.column")
        if self.name:
            out.setdefault(self.name, "name")
        for rule in self.attributes:
            if rule.column:
                out.setdefault(rule.column, f"attributes.{rule.name}")
        for id_type, column in self.identifiers:
            out.setdefault(column, f"identifiers.{id_type}")
        for relation in self.relations:
            out.setdefault(relation.column, f"{relation.where}.column")
        return out


@dataclass(frozen=True, slots=True)
class CsvRelation:
    """One relation a row asserts.

    Attributes:
        type: The relation type.
        outgoing: ``True``: row -> target; ``False``: target -> row.
        target_kind: The target's kind.
        target_key: The target's key, or ``None`` when it is named by an identifier.
        target_identifier: (type, value) naming the target, or ``None``.
        attributes: The relation's attributes.
    """

    type: RelationType
    outgoing: bool
    target_kind: EntityKind
    target_key: str | None
    target_identifier: tuple[str, str] | None
    attributes: Mapping[str, Scalar]


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row, converted.

    Attributes:
        line: The line it starts on (the header is line 1).
        kind: Its kind.
        key: Its key (prefix applied).
        name: Its name, if the mapping gives one and the cell is not empty.
        attributes: Its attributes (empty cells left out).
        identifiers: Its identifiers (empty cells left out).
        relations: The relations it asserts.
    """

    line: int
    kind: EntityKind
    key: str
    name: str | None
    attributes: Mapping[str, Scalar]
    identifiers: Mapping[str, str]
    relations: tuple[CsvRelation, ...]


@dataclass(frozen=True, slots=True)
class CsvTable:
    """One CSV file with its mapping.

    Attributes:
        path: The CSV file.
        mapping: Its mapping.
        rows: Its data rows in file order.
    """

    path: str
    mapping: CsvMapping
    rows: tuple[CsvRow, ...]
