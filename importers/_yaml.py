"""Reading untrusted YAML: PyYAML's safe loader, with bounds on nesting and alias expansion.

``yaml.safe_load`` builds only plain values, but two inputs still defeat it:

* deep nesting (``[[[[…`` a thousand levels down) makes its recursive composer
  raise :class:`RecursionError`, which is not a :class:`yaml.YAMLError`;
* an alias bomb (anchors whose values alias other anchors, nine levels of nine)
  loads as a small graph of shared objects that expands to hundreds of
  millions of values as soon as anything walks it (copying attributes,
  validating them, writing them as JSON).

:class:`BoundedSafeLoader` refuses both while composing, with a
:class:`yaml.composer.ComposerError` (a :class:`yaml.MarkedYAMLError` carrying
the line and column), so importers report them as they report any invalid YAML.
It also turns the exceptions PyYAML's own constructors let out on bad tagged
scalars (``!!timestamp 2024-99-99``, ``!!int x``, ``!!bool maybe``) into
:class:`yaml.constructor.ConstructorError`.
Use :func:`load_all`, :func:`load` and :func:`compose_all` instead of PyYAML's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPANDED_NODES",
    "BoundedSafeLoader",
    "compose_all",
    "load",
    "load_all",
]

MAX_DEPTH = 100
"""Deepest nesting of collections accepted in one document."""

MAX_EXPANDED_NODES = 2_000_000
"""Most values one document may hold once every alias is expanded."""


class BoundedSafeLoader(yaml.SafeLoader):
    """:class:`yaml.SafeLoader` with :data:`MAX_DEPTH` and :data:`MAX_EXPANDED_NODES`."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliased = False

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        """Compose one node, refusing nesting deeper than :data:`MAX_DEPTH`."""
        if self.check_event(yaml.AliasEvent):
            self._aliased = True
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ComposerError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels is not accepted", mark
                )
            node: Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """Construct one value; a tagged scalar PyYAML cannot read is a ConstructorError."""
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
            value = str(node.value)[:60] if isinstance(node.value, str) else ""
            raise ConstructorError(
                None, None, f"cannot read {node.tag} value {value!r} ({exc})", node.start_mark
            ) from None

    def compose_document(self) -> Node | None:
        """Compose one document, refusing one whose aliases expand too far."""
        self._aliased = False
        node: Node | None = super().compose_document()
        if node is not None and self._aliased:
            size = _expanded_size(node, {})
            if size > MAX_EXPANDED_NODES:
                raise ComposerError(
                    None,
                    None,
                    f"aliases expand this document to {size:,} values "
                    f"(more than {MAX_EXPANDED_NODES:,} are not accepted)",
                    node.start_mark,
                )
        return node


def _expanded_size(node: Node, seen: dict[int, int]) -> int:
    """Values under ``node`` with every alias expanded (each shared node counted once per use)."""
    known = seen.get(id(node))
    if known is not None:
        return known
    seen[id(node)] = 1  # a recursive alias counts once (safe_load builds such cycles as is)
    size = 1
    if isinstance(node, SequenceNode):
        size += sum(_expanded_size(child, seen) for child in node.value)
    elif isinstance(node, MappingNode):
        size += sum(_expanded_size(k, seen) + _expanded_size(v, seen) for k, v in node.value)
    seen[id(node)] = size
    return size


def load_all(text: str) -> Iterator[Any]:
    """Yield the documents of ``text`` (as :func:`yaml.safe_load_all`, bounded)."""
    yield from yaml.load_all(text, Loader=BoundedSafeLoader)


def load(text: str) -> Any:
    """Return the one document of ``text`` (as :func:`yaml.safe_load`, bounded)."""
    return yaml.load(text, Loader=BoundedSafeLoader)  # noqa: S506 - a SafeLoader


def compose_all(text: str) -> Iterator[Node | None]:
    """Yield the node of each document of ``text`` (as :func:`yaml.compose_all`, bounded)."""
    yield from yaml.compose_all(text, Loader=BoundedSafeLoader)
