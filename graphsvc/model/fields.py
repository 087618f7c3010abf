"""Field paths: how history, provenance and the ingest engine name a field of an item.

A path is ``name``, ``status``, ``attributes.<attribute>``,
``identifiers.<identifier type>`` (and in history only ``alias``,
``mergedInto``, ``merged``). :class:`FieldPath` parses and prints them, so
that no caller slices strings by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["FieldPath", "FieldSection", "attribute_path", "identifier_path"]


class FieldSection(StrEnum):
    """Which part of an item a path names."""

    NAME = "name"
    STATUS = "status"
    ATTRIBUTES = "attributes"
    IDENTIFIERS = "identifiers"
    ALIAS = "alias"
    MERGED_INTO = "mergedInto"
    MERGED = "merged"


_NESTED = frozenset({FieldSection.ATTRIBUTES, FieldSection.IDENTIFIERS})


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A parsed field path.

    Attributes:
        section: The part of the item.
        member: The attribute name or identifier type (``""`` for the others).
    """

    section: FieldSection
    member: str = ""

    @classmethod
    def parse(cls, text: str) -> FieldPath | None:
        """Parse ``text``; ``None`` when it is not a path graphsvc writes."""
        head, dot, member = text.partition(".")
        try:
            section = FieldSection(head)
        except ValueError:
            return None
        if (section in _NESTED) != bool(dot and member):
            return None
        return cls(section, member)

    @classmethod
    def attribute(cls, name: str) -> FieldPath:
        """The path of attribute ``name``."""
        return cls(FieldSection.ATTRIBUTES, name)

    @classmethod
    def identifier(cls, id_type: str) -> FieldPath:
        """The path of identifier type ``id_type``."""
        return cls(FieldSection.IDENTIFIERS, id_type)

    def __str__(self) -> str:
        return f"{self.section.value}.{self.member}" if self.member else self.section.value


def attribute_path(name: str) -> str:
    """``attributes.<name>``: the text of :meth:`FieldPath.attribute` (the hot path's form)."""
    return "attributes." + name


def identifier_path(id_type: str) -> str:
    """``identifiers.<type>``: the text of :meth:`FieldPath.identifier`."""
    return "identifiers." + id_type
