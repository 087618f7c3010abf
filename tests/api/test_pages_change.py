"""The explorer's change page and change calendar (issue 22) on the demo graph, over each store.

The change page is the CAB report's body (the same renderer) with every entity
linked to the explorer; its downloads are the REST report. The calendar lists the
demo's changes week by week with the blackout and maintenance windows and the
conflicts ``changeImpact`` reports (the same finder). Every link the pages write
resolves (crawled), ``asOf`` is kept and respected, hostile parameters get a 400
page that reflects nothing, an unknown change a 404 page.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from graphsvc.analysis.changes import change_conflicts, change_impact
from graphsvc.api.explorer.change_pages import ConflictBook, build_calendar
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.base import EntityQuery
from tests.api.conftest import Api, MakeApi
from tests.api.test_explorer import demo_api

_HREF = re.compile(r'href="([^"]+)"')
_OURS = (
    "/change/",
    "/calendar",
    "/entity/",
    "/impact",
    "/health",
    "/search",
    "/team/",
    "/project/",
)
_LATER = ("/team/", "/project/")
FROM = "2025-03-10"  # the demo's load day (tests/api/test_explorer.py TODAY), a Monday


def links(html: str) -> list[str]:
    found = [unescape(h) for h in _HREF.findall(html)]
    return [h for h in found if h.startswith(_OURS) and "download=" not in h]


async def crawl(api: Api, start: str, most: int) -> dict[str, str]:
    seen: dict[str, str] = {}
    queue = [start]
    while queue and len(seen) < most:
        url = queue.pop(0)
        if url in seen:
            continue
        r = await api.client.get(url)
        if url.startswith(_LATER) and r.status_code == 404 and "json" in r.headers["content-type"]:
            continue  # the team and project pages come with issue 22's other pages
        assert r.status_code == 200, (url, r.status_code, r.text[-400:])
        assert r.headers["content-type"].startswith("text/html")
        assert "script-src 'self';" in r.headers["content-security-policy"]
        seen[url] = r.text
        queue += [link for link in links(r.text) if link not in seen]
    return seen


async def test_change_page_and_calendar_on_the_demo(make_api: MakeApi) -> None:
    api = await demo_api(make_api)
    # the change page: the report's body, every entity named linked
    r = await api.client.get("/change/CHG0041220")
    assert r.status_code == 200, r.text[-400:]
    page = r.text
    for section in ("summary", "conflicts", "diagram", "services", "teams", "projects", "entities"):
        assert f'id="{section}"' in page, section
    assert 'class="verdict' in page and "COLLISION" in page
    assert 'href="/change/CHG0041221"' in page  # the other change of the collision
    assert re.search(r'href="/entity/Service/[^"]+"', page)
    assert re.search(r'href="/team/[^"]+"', page)
    assert ("<svg" in page) == (shutil.which("dot") is not None)
    assert 'href="/calendar?from=2025-03-10"' in page or "/calendar?from=" in page
    # the downloads are the REST report (same builder, same renderer)
    for fmt in ("md", "json", "html"):
        mine = await api.client.get("/change/CHG0041220", params={"download": fmt})
        rest = await api.client.get("/api/v1/reports/changes/CHG0041220", params={"format": fmt})
        assert mine.status_code == rest.status_code == 200, (fmt, mine.text[-300:])
        assert mine.headers["content-type"] == rest.headers["content-type"]
        assert "attachment" in mine.headers["content-disposition"]
        if fmt == "json":
            a, b = json.loads(mine.text), json.loads(rest.text)
            a.pop("generatedAt"), b.pop("generatedAt")
            assert a == b
    # the calendar: weeks, changes, windows and conflicts
    for _ in range(20):  # each view computes conflicts within its budget, and keeps them
        r = await api.client.get("/calendar", params={"from": FROM, "weeks": 5})
        assert r.status_code == 200, r.text[-400:]
        if "Conflicts are shown for" not in r.text:
            break
    cal = r.text
    weeks = re.findall(r'<section id="week-(\d{4}-\d{2}-\d{2})"', cal)
    assert weeks == ["2025-03-10", "2025-03-17", "2025-03-24", "2025-03-31", "2025-04-07"]
    for key in ("CHG0041207", "CHG0041215", "CHG0041220", "CHG0041221", "CHG0041266"):
        assert f'href="/change/{key}"' in cal, key
    assert "CHG0041170" not in cal  # planned 30 days before: not in these weeks
    assert "blackout-billing-month-end-close" in cal and "maint-billing-week-1" in cal
    for kind in ("COLLISION", "BLACKOUT", "OUTSIDE_MAINTENANCE"):
        assert f'class="badge {kind}"' in cal, kind
    assert 'rel="prev" href="/calendar?from=2025-02-03&amp;weeks=5"' in cal
    assert 'rel="next" href="/calendar?from=2025-04-14&amp;weeks=5"' in cal
    # the week of CHG0041215 shows its BLACKOUT, as changeImpact does
    week = cal.split('id="week-2025-03-24"')[1].split("</section>")[0]
    assert "CHG0041215" in week and "BLACKOUT" in week
    # every link resolves (team and project pages once they exist)
    pages = await crawl(api, f"/calendar?from={FROM}&weeks=5", most=40)
    pages |= await crawl(api, "/change/CHG0041201", most=20)
    assert sum(u.startswith("/change/") for u in pages) >= 5
    assert any(u.startswith("/entity/Window/") for u in pages)
    assert any("/calendar?from=2025-02-03" in u for u in pages)
    # the calendar's conflicts are changeImpact's, for every demo change
    store = api.services.store
    changes = await store.find_entities(EntityQuery(kind=EntityKind.CHANGE), first=100)
    assert len(changes.items) >= 10
    for change in changes.items:
        full = await change_impact(store, change.key)
        light = await change_conflicts(store, change)
        assert light.conflicts == full.conflicts, change.key
        assert light.impact_set == full.impact.summary.total


async def test_as_of_is_kept_and_respected(make_api: MakeApi) -> None:
    api = await demo_api(make_api)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5)
    now = later.replace(microsecond=0).isoformat()
    start = "/calendar?" + urlencode({"from": FROM, "weeks": 2, "asOf": now})
    pages = await crawl(api, start, most=12)
    assert any(u.startswith("/change/") for u in pages)
    for url, html in pages.items():
        assert parse_qs(urlsplit(url).query).get("asOf") == [now], url
        for link in links(html):
            assert parse_qs(urlsplit(link).query).get("asOf") == [now], (url, link)
    before = {"asOf": "2000-01-01T00:00:00Z"}
    r = await api.client.get("/change/CHG0041220", params=before)
    assert r.status_code == 404 and "CHG0041220" in r.text
    r = await api.client.get("/calendar", params={**before, "from": FROM})
    assert r.status_code == 200 and "/change/CHG" not in r.text
    assert "No change is planned in this week." in r.text
    # without from: the Monday of the week of asOf (else of today)
    r = await api.client.get("/calendar", params={"asOf": "2025-03-20T10:00:00+00:00"})
    assert r.status_code == 200 and 'id="week-2025-03-17"' in r.text
    assert len(re.findall(r'<section id="week-', r.text)) == 4
    today = datetime.datetime.now(datetime.UTC).date()
    monday = today - datetime.timedelta(days=today.weekday())
    r = await api.client.get("/calendar")
    assert r.status_code == 200 and f'id="week-{monday.isoformat()}"' in r.text


async def test_hostile_parameters_and_unknown_changes(make_api: MakeApi) -> None:
    api = await demo_api(make_api)
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    cases = {
        f"/change/{evil}": 404,
        "/change/NOPE-1": 404,
        "/change/a%00b": 400,
        "/change/" + "k" * 1001: 400,
        f"/change/CHG0041220?download={evil}": 400,
        "/change/CHG0041220?download=pdf": 400,
        "/change/CHG0041220?download=md&download=json": 400,
        f"/change/CHG0041220?asOf={evil}": 400,
        "/change/CHG0041220?asOf=2030-01-07T09:00:00": 400,
        f"/calendar?from={evil}": 400,
        "/calendar?from=2025-02-30": 400,
        "/calendar?from=20250310": 400,
        "/calendar?from=2025-03-10T00:00": 400,
        "/calendar?from=2025-03-10&from=2025-03-17": 400,
        "/calendar?weeks=0": 400,
        "/calendar?weeks=13": 400,
        "/calendar?weeks=-1": 400,
        "/calendar?weeks=abc": 400,
        "/calendar?weeks=99999999999999999999999": 400,
        "/calendar?from=%00": 400,
        f"/calendar?asOf={evil}": 400,
        "/calendar?weeks=12&from=9999-12-20": 400,
    }
    for url, status in cases.items():
        r = await api.client.get(url)
        assert r.status_code == status, (url, r.status_code, r.text[-300:])
        assert r.headers["content-type"].startswith("text/html"), url
        assert "<script>alert" not in r.text and "<img src=x" not in r.text, url
    r = await api.client.get("/calendar", params={"from": "2025-03-12", "weeks": "12"})
    assert r.status_code == 200 and 'id="week-2025-03-10"' in r.text  # snapped to its Monday
    assert len(re.findall(r'<section id="week-', r.text)) == 12


async def test_tokens_mode_serves_the_pages_to_a_session(make_api: MakeApi) -> None:
    api = await demo_api(make_api, client_host="10.1.2.3", auth="tokens")
    from graphsvc.api.tokens import Scope

    _, reader = api.services.auth.tokens.create("viewer", Scope.READ)
    for path in ("/change/CHG0041220", f"/calendar?from={FROM}"):
        r = await api.client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/sign-in?next=")
        r = await api.client.get(path, headers={"authorization": f"Bearer {reader}"})
        assert r.status_code == 200 and "CHG0041220" in r.text
    r = await api.client.get(
        "/change/CHG0041220?download=json", headers={"authorization": "Bearer gsv_forged"}
    )
    assert r.status_code == 401 and "CHG0041220" not in r.text
    assert isinstance(api.client, httpx.AsyncClient)


HUB_CHANGE = {
    "source": "calendar-test",
    "entities": [
        {
            "kind": "Change",
            "key": "CHG-HUB",
            "attributes": {
                "plannedStart": f"{FROM}T00:01:00Z",
                "plannedEnd": f"{FROM}T01:00:00Z",
            },
        },
        {"kind": "Service", "key": "hub"},
        *({"kind": "Service", "key": f"on-hub-{i}"} for i in range(3000)),
    ],
    "relations": [
        {
            "type": "MODIFIES",
            "from": {"kind": "Change", "key": "CHG-HUB"},
            "to": {"kind": "Service", "key": "hub"},
        },
        *(
            {
                "type": "DEPENDS_ON",
                "from": {"kind": "Service", "key": f"on-hub-{i}"},
                "to": {"kind": "Service", "key": "hub"},
            }
            for i in range(3000)
        ),
    ],
}
"""The earliest change of the calendar's weeks, reaching 3,000 services at once."""


async def test_the_calendar_computes_conflicts_within_its_budget_and_keeps_them(
    make_api: MakeApi,
) -> None:
    api = await demo_api(make_api)
    svc = api.services
    first = datetime.date.fromisoformat(FROM)
    book = ConflictBook()
    spent = await build_calendar(svc, first, 5, None, book=book, budget=0)
    assert spent.listed >= 5 and spent.analysed == 0  # nothing held, no time to compute
    shown = {c.change.key: c.conflicts for w in spent.weeks for c in w.changes}
    assert set(shown.values()) == {None}
    full = await build_calendar(svc, first, 5, None, book=book, budget=60)
    assert full.analysed == full.listed
    again = await build_calendar(svc, first, 5, None, book=book, budget=0)
    assert again.analysed == full.listed  # every one held, none computed
    assert again.weeks == full.weeks
    bare = {"source": "calendar-test", "entities": [{"kind": "Service", "key": "svc-new"}]}
    assert (await api.client.post("/api/v1/ingest", json=bare)).status_code == 200
    after = await build_calendar(svc, first, 5, None, book=book, budget=0)
    assert after.analysed == 0  # a commit since: what was held is forgotten
    # a change cut while it had the whole budget is too large: not tried again
    r = await api.client.post("/api/v1/ingest", json=HUB_CHANGE)
    assert r.status_code == 200, r.text
    book = ConflictBook()
    cut = await build_calendar(svc, first, 5, None, book=book, budget=0.002)
    shown = {c.change.key: c for w in cut.weeks for c in w.changes}
    if type(api.services.store).__name__ == "EmbeddedStore" and not cut.too_large:
        # its in-memory walk of 3,000 services took less than the 2 ms
        assert shown["CHG-HUB"].conflicts is not None and cut.analysed >= 1
        return
    assert cut.too_large == {shown["CHG-HUB"].change.id}
    assert shown["CHG-HUB"].conflicts is None and cut.analysed == 0
    rest = await build_calendar(svc, first, 5, None, book=book, budget=60)
    assert rest.too_large == cut.too_large and rest.analysed == rest.listed - 1
    r = await api.client.get("/calendar", params={"from": FROM, "weeks": 5})
    assert "too large to compare on the calendar" not in r.text  # the page has its own book
    # the page computes within its budget and adds more at each view
    for _ in range(20):
        r = await api.client.get("/calendar", params={"from": FROM, "weeks": 5})
        assert r.status_code == 200
        if "Conflicts are shown for" not in r.text:
            break
    else:
        raise AssertionError("twenty views of the calendar did not compute every conflict")
