"""REST at ``/api/v1``: ingest (one JSON batch or an NDJSON stream), runs, entities.

``POST /api/v1/entities/resolve`` resolves up to 10,000 relation endpoints
(``{kind, key}`` or ``{kind, identifiers}``) in one call, as the ingest engine
would; ``graphsvc import --url`` uses it to drop dangling relations before a run.

Every route checks the caller's scope; errors are problem documents
(:mod:`graphsvc.api.problems`).

``POST /api/v1/ingest`` takes either

* ``application/json``: one ingest batch, applied atomically; or
* ``application/x-ndjson``: a stream of entity and relation items, one JSON
  object per line (an object with ``type`` is a relation, one with ``kind`` an
  entity), with the batch header in the query (``source``, ``scope``,
  ``runId``, ``complete``). The stream is cut into batches of ``batchSize``
  items, each applied atomically as it arrives; send entities before the
  relations that name them. Without ``runId`` the stream is one run of its own,
  opened once its first batch has passed every check (so a stream refused at
  its first batch writes nothing at all) and finished complete only when every
  batch was applied (so nothing goes stale after a failed stream). A rejected
  batch stops the stream: the answer names the offending lines, and the batches
  before it stay applied. A stream has no overall deadline: it ends when no
  byte arrives for ``stream_idle_seconds`` (408), and each batch is applied
  under the request deadline. However it is cut (idle, client gone, a rejected
  batch), its own run is finished incomplete and the cut is logged with the
  number of batches applied, which the run keeps.

A JSON batch is applied in one transaction within one request; one holding more
than ``json_batch_max_items`` items is refused (413) before any work.

Every route does its store and CPU work in the worker loops
(:mod:`graphsvc.api.workers`), never on the server's event loop.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import asdict, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import anyio
import orjson
import structlog
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel
from starlette.requests import ClientDisconnect

from graphsvc.analysis.cycles import CycleGroupPage, cycle_page, dependency_cycles
from graphsvc.analysis.health import HealthEntityPage, HealthReport, health, health_entities
from graphsvc.analysis.health import score_trend as health_trend
from graphsvc.analysis.impact import Impact, dependencies, impact
from graphsvc.analysis.ownership import Ownership, ownership
from graphsvc.analysis.plan import ProjectPlan, project_plan
from graphsvc.analysis.spof import SinglePoints, single_points_of_failure
from graphsvc.analysis.work import CapacityForecast, TeamLoad, capacity_forecast, team_load
from graphsvc.api.answers import AnswerShape
from graphsvc.api.auth import Authenticator
from graphsvc.api.feed import (
    FOLLOW_PAGE,
    EventStreamResponse,
    FeedBusy,
    FeedHub,
    FeedItem,
    Gone,
    Heartbeat,
    Revoked,
    follow,
)
from graphsvc.api.problems import Problem, problem_response
from graphsvc.api.tokens import Principal, Scope
from graphsvc.api.workers import WorkerLoops
from graphsvc.collector import collector_paused
from graphsvc.config import Settings
from graphsvc.deadline import current_deadline, deadline
from graphsvc.errors import BatchRejected, InvalidInput, ItemError, NotFound, ReadOnlyStore
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.results import UNAPPLIED_LIMIT, IngestSummary, UnappliedWrite
from graphsvc.ingest.runner import resolve_refs
from graphsvc.model.batch import EntityRef, IngestBatch, SourceName
from graphsvc.model.cursor import decode_cursor
from graphsvc.model.records import (
    ConflictState,
    EntityRecord,
    HistoryEvent,
    IdentityConflict,
    ItemKind,
    RunRecord,
)
from graphsvc.model.validation import parse_batch, parse_batch_json
from graphsvc.model.vocabulary import EntityKind, RelationType, Status
from graphsvc.store.base import EntityQuery, EventPage, EventQuery, GraphStore

if TYPE_CHECKING:
    from graphsvc.api.webhooks.admin import WebhookAdmin

__all__ = ["READ_ONLY_MESSAGE", "Services", "router"]

MAX_RESOLVE = 10_000
"""Most references one ``POST /entities/resolve`` accepts."""

T = TypeVar("T")
P = ParamSpec("P")
log = structlog.get_logger("graphsvc.api")

READ_ONLY_MESSAGE = (
    "this server is a read replica (graphsvc serve --read-only): send writes to the "
    "writer, the graphsvc serve started without --read-only on the same store"
)

NDJSON_TYPES = (
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/x-jsonlines",
)


class Services:
    """What routes need, opened by the app's lifespan."""

    def __init__(
        self,
        store: GraphStore,
        engine: IngestEngine,
        auth: Authenticator,
        settings: Settings,
        workers: WorkerLoops | None = None,
        feed: FeedHub | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.auth = auth
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes
        self.workers = workers
        self.webhooks: WebhookAdmin | None = None  # set by the app's lifespan on writers
        self.after_write: Callable[[], None] | None = None  # wakes the webhook worker
        self.feed = feed or FeedHub(
            max_followers=settings.event_streams_max,
            poll_seconds=settings.event_poll_seconds,
            heartbeat_seconds=settings.event_heartbeat_seconds,
            stream_max_seconds=settings.event_stream_max_seconds,
        )

    async def read_events(self, query: EventQuery, first: int, after: int) -> EventPage:
        """One page of the store's events, read in the worker loops (a feed's ``read``)."""
        return await self.run(functools.partial(self.store.events, query, first=first, after=after))

    async def run(self, work: Callable[[], Awaitable[T]], *, writes: bool = False) -> T:
        """Run ``work()`` in the worker loops (where it is called when there are none).

        ``writes``: the work writes (it runs on the writing loop, away from reads);
        :attr:`after_write` is called once it is done.
        """
        try:
            if self.workers is None:
                return await work()
            return await self.workers.run(work, writes=writes)
        finally:
            if writes and self.after_write is not None:
                self.after_write()


def services(request: Request) -> Services:
    """Return the app's services (FastAPI dependency)."""
    found: Services = request.app.state.services
    return found


def _scope_dependency(scope: Scope) -> Any:
    def check(request: Request, svc: Annotated[Services, Depends(services)]) -> Principal:
        principal = svc.auth.principal(request, scope)
        if scope is not Scope.READ and svc.settings.read_only:
            raise ReadOnlyStore(READ_ONLY_MESSAGE)
        return principal

    return Depends(check)


Reader = Annotated[Principal, _scope_dependency(Scope.READ)]
Writer = Annotated[Principal, _scope_dependency(Scope.WRITE)]
Admin = Annotated[Principal, _scope_dependency(Scope.ADMIN)]
Svc = Annotated[Services, Depends(services)]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (400, 401, 403, 404, 409, 413, 415, 422, 503)
}


# ------------------------------------------------------------------ models


class UnappliedOut(BaseModel):
    """A write the reconciliation rule did not apply: a source of higher priority holds the field.

    Sending the value the field has is no conflict and is not listed. The losing
    source corrects its copy to ``kept``.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    item: str = Field(description="entity or relation.")
    section: str = Field(description="entities or relations: where the item is in the batch.")
    index: int = Field(
        description="The item's position in its section of the batch (of an NDJSON stream: "
        "its line number)."
    )
    label: str = Field(description="Kind/key, or TYPE Kind/key -> Kind/key, as sent.")
    field: str = Field(description="name, attributes.<a> or identifiers.<t>.")
    sent: JsonValue = Field(description="The value sent (null: a removal).")
    kept: JsonValue = Field(description="The value the field keeps.")
    holder: str = Field(description="The source that holds the field.")
    holder_priority: int
    sender: str = Field(description="The source of the batch.")
    sender_priority: int
    reason: str

    @classmethod
    def of(cls, w: UnappliedWrite) -> UnappliedOut:
        """Convert an engine record."""
        return cls.model_validate(asdict(w))


class SummaryOut(BaseModel):
    """What an ingest changed (or, in a dry run, would change)."""

    model_config = ConfigDict(populate_by_name=True)

    run_id: str | None = Field(alias="runId")
    run_state: str | None = Field(alias="runState")
    dry_run: bool = Field(alias="dryRun")
    entities_created: int = Field(alias="entitiesCreated")
    entities_updated: int = Field(alias="entitiesUpdated")
    entities_unchanged: int = Field(alias="entitiesUnchanged")
    relations_created: int = Field(alias="relationsCreated")
    relations_updated: int = Field(alias="relationsUpdated")
    relations_unchanged: int = Field(alias="relationsUnchanged")
    merged: int
    revived: int
    retired: int
    marked_stale: int = Field(alias="markedStale")
    identity_conflicts: int = Field(alias="identityConflicts")
    warnings: list[str] = Field(default_factory=list)
    batches: int = 1
    changes: list[dict[str, Any]] = Field(default_factory=list)
    unapplied: list[UnappliedOut] = Field(
        default_factory=list,
        description="Writes not applied because a source of higher priority holds the field "
        f"(the first {UNAPPLIED_LIMIT:,}, in batch order).",
    )
    unapplied_total: int = Field(
        0, alias="unappliedTotal", description="All writes not applied, listed or not."
    )

    @classmethod
    def of(cls, s: IngestSummary, batches: int = 1) -> SummaryOut:
        """Convert an engine summary."""
        return cls(
            run_id=s.run_id,
            run_state=s.run_state.value if s.run_state else None,
            dry_run=s.dry_run,
            entities_created=s.entities_created,
            entities_updated=s.entities_updated,
            entities_unchanged=s.entities_unchanged,
            relations_created=s.relations_created,
            relations_updated=s.relations_updated,
            relations_unchanged=s.relations_unchanged,
            merged=s.merged,
            revived=s.revived,
            retired=s.retired,
            marked_stale=s.marked_stale,
            identity_conflicts=s.identity_conflicts,
            warnings=list(s.warnings),
            batches=batches,
            changes=[asdict(c) for c in s.changes],
            unapplied=[UnappliedOut.of(w) for w in s.unapplied],
            unapplied_total=s.unapplied_total,
        )


class ConflictOut(BaseModel):
    """An identity conflict: an identifier value an item carried that another entity keeps."""

    model_config = ConfigDict(populate_by_name=True)

    seq: int
    at: datetime
    kind: str
    identifier_type: str = Field(alias="identifierType")
    value: str
    entity_id: int = Field(alias="entityId", description="The entity the item was identified as.")
    holder_id: int = Field(alias="holderId", description="The entity that keeps the value.")
    item_key: str = Field(alias="itemKey")
    source: str
    run_id: str | None = Field(alias="runId")
    state: ConflictState = Field(description="open, dismissed or resolved.")
    closed_at: datetime | None = Field(
        default=None, alias="closedAt", description="When it was dismissed or resolved."
    )
    closed_by: str | None = Field(
        default=None, alias="closedBy", description="Who dismissed or resolved it."
    )
    close_reason: str | None = Field(
        default=None,
        alias="closeReason",
        description="The reason of a dismissal; for a resolution, the merge that resolved it.",
    )

    @classmethod
    def of(cls, c: IdentityConflict) -> ConflictOut:
        """Convert a conflict record."""
        closure = c.closure
        return cls(
            state=c.state,
            closed_at=closure.at if closure else None,
            closed_by=closure.actor if closure else None,
            close_reason=closure.reason if closure else None,
            seq=c.seq,
            at=c.at,
            kind=c.kind.value,
            identifier_type=c.id_type,
            value=c.value,
            entity_id=c.entity_id,
            holder_id=c.holder_id,
            item_key=c.item_key,
            source=c.source,
            run_id=c.run_id,
        )


class ConflictPageOut(BaseModel):
    """A page of identity conflicts, oldest first; pass ``next`` as ``after``."""

    items: list[ConflictOut]
    next: int | None
    total: int = Field(
        description="Every recorded conflict in the state asked (every state when none was), "
        "not only this page."
    )


class RunOut(BaseModel):
    """An ingest run."""

    model_config = ConfigDict(populate_by_name=True)

    run_id: str = Field(alias="runId")
    source: str
    scope: str
    state: str
    started: datetime
    finished: datetime | None
    batches: int

    @classmethod
    def of(cls, run: RunRecord) -> RunOut:
        """Convert a run record."""
        return cls(
            run_id=run.run_id,
            source=run.source,
            scope=run.scope,
            state=run.state.value,
            started=run.started,
            finished=run.finished,
            batches=run.batches,
        )


class StartRunIn(BaseModel):
    """A run to open."""

    source: str
    scope: str = "default"


class FinishRunIn(BaseModel):
    """How a run ends."""

    model_config = ConfigDict(populate_by_name=True)

    complete: bool
    dry_run: bool = Field(default=False, alias="dryRun")


class EntityOut(BaseModel):
    """An entity with its relation counts."""

    model_config = ConfigDict(populate_by_name=True)

    id: int
    kind: str
    key: str
    name: str
    status: str
    attributes: dict[str, Any]
    identifiers: dict[str, str]
    aliases: list[str]
    first_seen: datetime = Field(alias="firstSeen")
    last_seen: datetime = Field(alias="lastSeen")
    provenance: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, e: EntityRecord) -> EntityOut:
        """Convert an entity record."""
        return cls(
            id=e.id,
            kind=e.kind.value,
            key=e.key,
            name=e.name,
            status=e.status.value,
            attributes=dict(e.attributes),
            identifiers=dict(e.identifiers),
            aliases=list(e.aliases),
            first_seen=e.first_seen,
            last_seen=e.last_seen,
            provenance={
                k: {"source": v.source, "at": v.at.isoformat()} for k, v in e.provenance.items()
            },
        )


class ResolveIn(BaseModel):
    """References to look up."""

    refs: list[EntityRef] = Field(max_length=MAX_RESOLVE)


class ResolveOut(BaseModel):
    """For each reference, in order, the id of the entity it names (``null``: none)."""

    ids: list[int | None]


# ------------------------------------------------------------------ routes

router = APIRouter(prefix="/api/v1", responses=_PROBLEMS)

_INGEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/IngestBatch"}},
            "application/x-ndjson": {
                "schema": {"type": "string", "description": "One entity or relation item per line"}
            },
        },
    }
}


async def _read_limited(request: Request, limit: int) -> bytes:
    size = 0
    parts: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(
                413, f"the request body is larger than {limit} bytes; send NDJSON instead"
            )
        parts.append(chunk)
    return b"".join(parts)


class StreamIdle(Exception):
    """An NDJSON stream sent nothing for longer than its idle timeout."""


async def _chunks(request: Request, idle_seconds: float) -> AsyncIterator[bytes]:
    """The body's chunks; :class:`StreamIdle` when none comes for ``idle_seconds``."""
    stream = request.stream().__aiter__()
    while True:
        try:
            with anyio.fail_after(idle_seconds):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise StreamIdle from None
        yield chunk


async def _lines(
    request: Request, limit: int, idle_seconds: float
) -> AsyncIterator[tuple[int, bytes]]:
    buffer = b""
    number = 0
    async for chunk in _chunks(request, idle_seconds):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            number += 1
            if len(line) > limit:
                raise HTTPException(413, f"line {number} is longer than {limit} bytes")
            yield number, line
        if len(buffer) > limit:
            raise HTTPException(413, f"line {number + 1} is longer than {limit} bytes")
    if buffer.strip():
        yield number + 1, buffer


@router.post(
    "/ingest",
    response_model=SummaryOut,
    response_model_by_alias=True,
    summary="Ingest one JSON batch, or an NDJSON stream of items",
    openapi_extra=_INGEST_BODY,
)
async def ingest(
    request: Request,
    principal: Writer,
    svc: Svc,
    source: Annotated[str | None, Query(description="NDJSON only: the source")] = None,
    scope: Annotated[str, Query(description="NDJSON only: the scope")] = "default",
    run_id: Annotated[str | None, Query(alias="runId", description="NDJSON only: the run")] = None,
    complete: Annotated[bool, Query(description="NDJSON only: the stream is complete")] = False,
    batch_size: Annotated[int, Query(alias="batchSize", ge=1, le=50_000)] = 5000,
) -> SummaryOut:
    """Apply a batch (see the module docstring for the two forms)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = await _read_limited(request, svc.max_body_bytes)
        most = svc.settings.json_batch_max_items
        return await svc.run(lambda: _ingest_json(svc.engine, body, principal, most), writes=True)
    if content_type in NDJSON_TYPES:
        if not source:
            raise HTTPException(422, "an NDJSON stream needs the query parameter source")
        return await _ingest_stream(
            request, svc, principal, source, scope, run_id, complete, batch_size
        )
    raise HTTPException(
        415, f"send application/json or application/x-ndjson, not {content_type or 'nothing'}"
    )


@collector_paused
async def _ingest_json(
    engine: IngestEngine, body: bytes, principal: Principal, most_items: int
) -> SummaryOut:
    _refuse_a_batch_too_big(body, most_items)
    try:
        batch = parse_batch_json(body, origin="request body")
    except BatchRejected as rejected:
        raise await engine.with_store_errors(rejected) from None
    return SummaryOut.of(await engine.ingest(batch, actor=principal.name))


def _refuse_a_batch_too_big(body: bytes, most_items: int) -> None:
    """Refuse, before any work, a JSON batch too big to be applied within a request.

    Raises:
        HTTPException: 413 with the advice to stream, when the batch holds more than
            ``most_items`` entities and relations.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return  # the parser below says what is wrong, and where
    if not isinstance(document, dict):
        return
    items = sum(
        len(document[section])
        for section in ("entities", "relations")
        if isinstance(document.get(section), list)
    )
    if items > most_items:
        raise HTTPException(
            413,
            f"this batch holds {items:,} items; a JSON batch is applied in one transaction "
            f"within one request and may hold at most {most_items:,}. Send it as an NDJSON "
            "stream (Content-Type: application/x-ndjson, one item per line, the header in "
            "the query: source, scope, runId, complete), which is applied in batches as it "
            "arrives, or split it into several batches of one run.",
        )


async def _ingest_stream(
    request: Request,
    svc: Services,
    principal: Principal,
    source: str,
    scope: str,
    run_id: str | None,
    complete: bool,
    batch_size: int,
) -> SummaryOut:
    # Without runId the stream is a run of its own, opened only once its first
    # batch has passed every check (a dry run), so that a stream refused at its
    # first batch writes nothing, not even a run.
    own_run = run_id is None
    summary = IngestSummary(run_id=run_id)
    batches = 0
    pending: list[tuple[int, dict[str, Any]]] = []

    async def open_run() -> str:
        return (await svc.engine.start_run(source, scope, actor=principal.name)).run_id

    @collector_paused
    async def apply(entities: list[_Line], relations: list[_Line]) -> IngestSummary:
        """Check and apply one batch (in a worker loop)."""
        nonlocal run_id
        document = {
            "source": source,
            "scope": scope,
            "runId": run_id,
            "entities": [item for _, item in entities],
            "relations": [item for _, item in relations],
        }
        batch: IngestBatch = parse_batch(document, origin="stream")
        if run_id is None:
            await svc.engine.ingest(
                batch.model_copy(update={"dry_run": True}), actor=principal.name
            )
            run_id = await open_run()
            batch = batch.model_copy(update={"run_id": run_id})
        return await svc.engine.ingest(batch, actor=principal.name)

    async def flush() -> None:
        nonlocal summary, batches
        if not pending:
            return
        entities = [(n, item) for n, item in pending if "type" not in item]
        relations = [(n, item) for n, item in pending if "type" in item]
        try:
            # each batch has the time of one request, however long the stream runs
            with deadline(svc.settings.request_timeout_seconds):
                result = await svc.run(lambda: apply(entities, relations), writes=True)
        except BatchRejected as exc:
            raise _on_lines(exc, entities, relations, batches) from None
        summary = summary if summary.run_id else IngestSummary(run_id=run_id)
        summary = summary + _with_lines(result, entities, relations)
        batches += 1
        pending.clear()

    idle = svc.settings.stream_idle_seconds
    try:
        async for number, line in _lines(request, svc.max_body_bytes, idle):
            if not line.strip():
                continue
            pending.append((number, _item(number, line)))
            if len(pending) >= batch_size:
                await flush()
        await flush()
    except BaseException as exc:
        await _end_cut_stream(svc, principal, run_id if own_run else None, batches, exc)
        if isinstance(exc, StreamIdle):
            raise HTTPException(
                408,
                f"the stream sent nothing for {idle:g} s and was ended: {batches} batch(es) "
                f"were applied before it"
                + (f"; run {run_id} was finished incomplete" if own_run and run_id else ""),
            ) from None
        raise
    if own_run:
        if run_id is None:  # an empty stream: a run with nothing in it
            run_id = await svc.run(open_run, writes=True)
        finished = await svc.run(
            lambda: svc.engine.finish_run(run_id, complete=complete, actor=principal.name),
            writes=True,
        )
        summary = (summary if summary.run_id else IngestSummary(run_id=run_id)) + finished
    return SummaryOut.of(summary, batches)


_Line = tuple[int, dict[str, Any]]


def _with_lines(
    summary: IngestSummary, entities: list[_Line], relations: list[_Line]
) -> IngestSummary:
    """``summary`` with its unapplied writes naming NDJSON line numbers, not batch positions."""
    if not summary.unapplied:
        return summary
    lines = {"entities": entities, "relations": relations}
    return replace(
        summary,
        unapplied=tuple(replace(w, index=lines[w.section][w.index][0]) for w in summary.unapplied),
    )


def _item(number: int, line: bytes) -> dict[str, Any]:
    """The item on NDJSON line ``number``.

    Raises:
        BatchRejected: when the line is not one JSON object.
    """
    try:
        item = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BatchRejected(
            [ItemError("line", number, "", "", f"not valid JSON: {exc}")],
            origin="NDJSON stream",
        ) from None
    if not isinstance(item, dict):
        raise BatchRejected(
            [ItemError("line", number, "", "", "each line must be one JSON object")],
            origin="NDJSON stream",
        )
    return item


def _on_lines(
    exc: BatchRejected, entities: list[_Line], relations: list[_Line], applied: int
) -> BatchRejected:
    """``exc`` with its items named by their NDJSON line numbers."""
    lines = {"entities": [n for n, _ in entities], "relations": [n for n, _ in relations]}
    return BatchRejected(
        [
            ItemError(
                "line",
                lines[e.section][e.index] if e.index is not None and e.section in lines else None,
                e.key,
                e.field,
                e.reason,
            )
            for e in exc.errors
        ],
        origin=f"NDJSON stream (batch {applied + 1}; {applied} applied before it)",
    )


async def _end_cut_stream(
    svc: Services, principal: Principal, own_run: str | None, applied: int, why: BaseException
) -> None:
    """Log a stream that ended before its end, and finish its own run incomplete.

    The run keeps the count of batches applied (``GET /api/v1/runs``). This runs
    when the client went away too, so it is shielded from cancellation.
    """
    reason = {
        StreamIdle: "idle",
        ClientDisconnect: "client gone",
        BatchRejected: "batch rejected",
    }.get(type(why), type(why).__name__)
    log.warning(
        "ndjson stream cut", reason=reason, batches_applied=applied, run=own_run or "the caller's"
    )
    if own_run is None:
        return
    with anyio.CancelScope(shield=True):
        await svc.run(
            lambda: svc.engine.finish_run(own_run, complete=False, actor=principal.name),
            writes=True,
        )


@router.post(
    "/runs",
    response_model=RunOut,
    response_model_by_alias=True,
    status_code=201,
    summary="Open a run",
)
async def start_run(body: StartRunIn, principal: Writer, svc: Svc) -> RunOut:
    """Open a run for a source over a scope."""
    run = await svc.run(
        lambda: svc.engine.start_run(body.source, body.scope, actor=principal.name), writes=True
    )
    return RunOut.of(run)


@router.post(
    "/runs/{run_id}/finish",
    response_model=SummaryOut,
    response_model_by_alias=True,
    summary="Finish a run",
)
async def finish_run(run_id: str, body: FinishRunIn, principal: Writer, svc: Svc) -> SummaryOut:
    """Finish a run; with complete, apply staleness and retirement."""
    summary = await svc.run(
        lambda: svc.engine.finish_run(
            run_id, complete=body.complete, dry_run=body.dry_run, actor=principal.name
        ),
        writes=True,
    )
    return SummaryOut.of(summary)


@router.get(
    "/runs", response_model=list[RunOut], response_model_by_alias=True, summary="The latest runs"
)
async def list_runs(
    _principal: Reader,
    svc: Svc,
    source: str | None = None,
    first: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[RunOut]:
    """Return the latest runs, newest first."""
    return [RunOut.of(r) for r in await svc.run(lambda: svc.store.runs(source=source, first=first))]


@router.get(
    "/identity-conflicts",
    response_model=ConflictPageOut,
    response_model_by_alias=True,
    summary="Identity conflicts, oldest first",
)
async def list_identity_conflicts(
    _principal: Reader,
    svc: Svc,
    after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    first: Annotated[int, Query(ge=1, le=500)] = 100,
    state: Annotated[
        ConflictState | None,
        Query(
            description="Only the conflicts in this state (open: neither dismissed nor resolved)."
        ),
    ] = None,
) -> ConflictPageOut:
    """Return identity conflicts with ``seq > after`` (PRODUCT.md 2, Identification)."""
    page = await svc.run(
        lambda: svc.store.identity_conflicts(first=first, after=after, state=state)
    )
    return ConflictPageOut(
        items=[ConflictOut.of(c) for c in page.items],
        next=page.end_cursor if page.has_next else None,
        total=page.total,
    )


KindSpelling = StrEnum(  # type: ignore[misc]
    "KindSpelling",
    {spelling: spelling for kind in EntityKind for spelling in (kind.value, kind.name)},
)
"""A kind in either spelling (``Service`` or ``SERVICE``), derived from the vocabulary."""


def _kind(spelling: KindSpelling | str) -> EntityKind:
    """The kind a spelling names (``Service``, ``SERVICE``; any letter case).

    Raises:
        InvalidInput: when it names no kind (the message lists the kinds).
    """
    text = str(getattr(spelling, "value", spelling))
    for kind in EntityKind:
        if text.lower() in (kind.value.lower(), kind.name.lower()):
            return kind
    kinds = ", ".join(k.value for k in EntityKind)
    msg = f"{text[:60]!r} is not a kind; kinds are {kinds} (or SERVICE, CONFIGURATION_ITEM, …)"
    raise InvalidInput(msg)


def _iso_only(value: object) -> object:
    """Refuse a number where a time is asked for (pydantic would read it as Unix seconds)."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        msg = "not an ISO 8601 date or time (for example 2030-01-07 or 2030-01-07T09:00:00Z)"
        raise ValueError(msg)
    return value


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
IsoTime = Annotated[datetime, BeforeValidator(_iso_only)]
"""A time in a query parameter: ISO 8601 only (``0`` or ``1700000000`` are refused)."""


class EntityPageOut(BaseModel):
    """One page of entities, ordered by id, with the count of every match."""

    model_config = ConfigDict(populate_by_name=True)

    items: list[EntityOut]
    total: int = Field(
        description="Every entity that matches, not only this page; with `q`, counting stops "
        "above 10,000: then `total` is 10,000 and `totalIsLowerBound` is true."
    )
    total_is_lower_bound: bool = Field(
        alias="totalIsLowerBound",
        description="True when more entities match than `total` (more than 10,000); "
        "paging with `after` still reaches every one.",
    )
    next: int | None = Field(description="Pass as `after` for the next page; null at the end.")


@router.get(
    "/entities",
    response_model=EntityPageOut,
    response_model_by_alias=True,
    summary="Search entities by kind, text in key or name, and status",
)
async def search_entities(
    _principal: Reader,
    svc: Svc,
    kind: Annotated[KindSpelling | None, Query(description="Only this kind.")] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Case-insensitive text in the key or the name."),
    ] = None,
    status: Annotated[
        list[Status] | None, Query(description="Only these statuses (repeat the parameter).")
    ] = None,
    first: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    as_of: Annotated[
        IsoTime | None,
        Query(
            alias="asOf",
            description="Match the entities as they were then (names, statuses, "
            "attributes then; entities that did not exist yet are left out).",
        ),
    ] = None,
) -> EntityPageOut:
    """Return one page of the entities matching every condition given, in id order."""
    query = EntityQuery(
        kind=_kind(kind) if kind is not None else None,
        statuses=frozenset(status) if status else None,
        text=q or None,
    )
    when = _utc(as_of)
    page = await svc.run(
        lambda: svc.store.find_entities(query, first=first, after=after, as_of=when)
    )
    return EntityPageOut(
        items=[EntityOut.of(r) for r in page.items],
        total=page.total,
        total_is_lower_bound=page.total_is_lower_bound,
        next=page.end_cursor if page.has_next else None,
    )


@router.get(
    "/entities/{kind}/{key:path}",
    response_model=EntityOut,
    response_model_by_alias=True,
    summary="One entity by kind (either spelling) and key (or alias)",
)
async def get_entity(kind: KindSpelling, key: str, _principal: Reader, svc: Svc) -> EntityOut:
    """Return one entity by kind and key."""
    [found] = await svc.run(lambda: _named(svc.store, [f"{_kind(kind).value}/{key}"]))
    record = (await svc.run(lambda: svc.store.entities([found])))[0]
    if record is None:
        msg = f"no {_kind(kind).value} with key {key[:80]!r}"
        raise NotFound(msg)
    return EntityOut.of(record)


REF_HELP = (
    "An entity as Kind/key (either kind spelling; the key may hold slashes), e.g. "
    "Service/billing or CONFIGURATION_ITEM/db-01. Repeat the parameter for several."
)


async def _named(store: GraphStore, refs: Sequence[str]) -> list[int]:
    """The entity ids ``Kind/key`` references name, in order.

    Raises:
        InvalidInput: a reference without a slash, or with no kind before it.
        NotFound: naming every reference no entity has (key or alias).
    """
    wanted: list[tuple[EntityKind, str]] = []
    for ref in refs:
        kind, slash, key = ref.partition("/")
        if not slash or not key:
            msg = f"{ref[:80]!r} is not Kind/key (for example Service/billing)"
            raise InvalidInput(msg)
        wanted.append((_kind(kind), key))
    found = await store.resolve(wanted)
    unknown = [
        f"{k.value}/{key[:80]}" for (k, key), f in zip(wanted, found, strict=True) if f is None
    ]
    if unknown:
        msg = f"no entity has {'this key' if len(unknown) == 1 else 'these keys'}: " + ", ".join(
            unknown[:20]
        )
        raise NotFound(msg)
    return [f for f in found if f is not None]


IMPACT_SHAPE = AnswerShape(Impact)
OWNERSHIP_SHAPE = AnswerShape(Ownership)
TEAM_LOAD_SHAPE = AnswerShape(TeamLoad)
FORECAST_SHAPE = AnswerShape(CapacityForecast)
PLAN_SHAPE = AnswerShape(ProjectPlan)
SPOF_SHAPE = AnswerShape(SinglePoints)
CYCLES_SHAPE = AnswerShape(CycleGroupPage)
HEALTH_SHAPE = AnswerShape(HealthReport)
HEALTH_PAGE_SHAPE = AnswerShape(HealthEntityPage)
ANSWER_SHAPES = (
    IMPACT_SHAPE,
    OWNERSHIP_SHAPE,
    TEAM_LOAD_SHAPE,
    FORECAST_SHAPE,
    PLAN_SHAPE,
    SPOF_SHAPE,
    CYCLES_SHAPE,
    HEALTH_SHAPE,
    HEALTH_PAGE_SHAPE,
)
"""The analysis answers REST writes; their schemas go into the OpenAPI document."""


def _answer_of(shape: AnswerShape) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": f"The {shape.name} answer (PRODUCT.md 4.7, in REST's camelCase).",
            "content": {"application/json": {"schema": {"$ref": shape.ref}}},
        }
    }


def _walk_route(walk: Callable[..., Awaitable[Impact]], what: str) -> Callable[..., Any]:
    async def read(
        _principal: Reader,
        svc: Svc,
        ref: Annotated[list[str], Query(description=REF_HELP, min_length=1, max_length=1000)],
        max_depth: Annotated[int | None, Query(alias="maxDepth", ge=0, le=10_000)] = None,
        as_of: Annotated[IsoTime | None, Query(alias="asOf")] = None,
        first: Annotated[int, Query(ge=0, le=500)] = 50,
        after: Annotated[
            str | None,
            Query(max_length=40, description="The `affected.pageInfo.endCursor` of the last page."),
        ] = None,
        paths: Annotated[bool, Query(description="Include one shortest path per entity.")] = True,
    ) -> JSONResponse:
        async def compute() -> Impact:
            start = await _named(svc.store, ref)
            return await walk(
                svc.store,
                start,
                max_depth=max_depth,
                as_of=_utc(as_of),
                first=first,
                after=after,
                paths=paths,
                max_path_steps=svc.settings.graphql_max_path_steps if paths else None,
            )

        return JSONResponse(IMPACT_SHAPE.dump(await svc.run(compute)))

    read.__doc__ = what
    return read


router.add_api_route(
    "/impact",
    _walk_route(impact, "What is affected if these entities fail or change (PRODUCT.md 4.2)."),
    methods=["GET"],
    summary="Impact of entities named by kind and key",
    responses=_answer_of(IMPACT_SHAPE),
)
router.add_api_route(
    "/dependencies",
    _walk_route(dependencies, "What these entities need: the reverse walk of impact."),
    methods=["GET"],
    summary="Dependencies of entities named by kind and key",
    responses=_answer_of(IMPACT_SHAPE),
)


@router.get(
    "/ownership",
    summary="Owners, supporters and escalation of one entity named by kind and key",
    responses=_answer_of(OWNERSHIP_SHAPE),
)
async def ownership_read(
    _principal: Reader,
    svc: Svc,
    ref: Annotated[
        str, Query(description=REF_HELP.replace(" Repeat the parameter for several.", ""))
    ],
    as_of: Annotated[IsoTime | None, Query(alias="asOf")] = None,
) -> JSONResponse:
    """Return who owns and supports the entity, direct or inherited (PRODUCT.md 4.3)."""

    async def compute() -> Ownership:
        [entity_id] = await _named(svc.store, [ref])
        return await ownership(svc.store, entity_id, as_of=_utc(as_of))

    return JSONResponse(OWNERSHIP_SHAPE.dump(await svc.run(compute)))


@router.get(
    "/single-points-of-failure",
    summary="The entities whose failure alone makes one service DOWN (PRODUCT.md 9)",
    responses=_answer_of(SPOF_SHAPE),
)
async def single_points_read(
    _principal: Reader,
    svc: Svc,
    ref: Annotated[
        str, Query(description=REF_HELP.replace(" Repeat the parameter for several.", ""))
    ],
    as_of: Annotated[IsoTime | None, Query(alias="asOf")] = None,
) -> JSONResponse:
    """Return every entity whose failure alone makes the service DOWN, each with its path."""

    async def compute() -> SinglePoints:
        [entity_id] = await _named(svc.store, [ref])
        return await single_points_of_failure(svc.store, entity_id, as_of=_utc(as_of))

    return JSONResponse(SPOF_SHAPE.dump(await svc.run(compute)))


@router.get(
    "/dependency-cycles",
    summary="Groups of services and CIs that depend on each other in a circle (PRODUCT.md 9)",
    responses=_answer_of(CYCLES_SHAPE),
)
async def dependency_cycles_read(
    _principal: Reader,
    svc: Svc,
    first: Annotated[int, Query(ge=0, le=500)] = 50,
    after: Annotated[
        str | None, Query(max_length=40, description="The `endCursor` of the last page.")
    ] = None,
    as_of: Annotated[IsoTime | None, Query(alias="asOf")] = None,
) -> JSONResponse:
    """Return one page of the cycle groups, largest first, each with one cycle as a path."""
    decode_cursor(after)  # a bad cursor is refused before the whole graph is read

    async def compute() -> CycleGroupPage:
        report = await dependency_cycles(svc.store, as_of=_utc(as_of))
        return cycle_page(report, first=first, after=after)

    return JSONResponse(CYCLES_SHAPE.dump(await svc.run(compute)))


@router.get(
    "/health",
    summary="How trustworthy the graph is: score, checks and figures per source (PRODUCT.md 9)",
    responses=_answer_of(HEALTH_SHAPE),
)
async def health_read(
    _principal: Reader,
    svc: Svc,
    as_of: Annotated[
        IsoTime | None, Query(alias="asOf", description="Describe the graph as it was then.")
    ] = None,
    trend: Annotated[
        bool, Query(description="Add the score over the last 30 days (cached per day).")
    ] = False,
) -> JSONResponse:
    """Return the score, every check (figure, bounds, result, counts) and the sources.

    The failing entities of a check are read a page at a time from
    ``/health/checks/{name}/entities``.
    """

    async def compute() -> HealthReport:
        report = await health(svc.store, as_of=_utc(as_of))
        return await health_trend(svc.store, report) if trend else report

    return JSONResponse(HEALTH_SHAPE.dump(await svc.run(compute)))


@router.get(
    "/health/checks/{name}/entities",
    summary="One page of the entities failing a health check, with why",
    responses=_answer_of(HEALTH_PAGE_SHAPE),
)
async def health_entities_read(
    name: Annotated[str, Path(description="The check's name (orphans, staleShare, ...).")],
    _principal: Reader,
    svc: Svc,
    as_of: Annotated[IsoTime | None, Query(alias="asOf")] = None,
    first: Annotated[int, Query(ge=0, le=500)] = 50,
    after: Annotated[
        int | None, Query(ge=0, description="endCursor of the previous page (an entity id).")
    ] = None,
) -> JSONResponse:
    """Return the entities failing the check, by id, ``first`` at a time after ``after``."""

    async def compute() -> HealthEntityPage:
        report = await health(svc.store, as_of=_utc(as_of))
        try:
            check = report.check(name)
        except InvalidInput as exc:
            raise NotFound(str(exc)) from None
        return await health_entities(svc.store, check, first=first, after=after)

    return JSONResponse(HEALTH_PAGE_SHAPE.dump(await svc.run(compute)))


PeriodStart = Annotated[
    IsoTime, Query(alias="from", description="A moment in the first week (ISO 8601).")
]
PeriodEnd = Annotated[IsoTime, Query(description="A moment in the last week (ISO 8601).")]


@router.get(
    "/teams/{key}/load",
    summary="A team's capacity and load per ISO week (PRODUCT.md 7, teamLoad)",
    responses=_answer_of(TEAM_LOAD_SHAPE),
)
async def team_load_read(
    _principal: Reader,
    svc: Svc,
    key: str,
    start: PeriodStart,
    to: PeriodEnd,
    as_of: Annotated[IsoTime | None, Query(alias="asOf")] = None,
) -> JSONResponse:
    """Return the team's weekly capacity, project and operational load, and week states."""

    async def compute() -> TeamLoad:
        return await team_load(svc.store, key, _aware(start), _aware(to), as_of=_utc(as_of))

    return JSONResponse(TEAM_LOAD_SHAPE.dump(await svc.run(compute)))


@router.get(
    "/capacity-forecast",
    summary="Every team with a week that is not OK, worst first (PRODUCT.md 7)",
    responses=_answer_of(FORECAST_SHAPE),
)
async def capacity_forecast_read(
    _principal: Reader,
    svc: Svc,
    start: PeriodStart,
    to: PeriodEnd,
    as_of: Annotated[IsoTime | None, Query(alias="asOf")] = None,
) -> JSONResponse:
    """Return the teams that are over their project share or overbooked in the period."""

    async def compute() -> CapacityForecast:
        return await capacity_forecast(svc.store, _aware(start), _aware(to), as_of=_utc(as_of))

    return JSONResponse(FORECAST_SHAPE.dump(await svc.run(compute)))


@router.get(
    "/projects/{key}/plan",
    summary="A project's prerequisites, problems, critical path and status (PRODUCT.md 7)",
    responses=_answer_of(PLAN_SHAPE),
)
async def project_plan_read(
    _principal: Reader,
    svc: Svc,
    key: str,
    as_of: Annotated[IsoTime | None, Query(alias="asOf")] = None,
) -> JSONResponse:
    """Return the plan of the project: every prerequisite task and what holds it up."""

    async def compute() -> ProjectPlan:
        return await project_plan(svc.store, key, as_of=_utc(as_of))

    return JSONResponse(PLAN_SHAPE.dump(await svc.run(compute)))


def _aware(value: datetime) -> datetime:
    """A time without zone is read as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _utc(value: datetime | None) -> datetime | None:
    """A time without zone is read as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@router.post(
    "/entities/resolve",
    response_model=ResolveOut,
    summary="Resolve entity references (key, alias or identifiers) in bulk",
)
async def resolve_entities(body: ResolveIn, _principal: Reader, svc: Svc) -> ResolveOut:
    """Return the id each reference names, ``None`` when it names nothing.

    A key reference names the entity with that key or alias (retired ones too);
    an identifier reference resolves by the identification rule (a strong value
    names its holder whatever its status, a weak one an active or stale holder
    whose strong identifiers agree); one naming two entities names none.
    """
    return ResolveOut(ids=await svc.run(lambda: resolve_refs(svc.store, body.refs)))


# ------------------------------------------------------------------ events

MAX_EVENT_WAIT = 30.0
"""Longest ``wait`` of ``GET /api/v1/events``, in seconds."""


class FieldChangeOut(BaseModel):
    """One field's value before and after an event (``null``: absent)."""

    field: str = Field(
        description="name, status, attributes.<a>, identifiers.<t>, alias, mergedInto or merged."
    )
    old: Any
    new: Any


class EventOut(BaseModel):
    """One committed change (PRODUCT.md 8)."""

    model_config = ConfigDict(populate_by_name=True)

    seq: int = Field(description="Position in the store's history; increases in commit order.")
    at: datetime = Field(description="Commit time of the change.")
    op: str = Field(description="created, updated, status_changed, merged or merged_into.")
    item: str = Field(description="entity or relation.")
    item_id: int = Field(alias="itemId", description="The entity's or relation's id.")
    source: str
    actor: str = Field(description="Who sent the change (a token's name, cli); may be empty.")
    run_id: str | None = Field(alias="runId")
    changes: list[FieldChangeOut]

    @classmethod
    def of(cls, e: HistoryEvent) -> EventOut:
        """Convert a history event."""
        return cls(
            seq=e.seq,
            at=e.at,
            op=e.op.value,
            item=e.item.value,
            item_id=e.item_id,
            source=e.source,
            actor=e.actor,
            run_id=e.run_id,
            changes=[FieldChangeOut(field=k, old=v.old, new=v.new) for k, v in e.changes.items()],
        )


class EventPageOut(BaseModel):
    """Events after the cursor, in commit order; pass ``next`` as ``after`` to go on."""

    model_config = ConfigDict(populate_by_name=True)

    items: list[EventOut]
    next: int = Field(
        description=(
            "Pass as `after` for the next call. Always given: at the end of the feed it is "
            "the cursor to wait from; it may move past events a filter left out."
        )
    )
    has_more: bool = Field(
        alias="hasMore", description="Events after `next` exist already: call again at once."
    )
    oldest_seq: int = Field(
        alias="oldestSeq",
        description="The oldest seq the server holds; an `after` below oldestSeq - 1 is 410.",
    )
    last_seq: int = Field(
        alias="lastSeq",
        description="The last seq committed when the page was read (how far the feed goes).",
    )


def event_filter(
    item: Annotated[
        ItemKind | None, Query(description="Only events of entities, or only of relations.")
    ] = None,
    kind: Annotated[
        list[KindSpelling] | None,
        Query(description="Only events of entities of these kinds (repeat the parameter)."),
    ] = None,
    type_: Annotated[
        list[RelationType] | None,
        Query(
            alias="type",
            description=(
                "Only events of relations of these types (repeat the parameter). With `kind`, "
                "events of either; with `kind` alone, no relation event."
            ),
        ),
    ] = None,
    source: Annotated[
        list[SourceName] | None,
        Query(max_length=50, description="Only events made by these sources."),
    ] = None,
    exclude_source: Annotated[
        list[SourceName] | None,
        Query(
            alias="excludeSource",
            max_length=50,
            description="No event made by these sources (a tool leaves out its own writes).",
        ),
    ] = None,
) -> EventQuery:
    """The filters of ``GET /events`` and ``GET /events/stream`` (a FastAPI dependency)."""
    return EventQuery(
        item=item,
        kinds=frozenset(_kind(k) for k in kind) if kind else None,
        types=frozenset(type_) if type_ else None,
        sources=frozenset(source) if source else None,
        exclude_sources=frozenset(exclude_source or ()),
    )


EventFilter = Annotated[EventQuery, Depends(event_filter)]
EventCursor = Annotated[
    int | None,
    Query(ge=0, le=2**62, description="Only events with a larger seq (the last `next`)."),
]


@router.get(
    "/events",
    response_model=EventPageOut,
    response_model_by_alias=True,
    summary="The event feed: every committed change after a cursor, with a long poll",
    responses={410: {"model": Problem, "content": {"application/problem+json": {}}}},
)
async def list_events(
    _principal: Reader,
    svc: Svc,
    query: EventFilter,
    after: EventCursor = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most events answered.")] = 100,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_EVENT_WAIT,
            description=(
                "Seconds to wait for an event when there is none yet (long poll); the answer "
                "comes as soon as one commits. Ends early before the request timeout."
            ),
        ),
    ] = 0,
) -> Any:
    """Return events with ``seq > after`` matching every filter, oldest first (PRODUCT.md 8).

    Without ``after``, from the first event. The answer is empty only when
    nothing matched before ``wait`` ran out; ``next`` is then the cursor to ask
    again from. A cursor the server no longer holds events after (``after``
    below ``oldestSeq - 1``) is answered 410 Gone: events were removed, the
    reader must resynchronise.
    """
    cursor = after or 0
    ends = time.monotonic() + wait
    found = current_deadline()
    if found is not None:  # answer before the request timeout stops the request
        ends = min(ends, found.at - 1.0)
    checked = False
    while True:
        generation = svc.feed.generation
        page = await svc.run(functools.partial(svc.store.events, query, first=limit, after=cursor))
        if not checked:
            checked = True
            if after is not None and after < page.oldest_seq - 1:
                return problem_response(410, "Gone", Gone(after, page.oldest_seq).detail)
        cursor = page.end_cursor
        now = time.monotonic()
        if page.items or now >= ends or svc.feed.closed:
            break
        if not page.has_next:  # caught up: wait for a commit (a stretch filtered out: go on)
            await svc.feed.wait(generation, ends - now)
    return EventPageOut(
        items=[EventOut.of(e) for e in page.items],
        next=cursor,
        has_more=page.has_next,
        oldest_seq=page.oldest_seq,
        last_seq=page.last_seq,
    )


def _sse(event: FeedItem) -> bytes:
    """One Server-Sent Events message (UTF-8; every line of JSON is one ``data:`` line)."""
    if isinstance(event, Heartbeat):  # an id alone moves the client's Last-Event-ID
        return f": heartbeat\nid: {event.cursor}\n\n".encode()
    if isinstance(event, Gone):
        body = orjson.dumps({"status": 410, "oldestSeq": event.oldest_seq, "detail": event.detail})
        return b"event: gone\ndata: " + body + b"\n\n"
    if isinstance(event, Revoked):
        body = orjson.dumps({"status": 401, "detail": "the API token is no longer valid"})
        return b"event: unauthorized\ndata: " + body + b"\n\n"
    body = orjson.dumps(EventOut.of(event).model_dump(mode="json", by_alias=True))
    return f"id: {event.seq}\n".encode() + b"data: " + body + b"\n\n"


async def _sse_frames(items: AsyncGenerator[FeedItem, None]) -> AsyncIterator[bytes]:
    yield b": graphsvc event feed\nretry: 2000\n\n"
    async with aclosing(items):
        async for item in items:
            yield _sse(item)


_STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "Server-Sent Events: each event a message whose `id` is its seq and whose `data` "
            "is an Event; `: heartbeat` comments (with the cursor as `id`) when idle; "
            "`event: gone` (events pruned before they were read) or `event: unauthorized` "
            "(the token was revoked) end it."
        ),
        "content": {
            "text/event-stream": {  # each message (the SSE event schema of OpenAPI 3.2)
                "schema": {
                    "type": "object",
                    "properties": {
                        "data": {"type": "string", "description": "An Event, as JSON."},
                        "event": {"type": "string", "description": "gone or unauthorized"},
                        "id": {"type": "string", "description": "The event's seq."},
                        "retry": {"type": "integer", "minimum": 0},
                    },
                }
            }
        },
    },
    410: _PROBLEMS[400] | {"description": "Gone"},
    503: _PROBLEMS[503],
}


@router.get(
    "/events/stream",
    response_class=EventStreamResponse,
    status_code=200,
    summary="The event feed as Server-Sent Events, resuming from Last-Event-ID",
    responses=_STREAM_RESPONSES,
)
async def stream_events(
    request: Request,
    _principal: Reader,
    svc: Svc,
    query: EventFilter,
    after: EventCursor = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=24,
            description="The last id received (a browser's EventSource sends it when it "
            "reconnects); wins over `after`.",
        ),
    ] = None,
) -> Response:
    """Stream every event after the cursor as it commits (PRODUCT.md 8).

    The same filters as ``GET /events``. Starts after ``Last-Event-ID`` when sent
    (a reconnect), else after ``after``, else at the oldest event held. A cursor
    older than the oldest event held is answered 410 before anything streams;
    when more streams are open than the server allows, 503 with Retry-After.
    The stream has no request deadline; it ends when the client goes, when the
    server shuts down and after ``GRAPHSVC_EVENT_STREAM_MAX_SECONDS`` (clients
    reconnect with ``Last-Event-ID``).
    """
    cursor = after
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.isascii() or not text.isdigit() or int(text) > 2**62:
            raise RequestValidationError(
                [
                    {
                        "loc": ("header", "Last-Event-ID"),
                        "msg": "must be the id of an event received (a seq, 0 to 2^62)",
                        "type": "value_error",
                    }
                ]
            )
        cursor = int(text)
    try:
        place = svc.feed.take()
    except FeedBusy as exc:
        return problem_response(503, "Service unavailable", str(exc), headers={"Retry-After": "5"})
    try:
        first = await svc.read_events(query, FOLLOW_PAGE, cursor or 0)
        if cursor is not None and cursor < first.oldest_seq - 1:
            place.release()
            return problem_response(410, "Gone", Gone(cursor, first.oldest_seq).detail)
    except BaseException:
        place.release()
        raise

    def still_allowed() -> bool:
        try:
            svc.auth.principal(request, Scope.READ)
        except HTTPException:
            return False
        return True

    start = cursor if cursor is not None else first.oldest_seq - 1
    events = follow(
        svc.feed, svc.read_events, query, start, first=first, still_allowed=still_allowed
    )
    return EventStreamResponse(
        _sse_frames(events),
        on_close=place.release,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
