"""The team load document (``graphsvc report team``): built from teamLoad, rendered, charted.

The graph is :mod:`tests.report.work_graph`, loaded through the ingest engine
into a real embedded store; *now* is fixed at 2030-01-07, so t-dev's three weeks
are OVERBOOKED (50 h of project work), OVER_PROJECT_SHARE (25 h of project work,
project capacity 20 h) and OK (30 h of operational work).
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from graphsvc.analysis.work import WeekState, team_load
from graphsvc.ingest.engine import IngestEngine
from graphsvc.report.team_report import (
    TeamReport,
    load_chart_svg,
    render_team_html,
    render_team_markdown,
    team_report,
)
from graphsvc.store.base import GraphStore
from tests.report.work_graph import END, NOW, work_graph

Build = Callable[..., Awaitable[TeamReport]]


@pytest.fixture
async def report_of(engine: IngestEngine, store: GraphStore) -> Build:
    await work_graph(engine)

    async def build(key: str = "t-dev", end: datetime = END) -> TeamReport:
        answer = await team_load(store, key, NOW, end, now=NOW)
        return team_report(answer, generated_at=NOW)

    return build


def svg_of(html: str) -> ET.Element:
    """The chart of an HTML page, parsed as XML (fails when it is not well-formed)."""
    start, end = html.index("<svg"), html.index("</svg>") + len("</svg>")
    return ET.fromstring(html[start:end])


def week_groups(svg: ET.Element) -> list[ET.Element]:
    return [g for g in svg.iter("g") if g.get("class") == "week"]


def grid_y(svg: ET.Element, label: str) -> float:
    """The y of the grid line whose axis label is ``label`` (e.g. ``40 h``)."""
    axis = next(g for g in svg.iter("g") if g.get("class") == "y-axis")
    children = list(axis)
    for i, child in enumerate(children):
        if child.tag == "text" and child.text == label:
            return float(children[i - 1].get("y1", "nan"))
    raise AssertionError(f"no axis label {label!r}")


async def test_the_model(report_of: Build) -> None:
    report = await report_of()
    assert report.capacity == 40 and report.project_capacity == 20
    assert report.capacity_source == "capacityHoursPerWeek"
    assert [w.state for w in report.weeks] == [
        WeekState.OVERBOOKED,
        WeekState.OVER_PROJECT_SHARE,
        WeekState.OK,
    ]
    assert [(w.project_load, w.operational_load) for w in report.weeks] == [
        (50, 0),
        (25, 0),
        (0, 30),
    ]
    assert report.worst is WeekState.OVERBOOKED
    assert dict(report.state_counts) == {
        WeekState.OK: 1,
        WeekState.OVER_PROJECT_SHARE: 1,
        WeekState.OVERBOOKED: 1,
    }
    assert [(u.key, u.missing) for u in report.unscheduled] == [("tsk-u", "effortHours and due")]


async def test_markdown_has_a_row_per_week_and_the_unscheduled_work(report_of: Build) -> None:
    text = render_team_markdown(await report_of())
    assert text.startswith("# Team load: t-dev\n")
    assert "**OVERBOOKED.** 2 of 3 weeks are not OK: 1 OVERBOOKED, 1 OVER\\_PROJECT\\_SHARE." in (
        text
    )
    assert "- Capacity C: **40 h** a week, from capacityHoursPerWeek" in text
    assert "- Project share: 50% of C: 20 h a week for project work, 20 h for operations" in text
    rows = [line for line in text.splitlines() if line.startswith("| 2030-")]
    assert rows == [
        "| 2030-01-07 | 40 h | 20 h | 50 h | 0 h | 50 h | OVERBOOKED | tsk-b 50 h (project) |",
        "| 2030-01-14 | 40 h | 20 h | 25 h | 0 h | 25 h | OVER\\_PROJECT\\_SHARE "
        "| tsk-a 25 h (project) |",
        "| 2030-01-21 | 40 h | 20 h | 0 h | 30 h | 30 h | OK | tsk-ops 30 h (operational) |",
    ]
    assert "| **tsk-u** | Task | operational | effortHours and due |" in text


async def test_the_chart_is_well_formed_svg_with_a_bar_group_per_week(report_of: Build) -> None:
    html = render_team_html(await report_of())
    svg = svg_of(html)
    assert svg.get("role") == "img"
    assert svg.find("title") is not None and "t-dev" in (svg.findtext("title") or "")
    groups = week_groups(svg)
    assert [(g.get("data-week"), g.get("data-state")) for g in groups] == [
        ("2030-01-07", "OVERBOOKED"),
        ("2030-01-14", "OVER_PROJECT_SHARE"),
        ("2030-01-21", "OK"),
    ]
    for g in groups:
        assert (g.findtext("title") or "").startswith(f"Week of {g.get('data-week')}: ")
        assert {r.get("class") for r in g.iter("rect")} >= {"project", "operational"}
    # the weeks that are not OK are outlined, red and amber; the OK week is not
    marks = [[r for r in g.iter("rect") if "mark" in (r.get("class") or "")] for g in groups]
    assert [m[0].get("stroke") for m in marks[:2]] == ["#b3261e", "#c77700"]
    assert marks[0][0].get("fill") == "none"
    assert marks[2] == []
    # a legend naming the two loads, the two lines and the two marks
    legend = next(g for g in svg.iter("g") if g.get("class") == "legend")
    assert [t.text for t in legend.iter("text")] == [
        "project load",
        "operational load",
        "capacity C",
        "project capacity",
        "OVERBOOKED",
        "OVER_PROJECT_SHARE",
    ]


async def test_bars_and_lines_are_drawn_to_scale(report_of: Build) -> None:
    svg = svg_of(render_team_html(await report_of()))
    base, at_20, at_40 = grid_y(svg, "0 h"), grid_y(svg, "20 h"), grid_y(svg, "40 h")
    groups = week_groups(svg)

    def rect(g: ET.Element, css: str) -> ET.Element:
        return next(r for r in g.iter("rect") if r.get("class") == css)

    per_hour = (base - at_20) / 20
    assert float(rect(groups[0], "project").get("height", 0)) == pytest.approx(
        50 * per_hour, abs=0.02
    )
    assert float(rect(groups[1], "project").get("height", 0)) == pytest.approx(
        25 * per_hour, abs=0.02
    )
    assert float(rect(groups[2], "operational").get("height", 0)) == pytest.approx(
        30 * per_hour, abs=0.02
    )
    assert float(rect(groups[2], "project").get("height", 0)) == 0
    # the capacity line runs at 40 h, the dashed project capacity at 20 h
    lines = {g.get("class"): g.find("path") for g in svg.iter("g")}
    capacity, project = lines["capacity"], lines["project-capacity"]
    assert capacity is not None and project is not None
    ys = [float(y) for y in re.findall(r"[ML][\d.]+ ([\d.]+)", capacity.get("d", ""))]
    assert len(ys) == 6 and ys == [pytest.approx(at_40, abs=0.01)] * 6  # two points a week
    ys = [float(y) for y in re.findall(r"[ML][\d.]+ ([\d.]+)", project.get("d", ""))]
    assert len(ys) == 6 and ys == [pytest.approx(at_20, abs=0.01)] * 6
    assert project.get("stroke-dasharray") and not capacity.get("stroke-dasharray")
    titles = {g.get("class"): g.findtext("title") for g in svg.iter("g")}
    assert titles["capacity"] == "Capacity C: 40 h a week (capacityHoursPerWeek)"
    assert titles["project-capacity"] == "Project capacity: 20 h a week (50% of C)"


async def test_html_tables_state_marks_and_nothing_fetched(report_of: Build) -> None:
    html = render_team_html(await report_of())
    assert html.startswith("<!DOCTYPE html>")
    assert '<tr class="OVERBOOKED"><td class="name">2030-01-07</td>' in html
    assert '<tr class="OVER_PROJECT_SHARE"><td class="name">2030-01-14</td>' in html
    assert html.count('<tr class="OK">') == 1
    assert '<span class="k">tsk-u</span>' in html and "effortHours and due" in html
    assert re.search(r"https?://", html) is None
    assert "xmlns" not in html  # inline SVG needs no namespace (and names no host)
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert "default-src 'none'" in html


async def test_capacity_from_members_is_explained(report_of: Build) -> None:
    report = await report_of("t-mem")
    assert report.capacity == 70 and report.project_capacity == pytest.approx(28)
    text = render_team_markdown(report)
    assert "- Capacity C: **70 h** a week, from 2 active members: hoursPerWeek \\* allocation" in (
        text
    )
    assert "Every week of the 3 weeks is within capacity." in text
    svg = svg_of(render_team_html(report))
    assert all(r.get("class") != f"mark {WeekState.OVERBOOKED}" for r in svg.iter("rect"))


async def test_a_long_period_keeps_one_group_per_week_and_thins_the_dates(
    report_of: Build,
) -> None:
    report = await report_of(end=datetime(2034, 12, 25, tzinfo=UTC))
    assert len(report.weeks) == 260
    svg = ET.fromstring(load_chart_svg(report))
    assert len(week_groups(svg)) == 260
    axis = next(g for g in svg.iter("g") if g.get("class") == "x-axis")
    dates = [t for t in axis.iter("text") if t.text and t.text[:2] == "20"]
    assert 5 <= len(dates) <= 13
    xs = [float(t.get("x", 0)) for t in dates]
    assert min(b - a for a, b in itertools.pairwise(xs)) >= 70  # labels do not overlap
