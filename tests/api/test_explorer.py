"""The explorer's pages (issue 22, first slice) with the real app over each store backend.

Every page renders on the demo graph and every entity link it writes resolves;
``asOf`` is kept in every link and respected; hostile parameters get a 4xx page
that reflects nothing unescaped; tokens mode needs a session (sign-in with CSRF,
cookie flags, sign-out, revocation ends a session); local mode serves loopback only.
"""

from __future__ import annotations

import datetime
import re
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from graphsvc.api.tokens import Scope
from graphsvc.demo import demo_batches
from tests.api.conftest import Api, MakeApi

TODAY = datetime.date(2025, 3, 10)
_HREF = re.compile(r'href="([^"]+)"')
_EXPLORER = ("/search", "/entity/", "/impact", "/health", "/team/", "/project/")


async def demo_api(make_api: MakeApi, **overrides: object) -> Api:
    api: Api = await make_api(**overrides)
    for batch in demo_batches(TODAY):
        await api.services.engine.ingest(batch)
    return api


def explorer_links(html: str) -> list[str]:
    return [unescape(h) for h in _HREF.findall(html) if unescape(h).startswith(_EXPLORER)]


async def crawl(client: httpx.AsyncClient, start: str, most: int = 40) -> dict[str, str]:
    """Follow the explorer's links breadth first from ``start``; every page must answer 200."""
    seen: dict[str, str] = {}
    queue = [start]
    while queue and len(seen) < most:
        url = queue.pop(0)
        if url in seen:
            continue
        r = await client.get(url)
        assert r.status_code == 200, (url, r.status_code, r.text[-500:])
        assert r.headers["content-type"].startswith("text/html")
        assert "script-src 'self';" in r.headers["content-security-policy"]
        seen[url] = r.text
        queue += [link for link in explorer_links(r.text) if link not in seen]
    return seen


async def test_every_page_renders_on_the_demo_and_its_links_resolve(make_api: MakeApi) -> None:
    api = await demo_api(make_api)
    pages = await crawl(api.client, "/search?q=", most=50)
    pages |= await crawl(api.client, "/entity/Change/CHG0041215", most=15)
    kinds = {urlsplit(u).path.split("/")[2] for u in pages if u.startswith("/entity/")}
    assert {"Service", "Change", "ConfigurationItem"} <= kinds, kinds
    assert any(u.startswith("/team/") for u in pages)  # a team is linked to its team page
    assert any(u.startswith("/impact") for u in pages) and "/health" in pages
    entity = next(u for u in pages if u.startswith("/entity/Service/"))
    text = pages[entity]
    for section in ("attributes", "identifiers", "owners", "rel-out", "rel-in", "history"):
        assert f'id="{section}"' in text, section
    impact = next(u for u in pages if u.startswith("/impact"))
    assert "DOWN" in pages[impact] and 'id="affected"' in pages[impact]


async def test_search_finds_by_key_name_and_identifier(make_api: MakeApi) -> None:
    api = await demo_api(make_api)
    entity = (await api.services.store.find_entities(_query(), first=500)).items
    with_id = next(e for e in entity if e.identifiers)
    id_type, value = next(iter(with_id.identifiers.items()))
    r = await api.client.get("/search", params={"q": value})
    assert r.status_code == 200 and "Holding the identifier" in r.text
    assert f"/entity/{with_id.kind.value}/" in r.text, (id_type, value)
    r = await api.client.get("/search", params={"q": with_id.key, "kind": with_id.kind.name})
    assert r.status_code == 200 and with_id.key in r.text


def _query():  # type: ignore[no-untyped-def]
    from graphsvc.store.base import EntityQuery

    return EntityQuery()


async def test_as_of_is_kept_in_every_link_and_respected(make_api: MakeApi) -> None:
    api = await demo_api(make_api)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5)
    now = later.replace(microsecond=0).isoformat()  # after the demo's load
    pages = await crawl(api.client, "/search?" + urlencode({"q": "", "asOf": now}), most=25)
    for url, html in list(pages.items())[1:]:
        assert parse_qs(urlsplit(url).query).get("asOf") == [now], url
        for link in explorer_links(html):
            assert parse_qs(urlsplit(link).query).get("asOf") == [now], (url, link)
    entity = next(u for u in pages if u.startswith("/entity/"))
    before = entity.split("?")[0] + "?asOf=2000-01-01T00:00:00Z"
    r = await api.client.get(before)
    assert r.status_code == 404 and "at 2000-01-01" in r.text
    r = await api.client.get("/search", params={"q": "", "asOf": "2000-01-01T00:00:00Z"})
    assert r.status_code == 200 and "as they were at the time shown" in r.text
    assert "No entity matches." in r.text, "nothing existed in 2000"
    r = await api.client.get("/health", params={"asOf": "2000-01-01T00:00:00Z"})
    assert r.status_code == 200 and "graph as of 2000-01-01" in r.text


async def test_hostile_inputs_get_a_4xx_page_that_reflects_nothing(make_api: MakeApi) -> None:
    api = await demo_api(make_api)
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    cases = {
        f"/search?q={evil}": 200,
        "/search?q=" + "x" * 201: 400,
        "/search?q=a&q=b": 400,
        "/search?q=%00": 400,
        f"/search?kind={evil}": 400,
        "/search?after=-1": 400,
        "/search?after=99999999999999999999999": 400,
        "/search?asOf=1700000000": 400,
        "/search?asOf=2030-01-07T09:00:00": 400,
        f"/search?asOf={evil}": 400,
        f"/entity/Service/{evil}": 404,
        f"/entity/{evil}/x": 400,
        "/entity/Service/a%00b": 400,
        "/entity/Service/" + "k" * 1001: 400,
        "/impact": 400,
        "/impact?ref=checkout": 400,
        f"/impact?ref=Service/{evil}": 404,
        "/impact?ref=Service/x&maxDepth=abc": 400,
        "/impact?" + "&".join(["ref=Service/x"] * 21): 400,
        "/impact?ref=Change/CHG0041215&after=not-a-cursor": 400,
        "/entity/Change/CHG0041215?out=x": 400,
    }
    for url, status in cases.items():
        r = await api.client.get(url)
        assert r.status_code == status, (url, r.status_code, r.text[-300:])
        assert r.headers["content-type"].startswith("text/html"), url
        assert "<script>alert" not in r.text and "<img src=x" not in r.text, url


async def test_tokens_mode_needs_a_session_and_sign_in_is_guarded(make_api: MakeApi) -> None:
    api = await demo_api(make_api, client_host="10.1.2.3", auth="tokens")
    tokens = api.services.auth.tokens
    _, reader = tokens.create("viewer", Scope.READ)
    client = api.client
    home = await client.get("/")
    assert (
        home.status_code == 200 and 'href="/sign-in"' in home.text and "CHG0041215" not in home.text
    )
    r = await client.get("/entity/Change/CHG0041215")
    assert r.status_code == 303
    assert r.headers["location"] == "/sign-in?next=%2Fentity%2FChange%2FCHG0041215"
    form = await client.get(r.headers["location"])
    assert form.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None and "HttpOnly" in form.headers["set-cookie"]
    assert "samesite=strict" in form.headers["set-cookie"].lower()
    # a forged form (no CSRF, or another one) and a bad token are refused
    bad_csrf = await client.post("/sign-in", data={"token": reader, "csrf": "x" * 43})
    assert bad_csrf.status_code == 403 and "gsv_session" not in bad_csrf.headers.get(
        "set-cookie", ""
    )
    wrong = await client.post("/sign-in", data={"token": "gsv_forged", "csrf": csrf.group(1)})
    assert wrong.status_code == 401
    signed = await client.post(
        "/sign-in",
        data={"token": reader, "csrf": csrf.group(1), "next": "/entity/Change/CHG0041215"},
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/entity/Change/CHG0041215"
    cookie = signed.headers["set-cookie"]
    assert "gsv_session=" in cookie and "HttpOnly" in cookie and "Secure" not in cookie
    assert reader not in cookie
    page = await client.get("/entity/Change/CHG0041215")
    assert page.status_code == 200 and "Sign out" in page.text
    # sign-out needs the session's CSRF token
    assert (await client.post("/sign-out", data={"csrf": "nope"})).status_code == 403
    assert (await client.get("/health")).status_code == 200
    session_csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert session_csrf is not None
    out = await client.post("/sign-out", data={"csrf": session_csrf.group(1)})
    assert out.status_code == 303
    assert (await client.get("/health")).status_code == 303
    # an open redirect through next= is refused
    again = await client.get("/sign-in")
    token = re.search(r'name="csrf" value="([^"]+)"', again.text)
    assert token is not None
    r = await client.post(
        "/sign-in", data={"token": reader, "csrf": token.group(1), "next": "//evil.example/"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    # revoking the token ends its sessions at once
    tokens.revoke("viewer")
    assert (await client.get("/health")).status_code == 303


async def test_the_session_cookie_is_secure_over_https(make_api: MakeApi) -> None:
    api = await demo_api(make_api, client_host="10.1.2.3", auth="tokens")
    _, reader = api.services.auth.tokens.create("viewer", Scope.READ)
    transport = httpx.ASGITransport(app=api.app, client=("10.1.2.3", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="https://cmdb.example") as client:
        form = await client.get("/sign-in")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None and "Secure" in form.headers["set-cookie"]
        r = await client.post("/sign-in", data={"token": reader, "csrf": csrf.group(1)})
        assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


async def test_local_mode_has_no_sign_in_and_serves_loopback_only(make_api: MakeApi) -> None:
    api = await demo_api(make_api)
    r = await api.client.get("/sign-in")
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "Sign out" not in (await api.client.get("/health")).text
    remote = await demo_api(make_api, client_host="10.1.2.3", auth="local")
    r = await remote.client.get("/health")
    assert r.status_code == 403 and "local mode" in r.text
    rebound = await api.client.get("/health", headers={"host": "evil.example"})
    assert rebound.status_code == 403
