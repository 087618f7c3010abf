"""Running an importer as one ingest run, and loading batch files.

:func:`run_import` parses every file, transforms them, checks every item, leaves
out the relations whose endpoints exist neither in the import nor in the store
(each one reported as an :class:`UnresolvedReference`, in the importer's words
when it noted which field of which record the end comes from), and only then
writes: ``startRun``, the batches (entities first), and
``finishRun(complete=true)``. A malformed file or an invalid item therefore
writes nothing. If writing fails half-way, the run is finished incomplete, so
nothing is marked stale.

Batches go to a :class:`BatchSink`: :class:`EngineSink` applies them to a local
store; a remote sink (in the CLI) posts them to a running graphsvc.
"""

from __future__ import annotations

import gc
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from graphsvc.errors import BatchRejected, ItemError, ParseError
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.identify import Holder, resolve_endpoint
from graphsvc.ingest.importer import (
    FieldReference,
    Importer,
    ImporterOptions,
    ImportResult,
    ImportWarning,
)
from graphsvc.ingest.results import IngestSummary
from graphsvc.model.batch import EntityItem, EntityRef, IngestBatch, RelationItem
from graphsvc.model.validation import missing_required, parse_batch, validate_batch
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.store.base import GraphStore

__all__ = [
    "BatchSink",
    "EngineSink",
    "ImportReport",
    "ImportTimings",
    "Progress",
    "ReferenceCheck",
    "UnresolvedReference",
    "batches_of",
    "check_batches",
    "check_references",
    "drop_dangling",
    "read_batch_file",
    "resolve_refs",
    "run_import",
]

Progress = Callable[[int, int], None]
"""Called with (items done, items in all) as batches are written."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import run did.

    Attributes:
        run_id: The run.
        batches: Batches written.
        summary: The ingest counts over the whole run (the finish included).
        warnings: What the importer skipped, and the relations left out because
            an end exists neither in the import nor in the store (the warnings
            of ``unresolved``, also listed here).
        timings: Where the time went.
        unresolved: Every reference that named nothing, so its relation was not
            created: which record, which field, which value when the importer
            noted its fields (:class:`UnresolvedReference`).
    """

    run_id: str
    batches: int
    summary: IngestSummary
    warnings: tuple[ImportWarning, ...]
    timings: ImportTimings = field(default_factory=lambda: ImportTimings())
    unresolved: tuple[UnresolvedReference, ...] = ()
    scope: str = "default"


class BatchSink(ABC):
    """Where an import run's batches go.

    :func:`run_import` calls :meth:`exists` once (before anything is written),
    then :meth:`start_run`, :meth:`send` for every batch in order and
    :meth:`finish_run` (``complete=False`` when a send failed). Implementations
    raise graphsvc errors only: :class:`~graphsvc.errors.InvalidInput` (or
    :class:`~graphsvc.errors.BatchRejected`) for what the caller must fix and
    :class:`~graphsvc.errors.StoreError` when the store (or the service
    holding it) cannot do the work.
    """

    @abstractmethod
    async def start_run(self, source: str, scope: str) -> str:
        """Open a run of ``source`` over ``scope`` and return its id."""

    @abstractmethod
    async def send(self, batch: IngestBatch) -> IngestSummary:
        """Apply one batch of the run atomically and return what it changed."""

    @abstractmethod
    async def finish_run(self, run_id: str, *, complete: bool) -> IngestSummary:
        """Finish the run; ``complete`` applies staleness and retirement."""

    @abstractmethod
    async def exists(self, refs: Sequence[EntityRef]) -> list[bool]:
        """Return, for each reference, whether the store holds that entity."""


class EngineSink(BatchSink):
    """Applies batches to a local store through the ingest engine."""

    def __init__(self, engine: IngestEngine, *, actor: str = "cli") -> None:
        self.engine = engine
        self.actor = actor

    async def start_run(self, source: str, scope: str) -> str:
        """Open a run with the engine."""
        run = await self.engine.start_run(source, scope, actor=self.actor)
        return run.run_id

    async def send(self, batch: IngestBatch) -> IngestSummary:
        """Ingest one batch."""
        return await self.engine.ingest(batch, actor=self.actor)

    async def finish_run(self, run_id: str, *, complete: bool) -> IngestSummary:
        """Finish the run with the engine."""
        return await self.engine.finish_run(run_id, complete=complete, actor=self.actor)

    async def exists(self, refs: Sequence[EntityRef]) -> list[bool]:
        """Look the references up in the store (batched, see :func:`resolve_refs`)."""
        return [found is not None for found in await resolve_refs(self.engine.store, refs)]


async def resolve_refs(store: GraphStore, refs: Sequence[EntityRef]) -> list[int | None]:
    """Return, for each reference, the id of the entity it names in ``store`` (``None``: none).

    A key reference names the entity with that key or alias (retired ones
    included, as the engine resolves them). An identifier reference resolves
    as the engine resolves a relation endpoint
    (:func:`~graphsvc.ingest.identify.resolve_endpoint`): one that names two
    entities names nothing here (the engine rejects it, naming both). A
    reference with neither names nothing.

    Costs one ``resolve`` call for all key references and one
    ``resolve_identifiers`` call per kind, whatever the number of references.
    """
    out: list[int | None] = [None] * len(refs)
    keyed = [(i, ref) for i, ref in enumerate(refs) if ref.key is not None]
    if keyed:
        found = await store.resolve([(ref.kind, ref.key or "") for _, ref in keyed])
        for (i, _), hit in zip(keyed, found, strict=True):
            out[i] = hit
    wanted: dict[EntityKind, dict[tuple[str, str], None]] = {}
    for ref in refs:
        if ref.key is None:
            pairs = wanted.setdefault(ref.kind, {})
            for t, v in (ref.identifiers or {}).items():
                pairs[(t, VOCABULARY.normalize_identifier(t, v))] = None
    holders: dict[tuple[EntityKind, str, str], list[Holder]] = {}
    for kind, pairs in wanted.items():
        ordered = list(pairs)
        held = await store.resolve_identifiers(kind, ordered)
        ids = sorted({h for hs in held for h in hs})
        records = {r.id: r for r in await store.entities(ids) if r is not None} if ids else {}
        for (t, v), hs in zip(ordered, held, strict=True):
            holders[(kind, t, v)] = [
                Holder(h, records[h].status, records[h].identifiers) for h in hs if h in records
            ]
    for i, ref in enumerate(refs):
        if ref.key is None:
            identifiers = {
                t: VOCABULARY.normalize_identifier(t, v) for t, v in (ref.identifiers or {}).items()
            }
            out[i] = resolve_endpoint(
                identifiers,
                {(t, v): holders.get((ref.kind, t, v), []) for t, v in identifiers.items()},
            ).entity
    return out


def batches_of(
    result: ImportResult, *, source: str, scope: str, run_id: str | None, size: int
) -> Iterator[IngestBatch]:
    """Cut an import result into batches of at most ``size`` items, entities first."""
    size = max(1, size)
    for i in range(0, len(result.entities), size):
        yield IngestBatch(
            source=source, scope=scope, run_id=run_id, entities=list(result.entities[i : i + size])
        )
    for i in range(0, len(result.relations), size):
        yield IngestBatch(
            source=source,
            scope=scope,
            run_id=run_id,
            relations=list(result.relations[i : i + size]),
        )


def _ref_id(ref: EntityRef) -> tuple[EntityKind, str | None, tuple[tuple[str, str], ...]]:
    """A hashable identity of a reference as written (cheaper than its label)."""
    if ref.key is not None:
        return (ref.kind, ref.key, ())
    return (ref.kind, None, tuple(sorted((ref.identifiers or {}).items())))


_RefId = tuple[EntityKind, str | None, tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class UnresolvedReference:
    """A relation end that is neither in the import nor in the store: the relation was not created.

    Attributes:
        relation: The relation left out (``TYPE Kind/key -> Kind/key``).
        endpoint: The end that names nothing (``Kind/key`` or ``Kind{type=value}``).
        warning: The message: the file and element, and in words which record,
            which field and which value, when the importer said so
            (:class:`~graphsvc.ingest.importer.FieldReference`); else the
            relation and the end by their keys.
        reference: The importer's note on the field, when it gave one.
    """

    relation: str
    endpoint: str
    warning: ImportWarning
    reference: FieldReference | None = None

    def describe(self) -> str:
        """Return the message with its file and element."""
        return self.warning.describe()


@dataclass(frozen=True, slots=True)
class ReferenceCheck:
    """What :func:`check_references` found.

    Attributes:
        relations: The relations to write, in order; an end the importer gave
            other kinds for (:attr:`FieldReference.other_kinds`) is rewritten to
            the kind that matched.
        unresolved: One entry per field note of an end that names nothing (one
            per relation when the importer gave no note), in the order of the
            files and of the places in them.
    """

    relations: tuple[RelationItem, ...]
    unresolved: tuple[UnresolvedReference, ...]


async def check_references(result: ImportResult, sink: BatchSink) -> ReferenceCheck:
    """Split off the relations with an end that exists neither in ``result`` nor in the store.

    An end is in ``result`` when an entity of it has its kind and key, or its
    kind and one of its identifier values (normalised). When an end names
    nothing with its own kind and the importer's note on it lists
    :attr:`~graphsvc.ingest.importer.FieldReference.other_kinds`, the same key
    or identifiers are tried with those kinds, in order, and the first that
    names an entity is used. Every distinct end (and alternative) outside
    ``result`` is looked up with one :meth:`BatchSink.exists` call; none is
    made when every end is inside.
    """
    notes: dict[tuple[int, str], list[FieldReference]] = {}
    for note in result.references:
        if 0 <= note.relation < len(result.relations):
            notes.setdefault((note.relation, note.end), []).append(note)
    keys = {(e.kind, e.key) for e in result.entities}
    normalize = VOCABULARY.normalize_identifier
    # identifier values of the import, only of the (kind, type)s references use
    wanted: set[tuple[EntityKind, str]] = set()
    for index, rel in enumerate(result.relations):
        for end, ref in (("from", rel.from_), ("to", rel.to)):
            if ref.key is None:
                kinds = [ref.kind] + [k for n in notes.get((index, end), ()) for k in n.other_kinds]
                wanted.update((k, t) for k in kinds for t in ref.identifiers or {})
    identifiers = (
        {
            (e.kind, t, normalize(t, v))
            for e in result.entities
            if e.identifiers
            for t, v in e.identifiers.items()
            if (e.kind, t) in wanted
        }
        if wanted
        else set()
    )

    def inside(ref: EntityRef) -> bool:
        if ref.key is not None:
            return (ref.kind, ref.key) in keys
        return any(
            (ref.kind, t, normalize(t, v)) in identifiers
            for t, v in (ref.identifiers or {}).items()
        )

    outside: dict[_RefId, EntityRef] = {}
    suspects: list[tuple[int, str, list[EntityRef]]] = []
    for index, rel in enumerate(result.relations):
        for end, ref in (("from", rel.from_), ("to", rel.to)):
            if inside(ref):
                continue
            candidates = [ref]
            for note in notes.get((index, end), ()):
                for kind in note.other_kinds:
                    if kind is not ref.kind and all(c.kind is not kind for c in candidates):
                        candidates.append(ref.model_copy(update={"kind": kind}))
            suspects.append((index, end, candidates))
            for candidate in candidates:
                if not inside(candidate):
                    outside.setdefault(_ref_id(candidate), candidate)
    if not suspects:
        return ReferenceCheck(tuple(result.relations), ())
    ids = list(outside)
    found = await sink.exists([outside[i] for i in ids]) if ids else []
    present = {i for i, ok in zip(ids, found, strict=True) if ok}
    replaced: dict[tuple[int, str], EntityRef] = {}
    missing: dict[int, list[tuple[str, list[EntityRef]]]] = {}
    for index, end, candidates in suspects:
        hit = next((c for c in candidates if inside(c) or _ref_id(c) in present), None)
        if hit is None:
            missing.setdefault(index, []).append((end, candidates))
        elif hit is not candidates[0]:
            replaced[(index, end)] = hit
    unresolved: list[UnresolvedReference] = []
    kept: list[RelationItem] = []
    for index, rel in enumerate(result.relations):
        gone = missing.get(index)
        if gone is None:
            if (index, "from") in replaced or (index, "to") in replaced:
                rel = rel.model_copy(
                    update={
                        "from_": replaced.get((index, "from"), rel.from_),
                        "to": replaced.get((index, "to"), rel.to),
                    }
                )
            kept.append(rel)
            continue
        unresolved.extend(_unresolved(index, rel, gone, notes))
    unresolved.sort(key=lambda u: (u.warning.path, _in_order(u.warning.element)))
    return ReferenceCheck(tuple(kept), tuple(unresolved))


def _in_order(element: str) -> tuple[tuple[int, str], ...]:
    """Sort key of an element: numbers by value (``/result/2`` before ``/result/10``)."""
    return tuple(
        (int(part), "") if part.isdigit() else (-1, part)
        for part in re.split(r"(\d+)", element)
        if part
    )


def _unresolved(
    index: int,
    rel: RelationItem,
    gone: list[tuple[str, list[EntityRef]]],
    notes: Mapping[tuple[int, str], list[FieldReference]],
) -> list[UnresolvedReference]:
    """The reports of one relation left out (see :class:`UnresolvedReference`)."""
    out: list[UnresolvedReference] = []
    label = rel.label()
    unnoted: list[str] = []
    for end, candidates in gone:
        endpoint = candidates[0].label()
        ends_notes = notes.get((index, end), [])
        if not ends_notes:
            unnoted.append(endpoint)
            continue
        if len(candidates) > 1:
            kinds = [c.kind.value for c in candidates]
            where = f"no {', '.join(kinds[:-1])} or {kinds[-1]} in this import or in the store"
        else:
            where = "neither in this import nor in the store"
        for note in ends_notes:
            message = (
                f"{note.item}: {note.field} {note.value} is not in the graph ({where}); "
                f"the {rel.type.value} relation was not created"
            )
            out.append(
                UnresolvedReference(
                    label, endpoint, ImportWarning(note.path, note.element, message), note
                )
            )
    if unnoted:
        message = (
            f"dropped {label}: {', '.join(unnoted)} exists neither in this import nor in the store"
        )
        out.append(
            UnresolvedReference(
                label,
                ", ".join(unnoted),
                ImportWarning("", f"relation {index} of the import", message),
            )
        )
    return out


async def drop_dangling(
    result: ImportResult, sink: BatchSink
) -> tuple[tuple[RelationItem, ...], list[ImportWarning]]:
    """Split off the relations whose endpoints exist neither in ``result`` nor in the store.

    :func:`check_references`, with its findings as warnings.

    Returns:
        The relations to keep (in order), and one warning per unresolved
        reference (per relation left out when the importer noted no fields).
    """
    check = await check_references(result, sink)
    return check.relations, [u.warning for u in check.unresolved]


@dataclass(frozen=True, slots=True)
class ImportTimings:
    """Wall-clock seconds :func:`run_import` spent in each phase.

    Attributes:
        parse_s: Reading and parsing the files (``Importer.parse``).
        transform_s: Turning them into items (``Importer.transform``).
        check_s: Dropping dangling relations (including the store lookups) and
            validating every item against the vocabulary.
        write_s: Starting the run, sending every batch and finishing the run.
    """

    parse_s: float = 0.0
    transform_s: float = 0.0
    check_s: float = 0.0
    write_s: float = 0.0


async def run_import(
    importer: Importer[Any],
    paths: Sequence[Path],
    sink: BatchSink,
    *,
    source: str | None = None,
    scope: str | None = None,
    settings: Mapping[str, str] | None = None,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> ImportReport:
    """Import ``paths`` with ``importer`` as one complete run (see the module docstring).

    Memory and garbage collection: everything the importer builds stays alive
    until the run is written, so the cyclic garbage collector is switched off
    while parsing and transforming (it would only rescan the new objects again
    and again) and, while writing, the objects alive by then are frozen
    (:func:`gc.freeze`): collections during the write only scan what the
    writing allocates. Both are undone before returning.

    Raises:
        ParseError: a file is malformed, or holds a value no ingest item can
            take (a pydantic ``ValidationError`` of the importer, naming the
            field and the value); nothing was written.
        BatchRejected: an item is invalid; nothing was written.
    """
    options = ImporterOptions(scope=scope or "default", settings=dict(settings or {}))
    clock = time.perf_counter
    collecting = gc.isenabled()
    gc.disable()
    try:
        started = clock()
        parsed = []
        for path in paths:
            try:
                parsed.append((path, importer.parse(path, options)))
            except ValidationError as exc:
                raise _invalid_item(str(path), "", exc) from None
        parsed_at = clock()
        try:
            result = importer.transform(parsed, options)
        except ValidationError as exc:
            raise _invalid_item(", ".join(str(p) for p, _ in parsed), "", exc) from None
        del parsed
        transformed_at = clock()
    finally:
        if collecting:
            gc.enable()
    gc.freeze()
    try:
        source_name = source or importer.default_source
        # the run's scope: the caller's, else what the files suggest (a tool's
        # change exports apart from its CMDB), else "default"
        scope = scope or result.scope_hint or "default"
        check = await check_references(result, sink)
        relations, unresolved = check.relations, check.unresolved
        result = ImportResult(
            result.entities,
            relations,
            result.warnings + tuple(u.warning for u in unresolved),
        )
        batches = list(
            batches_of(result, source=source_name, scope=scope, run_id=None, size=batch_size)
        )
        _validate(batches, batch_size, importer.name)
        checked_at = clock()
        total = len(result.entities) + len(result.relations)
        warnings, count = result.warnings, len(batches)
        del result, relations  # the batches hold the items; _write lets each go once sent
        summary = await _write(sink, batches, source_name, scope, total, progress)
        written_at = clock()
    finally:
        gc.unfreeze()
    timings = ImportTimings(
        parse_s=parsed_at - started,
        transform_s=transformed_at - parsed_at,
        check_s=checked_at - transformed_at,
        write_s=written_at - checked_at,
    )
    return ImportReport(summary.run_id or "", count, summary, warnings, timings, unresolved, scope)


def _invalid_item(path: str, element: str, exc: ValidationError) -> ParseError:
    """The :class:`ParseError` for an item an importer could not build from a file.

    Importers build ingest items from what a file says; a value the item model
    refuses (a key longer than the longest accepted, an empty identifier) means
    the file holds something graphsvc cannot take, which is the file's fault.
    """
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    value = repr(first.get("input"))
    shown = value if len(value) <= 80 else f"{value[:77]}..."
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    reason = (
        f"cannot make a {exc.title} of it: {where + ': ' if where else ''}{first['msg']}, "
        f"got {shown}{more}"
    )
    return ParseError(path, element, reason)


def _validate(batches: Sequence[IngestBatch], batch_size: int, name: str) -> None:
    """Raise :class:`BatchRejected` naming every invalid item of the import (indexes overall)."""
    errors: list[ItemError] = []
    entity_batches = 0
    for number, batch in enumerate(batches):
        if batch.entities:
            entity_batches += 1
            offset = number * batch_size
        else:
            offset = (number - entity_batches) * batch_size
        for error in validate_batch(batch):
            errors.append(
                ItemError(
                    error.section,
                    None if error.index is None else error.index + offset,
                    error.key,
                    error.field,
                    error.reason,
                )
            )
    if errors:
        raise BatchRejected(errors, origin=f"{name} import")


async def _write(
    sink: BatchSink,
    batches: list[IngestBatch],
    source: str,
    scope: str,
    total: int,
    progress: Progress | None,
) -> IngestSummary:
    """Start the run, send the batches, finish it (incomplete when a batch fails).

    Consumes ``batches`` (it is empty afterwards), so that the items of a sent
    batch can be freed while the rest is written.
    """
    run_id = await sink.start_run(source, scope)
    summary = IngestSummary(run_id=run_id)
    done = 0
    if progress:
        progress(0, total)
    batches.reverse()
    try:
        while batches:
            batch = batches.pop()
            summary = summary + await sink.send(batch.model_copy(update={"run_id": run_id}))
            done += len(batch.entities) + len(batch.relations)
            if progress:
                progress(done, total)
    except BaseException as failure:
        # finish incomplete so nothing goes stale; never hide the original error
        try:
            await sink.finish_run(run_id, complete=False)
        except Exception as finish_error:
            failure.add_note(
                f"run {run_id} could not be finished as incomplete either ({finish_error}); "
                "it stays open and marks nothing stale"
            )
        raise
    return summary + await sink.finish_run(run_id, complete=True)


async def check_batches(store: GraphStore, batches: Sequence[tuple[str, IngestBatch]]) -> None:
    """Check, before anything is written, the rules a batch can only break against the store.

    Walks the batches in order as the engine would apply them: a relation
    endpoint must be an entity of an earlier or the same batch, or exist in the
    store; an entity that is new (its key and identifiers are unknown to the
    store and to earlier batches) must carry its kind's required attributes.

    Args:
        store: The open store the batches are for.
        batches: (origin for messages, batch) in the order they will be applied.

    Raises:
        BatchRejected: naming the origin and every offending item.
    """
    known_keys: set[tuple[EntityKind, str]] = set()
    known_ids: set[tuple[EntityKind, str, str]] = set()
    problems: list[str] = []
    for origin, batch in batches:
        items: dict[tuple[EntityKind, str], list[tuple[int, EntityItem]]] = {}
        for index, entity in enumerate(batch.entities):
            items.setdefault((entity.kind, entity.key), []).append((index, entity))
        unknown = [k for k in items if k not in known_keys]
        in_store = await store.resolve(unknown) if unknown else []
        errors: list[ItemError] = []
        for (kind, key), found in zip(unknown, in_store, strict=True):
            group = items[(kind, key)]
            pairs = [
                (t, VOCABULARY.normalize_identifier(t, v))
                for _, e in group
                for t, v in e.identifiers.items()
            ]
            if found is not None or any((kind, t, v) in known_ids for t, v in pairs):
                continue
            if pairs and any(await store.resolve_identifiers(kind, pairs)):
                continue  # may be a stored entity: the engine checks what it lacks
            attributes: dict[str, object] = {}
            for _, e in group:
                attributes.update(e.attributes)
            missing = missing_required(kind, attributes)  # type: ignore[arg-type]
            if missing:
                errors.append(
                    ItemError(
                        "entities",
                        group[0][0],
                        f"{kind.value}/{key}",
                        f"attributes.{missing[0]}",
                        f"a new {kind.value} needs {', '.join(missing)}",
                    )
                )
        for (kind, key), group in items.items():
            known_keys.add((kind, key))
            for _, e in group:
                for t, v in e.identifiers.items():
                    known_ids.add((kind, t, VOCABULARY.normalize_identifier(t, v)))
        for index, rel in enumerate(batch.relations):
            for end, ref in (("from", rel.from_), ("to", rel.to)):
                if ref.key is not None:
                    if (ref.kind, ref.key) in known_keys:
                        continue
                    if (await store.resolve([(ref.kind, ref.key)]))[0] is not None:
                        continue
                else:
                    pairs = [
                        (t, VOCABULARY.normalize_identifier(t, v))
                        for t, v in (ref.identifiers or {}).items()
                    ]
                    if any((ref.kind, t, v) in known_ids for t, v in pairs):
                        continue
                    if (await resolve_refs(store, [ref]))[0] is not None:
                        continue
                errors.append(
                    ItemError(
                        "relations",
                        index,
                        rel.label(),
                        end,
                        f"no {ref.label()} in the store or in the batches before it",
                    )
                )
        if errors:
            problems.append(str(BatchRejected(errors, origin=origin)))
    if problems:
        raise BatchRejected(
            [ItemError("batch", None, "", "", p) for p in problems], origin="nothing was written"
        )


def read_batch_file(path: Path) -> Iterator[IngestBatch]:
    """Read batches from a file: one JSON batch, or NDJSON with one batch per line.

    A ``.ndjson`` / ``.jsonl`` file holds one batch per non-blank line; anything
    else holds one JSON document.

    Raises:
        ParseError: when the file cannot be read or is not JSON.
        BatchRejected: naming the file, line and offending items.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        for number, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ParseError(str(path), f"line {number}", f"not valid JSON: {exc}") from None
            yield parse_batch(raw, origin=f"{path}: line {number}")
        return
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ParseError(str(path), "", f"not valid JSON: {exc}") from None
    yield parse_batch(raw, origin=str(path))
