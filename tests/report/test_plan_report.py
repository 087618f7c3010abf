"""The project plan document (``graphsvc report project``): built from projectPlan, rendered.

The graph is :mod:`tests.report.work_graph`, loaded through the ingest engine
into a real embedded store; the plan is computed with *now* fixed at 2030-01-07.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import pytest

from graphsvc.analysis.plan import PlanStatus, ProblemKind, project_plan
from graphsvc.ingest.engine import IngestEngine
from graphsvc.report.plan_report import (
    PlanReport,
    plan_report,
    render_plan_html,
    render_plan_markdown,
)
from graphsvc.store.base import GraphStore
from tests.report.work_graph import NOW, TASK_A_NAME, work_graph

Build = Callable[[str], Awaitable[PlanReport]]


@pytest.fixture
async def report_of(engine: IngestEngine, store: GraphStore) -> Build:
    await work_graph(engine)

    async def build(key: str) -> PlanReport:
        return plan_report(await project_plan(store, key, now=NOW), generated_at=NOW)

    return build


async def test_the_model_carries_status_path_and_tasks(report_of: Build) -> None:
    report = await report_of("prj-x")
    assert report.status is PlanStatus.BLOCKED
    assert report.reason.startswith("BLOCKED: 1 task UNASSIGNED, 1 task LATE")
    assert report.earliest_start is not None and report.earliest_start.date().isoformat() == (
        "2030-02-05"
    )
    assert "tsk-c" in report.earliest_start_reason
    assert [s.key for s in report.critical_path] == ["tsk-b", "tsk-a"]
    assert report.critical_path_hours == 75
    assert [t.key for t in report.tasks] == ["tsk-b", "tsk-a", "tsk-c", "tsk-d"]
    assert report.open_tasks == 3
    assert dict(report.problem_counts) == {
        ProblemKind.UNASSIGNED: 1,
        ProblemKind.LATE: 1,
        ProblemKind.TEAM_OVERBOOKED: 2,
    }
    [b] = [t for t in report.tasks if t.key == "tsk-b"]
    assert [(p.kind, p.risk) for p in b.problems] == [(ProblemKind.TEAM_OVERBOOKED, True)]
    assert "OVERBOOKED in the week of 2030-01-07" in b.problems[0].explanation


async def test_markdown_header_path_and_one_row_per_task(report_of: Build) -> None:
    text = render_plan_markdown(await report_of("prj-x"))
    assert text.startswith("# Project plan: prj-x\n")
    assert "**Status: BLOCKED.**" in text
    assert "- Earliest start: **2030-02-05** (when the last open prerequisite, tsk-c, is due)" in (
        text
    )
    # the critical path, in the order the work must be done, with effort and due date
    assert "1. **tsk-b** · 50 h · due 2030-01-12\n2. **tsk-a**" in text
    rows = [line for line in text.splitlines() if line.startswith("| **tsk-")]
    assert [re.match(r"\| \*\*(tsk-\w+)", r).group(1) for r in rows] == [  # type: ignore[union-attr]
        "tsk-b",
        "tsk-a",
        "tsk-c",
        "tsk-d",
    ]
    c_row = rows[2]
    assert "| nobody |" in c_row and "| 2030-02-05 | 8 h |" in c_row
    assert "**UNASSIGNED** Nobody is assigned" in c_row
    assert "**LATE** Due after the project's planned start: it is due 2030-02-05" in c_row
    assert rows[3].endswith("| none |")  # done: no problems
    # a name with markup cannot break the table or turn into markup
    a_row = rows[1]
    assert "Migrate \\<db\\> \\| core \\*now\\*" in a_row
    assert a_row.count(" | ") == 6  # seven cells


async def test_html_badges_problem_words_and_nothing_fetched(report_of: Build) -> None:
    html = render_plan_html(await report_of("prj-x"))
    assert html.startswith("<!DOCTYPE html>")
    assert '<div class="verdict BLOCKED">' in html
    # blocking problems are red badges, risks amber; each badge says what the kind means
    assert '<span class="pill bad" title="Nobody is assigned">UNASSIGNED</span>' in html
    assert (
        '<span class="pill risk" title="A team carrying it is over capacity">'
        "TEAM_OVERBOOKED</span>" in html
    )
    assert "Due after the project&#x27;s planned start: it is due 2030-02-05" in html
    path = html[html.index('id="critical-path"') : html.index('id="tasks"')]
    assert path.index("tsk-b") < path.index("tsk-a") and "75 h in all" in path
    assert TASK_A_NAME not in html and "Migrate &lt;db&gt; | core *now*" in html
    assert re.search(r"https?://", html) is None
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert 'id="cycles"' not in html


async def test_cycles_are_listed(report_of: Build) -> None:
    report = await report_of("prj-y")
    assert report.cycles == (("tsk-y1", "tsk-y2"),)
    html = render_plan_html(report)
    cycles = html[html.index('id="cycles"') :]
    assert '<span class="k">tsk-y1</span> ↔ <span class="k">tsk-y2</span>' in cycles
    text = render_plan_markdown(report)
    assert "## Circular prerequisites (1)\n" in text and "- tsk-y1 ↔ tsk-y2" in text
    assert "**CYCLE** On a circular chain of prerequisites: it is on a REQUIRES cycle" in text


async def test_a_plan_whose_tasks_are_done_is_ready(report_of: Build) -> None:
    report = await report_of("prj-done")
    assert report.status is PlanStatus.READY and report.critical_path == ()
    text = render_plan_markdown(report)
    assert "**Status: READY.**" in text and "- Problems: none" in text
    assert "No open prerequisite: there is no critical path." in text
    html = render_plan_html(report)
    assert '<div class="verdict READY">' in html and '<span class="pill ok">READY</span>' in html
