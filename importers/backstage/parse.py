"""Reading Backstage catalog descriptor files (``catalog-info.yaml`` and friends).

A file is multi-document YAML (PyYAML ``safe_load_all``): comment blocks, a
leading ``---``, blank documents and whitespace-only lines are all fine; blank
documents are skipped but still counted, so document numbers match the file.

A document must be a mapping with a string ``apiVersion``, a string ``kind``
that names a Backstage kind (``Component``, ``API``, ``System``, ``Resource``,
``Group``, ``User``, ``Domain``, ``Location``, ``Template``; case-insensitive)
and a ``metadata`` mapping with a string ``name``; ``spec``, when present, must
be a mapping. Anything else raises :class:`~graphsvc.errors.ParseError` naming
the file, the document (counted from 1) with its line, and the reason.

Reference fields are read here into :class:`~importers.backstage.model.EntityName`
values without applying any default; a value that is not a reference (a
number, an empty string, a malformed compound reference) is dropped with a
warning, as Backstage itself would refuse that one relation.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from graphsvc.errors import ParseError
from graphsvc.ingest.importer import ImportWarning
from importers import _yaml
from importers.backstage.model import (
    CANONICAL_KINDS,
    DEFAULT_NAMESPACE,
    CatalogEntity,
    CatalogFile,
    EntityName,
    RefField,
)

__all__ = ["REF_FIELDS", "parse_catalog_file", "parse_catalog_text", "parse_entity_ref"]

REF_FIELDS: dict[str, tuple[str, ...]] = {
    "Component": (
        "owner",
        "system",
        "subcomponentOf",
        "providesApis",
        "consumesApis",
        "dependsOn",
        "dependencyOf",
    ),
    "API": ("owner", "system"),
    "Resource": ("owner", "system", "dependsOn", "dependencyOf"),
    "System": ("owner", "domain"),
    "Group": ("parent", "children", "members"),
    "User": ("memberOf",),
}
"""The ``spec`` fields holding entity references, per mapped kind (as in
Backstage's ``BuiltinKindsEntityProcessor``)."""


def parse_entity_ref(text: str) -> EntityName:
    """Split a string reference ``[<kind>:][<namespace>/]<name>`` into its parts.

    Follows Backstage's ``parseRefString``: a ``/`` before the first ``:`` means
    the reference has no kind (the colon belongs to the name). Surrounding
    blanks are ignored; case is kept (comparison is case-insensitive later).

    Raises:
        ValueError: when the reference or one of the parts it gives is empty.
    """
    ref = text.strip()
    colon = ref.find(":")
    slash = ref.find("/")
    if slash != -1 and slash < colon:
        colon = -1
    kind = None if colon == -1 else ref[:colon]
    namespace = None if slash == -1 else ref[colon + 1 : slash]
    name = ref[max(colon + 1, slash + 1) :]
    if kind == "" or namespace == "" or name == "":
        msg = f"reference {text!r} is not of the form [<kind>:][<namespace>/]<name>"
        raise ValueError(msg)
    return EntityName(kind, namespace, name)


def parse_catalog_file(path: Path) -> CatalogFile:
    """Read one descriptor file.

    Raises:
        ParseError: when the file cannot be read, is not UTF-8, is not valid
            YAML, or holds a document that is not a Backstage entity (see the
            module docstring).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(str(path), "", f"not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise ParseError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    return parse_catalog_text(str(path), text)


def parse_catalog_text(path: str, text: str) -> CatalogFile:
    """Parse the text of one descriptor file named ``path`` (see :func:`parse_catalog_file`).

    Raises:
        ParseError: as :func:`parse_catalog_file`.
    """
    entities: list[CatalogEntity] = []
    warnings: list[ImportWarning] = []
    lines = _document_lines(text)
    document = 0
    try:
        for data in _yaml.load_all(text):
            document += 1
            if data is None:
                continue
            line = lines[document - 1] if document <= len(lines) else None
            entities.append(_entity(path, line, document, data, warnings))
    except yaml.YAMLError as exc:
        raise ParseError(path, _yaml_error_element(exc, document + 1), _yaml_reason(exc)) from None
    return CatalogFile(path, tuple(entities), tuple(warnings))


# --------------------------------------------------------------------------- documents


def _entity(
    path: str, line: int | None, document: int, data: object, warnings: list[ImportWarning]
) -> CatalogEntity:
    element = f"document {document}" + (f" (line {line})" if line else "")

    def fail(reason: str) -> ParseError:
        return ParseError(path, element, reason)

    if not isinstance(data, Mapping):
        raise fail(f"expected a mapping (an entity), got {_type_name(data)}")
    api_version = data.get("apiVersion")
    if not isinstance(api_version, str) or not api_version.strip():
        raise fail("apiVersion is missing or not a string")
    raw_kind = data.get("kind")
    if not isinstance(raw_kind, str) or not raw_kind.strip():
        raise fail("kind is missing or not a string")
    kind = CANONICAL_KINDS.get(raw_kind.strip().lower())
    if kind is None:
        known = ", ".join(sorted(CANONICAL_KINDS.values()))
        raise fail(f"unknown kind {raw_kind!r} (known: {known})")
    metadata = data.get("metadata")
    if not isinstance(metadata, Mapping):
        raise fail("metadata is missing or not a mapping")
    name = metadata.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("metadata.name is missing or not a string")
    namespace = metadata.get("namespace", DEFAULT_NAMESPACE)
    if not isinstance(namespace, str) or not namespace.strip():
        raise fail("metadata.namespace is not a non-empty string")
    spec = data.get("spec", {})
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise fail(f"spec must be a mapping, got {_type_name(spec)}")
    profile = spec.get("profile")
    if not isinstance(profile, Mapping):
        profile = {}
    label = f"{element}: {kind.lower()}:{namespace.strip().lower()}/{name.strip().lower()}"
    refs: list[RefField] = []
    for field in REF_FIELDS.get(kind, ()):
        if spec.get(field) is None:
            continue
        targets = _refs(spec[field], field, path, label, warnings)
        if targets:
            refs.append(RefField(field, targets))
    tags = tuple(t.strip() for t in _list(metadata.get("tags")) if isinstance(t, str) and t.strip())
    return CatalogEntity(
        path=path,
        document=document,
        line=line,
        kind=kind,
        namespace=namespace.strip(),
        name=name.strip(),
        title=_text(metadata.get("title")),
        description=_text(metadata.get("description")),
        tags=tags,
        spec_type=_text(spec.get("type")),
        lifecycle=_text(spec.get("lifecycle")),
        email=_text(profile.get("email")),
        display_name=_text(profile.get("displayName")),
        refs=tuple(refs),
        annotations=_annotations(metadata.get("annotations")),
    )


def _annotations(value: object) -> tuple[tuple[str, str], ...]:
    """Return the string annotations with a non-empty value, sorted (others are ignored)."""
    if not isinstance(value, Mapping):
        return ()
    return tuple(
        sorted(
            (k.strip(), v.strip())
            for k, v in value.items()
            if isinstance(k, str) and isinstance(v, str) and v.strip()
        )
    )


def _refs(
    value: object, field: str, path: str, label: str, warnings: list[ImportWarning]
) -> tuple[EntityName, ...]:
    targets: list[EntityName] = []
    for item in _list(value):
        try:
            targets.append(_ref(item))
        except ValueError as exc:
            warnings.append(
                ImportWarning(path, label, f"spec.{field}: {exc}; relation not emitted")
            )
    return tuple(targets)


def _ref(value: object) -> EntityName:
    if isinstance(value, str):
        return parse_entity_ref(value)
    if isinstance(value, Mapping):
        name = value.get("name")
        kind = value.get("kind")
        namespace = value.get("namespace")
        if (
            isinstance(name, str)
            and name.strip()
            and (kind is None or (isinstance(kind, str) and kind.strip()))
            and (namespace is None or (isinstance(namespace, str) and namespace.strip()))
        ):
            return EntityName(
                kind.strip() if isinstance(kind, str) else None,
                namespace.strip() if isinstance(namespace, str) else None,
                name.strip(),
            )
        msg = f"compound reference {dict(value)!r} needs a string name (and string kind/namespace)"
        raise ValueError(msg)
    msg = f"{value!r} is not an entity reference"
    raise ValueError(msg)


# --------------------------------------------------------------------------- helpers


def _list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _type_name(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _document_lines(text: str) -> list[int | None]:
    """Return, per document, the 1-based line its content starts on.

    One extra composition pass (no construction); stops quietly at invalid YAML,
    which :func:`yaml.safe_load_all` then reports with its own position.
    """
    lines: list[int | None] = []
    try:
        for node in _yaml.compose_all(text):
            lines.append(None if node is None else node.start_mark.line + 1)
    except yaml.YAMLError:
        pass
    return lines


def _yaml_error_element(exc: yaml.YAMLError, document: int) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if isinstance(mark, yaml.Mark):
        return f"document {document} (line {mark.line + 1}, column {mark.column + 1})"
    return f"document {document}"


def _yaml_reason(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if isinstance(problem, str):
        reason = f"{context} {problem}" if isinstance(context, str) else problem
        return f"invalid YAML: {reason}"
    return f"invalid YAML: {exc}"
