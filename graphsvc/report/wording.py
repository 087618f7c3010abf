"""How the renderers say things: times, windows, durations, tiers, kinds, paths.

Shared by the HTML and Markdown renderers and the diagram so that every format
words the same fact the same way. Times are always shown in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from graphsvc.analysis.changes import ConflictKind
from graphsvc.analysis.impact import ImpactState, NoticeRole
from graphsvc.model.vocabulary import VOCABULARY, Direction, EntityKind, RelationType
from graphsvc.report.model import (
    AffectedEntity,
    ConflictItem,
    EntityRef,
    PathStepItem,
    ProjectReasonItem,
    RedundancyItem,
    TeamRoleNotice,
    TimeWindow,
)

__all__ = [
    "KIND_PLURAL",
    "KIND_SHORT",
    "Segment",
    "conflict_times",
    "conflict_title",
    "detail_text",
    "duration",
    "held_text",
    "hop_phrase",
    "inheritance_text",
    "kind_count",
    "plural",
    "project_reason_text",
    "reached_phrase",
    "redundancy_segments",
    "ref_text",
    "role_text",
    "segments_text",
    "state_reason",
    "tier_label",
    "time_text",
    "walk",
    "window_text",
]

KIND_SHORT: dict[EntityKind, str] = {k: VOCABULARY.short_name(k) for k in EntityKind}
"""Short kind names for tables and the diagram (declared in the vocabulary)."""

KIND_PLURAL: dict[EntityKind, tuple[str, str]] = {k: VOCABULARY.kinds[k].noun for k in EntityKind}
"""Singular and plural words for each kind (declared in the vocabulary)."""

_FORWARD = {
    RelationType.DEPENDS_ON: "depends on",
    RelationType.RUNS_ON: "runs on",
    RelationType.PART_OF: "part of",
}
_BACKWARD = {
    RelationType.DEPENDS_ON: "needed by",
    RelationType.RUNS_ON: "hosts",
    RelationType.PART_OF: "contains",
}


def plural(n: int, word: str, words: str | None = None) -> str:
    """Return ``"1 word"`` or ``"2 words"`` (thousands separated: ``"12,000 words"``)."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def kind_count(n: int, kind: EntityKind) -> str:
    """Return ``"3 configuration items"``."""
    one, many = KIND_PLURAL[kind]
    return plural(n, one, many)


def time_text(moment: datetime) -> str:
    """Return ``"2025-03-24 19:00 UTC"`` (seconds only when not zero)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S UTC" if utc.second else "%Y-%m-%d %H:%M UTC")


def duration(span: timedelta) -> str:
    """Return a short duration: ``"45 min"``, ``"2 h"``, ``"1 h 30 min"``, ``"3 d 2 h"``."""
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} d")
    if hours:
        parts.append(f"{hours} h")
    if mins and not days:
        parts.append(f"{mins} min")
    return " ".join(parts) or "0 min"


def window_text(window: TimeWindow | None, *, missing: str = "no planned window") -> str:
    """Return ``"2025-03-24 19:00 → 21:00 UTC (2 h)"`` (the end's date when it differs).

    The window is half-open: it ends just before ``end``.
    """
    if window is None:
        return missing
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    start_text = time_text(start).removesuffix(" UTC")
    if end.date() == start.date():
        end_text = end.strftime("%H:%M:%S" if end.second else "%H:%M")
    else:
        end_text = time_text(end).removesuffix(" UTC")
    return f"{start_text} → {end_text} UTC ({duration(end - start)})"


def tier_label(tier: int | None) -> str:
    """Return ``"Tier 1"`` or ``"No tier"``."""
    return f"Tier {tier}" if tier is not None else "No tier"


def hop_phrase(step: PathStepItem, walked_from: EntityRef) -> str:
    """Say how impact crossed ``step`` from ``walked_from`` to the other end.

    ``db needed by app`` for ``app DEPENDS_ON db`` walked from ``db``;
    ``disk part of array`` for ``disk PART_OF array`` walked from ``disk``.
    """
    forward = _same(step.from_, walked_from)
    table = _FORWARD if forward else _BACKWARD
    found = table.get(step.type)
    if found is not None:
        return found
    name = step.type.value.lower().replace("_", " ")
    return name if forward else f"{name} (reverse)"


def reached_phrase(entity: AffectedEntity) -> str | None:
    """Say how ``entity`` relates to its ``reachedFrom``, from the entity's side.

    The phrase goes before the ``reachedFrom`` key, so that the cell reads as a
    sentence about the entity: ``depends on nbh-dc01`` (``entity DEPENDS_ON
    nbh-dc01``), ``runs on vm-7``, ``contains disk-2`` (``disk-2 PART_OF
    entity``). ``None`` for a modified entity.
    """
    parent, relation, walked = entity.reached_from, entity.relation, entity.walked
    if parent is None or relation is None or walked is None:
        return None
    if walked is Direction.OUT:
        step = PathStepItem(type=relation, from_=parent, to=entity.entity)
    else:
        step = PathStepItem(type=relation, from_=entity.entity, to=parent)
    return hop_phrase(step, entity.entity)


Segment = tuple[str, bool]
"""A piece of worded text and whether it is an entity key (renderers set keys apart)."""


def segments_text(parts: Sequence[Segment]) -> str:
    """Return segments as plain text."""
    return "".join(text for text, _ in parts)


def _keys(refs: Sequence[EntityRef], limit: int = 5) -> list[Segment]:
    out: list[Segment] = []
    for i, r in enumerate(refs[:limit]):
        if i:
            out.append((", ", False))
        out.append((r.key, True))
    if len(refs) > limit:
        out.append((f" and {len(refs) - limit:,} more", False))
    return out


def redundancy_segments(item: RedundancyItem, entity: EntityRef) -> list[Segment]:
    """Say which surviving members keep ``entity`` up, as segments.

    ``nbh-dc02, sa-dc01 survive in group ad-dcs (1 of 3 members DOWN:
    nbh-dc01)``; a survivor that is DEGRADED itself is marked so; for an
    entity that is DEGRADED only through what it needs, the text starts with
    ``through identity-ad:`` (the group's holder).
    """
    out: list[Segment] = []
    if not _same(item.holder, entity):
        out += [("through ", False), (item.holder.key, True), (": ", False)]
    survivors = item.survivors
    if survivors:
        for i, s in enumerate(survivors[:5]):
            if i:
                out.append((", ", False))
            out.append((s.entity.key, True))
            if s.degraded:
                out.append((" (itself DEGRADED)", False))
        if len(survivors) > 5:
            out.append((f" and {len(survivors) - 5:,} more", False))
        out.append((" survives" if len(survivors) == 1 else " survive", False))
    else:
        out.append(("a member that can no longer be walked (retired?) survives", False))
    out += [(" in group ", False), (item.group, False)]
    out.append((f" ({len(item.failed):,} of {plural(item.members, 'member')} DOWN: ", False))
    out += _keys(item.failed)
    out.append((")", False))
    return out


def state_reason(
    entity: EntityRef, state: ImpactState, depth: int, kept_up_by: Sequence[RedundancyItem]
) -> list[list[Segment]]:
    """Say why an impact-set entity is in its state, one line of segments per reason.

    DEGRADED: what keeps it up (:func:`redundancy_segments`, one line per
    group of ``kept_up_by``). DOWN: modified by the change (``depth`` 0), or
    no surviving alternative.
    """
    if state is ImpactState.DEGRADED:
        if kept_up_by:
            return [redundancy_segments(i, entity) for i in kept_up_by]
        return [[("reached only through redundant alternatives", False)]]
    if depth == 0:
        return [[("modified by this change", False)]]
    return [[("no surviving alternative", False)]]


def held_text(items: Sequence[RedundancyItem], entity: EntityRef) -> str:
    """Return what keeps ``entity`` up in one plain line (the diagram's tooltips)."""
    return "; ".join(segments_text(redundancy_segments(i, entity)) for i in items)


def walk(path: Sequence[PathStepItem], end: EntityRef) -> list[tuple[EntityRef, str | None]]:
    """Return a path in walk order as (entity, phrase from the previous entity).

    The first item is the modified entity the path leaves (phrase ``None``), the
    last is ``end``. An empty path gives ``[(end, None)]``.
    """
    chain: list[tuple[EntityRef, str | None]] = []
    current = end
    for step in reversed(path):
        previous = step.to if _same(step.from_, current) else step.from_
        chain.append((current, hop_phrase(step, previous)))
        current = previous
    chain.append((current, None))
    chain.reverse()
    return chain


def _same(a: EntityRef, b: EntityRef) -> bool:
    return a.kind is b.kind and a.key == b.key


def ref_text(ref: EntityRef) -> str:
    """Return ``"Service billing (Patient Billing)"``: kind, key, and name when it differs."""
    text = f"{KIND_SHORT[ref.kind]} {ref.key}"
    return text + (f" ({ref.name})" if ref.name and ref.name != ref.key else "")


def conflict_title(conflict: ConflictItem) -> str:
    """Return what a conflict is about, in a heading.

    ``"Collides with change CHG0041221 (scheduled)"``, ``"Inside blackout window
    blackout-billing-month-end-close"``, ``"Outside the maintenance windows of
    Service billing"``.
    """
    other = conflict.other
    if conflict.kind is ConflictKind.COLLISION:
        state = f" ({conflict.other_state})" if conflict.other_state else ""
        return f"Collides with change {other.key}{state}"
    if conflict.kind is ConflictKind.BLACKOUT:
        return f"Inside blackout window {other.key}"
    target = conflict.entities[0] if conflict.entities else None
    return "Outside the maintenance windows" + (f" of {ref_text(target)}" if target else "")


def conflict_times(conflict: ConflictItem, this_window: TimeWindow | None) -> list[tuple[str, str]]:
    """Return the "when" of a conflict as (label, text) lines."""
    other = conflict.other
    this = ("This change", window_text(this_window))
    if conflict.kind is ConflictKind.COLLISION:
        lines = [this, (f"Change {other.key}", window_text(conflict.other_window))]
    elif conflict.kind is ConflictKind.BLACKOUT:
        lines = [(f"Blackout {other.key}", window_text(conflict.other_window)), this]
    else:
        lines = [this, (f"Maintenance window {other.key}", window_text(conflict.other_window))]
    if conflict.overlap is not None:
        lines.append(("Overlap", window_text(conflict.overlap)))
    if conflict.reason:
        lines.append(("Reason", conflict.reason))
    return lines


def role_text(notice: TeamRoleNotice) -> str:
    """Return ``"owner of 3 affected entities"`` / ``"support for 1 affected entity"``."""
    what = plural(notice.affected, "affected entity", "affected entities")
    return f"owner of {what}" if notice.role is NoticeRole.OWNER else f"support for {what}"


def inheritance_text(notice: TeamRoleNotice) -> str:
    """Return how the role came: ``"direct"``, ``"inherited via a, b"`` or a mix.

    A notice is inherited when the team serves none of the affected entities
    directly, only PART_OF ancestors (``via``); a direct notice may also be
    inherited for some entities.
    """
    if not notice.via:
        return "inherited" if notice.inherited else "direct"
    names = ", ".join(v.key for v in notice.via)
    more = notice.via_count - len(notice.via)
    if more > 0:
        names += f" and {more:,} more"
    if notice.inherited:
        return f"inherited via {names}"
    return f"direct; also inherited via {names}"


def project_reason_text(reason: ProjectReasonItem) -> str:
    """Return why a project is affected, without the example entities."""
    what = plural(reason.count, "affected entity", "affected entities")
    if reason.relation is RelationType.IMPLEMENTS:
        keys = ", ".join(c.key for c in reason.changes)
        if len(reason.changes) == 1:
            return f"its open change {keys} modifies {what}"
        return f"its open changes {keys} modify {what}".replace("  ", " ")
    verbs = {
        RelationType.DEPENDS_ON: "depends on",
        RelationType.DELIVERS: "delivers",
        RelationType.CONSOLIDATES: "consolidates",
    }
    return f"{verbs.get(reason.relation, reason.relation.value)} {what}"


def detail_text(entity: AffectedEntity) -> str:
    """Return a service's tier or a CI's class (empty for other kinds)."""
    if entity.tier is not None:
        return f"tier {entity.tier}"
    return entity.ci_class or ""
