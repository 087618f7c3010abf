"""Reading a CSV file through its mapping into :class:`~importers.csv_table.records.CsvTable`.

Uses the stdlib :mod:`csv` module (quoted fields may span lines). Line numbers
in messages are those of the file: the header is line 1, and a row is named by
the line it starts on.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

from graphsvc.errors import ParseError
from graphsvc.model.batch import MAX_KEY_LENGTH
from graphsvc.model.validation import check_attribute
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from importers.csv_table.mapping import convert, relation_problem
from importers.csv_table.records import CsvMapping, CsvRelation, CsvRow, CsvTable, Scalar

__all__ = ["read_table"]


class _Rows:
    def __init__(self, path: Path, mapping: CsvMapping, header: Sequence[str]) -> None:
        self.name = str(path)
        self.mapping = mapping
        self.index = {name: i for i, name in enumerate(header)}

    def fail(self, line: int, column: str | None, reason: str) -> ParseError:
        where = f"line {line}" + (f", column {column!r}" if column else "")
        return ParseError(self.name, where, reason)

    def cell(self, cells: Sequence[str], column: str) -> str:
        return cells[self.index[column]].strip()

    def row(self, line: int, cells: Sequence[str]) -> CsvRow:
        mapping = self.mapping
        if len(cells) != len(self.index):
            raise self.fail(
                line, None, f"the row has {len(cells)} fields, the header has {len(self.index)}"
            )
        kind = mapping.kind
        if kind is None:
            kind_column = mapping.kind_column or ""
            text = self.cell(cells, kind_column)
            try:
                kind = EntityKind(text)
            except ValueError:
                known = ", ".join(k.value for k in EntityKind)
                raise self.fail(line, kind_column, f"{text!r} is not a kind ({known})") from None
        key_cell = self.cell(cells, mapping.key)
        if not key_cell:
            raise self.fail(line, mapping.key, "the key is empty")
        key = mapping.key_prefix + key_cell
        if len(key) > MAX_KEY_LENGTH:
            raise self.fail(
                line, mapping.key, f"the key is longer than {MAX_KEY_LENGTH} characters"
            )
        name = self.cell(cells, mapping.name)[:MAX_KEY_LENGTH] if mapping.name else ""
        spec = VOCABULARY.kinds[kind]
        attributes: dict[str, Scalar] = {}
        for rule in mapping.attributes:
            column = rule.column
            if column is None:
                value = rule.value
                assert value is not None
            else:
                text = self.cell(cells, column)
                text = rule.values.get(" ".join(text.split()).lower(), text)
                if not text:
                    continue
                try:
                    value = convert(text, rule.type, rule.format)
                except ValueError as exc:
                    raise self.fail(line, column, f"{rule.name}: {exc}") from None
            attr = spec.attribute(rule.name)
            reason = check_attribute(attr, value) if attr else None
            if reason:
                raise self.fail(line, column, f"{rule.name} {reason}")
            attributes[rule.name] = value
        for required in spec.required_attributes:
            if required not in attributes:
                where = next((r.column for r in mapping.attributes if r.name == required), None)
                raise self.fail(line, where, f"a {kind.value} needs {required}; the cell is empty")
        identifiers: dict[str, str] = {}
        for id_type, id_column in mapping.identifiers:
            text = self.cell(cells, id_column)
            if len(text) > MAX_KEY_LENGTH:
                raise self.fail(line, id_column, f"longer than {MAX_KEY_LENGTH} characters")
            if text:
                identifiers[id_type] = text
        return CsvRow(
            line=line,
            kind=kind,
            key=key,
            name=name or None,
            attributes=attributes,
            identifiers=identifiers,
            relations=self.relations(line, cells, kind),
        )

    def relations(
        self, line: int, cells: Sequence[str], kind: EntityKind
    ) -> tuple[CsvRelation, ...]:
        out: list[CsvRelation] = []
        for rule in self.mapping.relations:
            text = self.cell(cells, rule.column)
            if not text:
                continue
            if self.mapping.kind is None:
                reason = relation_problem(rule, kind)
                if reason:
                    raise self.fail(
                        line, rule.column, f"{reason} ({self.mapping.path}: {rule.where})"
                    )
            parts = text.split(rule.separator) if rule.separator else [text]
            for part in (p.strip() for p in parts):
                if not part:
                    continue
                if rule.target_pattern is not None:
                    found = re.search(rule.target_pattern, part)
                    if found is None:
                        raise self.fail(
                            line,
                            rule.column,
                            f"{part!r} does not match the targetPattern {rule.target_pattern!r} "
                            f"({self.mapping.path}: {rule.where})",
                        )
                    part = (found.group(1) if found.groups() else found.group(0)).strip()
                target = part if rule.target_identifier else rule.target_prefix + part
                if len(target) > MAX_KEY_LENGTH:
                    raise self.fail(line, rule.column, f"longer than {MAX_KEY_LENGTH} characters")
                out.append(
                    CsvRelation(
                        type=rule.type,
                        outgoing=rule.direction == "out",
                        target_kind=rule.target_kind,
                        target_key=None if rule.target_identifier else target,
                        target_identifier=(
                            (rule.target_identifier, target) if rule.target_identifier else None
                        ),
                        attributes=dict(rule.attributes),
                    )
                )
        return tuple(out)


def read_table(path: Path, mapping: CsvMapping) -> CsvTable:
    """Read ``path`` with ``mapping``.

    Raises:
        ParseError: naming the CSV file, the line (and column) and the reason,
            when the file cannot be read or decoded, has no header, lacks a
            column the mapping names (the mapping file and field are named too),
            has a row with a different number of fields than the header, an
            empty key, an unknown kind, a value that does not convert to its
            type or fit the vocabulary, or an empty required attribute.
    """
    name = str(path)
    try:
        with path.open(encoding=mapping.encoding, newline="") as stream:
            reader = csv.reader(stream, delimiter=mapping.delimiter, strict=True)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise ParseError(name, "line 1", "the file is empty: no header row") from None
            if len(set(header)) != len(header):
                twice = sorted({h for h in header if header.count(h) > 1})
                raise ParseError(name, "line 1", f"the header names {', '.join(twice)} twice")
            rows = _Rows(path, mapping, header)
            for column, fld in mapping.columns().items():
                if column not in rows.index:
                    raise ParseError(
                        name,
                        "line 1",
                        f"the header has no column {column!r} (named by {mapping.path}: {fld})",
                    )
            out: list[CsvRow] = []
            start = reader.line_num + 1
            for cells in reader:
                if any(c.strip() for c in cells):
                    out.append(rows.row(start, cells))
                start = reader.line_num + 1
    except OSError as exc:
        raise ParseError(name, "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        encoding = "utf-8" if mapping.encoding == "utf-8-sig" else mapping.encoding
        raise ParseError(
            name, f"byte {exc.start}", f"not {encoding} text (set encoding in the mapping)"
        ) from None
    except csv.Error as exc:
        raise ParseError(name, f"line {reader.line_num}", f"not valid CSV: {exc}") from None
    return CsvTable(name, mapping, tuple(out))
