"""Running an importer as one ingest run, and loading batch files.

:func:`run_import` parses every file, transforms them, checks every item, drops
(with a warning) relations whose endpoints exist neither in the import nor in
the store, and only then writes: ``startRun``, the batches (entities first), and
``finishRun(complete=true)``. A malformed file or an invalid item therefore
writes nothing. If writing fails half-way, the run is finished incomplete, so
nothing is marked stale.

Batches go to a :class:`BatchSink`: :class:`EngineSink` applies them to a local
store; a remote sink (in the CLI) posts them to a running graphsvc.
"""

from __future__ import annotations

import gc
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from graphsvc.errors import BatchRejected, ItemError, ParseError
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult, ImportWarning
from graphsvc.ingest.results import IngestSummary
from graphsvc.model.batch import EntityItem, EntityRef, IngestBatch, RelationItem
from graphsvc.model.validation import missing_required, parse_batch, validate_batch
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.store.base import GraphStore

__all__ = [
    "BatchSink",
    "EngineSink",
    "ImportReport",
    "Progress",
    "batches_of",
    "check_batches",
    "drop_dangling",
    "read_batch_file",
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
        warnings: What the importer skipped and the relations dropped because an
            endpoint exists neither in the import nor in the store.
    """

    run_id: str
    batches: int
    summary: IngestSummary
    warnings: tuple[ImportWarning, ...]


class BatchSink(ABC):
    """Where an import run's batches go."""

    @abstractmethod
    async def start_run(self, source: str, scope: str) -> str:
        """Open a run and return its id."""

    @abstractmethod
    async def send(self, batch: IngestBatch) -> IngestSummary:
        """Apply one batch of the run."""

    @abstractmethod
    async def finish_run(self, run_id: str, *, complete: bool) -> IngestSummary:
        """Finish the run."""

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
        """Look each reference up in the store."""
        store = self.engine.store
        out: list[bool] = []
        for ref in refs:
            if ref.key is not None:
                found = (await store.resolve([(ref.kind, ref.key)]))[0]
            else:
                pairs = [
                    (t, VOCABULARY.normalize_identifier(t, v))
                    for t, v in (ref.identifiers or {}).items()
                ]
                found = next(
                    (x for x in await store.resolve_identifiers(ref.kind, pairs) if x is not None),
                    None,
                )
            out.append(found is not None)
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


def _known_refs(
    entities: Sequence[EntityItem],
) -> tuple[set[tuple[EntityKind, str]], set[tuple[EntityKind, str, str]]]:
    keys = {(e.kind, e.key) for e in entities}
    identifiers = {
        (e.kind, t, VOCABULARY.normalize_identifier(t, v))
        for e in entities
        for t, v in e.identifiers.items()
    }
    return keys, identifiers


async def drop_dangling(
    result: ImportResult, sink: BatchSink
) -> tuple[tuple[RelationItem, ...], list[ImportWarning]]:
    """Split off the relations whose endpoints exist neither in ``result`` nor in the store.

    Returns:
        The relations to keep, and one warning per relation left out.
    """
    keys, identifiers = _known_refs(result.entities)

    def inside(ref: EntityRef) -> bool:
        if ref.key is not None:
            return (ref.kind, ref.key) in keys
        return any(
            (ref.kind, t, VOCABULARY.normalize_identifier(t, v)) in identifiers
            for t, v in (ref.identifiers or {}).items()
        )

    outside: dict[str, EntityRef] = {}
    for rel in result.relations:
        for ref in (rel.from_, rel.to):
            if not inside(ref):
                outside.setdefault(ref.label(), ref)
    labels = list(outside)
    found = await sink.exists([outside[label] for label in labels]) if labels else []
    missing = {label for label, ok in zip(labels, found, strict=True) if not ok}
    kept: list[RelationItem] = []
    warnings: list[ImportWarning] = []
    for index, rel in enumerate(result.relations):
        gone = [r.label() for r in (rel.from_, rel.to) if r.label() in missing]
        if gone:
            warnings.append(
                ImportWarning(
                    "",
                    f"relation {index} of the import",
                    f"dropped {rel.label()}: {', '.join(gone)} exists neither in this import "
                    "nor in the store",
                )
            )
        else:
            kept.append(rel)
    return tuple(kept), warnings


async def run_import(
    importer: Importer[Any],
    paths: Sequence[Path],
    sink: BatchSink,
    *,
    source: str | None = None,
    scope: str = "default",
    settings: Mapping[str, str] | None = None,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> ImportReport:
    """Import ``paths`` with ``importer`` as one complete run (see the module docstring).

    Raises:
        ParseError: a file is malformed; nothing was written.
        BatchRejected: an item is invalid; nothing was written.
    """
    options = ImporterOptions(scope=scope, settings=dict(settings or {}))
    # parsing allocates many small objects that all stay alive: the cyclic
    # garbage collector would only rescan them again and again
    collecting = gc.isenabled()
    gc.disable()
    try:
        parsed = [(path, importer.parse(path, options)) for path in paths]
        result = importer.transform(parsed, options)
    finally:
        if collecting:
            gc.enable()
    source_name = source or importer.default_source
    relations, dropped = await drop_dangling(result, sink)
    result = ImportResult(result.entities, relations, result.warnings + tuple(dropped))
    batches = list(
        batches_of(result, source=source_name, scope=scope, run_id=None, size=batch_size)
    )
    errors: list[ItemError] = []
    for number, batch in enumerate(batches):
        for error in validate_batch(batch):
            errors.append(
                ItemError(
                    error.section,
                    None if error.index is None else error.index + number * batch_size,
                    error.key,
                    error.field,
                    error.reason,
                )
            )
    if errors:
        raise BatchRejected(errors, origin=f"{importer.name} import")
    total = len(result.entities) + len(result.relations)
    run_id = await sink.start_run(source_name, scope)
    summary = IngestSummary(run_id=run_id)
    done = 0
    if progress:
        progress(0, total)
    try:
        for batch in batches:
            summary = summary + await sink.send(batch.model_copy(update={"run_id": run_id}))
            done += len(batch.entities) + len(batch.relations)
            if progress:
                progress(done, total)
    except BaseException:
        await sink.finish_run(run_id, complete=False)
        raise
    summary = summary + await sink.finish_run(run_id, complete=True)
    return ImportReport(run_id, len(batches), summary, result.warnings)


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
            if pairs and any(x is not None for x in await store.resolve_identifiers(kind, pairs)):
                continue
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
                    if any(x is not None for x in await store.resolve_identifiers(ref.kind, pairs)):
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
