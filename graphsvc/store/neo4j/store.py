"""The Neo4j store: the storage port on Neo4j 5 through the official async driver.

How it uses the driver:

* **Reads** run in managed read transactions (``session.execute_read``), which
  the driver retries on transient failures; each port read is one transaction.
* **Writes** run as managed write transactions (:meth:`Neo4jStore.transact`,
  which the ingest engine uses): the unit's first statement writes the store's
  meta node, which takes Neo4j's lock on it until commit, so graphsvc writers
  in every process are serialised on it and a unit sees no other graphsvc
  write. The driver runs a unit again after a transient failure (a lost
  connection, a leader switch); a unit reads the counters under the lock and
  derives every write from what it read, so a retry writes what a first run
  would have. Statements are ``UNWIND``-batched and ``MERGE`` items by id.
  ``write()`` (the port's context-manager form) is one explicit transaction
  with the same lock, which the driver does not retry. A lost connection
  *during* a commit is reported as such (:class:`~graphsvc.errors.StoreUnavailable`),
  and sending the batch again is safe.
* **Sessions** share one bookmark manager, so a read issued after a write
  committed sees it, also on a Neo4j cluster (causal consistency within this
  process).
* **Errors** of the driver become :mod:`graphsvc.errors` types at this
  boundary (:mod:`graphsvc.store.neo4j.errors`).

Every statement comes from :mod:`graphsvc.store.neo4j.cypher`; what is not
Cypher (status replay for ``as_of``, the breadth-first walk) is pure Python in
:mod:`~graphsvc.store.neo4j.codec` and :mod:`~graphsvc.store.neo4j.walk`. The
store talks to Neo4j only through a :class:`Gateway`, which tests replace to
pin the statements each operation sends.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

import numpy as np
import orjson
from neo4j import READ_ACCESS, WRITE_ACCESS, AsyncGraphDatabase
from neo4j.exceptions import DriverError, Neo4jError
from numpy.typing import NDArray
from pydantic import JsonValue

from graphsvc.errors import (
    Conflict,
    GraphSvcError,
    NotFound,
    StoreCorrupted,
    StoreError,
    StoreUnavailable,
)
from graphsvc.model.records import (
    ConflictClosure,
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
    from_micros,
    to_micros,
)
from graphsvc.model.vocabulary import (
    VOCABULARY,
    Direction,
    EntityKind,
    IdentifierStrength,
    RelationType,
    Status,
    TraversalStep,
    Vocabulary,
    normalize_key,
)
from graphsvc.store.base import (
    ENTITY_COUNT_BOUND,
    EVENT_SCAN,
    MERGED,
    PRUNE_BATCH,
    AssertionColumns,
    AssertionState,
    AttributeColumn,
    ChangeSet,
    CheckFinding,
    CheckReport,
    ConflictPage,
    EntityColumns,
    EntityPage,
    EntityQuery,
    EntityState,
    EventPage,
    EventPrune,
    EventQuery,
    GraphStore,
    HistoryPage,
    ItemRef,
    Neighbours,
    RelationColumns,
    RelationPage,
    RelationState,
    StepEdges,
    StoreStats,
    Traversal,
    TraversalSpec,
    WriteTransaction,
    check_indexed,
    entity_matches,
    event_page,
    merge_id_pages,
)
from graphsvc.store.history import ItemState, revert
from graphsvc.store.locks import ThreadSafeAsyncLock
from graphsvc.store.neo4j import cypher as q
from graphsvc.store.neo4j.codec import (
    decode,
    dumps,
    encode,
    group_at,
    indexed_mirror,
    json_equal,
    load_provenance,
    load_provenance_pairs,
    mirrorable,
    provenance_json,
    status_at,
)
from graphsvc.store.neo4j.errors import boundary
from graphsvc.store.neo4j.walk import Edge, Node, StepMask, bfs, count_groups, one_hop
from graphsvc.store.neo4j.webhooks import Neo4jWebhooks

__all__ = ["DriverGateway", "ExplicitTx", "Gateway", "Neo4jStore", "Run"]

T = TypeVar("T")
Row = dict[str, Any]
Run = Callable[[q.Statement], Awaitable[list[Row]]]
"""Runs one statement inside the current transaction and returns its rows."""

_WRITE_BATCH = 5000
_READ_BATCH = 10_000
_WALK_BATCH = 10_000
_FETCH_SIZE = 50_000


def _chunks(values: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _now_micros() -> int:
    return time.time_ns() // 1000


# ===================================================================== gateway


class ExplicitTx(Protocol):
    """An open explicit transaction."""

    async def run(self, statement: q.Statement) -> list[Row]:
        """Run one statement and return its rows."""

    async def commit(self) -> None:
        """Commit."""

    async def rollback(self) -> None:
        """Roll back."""


class Gateway(Protocol):
    """How the store reaches Neo4j (the driver, or a test double)."""

    async def connect(self) -> None:
        """Create the driver and check the server answers."""

    async def close(self) -> None:
        """Close the driver; safe to call twice."""

    async def release_loop(self) -> None:
        """Close what was opened for the running event loop (not the one that connected)."""

    async def read(self, work: Callable[[Run], Awaitable[T]], doing: str) -> T:
        """Run ``work`` in a managed read transaction (it may run more than once)."""

    async def write(self, work: Callable[[Run], Awaitable[T]], doing: str) -> T:
        """Run ``work`` in a managed write transaction (it may run more than once)."""

    def begin(self, doing: str) -> AbstractAsyncContextManager[ExplicitTx]:
        """Open an explicit write transaction (the caller commits or rolls back)."""


async def _records(result: Any, statement: q.Statement) -> list[Row]:
    """Every row ``statement`` answered, as a column -> value dict.

    A packed statement (:func:`~graphsvc.store.neo4j.cypher.packed`) answers
    one record holding every row. Every statement returns plain values (no
    nodes or paths), so records are zipped with their keys: ``Result.data()``
    would walk each value through the driver's graph-type exporter.
    """
    keys = result.keys()
    records = [dict(zip(keys, record, strict=True)) async for record in result]
    if not statement.columns:
        return records
    columns = statement.columns
    return [dict(zip(columns, row, strict=True)) for row in records[0]["rows"]]


class _DriverTx:
    """:class:`ExplicitTx` over a driver transaction."""

    def __init__(self, tx: Any, doing: str) -> None:
        self._tx = tx
        self._doing = doing

    async def run(self, statement: q.Statement) -> list[Row]:
        async with boundary(self._doing):
            result = await self._tx.run(statement.text, dict(statement.params))
            return await _records(result, statement)

    async def commit(self) -> None:
        async with boundary(f"{self._doing}: commit"):
            await self._tx.commit()

    async def rollback(self) -> None:
        async with boundary(f"{self._doing}: rollback"):
            await self._tx.rollback()


class DriverGateway:
    """:class:`Gateway` over the official async driver.

    The async driver belongs to the event loop it was created on. The API runs
    requests on several worker loops (one per thread), so the gateway keeps one
    driver per loop: the one :meth:`connect` made (and checked) on its loop, and
    one made on first use on every other loop, closed by :meth:`release_loop` on
    that loop. Each has its own bookmark manager, so read-your-writes holds within
    a loop; on a single server every committed write is visible to every loop.

    Args:
        uri: Bolt or neo4j URI (``neo4j://`` routes in a cluster).
        user: User name.
        password: Password.
        database: Database name.
    """

    def __init__(self, uri: str, user: str, password: str, database: str) -> None:
        self.uri = uri
        self.user = user
        self._password = password
        self.database = database
        self._drivers: dict[asyncio.AbstractEventLoop, tuple[Any, Any]] = {}
        self._home: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DriverGateway({self.uri!r}, user={self.user!r}, database={self.database!r})"

    def _new_driver(self) -> Any:
        try:
            return AsyncGraphDatabase.driver(
                self.uri,
                auth=(self.user, self._password),
                # the server's notifications (an unknown label or property on a
                # young database, a cartesian product) are for query authors,
                # not for graphsvc's logs: the driver would log each one
                notifications_min_severity="OFF",
                user_agent="graphsvc",
            )
        except ValueError as exc:
            msg = f"connecting to Neo4j at {self.uri}: {exc} (check GRAPHSVC_NEO4J_URI)"
            raise StoreUnavailable(msg) from exc

    async def connect(self) -> None:
        """Create the driver of this loop and the bookmark manager; check connectivity."""
        async with boundary(f"connecting to Neo4j at {self.uri}"):
            driver = self._new_driver()
            try:
                await driver.verify_connectivity()
            except BaseException:
                await driver.close()
                raise
        loop = asyncio.get_running_loop()
        with self._lock:
            self._home = loop
            self._drivers[loop] = (driver, AsyncGraphDatabase.bookmark_manager())

    async def close(self) -> None:
        """Close the driver of this loop; safe to call twice.

        Drivers of other loops are closed by :meth:`release_loop` on their loops
        (before those stop); one that was not is forgotten with its loop.
        """
        with self._lock:
            found = self._drivers.pop(asyncio.get_running_loop(), None)
            self._home = None
            self._drivers.clear()
        if found is not None:
            async with boundary("closing the Neo4j driver"):
                await found[0].close()

    async def release_loop(self) -> None:
        """Close the driver made for the running loop, if it is not the connecting one."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if loop is self._home:
                return
            found = self._drivers.pop(loop, None)
        if found is not None:
            async with boundary("closing a Neo4j driver"):
                await found[0].close()

    def _driver_here(self) -> tuple[Any, Any]:
        loop = asyncio.get_running_loop()
        found = self._drivers.get(loop)
        if found is not None:
            return found
        with self._lock:
            if self._home is None:
                msg = "the store is not open"
                raise StoreUnavailable(msg)
            found = self._drivers.get(loop)
            if found is None:
                found = (self._new_driver(), AsyncGraphDatabase.bookmark_manager())
                self._drivers[loop] = found
        return found

    def _session(self, access_mode: str) -> Any:
        driver, bookmarks = self._driver_here()
        return driver.session(
            database=self.database,
            bookmark_manager=bookmarks,
            default_access_mode=access_mode,
            # a walk level or a read batch is one statement of up to tens of
            # thousands of rows: fetched in one go rather than 1,000 per round trip
            fetch_size=_FETCH_SIZE,
        )

    async def _managed(self, mode: str, work: Callable[[Run], Awaitable[T]], doing: str) -> T:
        async def unit(tx: Any) -> T:
            async def run(statement: q.Statement) -> list[Row]:
                result = await tx.run(statement.text, dict(statement.params))
                return await _records(result, statement)

            return await work(run)

        async with boundary(doing), self._session(mode) as session:
            if mode == READ_ACCESS:
                return await session.execute_read(unit)  # type: ignore[no-any-return]
            return await session.execute_write(unit)  # type: ignore[no-any-return]

    async def read(self, work: Callable[[Run], Awaitable[T]], doing: str) -> T:
        """Run ``work`` in a managed read transaction."""
        return await self._managed(READ_ACCESS, work, doing)

    async def write(self, work: Callable[[Run], Awaitable[T]], doing: str) -> T:
        """Run ``work`` in a managed write transaction."""
        return await self._managed(WRITE_ACCESS, work, doing)

    @asynccontextmanager
    async def begin(self, doing: str) -> AsyncIterator[ExplicitTx]:
        """Open an explicit write transaction in a new session."""
        session = self._session(WRITE_ACCESS)
        try:
            async with boundary(doing):
                tx = await session.begin_transaction(metadata={"app": "graphsvc"})
            yield _DriverTx(tx, doing)
        finally:
            with suppress(Neo4jError, DriverError, OSError):
                await session.close()


_RELATION_TYPES = {t.value: t for t in RelationType}


def _holders_by_position(rows: Sequence[Row], n: int) -> list[tuple[int, ...]]:
    """Rows ``{i, id}`` of :func:`~graphsvc.store.neo4j.cypher.resolve_identifiers` per position."""
    found: list[list[int]] = [[] for _ in range(n)]
    for row in rows:
        found[int(row["i"])].append(int(row["id"]))
    return [tuple(sorted(ids)) for ids in found]


def _edges_now(rows: Sequence[Row], outgoing: bool) -> Iterator[tuple[int, Edge]]:
    """(frontier id, edge) of each row of a walk of the present (``WALK_FIELDS_NOW``)."""
    for r in rows:
        v = Node(id=r["vid"], kind=r["v_kind"], status=r["v_status"], first_seen=0)
        yield (
            r["uid"],
            Edge(
                relation=r["rid"],
                type=_RELATION_TYPES[r["type"]],
                is_out=outgoing,
                status=r["r_status"],
                first_seen=0,
                group=r["grp"],
                v=v,
            ),
        )


def _edges_as_of(rows: Sequence[Row], outgoing: bool, as_of: int) -> Iterator[tuple[int, Edge]]:
    """(frontier id, edge) of each row of a walk of a past time, statuses replayed to ``as_of``."""
    for r in rows:
        v = Node(
            id=r["vid"],
            kind=r["v_kind"],
            status=status_at(r["v_status"], r["v_s_at"], r["v_s_old"], as_of),
            first_seen=r["v_first"],
        )
        yield (
            r["uid"],
            Edge(
                relation=r["rid"],
                type=_RELATION_TYPES[r["type"]],
                is_out=outgoing,
                status=status_at(r["r_status"], r["r_s_at"], r["r_s_old"], as_of),
                first_seen=r["r_first"],
                group=group_at(r["grp"], r["g_at"], r["g_old"], as_of),
                v=v,
            ),
        )


def _rows(statement: q.Statement) -> Callable[[Run], Awaitable[list[Row]]]:
    async def work(run: Run) -> list[Row]:
        return await run(statement)

    return work


async def _schema_names(run: Run) -> set[str]:
    names: set[str] = set()
    for statement in q.SCHEMA_NAMES:
        names.update(str(r["name"]) for r in await run(statement))
    return names


async def _run_chunked(
    run: Run, values: Sequence[T], make: Callable[[Sequence[T]], q.Statement], size: int
) -> list[Row]:
    out: list[Row] = []
    for chunk in _chunks(values, size):
        out.extend(await run(make(chunk)))
    return out


# ======================================================================= store


class Neo4jStore(GraphStore):
    """The store on Neo4j 5 (see the module docstring).

    Args:
        uri: Bolt URI of Neo4j (``bolt://host:7687``, ``neo4j://`` for a cluster).
        user: Neo4j user.
        password: Neo4j password.
        database: Neo4j database; graphsvc needs one of its own (empty when first
            opened).
        vocabulary: The vocabulary (tests may pass another).
        gateway: How to reach Neo4j; by default the official driver.
    """

    def __init__(
        self,
        uri: str = "bolt://localhost:7687",
        *,
        user: str = "neo4j",
        password: str = "",
        database: str = "neo4j",
        vocabulary: Vocabulary = VOCABULARY,
        gateway: Gateway | None = None,
    ) -> None:
        self.database = database
        self.vocabulary = vocabulary
        self._gw: Gateway = gateway or DriverGateway(uri, user, password, database)
        self._write_lock = ThreadSafeAsyncLock()
        self._writer = f"{socket.gethostname()}:{os.getpid()}"
        self._open = False
        self._webhooks = Neo4jWebhooks(self._read, self._write_unlocked)

    # ================================================================= lifecycle
    async def open(self) -> None:
        """Connect, check the database is graphsvc's (or empty), create constraints and indexes.

        Raises:
            StoreUnavailable: when Neo4j cannot be reached or refuses the credentials.
            StoreCorrupted: when the database holds nodes graphsvc did not write,
                or another version of its graph model.
        """
        if self._open:
            return
        await self._gw.connect()
        try:
            await self._prepare()
        except BaseException:
            await self._gw.close()
            raise
        self._open = True

    async def _prepare(self) -> None:
        where = f"Neo4j database {self.database!r}"
        meta = await self._gw.read(_rows(q.READ_META), "reading the graphsvc meta node")
        if not meta:
            nodes = await self._gw.read(_rows(q.ANY_NODE), "counting nodes")
            if nodes and int(nodes[0]["nodes"]) > 0:
                msg = (
                    f"{where} holds {nodes[0]['nodes']} nodes that graphsvc did not write; "
                    "give graphsvc a database of its own (GRAPHSVC_NEO4J_DATABASE)"
                )
                raise StoreCorrupted(msg)
        self._check_version(meta, where)
        existing = await self._gw.read(_schema_names, "reading the indexes and constraints")
        for text in q.missing_schema(existing, self.vocabulary):
            await self._gw.write(
                _rows(q.Statement(text, op="schema")), "creating constraints and indexes"
            )
        await self._gw.write(_rows(q.AWAIT_INDEXES), "waiting for indexes to come online")
        indexed = self.vocabulary.indexed_attributes
        created = await self._gw.write(
            _rows(q.create_meta(_now_micros(), indexed)), "creating the graphsvc meta node"
        )
        self._check_version(created, where)
        if created and created[0]["schema_version"] in q.MIGRATIONS:
            await self._rebuild_identifiers()
            await self._gw.write(
                _rows(q.set_schema_version(q.SCHEMA_VERSION)), "recording the migration"
            )
        mirrored = created[0].get("mirrored") if created else None
        held = set(q.MIRRORED_BEFORE_RECORDED if mirrored is None else mirrored)
        if not set(indexed) <= held:
            await self._backfill_mirror(sorted(set(indexed) - held))
        if created and not created[0].get("text_mirrored"):
            await self._backfill_text_mirror()

    async def _backfill_text_mirror(self) -> None:
        """Give entities written before text indexes their ``text_key`` and ``text_name``.

        Every entity is read once, by id, in batches; the meta node then records
        it. Idempotent: interrupted, the next open starts again. Until it ends,
        text searches miss the entities not yet mirrored.
        """
        doing = "mirroring entity keys and names for the text indexes"
        after = 0
        while True:
            rows = await self._gw.read(_rows(q.text_sources(after, _WRITE_BATCH)), doing)
            if not rows:
                break
            updates = [
                {"id": int(r["id"]), "props": q.text_mirror(r["key"], r["name"])} for r in rows
            ]
            await self._gw.write(_rows(q.set_mirror(updates)), doing)
            after = int(rows[-1]["id"])
        await self._gw.write(_rows(q.SET_TEXT_MIRRORED), doing)

    async def _backfill_mirror(self, names: Sequence[str]) -> None:
        """Mirror attributes that became indexed after the entities were written.

        An attribute the vocabulary now declares ``indexed`` has no ``attr_<a>``
        property on entities written before: filters on it would miss them. Every
        entity with attributes is read once and given the missing mirrors; the meta
        node then records the new set. Idempotent: interrupted, the next open starts
        again.
        """
        doing = "mirroring newly indexed attributes " + ", ".join(names)
        after = 0
        while True:
            rows = await self._gw.read(_rows(q.mirror_sources(after, _WRITE_BATCH)), doing)
            if not rows:
                break
            updates = []
            for r in rows:
                wanted = {q.attr_property(a) for a in names}
                mirror = indexed_mirror(orjson.loads(r["attributes"]), self.vocabulary)
                props = {k: v for k, v in mirror.items() if k in wanted and v is not None}
                if props:
                    updates.append({"id": int(r["id"]), "props": props})
            if updates:
                await self._gw.write(_rows(q.set_mirror(updates)), doing)
            after = int(rows[-1]["id"])
        await self._gw.write(_rows(q.set_mirrored(self.vocabulary.indexed_attributes)), doing)

    async def _rebuild_identifiers(self) -> None:
        """Migrate from version 1 (keys and identifier values NFC, a node per holder).

        Keys and identifier values are put in Unicode NFC, and identifier
        nodes are rebuilt: one per holder, retired holders included.
        Idempotent: interrupted, the next open starts again (the version is
        set only at the end).

        Raises:
            StoreCorrupted: when two keys of one kind are one key in NFC.
        """
        doing = "migrating to graph model version " + q.SCHEMA_VERSION
        for label in (q.ENTITY, q.ALIAS):
            try:
                while True:
                    changed = await self._gw.write(_rows(q.normalise_keys(label)), doing)
                    if not changed or int(changed[0]["n"]) == 0:
                        break
            except Conflict as exc:
                msg = (
                    f"Neo4j database {self.database!r}: two {label} keys of one kind are one "
                    f"key in Unicode NFC ({exc}); graphsvc 2 cannot use this database until "
                    "one of them is renamed"
                )
                raise StoreCorrupted(msg) from exc
        while True:
            deleted = await self._gw.write(_rows(q.DROP_IDENTIFIERS), doing)
            if not deleted or int(deleted[0]["n"]) == 0:
                break
        after = 0
        while True:
            rows = await self._gw.read(_rows(q.identifier_sources(after, _WRITE_BATCH)), doing)
            if not rows:
                return
            holders: list[Row] = []
            rewritten: list[Row] = []
            for r in rows:
                stored = orjson.loads(r["identifiers"])
                values = {t: self.vocabulary.normalize_identifier(t, v) for t, v in stored.items()}
                if values != stored:
                    rewritten.append({"id": int(r["id"]), "identifiers": dumps(values)})
                holders += [
                    {"kind": int(r["kind"]), "type": t, "value": v, "entity": int(r["id"])}
                    for t, v in values.items()
                ]
            if rewritten:
                await self._gw.write(_rows(q.set_entity_identifiers(rewritten)), doing)
            await self._gw.write(_rows(q.set_identifiers(holders)), doing)
            after = int(rows[-1]["id"])

    @staticmethod
    def _check_version(rows: list[Row], where: str) -> None:
        if rows and rows[0]["schema_version"] in q.MIGRATIONS:
            return
        if rows and rows[0]["schema_version"] != q.SCHEMA_VERSION:
            msg = (
                f"{where} holds graphsvc graph model version {rows[0]['schema_version']}, "
                f"this graphsvc reads {q.SCHEMA_VERSION}"
            )
            raise StoreCorrupted(msg)

    async def close(self) -> None:
        """Close the driver; safe to call twice."""
        async with self._write_lock:
            self._open = False
            await self._gw.close()

    async def release_loop(self) -> None:
        """Close the driver made for the running loop (see :class:`DriverGateway`)."""
        await self._gw.release_loop()

    def _check_open(self) -> None:
        if not self._open:
            msg = "the store is not open"
            raise StoreUnavailable(msg)

    async def _read(self, work: Callable[[Run], Awaitable[T]], doing: str) -> T:
        self._check_open()
        return await self._gw.read(work, doing)

    async def _write_unlocked(self, work: Callable[[Run], Awaitable[T]], doing: str) -> T:
        """A managed write transaction without the graph writers' lock (webhook writes)."""
        self._check_open()
        return await self._gw.write(work, doing)

    @property
    def webhooks(self) -> Neo4jWebhooks:
        """Webhook subscriptions in this database (:mod:`graphsvc.store.neo4j.webhooks`)."""
        return self._webhooks

    async def ping(self) -> None:
        """Read the meta node.

        Raises:
            StoreUnavailable: when Neo4j does not answer or the meta node is gone.
        """
        rows = await self._read(_rows(q.READ_META), "pinging Neo4j")
        if not rows:
            msg = f"Neo4j database {self.database!r} no longer holds the graphsvc meta node"
            raise StoreUnavailable(msg)

    async def stats(self) -> StoreStats:
        """Return the counts kept on the meta node (``bytes_on_disk`` is 0: not known here)."""
        rows = await self._read(_rows(q.READ_META), "reading store statistics")
        if not rows:
            return StoreStats(0, 0, 0, 0, None)
        row = rows[0]
        last = int(row["last_commit"] or 0)
        return StoreStats(
            entities=int(row["entities"] or 0),
            relations=int(row["relations"] or 0),
            history_events=max(0, int(row["next_history"] or 1) - 1),
            bytes_on_disk=0,
            last_commit=from_micros(last) if last else None,
        )

    # ===================================================================== reads
    def _refs(self, refs: Sequence[tuple[EntityKind, str]]) -> list[tuple[int, int, str]]:
        return [(i, self.vocabulary.kind_code(k), key) for i, (k, key) in enumerate(refs)]

    async def resolve(
        self, refs: Sequence[tuple[EntityKind, str]], *, as_of: datetime | None = None
    ) -> list[int | None]:
        """Look keys and aliases up (see :meth:`GraphStore.resolve`)."""
        refs = [(kind, normalize_key(key)) for kind, key in refs]
        coded = self._refs(refs)
        if not coded:
            return []
        if as_of is None:
            rows = await self._read(
                lambda run: _run_chunked(run, coded, q.resolve_keys, _READ_BATCH), "resolving keys"
            )
            return _resolved(rows, len(coded))
        t = to_micros(as_of)
        rows = await self._read(
            lambda run: _run_chunked(run, coded, lambda c: q.resolve_keys_as_of(c, t), _READ_BATCH),
            "resolving keys as of a past time",
        )
        out: list[int | None] = [None] * len(coded)
        for row in rows:
            found = row["entity_id"] if row["entity_id"] is not None else row["alias_entity"]
            out[int(row["i"])] = int(found) if found is not None else None
        return out

    async def resolve_identifiers(
        self, kind: EntityKind, identifiers: Sequence[tuple[str, str]]
    ) -> list[tuple[int, ...]]:
        """Find every unmerged holder of each identifier, any status (see the port)."""
        code = self.vocabulary.kind_code(kind)
        pairs = [(i, t, v) for i, (t, v) in enumerate(identifiers)]
        if not pairs:
            return []
        rows = await self._read(
            lambda run: _run_chunked(
                run, pairs, lambda c: q.resolve_identifiers(code, c), _READ_BATCH
            ),
            "resolving identifiers",
        )
        return _holders_by_position(rows, len(pairs))

    def _entity_record(
        self,
        row: Row,
        aliases: Sequence[str],
        *,
        as_of: int | None = None,
        state: ItemState | None = None,
    ) -> EntityRecord:
        state = state or ItemState(
            orjson.loads(row["attributes"]),
            orjson.loads(row["identifiers"]),
            str(row["name"]),
            int(row["status"]),
        )
        attributes, identifiers, name, status = (
            state.attributes,
            state.identifiers,
            state.name,
            state.status,
        )
        last_seen = int(row["last_seen"])
        return EntityRecord(
            id=int(row["id"]),
            kind=self.vocabulary.kind_from_code(int(row["kind"])),
            key=str(row["key"]),
            name=name,
            status=Status.from_code(status),
            attributes=attributes,
            identifiers=identifiers,
            first_seen=from_micros(int(row["first_seen"])),
            last_seen=from_micros(min(last_seen, as_of) if as_of is not None else last_seen),
            aliases=tuple(str(a) for a in aliases),
            provenance=load_provenance(row["provenance"], as_of),
        )

    async def entities(
        self, ids: Sequence[int], *, as_of: datetime | None = None
    ) -> list[EntityRecord | None]:
        """Return entities by id (see :meth:`GraphStore.entities`)."""
        wanted = sorted({int(i) for i in ids if int(i) > 0})
        if not wanted:
            return [None] * len(ids)
        if as_of is not None:
            return await self._entities_as_of(ids, wanted, to_micros(as_of))
        rows = await self._read(
            lambda run: _run_chunked(run, wanted, q.entities_now, _READ_BATCH), "reading entities"
        )
        found = {int(r["requested"]): self._entity_record(r, r["aliases"]) for r in rows}
        return [found.get(int(i)) for i in ids]

    async def _entities_as_of(
        self, ids: Sequence[int], wanted: list[int], t: int
    ) -> list[EntityRecord | None]:
        async def work(run: Run) -> tuple[list[Row], list[Row]]:
            rows = await _run_chunked(run, wanted, lambda c: q.entities_rows(c, t), _READ_BATCH)
            items = [encode(ItemKind.ENTITY, int(r["id"])) for r in rows]
            events = await _run_chunked(run, items, lambda c: q.events_after(c, t), _READ_BATCH)
            return rows, events

        rows, events = await self._read(work, "reading entities as of a past time")
        undo = _events_by_item(events)
        out: dict[int, EntityRecord | None] = {}
        for row in rows:
            eid = int(row["id"])
            if int(row["first_seen"]) > t:
                continue
            state = revert(
                ItemState(
                    orjson.loads(row["attributes"]),
                    orjson.loads(row["identifiers"]),
                    str(row["name"]),
                    int(row["status"]),
                ),
                undo.get(encode(ItemKind.ENTITY, eid), []),
            )
            if state is None or state.status == MERGED:
                continue
            out[eid] = self._entity_record(row, row["aliases"], as_of=t, state=state)
        return [out.get(int(i)) for i in ids]

    async def find_entities(
        self,
        query: EntityQuery,
        *,
        first: int,
        after: int | None = None,
        as_of: datetime | None = None,
    ) -> EntityPage:
        """Page through matching entities (see :meth:`GraphStore.find_entities`).

        Equality on an indexed attribute with a scalar value is evaluated by
        Neo4j on the attribute's mirror property; other attribute conditions
        are evaluated here over the entities the rest of the query selects.

        With ``as_of``: an entity with no history event after ``as_of`` is now
        as it was then, and is matched as above (first seen by then); each of
        the others has its state then rebuilt from its history and is matched
        here (:func:`entity_matches`).
        """
        first = max(0, first)
        t = to_micros(as_of) if as_of is not None else None
        changed: list[int] = []
        matched: list[int] = []
        if t is not None:
            rows = await self._read(_rows(q.entities_changed_after(t)), "finding entities")
            changed = [int(r["id"]) for r in rows]
            then = await self.entities(changed, as_of=as_of) if changed else []
            matched = [
                i
                for i, r in zip(changed, then, strict=True)
                if r is not None and r.id == i and entity_matches(r, query)
            ]
        indexed: list[tuple[str, Any]] = []
        rest: list[tuple[str, JsonValue]] = []
        for attribute, value in query.attributes.items():
            if attribute in self.vocabulary.indexed_attributes and mirrorable(value):
                indexed.append((attribute, value))
            else:
                rest.append((attribute, value))
        f = q.EntityFilter(
            kind=query.kind,
            statuses=tuple(sorted(s.code for s in query.statuses))
            if query.statuses is not None
            else None,
            text=query.text.lower() if query.text else None,
            indexed=tuple(indexed),
            seen_by=t,
            unchanged=tuple(changed),
        )

        async def work(run: Run) -> tuple[int, list[int]]:
            if not rest:
                bound = ENTITY_COUNT_BOUND + 1 if f.text or f.indexed else None
                total = (await run(q.count_entities(f, bound)))[0]["total"]
                page = await run(q.page_entity_ids(f, after, first + 1))
                return int(total), [int(r["id"]) for r in page]
            matches = [
                int(r["id"])
                for r in await run(q.scan_entity_attributes(f))
                if all(json_equal(orjson.loads(r["attributes"]), a, v) for a, v in rest)
            ]
            later = [m for m in matches if after is None or m > after]
            return len(matches), later[: first + 1]

        total, page_ids = await self._read(work, "finding entities")
        if t is not None:
            page_ids = merge_id_pages(page_ids, matched, after, first + 1)
            total += len(matched)
        bounded = bool(query.text or query.attributes) and total > ENTITY_COUNT_BOUND
        if bounded:
            total = ENTITY_COUNT_BOUND
        has_next = len(page_ids) > first
        page_ids = page_ids[:first]
        records = [r for r in await self.entities(page_ids, as_of=as_of) if r is not None]
        return EntityPage(
            tuple(records), total, has_next, page_ids[-1] if page_ids else None, bounded
        )

    def _relation_record(
        self,
        row: Row,
        *,
        as_of: int | None = None,
        state: ItemState | None = None,
    ) -> RelationRecord:
        attributes = state.attributes if state else orjson.loads(row["attributes"])
        status = state.status if state else int(row["status"])
        last_seen = int(row["last_seen"])
        return RelationRecord(
            id=int(row["id"]),
            type=RelationType(row["type"]),
            from_id=int(row["src"]),
            to_id=int(row["dst"]),
            status=Status.from_code(status),
            attributes=attributes,
            first_seen=from_micros(int(row["first_seen"])),
            last_seen=from_micros(min(last_seen, as_of) if as_of is not None else last_seen),
            provenance=load_provenance(row["provenance"], as_of),
        )

    async def relations_by_id(
        self, ids: Sequence[int], *, as_of: datetime | None = None
    ) -> list[RelationRecord | None]:
        """Return relations by id (merged ones are ``None``)."""
        wanted = sorted({int(i) for i in ids if int(i) > 0})
        if not wanted:
            return [None] * len(ids)
        t = to_micros(as_of) if as_of is not None else None

        async def work(run: Run) -> tuple[list[Row], list[Row]]:
            rows = await _run_chunked(run, wanted, q.relations_by_id, _READ_BATCH)
            if t is None:
                return rows, []
            items = [encode(ItemKind.RELATION, int(r["id"])) for r in rows]
            return rows, await _run_chunked(run, items, lambda c: q.events_after(c, t), _READ_BATCH)

        rows, events = await self._read(work, "reading relations")
        out: dict[int, RelationRecord] = {}
        undo = _events_by_item(events)
        for row in rows:
            rid = int(row["id"])
            if t is None:
                if int(row["status"]) != MERGED:
                    out[rid] = self._relation_record(row)
                continue
            if int(row["first_seen"]) > t:
                continue
            state = revert(
                ItemState(orjson.loads(row["attributes"]), {}, "", int(row["status"])),
                undo.get(encode(ItemKind.RELATION, rid), []),
            )
            if state is None or state.status == MERGED:
                continue
            out[rid] = self._relation_record(row, as_of=t, state=state)
        return [out.get(int(i)) for i in ids]

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
        """Page through an entity's relations (see :meth:`GraphStore.relations`)."""
        t = to_micros(as_of) if as_of is not None else None
        rows = await self._read(
            _rows(q.relations_of(int(entity_id), direction)), "reading an entity's relations"
        )
        keep: list[int] = []
        for row in rows:
            if types is not None and RelationType(row["type"]) not in types:
                continue
            if status_at(int(row["status"]), row["s_at"], row["s_old"], t) == MERGED:
                continue
            if t is not None and int(row["first_seen"]) > t:
                continue
            keep.append(int(row["id"]))
        keep.sort()
        total = len(keep)
        later = [r for r in keep if after is None or r > after]
        first = max(0, first)
        page = later[: first + 1]
        has_next = len(page) > first
        page = page[:first]
        records = [r for r in await self.relations_by_id(page, as_of=as_of) if r is not None]
        return RelationPage(tuple(records), total, has_next, page[-1] if page else None)

    async def history(
        self, ref: ItemRef, *, first: int, after: int | None = None, newest_first: bool = False
    ) -> HistoryPage:
        """Return an item's history, merged-in entities included (see the port)."""
        first = max(0, first)

        async def work(run: Run) -> tuple[list[Row], int]:
            items = [encode(ref.item, ref.id)]
            if ref.item is ItemKind.ENTITY:
                losers = await run(q.losers_of(ref.id))
                items += sorted(encode(ItemKind.ENTITY, int(r["id"])) for r in losers)
            counted = await run(q.history_count(items))
            page = q.history_page(items, after, first + 1, newest_first=newest_first)
            return await run(page), int(counted[0]["n"])

        rows, total = await self._read(work, "reading history")
        events = [_history_event(row) for row in rows[:first]]
        return HistoryPage(
            tuple(events), len(rows) > first, events[-1].seq if events else None, total
        )

    async def events(self, query: EventQuery, *, first: int, after: int | None = None) -> EventPage:
        """Return the store's events after a cursor (see the port).

        Why seq order is commit order with concurrent writers, in this process
        or others: every write transaction (:meth:`write` and :meth:`transact`
        alike) begins with :func:`~graphsvc.store.neo4j.cypher.lock_meta`, a
        ``SET`` on the one meta node, which takes that node's exclusive lock
        until the transaction commits or rolls back, and only then reads the
        ``next_history`` counter. Its seqs are allocated from that counter and
        the counter written back (``save_meta``) in the same transaction. So a
        second writer cannot read the counter before the first has committed:
        transactions hold disjoint, increasing seq ranges in the order they
        commit. A transaction rolled back (or retried by the driver after a
        transient failure, a cluster leader switch among them) wrote nothing,
        and its retry reads the counter again under the lock: the same seqs, no
        duplicate. Identity conflicts take seqs from the same counter, so the
        history has gaps, which the window below does not mind. A read on a
        cluster follower sees a prefix of the leader's commits, that is, a
        prefix of the seqs.

        The scan window ends at the counter read first in the same read
        transaction (``next_history - 1``): an event committed while the page
        is read may have a larger seq and is left for the next call. The
        window is a range seek on the ``history_seq`` index; a kind or type
        filter reads each scanned event's entity (``Entity.id``) or relation
        reference (``RelationRef.id``) by unique index, at most
        :data:`~graphsvc.store.base.EVENT_SCAN` lookups per call.
        """
        first = max(0, first)
        start = max(0, after or 0)

        async def work(run: Run) -> tuple[int, int, list[Row]]:
            meta = await run(q.READ_META)
            last = max(0, int(meta[0]["next_history"] or 1) - 1) if meta else 0
            found = await run(q.OLDEST_EVENT)
            oldest = int(found[0]["seq"] or 1) if found else 1
            upto = min(start + EVENT_SCAN, last)
            if upto <= start:
                return last, oldest, []
            statement = q.events_page(
                start,
                upto,
                first + 1,
                parity=None if query.item is None else int(query.item is ItemKind.RELATION),
                kinds=None
                if query.kinds is None
                else [self.vocabulary.kind_code(k) for k in query.kinds],
                types=None if query.types is None else [t.value for t in query.types],
                sources=None if query.sources is None else list(query.sources),
                excluded=list(query.exclude_sources),
            )
            return last, oldest, await run(statement)

        last, oldest, rows = await self._read(work, "reading events")
        upto = min(start + EVENT_SCAN, last)
        if upto <= start:
            return EventPage((), False, start, oldest, last)
        events = [_history_event(row) for row in rows]
        return event_page(events, first, after=start, upto=upto, last=last, oldest=oldest)

    async def prune_events(
        self, *, before: datetime | None = None, keep: int | None = None, limit: int = PRUNE_BATCH
    ) -> EventPrune:
        """Remove the oldest events (see the port): one managed write transaction.

        It takes the store-wide write lock (:func:`~graphsvc.store.neo4j.cypher.lock_meta`)
        like every write, reads the last seq under it, deletes at most ``limit``
        ``History`` nodes in seq order and records the last seq removed on the
        meta node (``events_pruned_through``), which ``oldest_seq`` is read from.
        """
        self._check_open()
        cut = to_micros(before) if before is not None else None
        size = max(0, limit)

        async def unit(run: Run) -> tuple[int, int]:
            rows = await run(q.lock_meta(self._writer))
            if not rows:
                msg = f"Neo4j database {self.database!r} lost the graphsvc meta node"
                raise StoreCorrupted(msg)
            last = _Counters.from_row(rows[0]).next_history - 1
            removed, through = 0, 0
            if (keep is not None or cut is not None) and size > 0:
                keep_bound = last - max(0, keep) if keep is not None else -1
                found = await run(q.prune_events(last - 1, keep_bound, cut, size))
                removed, through = int(found[0]["removed"]), int(found[0]["through"])
            if through:
                await run(q.set_pruned_through(through))
            oldest = await run(q.OLDEST_EVENT)
            return removed, int(oldest[0]["seq"] or 1) if oldest else 1

        async with self._write_lock:
            removed, oldest = await self._gw.write(unit, "pruning events")
        return EventPrune(removed, oldest, removed >= size > 0)

    async def check(self, *, limit: int = 100) -> CheckReport:
        """Check the history against the graph and the identifiers (see the port).

        The database itself is Neo4j's to check (``neo4j-admin database
        check``); there is no in-memory index to compare.
        """
        vocab = self.vocabulary
        strong = [
            name for name, spec in vocab.identifiers.items()
            if spec.strength is IdentifierStrength.STRONG
        ]  # fmt: skip
        findings: list[CheckFinding] = []
        found = await self._read(_rows(q.OLDEST_EVENT), "checking the history")
        oldest = int(found[0]["seq"] or 1) if found else 1
        for relations in (False, True) if oldest == 1 else ():  # pruned: creations may be gone
            rows = await self._read(
                _rows(q.without_creation(relations, limit)), "checking the history"
            )
            what = "relation" if relations else "entity"
            findings += [
                CheckFinding("history", f"{what} {r['id']} has no 'created' event") for r in rows
            ]
        rows = await self._read(
            _rows(q.shared_identifiers(strong, limit)), "checking the identifiers"
        )
        for r in rows:
            ids = ", ".join(f"#{i}" for i in sorted(int(x) for x in r["ids"]))
            findings.append(
                CheckFinding(
                    "identifiers",
                    f"{vocab.kind_from_code(int(r['kind'])).value} {r['type']} {r['value']!r} "
                    f"is held by several entities: {ids}",
                )
            )
        stats = await self.stats()
        checks = {
            "integrity": "left to Neo4j (neo4j-admin database check)",
            "history": f"{stats.entities:,} entities, {stats.relations:,} relations"
            + ("" if oldest == 1 else f"; events before seq {oldest} pruned, creations unchecked"),
            "identifiers": "every identifier node",
            "index": "none in memory (every read goes to Neo4j)",
        }
        return CheckReport(checks, tuple(findings))

    async def identity_conflicts(
        self, *, first: int, after: int | None = None, state: ConflictState | None = None
    ) -> ConflictPage:
        """Return recorded identity conflicts, oldest first (see the port)."""
        wanted = None if state is None else state.value
        rows = await self._read(
            _rows(q.conflicts_page(after or 0, max(0, first) + 1, wanted)),
            "reading identity conflicts",
        )
        counted = await self._read(_rows(q.conflicts_count(wanted)), "counting identity conflicts")
        items = tuple(self._conflict(r) for r in rows[: max(0, first)])
        total = int(counted[0]["n"])
        return ConflictPage(items, len(rows) > first, items[-1].seq if items else None, total)

    def _conflict(self, r: Row) -> IdentityConflict:
        """A conflict record from a row of :data:`~graphsvc.store.neo4j.cypher.CONFLICT_FIELDS`."""
        closure = None
        if r.get("state") is not None:
            closure = ConflictClosure(
                ConflictState(r["state"]),
                from_micros(int(r["closed_at"])),
                r["closed_by"],
                r["close_reason"],
            )
        return IdentityConflict(
            seq=int(r["seq"]),
            at=from_micros(int(r["at"])),
            kind=self.vocabulary.kind_from_code(int(r["kind"])),
            id_type=r["id_type"],
            value=r["value"],
            entity_id=int(r["entity"]),
            holder_id=int(r["holder"]),
            item_key=r["item_key"],
            source=r["source"],
            run_id=r["run_id"],
            closure=closure,
        )

    async def entity_columns(
        self, kinds: frozenset[EntityKind] | None = None, *, as_of: datetime | None = None
    ) -> EntityColumns:
        """Read every entity's id, kind and status in one statement (see the port)."""
        t = None if as_of is None else to_micros(as_of)
        codes = None if kinds is None else sorted(self.vocabulary.kind_code(k) for k in kinds)
        rows = await self._read(_rows(q.entity_columns(codes, t)), "reading entity columns")
        ids = np.fromiter((int(r["id"]) for r in rows), dtype=np.int64, count=len(rows))
        kind = np.fromiter((int(r["kind"]) for r in rows), dtype=np.int8, count=len(rows))
        status = np.fromiter(
            (status_at(int(r["status"]), r["s_at"], r["s_old"], t) for r in rows),
            dtype=np.int8,
            count=len(rows),
        )
        keep = status < MERGED
        return EntityColumns(ids[keep], kind[keep], status[keep])

    async def relation_columns(
        self, types: frozenset[RelationType], *, as_of: datetime | None = None
    ) -> RelationColumns:
        """Read every relation of ``types`` with its endpoints in one statement (see the port)."""
        t = None if as_of is None else to_micros(as_of)
        if not types:
            empty = np.zeros(0, dtype=np.int64)
            return RelationColumns(
                empty, empty.astype(np.int8), empty, empty, empty.astype(np.int8)
            )
        rows = await self._read(
            _rows(q.relation_columns(sorted(types), t)), "reading relation columns"
        )
        n = len(rows)
        status = np.fromiter(
            (status_at(int(r["status"]), r["s_at"], r["s_old"], t) for r in rows),
            dtype=np.int8,
            count=n,
        )
        type_code = {rt.value: self.vocabulary.type_code(rt) for rt in types}
        keep = status < MERGED
        return RelationColumns(
            np.fromiter((int(r["id"]) for r in rows), dtype=np.int64, count=n)[keep],
            np.fromiter((type_code[r["type"]] for r in rows), dtype=np.int8, count=n)[keep],
            np.fromiter((int(r["src"]) for r in rows), dtype=np.int64, count=n)[keep],
            np.fromiter((int(r["dst"]) for r in rows), dtype=np.int64, count=n)[keep],
            status[keep],
        )

    async def entity_assertions(self) -> AssertionColumns:
        """Read every entity assertion in one statement (see the port)."""
        rows = await self._read(_rows(q.entity_assertions()), "reading assertions")
        position: dict[tuple[str, str], int] = {}
        for r in rows:
            position.setdefault((str(r["source"]), str(r["scope"])), len(position))
        n = len(rows)
        return AssertionColumns(
            tuple(position),
            np.fromiter(
                (position[(str(r["source"]), str(r["scope"]))] for r in rows),
                dtype=np.int32,
                count=n,
            ),
            np.fromiter((int(r["entity"]) for r in rows), dtype=np.int64, count=n),
            np.fromiter((int(r["missed"]) for r in rows), dtype=np.int32, count=n),
        )

    async def runs(self, *, source: str | None = None, first: int = 100) -> list[RunRecord]:
        """Return the latest runs, newest first."""
        rows = await self._read(_rows(q.latest_runs(source, max(0, first))), "reading runs")
        return [_run_record(r) for r in rows]

    async def attribute_column(
        self,
        ids: Sequence[int] | NDArray[np.int64],
        name: str,
        *,
        as_of: datetime | None = None,
    ) -> AttributeColumn:
        """Read an indexed attribute of many entities from its mirror property.

        With ``as_of`` the values are replayed from the history (the port's
        default, through :meth:`entities`).

        Raises:
            InvalidInput: when ``name`` is not an indexed attribute.
        """
        check_indexed(name)
        if as_of is not None:
            return await super().attribute_column(ids, name, as_of=as_of)
        asked = [int(i) for i in ids]
        wanted = sorted({i for i in asked if i > 0})
        rows = await self._read(
            lambda run: _run_chunked(
                run, wanted, lambda c: q.attribute_column(c, name), _READ_BATCH
            ),
            "reading an attribute column",
        )
        value_of: dict[int, JsonValue] = {}
        for row in rows:
            value: JsonValue = row["value"]
            if value is None and row["attributes"]:
                value = orjson.loads(row["attributes"]).get(name)
            if value is not None:
                value_of[int(row["requested"])] = value
        values: list[JsonValue] = []
        positions: dict[str, int] = {}
        codes = np.full(len(asked), -1, dtype=np.int32)
        for i, eid in enumerate(asked):
            found = value_of.get(eid)
            if found is None:
                continue
            marker = dumps(found)
            code = positions.get(marker)
            if code is None:
                code = positions[marker] = len(values)
                values.append(found)
            codes[i] = code
        return AttributeColumn(name, codes, tuple(values))

    # ----------------------------------------------------------------- traversal
    async def _walk_nodes(
        self, run: Run, ids: Sequence[int], as_of: int | None
    ) -> list[Node | None]:
        wanted = sorted({i for i in ids if i > 0})
        rows = await _run_chunked(run, wanted, q.walk_nodes, _READ_BATCH)
        nodes = {
            int(r["requested"]): Node(
                id=int(r["id"]),
                kind=int(r["kind"]),
                status=status_at(int(r["status"]), r["s_at"], r["s_old"], as_of),
                first_seen=int(r["first_seen"]),
            )
            for r in rows
        }
        return [nodes.get(i) for i in ids]

    async def _expand(
        self,
        run: Run,
        ids: Sequence[int],
        mask: StepMask,
        max_status: int,
        as_of: int | None,
    ) -> dict[int, list[Edge]]:
        """Read the relations the mask's steps may follow around ``ids``, each direction apart."""
        out: dict[int, list[Edge]] = {}
        unique = sorted(set(ids))
        statements = [
            (types, outgoing)
            for types, outgoing in ((mask.outgoing, True), (mask.incoming, False))
            if types
        ]
        for chunk, (types, outgoing) in (
            (c, d) for c in _chunks(unique, _WALK_BATCH) for d in statements
        ):
            level = q.expand_level(
                chunk, types, outgoing=outgoing, max_status=max_status, as_of=as_of
            )
            rows = await run(level)
            edges = (
                _edges_now(rows, outgoing) if as_of is None else _edges_as_of(rows, outgoing, as_of)
            )
            for uid, edge in edges:
                out.setdefault(uid, []).append(edge)
        return out

    async def _group_sizes(
        self, run: Run, pairs: Sequence[tuple[int, str]], max_status: int, as_of: int | None
    ) -> dict[tuple[int, str], int]:
        types = self.vocabulary.redundancy_types
        if not types:
            return dict.fromkeys(pairs, 0)
        owners = sorted({owner for owner, _ in pairs})
        rows = await _run_chunked(run, owners, lambda c: q.group_members(c, types), _WALK_BATCH)
        members = [
            (
                int(r["oid"]),
                group_at(r["grp"], r["g_at"], r["g_old"], as_of),
                status_at(int(r["status"]), r["s_at"], r["s_old"], as_of),
                int(r["first_seen"]),
            )
            for r in rows
        ]
        return count_groups(members, pairs, max_status, as_of)

    async def traverse(self, spec: TraversalSpec) -> Traversal:
        """Walk breadth-first, one statement per level and batch of the frontier.

        The whole walk runs in one read transaction (see :meth:`GraphStore.traverse`).
        """
        mask = StepMask(spec.steps, self.vocabulary)
        max_status = 1 if spec.include_stale else 0
        t = to_micros(spec.as_of) if spec.as_of is not None else None

        async def work(run: Run) -> Traversal:
            starts = await self._walk_nodes(run, [int(s) for s in spec.start], t)

            async def fetch(ids: Sequence[int]) -> dict[int, list[Edge]]:
                return await self._expand(run, ids, mask, max_status, t)

            async def sizes(pairs: Sequence[tuple[int, str]]) -> dict[tuple[int, str], int]:
                return await self._group_sizes(run, pairs, max_status, t)

            return await bfs(
                starts,
                mask,
                fetch,
                max_depth=spec.max_depth,
                max_status=max_status,
                as_of=t,
                collect_edges=spec.collect_edges,
                redundancy_sizes=sizes,
            )

        return await self._read(work, "walking the graph")

    async def step_edges(
        self,
        steps: Sequence[TraversalStep],
        *,
        as_of: datetime | None = None,
        include_stale: bool = True,
    ) -> StepEdges:
        """Every relation ``steps`` may walk (see :meth:`GraphStore.step_edges`).

        One read transaction: the walkable entities of the kinds the steps
        leave, then their relations in frontier-sized statements, as a walk
        reads them, with the walk's rules (statuses replayed as of a past time).
        """
        mask = StepMask(steps, self.vocabulary)
        max_status = 1 if include_stale else 0
        t = to_micros(as_of) if as_of is not None else None
        leaving = sorted({self.vocabulary.kind_code(k) for s in steps for k in s.from_kinds})

        async def work(run: Run) -> StepEdges:
            rows = await run(q.entities_of_kinds(leaving)) if steps else []
            nodes: dict[int, int] = {}
            for r in rows:
                status = status_at(int(r["status"]), r["s_at"], r["s_old"], t)
                if status <= max_status and (t is None or int(r["first_seen"]) <= t):
                    nodes[int(r["id"])] = int(r["kind"])
            found = await self._expand(run, sorted(nodes), mask, max_status, t)
            out: list[tuple[int, int, int]] = []
            for uid, edges in found.items():
                for edge in edges:
                    may, reaching = mask.leaves(edge.type, edge.is_out, nodes[uid])
                    v = edge.v
                    if (
                        may
                        and v.kind in reaching
                        and edge.status <= max_status
                        and v.status <= max_status
                        and (t is None or (edge.first_seen <= t and v.first_seen <= t))
                    ):
                        out.append((edge.relation, uid, v.id))
            out = sorted(set(out))
            arr = np.asarray(out, dtype=np.int64).reshape(-1, 3)
            return StepEdges(arr[:, 1].copy(), arr[:, 2].copy(), arr[:, 0].copy())

        return await self._read(work, "reading the walkable relations")

    async def neighbours(
        self,
        ids: Sequence[int] | NDArray[np.int64],
        steps: Sequence[TraversalStep],
        *,
        as_of: datetime | None = None,
        include_stale: bool = True,
    ) -> Neighbours:
        """Expand one hop (see :meth:`GraphStore.neighbours`)."""
        asked = [int(i) for i in ids]
        mask = StepMask(steps, self.vocabulary)
        max_status = 1 if include_stale else 0
        t = to_micros(as_of) if as_of is not None else None

        async def work(run: Run) -> Neighbours:
            sources = await self._walk_nodes(run, asked, t)
            present = [n.id for n in sources if n is not None]
            edges = await self._expand(run, present, mask, max_status, t)
            return one_hop(
                sources, edges, mask, max_status=max_status, as_of=t, vocabulary=self.vocabulary
            )

        return await self._read(work, "expanding neighbours")

    # ==================================================================== writes
    @asynccontextmanager
    async def write(self) -> AsyncIterator[WriteTransaction]:
        """Open the exclusive write transaction (see :meth:`GraphStore.write`).

        Commits when the block ends normally (rolls back when nothing was
        staged) and rolls back when it raises.
        """
        self._check_open()
        async with self._write_lock, self._gw.begin("writing to Neo4j") as xtx:
            try:
                tx = await self._locked(xtx.run)
                yield tx
            except BaseException:
                with suppress(GraphSvcError):
                    await xtx.rollback()
                raise
            if tx.wrote:
                await xtx.run(q.save_meta(tx.counters.as_dict()))
                await xtx.commit()
                self._committed()
            else:
                await xtx.rollback()

    async def _locked(self, run: Run) -> _Neo4jTransaction:
        """Take the store-wide write lock in the transaction ``run`` belongs to."""
        rows = await run(q.lock_meta(self._writer))
        if not rows:
            msg = f"Neo4j database {self.database!r} lost the graphsvc meta node"
            raise StoreCorrupted(msg)
        return _Neo4jTransaction(self, run, _Counters.from_row(rows[0]))

    async def transact(self, work: Callable[[WriteTransaction], Awaitable[T]]) -> T:
        """Run ``work`` as one managed write transaction (see :meth:`GraphStore.transact`).

        The driver runs the unit below again, from the lock on, after a
        transient failure; the counters are read under the lock each time, so a
        retried unit allocates the same ids and writes the same rows as a
        first run would have. Writes reach the cluster's leader (a write
        transaction), and the unit is safe to run twice because every
        statement ``MERGE``s by id and the meta node's counters are rewritten
        from what was read under the lock.
        """
        self._check_open()

        async def unit(run: Run) -> T:
            tx = await self._locked(run)
            result = await work(tx)
            if tx.wrote:
                await run(q.save_meta(tx.counters.as_dict()))
            return result

        async with self._write_lock:
            done = await self._gw.write(unit, "writing to Neo4j")
        self._committed()
        return done


def _resolved(rows: Sequence[Row], n: int) -> list[int | None]:
    out: list[int | None] = [None] * n
    for row in rows:
        if row["alias_entity"] is not None:
            out[int(row["i"])] = int(row["alias_entity"])
        elif row["entity_id"] is not None:
            target = row["merged_into"] if row["merged_into"] is not None else row["entity_id"]
            out[int(row["i"])] = int(target)
    return out


def _history_event(row: Row) -> HistoryEvent:
    kind, item_id = decode(int(row["item"]))
    parsed: dict[str, list[Any]] = orjson.loads(row["changes"]) if row["changes"] else {}
    return HistoryEvent(
        seq=int(row["seq"]),
        at=from_micros(int(row["at"])),
        op=HistoryOp(row["op"]),
        item=kind,
        item_id=item_id,
        source=str(row["source"]),
        actor=str(row["actor"] or ""),
        run_id=row["run_id"],
        changes={k: FieldChange(v[0], v[1]) for k, v in parsed.items()},
    )


def _events_by_item(rows: Sequence[Row]) -> dict[int, list[tuple[str, str | None]]]:
    out: dict[int, list[tuple[str, str | None]]] = {}
    for row in rows:
        out.setdefault(int(row["item"]), []).append((str(row["op"]), row["changes"]))
    return out


def _run_record(row: Row) -> RunRecord:
    return RunRecord(
        run_id=str(row["run_id"]),
        source=str(row["source"]),
        scope=str(row["scope"]),
        state=RunState(row["state"]),
        started=from_micros(int(row["started"])),
        finished=from_micros(int(row["finished"])) if row["finished"] is not None else None,
        batches=int(row["batches"]),
    )


@dataclass(slots=True)
class _Counters:
    """The meta node's counters, as read under the write lock and advanced by the transaction."""

    next_entity: int
    next_relation: int
    next_history: int
    next_run: int
    entities: int
    relations: int
    last_commit: int

    @classmethod
    def from_row(cls, row: Row) -> _Counters:
        return cls(
            next_entity=int(row["next_entity"] or 1),
            next_relation=int(row["next_relation"] or 1),
            next_history=int(row["next_history"] or 1),
            next_run=int(row["next_run"] or 1),
            entities=int(row["entities"] or 0),
            relations=int(row["relations"] or 0),
            last_commit=int(row["last_commit"] or 0),
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "next_entity": self.next_entity,
            "next_relation": self.next_relation,
            "next_history": self.next_history,
            "next_run": self.next_run,
            "entities": self.entities,
            "relations": self.relations,
            "last_commit": self.last_commit,
        }


class _Neo4jTransaction(WriteTransaction):
    """Write transaction of :class:`Neo4jStore` (lookups and one change set)."""

    def __init__(self, store: Neo4jStore, run: Run, counters: _Counters) -> None:
        self.store = store
        self.run = run
        self.counters = counters
        self.wrote = False
        self._applied = False
        self._vocab = store.vocabulary

    async def _all(
        self, values: Sequence[T], make: Callable[[Sequence[T]], q.Statement]
    ) -> list[Row]:
        return await _run_chunked(self.run, values, make, _READ_BATCH)

    async def _write(
        self,
        values: Sequence[T],
        make: Callable[[Sequence[T]], q.Statement],
        *,
        counted: bool = False,
    ) -> None:
        for chunk in _chunks(values, _WRITE_BATCH):
            rows = await self.run(make(chunk))
            if counted and (not rows or int(rows[0]["n"]) != len(chunk)):
                written = int(rows[0]["n"]) if rows else 0
                msg = f"Neo4j wrote {written} of {len(chunk)} items: an entity they name is missing"
                raise StoreError(msg)

    # ------------------------------------------------------------------ lookups
    async def next_commit_time(self) -> int:
        """Return max(now, last commit + 1 µs)."""
        return max(_now_micros(), self.counters.last_commit + 1)

    async def lookup_keys(self, kind: EntityKind, keys: Sequence[str]) -> dict[str, int]:
        """Look keys and aliases up (retired found, merged answer with the survivor)."""
        refs = [(i, self._vocab.kind_code(kind), k) for i, k in enumerate(keys)]
        found = _resolved(await self._all(refs, q.resolve_keys), len(refs))
        return {k: f for k, f in zip(keys, found, strict=True) if f is not None}

    async def lookup_identifiers(
        self, kind: EntityKind, identifiers: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, ...]]:
        """Look identifiers up: every unmerged holder of ``kind``, any status (see the port)."""
        code = self._vocab.kind_code(kind)
        pairs = [(i, t, v) for i, (t, v) in enumerate(identifiers)]
        rows = await self._all(pairs, lambda c: q.resolve_identifiers(code, c))
        return {
            identifiers[i]: holders
            for i, holders in enumerate(_holders_by_position(rows, len(pairs)))
            if holders
        }

    async def load_entities(self, ids: Sequence[int]) -> list[EntityState]:
        """Read the current state of entities.

        Raises:
            NotFound: when an id does not exist.
        """
        rows = {int(r["id"]): r for r in await self._all(sorted(set(ids)), q.entity_states)}
        out = []
        for i in ids:
            row = rows.get(int(i))
            if row is None:
                msg = f"entity {i} does not exist"
                raise NotFound(msg)
            status = int(row["status"])
            out.append(
                EntityState(
                    id=int(row["id"]),
                    kind=self._vocab.kind_from_code(int(row["kind"])),
                    key=str(row["key"]),
                    name=str(row["name"]),
                    status=Status.from_code(status) if status != MERGED else Status.RETIRED,
                    attributes=orjson.loads(row["attributes"]),
                    identifiers=orjson.loads(row["identifiers"]),
                    provenance=load_provenance_pairs(row["provenance"]),
                )
            )
        return out

    @staticmethod
    def _relation_state(row: Row) -> RelationState:
        return RelationState(
            id=int(row["id"]),
            type=RelationType(row["type"]),
            from_id=int(row["src"]),
            to_id=int(row["dst"]),
            status=Status.from_code(int(row["status"])),
            attributes=orjson.loads(row["attributes"]),
            provenance=load_provenance_pairs(row["provenance"]),
        )

    async def load_relations(self, ids: Sequence[int]) -> list[RelationState]:
        """Read the current state of unmerged relations (unknown ids skipped)."""
        rows = {int(r["id"]): r for r in await self._all(sorted(set(ids)), q.relations_by_id)}
        return [
            self._relation_state(row)
            for i in ids
            if (row := rows.get(int(i))) is not None and int(row["status"]) != MERGED
        ]

    async def lookup_relations(
        self, triples: Sequence[tuple[RelationType, int, int]]
    ) -> dict[tuple[RelationType, int, int], RelationState]:
        """Find unmerged relations by (type, from, to)."""
        coded = [(i, t.value, s, d) for i, (t, s, d) in enumerate(triples)]
        rows = await self._all(coded, q.lookup_relations)
        return {triples[int(r["i"])]: self._relation_state(r) for r in rows}

    async def relations_touching(self, entity_ids: Sequence[int]) -> list[RelationState]:
        """Every unmerged relation with an end among ``entity_ids``, by id."""
        rows = await self._all(sorted(set(entity_ids)), q.relations_touching)
        unique = {int(r["id"]): r for r in rows}
        return [self._relation_state(unique[i]) for i in sorted(unique)]

    async def missing_assertions(
        self, source: str, scope: str, run_seq: int, *, saturated_at: int
    ) -> list[AssertionState]:
        """Assertions of (source, scope) that run ``run_seq`` has not renewed."""
        rows = await self.run(q.missing_assertions(source, scope, run_seq, saturated_at))
        return [
            AssertionState(ItemRef(*decode(int(r["item"]))), int(r["last_run"]), int(r["missed"]))
            for r in rows
        ]

    async def asserted_elsewhere(
        self, refs: Sequence[ItemRef], source: str, scope: str
    ) -> set[ItemRef]:
        """Those ``refs`` another (source, scope) asserts now."""
        items = sorted({encode(r.item, r.id) for r in refs})
        rows = await self._all(items, lambda c: q.asserted_elsewhere(c, source, scope))
        return {ItemRef(*decode(int(r["item"]))) for r in rows}

    async def assertion_refs(self, ref: ItemRef) -> list[tuple[str, str, AssertionState]]:
        """(source, scope, state) of every assertion of ``ref``."""
        rows = await self.run(q.assertions_of(encode(ref.item, ref.id)))
        return [
            (
                str(r["source"]),
                str(r["scope"]),
                AssertionState(ref, int(r["last_run"]), int(r["missed"])),
            )
            for r in rows
        ]

    async def load_conflicts(self, seqs: Sequence[int]) -> list[IdentityConflict]:
        """Read the conflicts with these seqs (see the port)."""
        rows = await self._all(sorted({int(x) for x in seqs}), q.conflicts_by_seq)
        return sorted((self.store._conflict(r) for r in rows), key=lambda c: c.seq)

    async def conflicts_of(self, entity_ids: Sequence[int]) -> list[IdentityConflict]:
        """Read the conflicts naming these entities (see the port)."""
        rows = await self._all(sorted({int(x) for x in entity_ids}), q.conflicts_of)
        unique = {int(r["seq"]): r for r in rows}
        return [self.store._conflict(unique[x]) for x in sorted(unique)]

    async def get_run(self, run_id: str) -> tuple[RunRecord, int] | None:
        """Read a run and its sequence number (runs created in this transaction included)."""
        rows = await self.run(q.get_run(run_id))
        if not rows:
            return None
        return _run_record(rows[0]), int(rows[0]["seq"])

    async def create_run(self, source: str, scope: str, run_id: str, at: int) -> int:
        """Record a new open run; its sequence number comes from the meta node's counter.

        Raises:
            Conflict: when ``run_id`` already exists.
        """
        if await self.get_run(run_id) is not None:
            msg = f"run {run_id} already exists"
            raise Conflict(msg)
        seq = self.counters.next_run
        self.counters.next_run += 1
        self.wrote = True
        await self.run(
            q.create_run(
                {
                    "seq": seq,
                    "run_id": run_id,
                    "source": source,
                    "scope": scope,
                    "state": RunState.OPEN.value,
                    "started": at,
                    "batches": 0,
                }
            )
        )
        return seq

    # -------------------------------------------------------------------- apply
    async def apply(self, changes: ChangeSet) -> dict[int, int]:
        """Write ``changes`` in this transaction (they commit with it).

        Returns:
            Temporary id -> assigned id, for new entities and relations.

        Raises:
            NotFound: when an update or merge names an entity or relation that
                does not exist.
            StoreError: when called twice, or when Neo4j wrote fewer items than asked.
        """
        if self._applied:
            msg = "one change set per write transaction"
            raise StoreError(msg)
        self._applied = True
        self.wrote = True
        return await _Applier(self, changes).apply()


class _Applier:
    """Writes one change set, in the order the embedded store applies it."""

    def __init__(self, tx: _Neo4jTransaction, cs: ChangeSet) -> None:
        self.tx = tx
        self.cs = cs
        self.vocab = tx._vocab
        self.counters = tx.counters
        self.mapping: dict[int, int] = {}
        self.status_log: dict[int, list[tuple[int, int]]] = {}
        self.group_log: dict[int, list[tuple[int, str]]] = {}

    def real(self, i: int) -> int:
        return self.mapping[i] if i < 0 else i

    def log_status(self, item: int, old: int) -> None:
        self.status_log.setdefault(item, []).append((self.cs.at, old))

    async def apply(self) -> dict[int, int]:
        cs = self.cs
        c = self.counters
        for ent in cs.entities:
            self.mapping[ent.temp_id] = c.next_entity
            c.next_entity += 1
        for rel in cs.relations:
            self.mapping[rel.temp_id] = c.next_relation
            c.next_relation += 1
        await self._create_entities()
        old = await self._update_entities()
        merged_now = await self._merge()
        await self._update_identifiers(old, merged_now)
        if cs.aliases:
            rows = [
                {
                    "kind": self.vocab.kind_code(a.kind),
                    "key": a.key,
                    "entity": self.real(a.entity_id),
                }
                for a in cs.aliases
            ]
            await self.tx._write(rows, lambda chunk: q.set_aliases(chunk, cs.at))
        await self._create_relations()
        await self._update_relations()
        await self._assertions()
        await self._history()
        await self._conflicts()
        await self._logs()
        if cs.run_update is not None:
            ru = cs.run_update
            finished = None if ru.state is RunState.OPEN else cs.at
            await self.tx.run(q.update_run(ru.run_id, ru.state.value, finished, ru.batches))
        c.entities += len(cs.entities)
        c.relations += len(cs.relations)
        c.last_commit = max(c.last_commit, cs.at)
        return dict(self.mapping)

    async def _create_entities(self) -> None:
        cs = self.cs
        by_kind: dict[EntityKind, list[Row]] = {}
        identifiers: list[Row] = []
        for e in cs.entities:
            eid = self.mapping[e.temp_id]
            code = self.vocab.kind_code(e.kind)
            props: Row = {
                "id": eid,
                "kind": code,
                "key": e.key,
                "name": e.name,
                "status": e.status.code,
                "attributes": dumps(e.attributes),
                "identifiers": dumps(e.identifiers),
                "provenance": provenance_json(e.provenance),
                "first_seen": cs.at,
                "last_seen": cs.at,
                **q.text_mirror(e.key, e.name),
            }
            props.update(
                (k, v) for k, v in indexed_mirror(e.attributes, self.vocab).items() if v is not None
            )
            by_kind.setdefault(e.kind, []).append({"id": eid, "props": props})
            identifiers += [
                {"kind": code, "type": t, "value": v, "entity": eid}
                for t, v in e.identifiers.items()
            ]
        for kind, rows in by_kind.items():
            await self.tx._write(rows, partial(q.create_entities, kind), counted=True)
        if identifiers:
            await self.tx._write(identifiers, q.set_identifiers)

    async def _update_entities(self) -> dict[int, Row]:
        updates = self.cs.entity_updates
        if not updates:
            return {}
        old = {
            int(r["id"]): r
            for r in await self.tx._all(sorted({u.id for u in updates}), q.entity_states)
        }
        status_now = {i: int(r["status"]) for i, r in old.items()}
        rows: list[Row] = []
        for u in updates:
            if u.id not in old:
                msg = f"entity {u.id} to update does not exist"
                raise NotFound(msg)
            props: Row = {}
            if u.name is not None:
                props["name"] = u.name
                props.update(q.text_mirror(None, u.name))
            if u.attributes is not None:
                props["attributes"] = dumps(u.attributes)
                props.update(indexed_mirror(u.attributes, self.vocab))
            if u.identifiers is not None:
                props["identifiers"] = dumps(u.identifiers)
            if u.provenance is not None:
                props["provenance"] = provenance_json(u.provenance)
            if u.status is not None:
                props["status"] = u.status.code
                if status_now[u.id] != u.status.code:
                    self.log_status(encode(ItemKind.ENTITY, u.id), status_now[u.id])
                    status_now[u.id] = u.status.code
            rows.append({"id": u.id, "props": props})
        await self.tx._write(rows, q.update_entities, counted=True)
        return old

    async def _merge(self) -> set[int]:
        cs = self.cs
        merged: set[int] = set()
        identifiers: list[Row] = []
        for m in cs.merges:
            rows = await self.tx.run(q.entity_states([m.loser]))
            if not rows:
                msg = f"entity {m.loser} to merge does not exist"
                raise NotFound(msg)
            loser = rows[0]
            old_status = int(loser["status"])
            await self.tx.run(q.merge_entity(m.loser, m.survivor, cs.at))
            await self.tx.run(q.repoint_aliases(m.loser, m.survivor))
            await self.tx.run(q.repoint_losers(m.loser, m.survivor))
            identifiers += [
                {"kind": int(loser["kind"]), "type": t, "value": v, "entity": m.loser}
                for t, v in orjson.loads(loser["identifiers"]).items()
            ]
            self.log_status(encode(ItemKind.ENTITY, m.loser), old_status)
            if old_status != MERGED:
                self.counters.entities -= 1
            merged.add(m.loser)
        if identifiers:
            await self.tx._write(identifiers, q.unset_identifiers)
        return merged

    async def _update_identifiers(self, old: Mapping[int, Row], merged_now: set[int]) -> None:
        unset: list[Row] = []
        put: list[Row] = []
        for u in self.cs.entity_updates:
            if u.identifiers is None:
                continue
            row = old[u.id]
            kind = int(row["kind"])
            unset += [
                {"kind": kind, "type": t, "value": v, "entity": u.id}
                for t, v in orjson.loads(row["identifiers"]).items()
            ]
            if u.id not in merged_now:
                put += [
                    {"kind": kind, "type": t, "value": v, "entity": u.id}
                    for t, v in u.identifiers.items()
                ]
        if unset:
            await self.tx._write(unset, q.unset_identifiers)
        if put:
            await self.tx._write(put, q.set_identifiers)

    async def _create_relations(self) -> None:
        cs = self.cs
        by_type: dict[RelationType, list[Row]] = {}
        for r in cs.relations:
            rid = self.mapping[r.temp_id]
            grp = r.attributes.get("redundancyGroup")
            props: Row = {
                "id": rid,
                "status": r.status.code,
                "attributes": dumps(r.attributes),
                "provenance": provenance_json(r.provenance),
                "first_seen": cs.at,
                "last_seen": cs.at,
            }
            if isinstance(grp, str):
                props["grp"] = grp
            by_type.setdefault(r.type, []).append(
                {"id": rid, "src": self.real(r.from_id), "dst": self.real(r.to_id), "props": props}
            )
        for type_, rows in by_type.items():
            await self.tx._write(rows, partial(q.create_relations, type_), counted=True)

    async def _update_relations(self) -> None:
        updates = self.cs.relation_updates
        if not updates:
            return
        old = {
            int(r["id"]): r
            for r in await self.tx._all(sorted({u.id for u in updates}), q.relations_by_id)
        }
        status_now = {i: int(r["status"]) for i, r in old.items()}
        group_now: dict[int, str | None] = {i: r["grp"] for i, r in old.items()}
        rows: list[Row] = []
        for u in updates:
            if u.id not in old:
                msg = f"relation {u.id} to update does not exist"
                raise NotFound(msg)
            props: Row = {}
            if u.attributes is not None:
                props["attributes"] = dumps(u.attributes)
                g = u.attributes.get("redundancyGroup")
                new_group = g if isinstance(g, str) else None
                if new_group != group_now[u.id]:
                    props["grp"] = new_group
                    self.group_log.setdefault(u.id, []).append((self.cs.at, dumps(group_now[u.id])))
                    group_now[u.id] = new_group
            if u.provenance is not None:
                props["provenance"] = provenance_json(u.provenance)
            new_status = MERGED if u.merged else (u.status.code if u.status is not None else None)
            if new_status is not None:
                props["status"] = new_status
                if status_now[u.id] != new_status:
                    self.log_status(encode(ItemKind.RELATION, u.id), status_now[u.id])
                    if new_status == MERGED:
                        self.counters.relations -= 1
                    status_now[u.id] = new_status
            rows.append({"id": u.id, "props": props})
        await self.tx._write(rows, q.update_relations, counted=True)

    async def _assertions(self) -> None:
        cs = self.cs
        run = self.tx.run
        for old_ref, new_ref in cs.moved_assertions:
            await run(
                q.move_assertions(
                    encode(old_ref.item, self.real(old_ref.id)),
                    encode(new_ref.item, self.real(new_ref.id)),
                )
            )
        items: list[int] = []
        if cs.asserts_created:
            items += [
                encode(ItemKind.ENTITY, self.mapping[e.temp_id])
                for e in cs.entities
                if e.status is not Status.RETIRED
            ]
            items += [
                encode(ItemKind.RELATION, self.mapping[r.temp_id])
                for r in cs.relations
                if r.status is not Status.RETIRED
            ]
        items += [encode(a.ref.item, self.real(a.ref.id)) for a in cs.assertions]
        if items:
            await self.tx._write(
                sorted(set(items)),
                lambda chunk: q.assert_items(chunk, cs.source, cs.scope, cs.run_seq),
            )
        seen_entities = sorted(
            {
                self.real(a.ref.id)
                for a in cs.assertions
                if a.ref.item is ItemKind.ENTITY and a.ref.id > 0
            }
        )
        seen_relations = sorted(
            {
                self.real(a.ref.id)
                for a in cs.assertions
                if a.ref.item is ItemKind.RELATION and a.ref.id > 0
            }
        )
        if seen_entities:
            await self.tx._write(seen_entities, lambda chunk: q.touch_entities(chunk, cs.at))
        if seen_relations:
            await self.tx._write(seen_relations, lambda chunk: q.touch_relations(chunk, cs.at))
        if cs.withdrawn:
            rows = sorted(
                (
                    {"item": encode(ref.item, ref.id), "missed": missed}
                    for ref, missed in cs.withdrawn
                ),
                key=lambda row: row["item"],
            )
            await self.tx._write(rows, lambda chunk: q.withdraw(chunk, cs.source, cs.scope))

    async def _history(self) -> None:
        cs = self.cs
        run_seq = cs.run_seq if cs.run_id is not None else None
        created = HistoryOp.CREATED.value
        events: list[tuple[int, str, str | None]] = [
            (encode(ItemKind.ENTITY, self.mapping[e.temp_id]), created, None) for e in cs.entities
        ]
        events += [
            (encode(ItemKind.RELATION, self.mapping[r.temp_id]), created, None)
            for r in cs.relations
        ]
        events += [
            (
                encode(h.ref.item, self.real(h.ref.id)),
                h.op.value,
                dumps({k: [v.old, v.new] for k, v in h.changes.items()}) if h.changes else None,
            )
            for h in cs.history
        ]
        rows: list[Row] = []
        for item, op, changes in events:
            rows.append(
                {
                    "seq": self.counters.next_history,
                    "at": cs.at,
                    "item": item,
                    "op": op,
                    "source": cs.source,
                    "actor": cs.actor,
                    "run_seq": run_seq,
                    "run_id": cs.run_id,
                    "changes": changes,
                }
            )
            self.counters.next_history += 1
        if rows:
            await self.tx._write(rows, q.append_history)

    async def _conflicts(self) -> None:
        cs = self.cs
        rows: list[Row] = []
        for c in cs.conflicts:
            rows.append(
                {
                    "seq": self.counters.next_history,
                    "at": cs.at,
                    "kind": self.vocab.kind_code(c.kind),
                    "id_type": c.id_type,
                    "value": c.value,
                    "entity": self.real(c.entity_id),
                    "holder": self.real(c.holder_id),
                    "item_key": c.item_key,
                    "source": cs.source,
                    "run_id": cs.run_id,
                }
            )
            self.counters.next_history += 1
        if rows:
            await self.tx._write(rows, q.record_conflicts)
        closed = [
            {
                "seq": c.seq,
                "state": c.state.value,
                "at": cs.at,
                "actor": cs.actor,
                "reason": c.reason,
            }
            for c in cs.closed_conflicts
        ]
        if closed:
            await self.tx._write(closed, q.close_conflicts, counted=True)

    async def _logs(self) -> None:
        entities: list[Row] = []
        relations: list[Row] = []
        for item, entries in self.status_log.items():
            kind, item_id = decode(item)
            row = {"id": item_id, "at": [a for a, _ in entries], "old": [o for _, o in entries]}
            (relations if kind is ItemKind.RELATION else entities).append(row)
        if entities:
            await self.tx._write(entities, q.log_entity_status)
        if relations:
            await self.tx._write(relations, q.log_relation_status)
        groups = [
            {"id": rid, "at": [a for a, _ in entries], "old": [o for _, o in entries]}
            for rid, entries in self.group_log.items()
        ]
        if groups:
            await self.tx._write(groups, q.log_relation_group)
