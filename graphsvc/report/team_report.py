"""A team's weekly load as a document (PRODUCT.md 7, ``teamLoad``), with an SVG chart.

:func:`team_report` turns the analysis answer (:class:`~graphsvc.analysis.work.TeamLoad`)
into a frozen :class:`TeamReport`; :func:`render_team_html` and
:func:`render_team_markdown` render it. The document shows:

* the team, its weekly capacity ``C`` and where that number comes from, the
  project share and the project capacity ``C * share``, and how many weeks of
  the period are OK, over the project share, or overbooked;
* in HTML, a weekly load chart (:func:`load_chart_svg`): inline SVG, no script,
  nothing fetched;
* a table with one row per ISO week: its Monday, capacity, project capacity,
  project load, operational load, total, state and the largest work items of
  the week (at most :data:`ITEMS_SHOWN`, with how many more);
* the unscheduled work (open work without effort or end date).

The JSON format of the load is the analysis answer itself as REST writes it, so
it is not rendered here. Hours are shown with at most one decimal; dates are
UTC.

**The chart.** One group (``<g class="week">``) per week, holding a stacked bar:
project load at the bottom (dark blue), operational load on top (light blue).
A solid step line marks the capacity ``C`` and a dashed one the project
capacity, so the project part of a bar can be read against the dashed line and
the whole bar against the solid one. A week that is not OK is outlined: red for
OVERBOOKED, amber for OVER_PROJECT_SHARE, and carries a small marker above its
bar. The y axis is in hours with round steps; the x axis names the Mondays
(thinned out so labels do not overlap when the period is long). Every week
group, line and the chart itself carry a ``<title>`` (a tooltip, and what a
screen reader says). The SVG is well-formed XML without a namespace declaration
(HTML puts inline ``<svg>`` in the SVG namespace by itself).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from graphsvc.analysis.work import TeamLoad, WeekLoad, WeekState
from graphsvc.model.vocabulary import EntityKind
from graphsvc.report.pages import (
    EntityLink,
    date_text,
    esc,
    hours_text,
    key_html,
    md_row,
    md_text,
    page,
)
from graphsvc.report.wording import KIND_SHORT, plural, time_text

__all__ = [
    "ITEMS_SHOWN",
    "STATE_WORDS",
    "LoadWeekLine",
    "LoadWorkLine",
    "TeamReport",
    "UnscheduledLine",
    "load_chart_svg",
    "render_team_html",
    "render_team_markdown",
    "team_chart_html",
    "team_footer_html",
    "team_report",
    "team_summary_html",
    "team_unscheduled_html",
    "team_weeks_html",
]

ITEMS_SHOWN = 3
"""The largest work items named per week in the table (the JSON format holds up to 20)."""

STATE_WORDS: dict[WeekState, str] = {
    WeekState.OK: "within capacity",
    WeekState.OVER_PROJECT_SHARE: "project work above the project share",
    WeekState.OVERBOOKED: "more work than capacity",
}
"""Each week state in plain words."""

PROJECT_COLOUR = "#1f3a5f"
OPERATIONAL_COLOUR = "#8db3d9"
CAPACITY_COLOUR = "#1b1f24"
PROJECT_CAPACITY_COLOUR = "#7a5cc2"
STATE_COLOURS = {WeekState.OVERBOOKED: "#b3261e", WeekState.OVER_PROJECT_SHARE: "#c77700"}
"""The outline of a week that is not OK."""


@dataclass(frozen=True, slots=True)
class LoadWorkLine:
    """What one work item puts on the team in one week.

    Attributes:
        kind: Task or Change.
        key: Its key.
        name: Its name (the key when it has none).
        hours: Its hours in the week.
        project_work: Whether it is project work (else operational).
    """

    kind: EntityKind
    key: str
    name: str
    hours: float
    project_work: bool


@dataclass(frozen=True, slots=True)
class LoadWeekLine:
    """One ISO week.

    Attributes:
        week_start: Monday 00:00 UTC.
        capacity: ``C`` that week.
        project_capacity: ``C * projectShare``.
        project_load: Hours of project work.
        operational_load: Hours of operational work.
        state: OK, OVER_PROJECT_SHARE or OVERBOOKED.
        work: The largest work items of the week, largest first (as many as the
            analysis lists: at most 20).
        work_count: How many work items load the week.
    """

    week_start: datetime
    capacity: float
    project_capacity: float
    project_load: float
    operational_load: float
    state: WeekState
    work: tuple[LoadWorkLine, ...]
    work_count: int

    @property
    def total_load(self) -> float:
        """Project and operational load together."""
        return self.project_load + self.operational_load


@dataclass(frozen=True, slots=True)
class UnscheduledLine:
    """Open work that loads nobody because it lacks effort or an end.

    Attributes:
        kind: Task or Change.
        key: Its key.
        name: Its name.
        project_work: Whether it is project work.
        missing: What it lacks (``effortHours``, ``due``, ``plannedEnd``).
    """

    kind: EntityKind
    key: str
    name: str
    project_work: bool
    missing: str


@dataclass(frozen=True, slots=True)
class TeamReport:
    """The team load document.

    Attributes:
        team_key: The team's key.
        team_name: Its name (the key when it has none).
        capacity: ``C``, hours per week.
        capacity_source: Where ``C`` comes from, in words.
        project_share: The share of ``C`` project work may take (0 to 1).
        project_capacity: ``C * project_share``.
        weeks: Every week of the period, in order.
        unscheduled: Open work without effort or end.
        worst: The worst state of any week.
        state_counts: How many weeks are in each state, best first.
        as_of: The time the graph was read at (``None``: now).
        generated_at: When the document was made.
    """

    team_key: str
    team_name: str
    capacity: float
    capacity_source: str
    project_share: float
    project_capacity: float
    weeks: tuple[LoadWeekLine, ...]
    unscheduled: tuple[UnscheduledLine, ...]
    worst: WeekState
    state_counts: tuple[tuple[WeekState, int], ...]
    as_of: datetime | None
    generated_at: datetime


def _week_line(w: WeekLoad) -> LoadWeekLine:
    return LoadWeekLine(
        w.week_start,
        w.capacity,
        w.project_capacity,
        w.project_load,
        w.operational_load,
        w.state,
        tuple(
            LoadWorkLine(
                s.work.kind, s.work.key, s.work.name or s.work.key, s.hours, s.project_work
            )
            for s in w.work
        ),
        w.work_count,
    )


def team_report(load: TeamLoad, *, generated_at: datetime | None = None) -> TeamReport:
    """Build the document from the analysis answer.

    Args:
        load: The answer of :func:`~graphsvc.analysis.work.team_load`.
        generated_at: When the document is made (default: the current time).
    """
    return TeamReport(
        team_key=load.team.key,
        team_name=load.team.name or load.team.key,
        capacity=load.capacity,
        capacity_source=load.capacity_source,
        project_share=load.project_share,
        project_capacity=load.capacity * load.project_share,
        weeks=tuple(_week_line(w) for w in load.weeks),
        unscheduled=tuple(
            UnscheduledLine(
                u.work.kind, u.work.key, u.work.name or u.work.key, u.project_work, u.missing
            )
            for u in load.unscheduled
        ),
        worst=load.worst,
        state_counts=tuple(
            (state, sum(1 for w in load.weeks if w.state is state)) for state in WeekState
        ),
        as_of=load.as_of,
        generated_at=generated_at or datetime.now(UTC),
    )


def _verdict(report: TeamReport) -> str:
    """``2 of 3 weeks are not OK: 1 OVERBOOKED, 1 OVER_PROJECT_SHARE`` or all OK."""
    weeks = len(report.weeks)
    bad = [(s, n) for s, n in report.state_counts if s is not WeekState.OK and n]
    if not bad:
        return f"Every week of the {plural(weeks, 'week')} is within capacity."
    count = sum(n for _, n in bad)
    parts = ", ".join(f"{n:,} {s.value}" for s, n in reversed(bad))
    verb = "is" if count == 1 else "are"
    return f"{count:,} of {plural(weeks, 'week')} {verb} not OK: {parts}."


def _share_text(report: TeamReport) -> str:
    return (
        f"{report.project_share:.0%} of C: {hours_text(report.project_capacity)} a week for "
        f"project work, {hours_text(report.capacity - report.project_capacity)} for operations"
    )


def _period(report: TeamReport) -> str:
    if not report.weeks:
        return "no weeks"
    first, last = report.weeks[0].week_start, report.weeks[-1].week_start
    return f"weeks of {date_text(first)} to {date_text(last)} ({plural(len(report.weeks), 'week')})"


def _items_text(week: LoadWeekLine, *, markdown: bool, link: EntityLink | None = None) -> str:
    """The largest items of a week: ``tsk-a 12 h (project), chg-1 4 h and 3 more``.

    In HTML, with ``link``, each key is a link to what the hook names.
    """
    parts = []
    for item in week.work[:ITEMS_SHOWN]:
        kind = "project" if item.project_work else "operational"
        if markdown:
            key = md_text(item.key)
        elif link is None:
            key = esc(item.key)
        else:
            key = key_html(item.kind, item.key, link)
        parts.append(f"{key} {hours_text(item.hours)} ({kind})")
    more = week.work_count - min(len(week.work), ITEMS_SHOWN)
    if more > 0:
        parts.append(f"{more:,} more")
    return ", ".join(parts) or ("—" if markdown else '<span class="muted">none</span>')


# ---------------------------------------------------------------------- SVG chart

_W, _H = 960.0, 380.0
_LEFT, _RIGHT, _TOP, _BOTTOM = 64.0, 20.0, 56.0, 58.0


def _nice_step(top: float, ticks: int = 5) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving at most ``ticks`` intervals."""
    raw = max(top, 1e-9) / ticks
    power = math.pow(10.0, math.floor(math.log10(raw)))
    return next(f * power for f in (1.0, 2.0, 2.5, 5.0, 10.0) if raw <= f * power * (1 + 1e-9))


def _n(value: float) -> str:
    """A coordinate with at most two decimals."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def load_chart_svg(report: TeamReport) -> str:
    """Return the weekly load chart as inline SVG (see the module docstring).

    An empty period gives a chart with axes and legend only. The y axis reaches
    at least the capacity, so a team with no load still shows its capacity
    lines; a team with capacity 0 and no load gets a one-hour axis.
    """
    weeks = report.weeks
    plot_w = _W - _LEFT - _RIGHT
    plot_h = _H - _TOP - _BOTTOM
    base = _TOP + plot_h
    highest = max(
        [report.capacity, report.project_capacity] + [max(w.total_load, w.capacity) for w in weeks]
    )
    step = _nice_step(highest * 1.08 if highest > 0 else 1.0)
    top_value = step * max(1, math.ceil((highest * 1.08 if highest > 0 else 1.0) / step))

    def y(value: float) -> float:
        return base - max(0.0, value) / top_value * plot_h

    slot = plot_w / max(1, len(weeks))
    bar = max(1.0, slot * 0.68)
    team = report.team_key + (
        f" ({report.team_name})" if report.team_name != report.team_key else ""
    )
    title = f"Weekly load of team {team}"
    desc = (
        f"{_verdict(report)} Capacity C {hours_text(report.capacity)} a week, project capacity "
        f"{hours_text(report.project_capacity)}; {_period(report)}."
    )
    out = [
        f'<svg class="load-chart" role="img" aria-labelledby="chart-title chart-desc" '
        f'viewBox="0 0 {_n(_W)} {_n(_H)}" width="{_n(_W)}" height="{_n(_H)}" '
        'font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="chart-title">{esc(title)}</title>',
        f'<desc id="chart-desc">{esc(desc)}</desc>',
    ]
    out += _legend()
    # y axis: grid lines and hour labels
    out.append('<g class="y-axis">')
    value = 0.0
    while value <= top_value + 1e-9:
        at = y(value)
        out.append(
            f'<line x1="{_n(_LEFT)}" y1="{_n(at)}" x2="{_n(_W - _RIGHT)}" y2="{_n(at)}" '
            f'stroke="{"#9aa3af" if value == 0 else "#e3e7ec"}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{_n(_LEFT - 8)}" y="{_n(at + 4)}" text-anchor="end" fill="#5b6472">'
            f"{esc(hours_text(value))}</text>"
        )
        value += step
    out.append(
        f'<text transform="translate(16 {_n(_TOP + plot_h / 2)}) rotate(-90)" '
        'text-anchor="middle" fill="#5b6472">hours per week</text>'
    )
    out.append("</g>")
    # the bars, one group per week
    out.append('<g class="weeks">')
    for i, w in enumerate(weeks):
        x = _LEFT + i * slot + (slot - bar) / 2
        tip = (
            f"Week of {date_text(w.week_start)}: {hours_text(w.project_load)} project + "
            f"{hours_text(w.operational_load)} operational = {hours_text(w.total_load)} "
            f"of {hours_text(w.capacity)} (project capacity {hours_text(w.project_capacity)}): "
            f"{w.state.value}"
        )
        out.append(
            f'<g class="week" data-week="{date_text(w.week_start)}" data-state="{w.state.value}">'
        )
        out.append(f"<title>{esc(tip)}</title>")
        p_top, t_top = y(w.project_load), y(w.total_load)
        out.append(
            f'<rect class="project" x="{_n(x)}" y="{_n(p_top)}" width="{_n(bar)}" '
            f'height="{_n(base - p_top)}" fill="{PROJECT_COLOUR}"/>'
        )
        out.append(
            f'<rect class="operational" x="{_n(x)}" y="{_n(t_top)}" width="{_n(bar)}" '
            f'height="{_n(p_top - t_top)}" fill="{OPERATIONAL_COLOUR}"/>'
        )
        colour = STATE_COLOURS.get(w.state)
        if colour is not None:
            pad = min(2.0, slot * 0.1)
            stroke = min(2.5, max(1.0, slot * 0.15))
            out.append(
                f'<rect class="mark {w.state.value}" x="{_n(x - pad)}" y="{_n(t_top - pad)}" '
                f'width="{_n(bar + 2 * pad)}" height="{_n(base - t_top + pad)}" fill="none" '
                f'stroke="{colour}" stroke-width="{_n(stroke)}"/>'
            )
            cx = x + bar / 2
            size = min(6.0, max(3.0, slot * 0.3))
            out.append(
                f'<path class="marker" d="M{_n(cx - size)} {_n(t_top - 12 - size)} '
                f"L{_n(cx + size)} {_n(t_top - 12 - size)} L{_n(cx)} {_n(t_top - 12)} Z"
                f'" fill="{colour}"/>'
            )
        out.append("</g>")
    out.append("</g>")
    # capacity step lines
    if weeks:
        out += _step(
            [w.capacity for w in weeks],
            y,
            slot,
            f"Capacity C: {hours_text(report.capacity)} a week ({report.capacity_source})",
            CAPACITY_COLOUR,
            "capacity",
            dashed=False,
        )
        out += _step(
            [w.project_capacity for w in weeks],
            y,
            slot,
            f"Project capacity: {hours_text(report.project_capacity)} a week "
            f"({report.project_share:.0%} of C)",
            PROJECT_CAPACITY_COLOUR,
            "project-capacity",
            dashed=True,
        )
    # x axis: week labels, thinned out to keep about 78 px between them
    every = max(1, math.ceil(78 / slot))
    out.append('<g class="x-axis">')
    for i, w in enumerate(weeks):
        if i % every:
            continue
        cx = _LEFT + i * slot + slot / 2
        out.append(
            f'<line x1="{_n(cx)}" y1="{_n(base)}" x2="{_n(cx)}" y2="{_n(base + 5)}" '
            'stroke="#9aa3af"/>'
        )
        out.append(
            f'<text x="{_n(cx)}" y="{_n(base + 19)}" text-anchor="middle" fill="#5b6472">'
            f"{date_text(w.week_start)}</text>"
        )
    out.append(
        f'<text x="{_n(_LEFT + plot_w / 2)}" y="{_n(_H - 10)}" text-anchor="middle" '
        'fill="#5b6472">week starting (Monday, UTC)</text>'
    )
    out += ["</g>", "</svg>"]
    return "\n".join(out)


def _step(
    values: list[float],
    y: Callable[[float], float],
    slot: float,
    label: str,
    colour: str,
    css: str,
    *,
    dashed: bool,
) -> list[str]:
    """A step line across the weeks (one level per week), with its title."""
    points = []
    for i, v in enumerate(values):
        level = y(v)
        left, right = _LEFT + i * slot, _LEFT + (i + 1) * slot
        points.append(f"{'M' if i == 0 else 'L'}{_n(left)} {_n(level)} L{_n(right)} {_n(level)}")
    dash = ' stroke-dasharray="7 4"' if dashed else ""
    return [
        f'<g class="{css}">',
        f"<title>{esc(label)}</title>",
        f'<path d="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>',
        "</g>",
    ]


def _legend() -> list[str]:
    """The legend row above the plot."""
    items: list[tuple[str, str]] = [
        (
            f'<rect x="0" y="-10" width="14" height="12" fill="{PROJECT_COLOUR}"/>',
            "project load",
        ),
        (
            f'<rect x="0" y="-10" width="14" height="12" fill="{OPERATIONAL_COLOUR}"/>',
            "operational load",
        ),
        (
            f'<line x1="0" y1="-4" x2="18" y2="-4" stroke="{CAPACITY_COLOUR}" stroke-width="2"/>',
            "capacity C",
        ),
        (
            f'<line x1="0" y1="-4" x2="18" y2="-4" stroke="{PROJECT_CAPACITY_COLOUR}" '
            'stroke-width="2" stroke-dasharray="7 4"/>',
            "project capacity",
        ),
        (
            '<rect x="1" y="-10" width="12" height="12" fill="none" '
            f'stroke="{STATE_COLOURS[WeekState.OVERBOOKED]}" stroke-width="2.5"/>',
            "OVERBOOKED",
        ),
        (
            '<rect x="1" y="-10" width="12" height="12" fill="none" '
            f'stroke="{STATE_COLOURS[WeekState.OVER_PROJECT_SHARE]}" stroke-width="2.5"/>',
            "OVER_PROJECT_SHARE",
        ),
    ]
    out = ['<g class="legend">', "<title>Legend</title>"]
    x = _LEFT
    for swatch, label in items:
        out.append(f'<g transform="translate({_n(x)} 24)">{swatch}')
        out.append(f'<text x="24" y="0" fill="#1b1f24">{esc(label)}</text></g>')
        x += 24 + 7.2 * len(label) + 22  # about 7 px a character at 12 px
    out.append("</g>")
    return out


# ---------------------------------------------------------------------- HTML

_STATE_CSS = {WeekState.OK: "ok", WeekState.OVER_PROJECT_SHARE: "risk", WeekState.OVERBOOKED: "bad"}


def _pill(state: WeekState) -> str:
    return (
        f'<span class="pill {_STATE_CSS[state]}" title="{esc(STATE_WORDS[state])}">'
        f"{esc(state.value)}</span>"
    )


def render_team_html(report: TeamReport) -> str:
    """Return the document as one self-contained HTML page with the load chart."""
    named = report.team_name != report.team_key
    title = f"Team load: {report.team_key}" + (f" — {report.team_name}" if named else "")
    as_of = time_text(report.as_of) if report.as_of else "now (when generated)"
    name = f' <span class="name">{esc(report.team_name)}</span>' if named else ""
    body = [
        '<header id="top">',
        '<div class="eyebrow">Team capacity · weekly load</div>',
        f'<h1><span class="key">{esc(report.team_key)}</span>{name}</h1>',
        f'<p class="meta">Generated {esc(time_text(report.generated_at))} · graph as of '
        f"{esc(as_of)} · {esc(_period(report))}</p>",
        "</header>",
    ]
    body += team_summary_html(report)
    body += team_chart_html(report)
    body += team_weeks_html(report)
    body += team_unscheduled_html(report)
    body += team_footer_html()
    return page(title, "graphsvc team load report", body)


def team_summary_html(report: TeamReport) -> list[str]:
    """The summary section: the worst week state, the verdict, capacity, share and week counts."""
    body = [
        '<section id="summary">',
        f'<div class="verdict {report.worst.value}">',
        f"<div>{_pill(report.worst)}</div>",
        f'<p class="verdict-line">{esc(_verdict(report))}</p>',
        "</div>",
        '<dl class="facts">',
    ]

    def fact(label: str, value_html: str) -> None:
        body.append(f"<div><dt>{esc(label)}</dt><dd>{value_html}</dd></div>")

    fact(
        "Capacity C",
        f"<strong>{esc(hours_text(report.capacity))}</strong> a week"
        f'<br><span class="muted">from {esc(report.capacity_source)}</span>',
    )
    fact("Project share", esc(_share_text(report)))
    fact(
        "Weeks",
        "<br>".join(f"{_pill(s)} {n:,}" for s, n in report.state_counts),
    )
    fact("Unscheduled work", esc(plural(len(report.unscheduled), "item")))
    body += ["</dl>", "</section>"]
    return body


def team_chart_html(report: TeamReport) -> list[str]:
    """The chart section: :func:`load_chart_svg` in a figure with its caption."""
    return [
        '<section id="chart">',
        "<h2>Weekly load</h2>",
        '<figure class="chart">',
        load_chart_svg(report),
        "<figcaption>Each bar is one week: project load (dark) below operational load "
        "(light). The solid line is the capacity C, the dashed line the project capacity. "
        "Weeks outlined in red are OVERBOOKED, in amber OVER_PROJECT_SHARE.</figcaption>",
        "</figure>",
        "</section>",
    ]


def team_footer_html() -> list[str]:
    """The footer: how the load is counted and what the week states mean."""
    return [
        "<footer>",
        "<p><strong>How to read this report.</strong> Open work with an effort and an end is "
        "spread evenly from its planned start (or effort ÷ 8 days before its end) to its end, "
        "never before now; work whose end has passed counts whole in the current week. "
        "Project work is part of a project or required by one; everything else, and every "
        "change, is operational. OVERBOOKED: the total is above C. OVER_PROJECT_SHARE: project "
        "load above the project capacity, total within C. Weeks start on Monday, UTC.</p>",
        "</footer>",
    ]


def team_weeks_html(report: TeamReport, link: EntityLink | None = None) -> list[str]:
    """The week table: one row per week, its largest work items linked by ``link``."""
    out = [
        '<section id="weeks">',
        f'<h2>Weeks <span class="n">{len(report.weeks):,}</span></h2>',
        '<table><thead><tr><th>Week of</th><th class="num">Capacity</th>'
        '<th class="num">Project capacity</th><th class="num">Project load</th>'
        '<th class="num">Operational load</th><th class="num">Total</th><th>State</th>'
        "<th>Largest work</th></tr></thead><tbody>",
    ]
    for w in report.weeks:
        out.append(
            f'<tr class="{w.state.value}"><td class="name">{date_text(w.week_start)}</td>'
            f'<td class="num">{esc(hours_text(w.capacity))}</td>'
            f'<td class="num">{esc(hours_text(w.project_capacity))}</td>'
            f'<td class="num">{esc(hours_text(w.project_load))}</td>'
            f'<td class="num">{esc(hours_text(w.operational_load))}</td>'
            f'<td class="num">{esc(hours_text(w.total_load))}</td>'
            f"<td>{_pill(w.state)}</td><td>{_items_text(w, markdown=False, link=link)}</td></tr>"
        )
    out += ["</tbody></table>", "</section>"]
    return out


def team_unscheduled_html(
    report: TeamReport,
    link: EntityLink | None = None,
    *,
    start: int = 0,
    count: int | None = None,
) -> list[str]:
    """The unscheduled work section: its items ``start`` to ``start + count`` (all by default).

    The heading counts every unscheduled item; keys are linked by ``link``.
    """
    out = [
        '<section id="unscheduled">',
        f'<h2>Unscheduled work <span class="n">{len(report.unscheduled):,}</span></h2>',
    ]
    if not report.unscheduled:
        out += ['<p class="none muted">All open work has an effort and an end.</p>', "</section>"]
        return out
    out.append(
        "<p>Open work assigned to the team or its members that counts in no week, because "
        "it has no effort or no end:</p>"
    )
    out.append(
        "<table><thead><tr><th>Work</th><th>Kind</th><th>Counted as</th><th>Missing</th>"
        "</tr></thead><tbody>"
    )
    for u in report.unscheduled[start : None if count is None else start + count]:
        name = f" ({esc(u.name)})" if u.name != u.key else ""
        out.append(
            f"<tr><td>{key_html(u.kind, u.key, link)}{name}</td>"
            f"<td>{esc(KIND_SHORT[u.kind])}</td>"
            f"<td>{'project' if u.project_work else 'operational'}</td>"
            f'<td class="k">{esc(u.missing)}</td></tr>'
        )
    out += ["</tbody></table>", "</section>"]
    return out


# ---------------------------------------------------------------------- Markdown


def render_team_markdown(report: TeamReport) -> str:
    """Return the document as Markdown (GFM tables; no chart), ending with a newline."""
    named = report.team_name != report.team_key
    as_of = time_text(report.as_of) if report.as_of else "now (when generated)"
    out = [
        f"# Team load: {md_text(report.team_key)}"
        + (f" — {md_text(report.team_name)}" if named else ""),
        "",
        f"Generated {time_text(report.generated_at)} · graph as of {as_of} · {_period(report)}",
        "",
        f"**{md_text(report.worst.value)}.** {md_text(_verdict(report))}",
        "",
        f"- Capacity C: **{hours_text(report.capacity)}** a week, from "
        f"{md_text(report.capacity_source)}",
        f"- Project share: {md_text(_share_text(report))}",
        "- Weeks: " + ", ".join(f"{md_text(s.value)} {n:,}" for s, n in report.state_counts),
        "",
        f"## Weeks ({len(report.weeks):,})",
        "",
        "The chart of the weekly load is in the HTML format of this report.",
        "",
        md_row(
            "Week of",
            "Capacity",
            "Project capacity",
            "Project load",
            "Operational load",
            "Total",
            "State",
            "Largest work",
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for w in report.weeks:
        out.append(
            md_row(
                date_text(w.week_start),
                hours_text(w.capacity),
                hours_text(w.project_capacity),
                hours_text(w.project_load),
                hours_text(w.operational_load),
                hours_text(w.total_load),
                md_text(w.state.value),
                _items_text(w, markdown=True),
            )
        )
    out += ["", f"## Unscheduled work ({len(report.unscheduled):,})", ""]
    if not report.unscheduled:
        out.append("All open work has an effort and an end.")
    else:
        out += [
            md_row("Work", "Kind", "Counted as", "Missing"),
            "| --- | --- | --- | --- |",
        ]
        out += [
            md_row(
                f"**{md_text(u.key)}**" + (f" ({md_text(u.name)})" if u.name != u.key else ""),
                KIND_SHORT[u.kind],
                "project" if u.project_work else "operational",
                md_text(u.missing),
            )
            for u in report.unscheduled
        ]
    out += [
        "",
        "---",
        "",
        "OVERBOOKED: the total is above C. OVER\\_PROJECT\\_SHARE: project load above the "
        "project capacity, total within C. Weeks start on Monday, UTC.",
        "",
    ]
    return "\n".join(out)
