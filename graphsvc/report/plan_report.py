"""The project plan as a document a project manager reads (PRODUCT.md 7, ``projectPlan``).

:func:`plan_report` turns the analysis answer (:class:`~graphsvc.analysis.plan.ProjectPlan`)
into a frozen :class:`PlanReport`; :func:`render_plan_html` and
:func:`render_plan_markdown` render it. The document shows, in this order:

* the project, the plan's status (READY, AT_RISK, BLOCKED) in plain words and
  the analysis' one-line reason, the project's planned start, the earliest
  start and why, and how many tasks have each kind of problem;
* the critical path, in the order the work must be done, with each task's
  effort and due date and the total;
* every prerequisite task (open ones first, as the analysis orders them) with
  status, assignees, due date, effort, what it requires and each problem with
  its explanation;
* the ``REQUIRES`` cycles, when there are any.

Problem kinds are written in plain words (:data:`PROBLEM_WORDS`) with the kind's
name beside them; in HTML each is a coloured badge, red for problems that block
the project, amber for risks (blackouts, overbooked teams). The JSON format of
the plan is the analysis answer itself as REST writes it, so it is not rendered
here. Times are shown as UTC dates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from graphsvc.analysis.plan import RISKS, PlanStatus, PlanTask, ProblemKind, ProjectPlan
from graphsvc.model.records import EntityRecord
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
    "PROBLEM_WORDS",
    "STATUS_WORDS",
    "PlanAssignee",
    "PlanPathStep",
    "PlanProblem",
    "PlanReport",
    "PlanTaskLine",
    "plan_cycles_html",
    "plan_footer_html",
    "plan_path_html",
    "plan_report",
    "plan_summary_html",
    "plan_tasks_html",
    "render_plan_html",
    "render_plan_markdown",
]

PROBLEM_WORDS: dict[ProblemKind, str] = {
    ProblemKind.UNASSIGNED: "Nobody is assigned",
    ProblemKind.ASSIGNEE_GHOST: "Assigned to an empty or inactive team",
    ProblemKind.BLOCKED: "Blocked",
    ProblemKind.OVERDUE: "Overdue",
    ProblemKind.LATE: "Due after the project's planned start",
    ProblemKind.BLACKOUT: "Falls in a blackout window",
    ProblemKind.TEAM_OVERBOOKED: "A team carrying it is over capacity",
    ProblemKind.CYCLE: "On a circular chain of prerequisites",
}
"""Each problem kind in plain words."""

STATUS_WORDS: dict[PlanStatus, str] = {
    PlanStatus.READY: "Ready: no open prerequisite has a problem",
    PlanStatus.AT_RISK: "At risk: blackout windows or overbooked teams may delay the start",
    PlanStatus.BLOCKED: "Blocked: some prerequisites stop the project from starting as planned",
}
"""Each plan status in plain words."""


@dataclass(frozen=True, slots=True)
class PlanAssignee:
    """A team or person a task is assigned to.

    Attributes:
        kind: Team or Person.
        key: Its key.
        name: Its name (the key when it has none).
        status: Its entity status (``active``, ``stale``, ``retired``).
    """

    kind: EntityKind
    key: str
    name: str
    status: str


@dataclass(frozen=True, slots=True)
class PlanProblem:
    """One problem of one task.

    Attributes:
        kind: The problem kind.
        words: The kind in plain words (:data:`PROBLEM_WORDS`).
        explanation: The analysis' explanation, naming what causes it.
        risk: True for a risk (blackout, overbooked team), False for a problem
            that blocks the project.
    """

    kind: ProblemKind
    words: str
    explanation: str
    risk: bool


@dataclass(frozen=True, slots=True)
class PlanTaskLine:
    """One prerequisite task.

    Attributes:
        key: The task's key.
        name: Its name (the key when it has none).
        status: Its ``status`` attribute (``open`` when absent).
        open: Whether it is still to be done.
        assignees: Who it is assigned to, teams first.
        due: Its due date, if any.
        effort_hours: Its effort, if stated.
        requires: Keys of the plan's tasks it requires directly.
        problems: Its problems (none when done or cancelled).
    """

    key: str
    name: str
    status: str
    open: bool
    assignees: tuple[PlanAssignee, ...]
    due: datetime | None
    effort_hours: float | None
    requires: tuple[str, ...]
    problems: tuple[PlanProblem, ...]


@dataclass(frozen=True, slots=True)
class PlanPathStep:
    """One task of the critical path.

    Attributes:
        key: The task's key.
        name: Its name.
        effort_hours: Its effort, if stated (counted as 0 in the total otherwise).
        due: Its due date, if any.
    """

    key: str
    name: str
    effort_hours: float | None
    due: datetime | None


@dataclass(frozen=True, slots=True)
class PlanReport:
    """The project plan document.

    Attributes:
        project_key: The project's key.
        project_name: Its name (the key when it has none).
        planned_start: The project's ``plannedStart``, if stated.
        status: READY, AT_RISK or BLOCKED.
        status_words: The status in plain words (:data:`STATUS_WORDS`).
        reason: The analysis' one-line reason for the status.
        earliest_start: When the project can start at the earliest (``None``: unknown).
        earliest_start_reason: Why.
        critical_path: The chain of open tasks with the largest total effort, in
            the order the work must be done.
        critical_path_hours: The total effort of the critical path.
        tasks: Every prerequisite, open ones first.
        open_tasks: How many of them are open.
        problem_counts: Each problem kind that occurs and how many tasks have it,
            in the order of :class:`ProblemKind`.
        cycles: Each ``REQUIRES`` cycle, as the keys of its tasks.
        as_of: The time the graph was read at (``None``: now).
        generated_at: When the document was made.
    """

    project_key: str
    project_name: str
    planned_start: datetime | None
    status: PlanStatus
    status_words: str
    reason: str
    earliest_start: datetime | None
    earliest_start_reason: str
    critical_path: tuple[PlanPathStep, ...]
    critical_path_hours: float
    tasks: tuple[PlanTaskLine, ...]
    open_tasks: int
    problem_counts: tuple[tuple[ProblemKind, int], ...]
    cycles: tuple[tuple[str, ...], ...]
    as_of: datetime | None
    generated_at: datetime


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _effort(record: EntityRecord) -> float | None:
    value = record.attributes.get("effortHours")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _task_line(t: PlanTask) -> PlanTaskLine:
    return PlanTaskLine(
        key=t.task.key,
        name=t.task.name or t.task.key,
        status=t.status,
        open=t.open,
        assignees=tuple(
            PlanAssignee(a.kind, a.key, a.name or a.key, a.status.value) for a in t.assignees
        ),
        due=t.due,
        effort_hours=t.effort_hours,
        requires=tuple(r.key for r in t.requires),
        problems=tuple(
            PlanProblem(p.kind, PROBLEM_WORDS[p.kind], p.explanation, p.kind in RISKS)
            for p in t.problems
        ),
    )


def plan_report(plan: ProjectPlan, *, generated_at: datetime | None = None) -> PlanReport:
    """Build the document from the analysis answer.

    Args:
        plan: The answer of :func:`~graphsvc.analysis.plan.project_plan`.
        generated_at: When the document is made (default: the current time).
    """
    counts: Counter[ProblemKind] = Counter()
    for t in plan.tasks:
        counts.update({p.kind for p in t.problems})
    return PlanReport(
        project_key=plan.project.key,
        project_name=plan.project.name or plan.project.key,
        planned_start=_when(plan.project.attributes.get("plannedStart")),
        status=plan.status,
        status_words=STATUS_WORDS[plan.status],
        reason=plan.reason,
        earliest_start=plan.earliest_start,
        earliest_start_reason=plan.earliest_start_reason,
        critical_path=tuple(
            PlanPathStep(
                t.key,
                t.name or t.key,
                _effort(t),
                _when(t.attributes.get("due")),
            )
            for t in plan.critical_path
        ),
        critical_path_hours=plan.critical_path_hours,
        tasks=tuple(_task_line(t) for t in plan.tasks),
        open_tasks=sum(1 for t in plan.tasks if t.open),
        problem_counts=tuple((k, counts[k]) for k in ProblemKind if counts[k]),
        cycles=tuple(tuple(t.key for t in cycle) for cycle in plan.cycles),
        as_of=plan.as_of,
        generated_at=generated_at or datetime.now(UTC),
    )


# ---------------------------------------------------------------------- HTML

_STATUS_CSS = {PlanStatus.READY: "ok", PlanStatus.AT_RISK: "risk", PlanStatus.BLOCKED: "bad"}


def _pill(css: str, text: str, title: str | None = None) -> str:
    hint = f' title="{esc(title)}"' if title else ""
    return f'<span class="pill {css}"{hint}>{esc(text)}</span>'


def _problem_pill(kind: ProblemKind) -> str:
    css = "risk" if kind in RISKS else "bad"
    return _pill(css, kind.value, PROBLEM_WORDS[kind])


def _problem_text(problem: PlanProblem) -> str:
    """``Overdue: it was due 2030-01-03``; only the words when the explanation repeats them."""
    if problem.explanation.lower().startswith(problem.words.lower()):
        return problem.words
    return f"{problem.words}: {problem.explanation}"


def _named(
    key: str, name: str, kind: EntityKind = EntityKind.TASK, link: EntityLink | None = None
) -> str:
    extra = f" ({esc(name)})" if name and name != key else ""
    return f"{key_html(kind, key, link)}{extra}"


def _assignee_html(a: PlanAssignee, link: EntityLink | None = None) -> str:
    kind = KIND_SHORT[a.kind]
    status = "" if a.status == "active" else " " + _pill("risk", a.status)
    return f'<span class="muted">{esc(kind)}</span> {_named(a.key, a.name, a.kind, link)}{status}'


def _more_html(shown: int, total: int) -> list[str]:
    """``and 12 more`` under a list cut to ``shown`` of ``total`` (nothing if none is cut)."""
    if total <= shown:
        return []
    return [f'<p class="muted more">and {total - shown:,} more</p>']


def _date_or(moment: datetime | None, missing: str) -> str:
    return date_text(moment) if moment is not None else missing


def render_plan_html(report: PlanReport) -> str:
    """Return the document as one self-contained HTML page (no script, nothing fetched)."""
    title = f"Project plan: {report.project_key}" + (
        f" — {report.project_name}" if report.project_name != report.project_key else ""
    )
    as_of = time_text(report.as_of) if report.as_of else "now (when generated)"
    name = (
        f' <span class="name">{esc(report.project_name)}</span>'
        if report.project_name != report.project_key
        else ""
    )
    body = [
        '<header id="top">',
        '<div class="eyebrow">Project plan · prerequisites</div>',
        f'<h1><span class="key">{esc(report.project_key)}</span>{name}</h1>',
        f'<p class="meta">Generated {esc(time_text(report.generated_at))} · graph as of '
        f"{esc(as_of)}</p>",
        "</header>",
    ]
    body += plan_summary_html(report)
    body += plan_path_html(report)
    body += plan_tasks_html(report)
    body += plan_cycles_html(report)
    body += plan_footer_html()
    return page(title, "graphsvc project plan report", body)


def plan_summary_html(report: PlanReport, *, section_id: str = "summary") -> list[str]:
    """The summary section: the status and why, planned and earliest start, problem counts.

    Args:
        report: The document.
        section_id: The ``id`` of the ``<section>`` (a page holding several summaries
            gives each its own).
    """
    body = [
        f'<section id="{esc(section_id)}">',
        f'<div class="verdict {report.status.value}">',
        f"<div>{_pill(_STATUS_CSS[report.status], report.status.value)}</div>",
        f'<div><p class="verdict-line">{esc(report.status_words)}</p>'
        f'<p class="meta">{esc(report.reason)}</p></div>',
        "</div>",
        '<dl class="facts">',
    ]

    def fact(label: str, value_html: str) -> None:
        body.append(f"<div><dt>{esc(label)}</dt><dd>{value_html}</dd></div>")

    fact("Planned start", esc(_date_or(report.planned_start, "not stated")))
    fact(
        "Earliest start",
        f"<strong>{esc(_date_or(report.earliest_start, 'unknown'))}</strong>"
        f'<br><span class="muted">{esc(report.earliest_start_reason)}</span>',
    )
    done = len(report.tasks) - report.open_tasks
    fact(
        "Prerequisites",
        esc(f"{plural(len(report.tasks), 'task')}: {report.open_tasks:,} open, {done:,} done"),
    )
    fact(
        "Problems",
        "<br>".join(
            f"{_problem_pill(kind)} {esc(plural(n, 'task'))}: {esc(PROBLEM_WORDS[kind])}"
            for kind, n in report.problem_counts
        )
        or '<span class="muted">none</span>',
    )
    body += ["</dl>", "</section>"]
    return body


def plan_path_html(
    report: PlanReport, link: EntityLink | None = None, most: int | None = None
) -> list[str]:
    """The critical path section: its first ``most`` tasks (all by default), linked by ``link``."""
    shown = report.critical_path if most is None else report.critical_path[:most]
    out = [
        '<section id="critical-path">',
        f'<h2>Critical path <span class="n">{len(report.critical_path):,}</span></h2>',
    ]
    if not report.critical_path:
        out += ['<p class="none muted">No open prerequisite: there is no critical path.</p>']
    else:
        out.append(
            f"<p>The chain of open tasks with the most work, "
            f"{esc(hours_text(report.critical_path_hours))} in all, in the order it must be "
            "done:</p>"
        )
        out.append('<ol class="path">')
        for step in shown:
            effort = hours_text(step.effort_hours) if step.effort_hours is not None else "no effort"
            due = f"due {date_text(step.due)}" if step.due else "no due date"
            out.append(
                f"<li>{_named(step.key, step.name, link=link)} "
                f'<span class="muted">· {esc(effort)} · {esc(due)}</span></li>'
            )
        out.append("</ol>")
        out += _more_html(len(shown), len(report.critical_path))
    out.append("</section>")
    return out


def plan_tasks_html(
    report: PlanReport,
    link: EntityLink | None = None,
    *,
    start: int = 0,
    count: int | None = None,
) -> list[str]:
    """The prerequisites section: the tasks ``start`` to ``start + count`` (all by default).

    The heading counts every task of the plan; entities are linked by ``link``.
    """
    out = [
        '<section id="tasks">',
        f'<h2>Prerequisites <span class="n">{len(report.tasks):,}</span></h2>',
    ]
    if not report.tasks:
        out += [
            '<p class="none muted">The project requires no task and has no task of its own.</p>',
            "</section>",
        ]
        return out
    out.append(
        '<table class="fixed"><colgroup><col class="w20"><col class="w9">'
        '<col class="w17"><col class="w10"><col class="w7">'
        '<col class="w37"></colgroup><thead><tr><th>Task</th><th>Status</th>'
        '<th>Assigned to</th><th>Due</th><th class="num">Effort</th><th>Problems</th></tr>'
        "</thead><tbody>"
    )
    for t in report.tasks[start : None if count is None else start + count]:
        css = "" if t.open else ' class="closed"'
        status = _pill(
            "done" if not t.open else ("bad" if t.status == "blocked" else "ok"), t.status
        )
        assignees = (
            "<br>".join(_assignee_html(a, link) for a in t.assignees)
            or '<span class="muted">nobody</span>'
        )
        requires = (
            '<br><span class="muted">requires '
            + ", ".join(key_html(EntityKind.TASK, k, link) for k in t.requires)
            + "</span>"
            if t.requires
            else ""
        )
        problems = (
            '<ul class="problems">'
            + "".join(
                f"<li>{_problem_pill(p.kind)} {esc(_problem_text(p))}</li>" for p in t.problems
            )
            + "</ul>"
            if t.problems
            else '<span class="muted">none</span>'
        )
        effort = hours_text(t.effort_hours) if t.effort_hours is not None else "—"
        out.append(
            f"<tr{css}><td>{_named(t.key, t.name, link=link)}{requires}</td><td>{status}</td>"
            f"<td>{assignees}</td><td>{esc(_date_or(t.due, '—'))}</td>"
            f'<td class="num">{esc(effort)}</td><td>{problems}</td></tr>'
        )
    out += ["</tbody></table>", "</section>"]
    return out


def plan_cycles_html(
    report: PlanReport, link: EntityLink | None = None, most: int | None = None
) -> list[str]:
    """The circular prerequisites section (nothing without cycles), the first ``most`` cycles."""
    if not report.cycles:
        return []
    shown = report.cycles if most is None else report.cycles[:most]
    out = [
        '<section id="cycles">',
        f'<h2>Circular prerequisites <span class="n">{len(report.cycles):,}</span></h2>',
        "<p>These tasks require each other, directly or through others; none of them can "
        "be finished first until a REQUIRES relation is removed.</p>",
        "<ul>",
    ]
    out += [
        "<li>" + " ↔ ".join(key_html(EntityKind.TASK, k, link) for k in cycle) + "</li>"
        for cycle in shown
    ]
    out += ["</ul>", *_more_html(len(shown), len(report.cycles)), "</section>"]
    return out


def plan_footer_html() -> list[str]:
    """The footer: how to read the plan, and each problem kind in words."""
    words = " ".join(
        f"{esc(kind.value)}: {esc(PROBLEM_WORDS[kind].lower())}." for kind in ProblemKind
    )
    return [
        "<footer>",
        "<p><strong>How to read this plan.</strong> The prerequisites are every task the "
        "project requires, directly or through other tasks, and every task that is part of "
        "it. Only open tasks (not done or cancelled) have problems. READY: no open task has "
        "a problem. AT_RISK: the only problems are blackout windows and overbooked teams "
        "(amber). BLOCKED: any other problem (red). The earliest start is the latest due "
        "date of the open tasks. Dates are UTC.</p>",
        f"<p>{words}</p>",
        "</footer>",
    ]


# ---------------------------------------------------------------------- Markdown


def _md_named(key: str, name: str) -> str:
    return f"**{md_text(key)}**" + (f" ({md_text(name)})" if name and name != key else "")


def render_plan_markdown(report: PlanReport) -> str:
    """Return the document as Markdown (CommonMark with GFM tables), ending with a newline."""
    as_of = time_text(report.as_of) if report.as_of else "now (when generated)"
    title = md_text(report.project_key) + (
        f" — {md_text(report.project_name)}" if report.project_name != report.project_key else ""
    )
    done = len(report.tasks) - report.open_tasks
    out = [
        f"# Project plan: {title}",
        "",
        f"Generated {time_text(report.generated_at)} · graph as of {as_of}",
        "",
        f"**Status: {report.status.value}.** {md_text(report.status_words)}.",
        "",
        md_text(report.reason),
        "",
        f"- Planned start: {_date_or(report.planned_start, 'not stated')}",
        f"- Earliest start: **{_date_or(report.earliest_start, 'unknown')}** "
        f"({md_text(report.earliest_start_reason)})",
        f"- Prerequisites: {plural(len(report.tasks), 'task')}: "
        f"{report.open_tasks:,} open, {done:,} done",
    ]
    if report.problem_counts:
        out.append("- Problems:")
        out += [
            f"  - {md_text(kind.value)} ({md_text(PROBLEM_WORDS[kind])}): {plural(n, 'task')}"
            for kind, n in report.problem_counts
        ]
    else:
        out.append("- Problems: none")
    out += ["", f"## Critical path ({len(report.critical_path):,})", ""]
    if not report.critical_path:
        out.append("No open prerequisite: there is no critical path.")
    else:
        out += [
            f"The chain of open tasks with the most work, {hours_text(report.critical_path_hours)}"
            " in all, in the order it must be done:",
            "",
        ]
        for n, step in enumerate(report.critical_path, start=1):
            effort = hours_text(step.effort_hours) if step.effort_hours is not None else "no effort"
            due = f"due {date_text(step.due)}" if step.due else "no due date"
            out.append(f"{n}. {_md_named(step.key, step.name)} · {effort} · {due}")
    out += ["", f"## Prerequisites ({len(report.tasks):,})", ""]
    if not report.tasks:
        out.append("The project requires no task and has no task of its own.")
    else:
        out += [
            md_row("Task", "Status", "Assigned to", "Due", "Effort", "Requires", "Problems"),
            "| --- | --- | --- | --- | ---: | --- | --- |",
        ]
        for t in report.tasks:
            out.append(
                md_row(
                    _md_named(t.key, t.name),
                    md_text(t.status),
                    ", ".join(
                        f"{KIND_SHORT[a.kind]} {_md_named(a.key, a.name)}"
                        + (f" ({md_text(a.status)})" if a.status != "active" else "")
                        for a in t.assignees
                    )
                    or "nobody",
                    _date_or(t.due, "—"),
                    hours_text(t.effort_hours) if t.effort_hours is not None else "—",
                    ", ".join(md_text(k) for k in t.requires),
                    "<br>".join(
                        f"**{md_text(p.kind.value)}** {md_text(_problem_text(p))}"
                        for p in t.problems
                    )
                    or "none",
                )
            )
    if report.cycles:
        out += [
            "",
            f"## Circular prerequisites ({len(report.cycles):,})",
            "",
            "These tasks require each other, directly or through others:",
            "",
        ]
        out += ["- " + " ↔ ".join(md_text(k) for k in cycle) for cycle in report.cycles]
    out += [
        "",
        "---",
        "",
        "READY: no open task has a problem. AT\\_RISK: the only problems are blackout windows "
        "and overbooked teams. BLOCKED: any other problem. Dates are UTC.",
        "",
    ]
    return "\n".join(out)
