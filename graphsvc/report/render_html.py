"""The HTML format of the change report: one self-contained, printable file.

The document carries its own CSS (system font stack, a print stylesheet for A4
and PDF) and the impact diagram as inline SVG; it loads nothing (a
Content-Security-Policy forbids every fetch and every script) and runs no
script. Every string from the graph is escaped with :func:`html.escape`. Long
names wrap anywhere instead of widening the page.

Large lists are folded with ``<details>``: a tier with more than
:data:`OPEN_ROWS` services and each kind of the entity listing with more than
:data:`OPEN_ROWS` entities start closed (closed sections are not printed).

Warnings (an empty start set, a named configuration item the change does not
modify) come first, above the verdict. Text is never cut: long keys, names
and plans wrap.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from html import escape

from graphsvc.analysis.changes import ConflictKind
from graphsvc.analysis.impact import ImpactState
from graphsvc.model.vocabulary import VOCABULARY, EntityKind
from graphsvc.report.diagram import RenderedDiagram
from graphsvc.report.model import (
    AffectedEntity,
    Assignee,
    ChangeReport,
    ChangeTask,
    ConflictItem,
    Contact,
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

__all__ = ["OPEN_ROWS", "EntityLink", "render_html", "render_html_body"]

EntityLink = Callable[[EntityRef], "str | None"]
"""Where an entity the report names links to (``None``: not linked).

The standalone report links nothing; the explorer's change page passes one that
points at its own pages."""

OPEN_ROWS = 200
"""Groups with more rows than this start folded."""

_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")

CSS = """
:root {
  --ink:#1b1f24;
  --muted:#5b6472;
  --line:#d9dee5;
  --soft:#f5f7fa;
  --accent:#1f3a5f;
  --down:#b3261e;
  --down-bg:#fdecea;
  --deg:#8a5a00;
  --deg-bg:#fff4d6;
  --ok:#1e6b3a;
  --ok-bg:#e7f5ec;
  --mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono","DejaVu Sans Mono",
    monospace;
}
* {
  box-sizing:border-box;
}
html {
  -webkit-text-size-adjust:100%;
}
body {
  margin:0;
  background:#eef1f5;
  color:var(--ink);
  font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",
    "Liberation Sans",sans-serif;
}
main {
  max-width:1160px;
  margin:24px auto;
  background:#fff;
  padding:36px 48px 28px;
  border-radius:6px;
  box-shadow:0 1px 3px rgba(16,24,40,.08),0 1px 2px rgba(16,24,40,.04);
}
h1,h2,h3,p,td,th,dd,dt,li,summary,figcaption,.k {
  overflow-wrap:anywhere;
}
h1 {
  font-size:26px;
  line-height:1.25;
  margin:4px 0 6px;
}
h1 .key {
  font-family:var(--mono);
  font-weight:650;
}
h1 .name {
  font-weight:450;
  color:#30363d;
}
h2 {
  font-size:19px;
  line-height:1.3;
  margin:38px 0 12px;
  padding-bottom:6px;
  border-bottom:2px solid var(--line);
}
h2 .n {
  display:inline-block;
  min-width:1.7em;
  margin-left:6px;
  padding:0 7px;
  border-radius:10px;
  background:var(--soft);
  color:var(--muted);
  font-size:14px;
  text-align:center;
  vertical-align:2px;
}
h3 {
  font-size:15.5px;
  margin:0;
}
.eyebrow {
  text-transform:uppercase;
  letter-spacing:.08em;
  font-size:12px;
  color:var(--muted);
  font-weight:600;
}
.meta {
  color:var(--muted);
  font-size:13px;
  margin:0;
}
.k {
  font-family:var(--mono);
  font-size:.92em;
}
.muted {
  color:var(--muted);
}
.verdict {
  display:flex;
  gap:22px;
  align-items:center;
  margin:22px 0 18px;
  padding:16px 20px;
  border-radius:8px;
  border:1px solid var(--line);
  border-left:6px solid var(--muted);
  background:var(--soft);
}
.verdict.low {
  border-left-color:var(--ok);
}
.verdict.medium {
  border-left-color:#c77700;
}
.verdict.high {
  border-left-color:var(--down);
}
.score {
  flex:0 0 auto;
  text-align:center;
  min-width:92px;
}
.score .num {
  display:block;
  font-size:38px;
  font-weight:700;
  line-height:1;
}
.score .of {
  font-size:12px;
  color:var(--muted);
}
.score .band {
  display:block;
  margin-top:4px;
  font-size:12px;
  font-weight:700;
  text-transform:uppercase;
  letter-spacing:.06em;
}
.low .band {
  color:var(--ok);
}
.medium .band {
  color:#a35f00;
}
.high .band {
  color:var(--down);
}
.verdict-line {
  font-size:18px;
  font-weight:600;
  margin:0;
}
.facts {
  display:grid;
  grid-template-columns:repeat(auto-fit,minmax(250px,1fr));
  gap:10px 28px;
  margin:0 0 8px;
}
.facts div {
  border-top:1px solid var(--line);
  padding-top:6px;
}
.facts dt {
  font-size:12px;
  text-transform:uppercase;
  letter-spacing:.05em;
  color:var(--muted);
  font-weight:600;
}
.facts dd {
  margin:2px 0 0;
}
table {
  width:100%;
  border-collapse:collapse;
  margin:8px 0 4px;
  font-size:14px;
}
th,td {
  text-align:left;
  vertical-align:top;
  padding:6px 8px;
  border-bottom:1px solid var(--line);
}
th {
  font-size:12px;
  text-transform:uppercase;
  letter-spacing:.04em;
  color:var(--muted);
  font-weight:600;
  background:var(--soft);
  border-bottom:1px solid #c8ced8;
}
td.num,th.num {
  text-align:right;
  white-space:nowrap;
}
tr.zero td {
  color:var(--muted);
}
td.name {
  white-space:nowrap;
}
table.fixed {
  table-layout:fixed;
}
.st {
  display:inline-block;
  padding:0 6px;
  border-radius:4px;
  font-size:11.5px;
  font-weight:700;
  letter-spacing:.03em;
  white-space:nowrap;
}
.st.d {
  background:var(--down-bg);
  color:var(--down);
}
.st.g {
  background:var(--deg-bg);
  color:var(--deg);
}
.tag {
  display:inline-block;
  padding:0 6px;
  border-radius:4px;
  font-size:11.5px;
  background:var(--soft);
  color:var(--muted);
  border:1px solid var(--line);
  white-space:nowrap;
}
.tag.warn {
  background:var(--deg-bg);
  color:var(--deg);
  border-color:#f0d48a;
}
.hop {
  color:var(--muted);
  font-size:.86em;
  white-space:nowrap;
}
.conflict {
  border:1px solid var(--line);
  border-left:5px solid var(--down);
  border-radius:6px;
  padding:12px 16px;
  margin:12px 0;
}
.conflict.COLLISION {
  border-left-color:#c77700;
}
.conflict.OUTSIDE_MAINTENANCE {
  border-left-color:#7a5cc2;
}
.conflict h3 {
  display:flex;
  gap:10px;
  align-items:baseline;
  flex-wrap:wrap;
}
.badge {
  display:inline-block;
  padding:1px 8px;
  border-radius:4px;
  font-size:12px;
  font-weight:700;
  letter-spacing:.04em;
  color:#fff;
  background:var(--down);
}
.badge.COLLISION {
  background:#9a5b00;
}
.badge.OUTSIDE_MAINTENANCE {
  background:#7a5cc2;
}
.conflict dl {
  display:grid;
  grid-template-columns:max-content 1fr;
  gap:2px 14px;
  margin:10px 0 6px;
}
.conflict dt {
  color:var(--muted);
  font-size:13px;
}
.conflict dd {
  margin:0;
}
.conflict p {
  margin:6px 0 0;
  color:#30363d;
  font-size:14px;
}
.none {
  padding:10px 14px;
  border-radius:6px;
  background:var(--ok-bg);
  color:var(--ok);
}
figure {
  margin:8px 0 0;
  border:1px solid var(--line);
  border-radius:6px;
  padding:12px;
  background:#fcfcfd;
}
figure svg {
  display:block;
  width:100%;
  height:auto;
}
figcaption {
  font-size:13px;
  color:var(--muted);
  margin-top:8px;
}
.legend {
  display:flex;
  flex-wrap:wrap;
  gap:6px 16px;
  margin-top:6px;
}
.legend > span {
  display:inline-flex;
  align-items:center;
  gap:6px;
}
.sw {
  display:inline-block;
  width:14px;
  height:10px;
  border-radius:2px;
  border:1.5px solid;
}
.sw.d {
  background:var(--down-bg);
  border-color:var(--down);
}
.sw.g {
  background:var(--deg-bg);
  border-color:#b7791f;
}
.sw.s {
  background:#fff;
  border:2.5px solid #111827;
}
.sw.c {
  background:#1f3a5f;
  border-color:#1f3a5f;
}
.sw.grp {
  background:#fff;
  border:1.5px dashed var(--muted);
}
.sw.up {
  background:#e7f5ec;
  border-color:#1e6b3a;
}
.alert {
  margin:18px 0 0;
  padding:12px 16px;
  border-radius:6px;
  border:1px solid #f1b8b4;
  border-left:6px solid var(--down);
  background:var(--down-bg);
  color:#5c1410;
}
.alert p {
  margin:0;
}
.alert p+p {
  margin-top:8px;
}
.alert strong {
  color:var(--down);
}
.declared {
  display:block;
  margin-top:6px;
  font-size:12px;
  color:var(--muted);
}
.plans {
  display:grid;
  grid-template-columns:repeat(auto-fit,minmax(320px,1fr));
  gap:10px 28px;
  margin:6px 0 14px;
}
.plans div {
  border-top:1px solid var(--line);
  padding-top:6px;
}
.plans dt {
  font-size:12px;
  text-transform:uppercase;
  letter-spacing:.05em;
  color:var(--muted);
  font-weight:600;
}
.plans dd {
  margin:2px 0 0;
  white-space:pre-wrap;
}
.why {
  font-size:.92em;
}
.why .k {
  font-weight:600;
}
.note {
  padding:10px 14px;
  border-radius:6px;
  background:var(--deg-bg);
  color:var(--deg);
}
details {
  margin:10px 0;
}
summary {
  cursor:pointer;
  padding:6px 0;
  list-style-position:outside;
}
summary h3 {
  display:inline;
}
summary .muted {
  font-size:13px;
  margin-left:8px;
}
ul.plain {
  margin:0;
  padding:0;
  list-style:none;
}
ul.plain li+li {
  margin-top:2px;
}
footer {
  margin-top:40px;
  padding-top:12px;
  border-top:1px solid var(--line);
  font-size:12.5px;
  color:var(--muted);
}
footer p {
  margin:4px 0;
}
@media (max-width:720px) {
  main {
    padding:20px 16px;
    margin:0;
    border-radius:0;
  }
  .verdict {
    flex-direction:column;
    align-items:flex-start;
  }
}
@media print {
  @page {
    size:A4;
    margin:14mm 12mm 16mm;
  }
  body {
    background:#fff;
    font-size:10pt;
  }
  main {
    max-width:none;
    margin:0;
    padding:0;
    box-shadow:none;
    border-radius:0;
  }
  * {
    -webkit-print-color-adjust:exact;
    print-color-adjust:exact;
  }
  h2 {
    break-after:avoid;
    margin-top:24px;
  }
  h3,summary {
    break-after:avoid;
  }
  tr,.conflict,.verdict,.facts div,figure {
    break-inside:avoid;
  }
  thead {
    display:table-header-group;
  }
  #diagram {
    break-before:page;
  }
  figure svg {
    max-height:250mm;
  }
  a {
    color:inherit;
    text-decoration:none;
  }
  summary {
    list-style:none;
  }
  td.name {
    white-space:normal;
  }
}
"""

COLUMN_CSS = "".join(f"col.w{p}{{width:{p}%}}" for p in range(1, 101)) + "\n"
"""Column widths by class (``<col class="w24">``: 24 %), part of :data:`CSS`."""
CSS += COLUMN_CSS


def _e(text: str) -> str:
    return escape(text, quote=True)


def _cols(*percent: int) -> str:
    """Column widths of a fixed-layout table (long text wraps instead of widening it).

    Classes of :data:`COLUMN_CSS`, not ``style`` attributes: the explorer's pages
    allow no inline style.
    """
    return "<colgroup>" + "".join(f'<col class="w{p}">' for p in percent) + "</colgroup>"


def _no_link(ref: EntityRef) -> str | None:  # noqa: ARG001 - the standalone report links nothing
    return None


def _a(inner: str, ref: EntityRef, link: EntityLink) -> str:
    """``inner`` as a link to ``ref`` when ``link`` gives one, else unchanged."""
    href = link(ref)
    return inner if href is None else f'<a href="{_e(href)}">{inner}</a>'


def _key(ref: EntityRef, link: EntityLink = _no_link) -> str:
    return _a(f'<span class="k">{_e(ref.key)}</span>', ref, link)


def _ref(ref: EntityRef, *, kind: bool = True, link: EntityLink = _no_link) -> str:
    """``Service billing (Patient Billing)``, escaped."""
    head = f'<span class="muted">{_e(KIND_SHORT[ref.kind])}</span> ' if kind else ""
    name = f" ({_e(ref.name)})" if ref.name and ref.name != ref.key else ""
    return f"{head}{_key(ref, link)}{name}"


def _refs(refs: list[EntityRef], total: int | None = None, link: EntityLink = _no_link) -> str:
    if not refs:
        return '<span class="muted">none</span>'
    shown = ", ".join(_ref(r, link=link) for r in refs)
    more = (total or len(refs)) - len(refs)
    return shown + (f" and {more:,} more" if more > 0 else "")


def _state(state: ImpactState) -> str:
    css = "d" if state is ImpactState.DOWN else "g"
    return f'<span class="st {css}">{state.value}</span>'


def _segments(
    parts: list[Segment], named: dict[str, EntityRef] | None = None, link: EntityLink = _no_link
) -> str:
    """Segments as HTML; a key that ``named`` maps to one entity is linked."""
    out = []
    for text, is_key in parts:
        ref = named.get(text) if named and is_key else None
        if ref is not None:
            out.append(_key(ref, link))
        else:
            out.append(f'<span class="k">{_e(text)}</span>' if is_key else _e(text))
    return "".join(out)


def _why(
    entity: EntityRef,
    state: ImpactState,
    depth: int,
    kept_up_by: list[RedundancyItem],
    link: EntityLink = _no_link,
) -> str:
    """What keeps a DEGRADED entity up, or why it is DOWN; one line per reason."""
    lines = state_reason(entity, state, depth, kept_up_by)
    css = "why muted" if state is ImpactState.DOWN else "why"
    named: dict[str, EntityRef] = {}
    if link is not _no_link:
        refs = [r for i in kept_up_by for r in (i.holder, *i.failed)]
        refs += [s.entity for i in kept_up_by for s in i.survivors]
        kinds: dict[str, set[EntityKind]] = defaultdict(set)
        for r in refs:
            kinds[r.key].add(r.kind)
            named[r.key] = r
        # a key two kinds share is not linked: the text cannot tell them apart
        named = {k: r for k, r in named.items() if len(kinds[k]) == 1}
    return (
        f'<div class="{css}">'
        + "<br>".join(_segments(line, named, link) for line in lines)
        + "</div>"
    )


def _contacts(contacts: list[Contact]) -> list[str]:
    out = []
    for c in contacts:
        value = _e(c.value)
        if c.channel.lower().endswith("email") and _EMAIL.match(c.value):
            value = f'<a href="mailto:{_e(c.value)}">{value}</a>'
        out.append(f'<span class="muted">{_e(c.channel)}</span> {value}')
    return out


def _change_task(t: ChangeTask, link: EntityLink = _no_link) -> str:
    """A task the change carries out: the task, its status, due date and effort."""
    facts = [t.status or "status not stated"]
    if t.due is not None:
        facts.append(f"due {t.due.date().isoformat()}")
    if t.effort_hours is not None:
        facts.append(f"{t.effort_hours:g} h")
    return f'{_ref(t.task, link=link)} <span class="muted">· {_e(", ".join(facts))}</span>'


def _name(ref: EntityRef, link: EntityLink) -> str:
    """The entity's display name, escaped, linked when ``link`` gives a link."""
    return _a(_e(ref.name), ref, link)


def _assignee(a: Assignee, link: EntityLink = _no_link) -> str:
    head = _ref(a.assignee, link=link) + _status_tag(a.status)
    if a.role:
        head += f' <span class="muted">· {_e(a.role)}</span>'
    parts = [head, *_contacts(a.contacts)]
    if a.members:
        names = ", ".join(_name(m.person, link) for m in a.members)
        more = a.member_count - len(a.members)
        parts.append(
            f'<span class="muted">members</span> {names}' + (f" and {more:,} more" if more else "")
        )
    elif a.assignee.kind is EntityKind.TEAM:
        escalate = ", ".join(_key(p, link) for p in a.escalate_to)
        parts.append(
            '<span class="tag warn">no members</span>'
            + (f' <span class="muted">escalate to</span> {escalate}' if escalate else "")
        )
    if not a.contacts and not a.members:
        parts.append('<span class="tag warn">no contact</span>')
    return "<li>" + "<br>".join(parts) + "</li>"


def _path(path: list[PathStepItem], end: EntityRef, link: EntityLink = _no_link) -> str:
    if not path:
        return '<span class="muted">modified by this change</span>'
    parts = []
    for ref, phrase in walk(path, end):
        if phrase is not None:
            parts.append(f'<span class="hop">{_e(phrase)} →</span>')
        parts.append(_key(ref, link))
    return " ".join(parts)


def render_html(report: ChangeReport, diagram: RenderedDiagram | None) -> str:
    """Return the report as one self-contained HTML document.

    Args:
        report: The report.
        diagram: The rendered diagram; ``None`` or one without SVG puts a note
            in its place (the note of the rendering, or that none was drawn).
    """
    change = report.change.change
    title = f"Change review: {change.key}" + (
        f" — {change.name}" if change.name != change.key else ""
    )
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="generator" content="graphsvc change report">',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        render_html_body(report, diagram),
        "</main>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(out)


def render_html_body(
    report: ChangeReport,
    diagram: RenderedDiagram | None,
    *,
    link: EntityLink = _no_link,
    most_rows: int | None = None,
) -> str:
    """Return the report's content: what :func:`render_html` puts inside ``<main>``.

    The explorer's change page shows this fragment in its own layout (the same
    stylesheet, :data:`CSS`).

    Args:
        report: The report.
        diagram: The rendered diagram (as for :func:`render_html`).
        link: Where each entity the report names links to; by default nothing
            is linked (the standalone report's output).
        most_rows: Most conflicts, teams and projects listed, each list then saying
            how many more the whole report holds (its heading still counts them
            all); ``None``: every one (the standalone report).
    """
    out: list[str] = []
    out += _summary(report, link)
    out += _conflicts(report, link, most_rows)
    out += _diagram(diagram, report)
    out += _services(report, link)
    out += _teams(report, link, most_rows)
    out += _projects(report, link, most_rows)
    out += _entities(report, link)
    out += _footer(report)
    return "\n".join(out)


def _summary(report: ChangeReport, link: EntityLink = _no_link) -> list[str]:
    info = report.change
    change = info.change
    summary = report.summary
    risk = report.risk
    as_of = time_text(report.as_of) if report.as_of else "now (when generated)"
    name = f' <span class="name">{_e(change.name)}</span>' if change.name != change.key else ""
    out = [
        '<header id="top">',
        '<div class="eyebrow">Change review · CAB report</div>',
        f'<h1><span class="key">{_e(change.key)}</span>{name}</h1>',
        f'<p class="meta">Generated {_e(time_text(report.generated_at))} · graph as of '
        f"{_e(as_of)}</p>",
        "</header>",
        '<section id="summary">',
    ]
    if report.warnings:
        out.append('<div class="alert" role="alert">')
        out += [
            f"<p><strong>\N{WARNING SIGN} Warning:</strong> {_e(w.message)}</p>"
            for w in report.warnings
        ]
        out.append("</div>")
    declared = info.declared_risk or "none"
    out += [
        f'<div class="verdict {risk.band.value}">',
        f'<div class="score"><span class="num">{risk.score}</span><span class="of">of 100</span>'
        f'<span class="band">{risk.band.value} risk</span>'
        f'<span class="declared">declared: {_e(declared)}</span></div>',
        f'<p class="verdict-line">{_e(summary.verdict)}</p>',
        "</div>",
        '<dl class="facts">',
    ]

    def fact(label: str, value_html: str) -> None:
        out.append(f"<div><dt>{_e(label)}</dt><dd>{value_html}</dd></div>")

    not_stated = '<span class="tag warn">not stated</span>'
    fact("Planned window", _e(window_text(info.window)))
    fact("Type", _e(info.change_type or "not stated"))
    fact("State", _e(info.state or "not stated") + _status_tag(info.status))
    fact("Approval", _e(info.approval) if info.approval else not_stated)
    fact("Requested by", _e(info.requested_by) if info.requested_by else not_stated)
    fact(
        "Assigned to",
        f'<ul class="plain">{"".join(_assignee(a, link) for a in info.assigned_to)}</ul>'
        if info.assigned_to
        else not_stated,
    )
    fact(
        "Declared risk",
        (_e(info.declared_risk) if info.declared_risk else not_stated)
        + f' <span class="muted">· computed {risk.score} of 100, {_e(risk.band.value)}</span>',
    )
    if info.effort_hours is not None:
        fact("Effort", _e(f"{info.effort_hours:g} h"))
    if info.tasks:
        fact(
            "Carries out",
            '<ul class="plain">'
            + "".join(f"<li>{_change_task(t, link)}</li>" for t in info.tasks)
            + "</ul>",
        )
    if info.configuration_item:
        fact(
            "Configuration item (change tool)",
            f'<span class="k">{_e(info.configuration_item)}</span>',
        )
    fact(
        "Modifies",
        _refs(report.start_set[:8], len(report.start_set), link)
        if report.start_set
        else '<span class="tag warn">nothing the graph knows</span>',
    )
    fact(
        "Impact set",
        f"{_e(plural(summary.impact_set, 'entity', 'entities'))}: "
        f"{summary.down:,} {_state(ImpactState.DOWN)} {summary.degraded:,} "
        f"{_state(ImpactState.DEGRADED)}"
        + (f" · up to {_e(plural(summary.deepest, 'hop'))} away" if summary.deepest else "")
        + (f' <span class="tag warn">{summary.stale:,} stale</span>' if summary.stale else ""),
    )
    tiers = (
        "<br>".join(
            f"{_e(tier_label(t.tier))}: {t.count:,} ({t.down:,} DOWN, {t.degraded:,} DEGRADED)"
            for t in summary.services_by_tier
        )
        or '<span class="muted">none</span>'
    )
    fact("Services affected", tiers)
    fact(
        "Notify",
        f'<a href="#teams">{_e(plural(summary.teams, "team"))}</a> · '
        f'<a href="#projects">{_e(plural(summary.projects, "affected project"))}</a>',
    )
    out.append("</dl>")
    out.append('<dl class="plans">')
    for label, text in (("Back-out plan", info.backout_plan), ("Test plan", info.test_plan)):
        value = _e(text) if text else not_stated
        out.append(f"<div><dt>{_e(label)}</dt><dd>{value}</dd></div>")
    out.append("</dl>")
    out += [
        "<h3>Why this risk score</h3>",
        '<table class="fixed">' + _cols(20, 24, 8, 48) + "<thead><tr><th>Factor</th><th>Value</th>"
        '<th class="num">Points</th><th>Why</th></tr></thead><tbody>',
    ]
    for f in risk.factors:
        css = ' class="zero"' if f.points == 0 else ""
        out.append(
            f'<tr{css}><td class="k name">{_e(f.name)}</td><td>{_e(f.value)}</td>'
            f'<td class="num">{f.points}</td><td>{_e(f.explanation)}</td></tr>'
        )
    out += [
        f'<tr class="total"><th colspan="2">Score (capped at 100)</th>'
        f'<th class="num">{risk.score}</th><th></th></tr></tbody></table>',
        "</section>",
    ]
    return out


def _status_tag(status: str) -> str:
    return "" if status == "active" else f' <span class="tag warn">{_e(status)}</span>'


def _conflicts(
    report: ChangeReport, link: EntityLink = _no_link, most_rows: int | None = None
) -> list[str]:
    out = [
        '<section id="conflicts">',
        f'<h2>Conflicts<span class="n">{len(report.conflicts)}</span></h2>',
    ]
    if not report.conflicts:
        out.append(
            '<p class="none">No conflicts: no open change overlapping in time shares the '
            "impact set, no blackout window applies to it, and no maintenance window is "
            "left.</p>"
        )
    shown = report.conflicts[:most_rows]
    for conflict in shown:
        out += _conflict(conflict, report, link)
    out += _more_rows(len(shown), len(report.conflicts), "conflicts")
    out.append("</section>")
    return out


_TITLE_HEADS = {
    ConflictKind.COLLISION: "Collides with change ",
    ConflictKind.BLACKOUT: "Inside blackout window ",
}


def _conflict_heading(conflict: ConflictItem, link: EntityLink) -> str:
    """The conflict's title, escaped; the other change or window linked when ``link`` links it."""
    title = conflict_title(conflict)
    head = _TITLE_HEADS.get(conflict.kind)
    href = link(conflict.other)
    if head is None or href is None or not title.startswith(head + conflict.other.key):
        return _e(title)
    rest = title[len(head) + len(conflict.other.key) :]
    return _e(head) + _key(conflict.other, link) + _e(rest)


def _conflict(
    conflict: ConflictItem, report: ChangeReport, link: EntityLink = _no_link
) -> list[str]:
    kind = conflict.kind.value
    other_name = (
        f' <span class="muted">{_e(conflict.other.name)}</span>'
        if conflict.other.name != conflict.other.key
        else ""
    )
    out = [
        f'<article class="conflict {kind}">',
        f'<h3><span class="badge {kind}">{kind}</span>'
        f"<span>{_conflict_heading(conflict, link)}{other_name}</span></h3>",
        "<dl>",
    ]
    for label, text in conflict_times(conflict, report.change.window):
        out.append(f"<dt>{_e(label)}</dt><dd>{_e(text)}</dd>")
    out.append(
        f"<dt>{_e(f'Entities ({conflict.total_entities:,})')}</dt>"
        f"<dd>{_refs(conflict.entities[:CONFLICT_ENTITIES_SHOWN], conflict.total_entities, link)}"
        "</dd>"
    )
    out += ["</dl>", f"<p>{_e(conflict.explanation)}</p>", "</article>"]
    return out


def _diagram(diagram: RenderedDiagram | None, report: ChangeReport) -> list[str]:
    out = ['<section id="diagram">', "<h2>Impact diagram</h2>"]
    if report.summary.impact_set == 0:
        out += [
            '<p class="note">Nothing to draw: the change modifies nothing the graph knows '
            "(see the warning at the top).</p>",
            "</section>",
        ]
        return out
    if diagram is None or diagram.svg is None:
        note = diagram.note if diagram is not None else "No diagram was drawn for this report."
        out += [f'<p class="note">{_e(note or "No diagram.")}</p>', "</section>"]
        return out
    out += [
        "<figure>",
        diagram.svg,
        "<figcaption>",
        f"{_e(diagram.diagram.caption)} Arrows follow the impact, from what fails to what it "
        "affects; \N{MULTIPLICATION SIGN}N marks N relations walked between the same boxes.",
        '<div class="legend">'
        '<span><span class="sw c"></span>the change</span>'
        '<span><span class="sw s"></span>modified by it</span>'
        '<span><span class="sw d"></span>DOWN</span>'
        '<span><span class="sw g"></span>DEGRADED (redundancy holds)</span>'
        '<span><span class="sw up"></span>surviving redundant member (keeps it up)</span>'
        '<span><span class="sw grp"></span>group of entities</span>'
        "</div>",
        "</figcaption>",
        "</figure>",
        "</section>",
    ]
    return out


def _services(report: ChangeReport, link: EntityLink = _no_link) -> list[str]:
    total = sum(g.count for g in report.services)
    out = [
        '<section id="services">',
        f'<h2>Affected services by tier<span class="n">{total:,}</span></h2>',
    ]
    if not report.services:
        out.append('<p class="muted">No service is in the impact set.</p>')
    for group in report.services:
        out += _tier(group, link)
    out.append("</section>")
    return out


def _tier(group: ServiceTierGroup, link: EntityLink = _no_link) -> list[str]:
    opened = " open" if group.listed <= OPEN_ROWS else ""
    counts = f"{group.down:,} DOWN · {group.degraded:,} DEGRADED"
    out = [
        f"<details{opened}>",
        f"<summary><h3>{_e(tier_label(group.tier))} · "
        f"{_e(plural(group.count, 'service'))}</h3>"
        f'<span class="muted">{counts}</span></summary>',
    ]
    if group.listed < group.count:
        out.append(
            f'<p class="muted">The first {group.listed:,} of {group.count:,} are listed here '
            "(DOWN first, nearest first); every one is in the entity list below.</p>"
        )
    out.append(
        '<table class="fixed">'
        + _cols(23, 11, 6, 32, 28)
        + '<thead><tr><th>Service</th><th>State</th><th class="num">Hops</th>'
        "<th>Path from the change</th><th>What keeps it up</th></tr></thead><tbody>"
    )
    for s in group.services:
        stale = ' <span class="tag warn">stale</span>' if s.stale else ""
        out.append(
            f"<tr><td>{_ref(s.service, kind=False, link=link)}{stale}</td>"
            f"<td>{_state(s.state)}</td>"
            f'<td class="num">{s.depth}</td><td>{_path(s.path, s.service, link)}</td>'
            f"<td>{_why(s.service, s.state, s.depth, s.kept_up_by, link)}</td></tr>"
        )
    out += ["</tbody></table>", "</details>"]
    return out


def _more_rows(shown: int, total: int, what: str) -> list[str]:
    """A note under a table cut at ``shown`` of ``total`` rows (none when not cut)."""
    if shown >= total:
        return []
    return [f'<p class="note">{total - shown:,} more {what} are in the whole report.</p>']


def _teams(
    report: ChangeReport, link: EntityLink = _no_link, most_rows: int | None = None
) -> list[str]:
    out = [
        '<section id="teams">',
        f'<h2>Teams to notify<span class="n">{len(report.teams):,}</span></h2>',
    ]
    if not report.teams:
        out.append('<p class="muted">No affected entity has an owner or support team.</p>')
        out.append("</section>")
        return out
    out.append(
        '<table class="fixed">'
        + _cols(24, 22, 24, 30)
        + "<thead><tr><th>Team</th><th>Why</th><th>Contacts</th><th>Members</th>"
        "</tr></thead><tbody>"
    )
    shown = report.teams[:most_rows]
    for team in shown:
        out.append(_team_row(team, link))
    out.append("</tbody></table>")
    out += _more_rows(len(shown), len(report.teams), "teams")
    out.append("</section>")
    return out


def _team_row(team: TeamToNotify, link: EntityLink = _no_link) -> str:
    warnings = "".join(f'<br><span class="tag warn">{_e(w)}</span>' for w in team.warnings)
    roles = "".join(
        f'<li>{_e(role_text(r))} · <span class="muted">{_e(inheritance_text(r))}</span></li>'
        for r in team.roles
    )
    contacts = [f"<li>{c}</li>" for c in _contacts(team.contacts)]
    members = [
        f"<li>{_name(m.person, link)}"
        + (f' <span class="muted">· {_e(m.role)}</span>' if m.role else "")
        + (f' <span class="k">{_e(m.email)}</span>' if m.email else "")
        + "</li>"
        for m in team.members
    ]
    if team.member_count > len(team.members):
        members.append(f'<li class="muted">and {team.member_count - len(team.members):,} more</li>')
    if team.escalate_to:
        members.append(
            '<li class="muted">escalate to '
            + ", ".join(_key(p, link) for p in team.escalate_to)
            + "</li>"
        )
    return (
        f"<tr><td>{_ref(team.team, kind=False, link=link)}{warnings}</td>"
        f'<td><ul class="plain">{roles}</ul></td>'
        f'<td><ul class="plain">{"".join(contacts) or "<li class=muted>none</li>"}</ul></td>'
        f'<td><ul class="plain">{"".join(members) or "<li class=muted>none</li>"}</ul></td></tr>'
    )


def _projects(
    report: ChangeReport, link: EntityLink = _no_link, most_rows: int | None = None
) -> list[str]:
    out = [
        '<section id="projects">',
        f'<h2>Affected projects<span class="n">{len(report.projects):,}</span></h2>',
    ]
    if not report.projects:
        out += ['<p class="muted">No project is affected.</p>', "</section>"]
        return out
    out.append(
        '<table class="fixed">'
        + _cols(26, 74)
        + "<thead><tr><th>Project</th><th>Why</th></tr></thead><tbody>"
    )
    shown = report.projects[:most_rows]
    for p in shown:
        reasons = "".join(
            f"<li>{_e(project_reason_text(r))}: {_refs(r.entities, r.count, link)}</li>"
            for r in p.reasons
        )
        out.append(
            f"<tr><td>{_ref(p.project, kind=False, link=link)}</td>"
            f'<td><ul class="plain">{reasons}</ul></td></tr>'
        )
    out.append("</tbody></table>")
    out += _more_rows(len(shown), len(report.projects), "projects")
    out.append("</section>")
    return out


_KIND_ORDER = VOCABULARY.kinds_in_report_order


def _entities(report: ChangeReport, link: EntityLink = _no_link) -> list[str]:
    listing = report.affected
    out = [
        '<section id="entities">',
        f'<h2>Affected entities<span class="n">{listing.total:,}</span></h2>',
        '<p class="muted">Every entity of the impact set, modified entities first, then by '
        "hops from them. “Reached from” is the previous entity on one shortest path; follow "
        "it back to the change. Large groups start folded (folded groups are not printed).</p>",
    ]
    if listing.listed < listing.total:
        out.append(
            f'<p class="note">The listing stops after {listing.listed:,} of {listing.total:,} '
            "entities (breadth-first); the counts above are complete.</p>"
        )
    groups: dict[EntityKind, list[AffectedEntity]] = defaultdict(list)
    for e in listing.entities:
        groups[e.entity.kind].append(e)
    for kind in _KIND_ORDER:
        rows = groups.get(kind)
        if not rows:
            continue
        opened = " open" if len(rows) <= OPEN_ROWS else ""
        down = sum(1 for e in rows if e.state is ImpactState.DOWN)
        out += [
            f"<details{opened}>",
            f"<summary><h3>{_e(kind_count(len(rows), kind).capitalize())}</h3>"
            f'<span class="muted">{down:,} DOWN · {len(rows) - down:,} DEGRADED</span></summary>',
            '<table class="fixed">'
            + _cols(16, 18, 9, 11, 5, 17, 24)
            + "<thead><tr><th>Key</th><th>Name</th>"
            f"<th>{'Tier' if kind is EntityKind.SERVICE else 'Class'}</th><th>State</th>"
            '<th class="num">Hops</th><th>Reached from</th><th>What keeps it up</th>'
            "</tr></thead><tbody>",
        ]
        out += [_entity_row(e, link) for e in rows]
        out += ["</tbody></table>", "</details>"]
    out.append("</section>")
    return out


def _entity_row(e: AffectedEntity, link: EntityLink = _no_link) -> str:
    ref = e.entity
    name = _e(ref.name) if ref.name != ref.key else ""
    stale = ' <span class="tag warn">stale</span>' if e.stale else ""
    phrase = reached_phrase(e)
    if e.reached_from is None or phrase is None:
        came = '<span class="muted">modified</span>'
    else:
        came = f'<span class="hop">{_e(phrase)}</span> {_key(e.reached_from, link)}'
    return (
        f'<tr><td class="k">{_a(_e(ref.key), ref, link)}</td><td>{name}</td>'
        f"<td>{_e(detail_text(e))}</td>"
        f'<td>{_state(e.state)}{stale}</td><td class="num">{e.depth}</td><td>{came}</td>'
        f"<td>{_why(e.entity, e.state, e.depth, e.kept_up_by, link)}</td></tr>"
    )


def _footer(report: ChangeReport) -> list[str]:
    return [
        "<footer>",
        "<p><strong>How to read this report.</strong> The impact set is what the change "
        "modifies plus everything whose failure follows from theirs. DOWN: a failed "
        "dependency that no redundant alternative covers (modified entities are DOWN). "
        "DEGRADED: reached, but every failed dependency is covered by a surviving member of "
        "a redundancy group (“What keeps it up” names the group and the survivors; an entity "
        "that is DEGRADED only because what it needs is DEGRADED is kept up through that "
        "entity). Windows are half-open: a window ending at 02:00 and one starting at 02:00 "
        "do not overlap. All times are UTC.</p>",
        "<p>Risk score: the sum of the points of the factors in “Why this risk score”, capped "
        "at 100; each factor says what it counted. Below 30 is low, below 60 medium, from 60 "
        f"high. Report format version {_e(report.report_version)}; the JSON format of the same "
        "report validates against the published change-report JSON Schema.</p>",
        "</footer>",
    ]
