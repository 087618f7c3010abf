"""The importer contract: a tool's output -> ingest items, with no store in sight.

An importer is a class with a ``name`` (the FORMAT of ``graphsvc import FORMAT
PATH…``), registered under the entry point group ``graphsvc.importers`` (see
``pyproject.toml``), so new importers are added without touching ``graphsvc``.

It works in two pure steps, cartography-style:

1. :meth:`Importer.parse` reads one file into the importer's own parsed form and
   raises :class:`~graphsvc.errors.ParseError` (file, element, reason) when the
   file is malformed. Every file of a run is parsed before anything is written,
   so a malformed file leaves the store untouched.
2. :meth:`Importer.transform` turns every parsed file of the run into one
   :class:`ImportResult`: the entities and relations to assert, and warnings
   (dangling references, skipped objects) that are reported but not fatal.

The run itself (``startRun`` -> batches -> ``finishRun(complete=true)``) is done
by :mod:`graphsvc.ingest.runner`, locally or against a served graphsvc.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from graphsvc.errors import InvalidInput
from graphsvc.model.batch import EntityItem, RelationItem
from graphsvc.model.vocabulary import EntityKind

__all__ = [
    "ENTRY_POINT_GROUP",
    "FieldReference",
    "ImportResult",
    "ImportWarning",
    "Importer",
    "ImporterOptions",
    "available_importers",
    "load_importer",
]

ENTRY_POINT_GROUP = "graphsvc.importers"

ParsedT = TypeVar("ParsedT")


@dataclass(frozen=True, slots=True)
class ImportWarning:
    """Something an importer skipped or could not resolve; not fatal.

    Attributes:
        path: The file.
        element: Where in it (line, JSON pointer, XML element, YAML document).
        message: What happened, in words.
    """

    path: str
    element: str
    message: str

    def describe(self) -> str:
        """Return ``path: element: message``."""
        where = ": ".join(part for part in (self.path, self.element) if part)
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True, slots=True)
class FieldReference:
    """The field of a tool's record that one end of a relation comes from, for messages.

    An importer cannot know what the store holds. When an end of a relation
    is neither in the import nor in the store, the runner leaves the relation
    out and names it in the tool's words, from this note: which record, which
    field, what the field says (see ``graphsvc.ingest.runner.UnresolvedReference``).
    A relation end may carry several notes (two fields of a record, or two
    records, naming the same thing); each is reported.

    Attributes:
        relation: Index of the relation in :attr:`ImportResult.relations`.
        end: The end the field names: ``"from"`` or ``"to"``.
        path: The file.
        element: Where in it (a JSON pointer to the field, a line).
        item: The record holding the field, as the tool's users know it
            (``change CHG0000001``).
        field: The field's name in the tool (``cmdb_ci``).
        value: What the field says, as people read it
            (``'db-prod-07' (sys_id 3f2…)``).
        other_kinds: Kinds the referenced record may have in the graph when no
            entity of the end's own kind matches (a ServiceNow ``cmdb_ci`` may
            be a service): the runner tries them in order, with the same key or
            identifiers, and uses the first that matches. The relation type
            must allow each of them.
    """

    relation: int
    end: Literal["from", "to"]
    path: str
    element: str
    item: str
    field: str
    value: str
    other_kinds: tuple[EntityKind, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What a tool's files say, as ingest items.

    Relations must only name entities that this result contains, or that the
    store already holds (identify them by key or identifiers); a relation with
    an end in neither is left out by the runner and reported.

    Attributes:
        entities: The entities to assert.
        relations: The relations to assert (entities of the result first).
        warnings: What was skipped or looked wrong (not fatal).
        references: Optional notes saying which field of which record each
            relation end comes from, so that an end that cannot be resolved is
            reported in the tool's words (:class:`FieldReference`).
        scope_hint: The scope the run should cover when the caller names none
            (``None``: ``default``). An import is one complete run of its source
            and scope, so files that describe only part of what the source
            reports (a tool's change exports beside its CMDB) need a scope of
            their own, or the rest of the source would go stale.
    """

    entities: tuple[EntityItem, ...] = ()
    relations: tuple[RelationItem, ...] = ()
    warnings: tuple[ImportWarning, ...] = ()
    references: tuple[FieldReference, ...] = ()
    scope_hint: str | None = None


@dataclass(frozen=True, slots=True)
class ImporterOptions:
    """Options of one import run.

    Attributes:
        scope: The scope the run describes (cluster, account, site); some
            importers use it in keys (for example Kubernetes namespaces per cluster).
        settings: Format-specific options from ``--set name=value`` (for
            example ``mapping=cols.yaml`` for ``csv``).
    """

    scope: str = "default"
    settings: Mapping[str, str] = field(default_factory=dict)


class Importer(ABC, Generic[ParsedT]):
    """Base of every importer (see the module docstring).

    Attributes:
        name: The FORMAT name on the command line.
        default_source: Source name used when ``--source`` is not given.
        description: One line for ``graphsvc import --help``.
    """

    name: ClassVar[str]
    default_source: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def parse(self, path: Path, options: ImporterOptions) -> ParsedT:
        """Read one file.

        Raises:
            ParseError: naming the file, the element and the reason, when the
                file is malformed or not of this format.
        """

    @abstractmethod
    def transform(
        self, parsed: Sequence[tuple[Path, ParsedT]], options: ImporterOptions
    ) -> ImportResult:
        """Turn every parsed file of a run into ingest items (pure: no I/O).

        Raises:
            ParseError: when the files contradict each other in a way that
                cannot be reported as a warning.
        """


def available_importers() -> dict[str, str]:
    """Return FORMAT -> ``module:Class`` of every registered importer."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_importer(name: str) -> Importer[Any]:
    """Instantiate the importer registered as ``name``.

    Raises:
        InvalidInput: when no importer has that name.
    """
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            cls = ep.load()
            instance: Importer[Any] = cls()
            return instance
    known = ", ".join(sorted(available_importers())) or "none"
    msg = f"no importer {name!r} (known: {known})"
    raise InvalidInput(msg)
