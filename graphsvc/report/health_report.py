"""The CMDB health document (PRODUCT.md 9): HTML with the 30-day chart, and Markdown.

:func:`build_health_document` asks :func:`graphsvc.analysis.health.health` for
the report, :func:`~graphsvc.analysis.health.score_trend` for the 30-day
trend, and reads the first :data:`SAMPLE` failing entities of each check that
does not pass (the rest are counted, and read through the API's paged
``entities``). :func:`render_health_html` writes one self-contained page in
the look of the change and team reports (the same stylesheet, a
Content-Security-Policy that forbids every fetch and script, the chart as
inline SVG, every string from the graph escaped); :func:`render_health_markdown`
the same content as GFM without the chart. The JSON format is the document as
the REST API writes it (``graphsvc.api.answers``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from graphsvc.analysis.health import (
    CheckUnit,
    HealthCheckResult,
    HealthEntity,
    HealthReport,
    ScoreCache,
    health,
    health_entities,
    score_trend,
)
from graphsvc.analysis.readiness import CheckResult
from graphsvc.report.pages import date_text, esc, md_row, md_text, page
from graphsvc.report.wording import plural, time_text
from graphsvc.store.base import GraphStore

__all__ = [
    "SAMPLE",
    "CheckSample",
    "HealthDocument",
    "build_health_document",
    "render_health_html",
    "render_health_markdown",
    "score_chart_svg",
]

SAMPLE = 20
"""Failing entities listed per check in the document."""


@dataclass(frozen=True, slots=True)
class CheckSample:
    """The first failing entities of one check (``more``: how many are not listed)."""

    check: str
    entities: tuple[HealthEntity, ...]
    more: int


@dataclass(frozen=True, slots=True, eq=False)
class HealthDocument:
    """What the health document shows: the report (with its trend) and entity samples."""

    report: HealthReport
    samples: tuple[CheckSample, ...]


async def build_health_document(
    store: GraphStore,
    *,
    as_of: datetime | None = None,
    cache: ScoreCache | None = None,
    sample: int = SAMPLE,
    trend: bool = True,
    now: Callable[[], datetime] | None = None,
) -> HealthDocument:
    """Compute the health report with its 30-day trend and the entity samples.

    ``trend=False`` leaves the trend empty (no past score is computed): for a
    caller that draws the trend from the points already known
    (:func:`graphsvc.analysis.health.known_trend`) and computes the others apart.
    ``now``: the clock of ``generated`` (default: the time).
    """
    report = await (health(store, as_of=as_of, now=now) if now else health(store, as_of=as_of))
    if trend:
        report = await score_trend(store, report, cache=cache)
    samples = []
    for check in report.checks:
        if check.result is CheckResult.PASS or not check.entity_count:
            continue
        found = await health_entities(store, check, first=sample)
        samples.append(CheckSample(check.name, found.items, check.entity_count - len(found.items)))
    return HealthDocument(report, tuple(samples))


# ------------------------------------------------------------------------ words

_PILL = {CheckResult.PASS: "ok", CheckResult.WARN: "risk", CheckResult.FAIL: "bad"}
_VERDICT = {CheckResult.PASS: "READY", CheckResult.WARN: "AT_RISK", CheckResult.FAIL: "BLOCKED"}


def _undecided(check: HealthCheckResult) -> str:
    """`` (N not decided)`` when the check left items out (see ``HealthCheckResult``)."""
    return f" ({check.undecided:,} not decided)" if check.undecided else ""


def _figure(check: HealthCheckResult, value: float | None = None) -> str:
    v = check.figure if value is None else value
    text = f"{v:,.2f}".rstrip("0").rstrip(".")
    return text + (" %" if check.unit is CheckUnit.PERCENT else "")


def _bounds(check: HealthCheckResult) -> str:
    return f"WARN > {_figure(check, check.warn_above)}, FAIL > {_figure(check, check.fail_above)}"


def _verdict(report: HealthReport) -> str:
    failing = [c.title for c in report.checks if c.result is CheckResult.FAIL]
    warning = [c.title for c in report.checks if c.result is CheckResult.WARN]
    if not failing and not warning:
        return f"Score {report.score}/100: every check passes."
    parts = []
    if failing:
        parts.append(f"{plural(len(failing), 'check')} fail ({', '.join(failing)})")
    if warning:
        parts.append(f"{plural(len(warning), 'check')} warn ({', '.join(warning)})")
    return f"Score {report.score}/100: " + "; ".join(parts) + "."


def _pill(result: CheckResult) -> str:
    return f'<span class="pill {_PILL[result]}">{esc(result.value)}</span>'


def _label(h: HealthEntity) -> str:
    e = h.entity
    return f"{e.kind.value}/{e.key}" + (f" ({e.name})" if e.name and e.name != e.key else "")


# ------------------------------------------------------------------------ chart


def score_chart_svg(report: HealthReport, width: int = 720, height: int = 200) -> str:
    """Return the score over the trend's points as a small inline SVG line chart.

    The y axis runs 0-100 with grid lines every 25; a point without a score
    (no entity then) breaks the line. Dates label the first, last and every
    seventh point.
    """
    left, right, top, bottom = 36, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    points = report.trend
    n = max(len(points), 2)

    def x(i: int) -> float:
        return left + plot_w * i / (n - 1)

    def y(score: float) -> float:
        return top + plot_h * (1 - score / 100)

    out = [
        f'<svg viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="Health score over the last {len(points)} days">',
        f"<title>Health score over the last {len(points)} days</title>",
    ]
    for tick in (0, 25, 50, 75, 100):
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#d8dde3" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#5b6570">{tick}</text>'
        )
    runs: list[list[str]] = [[]]
    for i, p in enumerate(points):
        if p.score is None:
            runs.append([])
            continue
        runs[-1].append(f"{x(i):.1f},{y(p.score):.1f}")
    for run in runs:
        if len(run) > 1:
            out.append(
                f'<polyline points="{" ".join(run)}" fill="none" stroke="#1f5fa8" '
                'stroke-width="2"/>'
            )
    for i, p in enumerate(points):
        if p.score is not None:
            out.append(
                f'<circle cx="{x(i):.1f}" cy="{y(p.score):.1f}" r="3" fill="#1f5fa8">'
                f"<title>{esc(date_text(p.at))}: {p.score}</title></circle>"
            )
        if i in (0, len(points) - 1) or (len(points) - 1 - i) % 7 == 0:
            out.append(
                f'<text x="{x(i):.1f}" y="{height - 8}" font-size="11" text-anchor="middle" '
                f'fill="#5b6570">{esc(date_text(p.at)[5:])}</text>'
            )
    out.append("</svg>")
    return "".join(out)


# ------------------------------------------------------------------------ HTML


def render_health_html(document: HealthDocument) -> str:
    """Return the document as one self-contained HTML page with the 30-day chart."""
    report = document.report
    as_of = time_text(report.as_of) if report.as_of else "now (when generated)"
    body = [
        '<header id="top">',
        '<div class="eyebrow">CMDB health</div>',
        f'<h1><span class="key">Score {report.score}</span> <span class="name">of 100</span></h1>',
        f'<p class="meta">Generated {esc(time_text(report.generated))} · graph as of '
        f"{esc(as_of)}</p>",
        "</header>",
        '<section id="summary">',
        f'<div class="verdict {_VERDICT[report.result]}">',
        f"<div>{_pill(report.result)}</div>",
        f'<p class="verdict-line">{esc(_verdict(report))}</p>',
        "</div>",
        "</section>",
        '<section id="chart">',
        "<h2>Score over the last 30 days</h2>",
        '<figure class="chart">',
        score_chart_svg(report),
        "<figcaption>The score at each UTC midnight of the last 29 days and at the moment "
        "of this report; a gap means the graph held no entity then.</figcaption>",
        "</figure>",
        "</section>",
        '<section id="checks">',
        f'<h2>Checks <span class="n">{len(report.checks)}</span></h2>',
        '<table><thead><tr><th>Check</th><th>Result</th><th class="num">Figure</th>'
        '<th>Threshold</th><th class="num">Failing</th><th class="num">Weight</th>'
        "</tr></thead><tbody>",
    ]
    for c in report.checks:
        body.append(
            f'<tr><td class="name">{esc(c.title)}<br><span class="muted">'
            f"{esc(c.description)}</span></td><td>{_pill(c.result)}</td>"
            f'<td class="num">{esc(_figure(c))}</td><td>{esc(_bounds(c))}</td>'
            f'<td class="num">{c.failing:,} of {c.population:,}{_undecided(c)}</td>'
            f'<td class="num">{c.weight}</td></tr>'
        )
    body += ["</tbody></table>", "</section>"]
    body += _sources_html(report)
    body += _scopes_html(report)
    body += _samples_html(document)
    body += [
        "<footer>",
        "<p><strong>How the score is made.</strong> score = round(100 * sum(weight * (1 - "
        "failing / population)) / sum(weight)) over the checks: the weighted share of the items "
        "each check examines that pass it. Thresholds decide PASS, WARN and FAIL only. A live "
        "service is not retired and its lifecycle is not planned, retiring or retired; owners "
        "and support teams count when inherited through PART_OF.</p>",
        "</footer>",
    ]
    return page(f"CMDB health: {report.score}/100", "graphsvc health report", body)


def _sources_html(report: HealthReport) -> list[str]:
    out = [
        '<section id="sources">',
        f'<h2>Sources, worst first <span class="n">{len(report.sources)}</span></h2>',
    ]
    if not report.sources:
        return [*out, '<p class="none muted">No source asserts any entity.</p>', "</section>"]
    out.append(
        '<table><thead><tr><th>Source</th><th class="num">Items</th><th class="num">Stale</th>'
        '<th class="num">Conflicts</th><th class="num">Missing required</th>'
        '<th class="num">With problems</th></tr></thead><tbody>'
    )
    for s in report.sources:
        out.append(
            f'<tr><td class="k">{esc(s.source)}</td><td class="num">{s.items:,}</td>'
            f'<td class="num">{s.stale:,}</td><td class="num">{s.conflicts:,}</td>'
            f'<td class="num">{s.missing_required:,}</td>'
            f'<td class="num">{s.problem_share:g} %</td></tr>'
        )
    return [*out, "</tbody></table>", "</section>"]


def _scopes_html(report: HealthReport) -> list[str]:
    scopes = next((c.scopes for c in report.checks if c.name == "staleShare"), ())
    if not scopes:
        return []
    out = [
        '<section id="scopes">',
        f'<h2>Stale share per source and scope <span class="n">{len(scopes)}</span></h2>',
        '<table><thead><tr><th>Source</th><th>Scope</th><th class="num">Items</th>'
        '<th class="num">Stale</th><th class="num">Share</th><th>Result</th></tr></thead><tbody>',
    ]
    for s in scopes:
        out.append(
            f'<tr><td class="k">{esc(s.source)}</td><td class="k">{esc(s.scope)}</td>'
            f'<td class="num">{s.items:,}</td><td class="num">{s.stale:,}</td>'
            f'<td class="num">{s.share:g} %</td><td>{_pill(s.result)}</td></tr>'
        )
    return [*out, "</tbody></table>", "</section>"]


def _samples_html(document: HealthDocument) -> list[str]:
    titles = {c.name: c.title for c in document.report.checks}
    out = ['<section id="entities">', "<h2>Entities failing the checks</h2>"]
    if not document.samples:
        return [*out, '<p class="none muted">Nothing fails.</p>', "</section>"]
    for s in document.samples:
        out.append(f"<h3>{esc(titles[s.check])}</h3>")
        out.append('<ul class="problems">')
        out += [
            f'<li><span class="k">{esc(_label(h))}</span> — {esc(h.reason)}</li>'
            for h in s.entities
        ]
        if s.more:
            out.append(
                f'<li class="muted">and {s.more:,} more (GraphQL: health {{ checks {{ '
                f"entities(first, after) }} }})</li>"
            )
        out.append("</ul>")
    return [*out, "</section>"]


# -------------------------------------------------------------------- Markdown


def render_health_markdown(document: HealthDocument) -> str:
    """Return the document as Markdown (GFM tables; no chart), ending with a newline."""
    report = document.report
    as_of = time_text(report.as_of) if report.as_of else "now (when generated)"
    out = [
        f"# CMDB health: {report.score}/100",
        "",
        f"Generated {time_text(report.generated)} · graph as of {as_of}",
        "",
        f"**{report.result.value}.** {md_text(_verdict(report))}",
        "",
        "Score over the last 30 days (oldest first): "
        + ", ".join("n/a" if p.score is None else str(p.score) for p in report.trend),
        "",
        f"## Checks ({len(report.checks)})",
        "",
        md_row("Check", "Result", "Figure", "Threshold", "Failing", "Weight"),
        "| --- | --- | ---: | --- | ---: | ---: |",
    ]
    out += [
        md_row(
            md_text(c.title),
            c.result.value,
            md_text(_figure(c)),
            md_text(_bounds(c)),
            f"{c.failing:,} of {c.population:,}{_undecided(c)}",
            str(c.weight),
        )
        for c in report.checks
    ]
    out += ["", f"## Sources, worst first ({len(report.sources)})", ""]
    if report.sources:
        out += [
            md_row("Source", "Items", "Stale", "Conflicts", "Missing required", "With problems"),
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        out += [
            md_row(
                md_text(s.source),
                f"{s.items:,}",
                f"{s.stale:,}",
                f"{s.conflicts:,}",
                f"{s.missing_required:,}",
                f"{s.problem_share:g} %",
            )
            for s in report.sources
        ]
    else:
        out.append("No source asserts any entity.")
    titles = {c.name: c.title for c in report.checks}
    out += ["", "## Entities failing the checks", ""]
    if not document.samples:
        out.append("Nothing fails.")
    for s in document.samples:
        out += [f"### {md_text(titles[s.check])}", ""]
        out += [f"- **{md_text(_label(h))}** — {md_text(h.reason)}" for h in s.entities]
        if s.more:
            out.append(f"- and {s.more:,} more")
        out.append("")
    out += [
        "",
        "---",
        "",
        "score = round(100 * sum(weight * (1 - failing / population)) / sum(weight))"
        " over the checks.",
        "",
    ]
    return "\n".join(out)
