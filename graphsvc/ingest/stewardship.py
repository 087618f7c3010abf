"""Resolving identity conflicts by hand (PRODUCT.md 2, "Identification"; issue 21).

Ingest never merges two stored entities: an identifier value one holds and
another's item carries is recorded as an identity conflict. An administrator
then either merges the two entities or dismisses the conflict:

* :meth:`IdentityStewardship.merge_entities` merges ``other`` into ``survivor``
  as an ingest merge is recorded: ``other``'s key and aliases become aliases of
  the survivor (relations, queries and later batches that name them reach the
  survivor), its identifiers and other fields are folded into the survivor's
  under the reconciliation rule (a field the survivor lacks is taken with its
  provenance; a field both hold keeps the survivor's value unless the other's
  was set by a source of higher priority), its relations move onto the survivor
  (a relation the survivor already has absorbs the moved one's attributes under
  the same rule; one between the two entities is dropped, it would be a loop),
  every source's assertions move with them, and the history gets ``merged_into``
  on ``other`` and ``merged`` on the survivor (and ``merged_into`` on each moved
  relation, ``created`` on its copy), with source :data:`ADMIN_SOURCE` and the
  caller as actor: they are in the event feed and reach webhooks. The open
  conflicts recorded between the two entities (in either order) are closed as
  ``resolved``, naming the merge.
* :meth:`IdentityStewardship.dismiss_conflict` closes one open conflict as
  ``dismissed`` with a reason (1 to :data:`MAX_REASON` characters), the actor
  and the time. The conflict stays listed with that closure, and each of its two
  entities gets a ``conflict_dismissed`` history event (``identityConflict``:
  its seq, ``reason``), so the dismissal is in their history and the event feed.
  A clash dismissed once and carried again by a later batch is not recorded
  again (a clash is recorded once), so it stays dismissed.

Both are one write transaction each, derived from what it reads (so a Neo4j
retry is safe), and refuse with :class:`~graphsvc.errors.InvalidInput` (the
same entity twice, two kinds, a bad reason), :class:`~graphsvc.errors.NotFound`
(an unknown id or seq) or :class:`~graphsvc.errors.Conflict` (a retired entity,
one merged into another already, a conflict closed already).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import JsonValue

from graphsvc.errors import Conflict, InvalidInput, NotFound
from graphsvc.ingest.engine import IngestPolicy
from graphsvc.model.fields import FieldPath, FieldSection, attribute_path, identifier_path
from graphsvc.model.records import (
    ConflictClosure,
    ConflictState,
    FieldChange,
    HistoryOp,
    IdentityConflict,
    ItemKind,
    from_micros,
)
from graphsvc.model.vocabulary import EntityKind, RelationType, Status, normalize_key
from graphsvc.store.base import (
    ChangeSet,
    ClosedConflict,
    EntityState,
    EntityUpdate,
    GraphStore,
    ItemRef,
    Merge,
    NewHistory,
    NewRelation,
    RelationState,
    RelationUpdate,
    WriteTransaction,
)

__all__ = ["ADMIN_SOURCE", "MAX_REASON", "IdentityStewardship", "MergeResult"]

ADMIN_SOURCE = "admin"
"""The source of the history events of merges and dismissals (the actor says who)."""

ADMIN_SCOPE = "default"
"""The scope of those change sets (no assertion is made in it)."""

MAX_REASON = 500
"""Most characters of a dismissal's reason."""


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What :meth:`IdentityStewardship.merge_entities` did.

    Attributes:
        survivor_id: The entity that remains.
        merged_id: The entity merged into it (its id now answers with the survivor).
        merged_key: The merged entity's key, now an alias of the survivor.
        relations_moved: Relations of the merged entity moved onto the survivor
            (created there, or folded into the survivor's own of the same type
            and other end).
        relations_dropped: Relations between the two entities, ended (a loop).
        resolved_conflicts: Seqs of the open identity conflicts between the two,
            now ``resolved``.
        at: The commit time.
    """

    survivor_id: int
    merged_id: int
    merged_key: str
    relations_moved: int
    relations_dropped: int
    resolved_conflicts: tuple[int, ...]
    at: datetime


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def _fields(state: EntityState) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": state.name}
    fields.update({attribute_path(k): v for k, v in state.attributes.items()})
    fields.update({identifier_path(k): v for k, v in state.identifiers.items()})
    return fields


def _fold(
    into: dict[str, Any],
    provenance: dict[str, tuple[str, int]],
    taken: dict[str, Any],
    taken_provenance: dict[str, tuple[str, int]] | Any,
    policy: IngestPolicy,
) -> dict[str, FieldChange]:
    """Fold fields ``taken`` into ``into`` under the reconciliation rule; return the changes."""
    changes: dict[str, FieldChange] = {}
    for name, value in taken.items():
        setter = taken_provenance.get(name, ("", 0))
        current = into.get(name)
        if current is None:
            into[name] = value
            provenance[name] = setter
            changes[name] = FieldChange(None, value)
        elif not _same(current, value):
            holder = provenance.get(name, ("", 0))
            if policy.priority(setter[0]) > policy.priority(holder[0]):
                into[name] = value
                provenance[name] = setter
                changes[name] = FieldChange(current, value)
    return changes


def check_reason(reason: str) -> str:
    """Return a dismissal's reason, trimmed.

    Raises:
        InvalidInput: when it is empty, longer than :data:`MAX_REASON` characters,
            or holds control characters other than line breaks and tabs.
    """
    text = reason.strip()
    if not text:
        msg = "reason: give a reason for the dismissal (it is kept with the conflict)"
        raise InvalidInput(msg)
    if len(text) > MAX_REASON:
        msg = f"reason: {len(text):,} characters; at most {MAX_REASON} are kept"
        raise InvalidInput(msg)
    bad = [c for c in text if c not in "\n\t" and unicodedata.category(c) == "Cc"]
    if bad:
        msg = f"reason: holds a control character ({bad[0]!r}); send plain text"
        raise InvalidInput(msg)
    return text


class IdentityStewardship:
    """Merges entities and dismisses identity conflicts (see the module docstring).

    Args:
        store: An open, writable store.
        policy: Source priorities (the reconciliation rule of a merge's fold).
    """

    def __init__(self, store: GraphStore, policy: IngestPolicy | None = None) -> None:
        self.store = store
        self.policy = policy or IngestPolicy()

    async def entity_by_key(self, kind: EntityKind, key: str, *, role: str) -> int:
        """Return the id of the entity whose own key (not an alias) is ``key``.

        ``role`` names the argument in messages (``survivor``, ``other``). A key
        that is an alias (of an entity merged in, or of an item identified by an
        identifier) is refused rather than followed: a careless merge naming an
        old key would otherwise merge its survivor.

        Raises:
            NotFound: when no entity of ``kind`` has that key or alias.
            Conflict: when it is an alias.
        """
        wanted = normalize_key(key)
        [found] = await self.store.resolve([(kind, wanted)])
        record = (await self.store.entities([found]))[0] if found is not None else None
        if found is None or record is None:
            msg = f"{role}: no {kind.value} has the key {key[:80]!r}"
            raise NotFound(msg)
        if record.key != wanted:
            msg = (
                f"{role}: {kind.value}/{key[:80]} is an alias of {kind.value}/{record.key} "
                "(merged into it already); name that entity"
            )
            raise Conflict(msg)
        return found

    async def merge_entities(self, survivor: int, other: int, *, actor: str) -> MergeResult:
        """Merge entity ``other`` into entity ``survivor`` (see the module docstring).

        Raises:
            InvalidInput: the same entity twice, or entities of two kinds.
            NotFound: an id no entity has.
            Conflict: an entity that is retired or already merged into another.
        """
        if survivor == other:
            msg = "survivor and other are the same entity; name two entities"
            raise InvalidInput(msg)

        async def work(tx: WriteTransaction) -> MergeResult:
            keep, gone = await _live_pair(tx, survivor, other)
            return await _Merger(tx, keep, gone, actor, self.policy).apply()

        return await self.store.transact(work)

    async def dismiss_conflict(self, seq: int, reason: str, *, actor: str) -> IdentityConflict:
        """Dismiss open identity conflict ``seq`` with ``reason``; return it as now closed.

        Raises:
            InvalidInput: an empty reason, or one too long.
            NotFound: when no conflict has that seq.
            Conflict: when it is dismissed or resolved already.
        """
        text = check_reason(reason)

        async def work(tx: WriteTransaction) -> IdentityConflict:
            found = await tx.load_conflicts([seq])
            if not found:
                msg = f"no identity conflict {seq}"
                raise NotFound(msg)
            conflict = found[0]
            if conflict.closure is not None:
                c = conflict.closure
                msg = (
                    f"identity conflict {seq} is already {c.state.value} "
                    f"(by {c.actor} at {c.at.isoformat()}: {c.reason})"
                )
                raise Conflict(msg)
            at = await tx.next_commit_time()
            changes = {
                "identityConflict": FieldChange(None, seq),
                "reason": FieldChange(None, text),
            }
            await tx.apply(
                ChangeSet(
                    at=at,
                    source=ADMIN_SOURCE,
                    scope=ADMIN_SCOPE,
                    actor=actor,
                    run_id=None,
                    run_seq=0,
                    history=[
                        NewHistory(
                            HistoryOp.CONFLICT_DISMISSED, ItemRef(ItemKind.ENTITY, e), changes
                        )
                        for e in dict.fromkeys((conflict.entity_id, conflict.holder_id))
                    ],
                    closed_conflicts=[ClosedConflict(seq, ConflictState.DISMISSED, text)],
                    asserts_created=False,
                )
            )
            closure = ConflictClosure(ConflictState.DISMISSED, from_micros(at), actor, text)
            return replace(conflict, closure=closure)

        return await self.store.transact(work)


async def _live_pair(
    tx: WriteTransaction, survivor: int, other: int
) -> tuple[EntityState, EntityState]:
    """Read both entities; refuse unknown, merged, retired ones and two kinds."""
    try:
        keep, gone = await tx.load_entities([survivor, other])
    except NotFound:
        unknown = []
        for name, entity_id in (("survivor", survivor), ("other", other)):
            try:
                await tx.load_entities([entity_id])
            except NotFound:
                unknown.append(f"{name} (entity {entity_id})")
        msg = "no such entity: " + ", ".join(unknown)
        raise NotFound(msg) from None
    for name, state in (("survivor", keep), ("other", gone)):
        # a merged entity's key is an alias of its survivor now
        holder = (await tx.lookup_keys(state.kind, [state.key])).get(state.key)
        if holder is not None and holder != state.id:
            msg = (
                f"{name} {state.kind.value}/{state.key} (entity {state.id}) was merged into "
                f"entity {holder} already; name that one"
            )
            raise Conflict(msg)
    if keep.kind is not gone.kind:
        msg = (
            f"survivor is a {keep.kind.value} and other a {gone.kind.value}: "
            "only entities of one kind are merged"
        )
        raise InvalidInput(msg)
    for name, state in (("survivor", keep), ("other", gone)):
        if state.status is Status.RETIRED:
            msg = (
                f"{name} {state.kind.value}/{state.key} is retired: a retired entity is not "
                "merged (a batch that asserts it again revives it)"
            )
            raise Conflict(msg)
    return keep, gone


class _Merger:
    """Plans and applies one merge in a write transaction."""

    def __init__(
        self,
        tx: WriteTransaction,
        keep: EntityState,
        gone: EntityState,
        actor: str,
        policy: IngestPolicy,
    ) -> None:
        self.tx, self.keep, self.gone, self.actor, self.policy = tx, keep, gone, actor, policy
        self.history: list[NewHistory] = []
        self.moved: list[tuple[ItemRef, ItemRef]] = []
        self.relation_updates: list[RelationUpdate] = []
        self.relations: dict[tuple[RelationType, int, int], NewRelation] = {}
        self.next_temp = -1

    async def apply(self) -> MergeResult:
        tx, keep, gone = self.tx, self.keep, self.gone
        at = await tx.next_commit_time()
        keep_ref = ItemRef(ItemKind.ENTITY, keep.id)
        gone_ref = ItemRef(ItemKind.ENTITY, gone.id)
        update = self._fold_entity()
        moved, dropped = await self._move_relations()
        label = f"{gone.kind.value}/{gone.key}"
        why = f"merged {label} into {keep.kind.value}/{keep.key}"
        pair = {keep.id, gone.id}
        resolved = [
            c.seq
            for c in await tx.conflicts_of([keep.id, gone.id])
            if c.closure is None and {c.entity_id, c.holder_id} == pair
        ]
        history = [
            NewHistory(
                HistoryOp.MERGED_INTO,
                gone_ref,
                {
                    "mergedInto": FieldChange(None, keep.id),
                    "status": FieldChange(gone.status.value, "merged"),
                },
            ),
            NewHistory(HistoryOp.MERGED, keep_ref, {"merged": FieldChange(None, gone.key)}),
        ]
        if update is not None:
            history.append(NewHistory(HistoryOp.UPDATED, keep_ref, update[1]))
        await tx.apply(
            ChangeSet(
                at=at,
                source=ADMIN_SOURCE,
                scope=ADMIN_SCOPE,
                actor=self.actor,
                run_id=None,
                run_seq=0,
                entity_updates=[update[0]] if update is not None else [],
                merges=[Merge(gone.id, keep.id)],
                relations=list(self.relations.values()),
                relation_updates=self.relation_updates,
                moved_assertions=[(gone_ref, keep_ref), *self.moved],
                history=history + self.history,
                closed_conflicts=[ClosedConflict(s, ConflictState.RESOLVED, why) for s in resolved],
                asserts_created=False,
            )
        )
        return MergeResult(
            survivor_id=keep.id,
            merged_id=gone.id,
            merged_key=gone.key,
            relations_moved=moved,
            relations_dropped=dropped,
            resolved_conflicts=tuple(resolved),
            at=from_micros(at),
        )

    def _fold_entity(self) -> tuple[EntityUpdate, dict[str, FieldChange]] | None:
        """The survivor's new fields with the other's folded in, and what changed."""
        keep, gone = self.keep, self.gone
        fields = _fields(keep)
        provenance = dict(keep.provenance)
        changes = _fold(fields, provenance, _fields(gone), gone.provenance, self.policy)
        if not changes and provenance == dict(keep.provenance):
            return None
        sections = {FieldPath.parse(k).section for k in changes}  # type: ignore[union-attr]
        attributes: dict[str, JsonValue] = {}
        identifiers: dict[str, str] = {}
        for k, v in fields.items():
            path = FieldPath.parse(k)
            if path is None:
                continue
            if path.section is FieldSection.ATTRIBUTES:
                attributes[path.member] = v
            elif path.section is FieldSection.IDENTIFIERS:
                identifiers[path.member] = str(v)
        update = EntityUpdate(
            keep.id,
            name=str(fields["name"]) if FieldSection.NAME in sections else None,
            attributes=attributes if FieldSection.ATTRIBUTES in sections else None,
            identifiers=identifiers if FieldSection.IDENTIFIERS in sections else None,
            provenance=provenance,
        )
        return update, changes

    async def _move_relations(self) -> tuple[int, int]:
        """End every relation of the other entity and carry it onto the survivor."""
        keep, gone = self.keep, self.gone
        touching = await self.tx.relations_touching([gone.id])

        def end(rel: RelationState) -> tuple[RelationType, int, int]:
            src = keep.id if rel.from_id == gone.id else rel.from_id
            dst = keep.id if rel.to_id == gone.id else rel.to_id
            return rel.type, src, dst

        targets = [end(rel) for rel in touching]
        wanted = [t for t in targets if t[1] != t[2]]
        existing = await self.tx.lookup_relations(wanted) if wanted else {}
        moved = dropped = 0
        for rel, triple in zip(touching, targets, strict=True):
            ref = ItemRef(ItemKind.RELATION, rel.id)
            self.relation_updates.append(RelationUpdate(rel.id, merged=True))
            self.history.append(
                NewHistory(
                    HistoryOp.MERGED_INTO, ref, {"status": FieldChange(rel.status.value, "merged")}
                )
            )
            if triple[1] == triple[2]:
                dropped += 1
                continue
            moved += 1
            there = existing.get(triple)
            if there is not None:
                self._fold_relation(rel, there)
                self.moved.append((ref, ItemRef(ItemKind.RELATION, there.id)))
                continue
            created = self.relations.get(triple)
            if created is None:
                created = NewRelation(
                    temp_id=self.next_temp,
                    type=triple[0],
                    from_id=triple[1],
                    to_id=triple[2],
                    status=rel.status,
                    attributes=dict(rel.attributes),
                    provenance=dict(rel.provenance),
                )
                self.next_temp -= 1
                self.relations[triple] = created
            self.moved.append((ref, ItemRef(ItemKind.RELATION, created.temp_id)))
        return moved, dropped

    def _fold_relation(self, rel: RelationState, there: RelationState) -> None:
        """Fold a moved relation's attributes into the survivor's own relation."""
        fields = {attribute_path(k): v for k, v in there.attributes.items()}
        provenance = dict(there.provenance)
        taken = {attribute_path(k): v for k, v in rel.attributes.items()}
        changes = _fold(fields, provenance, taken, rel.provenance, self.policy)
        if not changes:
            return
        attributes: dict[str, JsonValue] = {}
        for k, v in fields.items():
            path = FieldPath.parse(k)
            if path is not None and path.section is FieldSection.ATTRIBUTES:
                attributes[path.member] = v
        self.relation_updates.append(
            RelationUpdate(there.id, attributes=attributes, provenance=provenance)
        )
        self.history.append(
            NewHistory(HistoryOp.UPDATED, ItemRef(ItemKind.RELATION, there.id), changes)
        )
