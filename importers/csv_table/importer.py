"""The CSV importer: any table plus a column mapping -> entities and relations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import JsonValue

from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult, ImportWarning
from graphsvc.model.batch import EntityItem, EntityRef, RelationItem
from graphsvc.model.vocabulary import EntityKind
from importers.csv_table.mapping import find_mapping, load_mapping
from importers.csv_table.parser import read_table
from importers.csv_table.records import CsvRelation, CsvRow, CsvTable

__all__ = ["CsvImporter"]


@dataclass(slots=True)
class _Draft:
    kind: EntityKind
    key: str
    line: int
    name: str | None = None
    identifiers: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, JsonValue] = field(default_factory=dict)

    def item(self) -> EntityItem:
        return EntityItem(
            kind=self.kind,
            key=self.key,
            name=self.name,
            identifiers=dict(sorted(self.identifiers.items())),
            attributes=dict(sorted(self.attributes.items())),
        )


def _differs(old: object, new: object) -> bool:
    return old is not None and (type(old) is not type(new) or old != new)


def _target(relation: CsvRelation) -> EntityRef:
    if relation.target_identifier is not None:
        id_type, value = relation.target_identifier
        return EntityRef(kind=relation.target_kind, identifiers={id_type: value})
    return EntityRef(kind=relation.target_kind, key=relation.target_key)


class CsvImporter(Importer[CsvTable]):
    """Any CSV table plus a column mapping -> entities and relations.

    Settings: ``mapping`` (the mapping file; by default ``<csv>.mapping.yaml``
    next to each CSV file). See the package docstring for the mapping format.
    """

    name: ClassVar[str] = "csv"
    default_source: ClassVar[str] = "csv"
    description: ClassVar[str] = "any CSV table, mapped by a YAML/JSON column mapping"

    def parse(self, path: Path, options: ImporterOptions) -> CsvTable:
        """Read the mapping, then the CSV file through it.

        Raises:
            ParseError: for a missing or invalid mapping (naming the mapping file
                and the field), or a bad CSV file or row (naming the CSV file, the
                line and the column).
        """
        mapping = load_mapping(find_mapping(path, options.settings.get("mapping")))
        return read_table(path, mapping)

    def transform(
        self, parsed: Sequence[tuple[Path, CsvTable]], options: ImporterOptions
    ) -> ImportResult:
        """Turn every row of every table into an entity and its relations.

        Rows naming the same kind and key (in one file or several) are one
        entity: later rows win per attribute, identifier and name (a different
        value than an earlier row's gives a warning), and the relations are the
        union.
        """
        del options  # settings are only read by parse
        drafts: dict[tuple[EntityKind, str], _Draft] = {}
        relations: dict[tuple[str, str, str], RelationItem] = {}
        warnings: list[ImportWarning] = []
        for _path, table in parsed:
            for row in table.rows:
                self._merge(table, row, drafts, warnings)
                me = EntityRef(kind=row.kind, key=row.key)
                for relation in row.relations:
                    target = _target(relation)
                    ends = (me, target) if relation.outgoing else (target, me)
                    item = RelationItem.model_validate(
                        {
                            "type": relation.type,
                            "from": ends[0],
                            "to": ends[1],
                            "attributes": dict(relation.attributes),
                        }
                    )
                    relations[(item.type.value, ends[0].label(), ends[1].label())] = item
        entities = sorted((d.item() for d in drafts.values()), key=lambda e: (e.kind.value, e.key))
        return ImportResult(
            entities=tuple(entities),
            relations=tuple(relations[k] for k in sorted(relations)),
            warnings=tuple(warnings),
        )

    @staticmethod
    def _merge(
        table: CsvTable,
        row: CsvRow,
        drafts: dict[tuple[EntityKind, str], _Draft],
        warnings: list[ImportWarning],
    ) -> None:
        draft = drafts.get((row.kind, row.key))
        if draft is None:
            drafts[(row.kind, row.key)] = _Draft(
                row.kind,
                row.key,
                row.line,
                row.name,
                dict(row.identifiers),
                dict(row.attributes),
            )
            return
        changed: list[str] = []
        if row.name is not None:
            if draft.name is not None and draft.name != row.name:
                changed.append("name")
            draft.name = row.name
        for name, value in row.attributes.items():
            if _differs(draft.attributes.get(name), value):
                changed.append(f"attributes.{name}")
            draft.attributes[name] = value
        for id_type, id_value in row.identifiers.items():
            if _differs(draft.identifiers.get(id_type), id_value):
                changed.append(f"identifiers.{id_type}")
            draft.identifiers[id_type] = id_value
        if changed:
            warnings.append(
                ImportWarning(
                    table.path,
                    f"line {row.line}",
                    f"{row.kind.value}/{row.key} was already given (line {draft.line}); "
                    f"this row's values win for {', '.join(changed)}",
                )
            )
