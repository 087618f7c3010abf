"""The ingest engine: every rule of PRODUCT.md section 2, over the store port.

One batch is planned inside one exclusive write transaction of the store and
applied as one :class:`~graphsvc.store.base.ChangeSet`: whole or not at all.

The rules, as implemented here:

* **Atomic.** Every offending item is collected first (shape, vocabulary,
  endpoints that exist neither in the store nor in the batch, required
  attributes of new entities, relations from an entity to itself); if there is
  any, :class:`~graphsvc.errors.BatchRejected` names them all and nothing is
  written.
* **Idempotent.** A field whose value does not change is not written and leaves
  no history; re-sending a batch only moves last-seen times.
* **Identification.** The rule of :mod:`graphsvc.ingest.identify` (key or
  alias; else the one holder of a strong identifier value, any status; else
  the one active or stale holder of a weak value whose strong identifiers
  agree; else new), applied to the items in batch order, each seeing the
  items before it. When an identifier decides, the item's key becomes an alias.
  No identifier value moves between entities: one another entity holds is
  left with it and recorded as an identity conflict. Two stored entities are
  never merged by ingest (stores keep merges made by earlier versions).
* **Reconciliation.** Every field (``name``, ``attributes.<a>``,
  ``identifiers.<t>``) remembers its source; a source may overwrite a field set
  by a source of lower or equal priority, never higher. An attribute sent as
  ``null`` is removed under the same rule. Required attributes are required when
  an entity is created and may never be removed. Every write the rule refuses
  (a different value, or a removal, of a field a higher-priority source holds)
  is listed in the summary as an :class:`~graphsvc.ingest.results.UnappliedWrite`
  naming the holder, so the losing source can correct its copy (PRODUCT.md 8).
* **Runs and staleness.** Each (source, scope) records which items it asserted
  in which run. When a run finishes complete, the items this (source, scope)
  asserted before the run started and not since are withdrawn; those no other
  (source, scope) asserts become ``stale``. A withdrawn item still stale after
  ``retire_after_missing_runs`` complete runs of that (source, scope) (the
  withdrawing run counts as the first) becomes ``retired``. An item asserted
  again becomes ``active``. A run finished with ``complete=false`` changes no
  status. A batch without ``runId`` is a run of its own (complete when it says
  so).
* **Explicit retirement.** An item sent with ``status: retired`` is retired and
  no longer asserted by that source.
* **Dry run.** Everything above is computed and reported (with the list of
  planned changes); nothing is written.
* **History.** Creations, field changes (old and new values), status changes,
  merges and aliases are appended to the history with time, source, actor and
  run.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import JsonValue, ValidationError

from graphsvc.errors import (
    BatchRejected,
    Conflict,
    InvalidInput,
    ItemError,
    NotFound,
    PartialBatch,
)
from graphsvc.ingest.identify import (
    LIVE,
    Holder,
    IdentityClash,
    creation_order,
    identify,
    resolve_endpoint,
)
from graphsvc.ingest.results import (
    UNAPPLIED_LIMIT,
    WARNING_LIMIT,
    IngestSummary,
    PlannedChange,
    UnappliedWrite,
)
from graphsvc.model.batch import EntityItem, EntityRef, IngestBatch, RelationItem
from graphsvc.model.fields import FieldPath, FieldSection, attribute_path, identifier_path
from graphsvc.model.records import FieldChange, HistoryOp, ItemKind, RunRecord, RunState
from graphsvc.model.validation import attribute_warnings, valid_part, validate_batch
from graphsvc.model.vocabulary import (
    VOCABULARY,
    EntityKind,
    IdentifierStrength,
    RelationType,
    Status,
    Vocabulary,
)
from graphsvc.store.base import (
    Assertion,
    ChangeSet,
    EntityState,
    EntityUpdate,
    GraphStore,
    ItemRef,
    Merge,
    NewAlias,
    NewConflict,
    NewEntity,
    NewHistory,
    NewRelation,
    RelationState,
    RelationUpdate,
    RunUpdate,
    WriteTransaction,
)

__all__ = ["IngestEngine", "IngestPolicy"]

_DRY_RUN_SEQ = 1 << 62


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    """How the engine reconciles and ages data.

    Attributes:
        source_priorities: Source name -> priority (higher wins; default 0).
        retire_after_missing_runs: Complete runs an item may stay stale before
            it is retired (at least 1).
        change_limit: Most planned changes listed in a dry run's summary.
    """

    source_priorities: Mapping[str, int] = field(default_factory=dict)
    retire_after_missing_runs: int = 3
    change_limit: int = 1000

    def priority(self, source: str) -> int:
        """Return the priority of ``source``."""
        return self.source_priorities.get(source, 0)


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


@dataclass(slots=True)
class _Work:
    """Working copy of one entity or relation while a batch is planned."""

    id: int
    label: str
    status: Status
    fields: dict[str, Any]
    provenance: dict[str, tuple[str, int]]
    is_new: bool
    original: dict[str, Any] = field(default_factory=dict)
    original_status: Status | None = None
    provenance_changed: bool = False

    def set(self, name: str, value: object, source: str, at: int, policy: IngestPolicy) -> bool:
        """Set (or, with ``None``, remove) a field under the reconciliation rule.

        Returns:
            ``False`` when the write is not applied: a source of higher priority
            holds the field and ``value`` differs from the field's (or asks to
            remove a field that is there); ``True`` otherwise, also when there
            was nothing to change.
        """
        current = self.fields.get(name)
        setter = self.provenance.get(name)
        if (
            setter is not None
            and setter[0] != source
            and policy.priority(source) < policy.priority(setter[0])
        ):
            if value is None:
                return name not in self.fields
            return current is not None and _same(current, value)
        if value is None:
            if name not in self.fields:
                return True
        elif current is not None and _same(current, value):
            if setter is not None and policy.priority(source) > policy.priority(setter[0]):
                self.provenance[name] = (source, at)
                self.provenance_changed = True
            return True
        if not self.is_new and name not in self.original:
            self.original[name] = current
        self.provenance_changed = True
        if value is None:
            del self.fields[name]
            self.provenance.pop(name, None)
        else:
            self.fields[name] = value
            self.provenance[name] = (source, at)
        return True

    def drop(self, name: str) -> None:
        """Remove a field whatever source set it (a rule, not a source, removes it)."""
        if name not in self.fields:
            return
        if not self.is_new and name not in self.original:
            self.original[name] = self.fields[name]
        del self.fields[name]
        self.provenance.pop(name, None)
        self.provenance_changed = True

    def set_status(self, status: Status) -> None:
        """Change the status, remembering the one before the batch."""
        if status is self.status:
            return
        if self.original_status is None:
            self.original_status = self.status
        self.status = status

    def changes(self) -> dict[str, FieldChange]:
        """Return the fields whose value differs from before the batch."""
        out = {}
        for name, old in self.original.items():
            new = self.fields.get(name)
            if not (_same(old, new)):
                out[name] = FieldChange(old, new)
        return out

    def status_change(self) -> FieldChange | None:
        """Return the status change over the batch, if any."""
        if self.original_status is not None and self.original_status is not self.status:
            return FieldChange(self.original_status.value, self.status.value)
        return None


class _NewRelation:
    """A relation first seen in this batch (the fast path: most relations of a load)."""

    __slots__ = ("attributes", "item", "provenance", "status", "temp_id")

    def __init__(
        self,
        temp_id: int,
        status: Status,
        attributes: dict[str, JsonValue],
        provenance: dict[str, tuple[str, int]],
        item: RelationItem,
    ) -> None:
        self.temp_id = temp_id
        self.status = status
        self.attributes = attributes
        self.provenance = provenance
        self.item = item

    def fold(self, item: RelationItem, source_at: tuple[str, int]) -> None:
        """Apply a later occurrence of the same relation in the same batch."""
        for name, value in item.attributes.items():
            if value is None:
                self.attributes.pop(name, None)
                self.provenance.pop(attribute_path(name), None)
            else:
                self.attributes[name] = value
                self.provenance[attribute_path(name)] = source_at
        self.status = Status.RETIRED if item.status == "retired" else Status.ACTIVE


def _entity_fields(state: EntityState) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": state.name}
    for k, v in state.attributes.items():
        fields[attribute_path(k)] = v
    for k, v in state.identifiers.items():
        fields[identifier_path(k)] = v
    return fields


def _split_entity_fields(
    fields: Mapping[str, Any],
) -> tuple[str, dict[str, JsonValue], dict[str, str]]:
    attributes: dict[str, JsonValue] = {}
    identifiers: dict[str, str] = {}
    name = ""
    for k, v in fields.items():
        path = FieldPath.parse(k)
        if path is None:
            continue
        if path.section is FieldSection.NAME:
            name = v
        elif path.section is FieldSection.ATTRIBUTES:
            attributes[path.member] = v
        elif path.section is FieldSection.IDENTIFIERS:
            identifiers[path.member] = v
    return name, attributes, identifiers


def _relation_fields(attributes: Mapping[str, JsonValue]) -> dict[str, Any]:
    return {attribute_path(k): v for k, v in attributes.items()}


def _relation_attributes(fields: Mapping[str, Any]) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {}
    for k, v in fields.items():
        path = FieldPath.parse(k)
        if path is not None and path.section is FieldSection.ATTRIBUTES:
            out[path.member] = v
    return out


def _names_a_left_out_entity(rest: PartialBatch, error: ItemError) -> bool:
    """Whether a relation's "missing endpoint" is an entity of the batch left out for its errors."""
    if error.section != "relations" or error.index is None or error.field not in ("from", "to"):
        return False
    relation = rest.batch.relations[error.index]
    ref = relation.from_ if error.field == "from" else relation.to
    return ref.key is not None and (ref.kind.value, ref.key) in rest.left_out


class IngestEngine:
    """Applies ingest batches and runs to a store (see the module docstring).

    Args:
        store: An open store.
        policy: Source priorities and retirement threshold.
        vocabulary: The vocabulary to check against.
    """

    def __init__(
        self,
        store: GraphStore,
        policy: IngestPolicy | None = None,
        vocabulary: Vocabulary = VOCABULARY,
    ) -> None:
        self.store = store
        self.policy = policy or IngestPolicy()
        self.vocabulary = vocabulary

    async def ingest(self, batch: IngestBatch, *, actor: str = "") -> IngestSummary:
        """Apply one batch (or, with ``dry_run``, report what it would change).

        Raises:
            BatchRejected: naming every offending item; nothing was written.
            NotFound: when ``run_id`` names no run.
            Conflict: when the run is finished or belongs to another source or scope.
        """
        errors = validate_batch(batch, self.vocabulary)
        if errors:
            raise await self.with_store_errors(
                BatchRejected(errors, rest=valid_part(batch, errors))
            )

        async def unit(tx: WriteTransaction) -> IngestSummary:
            planner = _BatchPlanner(tx, batch, self.policy, self.vocabulary, actor)
            changes, summary = await planner.plan()
            if not batch.dry_run:
                await tx.apply(changes)
            return summary

        return await self.store.transact(unit)

    async def with_store_errors(self, rejected: BatchRejected) -> BatchRejected:
        """Add the store's objections to the items a rejection did not name.

        A batch refused for its shape or vocabulary is checked against the
        store too (endpoints that exist neither in the store nor in the
        batch, required attributes of new entities, identifiers naming two
        entities), so that one answer names every offending item. Nothing is
        written (a dry run in a transaction of its own).
        """
        rest = rejected.rest
        if rest is None:
            return rejected
        probe = rest.batch.model_copy(update={"dry_run": True, "run_id": None, "complete": False})

        async def unit(tx: WriteTransaction) -> None:
            await _BatchPlanner(tx, probe, self.policy, self.vocabulary, "").plan()

        errors = list(rejected.errors)
        try:
            await self.store.transact(unit)
        except BatchRejected as more:
            for e in more.errors:
                if e.index is None or _names_a_left_out_entity(rest, e):
                    continue
                positions = (
                    rest.entity_positions if e.section == "entities" else rest.relation_positions
                )
                errors.append(ItemError(e.section, positions[e.index], e.key, e.field, e.reason))
        errors.sort(key=lambda e: (e.section != "batch", e.section != "entities", e.index or 0))
        return BatchRejected(errors, origin=rejected.origin)

    async def start_run(self, source: str, scope: str = "default", *, actor: str = "") -> RunRecord:
        """Open a run for ``source`` over ``scope`` and return it.

        Raises:
            InvalidInput: when the source or scope name is not acceptable.
        """
        try:
            probe = IngestBatch.model_validate({"source": source, "scope": scope})
        except ValidationError as exc:
            reasons = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            msg = f"cannot open a run of source {source[:80]!r} over scope {scope[:80]!r}: "
            msg += reasons
            raise InvalidInput(msg) from None
        run_id = uuid.uuid4().hex

        async def unit(tx: WriteTransaction) -> tuple[RunRecord, int] | None:
            at = await tx.next_commit_time()
            seq = await tx.create_run(probe.source, probe.scope, run_id, at)
            await tx.apply(
                ChangeSet(
                    at=at,
                    source=probe.source,
                    scope=probe.scope,
                    actor=actor,
                    run_id=run_id,
                    run_seq=seq,
                )
            )
            return await tx.get_run(run_id)

        found = await self.store.transact(unit)
        if found is None:  # pragma: no cover - the transaction just created it
            msg = f"run {run_id} vanished"
            raise NotFound(msg)
        return found[0]

    async def finish_run(
        self, run_id: str, *, complete: bool, dry_run: bool = False, actor: str = ""
    ) -> IngestSummary:
        """Finish a run. With ``complete``, apply staleness and retirement.

        Raises:
            NotFound: when the run does not exist.
            Conflict: when it is already finished.
        """

        async def unit(tx: WriteTransaction) -> IngestSummary:
            found = await tx.get_run(run_id)
            if found is None:
                msg = f"no run {run_id}"
                raise NotFound(msg)
            run, seq = found
            if run.state is not RunState.OPEN:
                msg = f"run {run_id} is already finished ({run.state.value})"
                raise Conflict(msg)
            at = await tx.next_commit_time()
            ager = _Ager(tx, self.policy, run.source, run.scope, seq, at)
            await ager.age(asserted=set(), complete=complete)
            state = RunState.COMPLETE if complete else RunState.INCOMPLETE
            changes = ChangeSet(
                at=at,
                source=run.source,
                scope=run.scope,
                actor=actor,
                run_id=run_id,
                run_seq=seq,
                entity_updates=ager.entity_updates,
                relation_updates=ager.relation_updates,
                withdrawn=ager.withdrawn,
                history=ager.history,
                run_update=RunUpdate(run_id, state, run.batches),
            )
            if not dry_run:
                await tx.apply(changes)
            return IngestSummary(
                run_id=run_id,
                run_state=state,
                dry_run=dry_run,
                marked_stale=ager.stale_count,
                retired=ager.retired_count,
                changes=tuple(ager.notes[: self.policy.change_limit]) if dry_run else (),
            )

        return await self.store.transact(unit)


class _Ager:
    """Staleness and retirement for one complete run of one (source, scope)."""

    def __init__(
        self,
        tx: WriteTransaction,
        policy: IngestPolicy,
        source: str,
        scope: str,
        run_seq: int,
        at: int,
    ) -> None:
        self.tx = tx
        self.policy = policy
        self.source = source
        self.scope = scope
        self.run_seq = run_seq
        self.at = at
        self.entity_updates: list[EntityUpdate] = []
        self.relation_updates: list[RelationUpdate] = []
        self.withdrawn: list[tuple[ItemRef, int]] = []
        self.history: list[NewHistory] = []
        self.notes: list[PlannedChange] = []
        self.stale_count = 0
        self.retired_count = 0

    async def age(self, asserted: set[ItemRef], *, complete: bool) -> None:
        """Withdraw what this run did not assert; mark stale and retire.

        An assertion's miss count stops at the retirement threshold: once an
        item has been missed that many complete runs it is retired (or kept
        alive by another source, whose own runs then decide), and later runs
        neither reread nor rewrite it, so a complete run costs what changed,
        not everything ever retired. A count beyond the threshold (the policy
        was lowered) is brought down to it, retiring the item.
        """
        if not complete:
            return
        limit = max(1, self.policy.retire_after_missing_runs)
        newly_missing: list[ItemRef] = []
        still_missing: list[tuple[ItemRef, int]] = []
        for a in await self.tx.missing_assertions(
            self.source, self.scope, self.run_seq, saturated_at=limit
        ):
            if a.ref in asserted:
                continue
            if a.missed == 0:
                if a.last_run < self.run_seq:
                    newly_missing.append(a.ref)
                    self.withdrawn.append((a.ref, 1))
            else:
                missed = min(a.missed + 1, limit)
                still_missing.append((a.ref, missed))
                self.withdrawn.append((a.ref, missed))
        candidates = newly_missing + [r for r, _ in still_missing]
        if not candidates:
            return
        elsewhere = await self.tx.asserted_elsewhere(candidates, self.source, self.scope)
        misses = dict(still_missing)
        for r in newly_missing:
            misses[r] = 1
        statuses = await self._statuses([r for r in candidates if r not in elsewhere])
        for ref, (status, label) in statuses.items():
            if status is Status.RETIRED:
                continue
            target = Status.RETIRED if misses[ref] >= limit else Status.STALE
            if status is target:
                continue
            if target is Status.STALE:
                self.stale_count += 1
                self.notes.append(PlannedChange("stale", ref.item.value, label))
            else:
                self.retired_count += 1
                self.notes.append(PlannedChange("retire", ref.item.value, label))
            self._set_status(ref, status, target)

    async def _statuses(self, refs: Sequence[ItemRef]) -> dict[ItemRef, tuple[Status, str]]:
        out: dict[ItemRef, tuple[Status, str]] = {}
        entity_ids = [r.id for r in refs if r.item is ItemKind.ENTITY]
        relation_ids = [r.id for r in refs if r.item is ItemKind.RELATION]
        if entity_ids:
            for state in await self.tx.load_entities(entity_ids):
                out[ItemRef(ItemKind.ENTITY, state.id)] = (
                    state.status,
                    f"{state.kind.value}/{state.key}",
                )
        if relation_ids:
            for rel in await self.tx.load_relations(relation_ids):
                out[ItemRef(ItemKind.RELATION, rel.id)] = (
                    rel.status,
                    f"{rel.type.value} #{rel.from_id} -> #{rel.to_id}",
                )
        return out

    def _set_status(self, ref: ItemRef, old: Status, new: Status) -> None:
        if ref.item is ItemKind.ENTITY:
            self.entity_updates.append(EntityUpdate(ref.id, status=new))
        else:
            self.relation_updates.append(RelationUpdate(ref.id, status=new))
        self.history.append(
            NewHistory(HistoryOp.STATUS_CHANGED, ref, {"status": FieldChange(old.value, new.value)})
        )


class _BatchPlanner:
    """Plans one batch into a change set (see the module docstring for the rules)."""

    def __init__(
        self,
        tx: WriteTransaction,
        batch: IngestBatch,
        policy: IngestPolicy,
        vocabulary: Vocabulary,
        actor: str,
    ) -> None:
        self.tx = tx
        self.batch = batch
        self.policy = policy
        self.vocab = vocabulary
        self.actor = actor
        self.errors: list[ItemError] = []
        self.notes: list[PlannedChange] = []
        self.at = 0
        self.next_temp = -1
        # entity planning
        self.entity_work: dict[int, _Work] = {}  # entity id (real or temp) -> work
        self.kinds: dict[int, EntityKind] = {}
        self.keys: dict[tuple[EntityKind, str], int] = {}  # known keys -> entity id
        # (kind, type, value) -> who holds it: stored holders, as planned so far
        self.holders: dict[tuple[EntityKind, str, str], set[int]] = {}
        self.states: dict[int, EntityState] = {}  # stored entities read so far
        self.fast_holders: dict[int, Holder] = {}  # new entities planned on the fast path
        self.fast_labels: dict[int, str] = {}
        self.created_by: dict[int, int] = {}  # new entity's temp id -> its first item's index
        self.conflicts: list[NewConflict] = []
        self.merged_into: dict[int, int] = {}
        self.merges: list[Merge] = []
        self.aliases: list[NewAlias] = []
        self.history: list[NewHistory] = []
        self.moved: list[tuple[ItemRef, ItemRef]] = []
        self.summary_merged = 0
        # relation planning
        self.relation_work: dict[tuple[RelationType, int, int], _Work] = {}
        self.relation_meta: dict[tuple[RelationType, int, int], tuple[RelationType, int, int]] = {}
        self.relation_updates_merged: list[RelationUpdate] = []
        self.new_relations: dict[tuple[RelationType, int, int], _NewRelation] = {}
        self.new_entities: list[NewEntity] = []
        self._required = {k: spec.required_attributes for k, spec in vocabulary.kinds.items()}
        self.asserted: set[ItemRef] = set()
        self.retired_by_batch: set[ItemRef] = set()
        self.unapplied: list[UnappliedWrite] = []  # the first UNAPPLIED_LIMIT
        self.unapplied_total = 0

    def _temp(self) -> int:
        value = self.next_temp
        self.next_temp -= 1
        return value

    # ------------------------------------------------------------------ plan
    async def plan(self) -> tuple[ChangeSet, IngestSummary]:
        batch = self.batch
        tx = self.tx
        self.at = await tx.next_commit_time()
        run_id, run_seq, run_batches, run_state = await self._run()
        await self._plan_entities()
        await self._plan_relations()
        if self.errors:
            self.errors.sort(key=lambda e: (e.section != "entities", e.index or 0))
            raise BatchRejected(self.errors)
        changes, summary = self._build(run_id, run_seq)
        ager = _Ager(tx, self.policy, batch.source, batch.scope, run_seq, self.at)
        if batch.run_id is None:
            await ager.age(self.asserted, complete=batch.complete)
        entity_updates = list(changes.entity_updates) + ager.entity_updates
        relation_updates = list(changes.relation_updates) + ager.relation_updates
        changes = ChangeSet(
            at=changes.at,
            source=changes.source,
            scope=changes.scope,
            actor=changes.actor,
            run_id=run_id,
            run_seq=run_seq,
            entities=changes.entities,
            entity_updates=entity_updates,
            merges=changes.merges,
            aliases=changes.aliases,
            relations=changes.relations,
            relation_updates=relation_updates,
            assertions=changes.assertions,
            withdrawn=ager.withdrawn,
            moved_assertions=changes.moved_assertions,
            history=list(changes.history) + ager.history,
            run_update=RunUpdate(run_id, run_state, run_batches),
            conflicts=self.conflicts,
        )
        notes = self.notes + ager.notes
        summary = IngestSummary(
            run_id=run_id,
            run_state=run_state,
            dry_run=batch.dry_run,
            entities_created=summary.entities_created,
            entities_updated=summary.entities_updated,
            entities_unchanged=summary.entities_unchanged,
            relations_created=summary.relations_created,
            relations_updated=summary.relations_updated,
            relations_unchanged=summary.relations_unchanged,
            merged=summary.merged,
            revived=summary.revived,
            retired=summary.retired + ager.retired_count,
            marked_stale=ager.stale_count,
            identity_conflicts=len(self.conflicts),
            warnings=tuple(attribute_warnings(batch, self.vocab, WARNING_LIMIT)),
            changes=tuple(notes[: self.policy.change_limit]) if batch.dry_run else (),
            unapplied=tuple(self.unapplied),
            unapplied_total=self.unapplied_total,
        )
        return changes, summary

    def _write(
        self, work: _Work, field_name: str, value: JsonValue, where: tuple[str, int, str]
    ) -> None:
        """Write one field of an item under the reconciliation rule; note it when refused.

        ``where``: the item's section, its index there and its label.
        """
        source, policy = self.batch.source, self.policy
        if work.set(field_name, value, source, self.at, policy):
            return
        self.unapplied_total += 1
        if len(self.unapplied) >= UNAPPLIED_LIMIT:
            return
        section, index, label = where
        holder = work.provenance[field_name][0]
        kept = work.fields.get(field_name)
        mine, theirs = policy.priority(source), policy.priority(holder)
        what = "remove" if value is None else "change"
        self.unapplied.append(
            UnappliedWrite(
                item="entity" if section == "entities" else "relation",
                section=section,
                index=index,
                label=label,
                field=field_name,
                sent=value,
                kept=kept,
                holder=holder,
                holder_priority=theirs,
                sender=source,
                sender_priority=mine,
                reason=(
                    f"source {holder!r} (priority {theirs}) holds {field_name}; "
                    f"source {source!r} (priority {mine}) may not {what} it"
                ),
            )
        )

    async def _run(self) -> tuple[str, int, int, RunState]:
        batch = self.batch
        if batch.run_id is not None:
            found = await self.tx.get_run(batch.run_id)
            if found is None:
                msg = f"no run {batch.run_id}; start one with startRun"
                raise NotFound(msg)
            run, seq = found
            if run.state is not RunState.OPEN:
                msg = f"run {batch.run_id} is already finished ({run.state.value})"
                raise Conflict(msg)
            if run.source != batch.source or run.scope != batch.scope:
                msg = (
                    f"run {batch.run_id} belongs to source {run.source!r} scope {run.scope!r}, "
                    f"not {batch.source!r} {batch.scope!r}"
                )
                raise Conflict(msg)
            return batch.run_id, seq, run.batches + 1, RunState.OPEN
        run_id = uuid.uuid4().hex
        state = RunState.COMPLETE if batch.complete else RunState.INCOMPLETE
        if batch.dry_run:
            return run_id, _DRY_RUN_SEQ, 1, state
        seq = await self.tx.create_run(batch.source, batch.scope, run_id, self.at)
        return run_id, seq, 1, state

    # -------------------------------------------------------------- entities
    async def _plan_entities(self) -> None:
        """Identify and plan every entity item, in batch order (PRODUCT.md 2, "Identification").

        Each item sees the items before it: a key or an identifier value
        planned earlier in the batch is found as if it were stored.
        """
        items = self.batch.entities
        if not items:
            return
        vocab = self.vocab
        norm = [
            {t: vocab.normalize_identifier(t, v) for t, v in item.identifiers.items()}
            for item in items
        ]
        await self._load_candidates(items, norm)
        # an item whose key and identifier values no other item of the batch
        # carries, and which matches nothing stored, takes the fast path
        key_count = Counter((item.kind, item.key) for item in items)
        value_count = Counter(
            (item.kind, t, v) for item, ids in zip(items, norm, strict=True) for t, v in ids.items()
        )
        source_at = (self.batch.source, self.at)
        for index, (item, ids) in enumerate(zip(items, norm, strict=True)):
            alone = key_count[(item.kind, item.key)] == 1 and all(
                value_count[(item.kind, t, v)] == 1 for t, v in ids.items()
            )
            self._plan_entity(index, item, ids, alone, source_at)
        for work_id, index in self.created_by.items():
            work = self.entity_work[work_id]
            _name, attributes, _ids = _split_entity_fields(work.fields)
            missing = [a for a in self._required[self.kinds[work_id]] if attributes.get(a) is None]
            if missing:
                self._missing_error(index, items[index], missing)

    async def _load_candidates(
        self, items: Sequence[EntityItem], norm: Sequence[Mapping[str, str]]
    ) -> None:
        """Read the stored entities the items' keys and identifier values name."""
        by_kind: dict[EntityKind, list[int]] = {}
        for position, item in enumerate(items):
            by_kind.setdefault(item.kind, []).append(position)
        for kind, positions in by_kind.items():
            found = await self.tx.lookup_keys(kind, sorted({items[p].key for p in positions}))
            for key, entity_id in found.items():
                self.keys[(kind, key)] = entity_id
            await self._load_holders(kind, {(t, v) for p in positions for t, v in norm[p].items()})
        await self._load_states(self.keys.values())
        # a retired entity an item revives may hold a weak value another entity
        # took since: read who holds those too (see _give_up_taken_values)
        retired: dict[EntityKind, set[tuple[str, str]]] = {}
        for state in list(self.states.values()):
            if state.status is Status.RETIRED:
                retired.setdefault(state.kind, set()).update(state.identifiers.items())
        for kind, pairs in retired.items():
            await self._load_holders(kind, pairs)

    async def _load_holders(self, kind: EntityKind, pairs: Iterable[tuple[str, str]]) -> None:
        """Read the stored holders of identifier values not seen yet in this batch."""
        wanted = sorted(pair for pair in pairs if (kind, *pair) not in self.holders)
        if not wanted:
            return
        found = await self.tx.lookup_identifiers(kind, wanted)
        for t, v in wanted:
            self.holders[(kind, t, v)] = set(found.get((t, v), ()))
        await self._load_states(h for hs in found.values() for h in hs)

    async def _load_states(self, ids: Iterable[int]) -> None:
        wanted = sorted({i for i in ids if i > 0 and i not in self.states})
        if wanted:
            for state in await self.tx.load_entities(wanted):
                self.states[state.id] = state

    def _holder(self, entity_id: int) -> Holder:
        """An entity as identification sees it now (stored, or as planned so far)."""
        work = self.entity_work.get(entity_id)
        if work is not None:
            return Holder(entity_id, work.status, _split_entity_fields(work.fields)[2])
        fast = self.fast_holders.get(entity_id)
        if fast is not None:
            return fast
        state = self.states[entity_id]
        return Holder(entity_id, state.status, state.identifiers)

    def _holders_of(
        self, kind: EntityKind, identifiers: Mapping[str, str]
    ) -> dict[tuple[str, str], list[Holder]]:
        return {
            (t, v): [self._holder(h) for h in sorted(self.holders.get((kind, t, v), ()))]
            for t, v in identifiers.items()
        }

    def _plan_entity(
        self,
        index: int,
        item: EntityItem,
        identifiers: Mapping[str, str],
        alone: bool,
        source_at: tuple[str, int],
    ) -> None:
        """Identify one item and fold it into its entity's working copy."""
        kind = item.kind
        found = identify(
            self.keys.get((kind, item.key)),
            identifiers,
            self._holders_of(kind, identifiers),
            self.vocab,
        )
        if found.entity is None and alone and not found.clashes:
            self._new_entity(item, identifiers, index, self._required, source_at)
            return
        if found.entity is None:
            work = self._new_work(item, index)
        else:
            work = self._work_of(found.entity)
            if found.rule != 1:
                self._add_alias(work, kind, item.key)
        before = _split_entity_fields(work.fields)[2]
        self._apply_entity_item(work, item, found.keep, index)
        clashes = [*found.clashes, *self._give_up_taken_values(kind, work, found.keep)]
        self._move_holdings(kind, work.id, before, _split_entity_fields(work.fields)[2])
        self.keys[(kind, item.key)] = work.id
        for clash in clashes:
            self.conflicts.append(
                NewConflict(
                    kind=kind,
                    id_type=clash.type,
                    value=clash.value,
                    entity_id=work.id,
                    holder_id=clash.holder,
                    item_key=item.key,
                )
            )
            self.notes.append(
                PlannedChange(
                    "conflict",
                    "entity",
                    f"{work.label}: {clash.type} {clash.value!r} stays with "
                    f"{self._label(clash.holder)}",
                )
            )

    def _give_up_taken_values(
        self, kind: EntityKind, work: _Work, carried: Mapping[str, str]
    ) -> list[IdentityClash]:
        """A live entity drops the weak values it holds that another live entity holds.

        Happens to a retired entity revived by a strong match (or its key)
        while another entity took one of its weak values: the value stays
        with the one that took it (PRODUCT.md 2: one live holder per value).
        """
        if work.status not in LIVE:
            return []
        out: list[IdentityClash] = []
        strong = IdentifierStrength.STRONG
        for t, v in _split_entity_fields(work.fields)[2].items():
            if carried.get(t) == v or self.vocab.identifier_strength(t) is strong:
                continue
            others = sorted(
                (
                    h
                    for h in self.holders.get((kind, t, v), ())
                    if h != work.id and self._holder(h).status in LIVE
                ),
                key=creation_order,
            )
            if others:
                work.drop(identifier_path(t))
                out.append(IdentityClash(t, v, others[0]))
        return out

    def _label(self, entity_id: int) -> str:
        work = self.entity_work.get(entity_id)
        if work is not None:
            return work.label
        state = self.states.get(entity_id)
        if state is not None:
            return f"{state.kind.value}/{state.key}"
        return self.fast_labels.get(entity_id, f"#{entity_id}")

    def _new_work(self, item: EntityItem, index: int) -> _Work:
        temp = self._temp()
        work = _Work(
            id=temp,
            label=f"{item.kind.value}/{item.key}",
            status=Status.ACTIVE,
            fields={"name": item.name or item.key},
            provenance={},
            is_new=True,
        )
        self.entity_work[temp] = work
        self.kinds[temp] = item.kind
        self.created_by[temp] = index
        return work

    def _work_of(self, entity_id: int) -> _Work:
        work = self.entity_work.get(entity_id)
        if work is None:
            work = self._existing_work(self.states[entity_id])
        return work

    def _add_alias(self, work: _Work, kind: EntityKind, key: str) -> None:
        """``key`` becomes another name of the entity an identifier identified."""
        self.aliases.append(NewAlias(work.id, kind, key))
        self.summary_merged += 1
        self.notes.append(PlannedChange("alias", "entity", f"{kind.value}/{key} -> {work.label}"))
        self.history.append(
            NewHistory(
                HistoryOp.MERGED,
                ItemRef(ItemKind.ENTITY, work.id),
                {"alias": FieldChange(None, key)},
            )
        )

    def _move_holdings(
        self,
        kind: EntityKind,
        entity_id: int,
        before: Mapping[str, str],
        after: Mapping[str, str],
    ) -> None:
        """Keep the batch's view of who holds which identifier value in step with a work."""
        for t, v in before.items():
            if after.get(t) != v:
                self.holders.setdefault((kind, t, v), set()).discard(entity_id)
        for t, v in after.items():
            if before.get(t) != v:
                self.holders.setdefault((kind, t, v), set()).add(entity_id)

    def _new_entity(
        self,
        item: EntityItem,
        identifiers: Mapping[str, str],
        index: int,
        required: Mapping[EntityKind, tuple[str, ...]],
        source_at: tuple[str, int],
    ) -> None:
        """Plan an entity seen for the first time, alone (the fast path of a load)."""
        kind = item.kind
        attributes: dict[str, JsonValue] = {
            k: v for k, v in item.attributes.items() if v is not None
        }
        missing = [a for a in required[kind] if a not in attributes]
        if missing:
            self._missing_error(index, item, missing)
        provenance = {"name": source_at}
        for k in attributes:
            provenance[attribute_path(k)] = source_at
        for t in identifiers:
            provenance[identifier_path(t)] = source_at
        temp = self._temp()
        self.keys[(kind, item.key)] = temp
        status = Status.RETIRED if item.status == "retired" else Status.ACTIVE
        for t, v in identifiers.items():
            self.holders.setdefault((kind, t, v), set()).add(temp)
        if identifiers:
            self.fast_holders[temp] = Holder(temp, status, identifiers)
            self.fast_labels[temp] = f"{kind.value}/{item.key}"
        self.new_entities.append(
            NewEntity(
                temp_id=temp,
                kind=kind,
                key=item.key,
                name=item.name or item.key,
                status=status,
                attributes=attributes,
                identifiers=dict(identifiers),
                provenance=provenance,
            )
        )

    def _missing_error(self, index: int, item: EntityItem, missing: Sequence[str]) -> None:
        self.errors.append(
            ItemError(
                "entities",
                index,
                item.label(),
                f"attributes.{missing[0]}",
                f"a new {item.kind.value} needs {', '.join(missing)}",
            )
        )

    def _existing_work(self, state: EntityState) -> _Work:
        found = self.entity_work.get(state.id)
        if found is not None:
            return found
        work = _Work(
            id=state.id,
            label=f"{state.kind.value}/{state.key}",
            status=state.status,
            fields=_entity_fields(state),
            provenance=dict(state.provenance),
            is_new=False,
        )
        self.entity_work[state.id] = work
        self.kinds[state.id] = state.kind
        return work

    def _apply_entity_item(
        self, work: _Work, item: EntityItem, identifiers: Mapping[str, str], index: int
    ) -> None:
        source, at = self.batch.source, self.at
        where = ("entities", index, item.label())
        if item.name is not None:
            if work.is_new and "name" not in work.provenance:
                work.fields["name"] = item.name
                work.provenance["name"] = (source, at)
            else:
                self._write(work, "name", item.name, where)
        elif work.is_new and "name" not in work.provenance:
            work.provenance["name"] = (source, at)
        for name, value in item.attributes.items():
            self._write(work, attribute_path(name), value, where)
        for t, v in identifiers.items():
            self._write(work, identifier_path(t), v, where)
        ref = ItemRef(ItemKind.ENTITY, work.id)
        if item.status == "retired":
            work.set_status(Status.RETIRED)
            self.retired_by_batch.add(ref)
            self.asserted.discard(ref)
        else:
            if work.status is not Status.ACTIVE:
                work.set_status(Status.ACTIVE)
            self.retired_by_batch.discard(ref)
            self.asserted.add(ref)

    def _survivor(self, entity_id: int) -> int:
        seen = 0
        while entity_id in self.merged_into and seen < 64:
            entity_id = self.merged_into[entity_id]
            seen += 1
        return entity_id

    # ------------------------------------------------------------- relations
    async def _resolve_ends(
        self, relations: Sequence[RelationItem]
    ) -> tuple[list[int | None], list[int | None]]:
        """Resolve every relation endpoint to an entity id (``None`` after an error).

        A key names the entity of the batch or the store with that key or
        alias; identifiers resolve by rules 2 and 3 of the identification
        rule (:func:`~graphsvc.ingest.identify.resolve_endpoint`), over the
        store as this batch leaves it.
        """
        keys = self.keys
        vocab = self.vocab
        missing_keys: dict[EntityKind, set[str]] = {}
        wanted_ids: dict[EntityKind, set[tuple[str, str]]] = {}
        for item in relations:
            for ref in (item.from_, item.to):
                if ref.key is not None:
                    if (ref.kind, ref.key) not in keys:
                        missing_keys.setdefault(ref.kind, set()).add(ref.key)
                else:
                    wanted_ids.setdefault(ref.kind, set()).update(
                        (t, vocab.normalize_identifier(t, v))
                        for t, v in (ref.identifiers or {}).items()
                    )
        for kind, wanted in missing_keys.items():
            for found_key, found_id in (await self.tx.lookup_keys(kind, sorted(wanted))).items():
                keys[(kind, found_key)] = found_id
        for kind, pairs in wanted_ids.items():
            await self._load_holders(kind, pairs)
        ends: tuple[list[int | None], list[int | None]] = ([], [])
        for index, item in enumerate(relations):
            for end, ref, out in (("from", item.from_, ends[0]), ("to", item.to, ends[1])):
                found: int | None
                if ref.key is not None:
                    found = keys.get((ref.kind, ref.key))
                    if found is None:
                        self._relation_error(
                            index,
                            end,
                            f"no {ref.kind.value} with key {ref.key!r} in the store or the batch",
                        )
                else:
                    found = self._by_identifiers(index, end, ref)
                out.append(found)
        return ends

    def _by_identifiers(self, index: int, end: str, ref: EntityRef) -> int | None:
        identifiers = {
            t: self.vocab.normalize_identifier(t, v) for t, v in (ref.identifiers or {}).items()
        }
        answer = resolve_endpoint(identifiers, self._holders_of(ref.kind, identifiers), self.vocab)
        if answer.entity is not None:
            return answer.entity
        if answer.ambiguous:
            names = " and ".join(self._label(e) for e in answer.ambiguous)
            self._relation_error(index, end, f"{ref.label()} names two entities: {names}")
        else:
            self._relation_error(index, end, f"no {ref.label()} in the store or the batch")
        return None

    def _relation_error(self, index: int, end: str, reason: str) -> None:
        item = self.batch.relations[index]
        self.errors.append(ItemError("relations", index, item.label(), end, reason))

    async def _plan_relations(self) -> None:
        relations = self.batch.relations
        if not relations:
            return
        sources, targets = await self._resolve_ends(relations)
        triples: list[tuple[RelationType, int, int] | None] = []
        for index, (item, src, dst) in enumerate(zip(relations, sources, targets, strict=True)):
            if src is None or dst is None:
                triples.append(None)
            elif src == dst:
                if item.from_ == item.to:
                    self._relation_error(
                        index, "to", "a relation cannot go from an entity to itself"
                    )
                else:
                    # two names of one entity (an alias, a shared identifier): the
                    # relation would be a loop on the entity, so it is left out
                    self.notes.append(PlannedChange("skip", "relation", item.label()))
                triples.append(None)
            else:
                triples.append((item.type, src, dst))
        known = self.relation_work
        lookup = sorted(
            {t for t in triples if t is not None and t[1] > 0 and t[2] > 0} - known.keys()
        )
        existing = await self.tx.lookup_relations(lookup) if lookup else {}
        new = self.new_relations
        source_at = (self.batch.source, self.at)
        for index, (item, triple) in enumerate(zip(relations, triples, strict=True)):
            if triple is None:
                continue
            work = known.get(triple)
            if work is not None:
                self._apply_relation_item(work, item, index)
                continue
            record = new.get(triple)
            if record is not None:  # the same relation twice in one batch
                record.fold(item, source_at)
                continue
            state = existing.get(triple)
            if state is not None:
                self._apply_relation_item(self._relation_existing_work(triple, state), item, index)
                continue
            attributes: dict[str, JsonValue] = {
                k: v for k, v in item.attributes.items() if v is not None
            }
            new[triple] = _NewRelation(
                self._temp(),
                Status.RETIRED if item.status == "retired" else Status.ACTIVE,
                attributes,
                {attribute_path(k): source_at for k in attributes},
                item,
            )

    def _relation_existing_work(
        self, triple: tuple[RelationType, int, int], state: RelationState
    ) -> _Work:
        work = _Work(
            id=state.id,
            label=f"{state.type.value} #{state.from_id} -> #{state.to_id}",
            status=state.status,
            fields=_relation_fields(state.attributes),
            provenance=dict(state.provenance),
            is_new=False,
        )
        self.relation_work[triple] = work
        self.relation_meta[triple] = triple
        return work

    def _apply_relation_item(self, work: _Work, item: RelationItem, index: int) -> None:
        source, at = self.batch.source, self.at
        if work.is_new and not work.provenance and not work.fields:
            for name, value in item.attributes.items():
                if value is not None:
                    work.fields[attribute_path(name)] = value
                    work.provenance[attribute_path(name)] = (source, at)
        else:
            where = ("relations", index, item.label())
            for name, value in item.attributes.items():
                self._write(work, attribute_path(name), value, where)
        ref = ItemRef(ItemKind.RELATION, work.id)
        if item.status == "retired":
            work.set_status(Status.RETIRED)
            self.retired_by_batch.add(ref)
            self.asserted.discard(ref)
        else:
            if work.status is not Status.ACTIVE:
                work.set_status(Status.ACTIVE)
            self.retired_by_batch.discard(ref)
            self.asserted.add(ref)

    # ----------------------------------------------------------------- build
    def _build(self, run_id: str, run_seq: int) -> tuple[ChangeSet, IngestSummary]:
        entities: list[NewEntity] = list(self.new_entities)
        entity_updates: list[EntityUpdate] = []
        history = list(self.history)
        notes = self.notes
        limit = self.policy.change_limit if self.batch.dry_run else 0
        created, updated, unchanged, revived, retired = len(entities), 0, 0, 0, 0
        for new_entity in entities:
            if new_entity.status is Status.RETIRED:
                retired += 1
            if len(notes) < limit:
                label = f"{new_entity.kind.value}/{new_entity.key}"
                notes.append(PlannedChange("create", "entity", label))
        for eid, work in self.entity_work.items():
            if eid in self.merged_into:
                continue
            ref = ItemRef(ItemKind.ENTITY, eid)
            name, attributes, identifiers = _split_entity_fields(work.fields)
            if work.is_new:
                created += 1
                entities.append(
                    NewEntity(
                        temp_id=eid,
                        kind=self.kinds[eid],
                        key=work.label.split("/", 1)[1],
                        name=name,
                        status=work.status,
                        attributes=attributes,
                        identifiers=identifiers,
                        provenance=work.provenance,
                    )
                )
                if work.status is Status.RETIRED:
                    retired += 1
                if len(notes) < limit:
                    notes.append(PlannedChange("create", "entity", work.label))
                continue
            changes = work.changes()
            status_change = work.status_change()
            fields_changed = {k.split(".", 1)[0] for k in changes}
            if not changes and status_change is None:
                unchanged += 1
            if changes:
                updated += 1
                history.append(NewHistory(HistoryOp.UPDATED, ref, changes))
                if len(notes) < limit:
                    notes.append(
                        PlannedChange("update", "entity", work.label, tuple(sorted(changes)))
                    )
            if status_change is not None:
                history.append(NewHistory(HistoryOp.STATUS_CHANGED, ref, {"status": status_change}))
                if work.status is Status.RETIRED:
                    retired += 1
                    notes.append(PlannedChange("retire", "entity", work.label))
                else:
                    revived += 1
                    notes.append(PlannedChange("revive", "entity", work.label))
            if changes or status_change is not None or work.provenance_changed:
                entity_updates.append(
                    EntityUpdate(
                        eid,
                        name=name if "name" in fields_changed else None,
                        attributes=attributes if "attributes" in fields_changed else None,
                        identifiers=identifiers if "identifiers" in fields_changed else None,
                        provenance=work.provenance,
                        status=work.status if status_change is not None else None,
                    )
                )
        relations: list[NewRelation] = [
            NewRelation(r.temp_id, t, s, d, r.status, r.attributes, r.provenance)
            for (t, s, d), r in self.new_relations.items()
        ]
        relation_updates: list[RelationUpdate] = list(self.relation_updates_merged)
        r_created, r_updated, r_unchanged = len(relations), 0, 0
        for r in self.new_relations.values():
            if r.status is Status.RETIRED:
                retired += 1
            if len(notes) < limit:
                notes.append(PlannedChange("create", "relation", r.item.label()))
        for (type_, src, dst), work in self.relation_work.items():
            ref = ItemRef(ItemKind.RELATION, work.id)
            attributes = _relation_attributes(work.fields)
            if work.is_new:
                r_created += 1
                relations.append(
                    NewRelation(
                        temp_id=work.id,
                        type=type_,
                        from_id=src,
                        to_id=dst,
                        status=work.status,
                        attributes=attributes,
                        provenance=work.provenance,
                    )
                )
                if work.status is Status.RETIRED:
                    retired += 1
                if len(notes) < limit:
                    notes.append(PlannedChange("create", "relation", work.label))
                continue
            changes = work.changes()
            status_change = work.status_change()
            if not changes and status_change is None:
                r_unchanged += 1
            if changes:
                r_updated += 1
                history.append(NewHistory(HistoryOp.UPDATED, ref, changes))
                if len(notes) < limit:
                    notes.append(
                        PlannedChange("update", "relation", work.label, tuple(sorted(changes)))
                    )
            if status_change is not None:
                history.append(NewHistory(HistoryOp.STATUS_CHANGED, ref, {"status": status_change}))
                if work.status is Status.RETIRED:
                    retired += 1
                    notes.append(PlannedChange("retire", "relation", work.label))
                else:
                    revived += 1
                    notes.append(PlannedChange("revive", "relation", work.label))
            if changes or status_change is not None or work.provenance_changed:
                relation_updates.append(
                    RelationUpdate(
                        work.id,
                        attributes=attributes if changes else None,
                        provenance=work.provenance,
                        status=work.status if status_change is not None else None,
                    )
                )
        assertions = [Assertion(ref) for ref in self._final_refs(self.asserted) if ref.id > 0]
        changeset = ChangeSet(
            at=self.at,
            source=self.batch.source,
            scope=self.batch.scope,
            actor=self.actor,
            run_id=run_id,
            run_seq=run_seq,
            entities=entities,
            entity_updates=entity_updates,
            merges=self.merges,
            aliases=self.aliases,
            relations=relations,
            relation_updates=relation_updates,
            assertions=assertions,
            moved_assertions=self.moved,
            history=history,
        )
        self.asserted = {a.ref for a in assertions}
        summary = IngestSummary(
            entities_created=created,
            entities_updated=updated,
            entities_unchanged=unchanged,
            relations_created=r_created,
            relations_updated=r_updated,
            relations_unchanged=r_unchanged,
            merged=self.summary_merged,
            revived=revived,
            retired=retired,
        )
        return changeset, summary

    def _final_refs(self, refs: Iterable[ItemRef]) -> list[ItemRef]:
        out = []
        for ref in refs:
            if ref.item is ItemKind.ENTITY:
                out.append(ItemRef(ItemKind.ENTITY, self._survivor(ref.id)))
            else:
                out.append(ref)
        return list(dict.fromkeys(out))
