"""The one exception tree of graphsvc.

Every error graphsvc raises on purpose is a :class:`GraphSvcError`. Callers that
need to tell cases apart catch the subclass; the API layer maps them onto HTTP
problem documents and GraphQL ``userErrors``; the CLI maps them onto exit codes.
Backends translate their driver's exceptions into these at their boundary, so no
caller ever sees ``sqlite3`` or ``neo4j`` exceptions::

    GraphSvcError
    ├── InvalidInput          input refused before anything was written (exit code 2, HTTP 400/422)
    │   ├── BatchRejected     an ingest batch with one or more offending items, all named
    │   ├── InvalidCursor     a page cursor this service did not hand out
    │   └── AnswerTooLarge    one answer would exceed its size bound; says how to ask for less
    ├── NotFound              a named entity, relation, run or token does not exist (HTTP 404)
    ├── Conflict              the request contradicts stored state, e.g. a finished run (HTTP 409)
    │   └── ReadOnlyStore     a write sent to a read replica; names the writer (HTTP 409)
    ├── DeadlineExceeded      a request ran past its deadline and its work was stopped (HTTP 503)
    ├── StoreError            the store failed
    │   ├── StoreUnavailable  it cannot be opened or reached (HTTP 503)
    │   ├── StoreTimeout      an operation took longer than allowed (HTTP 503)
    │   └── StoreCorrupted    the file or database does not hold what graphsvc wrote
    └── IngestError           an importer could not produce batches
        └── ParseError        a tool's file is malformed (names file, element, reason)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphsvc.model.batch import IngestBatch

__all__ = [
    "AnswerTooLarge",
    "BatchRejected",
    "Conflict",
    "DeadlineExceeded",
    "GraphSvcError",
    "IngestError",
    "InvalidCursor",
    "InvalidInput",
    "ItemError",
    "NotFound",
    "ParseError",
    "PartialBatch",
    "ReadOnlyStore",
    "StoreCorrupted",
    "StoreError",
    "StoreTimeout",
    "StoreUnavailable",
]


class GraphSvcError(Exception):
    """Base of every error graphsvc raises on purpose."""


class InvalidInput(GraphSvcError):
    """Input was refused before anything was written."""


class InvalidCursor(InvalidInput):
    """A page cursor this service did not hand out (see :mod:`graphsvc.model.cursor`)."""


class AnswerTooLarge(InvalidInput):
    """One answer would be larger than its bound; the message says how to ask for less."""


class DeadlineExceeded(GraphSvcError):
    """A request ran past its deadline; the work it started was stopped.

    Attributes:
        seconds: The deadline the request had.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request took longer than {seconds:g} s and was stopped")
        self.seconds = seconds


@dataclass(frozen=True, slots=True)
class ItemError:
    """One offending item of a batch.

    Attributes:
        section: ``"entities"``, ``"relations"`` or ``"batch"`` for the header.
        index: Position of the item in its section (0-based); ``None`` for the header.
        key: The item's key as sent (``kind/key`` for entities, ``TYPE kind/key -> kind/key``
            for relations), or ``""`` when it could not be read.
        field: Dotted path of the offending field inside the item, or ``""``.
        reason: What is wrong, in words.
    """

    section: str
    index: int | None
    key: str
    field: str
    reason: str

    def describe(self) -> str:
        """Return the error as one line: ``entities[3] (Service/x) attributes.tier: reason``."""
        where = self.section if self.index is None else f"{self.section}[{self.index}]"
        if self.key:
            where += f" ({self.key})"
        if self.field:
            where += f" {self.field}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class PartialBatch:
    """The well-formed part of a batch that failed shape checks.

    Attributes:
        batch: The header and the well-formed items (an ``IngestBatch``).
        entity_positions: Position in the sent batch of each entity of ``batch``.
        relation_positions: Position in the sent batch of each relation of ``batch``.
        left_out: (kind, key) of the entities left out for their own errors: a
            relation naming one is not missing its endpoint.
    """

    batch: IngestBatch
    entity_positions: tuple[int, ...]
    relation_positions: tuple[int, ...]
    left_out: frozenset[tuple[str, str]] = frozenset()


class BatchRejected(InvalidInput):
    """An ingest batch was refused; :attr:`errors` names every offending item.

    Nothing of the batch was written.
    """

    def __init__(
        self,
        errors: list[ItemError],
        *,
        origin: str = "",
        rest: PartialBatch | None = None,
    ) -> None:
        self.errors = errors
        self.origin = origin
        self.rest = rest
        """The items whose shape was fine, when others' was not: the ingest engine
        checks them against the store too, so that one answer names every offending
        item (schema and store errors alike)."""
        shown = "; ".join(e.describe() for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        prefix = f"{origin}: " if origin else ""
        super().__init__(f"{prefix}batch rejected, {len(errors)} offending item(s): {shown}{more}")


class NotFound(GraphSvcError):
    """A named entity, relation, run or token does not exist."""


class Conflict(GraphSvcError):
    """The request contradicts stored state (for example a run that already finished)."""


class ReadOnlyStore(Conflict):
    """A write was sent to a store opened read-only (a read replica); names the writer."""


class StoreError(GraphSvcError):
    """The store failed."""


class StoreUnavailable(StoreError):
    """The store cannot be opened or reached."""


class StoreTimeout(StoreError):
    """A store operation took longer than allowed."""


class StoreCorrupted(StoreError):
    """The store does not hold what graphsvc wrote (wrong schema version, damaged file)."""


class IngestError(GraphSvcError):
    """An importer could not produce batches."""


class ParseError(IngestError):
    """A tool's output file is malformed.

    Attributes:
        path: The file.
        element: Where in the file (line, JSON pointer, XML element or YAML document).
        reason: What is wrong.
    """

    def __init__(self, path: str, element: str, reason: str) -> None:
        self.path = path
        self.element = element
        self.reason = reason
        where = f"{path}: {element}" if element else path
        super().__init__(f"{where}: {reason}")
