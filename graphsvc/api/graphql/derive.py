"""GraphQL object types derived from the analyses' result dataclasses.

The analyses (:mod:`graphsvc.analysis`) answer with frozen dataclasses. Their
GraphQL types are generated from those dataclasses, the way the entity types are
generated from the vocabulary, so a field added to a result appears in GraphQL
(and in REST, see :mod:`graphsvc.api.answers`) without a second declaration:

* one GraphQL field per dataclass field, in camelCase; a trailing underscore
  (``from_``, for a Python keyword) is dropped;
* the type from the type hint: ``str``, ``int``, ``bool``, ``float`` and
  ``datetime`` as the scalar; an enum as its GraphQL enum (declared with
  ``strawberry.enum`` before); ``EntityRecord`` as the ``Entity`` interface;
  ``tuple[X, ...]`` as a list of X; ``X | None`` as a nullable X; another
  dataclass as its own derived type (derived once, then shared);
* a field annotated ``Annotated[..., pydantic.Field(exclude=True)]`` is left
  out (REST leaves it out too);
* descriptions from the dataclass's Google docstring: the summary (and the
  paragraph after it) describes the type, the ``Attributes:`` section each
  field; reST literals become Markdown ones, and a literal naming a field is
  written as its GraphQL name.

The object a derived type is resolved from is the dataclass instance itself:
nothing is copied, and fields that need no conversion are read with
``getattr``. A *lazy* type instead holds a :class:`LazyAnswer` (an answer
computed on first use, by the first field that needs it) and resolves every
field from it. A field that needs more than its hint (arguments, a global id)
is given as an override: a strawberry field that replaces the derived one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from types import NoneType, UnionType
from typing import (
    Annotated,
    Any,
    Optional,
    Protocol,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

import docstring_parser
import strawberry
from pydantic.alias_generators import to_camel

from graphsvc.api.graphql.types import EntityInterface, entity_object
from graphsvc.model.records import EntityRecord

__all__ = ["LazyAnswer", "answer_type", "register_answer_type"]

_SCALARS: frozenset[type] = frozenset({str, int, bool, float, datetime})

Convert = Callable[[Any], Any]


class LazyAnswer(Protocol):
    """What a lazy derived type resolves its fields from."""

    async def any(self) -> Any:
        """Return the answer (computed on the first call)."""


_DERIVED: dict[type, Any] = {}
"""Result dataclass -> its GraphQL type (derived or registered)."""


def register_answer_type(source: type, graphql_type: Any) -> None:
    """Use ``graphql_type`` wherever a result field has the type ``source``.

    For a dataclass whose GraphQL type exists already with the same field names (the one
    ``PageInfo``), or a derived type that needed overrides and is nested in others.
    """
    _DERIVED[source] = graphql_type


def answer_type(
    source: type,
    *,
    name: str | None = None,
    rename: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    lazy: bool = False,
) -> Any:
    """Return the GraphQL object type of a result dataclass, deriving it on first use.

    Args:
        source: A dataclass of :mod:`graphsvc.analysis` (or one it nests).
        name: The GraphQL type name (default: the dataclass's name).
        rename: Dataclass field -> GraphQL field name, where the two differ.
        overrides: Dataclass field (or a new name) -> a ``strawberry.field`` with a resolver
            taking ``root`` (the dataclass instance, or for a lazy type the type's object),
            which replaces the derived field.
        lazy: Resolve fields from ``root.source`` (a :class:`LazyAnswer`) instead of from
            the dataclass instance; the type's objects are made with ``source=...``.

    Raises:
        TypeError: for a field whose type hint has no GraphQL mapping (give an override).
    """
    known = _DERIVED.get(source)
    if known is not None and not (overrides or rename or lazy or name):
        return known
    renamed = dict(rename or {})
    doc = _Doc(source, renamed)
    hints = get_type_hints(source)
    extras = get_type_hints(source, include_extras=True)
    replaced = dict(overrides or {})
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__annotations__": annotations, "__doc__": doc.summary}
    if lazy:
        annotations["source"] = strawberry.Private[LazyAnswer]
    for field in dataclasses.fields(source):
        if field.name in replaced or _excluded(extras[field.name]):
            continue
        annotation, convert = _mapped(hints[field.name])
        graphql_name = renamed.get(field.name, to_camel(field.name.rstrip("_")))
        description = doc.field(field.name)
        if lazy:
            namespace[field.name] = strawberry.field(
                resolver=_lazy_resolver(field.name, annotation, convert),
                name=graphql_name,
                description=description,
            )
        elif convert is None:
            annotations[field.name] = annotation
            namespace[field.name] = strawberry.field(name=graphql_name, description=description)
        else:
            namespace[field.name] = strawberry.field(
                resolver=_resolver(field.name, annotation, convert),
                name=graphql_name,
                description=description,
            )
    namespace.update(replaced)
    type_name = name or source.__name__
    graphql_type = strawberry.type(
        type(type_name, (), namespace), name=type_name, description=doc.summary
    )
    _in_dataclass_order(graphql_type, source)
    if known is None:
        _DERIVED[source] = graphql_type
    return graphql_type


def _excluded(hint: Any) -> bool:
    """Whether a field is left out of answers (``Annotated[..., pydantic.Field(exclude=True)]``).

    Such a field is internal to the analysis (the ids behind a paged list): REST
    (pydantic) leaves it out too.
    """
    if get_origin(hint) is not Annotated:
        return False
    return any(getattr(m, "exclude", None) is True for m in get_args(hint)[1:])


def _in_dataclass_order(graphql_type: Any, source: type) -> None:
    """List the fields in the dataclass's order (strawberry puts resolved fields last)."""
    order = {f.name: i for i, f in enumerate(dataclasses.fields(source))}
    definition = graphql_type.__strawberry_definition__
    definition.fields.sort(key=lambda f: order.get(f.python_name, len(order)))


def _mapped(hint: Any) -> tuple[Any, Convert | None]:
    """The GraphQL annotation of a type hint, and how to convert a value (None: as it is)."""
    origin = get_origin(hint)
    if origin in (Union, UnionType):
        members = [a for a in get_args(hint) if a is not NoneType]
        if len(members) != 1:
            msg = f"no GraphQL type for the union {hint!r}"
            raise TypeError(msg)
        inner, convert = _mapped(members[0])
        return Optional[inner], (None if convert is None else _optional(convert))  # noqa: UP045
    if origin in (tuple, list):
        args = get_args(hint)
        if origin is tuple and (len(args) != 2 or args[1] is not Ellipsis):
            msg = f"no GraphQL type for the fixed tuple {hint!r}"
            raise TypeError(msg)
        inner, convert = _mapped(args[0])
        return list[inner], (None if convert is None else _each(convert))  # type: ignore[valid-type]
    if hint is EntityRecord:
        return EntityInterface, entity_object
    if isinstance(hint, type):
        if hint in _SCALARS:
            return hint, None
        if issubclass(hint, Enum):
            if not hasattr(hint, "__strawberry_definition__") and not hasattr(
                hint, "_enum_definition"
            ):
                msg = f"declare the GraphQL enum of {hint.__name__} (strawberry.enum) first"
                raise TypeError(msg)
            return hint, None
        if dataclasses.is_dataclass(hint):
            return answer_type(hint), None
    msg = f"no GraphQL type for {hint!r}: give the field an override"
    raise TypeError(msg)


def _optional(convert: Convert) -> Convert:
    def optional(value: Any) -> Any:
        return None if value is None else convert(value)

    return optional


def _each(convert: Convert) -> Convert:
    def each(values: Any) -> list[Any]:
        return [convert(v) for v in values]

    return each


def _resolver(attribute: str, annotation: Any, convert: Convert) -> Callable[..., Any]:
    def resolve(root: Any) -> Any:
        return convert(getattr(root, attribute))

    resolve.__annotations__ = {"root": Any, "return": annotation}
    return resolve


def _lazy_resolver(attribute: str, annotation: Any, convert: Convert | None) -> Callable[..., Any]:
    async def resolve(root: Any) -> Any:
        value = getattr(await root.source.any(), attribute)
        return value if convert is None else convert(value)

    resolve.__annotations__ = {"root": Any, "return": annotation}
    return resolve


_LITERAL = re.compile(r"``([^`]+)``")
_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+_?")
_PYTHON_VALUES = {"None": "null", "True": "true", "False": "false"}
_ROLE = re.compile(r":(?:class|func|data|meth|attr|mod):`~?([^`]+)`")


class _Doc:
    """A result dataclass's Google docstring, as GraphQL descriptions."""

    def __init__(self, source: type, renamed: Mapping[str, str]) -> None:
        parsed = docstring_parser.parse(
            source.__doc__ or "", docstring_parser.DocstringStyle.GOOGLE
        )
        self._renamed = renamed
        parts = [parsed.short_description or "", parsed.long_description or ""]
        self.summary = self._markdown(" ".join(p for p in parts if p)) or None
        self._attributes = {
            p.arg_name: self._markdown(p.description or "")
            for p in parsed.params
            if p.args and p.args[0] == "attribute"
        }

    def field(self, attribute: str) -> str | None:
        """The description of one field (``None`` when the docstring has none)."""
        return self._attributes.get(attribute) or None

    def _markdown(self, text: str) -> str:
        text = " ".join(text.split())
        text = _ROLE.sub(lambda m: f"`{self._graphql_name(m.group(1).rsplit('.', 1)[-1])}`", text)
        return _LITERAL.sub(lambda m: f"`{self._graphql_name(m.group(1))}`", text)

    def _graphql_name(self, literal: str) -> str:
        """A Python spelling in a docstring as GraphQL spells it (fields, arguments, values)."""
        if literal in self._renamed:
            return self._renamed[literal]
        if _SNAKE.fullmatch(literal):
            return to_camel(literal.rstrip("_"))
        return _PYTHON_VALUES.get(literal, literal)
