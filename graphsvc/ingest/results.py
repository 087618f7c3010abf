"""What an ingest reports back."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import JsonValue

from graphsvc.model.records import RunState

__all__ = ["UNAPPLIED_LIMIT", "IngestSummary", "PlannedChange", "UnappliedWrite"]


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """One change an ingest made or (in a dry run) would make.

    Attributes:
        op: ``create``, ``update``, ``merge``, ``alias``, ``stale``, ``retire``, ``revive``.
        item: ``entity`` or ``relation``.
        label: ``Kind/key`` or ``TYPE Kind/key -> Kind/key``.
        fields: The fields that change (for ``update``).
    """

    op: str
    item: str
    label: str
    fields: tuple[str, ...] = ()


WARNING_LIMIT = 100
"""Most warnings one summary carries (a load of a million odd attributes says so 100 times)."""

UNAPPLIED_LIMIT = 1000
"""Most unapplied writes one summary lists (``unapplied_total`` counts them all)."""


@dataclass(frozen=True, slots=True)
class UnappliedWrite:
    """A field an item sent that the reconciliation rule did not write (PRODUCT.md 8).

    A source may overwrite a field set by a source of lower or equal priority,
    never a higher one (PRODUCT.md 2, "Reconciliation"). A write is *not
    applied* when the field is held by another source of higher priority and
    the item sends a different value, or sends ``null`` to remove it. Sending
    the value the field already has is no conflict and is not listed; nor is a
    write of an equal-priority source, which is applied (the later write wins:
    the earlier source learns of it from the event feed). The losing source
    corrects its copy to ``kept``, or has its priority raised.

    Attributes:
        item: ``entity`` or ``relation``.
        section: ``entities`` or ``relations``: where the item is in the batch.
        index: The item's position in ``section`` of its batch (for an NDJSON
            stream, its line number).
        label: The item as the batch named it: ``Kind/key``, or
            ``TYPE Kind/key -> Kind/key`` for a relation.
        field: ``name``, ``attributes.<a>`` or ``identifiers.<t>`` (identifier
            values as the vocabulary normalises them).
        sent: The value the item sent (``None``: it asked to remove the field).
        kept: The value the field keeps.
        holder: The source that holds the field.
        holder_priority: The holder's priority.
        sender: The source of the batch.
        sender_priority: Its priority (lower than ``holder_priority``).
        reason: The same in one sentence.
    """

    item: str
    section: str
    index: int
    label: str
    field: str
    sent: JsonValue
    kept: JsonValue
    holder: str
    holder_priority: int
    sender: str
    sender_priority: int
    reason: str


@dataclass(frozen=True, slots=True)
class IngestSummary:
    """Counts of what one batch, or one run's finish, changed.

    Attributes:
        run_id: The run the batch belongs to (the implicit run of a lone batch).
        run_state: The run's state afterwards.
        dry_run: Nothing was written; the counts say what would have changed.
        entities_created: New entities.
        entities_updated: Entities whose name, attributes or identifiers changed.
        entities_unchanged: Entities asserted again with nothing to change.
        relations_created: New relations.
        relations_updated: Relations whose attributes changed.
        relations_unchanged: Relations asserted again with nothing to change.
        merged: Incoming keys identified as an existing entity through a
            shared identifier (the key became an alias).
        revived: Stale or retired items seen again (now active).
        retired: Items retired (explicitly, or after missing too many complete runs).
        marked_stale: Items no source asserts any more after a complete run.
        identity_conflicts: Identifier values items carried that another
            entity keeps (recorded; see ``identityConflicts``).
        warnings: What was accepted but may be a mistake (an attribute that is
            not well-known for its kind, with the nearest well-known one).
        changes: In a dry run, the planned changes (at most ``change_limit``).
        unapplied: Writes the reconciliation rule did not apply because a
            source of higher priority holds the field (at most
            :data:`UNAPPLIED_LIMIT`, in batch order; a dry run lists the ones
            it would not apply; a run's finish writes no field, so none).
        unapplied_total: How many writes were not applied (all of them, also
            beyond the ones listed).
    """

    run_id: str | None = None
    run_state: RunState | None = None
    dry_run: bool = False
    entities_created: int = 0
    entities_updated: int = 0
    entities_unchanged: int = 0
    relations_created: int = 0
    relations_updated: int = 0
    relations_unchanged: int = 0
    merged: int = 0
    revived: int = 0
    retired: int = 0
    marked_stale: int = 0
    identity_conflicts: int = 0
    warnings: tuple[str, ...] = field(default=())
    changes: tuple[PlannedChange, ...] = field(default=())
    unapplied: tuple[UnappliedWrite, ...] = field(default=())
    unapplied_total: int = 0

    @property
    def created(self) -> int:
        """Entities and relations created."""
        return self.entities_created + self.relations_created

    @property
    def updated(self) -> int:
        """Entities and relations updated."""
        return self.entities_updated + self.relations_updated

    @property
    def unchanged(self) -> int:
        """Entities and relations asserted again without change."""
        return self.entities_unchanged + self.relations_unchanged

    def __add__(self, other: IngestSummary) -> IngestSummary:
        """Add the counts of two summaries (the later run id and state win)."""
        return IngestSummary(
            run_id=other.run_id or self.run_id,
            run_state=other.run_state or self.run_state,
            dry_run=self.dry_run and other.dry_run,
            entities_created=self.entities_created + other.entities_created,
            entities_updated=self.entities_updated + other.entities_updated,
            entities_unchanged=self.entities_unchanged + other.entities_unchanged,
            relations_created=self.relations_created + other.relations_created,
            relations_updated=self.relations_updated + other.relations_updated,
            relations_unchanged=self.relations_unchanged + other.relations_unchanged,
            merged=self.merged + other.merged,
            revived=self.revived + other.revived,
            retired=self.retired + other.retired,
            identity_conflicts=self.identity_conflicts + other.identity_conflicts,
            warnings=(self.warnings + other.warnings)[:WARNING_LIMIT],
            marked_stale=self.marked_stale + other.marked_stale,
            changes=self.changes + other.changes,
            unapplied=(self.unapplied + other.unapplied)[:UNAPPLIED_LIMIT],
            unapplied_total=self.unapplied_total + other.unapplied_total,
        )
