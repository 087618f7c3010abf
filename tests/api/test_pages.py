"""The pages graphsvc serves to people: ``/``, GraphiQL, ``/docs``, and ``/static`` (issue 18, 5).

No page names another host: every ``src``, ``href`` and other URL of its HTML,
every ``url(...)``/``@import`` of the styles it loads and every source map is
relative or on the same host, and the scripts it loads name only hosts that
were reviewed as never fetched (links in help texts, XML namespaces, examples).
A CDN host anywhere in what is served fails, so does a file naming a host
nobody reviewed. ``tests/api/test_graphiql_chromium.py`` shows the same in a
browser with the network cut.

These tests need no store backend: they use the embedded store only.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from strawberry.http.ides import get_graphql_ide_html

import graphsvc
from graphsvc.api.app import create_app
from graphsvc.api.explorer.routes import HTMX, STYLESHEET
from graphsvc.api.pages import (
    DOCS_ASSETS,
    GRAPHIQL_ASSETS,
    IMMUTABLE,
    MAX_NAME,
    STATIC_ROOT,
    static_index,
)
from graphsvc.config import Settings

ORIGIN = "http://localhost"

CDN_HOSTS = (
    "unpkg.com",
    "cdn.jsdelivr.net",
    "jsdelivr.net",
    "cdnjs.cloudflare.com",
    "fonts.googleapis.com",
    "fonts.gstatic.com",
    "ajax.googleapis.com",
    "esm.sh",
    "cdn.skypack.dev",
    "ga.jspm.io",
    "code.jquery.com",
    "maxcdn.bootstrapcdn.com",
    "stackpath.bootstrapcdn.com",
    "use.fontawesome.com",
    "embeddable-sandbox.cdn.apollographql.com",
    "fastapi.tiangolo.com",  # FastAPI's default /docs favicon
)
"""Hosts that serve browser code or fonts: none may be named by anything graphsvc serves."""

_DOC = "a link in a comment, an error message or help text: never fetched"
_NS = "an XML namespace or a specification's identifier: never fetched"
_CODE = "part of an example or a URL pattern in code (parsing, tests of it): never fetched"
_SHOWN = "a link the page may show (a person may follow it); nothing is loaded from it"

REVIEWED_HOSTS: dict[str, str] = {
    # graphiql 3.8.3 (graphiql.min.js bundles graphql-js, CodeMirror 5, markdown-it, radix-ui)
    "bugs.chromium.org": _DOC,
    "codemirror.net": _DOC,
    "commonmark.org": _DOC,
    "daringfireball.net": _DOC,
    "datatracker.ietf.org": _DOC,
    "developer.mozilla.org": _DOC,
    "en.wikipedia.org": _DOC,
    "esbench.com": _DOC,
    "expressjs.com": _DOC,
    "floating-ui.com": _DOC,
    "gist.github.com": _DOC,
    "github.com": _DOC,
    "github.github.com": _DOC,
    "graphiql-test.netlify.app": _DOC,
    "highlightjs.org": _DOC,
    "html.spec.whatwg.org": _DOC,
    "marijnhaverbeke.nl": _DOC,
    "mathiasbynens.be": _DOC,
    "microsoft.github.io": _DOC,
    "radix-ui.com": _DOC,
    "reactjs.org": _DOC,
    "serverfault.com": _DOC,
    "spec.commonmark.org": _DOC,
    "spec.graphql.org": _DOC,
    "tools.ietf.org": _DOC,
    "trac.webkit.org": _DOC,
    "webpack.js.org": _DOC,
    "www.framer.com": _DOC,
    "www.nayuki.io": _DOC,
    "yarnpkg.com": _DOC,
    "www.onegraph.com": _DOC,  # the explorer plugin's credits
    "www.w3.org": _NS,
    "unicode.org": _NS,
    "json-schema.org": _NS,
    "": "a scheme code puts before an address it was given ('http://' + url), or a host"
    " in other than ASCII letters (an example of an internationalised name)",
    "b": _CODE,
    "example.org": _CODE,
    "foo": _CODE,
    "foo.com": _CODE,
    "host": _CODE,
    "test1": _CODE,
    # swagger-ui-dist 5.36.0 (swagger-ui-bundle.js, swagger-ui.css)
    "www.rfc-editor.org": _DOC,
    "redux.js.org": _DOC,
    "fb.me": _DOC,
    "tailwindcss.com": _DOC,
    "spdx.org": _NS,
    "spec.openapis.org": _NS,
    "swagger.io": _SHOWN,
    "twitter.com": _SHOWN,  # Autolinker's mention and hashtag links in descriptions
    "www.facebook.com": _SHOWN,
    "instagram.com": _SHOWN,
    "soundcloud.com": _SHOWN,
    "www.tiktok.com": _SHOWN,
    "example.com": _CODE,
    "base": _CODE,
    "vladimirgorej.com": _CODE,  # a base for `new URL(...)` that checks a URL's syntax
    # Swagger UI's online validator: fetched (a badge image) only when validatorUrl is
    # not null; /docs sets it to null (test_docs_page_turns_the_online_validator_off)
    "validator.swagger.io": "fetched only when validatorUrl is set; /docs sets it to null",
}
"""Every host the served scripts and styles name, and why that is not a load from it."""

_URL_IN_TEXT = re.compile(r"https?://(?:[^/\s\"'`@<>\\]*@)?([A-Za-z0-9.-]*)", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)
_CSS_IMPORT = re.compile(r"@import\s+(?:url\()?\s*['\"]?([^'\")\s;]+)", re.IGNORECASE)
_SOURCE_MAP = re.compile(r"[#@]\s*source(?:Mapping)?URL\s*=\s*(\S+?)\s*(?:\*/)?\s*$", re.MULTILINE)
_SCHEME = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


# ------------------------------------------------------------------ the checker


class _Page(HTMLParser):
    """The URLs of an HTML page: every attribute value, inline style and inline script."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attributes: list[tuple[str, str, str]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.loads: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for name, value in values.items():
            self.attributes.append((tag, name, value))
            if name == "style":
                self.styles.append(value)
        if tag == "script" and values.get("src"):
            self.loads.append(values["src"])
        if tag == "link" and values.get("href"):
            self.loads.append(values["href"])
        if tag == "img" and values.get("src"):
            self.loads.append(values["src"])
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)


def _off_host(url: str, base: str) -> bool:
    """Whether ``url`` (as written in a document at ``base``) leaves ``base``'s host."""
    url = url.strip()
    if url.startswith("data:") or url.startswith("#") or not url:
        return False
    if _SCHEME.match(url) and not url.lower().startswith(("http:", "https:", "//")):
        return True  # javascript:, ftp:, ... : nothing but data: and this host
    target = urlsplit(urljoin(base, url))
    return (target.scheme, target.netloc) != (urlsplit(base).scheme, urlsplit(base).netloc)


def _css_references(css: str) -> list[str]:
    return [m.group(2) for m in _CSS_URL.finditer(css)] + _CSS_IMPORT.findall(css)


def page_problems(html: str, base: str) -> tuple[list[str], list[str]]:
    """Return what in ``html`` (served at ``base``) names another host, and what it loads.

    Checked: every attribute value that is a URL (``src``, ``href``, ``srcset``,
    ``action``, ``content``, any attribute at all that starts with a scheme or
    ``//``), every ``url(...)``/``@import`` of inline styles, every ``http(s)``
    URL and source map of inline scripts.
    """
    page = _Page()
    page.feed(html)
    problems: list[str] = []
    for tag, name, value in page.attributes:
        candidates = [value]
        if name in ("srcset", "imagesrcset"):
            candidates = [part.split()[0] for part in value.split(",") if part.split()]
        elif name == "content" and "url=" in value.lower():
            candidates = [value.lower().split("url=", 1)[1]]
        elif name not in ("src", "href", "action", "formaction", "poster", "data", "manifest"):
            candidates = [value] if _SCHEME.match(value) else []
        problems += [f"<{tag} {name}={c!r}>" for c in candidates if _off_host(c, base)]
    for css in page.styles:
        problems += [f"style url({u!r})" for u in _css_references(css) if _off_host(u, base)]
    for script in page.scripts:
        problems += [
            f"inline script names {m.group(0)!r}"
            for m in _URL_IN_TEXT.finditer(script)
            if _off_host(m.group(0), base)
        ]
        problems += [f"inline script map {u!r}" for u in _SOURCE_MAP.findall(script)]
    return problems, page.loads


def asset_problems(text: str, url: str) -> tuple[list[str], list[str]]:
    """Return what a loaded script or style names off this host, and the same-host files it loads.

    Styles: ``url(...)`` and ``@import`` must be ``data:`` or this host (those
    are loaded). Both: a source map must be on this host. Scripts: every host
    named in an ``http(s)`` URL must be in :data:`REVIEWED_HOSTS`.
    """
    problems: list[str] = []
    loads: list[str] = []
    if urlsplit(url).path.endswith(".css"):
        for ref in _css_references(text):
            if _off_host(ref, url):
                problems.append(f"{url}: url({ref!r})")
            elif not ref.startswith("data:"):
                loads.append(urljoin(url, ref))
    problems += [f"{url}: source map {m!r}" for m in _SOURCE_MAP.findall(text) if _off_host(m, url)]
    problems += [
        f"{url}: names {host!r}, not reviewed (REVIEWED_HOSTS)"
        for host in sorted(hosts_named(text))
        if host not in REVIEWED_HOSTS
    ]
    return problems, loads


def hosts_named(text: str) -> set[str]:
    """The host of every ``http(s)://`` URL in ``text`` (lower case, without port)."""
    return {m.group(1).lower().rstrip(".") for m in _URL_IN_TEXT.finditer(text)}


def cdn_hosts_in(text: str) -> list[str]:
    """The CDN hosts (:data:`CDN_HOSTS`) named anywhere in ``text``, with or without a scheme."""
    lowered = text.lower()
    return [
        h for h in CDN_HOSTS if re.search(rf"(?<![a-z0-9-]){re.escape(h)}(?![a-z0-9-])", lowered)
    ]


async def crawl(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> dict[str, str]:
    """Fetch a page and everything it loads (transitively); return their texts by URL.

    Fails the test on anything that names another host or does not answer 200.
    """
    page = await client.get(path, headers=headers)
    assert page.status_code == 200, (path, page.status_code)
    assert page.headers["content-type"].startswith("text/html")
    base = f"{ORIGIN}{path}"
    problems, loads = page_problems(page.text, base)
    problems += [f"{path}: names CDN host {h}" for h in cdn_hosts_in(page.text)]
    seen: dict[str, str] = {base: page.text}
    queue = [urljoin(base, u) for u in loads if not u.startswith("data:")]
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        answer = await client.get(url)
        assert answer.status_code == 200, (path, url, answer.status_code)
        seen[url] = answer.text if answer.headers["content-type"].startswith("text") else ""
        more_problems, more = asset_problems(seen[url], url)
        problems += more_problems + [f"{url}: names CDN host {h}" for h in cdn_hosts_in(seen[url])]
        queue += more
    assert problems == [], problems
    return seen


# ------------------------------------------------------------------ the apps


@asynccontextmanager
async def running(
    tmp_path: Path, client_host: str = "127.0.0.1", **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = Settings(
        **{
            "data": tmp_path / "g.db",
            "tokens_file": tmp_path / "tokens.db",
            "durability": "normal",
            "log_format": "json",
            **overrides,
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_host, 51000))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            yield app, client


@pytest.fixture
async def dev(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A development-mode app (GraphiQL and /docs on), local auth."""
    async with running(tmp_path, env="development") as (_app, client):
        yield client


@pytest.fixture
async def prod(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A production-mode app (the default), local auth."""
    async with running(tmp_path) as (_app, client):
        yield client


HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}

# ------------------------------------------------------------------ no other host


def test_the_checker_finds_the_cdn_pages_graphsvc_no_longer_serves() -> None:
    """strawberry's stock GraphiQL page and FastAPI's stock /docs are what was served before."""
    stock_graphiql, _ = page_problems(get_graphql_ide_html("graphiql"), f"{ORIGIN}/graphql")
    assert any("unpkg.com/graphiql" in p for p in stock_graphiql), stock_graphiql
    assert cdn_hosts_in(get_graphql_ide_html("graphiql")) == ["unpkg.com"]
    stock_docs = bytes(get_swagger_ui_html(openapi_url="/openapi.json", title="t").body).decode()
    problems, _ = page_problems(stock_docs, f"{ORIGIN}/docs")
    assert len(problems) == 3, problems  # the script, the style, the favicon
    assert set(cdn_hosts_in(stock_docs)) == {
        "cdn.jsdelivr.net",
        "jsdelivr.net",
        "fastapi.tiangolo.com",
    }


@pytest.mark.parametrize(
    "html",
    [
        '<script src="https://unpkg.com/react@18/umd/react.production.min.js"></script>',
        '<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Roboto">',
        '<img srcset="/a.png 1x, https://cdn.example/b.png 2x">',
        '<meta http-equiv="refresh" content="0; url=https://elsewhere.example/">',
        '<a href="javascript:alert(1)">x</a>',
        '<div style="background: url(https://elsewhere.example/x.png)"></div>',
        "<style>@import 'https://elsewhere.example/x.css';</style>",
        "<script>fetch('https://elsewhere.example/x')</script>",
        "<script>//# sourceMappingURL=https://elsewhere.example/x.map</script>",
        '<iframe data-x="https://elsewhere.example/"></iframe>',
    ],
)
def test_the_checker_finds_every_kind_of_reference_to_another_host(html: str) -> None:
    problems, _ = page_problems(html, f"{ORIGIN}/")
    assert problems, html


def test_the_checker_accepts_this_host_and_data() -> None:
    html = (
        '<link rel="icon" href="data:,"><a href="#top"></a><a href="/docs"></a>'
        f'<script src="static/x.js"></script><a href="{ORIGIN}/livez"></a>'
        "<style>b { background: url(data:image/png;base64,AA==) }</style>"
    )
    assert page_problems(html, f"{ORIGIN}/") == ([], ["data:,", "static/x.js"])
    css_problems, css_loads = asset_problems(
        "a{background:url('../i.png')}/*# sourceMappingURL=x.css.map */", f"{ORIGIN}/static/v/x.css"
    )
    assert css_problems == [] and css_loads == [f"{ORIGIN}/static/i.png"]
    assert asset_problems("x()\n//# sourceMappingURL=https://cdn.example/x.map", f"{ORIGIN}/a.js")[
        0
    ]
    assert asset_problems('"https://new-host.example/api"', f"{ORIGIN}/a.js")[0]


async def test_no_page_of_a_development_server_names_another_host(dev: httpx.AsyncClient) -> None:
    landing = await crawl(dev, "/", HTML)
    graphiql = await crawl(dev, "/graphql", HTML)
    docs = await crawl(dev, "/docs", HTML)
    loaded = {urlsplit(url).path.removeprefix("/static/") for url in [*graphiql, *docs]}
    assert set(GRAPHIQL_ASSETS) <= loaded and set(DOCS_ASSETS) <= loaded
    # the explorer's home loads htmx and its stylesheet only (served here, like every asset)
    assert {urlsplit(url).path for url in landing} == {"/", f"/static/{HTMX}", STYLESHEET.path}


async def test_no_page_of_a_production_server_names_another_host(prod: httpx.AsyncClient) -> None:
    await crawl(prod, "/", HTML)
    assert (await prod.get("/graphql", headers=HTML)).status_code == 404
    assert (await prod.get("/docs", headers=HTML)).status_code == 404


def test_nothing_served_names_a_cdn_and_every_named_host_was_reviewed() -> None:
    named: set[str] = set()
    for name, found in static_index().items():
        text = found.path.read_text(encoding="utf-8", errors="replace")
        assert cdn_hosts_in(text) == [], name
        if name.endswith((".js", ".css")):
            hosts = hosts_named(text)
            assert hosts <= set(REVIEWED_HOSTS), (name, sorted(hosts - set(REVIEWED_HOSTS)))
            named |= hosts
        if name.startswith("graphsvc/"):
            assert hosts_named(text) == set(), f"graphsvc's own {name} names a host"
    assert set(REVIEWED_HOSTS) - named == set(), "reviewed hosts no file names any more"


async def test_docs_page_turns_the_online_validator_off(dev: httpx.AsyncClient) -> None:
    page = (await dev.get("/docs")).text
    assert '"validatorUrl": null' in page


# ------------------------------------------------------------------ the pages


async def test_landing_page_says_what_graphsvc_is_and_links_what_answers(
    dev: httpx.AsyncClient,
) -> None:
    r = await dev.get("/")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert "CMDB and dependency-graph service" in r.text
    page = _Page()
    page.feed(r.text)
    links = [v for tag, name, v in page.attributes if tag == "a" and name == "href"]
    for wanted in ("/graphql", "/docs", "/openapi.json", "/livez", "/readyz", "/metrics"):
        assert wanted in links, wanted
    for link in links:
        answer = await dev.get(link, headers=HTML)
        assert answer.status_code == 200, (link, answer.status_code)
    # the explorer's home loads one script, htmx, from this server (docs/explorer.md)
    assert re.findall(r"<script[^>]*>", r.text) == [f'<script src="/static/{HTMX}" defer>']
    assert "script-src 'self';" in r.headers["content-security-policy"]
    assert 'action="/search"' in r.text


async def test_landing_page_of_a_production_server_says_graphiql_and_docs_are_off(
    prod: httpx.AsyncClient,
) -> None:
    r = await prod.get("/")
    assert r.status_code == 200
    assert (
        "GraphiQL is not served here" in r.text and "(<code>/docs</code>) is not served" in r.text
    )
    page = _Page()
    page.feed(r.text)
    links = [v for tag, name, v in page.attributes if tag == "a" and name == "href"]
    assert "/graphql" not in links and "/docs" not in links
    for link in links:
        assert (await prod.get(link)).status_code == 200, link


async def test_pages_reveal_no_setting(tmp_path: Path) -> None:
    secret = tmp_path / "s3cr3t-data-dir"
    secret.mkdir()
    async with running(
        secret,
        env="development",
        neo4j_uri="bolt://neo4j-internal.example:7687",
        neo4j_password="hunter2-pw",
        tokens_file=tmp_path / "t0kens-file.db",
    ) as (_app, client):
        for path in ("/", "/graphql", "/docs"):
            # GraphiQL, like every GraphQL request, is for loopback Host names only (local mode)
            host = {"host": "localhost"} if path == "/graphql" else {"host": "evil.example"}
            r = await client.get(path, headers={**HTML, **host})
            assert r.status_code == 200, path
            for leak in (
                "s3cr3t",
                "t0kens",
                "neo4j-internal",
                "hunter2",
                "embedded",
                "evil.example",
                str(tmp_path),
                f"{graphsvc.__version__}<",
            ):
                assert leak not in r.text, (path, leak)


async def test_graphiql_page_reflects_nothing_from_the_request(dev: httpx.AsyncClient) -> None:
    r = await dev.get(
        "/graphql",
        params={"q": '<script>alert(1)</script>"><img src=x>'},
        headers=HTML,
    )
    # a GET with ?query= is a query; ?q= (GraphiQL's shared link) is only read by the script
    assert r.status_code == 200 and "alert(1)" not in r.text and "<img" not in r.text
    policy = r.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy.split("style-src")[0]
    assert "frame-ancestors 'none'" in policy
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_docs_page_allows_only_its_own_inline_script(dev: httpx.AsyncClient) -> None:
    import base64
    import hashlib

    r = await dev.get("/docs")
    scripts = re.findall(r"<script>(.*?)</script>", r.text, re.DOTALL)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    policy = r.headers["content-security-policy"]
    assert f"script-src 'self' 'sha256-{digest}';" in policy
    assert "'unsafe-inline'" not in policy.split("style-src")[0]


async def test_pages_need_no_token_and_hold_no_graph_data(tmp_path: Path) -> None:
    """With tokens (a remote client, no token): the pages answer, GraphQL itself does not."""
    async with running(tmp_path, client_host="10.1.2.3", env="development", auth="tokens") as (
        _app,
        client,
    ):
        ingest = await client.post("/api/v1/ingest", json={"source": "t", "entities": []})
        assert ingest.status_code == 401
        for path in ("/", "/docs", f"/static/{GRAPHIQL_ASSETS[-1]}"):
            assert (await client.get(path)).status_code == 200, path
        # GraphiQL's page is answered after the token check, as any GraphQL request
        assert (await client.get("/graphql", headers=HTML)).status_code == 401


async def test_pages_are_not_in_the_openapi_document(dev: httpx.AsyncClient) -> None:
    paths = (await dev.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p in ("/", "/docs") or p.startswith("/static")]


# ------------------------------------------------------------------ /static


async def test_static_files_are_served_with_their_type_and_cache_headers(
    dev: httpx.AsyncClient,
) -> None:
    types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for name in (*GRAPHIQL_ASSETS, *DOCS_ASSETS):
        r = await dev.get(f"/static/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"].startswith(types[Path(name).suffix]), name
        assert r.content == (STATIC_ROOT / name).read_bytes()
        assert r.headers["x-content-type-options"] == "nosniff"
        expected = IMMUTABLE if name.startswith("vendor/") else "no-cache"
        assert r.headers["cache-control"] == expected, name
        again = await dev.get(f"/static/{name}", headers={"if-none-match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b"", name
        assert again.headers["etag"] == r.headers["etag"]
        since = await dev.get(
            f"/static/{name}", headers={"if-modified-since": r.headers["last-modified"]}
        )
        assert since.status_code == 304, name
    head = await dev.head(f"/static/{GRAPHIQL_ASSETS[0]}")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == (STATIC_ROOT / GRAPHIQL_ASSETS[0]).stat().st_size
    other = await dev.get(f"/static/{GRAPHIQL_ASSETS[0]}", headers={"if-none-match": '"other"'})
    assert other.status_code == 200


async def test_every_vendored_package_keeps_its_licence_and_is_listed(
    dev: httpx.AsyncClient,
) -> None:
    vendor = STATIC_ROOT / "vendor"
    readme = (vendor / "README.md").read_text()
    folders = sorted(p for p in vendor.iterdir() if p.is_dir())
    assert len(folders) == 6
    for folder in folders:
        assert re.fullmatch(r"[a-z-]+-\d+\.\d+\.\d+", folder.name), folder.name
        assert f"`{folder.name}`" in readme, folder.name
        r = await dev.get(f"/static/vendor/{folder.name}/LICENSE")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        licences = ("MIT License", "Apache License", "Zero-Clause BSD")
        assert any(licence in r.text for licence in licences), folder.name
    for name in (*GRAPHIQL_ASSETS, *DOCS_ASSETS):
        if name.startswith("vendor/"):
            assert (STATIC_ROOT / Path(name).parts[0] / Path(name).parts[1] / "LICENSE").exists()


def _raw_requests() -> list[tuple[str, bytes]]:
    """Hostile paths as a server would pass them on: (path, raw_path)."""
    plain = [
        "/static/../pages.py",
        "/static/../../config.py",
        "/static/vendor/../../pages.py",
        "/static/vendor/react-18.2.0/../../../app.py",
        "/static//etc/passwd",
        "/static/%2e%2e/pages.py",
        "/static/..%2fpages.py",
        "/static/vendor\\..\\..\\pages.py",
        "/static/vendor/README.md",
        "/static/",
        "/static/vendor",
        "/static/vendor/",
        "/static/vendor/react-18.2.0",
        "/static/vendor/react-18.2.0/",
        "/static/./vendor/react-18.2.0/LICENSE",
        "/static/vendor/react-18.2.0/LICENSE/",
        "/static/graphsvc/graphiql.js\x00.png",
        "/static/graphsvc/graphiql.js%00",
        "/static/\x00",
        "/static/" + "../" * 5_000 + "etc/passwd",
        "/static/" + "a" * (MAX_NAME + 1),
        "/static/" + "a/" * 60_000,
        "/static/vendor/REACT-18.2.0/LICENSE",
    ]
    return [(p, p.encode("utf-8")) for p in plain]


async def _asgi(
    app: FastAPI, method: str, path: str, raw_path: bytes
) -> tuple[int, dict[str, str], bytes]:
    """One request straight to the ASGI app, its path not normalised by any client."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 51000),
        "server": ("localhost", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, body


async def test_static_serves_no_path_outside_its_index_and_lists_nothing(tmp_path: Path) -> None:
    async with running(tmp_path, env="development") as (app, client):
        for path, raw in _raw_requests():
            status, headers, body = await _asgi(app, "GET", path, raw)
            assert status == 404, (path[:80], status)
            assert headers["content-type"] == "application/problem+json", path[:80]
            assert len(body) < 200, "the name is not echoed back"
            for word in (b"passwd", b"pages.py", b"README", b"graphsvc/"):
                assert word not in body, (path[:80], body)
        metrics = (await client.get("/metrics")).text
        assert "passwd" not in metrics and 'route="/static/{name:path}"' in metrics


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]
)
async def test_pages_answer_only_get_and_head(dev: httpx.AsyncClient, method: str) -> None:
    for path in ("/", f"/static/{GRAPHIQL_ASSETS[0]}", "/docs", "/static/../pages.py"):
        r = await dev.request(method, path)
        assert r.status_code in (404, 405), (method, path, r.status_code)
        assert r.status_code == 405 or path.endswith("pages.py"), (method, path)
        assert b"graphiql" not in r.content.lower(), "no file content on another method"


async def test_range_requests_stay_within_the_file(dev: httpx.AsyncClient) -> None:
    name = f"/static/{GRAPHIQL_ASSETS[2]}"
    size = (STATIC_ROOT / GRAPHIQL_ASSETS[2]).stat().st_size
    one = await dev.get(name, headers={"range": "bytes=0-9"})
    assert one.status_code == 206 and len(one.content) == 10
    beyond = await dev.get(name, headers={"range": f"bytes={size + 10}-{size + 20}"})
    assert beyond.status_code == 416
    many = await dev.get(name, headers={"range": "bytes=" + ",".join(["0-0"] * 1000)})
    assert many.status_code in (200, 206, 400, 416) and len(many.content) <= 2 * size


def _tree(root: Path, files: Iterable[str]) -> None:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")


def test_the_index_leaves_out_hidden_files_other_types_and_links_out(tmp_path: Path) -> None:
    root = tmp_path / "static"
    _tree(root, ["ok.js", "v/ok.css", ".hidden.js", ".git/x.js", "page.html", "x.py", "v/LICENSE"])
    (tmp_path / "secret.js").write_text("secret")
    (root / "link.js").symlink_to(tmp_path / "secret.js")
    (root / "inside.js").symlink_to(root / "ok.js")
    index = static_index(root)
    assert sorted(index) == ["inside.js", "ok.js", "v/LICENSE", "v/ok.css"]
    assert index["v/ok.css"].cache_control == "no-cache"
