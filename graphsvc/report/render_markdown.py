"""The Markdown format of the change report (CommonMark with GFM tables).

Same sections, in the same order, as the HTML format, warnings first (as a
block quote above the verdict); the diagram is only in the HTML (a line says
so). Every string from the graph goes through
:func:`md_text`, so names with ``|``, ``*``, ``<``, backticks or line breaks
neither break a table nor turn into markup.
"""

from __future__ import annotations

from collections import defaultdict

from graphsvc.analysis.impact import ImpactState
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.report.model import (
    AffectedEntity,
    Assignee,
    ChangeReport,
    ChangeTask,
    ConflictItem,
    EntityRef,
    PathStepItem,
    RedundancyItem,
    ServiceTierGroup,
    TeamToNotify,
)
from graphsvc.report.wording import (
    KIND_SHORT,
    Segment,
    conflict_times,
    conflict_title,
    detail_text,
    inheritance_text,
    kind_count,
    plural,
    project_reason_text,
    reached_phrase,
    role_text,
    state_reason,
    tier_label,
    time_text,
    walk,
    window_text,
)

CONFLICT_ENTITIES_SHOWN = 20
"""A conflict names at most this many of its entities (the JSON format holds up to 50)."""

__all__ = ["md_text", "render_markdown"]

_SPECIAL = frozenset("\\`*_[]<>|~&#!")


def md_text(text: str) -> str:
    r"""Escape ``text`` for inline Markdown (and GFM table cells).

    Backslash-escapes every character that could start markup or end a table
    cell (``\ ` * _ [ ] < > | ~ & # !``) and turns line breaks and tabs into
    spaces, so the text renders exactly as given, on one line.
    """
    flat = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return "".join("\\" + c if c in _SPECIAL else c for c in flat)


def _ref(ref: EntityRef, *, kind: bool = True) -> str:
    head = f"{KIND_SHORT[ref.kind]} " if kind else ""
    name = f" ({md_text(ref.name)})" if ref.name and ref.name != ref.key else ""
    return f"{head}**{md_text(ref.key)}**{name}"


def _refs(refs: list[EntityRef], total: int | None = None) -> str:
    if not refs:
        return "none"
    more = (total or len(refs)) - len(refs)
    return ", ".join(_ref(r) for r in refs) + (f" and {more:,} more" if more > 0 else "")


def _path(path: list[PathStepItem], end: EntityRef) -> str:
    if not path:
        return "modified by this change"
    parts = []
    for ref, phrase in walk(path, end):
        if phrase is not None:
            parts.append(f"*{md_text(phrase)} →*")
        parts.append(md_text(ref.key))
    return " ".join(parts)


def _segments(parts: list[Segment]) -> str:
    return "".join(f"**{md_text(t)}**" if is_key else md_text(t) for t, is_key in parts)


def _why(
    entity: EntityRef, state: ImpactState, depth: int, kept_up_by: list[RedundancyItem]
) -> str:
    return "<br>".join(_segments(line) for line in state_reason(entity, state, depth, kept_up_by))


def _change_task(t: ChangeTask) -> str:
    """A task the change carries out: the task, its status, due date and effort."""
    facts = [md_text(t.status or "status not stated")]
    if t.due is not None:
        facts.append(f"due {t.due.date().isoformat()}")
    if t.effort_hours is not None:
        facts.append(f"{t.effort_hours:g} h")
    return f"{_ref(t.task)} ({', '.join(facts)})"


def _assignee(a: Assignee) -> str:
    parts = [_ref(a.assignee) + (f" ({md_text(a.status)})" if a.status != "active" else "")]
    if a.role:
        parts.append(md_text(a.role))
    parts += [f"{md_text(c.channel)}: {md_text(c.value)}" for c in a.contacts]
    if a.members:
        more = a.member_count - len(a.members)
        parts.append(
            "members: "
            + ", ".join(md_text(m.person.name) for m in a.members)
            + (f" and {more:,} more" if more else "")
        )
    elif a.assignee.kind is EntityKind.TEAM:
        escalate = ", ".join(md_text(p.key) for p in a.escalate_to)
        parts.append("⚠ no members" + (f", escalate to {escalate}" if escalate else ""))
    return " · ".join(parts)


def _row(*cells: str) -> str:
    return "| " + " | ".join(c or " " for c in cells) + " |"


def render_markdown(report: ChangeReport) -> str:
    """Return the report as a Markdown document (ends with a newline)."""
    out: list[str] = []
    out += _summary(report)
    out += _conflicts(report)
    out += [
        "## Impact diagram",
        "",
        "The diagram of the impact is drawn in the HTML format of this report "
        "(`graphsvc report change KEY --format html`).",
        "",
    ]
    out += _services(report)
    out += _teams(report)
    out += _projects(report)
    out += _entities(report)
    out += [
        "---",
        "",
        "DOWN: a failed dependency that no redundant alternative covers (modified entities "
        "are DOWN). DEGRADED: reached, but every failed dependency is covered by a surviving "
        "member of a redundancy group (*What keeps it up* names the group and the survivors; "
        "an entity DEGRADED only because what it needs is DEGRADED is kept up through that "
        "entity). Risk score: the sum of the factors' points, capped at 100 (below 30 low, "
        "below 60 medium, from 60 high). Windows are half-open; all times are UTC. "
        f"Report format version {report.report_version}.",
        "",
    ]
    return "\n".join(out)


def _summary(report: ChangeReport) -> list[str]:
    info = report.change
    change = info.change
    s = report.summary
    risk = report.risk
    name = f" — {md_text(change.name)}" if change.name != change.key else ""
    as_of = time_text(report.as_of) if report.as_of else "now (when generated)"
    tiers = (
        "; ".join(
            f"{tier_label(t.tier)}: {t.count:,} ({t.down:,} DOWN, {t.degraded:,} DEGRADED)"
            for t in s.services_by_tier
        )
        or "none"
    )
    out = [
        f"# Change review: {md_text(change.key)}{name}",
        "",
        f"Generated {time_text(report.generated_at)} · graph as of {as_of}",
        "",
    ]
    for warning in report.warnings:
        out += [f"> **⚠ Warning:** {md_text(warning.message)}", ""]

    def stated(value: str | None) -> str:
        return md_text(value) if value else "⚠ not stated"

    declared = info.declared_risk or "none"
    assigned = "; ".join(_assignee(a) for a in info.assigned_to) or "⚠ not stated"
    out += [
        "## Summary",
        "",
        f"**Verdict: {md_text(s.verdict)}**",
        "",
        f"**Risk score: {risk.score} of 100 ({risk.band.value} risk; declared: "
        f"{md_text(declared)})**",
        "",
        f"- **Planned window:** {md_text(window_text(info.window))}",
        f"- **Type:** {md_text(info.change_type or 'not stated')}",
        f"- **State:** {md_text(info.state or 'not stated')}"
        + (f" (entity {md_text(info.status)})" if info.status != "active" else ""),
        f"- **Approval:** {stated(info.approval)}",
        f"- **Requested by:** {stated(info.requested_by)}",
        f"- **Assigned to:** {assigned}",
        f"- **Declared risk:** {stated(info.declared_risk)} (computed: {risk.score} of 100, "
        f"{risk.band.value})",
    ]
    if info.effort_hours is not None:
        out.append(f"- **Effort:** {info.effort_hours:g} h")
    if info.tasks:
        out.append("- **Carries out:** " + "; ".join(_change_task(t) for t in info.tasks))
    if info.configuration_item:
        out.append(f"- **Configuration item (change tool):** {md_text(info.configuration_item)}")
    out += [
        "- **Modifies:** "
        + (
            _refs(report.start_set[:8], len(report.start_set))
            if report.start_set
            else "⚠ nothing the graph knows"
        ),
        f"- **Impact set:** {plural(s.impact_set, 'entity', 'entities')}: {s.down:,} DOWN, "
        f"{s.degraded:,} DEGRADED"
        + (f", up to {plural(s.deepest, 'hop')} away" if s.deepest else "")
        + (f", {s.stale:,} stale" if s.stale else ""),
        f"- **Services affected:** {tiers}",
        f"- **Notify:** {plural(s.teams, 'team')}, {plural(s.projects, 'affected project')}",
        f"- **Back-out plan:** {stated(info.backout_plan)}",
        f"- **Test plan:** {stated(info.test_plan)}",
        "",
        "### Why this risk score",
        "",
        _row("Factor", "Value", "Points", "Why"),
        "| --- | --- | ---: | --- |",
    ]
    out += [
        _row(md_text(f.name), md_text(f.value), str(f.points), md_text(f.explanation))
        for f in risk.factors
    ]
    out += [_row("**Score (capped at 100)**", "", f"**{risk.score}**", ""), ""]
    return out


def _conflicts(report: ChangeReport) -> list[str]:
    out = [f"## Conflicts ({len(report.conflicts)})", ""]
    if not report.conflicts:
        out += [
            "No conflicts: no open change overlapping in time shares the impact set, no "
            "blackout window applies to it, and no maintenance window is left.",
            "",
        ]
    for number, conflict in enumerate(report.conflicts, start=1):
        out += _conflict(number, conflict, report)
    return out


def _conflict(number: int, conflict: ConflictItem, report: ChangeReport) -> list[str]:
    other = conflict.other
    name = f" — {md_text(other.name)}" if other.name != other.key else ""
    out = [f"### {number}. {conflict.kind.value}: {md_text(conflict_title(conflict))}{name}", ""]
    for label, text in conflict_times(conflict, report.change.window):
        out.append(f"- **{md_text(label)}:** {md_text(text)}")
    out += [
        f"- **{f'Entities ({conflict.total_entities:,})'}:** "
        f"{_refs(conflict.entities[:CONFLICT_ENTITIES_SHOWN], conflict.total_entities)}",
        "",
        md_text(conflict.explanation),
        "",
    ]
    return out


def _services(report: ChangeReport) -> list[str]:
    total = sum(g.count for g in report.services)
    out = [f"## Affected services by tier ({total:,})", ""]
    if not report.services:
        out += ["No service is in the impact set.", ""]
    for group in report.services:
        out += _tier(group)
    return out


def _tier(group: ServiceTierGroup) -> list[str]:
    out = [
        f"### {tier_label(group.tier)}: {plural(group.count, 'service')} "
        f"({group.down:,} DOWN, {group.degraded:,} DEGRADED)",
        "",
    ]
    if group.listed < group.count:
        out += [
            f"The first {group.listed:,} of {group.count:,} are listed (DOWN first, nearest "
            "first); every one is in the entity list below.",
            "",
        ]
    out += [
        _row("Service", "State", "Hops", "Path from the change", "What keeps it up"),
        "| --- | --- | ---: | --- | --- |",
    ]
    for s in group.services:
        stale = " (stale)" if s.stale else ""
        out.append(
            _row(
                _ref(s.service, kind=False) + stale,
                s.state.value,
                str(s.depth),
                _path(s.path, s.service),
                _why(s.service, s.state, s.depth, s.kept_up_by),
            )
        )
    out.append("")
    return out


def _teams(report: ChangeReport) -> list[str]:
    out = [f"## Teams to notify ({len(report.teams):,})", ""]
    if not report.teams:
        return [*out, "No affected entity has an owner or support team.", ""]
    out += [_row("Team", "Why", "Contacts", "Members"), "| --- | --- | --- | --- |"]
    out += [_team_row(t) for t in report.teams]
    out.append("")
    return out


def _team_row(team: TeamToNotify) -> str:
    warnings = "".join(f"<br>⚠ {md_text(w)}" for w in team.warnings)
    roles = "<br>".join(
        f"{md_text(role_text(r))} ({md_text(inheritance_text(r))})" for r in team.roles
    )
    contacts = "<br>".join(f"{md_text(c.channel)}: {md_text(c.value)}" for c in team.contacts)
    members = [
        md_text(m.person.name)
        + (f" · {md_text(m.role)}" if m.role else "")
        + (f" · {md_text(m.email)}" if m.email else "")
        for m in team.members
    ]
    if team.member_count > len(team.members):
        members.append(f"and {team.member_count - len(team.members):,} more")
    if team.escalate_to:
        members.append("escalate to " + ", ".join(md_text(p.key) for p in team.escalate_to))
    return _row(
        _ref(team.team, kind=False) + warnings,
        roles,
        contacts or "none",
        "<br>".join(members) or "none",
    )


def _projects(report: ChangeReport) -> list[str]:
    out = [f"## Affected projects ({len(report.projects):,})", ""]
    if not report.projects:
        return [*out, "No project is affected.", ""]
    out += [_row("Project", "Why"), "| --- | --- |"]
    for p in report.projects:
        reasons = "<br>".join(
            f"{md_text(project_reason_text(r))}: {_refs(r.entities, r.count)}" for r in p.reasons
        )
        out.append(_row(_ref(p.project, kind=False), reasons))
    out.append("")
    return out


_KIND_ORDER = VOCABULARY.kinds_in_report_order


def _entities(report: ChangeReport) -> list[str]:
    listing = report.affected
    out = [
        f"## Affected entities ({listing.total:,})",
        "",
        "Every entity of the impact set, modified entities first, then by hops from them. "
        "*Reached from* is the previous entity on one shortest path.",
        "",
    ]
    if listing.listed < listing.total:
        out += [
            f"The listing stops after {listing.listed:,} of {listing.total:,} entities "
            "(breadth-first); the counts above are complete.",
            "",
        ]
    groups: dict[EntityKind, list[AffectedEntity]] = defaultdict(list)
    for e in listing.entities:
        groups[e.entity.kind].append(e)
    for kind in _KIND_ORDER:
        rows = groups.get(kind)
        if not rows:
            continue
        down = sum(1 for e in rows if e.state is ImpactState.DOWN)
        out += [
            f"### {kind_count(len(rows), kind).capitalize()} "
            f"({down:,} DOWN, {len(rows) - down:,} DEGRADED)",
            "",
            _row(
                "Key",
                "Name",
                "Tier" if kind is EntityKind.SERVICE else "Class",
                "State",
                "Hops",
                "Reached from",
                "What keeps it up",
            ),
            "| --- | --- | --- | --- | ---: | --- | --- |",
        ]
        for e in rows:
            phrase = reached_phrase(e)
            came = (
                f"*{md_text(phrase)}* {md_text(e.reached_from.key)}"
                if e.reached_from is not None and phrase is not None
                else "modified"
            )
            out.append(
                _row(
                    md_text(e.entity.key),
                    md_text(e.entity.name) if e.entity.name != e.entity.key else "",
                    md_text(detail_text(e)),
                    e.state.value + (" (stale)" if e.stale else ""),
                    str(e.depth),
                    came,
                    _why(e.entity, e.state, e.depth, e.kept_up_by),
                )
            )
        out.append("")
    return out
