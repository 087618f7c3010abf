"""The explorer's team and project pages (issue 22) over the demo graph, on each store backend.

The team page shows what the team owns, supports, its members, escalation, work
and its load chart (the team load document's own SVG); the project page shows
readiness (or that it does not apply), the plan with its critical path, and the
capacity of the teams doing the work. Every link they write resolves (a
``/change/`` link names a change that exists, and resolves when the change page
is served), keeps ``asOf``; a plan too large for the analyses is said on the page; hostile parameters get a 400 page naming them, an
unknown key a 404 page.
"""

from __future__ import annotations

import datetime
import re
from html import unescape
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
from starlette.routing import Route

import graphsvc.analysis.plan as plan_module
from graphsvc.analysis.work import team_load, week_start
from graphsvc.model.vocabulary import EntityKind
from graphsvc.report.team_report import load_chart_svg, team_report
from tests.api.conftest import Api, MakeApi
from tests.api.test_explorer import demo_api

_HREF = re.compile(r'href="([^"]+)"')
_PAGES = ("/team/", "/project/", "/entity/", "/impact", "/change/", "/search", "/health")


def _links(html: str) -> list[str]:
    return [unescape(h) for h in _HREF.findall(html) if unescape(h).startswith(_PAGES)]


def _serves_change_pages(api: Api) -> bool:
    return any(isinstance(r, Route) and r.path.startswith("/change/") for r in api.app.routes)


_KINDS = {"team": EntityKind.TEAM, "project": EntityKind.PROJECT, "change": EntityKind.CHANGE}


def _ref(url: str) -> tuple[EntityKind, str] | None:
    """The entity a page link names (``None`` for a page naming none: impact, search, health)."""
    parts = [unquote(p) for p in urlsplit(url).path.split("/")[1:]]
    if parts[0] == "entity":
        return EntityKind(parts[1]), "/".join(parts[2:])
    if parts[0] in _KINDS:
        return _KINDS[parts[0]], "/".join(parts[1:])
    return None


async def _links_resolve(api: Api, pages: list[str]) -> set[str]:
    """Every link of ``pages`` names an entity that exists; one page of each sort is fetched.

    The entities are resolved in one call (a page per link would be slow on Neo4j);
    a ``/change/`` link is fetched when the change page is served.
    """
    links: set[str] = set()
    for url in pages:
        r = await api.client.get(url)
        assert r.status_code == 200, (url, r.text[-300:])
        links.update(_links(r.text))
    refs = {link: ref for link in links if (ref := _ref(link)) is not None}
    found = await api.services.store.resolve(list(refs.values()))
    missing = [link for link, f in zip(refs, found, strict=True) if f is None]
    assert not missing, missing
    change_pages = _serves_change_pages(api)
    sample: dict[str, str] = {}
    for link in sorted(links):
        sort = urlsplit(link).path.split("/")[1]
        if sort in ("team", "project", "entity", "impact") or (sort == "change" and change_pages):
            sample.setdefault(sort, link)  # search and health: test_explorer fetches them
    for link in sample.values():
        r = await api.client.get(link)
        assert r.status_code == 200, (link, r.status_code, r.text[-300:])
    return links


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

    links = await _links_resolve(api, ["/team/team-integration", "/project/PRJ-0101"])
    sorts = {urlsplit(u).path.split("/")[1] for u in links}
    assert {"team", "entity", "change", "impact"} <= sorts, sorts
    record = (await client.get("/entity/Project/PRJ-0101")).text
    assert 'href="/project/PRJ-0101"' in record  # the entity page links the project page


async def test_as_of_is_kept_and_respected_hostile_params_get_400_unknown_404(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
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

    monkeypatch.setattr(plan_module, "MAX_PLAN_TASKS", 2)  # a plan too large: said on the page
    r = await api.client.get("/project/PRJ-0101")
    assert r.status_code == 200, r.text[-300:]
    assert "Readiness cannot be answered" in r.text and "The plan cannot be shown" in r.text
    assert "more than 2 tasks" in r.text
