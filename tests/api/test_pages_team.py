"""The explorer's team and project pages (issue 22) over the demo graph, on each store backend.

The team page shows what the team owns, supports, its members, escalation, work
and its load chart (the team load document's own SVG); the project page shows
readiness (or that it does not apply), the plan with its critical path, and the
capacity of the teams doing the work. Every link they write resolves (a
``/change/`` link names a change that exists, and resolves when the change page
is served), keeps ``asOf``; hostile parameters get a 400 page naming them, an
unknown key a 404 page.
"""

from __future__ import annotations

import datetime
import re
from html import unescape
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from starlette.routing import Route

import graphsvc.analysis.plan as plan_module
from graphsvc.analysis.work import team_load, week_start
from graphsvc.report.team_report import load_chart_svg, team_report
from tests.api.conftest import Api, MakeApi
from tests.api.test_explorer import demo_api

_HREF = re.compile(r'href="([^"]+)"')
_PAGES = ("/team/", "/project/", "/entity/", "/impact", "/change/", "/search", "/health")


def _links(html: str) -> list[str]:
    return [unescape(h) for h in _HREF.findall(html) if unescape(h).startswith(_PAGES)]


def _serves_change_pages(api: Api) -> bool:
    return any(isinstance(r, Route) and r.path.startswith("/change/") for r in api.app.routes)


async def _check(client: httpx.AsyncClient, url: str, change_pages: bool) -> httpx.Response:
    """Fetch a link; a change link is checked on the entity page unless change pages exist."""
    if url.startswith("/change/") and not change_pages:
        parts = urlsplit(url)
        url = (
            "/entity/Change/"
            + parts.path.removeprefix("/change/")
            + (f"?{parts.query}" if parts.query else "")
        )
    r = await client.get(url)
    assert r.status_code == 200, (url, r.status_code, r.text[-400:])
    assert r.headers["content-type"].startswith("text/html"), url
    return r


async def _crawl(api: Api, start: str, most: int) -> dict[str, str]:
    """Fetch ``start`` and every link of the team and project pages reached (other pages: once)."""
    change_pages = _serves_change_pages(api)
    seen: dict[str, str] = {}
    queue = [start]
    while queue and len(seen) < most:
        url = queue.pop(0)
        if url in seen:
            continue
        r = await _check(api.client, url, change_pages)
        seen[url] = r.text
        if url.startswith(("/team/", "/project/")):
            queue += [u for u in _links(r.text) if u not in seen]
    return seen


async def test_team_and_project_pages_show_the_demo_and_every_link_resolves(
    make_api: MakeApi,
) -> None:
    api = await demo_api(make_api)
    client = api.client
    team = (await client.get("/team/team-integration")).text
    for section in ("owns", "supports", "members", "escalation", "work", "summary", "chart"):
        assert f'id="{section}"' in team, section
    assert 'id="weeks"' in team and 'id="unscheduled"' in team
    # the chart is the team load document's own SVG (same code as the report and the API)
    load = await team_load(
        api.services.store,
        "team-integration",
        week_start(datetime.datetime.now(datetime.UTC)),
        week_start(datetime.datetime.now(datetime.UTC)) + datetime.timedelta(weeks=11),
    )
    svg = load_chart_svg(team_report(load))
    assert svg.split("\n")[0] in team and 'data-state="OVERBOOKED"' in team
    assert team.count('<g class="week"') == 12 == svg.count('<g class="week"')
    assert "Integration Services" in team and "OVERBOOKED" in team
    # owns, members, escalation up the PART_OF chain, assigned work linked to its page
    assert 'href="/entity/Service/integration-engine"' in team or "/entity/" in team
    assert 'href="/entity/Person/sean.murphy"' in team
    assert 'href="/team/dept-clinical-systems"' in team and 'href="/team/it-division"' in team
    assert 'href="/entity/Task/TASK-EHR-104"' in team and 'href="/change/CHG0041266"' in team
    assert 'href="/entity/Team/team-integration"' in team  # its entity record
    record = (await client.get("/entity/Team/team-integration")).text
    assert 'href="/team/team-integration"' in record  # the entity page links the team page

    project = (await client.get("/project/PRJ-0101")).text
    for section in ("readiness", "plan", "critical-path", "tasks", "capacity"):
        assert f'id="{section}"' in project, section
    assert "BLOCKED" in project and "consumersMigrated" in project
    assert 'href="/entity/Service/theatre-scheduling"' in project
    critical = project.split('id="critical-path"')[1].split("</section>")[0]
    assert list(dict.fromkeys(re.findall(r"TASK-EHR-\d+", critical))) == [
        "TASK-EHR-103",
        "TASK-EHR-104",
        "TASK-EHR-105",
    ]
    assert 'href="/entity/Task/TASK-EHR-103"' in critical
    capacity = project.split('id="capacity"')[1].split("</section>")[0]
    assert "team-integration" in capacity and "OVERBOOKED" in capacity
    assert re.search(
        r'href="/team/team-integration\?from=\d{4}-\d{2}-\d{2}&amp;weeks=\d+"', capacity
    )
    assert 'href="/team/team-sa-interfaces"' in project  # an assignee in the task table

    other = (await client.get("/project/PRJ-0130")).text
    assert "Readiness does not apply" in other and "NOT_APPLICABLE" in other
    assert 'id="plan"' in other and 'id="capacity"' in other

    # links from the entity and impact pages go to the team and project pages
    impact = (await client.get("/impact?ref=Service/integration-engine")).text
    assert 'href="/team/team-integration"' in impact
    assert 'href="/entity/Team/' not in impact

    pages = await _crawl(api, "/team/team-integration", most=60)
    pages |= await _crawl(api, "/project/PRJ-0101", most=60)
    assert any(u.startswith("/project/") for u in pages)
    assert sum(1 for u in pages if u.startswith("/team/")) >= 3


async def test_as_of_is_kept_and_respected_hostile_params_get_400_unknown_404(
    make_api: MakeApi,
) -> None:
    api = await demo_api(make_api)
    client = api.client
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5)
    now = later.replace(microsecond=0).isoformat()
    for start in ("/team/team-integration", "/project/PRJ-0101"):
        r = await client.get(start, params={"asOf": now})
        assert r.status_code == 200 and f'datetime="{now}"' in r.text, start
        for link in _links(r.text):
            assert parse_qs(urlsplit(link).query).get("asOf") == [now], (start, link)
        r = await client.get(start, params={"asOf": "2000-01-01T00:00:00Z"})
        assert r.status_code == 404 and "at 2000-01-01" in r.text, start
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    cases = {
        "/team/no-such-team": 404,
        "/project/no-such-project": 404,
        f"/team/{quote(evil, safe='')}": 404,
        f"/project/{quote(evil, safe='')}": 404,
        "/team/a%00b": 400,
        "/project/a%00b": 400,
        "/team/" + "k" * 1001: 400,
        "/team/team-integration?weeks=0&weeks=2": 400,
        "/team/team-integration?weeks=53": 400,
        "/team/team-integration?weeks=-1": 400,
        "/team/team-integration?from=2030-13-01": 400,
        f"/team/team-integration?from={quote(evil, safe='')}": 400,
        "/team/team-integration?from=1700000000": 400,
        "/team/team-integration?owns=x": 400,
        "/team/team-integration?unscheduled=1e9": 400,
        "/team/team-integration?asOf=2030-01-07T09:00:00": 400,
        "/project/PRJ-0101?tasks=abc": 400,
        "/project/PRJ-0101?tasks=99999999999": 400,
        f"/project/PRJ-0101?asOf={quote(evil, safe='')}": 400,
        "/team/team-integration?weeks=52&from=2030-01-07": 200,
        "/project/PRJ-0101?tasks=100": 200,
    }
    for url, status in cases.items():
        r = await client.get(url)
        assert r.status_code == status, (url, r.status_code, r.text[-300:])
        assert r.headers["content-type"].startswith("text/html"), url
        assert "<script>alert" not in r.text and "<img src=x" not in r.text, url
        if status == 400 and "?" in url:
            name = url.split("?")[1].split("=")[0]
            assert name in r.text, (url, r.text[-300:])
    r = await client.get("/team/team-integration?weeks=52&from=2030-01-07")
    assert r.text.count('<g class="week"') == 52 and "2030-01-07" in r.text


async def test_a_plan_too_large_is_said_on_the_page(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = await demo_api(make_api)
    monkeypatch.setattr(plan_module, "MAX_PLAN_TASKS", 2)
    r = await api.client.get("/project/PRJ-0101")
    assert r.status_code == 200, r.text[-300:]
    assert "Readiness cannot be answered" in r.text and "The plan cannot be shown" in r.text
    assert "more than 2 tasks" in r.text
