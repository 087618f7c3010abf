"""The storage port: what every graphsvc store promises (PRODUCT.md section 3).

One abstract class, :class:`GraphStore`, with two sides:

* **Reads** for the API and the analyses: entities by id, key or filter,
  relations of an entity, the history, a traversal primitive and one-hop
  neighbour expansion, each optionally *as of* a past time.
* **Writes** through :meth:`GraphStore.write`: an exclusive
  :class:`WriteTransaction` that the ingest engine uses to look up current state
  and then apply one :class:`ChangeSet`. A transaction commits whole or not at
  all; readers never see part of one, and are not blocked while a writer
  computes.

Every backend (``store.embedded``, ``store.neo4j``) implements the whole port and
passes the one contract suite in ``tests/contract``. Backends translate their
driver's errors into :mod:`graphsvc.errors` types at this boundary.

Ids are integers the store assigns. Times crossing the port as ``int`` are
microseconds since the Unix epoch (see :func:`graphsvc.model.records.to_micros`).
"""

from __future__ import annotations

import heapq
import itertools
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, Self, TypeVar

import numpy as np
import orjson
from pydantic import JsonValue

from graphsvc.errors import InvalidInput
from graphsvc.model.records import (
    ConflictState,
    EntityRecord,
    FieldChange,
    HistoryEvent,
    HistoryOp,
    IdentityConflict,
    ItemKind,
    RelationRecord,
    RunRecord,
    RunState,
)
from graphsvc.model.vocabulary import (
    VOCABULARY,
    Direction,
    EntityKind,
    RelationType,
    Status,
    TraversalStep,
)

if TYPE_CHECKING:
    from types import TracebackType

    from numpy.typing import NDArray

    from graphsvc.store.webhooks import WebhookStore

__all__ = [
    "ENTITY_COUNT_BOUND",
    "EVENT_SCAN",
    "MERGED",
    "PRUNE_BATCH",
    "Assertion",
    "AssertionColumns",
    "AssertionState",
    "AttributeColumn",
    "ChangeSet",
    "CheckFinding",
    "CheckReport",
    "ClosedConflict",
    "ConflictPage",
    "EntityColumns",
    "EntityPage",
    "EntityQuery",
    "EntityState",
    "EntityUpdate",
    "EventPage",
    "EventPrune",
    "EventQuery",
    "GraphStore",
    "HistoryPage",
    "ItemRef",
    "Merge",
    "Neighbours",
    "NewAlias",
    "NewConflict",
    "NewEntity",
    "NewHistory",
    "NewRelation",
    "RelationColumns",
    "RelationPage",
    "RelationState",
    "RelationUpdate",
    "RunUpdate",
    "StepEdges",
    "StoreStats",
    "Traversal",
    "TraversalSpec",
    "WalkedEdges",
    "WriteTransaction",
    "check_indexed",
    "entity_matches",
    "event_page",
    "merge_id_pages",
]

_T = TypeVar("_T")


def check_indexed(name: str) -> None:
    """Raise :class:`~graphsvc.errors.InvalidInput` unless ``name`` is an indexed attribute."""
    if name not in VOCABULARY.indexed_attributes:
        known = ", ".join(VOCABULARY.indexed_attributes)
        msg = f"attribute {name!r} is not indexed (indexed attributes: {known})"
        raise InvalidInput(msg)


def _json_equal(stored: Mapping[str, JsonValue], attribute: str, wanted: JsonValue) -> bool:
    """``stored[attribute] == wanted`` as ``find_entities`` compares attribute values.

    Objects and arrays compare by their JSON text (keys sorted); ``None``
    matches a stored JSON ``null`` (not a missing attribute); booleans match
    booleans only; numbers compare by value (a stored boolean counts as 0 or
    1, as SQLite's ``json_extract`` has it); strings compare exactly.
    """
    if attribute not in stored:
        return False
    value = stored[attribute]
    if isinstance(wanted, dict | list):
        text = orjson.OPT_SORT_KEYS
        return isinstance(value, dict | list) and orjson.dumps(value, option=text) == orjson.dumps(
            wanted, option=text
        )
    if wanted is None:
        return value is None
    if isinstance(wanted, bool):
        return isinstance(value, bool) and value is wanted
    if isinstance(wanted, int | float):
        return isinstance(value, int | float) and value == wanted
    return isinstance(value, str) and value == wanted


def entity_matches(record: EntityRecord, query: EntityQuery) -> bool:
    """Whether ``record`` (as of some time) fits ``query`` as ``find_entities`` matches.

    The kind, the status (every status when ``query.statuses`` is ``None``),
    the text as a case-insensitive substring of the key or the name, and each
    attribute by :func:`_json_equal`. The stores use it for entities whose
    state at a past time differs from their state now (``find_entities`` with
    ``as_of``).
    """
    if query.kind is not None and record.kind is not query.kind:
        return False
    if query.statuses is not None and record.status not in query.statuses:
        return False
    if query.text:
        text = query.text.lower()
        if text not in record.key.lower() and text not in (record.name or "").lower():
            return False
    return all(_json_equal(record.attributes, a, v) for a, v in query.attributes.items())


def merge_id_pages(a: Sequence[int], b: Sequence[int], after: int | None, limit: int) -> list[int]:
    """The first ``limit`` ids above ``after`` of two ascending, disjoint id lists, ascending."""
    merged = heapq.merge(
        (i for i in a if after is None or i > after), (i for i in b if after is None or i > after)
    )
    return list(itertools.islice(merged, max(0, limit)))


MERGED = 3
"""Internal status code of an entity merged into another, or of a relation that
was moved onto the survivor of a merge. Such items are never returned, walked or
counted; their history stays readable."""


# --------------------------------------------------------------------------- reads


@dataclass(frozen=True, slots=True)
class EntityQuery:
    """A filter over entities; every given condition must hold.

    Attributes:
        kind: Only this kind.
        statuses: Only these statuses (default: all three).
        text: Case-insensitive substring of the key or the name: characters are
            compared as in Unicode lower case (Neo4j's ``toLower``; the embedded
            store's trigram index folds case the same way for letters with a
            one-letter lower case), taken literally (``%``, ``_``, quotes and
            full-text syntax such as ``"``, ``*``, ``OR``, ``NEAR(`` are plain
            characters). A text of one or two characters cannot use a trigram
            index: it is matched by a scan, which on the embedded store folds
            ASCII letters of the stored key and name only.
        attributes: Attribute name -> value that must be equal (JSON equality).
    """

    kind: EntityKind | None = None
    statuses: frozenset[Status] | None = None
    text: str | None = None
    attributes: Mapping[str, JsonValue] = field(default_factory=dict)


ENTITY_COUNT_BOUND = 10_000
"""``find_entities`` with a text or attribute condition counts its matches up to
this many: a search for ``svc`` on a million entities matches 300,000, and counting
them all on every page cost more than the page itself."""


@dataclass(frozen=True, slots=True)
class EntityPage:
    """One page of entities, ordered by id.

    ``end_cursor`` is the id of the last entity on the page; pass it as ``after``
    for the next page. ``total`` counts every match, not only this page, except
    where counting stopped: then ``total_is_lower_bound`` is true, ``total`` is
    :data:`ENTITY_COUNT_BOUND` and more entities than that match ("more than
    10,000"). Paging is not affected: ``has_next`` and ``after`` reach every match.
    """

    items: tuple[EntityRecord, ...]
    total: int
    has_next: bool
    end_cursor: int | None
    total_is_lower_bound: bool = False


@dataclass(frozen=True, slots=True)
class RelationPage:
    """One page of relations, ordered by id, with the same cursor rules as :class:`EntityPage`."""

    items: tuple[RelationRecord, ...]
    total: int
    has_next: bool
    end_cursor: int | None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of history events in the order asked for; ``end_cursor`` is the last ``seq``.

    ``total`` counts every event of the item (merged-in entities included), not
    only this page nor only those after the cursor.
    """

    items: tuple[HistoryEvent, ...]
    has_next: bool
    end_cursor: int | None
    total: int


EVENT_SCAN = 10_000
"""Most sequence numbers one :meth:`GraphStore.events` call looks through.

A filter that matches few events must not make one call read the whole
history: each call scans at most this many positions after the cursor and
answers the cursor it reached (:attr:`EventPage.end_cursor`), so a reader
following the feed moves on even through a stretch of events it filtered out."""


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which events of the store's history :meth:`GraphStore.events` answers.

    Every given condition must hold. ``kinds`` and ``types`` together name the
    items whose events are wanted: an entity event matches when ``kinds`` holds
    the entity's kind, a relation event when ``types`` holds the relation's
    type; when only ``kinds`` is given, no relation event matches, and the other
    way round; when neither is given, every item matches. The kind of a merged
    entity is the kind it had (merges never change kinds).

    Attributes:
        item: Only events of entities, or only of relations.
        kinds: Only events of entities of these kinds (see above).
        types: Only events of relations of these types (see above).
        sources: Only events made by one of these sources.
        exclude_sources: No event made by one of these sources (a tool that
            writes back under its own source reads the feed without its echoes).
    """

    item: ItemKind | None = None
    kinds: frozenset[EntityKind] | None = None
    types: frozenset[RelationType] | None = None
    sources: frozenset[str] | None = None
    exclude_sources: frozenset[str] = frozenset()

    @property
    def selects_items(self) -> bool:
        """Whether the kind of each event's item (a join) decides whether it matches."""
        return self.kinds is not None or self.types is not None


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of the store's events, in ``seq`` order (which is commit order).

    Attributes:
        items: The matching events with ``seq > after``, at most ``first``.
        has_next: Whether events after :attr:`end_cursor` exist now (matching or
            not); ``False`` means the reader has caught up.
        end_cursor: Pass as ``after`` for the next page: the seq of the last event
            on a full page, else the last seq looked through (at most
            :data:`EVENT_SCAN` after ``after``). Never beyond an event not yet
            readable, so nothing committed later is skipped; equal to ``after``
            (``0`` for none) when nothing newer exists.
        oldest_seq: The oldest seq the store still holds: a cursor below
            ``oldest_seq - 1`` has lost events (``1`` while nothing was ever removed).
    """

    items: tuple[HistoryEvent, ...]
    has_next: bool
    end_cursor: int
    oldest_seq: int
    last_seq: int = 0
    """The last seq committed when the call began (``0``: none): how far the feed goes now."""


def event_page(
    rows: Sequence[HistoryEvent], first: int, *, after: int, upto: int, last: int, oldest: int
) -> EventPage:
    """Build the page of :meth:`GraphStore.events` from the rows of one scan.

    Args:
        rows: Matching events with ``after < seq <= upto``, in seq order, at most
            ``first + 1``.
        first: The page size asked for.
        after: The cursor asked for (``0`` for none).
        upto: The last seq the scan looked at.
        last: The last seq committed when the scan began.
        oldest: The oldest seq the store holds.
    """
    items = tuple(rows[:first])
    if len(rows) > first:
        return EventPage(items, True, items[-1].seq if items else after, oldest, last)
    end = max(after, upto)
    return EventPage(items, end < last, end, oldest, last)


PRUNE_BATCH = 2_000
"""Most events one :meth:`GraphStore.prune_events` call removes (one short write)."""


@dataclass(frozen=True, slots=True)
class EventPrune:
    """What one :meth:`GraphStore.prune_events` call did.

    Attributes:
        removed: Events removed by this call.
        oldest_seq: The oldest seq the store holds now (:attr:`EventPage.oldest_seq`).
        more: Whether events the same rule removes remain: call again (after
            letting other writers in).
    """

    removed: int
    oldest_seq: int
    more: bool


@dataclass(frozen=True, slots=True)
class TraversalSpec:
    """What to walk.

    Attributes:
        start: Entity ids to start from (depth 0). Unknown, retired or merged
            ids are ignored; duplicates count once.
        steps: How the walk may leave an entity (relation type, direction, kinds).
        max_depth: Largest depth to reach; ``None`` for unbounded.
        as_of: Walk the graph as it was at this time; ``None`` for now.
        include_stale: Walk stale entities and relations (retired ones never).
        collect_edges: Also return every walked relation between reached
            entities (:attr:`Traversal.edges`), not only the tree.
    """

    start: Sequence[int]
    steps: Sequence[TraversalStep]
    max_depth: int | None = None
    as_of: datetime | None = None
    include_stale: bool = True
    collect_edges: bool = False


@dataclass(frozen=True, slots=True)
class WalkedEdges:
    """Every relation the traversal could walk between two reached entities.

    Arrays of equal length; ``source`` and ``target`` are indexes into
    :attr:`Traversal.entities` in the *walk* direction. ``group`` is an integer
    code of the relation's ``redundancyGroup`` (``-1`` for none; equal codes mean
    equal names) and ``group_size`` the number of live relations of the
    redundancy types (DEPENDS_ON, RUNS_ON) that leave the relation's ``from``
    entity with that group name (``0`` for none).
    """

    source: NDArray[np.int64]
    target: NDArray[np.int64]
    relation: NDArray[np.int64]
    group: NDArray[np.int64]
    group_size: NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Traversal:
    """The result of a walk: a breadth-first tree over the reached entities.

    Arrays of equal length, in breadth-first order (all depth-0 entities first).
    ``parent`` is the index (into ``entities``) of the entity this one was first
    reached from, ``-1`` for a start; ``via`` the id of the relation walked, ``-1``
    for a start. Following ``parent`` gives one shortest path from a start.
    ``stale`` flags entities whose status is stale; ``kind`` holds each
    entity's kind code (:meth:`~graphsvc.model.vocabulary.Vocabulary.kind_from_code`).
    """

    entities: NDArray[np.int64]
    depth: NDArray[np.int64]
    parent: NDArray[np.int64]
    via: NDArray[np.int64]
    stale: NDArray[np.bool_]
    kind: NDArray[np.int8]
    edges: WalkedEdges | None = None

    def __len__(self) -> int:
        """Return the number of reached entities (starts included)."""
        return int(self.entities.shape[0])


@dataclass(frozen=True, slots=True)
class StepEdges:
    """Every relation a walk along some steps could take, over the whole graph.

    Arrays of equal length: ``source`` and ``target`` are entity ids in the
    *walk* direction (a step with direction ``in`` goes from the relation's
    ``to`` to its ``from``), ``relation`` the relation's id. Ordered by
    relation id, then source. A relation that two steps walk both ways appears
    once per way.
    """

    source: NDArray[np.int64]
    target: NDArray[np.int64]
    relation: NDArray[np.int64]

    def __len__(self) -> int:
        """Return the number of edges."""
        return int(self.source.shape[0])


@dataclass(frozen=True, slots=True)
class Neighbours:
    """One-hop expansion from a set of entities.

    For each relation found: ``origin``, the index (into the input ids) of the
    entity it leaves; ``entity``, the entity reached; ``relation``, its id;
    ``kind``, the kind code of the entity reached; ``type``, the relation's type
    code (:meth:`~graphsvc.model.vocabulary.Vocabulary.type_from_code`). Rows
    come in no particular order.
    """

    origin: NDArray[np.int64]
    entity: NDArray[np.int64]
    relation: NDArray[np.int64]
    kind: NDArray[np.int8]
    type: NDArray[np.int8]

    def subset(self, rows: NDArray[np.bool_] | NDArray[np.int64]) -> Neighbours:
        """Return the rows selected by a boolean mask or an index array."""
        return Neighbours(
            self.origin[rows],
            self.entity[rows],
            self.relation[rows],
            self.kind[rows],
            self.type[rows],
        )


@dataclass(frozen=True, slots=True)
class AttributeColumn:
    """One indexed attribute of many entities, dictionary-encoded.

    ``codes[i]`` is the index into ``values`` of the value the ``i``-th asked
    entity states, or ``-1`` when it states none (or the id is unknown).
    ``values`` holds distinct JSON scalars; it may hold values no asked entity
    states.
    """

    name: str
    codes: NDArray[np.int32]
    values: tuple[JsonValue, ...]

    def value(self, i: int) -> JsonValue:
        """Return the value of the ``i``-th asked entity (``None`` when it states none)."""
        code = int(self.codes[i])
        return self.values[code] if code >= 0 else None

    def decoded(self) -> list[JsonValue]:
        """Return every asked entity's value (``None`` where it states none)."""
        return [self.values[c] if c >= 0 else None for c in self.codes.tolist()]


@dataclass(frozen=True, slots=True)
class EntityColumns:
    """Every (unmerged) entity of some kinds, column-wise, ordered by id.

    Whole-graph analyses (``graphsvc.analysis.health``) read these instead of
    records: three arrays of equal length. ``kinds`` holds kind codes
    (:meth:`~graphsvc.model.vocabulary.Vocabulary.kind_from_code`), ``statuses``
    status codes (:attr:`~graphsvc.model.vocabulary.Status.code`: 0 active,
    1 stale, 2 retired).
    """

    ids: NDArray[np.int64]
    kinds: NDArray[np.int8]
    statuses: NDArray[np.int8]

    def __len__(self) -> int:
        """Return the number of entities."""
        return int(self.ids.shape[0])


@dataclass(frozen=True, slots=True)
class RelationColumns:
    """Every (unmerged) relation of some types, column-wise, ordered by id.

    ``types`` holds type codes
    (:meth:`~graphsvc.model.vocabulary.Vocabulary.type_from_code`), ``statuses``
    status codes; ``from_ids``/``to_ids`` are the endpoints' entity ids.
    """

    ids: NDArray[np.int64]
    types: NDArray[np.int8]
    from_ids: NDArray[np.int64]
    to_ids: NDArray[np.int64]
    statuses: NDArray[np.int8]

    def __len__(self) -> int:
        """Return the number of relations."""
        return int(self.ids.shape[0])


@dataclass(frozen=True, slots=True)
class AssertionColumns:
    """Which source and scope asserts (or asserted) which entity, now, column-wise.

    One row per ``(source, scope, entity)`` assertion kept by the store (the
    bookkeeping of PRODUCT.md 2 "Runs and staleness"): ``assertor[i]`` indexes
    :attr:`assertors`, a tuple of ``(source, scope)``; ``missed[i]`` is 0 while
    the source asserts the entity, else the complete runs that missed it since.
    Relations' assertions are not included. Rows come in no particular order.
    """

    assertors: tuple[tuple[str, str], ...]
    assertor: NDArray[np.int32]
    entity: NDArray[np.int64]
    missed: NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What one :meth:`GraphStore.catch_up` did.

    Attributes:
        applied: Commits of the writer applied.
        reloaded: The whole index was read again (the replica fell too far behind,
            or the store was erased).
        last_commit: When the last commit applied was made (``None``: none applied).
    """

    applied: int
    reloaded: bool
    last_commit: datetime | None


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Sizes of the store, for metrics and readiness."""

    entities: int
    relations: int
    history_events: int
    bytes_on_disk: int
    last_commit: datetime | None


# -------------------------------------------------------------------------- writes


@dataclass(frozen=True, slots=True)
class EntityState:
    """An entity as the ingest engine needs it: current values and provenance.

    ``provenance`` maps ``name``, ``attributes.<a>`` and ``identifiers.<t>`` to
    ``(source, micros)`` of the write that set the current value.
    """

    id: int
    kind: EntityKind
    key: str
    name: str
    status: Status
    attributes: Mapping[str, JsonValue]
    identifiers: Mapping[str, str]
    provenance: Mapping[str, tuple[str, int]]


@dataclass(frozen=True, slots=True)
class RelationState:
    """A relation as the ingest engine needs it (``provenance`` as in :class:`EntityState`)."""

    id: int
    type: RelationType
    from_id: int
    to_id: int
    status: Status
    attributes: Mapping[str, JsonValue]
    provenance: Mapping[str, tuple[str, int]]


class ItemRef(NamedTuple):
    """An entity or relation id (a named tuple: cheap to hash in bulk).

    In a :class:`ChangeSet`, a negative id names an item created by the same
    change set (``NewEntity.temp_id`` / ``NewRelation.temp_id``).
    """

    item: ItemKind
    id: int


@dataclass(frozen=True, slots=True)
class NewEntity:
    """An entity to create; ``temp_id`` (negative) names it inside the change set."""

    temp_id: int
    kind: EntityKind
    key: str
    name: str
    status: Status
    attributes: Mapping[str, JsonValue]
    identifiers: Mapping[str, str]
    provenance: Mapping[str, tuple[str, int]]


@dataclass(frozen=True, slots=True)
class EntityUpdate:
    """New full values of an existing entity's fields (``None``: unchanged)."""

    id: int
    name: str | None = None
    attributes: Mapping[str, JsonValue] | None = None
    identifiers: Mapping[str, str] | None = None
    provenance: Mapping[str, tuple[str, int]] | None = None
    status: Status | None = None


@dataclass(frozen=True, slots=True)
class NewRelation:
    """A relation to create; endpoint ids may be temporary (negative) ids."""

    temp_id: int
    type: RelationType
    from_id: int
    to_id: int
    status: Status
    attributes: Mapping[str, JsonValue]
    provenance: Mapping[str, tuple[str, int]]


@dataclass(frozen=True, slots=True)
class RelationUpdate:
    """New full values of an existing relation's fields (``None``: unchanged).

    ``merged`` ends the relation because it moved onto the survivor of a merge.
    """

    id: int
    attributes: Mapping[str, JsonValue] | None = None
    provenance: Mapping[str, tuple[str, int]] | None = None
    status: Status | None = None
    merged: bool = False


@dataclass(frozen=True, slots=True)
class Merge:
    """Entity ``loser`` becomes part of ``survivor``.

    Its keys become aliases of the survivor, its identifiers point at the
    survivor, and it is never returned again.
    """

    loser: int
    survivor: int


@dataclass(frozen=True, slots=True)
class NewAlias:
    """``key`` (of ``kind``) becomes another name of entity ``entity_id``.

    ``entity_id`` may be a temporary id. This happens when an incoming entity
    was identified as an existing one by a shared identifier, or two incoming
    items were the same entity.
    """

    entity_id: int
    kind: EntityKind
    key: str


@dataclass(frozen=True, slots=True)
class Assertion:
    """The change set's source asserts ``ref`` in its scope, in the current run."""

    ref: ItemRef


@dataclass(frozen=True, slots=True)
class AssertionState:
    """One ``(source, scope)`` assertion of an item, as stored.

    ``missed`` is 0 while the source asserts the item; after a complete run that
    did not assert it, it counts the complete runs that have missed it since.
    """

    ref: ItemRef
    last_run: int
    missed: int


@dataclass(frozen=True, slots=True)
class RunUpdate:
    """A run's new state."""

    run_id: str
    state: RunState
    batches: int


@dataclass(frozen=True, slots=True)
class NewHistory:
    """A history event to append; the store adds ``seq`` and time."""

    op: HistoryOp
    ref: ItemRef
    changes: Mapping[str, FieldChange] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Everything one batch (or one run's finish) changes, applied atomically.

    Creating an item implies two things the store records by itself: a
    ``created`` history event, and (unless it is created retired) an assertion
    of the item by this source and scope in this run. ``assertions`` and
    ``history`` therefore list only what concerns existing items.

    Attributes:
        at: Commit time in microseconds; must be later than every earlier commit
            (use :meth:`WriteTransaction.next_commit_time`).
        source: The source making the change.
        scope: The scope it describes.
        actor: Who sent it (token name, ``cli``).
        run_id: The run the change belongs to, if any.
        run_seq: The run's sequence number; assertions record it.
        entities: Entities to create.
        entity_updates: Entity fields to change.
        merges: Entities merged into others.
        aliases: Keys that become aliases of an entity.
        relations: Relations to create.
        relation_updates: Relation fields to change.
        assertions: Items this source and scope assert in this run.
        withdrawn: Assertions of this source and scope to mark as missed once
            more (set ``missed`` to the given count).
        moved_assertions: Every source's assertions of the first item now
            assert the second (merges move what sources said onto the survivor).
        history: Events to append.
        run_update: The run's new state, if it changes.
        conflicts: Identity conflicts to record (with ``at``, ``source`` and
            ``run_id`` of the change set).
        closed_conflicts: Recorded identity conflicts to close (dismissed or
            resolved), with ``at`` and ``actor`` of the change set. Each must be
            open (the caller checks in the transaction); a conflict is closed once.
        asserts_created: Whether the source asserts the items the change set
            creates (ingest: yes). An administrative change (a merge's relations
            moved onto the survivor) creates items no source newly asserts:
            the assertions moved with ``moved_assertions`` are theirs.
    """

    at: int
    source: str
    scope: str
    actor: str
    run_id: str | None
    run_seq: int
    entities: Sequence[NewEntity] = ()
    entity_updates: Sequence[EntityUpdate] = ()
    merges: Sequence[Merge] = ()
    aliases: Sequence[NewAlias] = ()
    relations: Sequence[NewRelation] = ()
    relation_updates: Sequence[RelationUpdate] = ()
    assertions: Sequence[Assertion] = ()
    withdrawn: Sequence[tuple[ItemRef, int]] = ()
    moved_assertions: Sequence[tuple[ItemRef, ItemRef]] = ()
    history: Sequence[NewHistory] = ()
    run_update: RunUpdate | None = None
    conflicts: Sequence[NewConflict] = ()
    closed_conflicts: Sequence[ClosedConflict] = ()
    asserts_created: bool = True


@dataclass(frozen=True, slots=True)
class NewConflict:
    """An identity conflict to record (see :class:`~graphsvc.model.records.IdentityConflict`).

    ``entity_id`` may be a temporary id of an entity the change set creates.
    """

    kind: EntityKind
    id_type: str
    value: str
    entity_id: int
    holder_id: int
    item_key: str


@dataclass(frozen=True, slots=True)
class ClosedConflict:
    """A recorded identity conflict to close.

    ``dismissed`` with the reason given, or ``resolved`` with the merge that
    resolved it as the reason.
    """

    seq: int
    state: ConflictState
    reason: str


@dataclass(frozen=True, slots=True)
class ConflictPage:
    """One page of identity conflicts, oldest first; ``end_cursor`` is the last ``seq``.

    ``total`` counts every recorded conflict in the state asked (every state
    when none was), not only this page.
    """

    items: tuple[IdentityConflict, ...]
    has_next: bool
    end_cursor: int | None
    total: int


@dataclass(frozen=True, slots=True)
class CheckFinding:
    """One problem :meth:`GraphStore.check` found.

    Attributes:
        check: Which check: ``integrity`` (the file or database itself),
            ``history`` (history against the graph), ``index`` (the in-memory
            index against the file) or ``identifiers`` (one live holder per
            value, one holder per strong value).
        message: What is wrong, naming the items.
    """

    check: str
    message: str


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What :meth:`GraphStore.check` did and found.

    Attributes:
        checks: The checks run, with what each looked at (``"history": "1,000,000
            entities, 5,000,000 relations, 6,000,021 events"``); a check a
            backend leaves to its database's own tools says so here.
        findings: The problems, at most the ``limit`` asked for per check.
    """

    checks: Mapping[str, str]
    findings: tuple[CheckFinding, ...]

    @property
    def clean(self) -> bool:
        """Whether nothing was found."""
        return not self.findings


class WriteTransaction(ABC):
    """An exclusive write transaction (see :meth:`GraphStore.write`).

    Lookups see the committed state plus nothing else: a change set is only
    visible after the transaction commits.
    """

    @abstractmethod
    async def next_commit_time(self) -> int:
        """Return a commit time in microseconds: not before now, after every earlier commit."""

    @abstractmethod
    async def lookup_keys(self, kind: EntityKind, keys: Sequence[str]) -> dict[str, int]:
        """Return key -> entity id for the keys (or aliases) of ``kind`` that exist.

        Retired entities are found; merged keys answer with the survivor's id.
        """

    @abstractmethod
    async def lookup_identifiers(
        self, kind: EntityKind, identifiers: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, ...]]:
        """Return (type, normalised value) -> ids of every entity holding that identifier.

        Only unmerged entities of ``kind`` are considered, of any status (a
        retired entity keeps its identifiers: a strong one can revive it);
        ids ascending; values nobody holds are left out. Which holder an item
        is, is the ingest's rule (``graphsvc.ingest.identify``), not the store's.
        """

    @abstractmethod
    async def load_entities(self, ids: Sequence[int]) -> list[EntityState]:
        """Return the current state of the given (existing, unmerged) entities, in order.

        Raises:
            NotFound: when an id does not exist.
        """

    @abstractmethod
    async def load_relations(self, ids: Sequence[int]) -> list[RelationState]:
        """Return the current state of the given unmerged relations (unknown ids are skipped)."""

    @abstractmethod
    async def lookup_relations(
        self, triples: Sequence[tuple[RelationType, int, int]]
    ) -> dict[tuple[RelationType, int, int], RelationState]:
        """Return the existing (unmerged) relations with these (type, from, to)."""

    @abstractmethod
    async def relations_touching(self, entity_ids: Sequence[int]) -> list[RelationState]:
        """Return every unmerged relation whose from or to is one of ``entity_ids``."""

    @abstractmethod
    async def missing_assertions(
        self, source: str, scope: str, run_seq: int, *, saturated_at: int
    ) -> list[AssertionState]:
        """Return this source and scope's assertions that run ``run_seq`` has not renewed.

        That is every assertion with ``missed == 0`` and ``last_run < run_seq``
        (asserted before the run, not since), plus every one already missed
        (``missed > 0``) whose count is not ``saturated_at``. The engine stops
        counting an assertion's misses at the retirement threshold (it writes
        exactly ``saturated_at``), so an item retired long ago costs a complete
        run nothing; a count left above or below the threshold by a change of
        policy is returned, and brought to the threshold by the next runs.
        """

    @abstractmethod
    async def asserted_elsewhere(
        self, refs: Sequence[ItemRef], source: str, scope: str
    ) -> set[ItemRef]:
        """Return those ``refs`` that some other source or scope currently asserts."""

    @abstractmethod
    async def assertion_refs(self, ref: ItemRef) -> list[tuple[str, str, AssertionState]]:
        """Return (source, scope, state) of every assertion of ``ref`` (to move on merge)."""

    @abstractmethod
    async def get_run(self, run_id: str) -> tuple[RunRecord, int] | None:
        """Return the run and its sequence number, or ``None``."""

    @abstractmethod
    async def create_run(self, source: str, scope: str, run_id: str, at: int) -> int:
        """Record a new open run and return its sequence number (strictly increasing).

        Raises:
            Conflict: when ``run_id`` already exists.
        """

    @abstractmethod
    async def load_conflicts(self, seqs: Sequence[int]) -> list[IdentityConflict]:
        """Return the recorded identity conflicts with these seqs, by seq (unknown ones skipped)."""

    @abstractmethod
    async def conflicts_of(self, entity_ids: Sequence[int]) -> list[IdentityConflict]:
        """Return every recorded identity conflict (any state) naming one of ``entity_ids``.

        A conflict names an entity as its ``entity_id`` or ``holder_id``, as
        recorded (an entity merged since is not followed to its survivor). By seq.
        """

    @abstractmethod
    async def apply(self, changes: ChangeSet) -> dict[int, int]:
        """Stage ``changes``; they commit with the transaction.

        Returns:
            Temporary id -> assigned id, for new entities and relations.
        """


class GraphStore(ABC):
    """A graph store. Open it with ``async with store:`` or :meth:`open`/:meth:`close`."""

    # ----------------------------------------------------------------- lifecycle
    @abstractmethod
    async def open(self) -> None:
        """Open the store (create it when new) and make it ready to serve.

        Raises:
            StoreUnavailable: when it cannot be opened.
            StoreCorrupted: when it holds something graphsvc did not write.
        """

    @abstractmethod
    async def close(self) -> None:
        """Close the store; safe to call twice."""

    async def __aenter__(self) -> Self:
        """Open the store."""
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        await self.close()

    @abstractmethod
    async def ping(self) -> None:
        """Check the store can serve a read now.

        Raises:
            StoreUnavailable: when it cannot.
        """

    @abstractmethod
    async def stats(self) -> StoreStats:
        """Return the store's sizes."""

    # --------------------------------------------------------------------- reads
    @abstractmethod
    async def resolve(
        self, refs: Sequence[tuple[EntityKind, str]], *, as_of: datetime | None = None
    ) -> list[int | None]:
        """Return the entity id named by each (kind, key or alias), ``None`` if none.

        With ``as_of``, only entities that existed then are found, and aliases
        created by later merges do not resolve.
        """

    @abstractmethod
    async def resolve_identifiers(
        self, kind: EntityKind, identifiers: Sequence[tuple[str, str]]
    ) -> list[tuple[int, ...]]:
        """Return, for each (type, normalised value), the ids of every entity holding it.

        As :meth:`WriteTransaction.lookup_identifiers`, in the order asked
        (an empty tuple when nobody holds it).
        """

    @abstractmethod
    async def entities(
        self, ids: Sequence[int], *, as_of: datetime | None = None
    ) -> list[EntityRecord | None]:
        """Return the entities with these ids, in order; ``None`` for unknown ids.

        A merged id answers with its survivor. With ``as_of``: the entity as it
        was then (``None`` if it did not exist yet).
        """

    @abstractmethod
    async def find_entities(
        self,
        query: EntityQuery,
        *,
        first: int,
        after: int | None = None,
        as_of: datetime | None = None,
    ) -> EntityPage:
        """Return one page of the entities matching ``query``, ordered by id.

        With ``as_of``, the query is matched against the entities as
        :meth:`entities` returns them for that time (an entity that did not
        exist yet is not matched, nor one :meth:`entities` answers ``None`` for,
        such as one merged away; the name, status and attributes are those it
        had then; the key never changes) and the page holds those records;
        ``total`` counts the matches then. With a text or attribute condition
        counting stops above :data:`ENTITY_COUNT_BOUND` matches
        (``total_is_lower_bound``); without one the count is exact. The
        cost grows with the entities changed since ``as_of`` (each one's past
        state is rebuilt from its history), not with the graph.
        """

    @abstractmethod
    async def relations(
        self,
        entity_id: int,
        direction: Direction,
        *,
        types: frozenset[RelationType] | None = None,
        first: int,
        after: int | None = None,
        as_of: datetime | None = None,
    ) -> RelationPage:
        """Return one page of the relations leaving (``OUT``) or reaching (``IN``) an entity.

        Ordered by relation id. Retired relations are included.
        """

    @abstractmethod
    async def relations_by_id(
        self, ids: Sequence[int], *, as_of: datetime | None = None
    ) -> list[RelationRecord | None]:
        """Return the relations with these ids, in order; ``None`` for unknown ids."""

    @abstractmethod
    async def history(
        self, ref: ItemRef, *, first: int, after: int | None = None, newest_first: bool = False
    ) -> HistoryPage:
        """Return the history of one entity or relation, oldest first (or newest first).

        For an entity this includes the events of entities merged into it.
        ``after`` is the ``seq`` of the last event of the previous page: the page
        holds the events with a larger ``seq`` (oldest first), or with
        ``newest_first`` those with a smaller one, newest first. ``total``
        counts every event either way.
        """

    @abstractmethod
    async def events(self, query: EventQuery, *, first: int, after: int | None = None) -> EventPage:
        """Return the history of the whole store after a cursor: the event feed.

        Events with ``seq > after`` (``None``: from the start) that match
        ``query``, in seq order, at most ``first`` (``0``: none, only the
        cursor). One call looks through at most :data:`EVENT_SCAN` sequence
        numbers, so a page may hold fewer than ``first`` events, even none,
        while ``has_next`` is true; follow :attr:`EventPage.end_cursor`.

        Seq order is commit order: a reader that has seen ``seq = n`` never
        later finds a new event below ``n``, so a feed following
        ``end_cursor`` sees every committed event exactly once. Each backend
        says why (the embedded store has one writer; Neo4j allocates seqs
        under the store-wide write lock, held until commit). Every call first
        reads the last committed seq and scans no further: events committed
        while it reads are left for the next call, never skipped.

        Events of merged entities and of items retired since stay in the
        feed; an event's item is named by its id as recorded.
        """

    @abstractmethod
    async def prune_events(
        self, *, before: datetime | None = None, keep: int | None = None, limit: int = PRUNE_BATCH
    ) -> EventPrune:
        """Remove the oldest events of the history (event retention), at most ``limit``.

        An event is removed when it was committed before ``before`` or when its
        seq is more than ``keep`` below the last seq (either rule; ``None``: that
        rule is off; both off: nothing is removed). Commit times increase with
        seq (each commit is given ``max(now, last commit + 1 µs)``), so both rules
        remove a prefix of the history: every event after
        :attr:`EventPage.oldest_seq` is still held, and a reader whose cursor
        fell below ``oldest_seq - 1`` is told so (410 / ``GONE``), never served
        a feed with a hole. The newest event is never removed (the store's seq
        counter continues from it).

        One call is one short write transaction: a writer waits at most for
        ``limit`` deletions. Callers loop while :attr:`EventPrune.more`.

        The history is the events: pruning also shortens per-item
        :meth:`history` answers (an item's history then begins at its oldest
        held event, its ``created`` event may be gone) and the reach of
        attribute, name and identifier values read ``as_of`` a time before the
        oldest held event (they are then the values of that oldest event's
        time). Statuses and relations as of any time, identity conflicts and
        runs are kept in their own tables and are not pruned.

        Raises:
            ReadOnlyStore: on a read replica.
        """

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after each write transaction of this process commits.

        Called in the committing thread, after the commit (the events are then
        readable); it must be quick and thread-safe, and not raise. Commits of
        other processes are not seen (followers poll for those).
        """
        self.__dict__.setdefault("_commit_listeners", []).append(listener)

    def _committed(self) -> None:
        """Tell the commit listeners a write transaction committed (backends call it)."""
        for listener in self.__dict__.get("_commit_listeners", ()):
            listener()

    @abstractmethod
    async def traverse(self, spec: TraversalSpec) -> Traversal:
        """Walk the graph breadth-first (see :class:`TraversalSpec`, :class:`Traversal`).

        Cycles are walked once; each entity is reached once, at its smallest depth.
        Retired and merged entities and relations are never walked.
        """

    @abstractmethod
    async def step_edges(
        self,
        steps: Sequence[TraversalStep],
        *,
        as_of: datetime | None = None,
        include_stale: bool = True,
    ) -> StepEdges:
        """Return every relation a walk along ``steps`` could take, over the whole graph.

        The passes over the whole graph (dependency cycles) read it as arrays
        from this, in one call. Same rules as :meth:`traverse`: a relation is
        listed when some step follows its type in its direction from its source's
        kind to its target's kind, and the relation and both entities are
        walkable (retired and merged never; stale only with ``include_stale``;
        as of a past time, statuses as they were then and only what existed
        then).
        """

    @abstractmethod
    async def neighbours(
        self,
        ids: Sequence[int] | NDArray[np.int64],
        steps: Sequence[TraversalStep],
        *,
        as_of: datetime | None = None,
        include_stale: bool = True,
    ) -> Neighbours:
        """Expand one hop from each of ``ids`` along ``steps`` (same rules as :meth:`traverse`).

        ``ids`` may be a list of ints or an int64 array (cheaper for large sets).
        """

    async def attribute_column(
        self,
        ids: Sequence[int] | NDArray[np.int64],
        name: str,
        *,
        as_of: datetime | None = None,
    ) -> AttributeColumn:
        """Return the value of the indexed attribute ``name`` for each of ``ids``.

        Analyses read attributes of very many entities (the tier of every
        affected service) through this instead of whole records. Only
        attributes declared ``indexed`` in the vocabulary
        (:attr:`~graphsvc.model.vocabulary.Vocabulary.indexed_attributes`) may
        be asked for; a backend may answer them from memory. This default reads
        records; backends override it for speed. Merged ids answer with their
        survivor; with ``as_of``, values as they were then (unknown then: none).

        Raises:
            InvalidInput: when ``name`` is not an indexed attribute.
        """
        check_indexed(name)
        wanted = [int(i) for i in ids]
        found = await self.entities(wanted, as_of=as_of) if wanted else []
        values: list[JsonValue] = []
        positions: dict[str, int] = {}
        codes = np.full(len(wanted), -1, dtype=np.int32)
        for i, record in enumerate(found):
            value = record.attributes.get(name) if record is not None else None
            if value is None:
                continue
            marker = orjson.dumps(value).decode()
            code = positions.get(marker)
            if code is None:
                code = positions[marker] = len(values)
                values.append(value)
            codes[i] = code
        return AttributeColumn(name, codes, tuple(values))

    @abstractmethod
    async def entity_columns(
        self, kinds: frozenset[EntityKind] | None = None, *, as_of: datetime | None = None
    ) -> EntityColumns:
        """Return the id, kind and status of every entity of ``kinds`` (``None``: all), by id.

        Merged entities are left out. With ``as_of``: the entities that existed
        then (created at or before it), with the status they had then.
        """

    @abstractmethod
    async def relation_columns(
        self, types: frozenset[RelationType], *, as_of: datetime | None = None
    ) -> RelationColumns:
        """Return id, type, endpoints and status of every relation of ``types``, by id.

        Retired relations are included (their status says so); merged ones are
        not. With ``as_of``: the relations that existed then, with their status
        then.
        """

    @abstractmethod
    async def entity_assertions(self) -> AssertionColumns:
        """Return every ``(source, scope)`` assertion of an entity the store keeps now.

        Assertions are bookkeeping without history: there is no ``as_of``.
        Assertions of merged entities were moved onto their survivors.
        """

    @abstractmethod
    async def identity_conflicts(
        self, *, first: int, after: int | None = None, state: ConflictState | None = None
    ) -> ConflictPage:
        """Return recorded identity conflicts, oldest first, ``seq > after``.

        With ``state``, only the conflicts in that state now (``open``: neither
        dismissed nor resolved), and :attr:`ConflictPage.total` counts those.
        Entity ids are as recorded (a holder merged since answers with its own
        id); a closed conflict carries its :attr:`~IdentityConflict.closure`.
        """

    @abstractmethod
    async def runs(self, *, source: str | None = None, first: int = 100) -> list[RunRecord]:
        """Return the latest runs, newest first (optionally of one source)."""

    async def verify(self) -> None:
        """Read the whole store once to find damage before serving (the server's start).

        Damage found is remembered: :meth:`ping` fails from then on with the
        reason. This default does nothing (a database server checks itself).

        Raises:
            StoreCorrupted: when the store is damaged.
        """
        return

    @abstractmethod
    async def check(self, *, limit: int = 100) -> CheckReport:
        """Check the store's consistency (``graphsvc check``); read-only.

        Args:
            limit: Most findings reported per check.

        Raises:
            StoreCorrupted: when the store cannot be read at all.
        """

    async def catch_up(self) -> CatchUp:
        """Follow the writer: apply what another process committed since the last call.

        Only a store opened read-only beside a writing process has anything to
        do (the embedded store's read replicas). This default does nothing: a
        database server is read afresh by every call.
        """
        return CatchUp(0, False, None)

    async def release_loop(self) -> None:
        """Let go of what the store opened for the running event loop.

        Called on each worker event loop of the API before it stops (the store was
        opened on another loop). This default holds nothing per loop.
        """
        return

    @property
    def webhooks(self) -> WebhookStore:
        """Webhook subscriptions and their delivery log (:mod:`graphsvc.store.webhooks`).

        Raises:
            InvalidInput: when the backend keeps none (this default).
        """
        msg = f"{type(self).__name__} keeps no webhook subscriptions"
        raise InvalidInput(msg)

    # -------------------------------------------------------------------- writes
    async def erase(self) -> None:
        """Delete everything the store holds, keeping it open and its writer lock held.

        What ``graphsvc demo --reset`` does: the store must be open for
        writing, so a store another process writes to is never erased (its
        open fails first). This default refuses: a backend whose data other
        processes may be using without a lock of graphsvc's (Neo4j) is not
        erased by graphsvc.

        Raises:
            InvalidInput: when the backend is not erased by graphsvc.
        """
        msg = f"{type(self).__name__} is not erased by graphsvc; empty it with its own tools"
        raise InvalidInput(msg)

    async def transact(self, work: Callable[[WriteTransaction], Awaitable[_T]]) -> _T:
        """Run ``work`` in one exclusive write transaction and return what it returns.

        The transaction commits when ``work`` returns and rolls back when it
        raises. A backend may run ``work`` more than once: Neo4j runs it as the
        driver's managed transaction, which is rolled back and run again after
        a transient failure (a lost connection, a cluster leader switch, a lock
        timeout). ``work`` must therefore derive everything it writes from what
        it reads through ``tx`` (as the ingest engine does), and keep no effect
        outside the transaction. This default runs it once in :meth:`write`.
        """
        async with self.write() as tx:
            return await work(tx)

    @abstractmethod
    def write(self) -> AbstractAsyncContextManager[WriteTransaction]:
        """Return an exclusive write transaction.

        ``async with store.write() as tx:`` commits when the block ends normally
        and rolls back when it raises. Only one write transaction runs at a time;
        readers are not blocked while it computes, and see its changes only
        once it has committed.
        """
