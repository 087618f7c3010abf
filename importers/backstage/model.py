"""Parsed form of Backstage catalog descriptor files.

:mod:`importers.backstage.parse` reads a file into a :class:`CatalogFile`;
:mod:`importers.backstage.transform` turns the files of a run into ingest items.
Everything here is a frozen record: parsed once, never changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphsvc.ingest.importer import ImportWarning

__all__ = [
    "CANONICAL_KINDS",
    "DEFAULT_NAMESPACE",
    "MAPPED_KINDS",
    "SKIPPED_KINDS",
    "CatalogEntity",
    "CatalogFile",
    "EntityName",
    "RefField",
]

DEFAULT_NAMESPACE = "default"
"""The Backstage namespace of an entity without ``metadata.namespace``."""

CANONICAL_KINDS: dict[str, str] = {
    k.lower(): k
    for k in (
        "Component",
        "API",
        "System",
        "Resource",
        "Group",
        "User",
        "Domain",
        "Location",
        "Template",
    )
}
"""Every Backstage kind the importer knows, by lower-case spelling (kinds are
case-insensitive in references)."""

MAPPED_KINDS = frozenset({"Component", "API", "System", "Resource", "Group", "User"})
"""Kinds that become graph entities."""

SKIPPED_KINDS = frozenset({"Domain", "Location", "Template"})
"""Known kinds that are skipped with a warning: ``Location`` only points at
other files (pass those files instead), ``Template`` is a scaffolder template,
and ``Domain`` is a business area, not something that runs or fails."""


@dataclass(frozen=True, slots=True)
class EntityName:
    """An entity reference as written, before the field's defaults are applied.

    Attributes:
        kind: The kind given in the reference, or ``None`` when left out.
        namespace: The namespace given, or ``None`` when left out.
        name: The name (always given).
    """

    kind: str | None
    namespace: str | None
    name: str

    def text(self) -> str:
        """Return the reference as written: ``[kind:][namespace/]name``."""
        kind = f"{self.kind}:" if self.kind is not None else ""
        namespace = f"{self.namespace}/" if self.namespace is not None else ""
        return f"{kind}{namespace}{self.name}"


@dataclass(frozen=True, slots=True)
class RefField:
    """The references found in one relation field of an entity's ``spec``.

    Attributes:
        field: The ``spec`` field, e.g. ``owner``, ``dependsOn``, ``memberOf``.
        targets: The references in it, in file order (a scalar field gives one).
    """

    field: str
    targets: tuple[EntityName, ...]


@dataclass(frozen=True, slots=True)
class CatalogEntity:
    """One entity descriptor (one YAML document).

    Attributes:
        path: The file it was read from.
        document: Its document number in the file, counted from 1 (blank
            documents count too).
        line: The line its mapping starts on (1-based), when known.
        kind: The canonical kind (``Component``, ``API`` ...).
        namespace: ``metadata.namespace`` as written, ``default`` when absent.
        name: ``metadata.name`` as written.
        title: ``metadata.title``.
        description: ``metadata.description``, stripped.
        tags: ``metadata.tags``.
        spec_type: ``spec.type``.
        lifecycle: ``spec.lifecycle`` as written.
        email: ``spec.profile.email`` (Group and User).
        display_name: ``spec.profile.displayName`` (Group and User).
        refs: The relation fields of ``spec`` that hold references.
        annotations: ``metadata.annotations`` with string keys and non-empty
            string values (values stripped), sorted by key.
    """

    path: str
    document: int
    line: int | None
    kind: str
    namespace: str
    name: str
    title: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    spec_type: str | None = None
    lifecycle: str | None = None
    email: str | None = None
    display_name: str | None = None
    refs: tuple[RefField, ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def ref(self) -> str:
        """The canonical entity ref ``kind:namespace/name``, all lower case."""
        return f"{self.kind.lower()}:{self.namespace.lower()}/{self.name.lower()}"

    @property
    def element(self) -> str:
        """Where the entity is in its file, for messages: ``document 3 (line 12)``."""
        if self.line is None:
            return f"document {self.document}"
        return f"document {self.document} (line {self.line})"


@dataclass(frozen=True, slots=True)
class CatalogFile:
    """Everything read from one descriptor file.

    Attributes:
        path: The file.
        entities: Its entity descriptors, skipped kinds included, in file order.
        warnings: What parsing skipped without failing (unusable reference values).
    """

    path: str
    entities: tuple[CatalogEntity, ...]
    warnings: tuple[ImportWarning, ...] = ()
