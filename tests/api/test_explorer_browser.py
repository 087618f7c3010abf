"""The explorer in a real browser: Playwright driving Debian's headless ``chromium`` (issue 22, 4).

One real graphsvc (uvicorn on a free loopback port, ``tokens`` mode, the demo
graph loaded) and one browser serve the whole module. Checked, page by page of
:data:`PAGES`:

* it loads with no console error or warning and no script error of the page, and
  asks no other host for anything: every request the browser makes is routed
  through the test, which lets through only the server's origin and aborts and
  records the rest (and the browser resolves no host name but ``127.0.0.1``);
* axe-core (vendored for the tests, ``tests/data/vendor``) finds no ``serious`` or
  ``critical`` accessibility violation.

And across pages: search -> entity -> impact ("what if this fails") -> team by
keyboard alone (Tab, typing, Enter), and reading with JavaScript off (pages load,
paging links are plain links that work). Screenshots for ``docs/`` are written by
``python -m tests.api.explorer_screenshots``, never by this module.

Playwright is the Python package (dev extras); its browser is the system's
``chromium`` (``executable_path``), so nothing is downloaded. Without a
``chromium`` on ``PATH`` the module skips, as ``test_graphiql_chromium.py`` does.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    sync_playwright,
)

from graphsvc.api.tokens import Scope
from graphsvc.config import Settings
from graphsvc.demo import demo_batches
from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.store.factory import store_from_settings
from tests.api.live import LiveServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (make test installs the Debian package chromium)",
)

AXE = Path(__file__).parents[1] / "data" / "vendor" / "axe-core-4.14.1" / "axe.min.js"
"""axe-core, vendored for the tests (``tests/data/vendor/README.md``)."""

AXE_PATH = "/__tests__/axe.min.js"
"""Where the page loads axe from: answered by the test's router with :data:`AXE`, on
the server's own origin, so the page's ``script-src 'self'`` stays on while axe runs."""

BLOCKING_IMPACTS = ("serious", "critical")
"""axe impacts that fail a page."""

CHROMIUM_ARGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pings",
)
"""A second wall after the test's router: no host name resolves but ``127.0.0.1``."""


@dataclass(frozen=True, slots=True)
class ExplorerPage:
    """One page of the explorer as the browser tests and the screenshots open it.

    Attributes:
        name: A short name: the test id and ``docs/screenshots/explorer-<name>.png``.
        path: The path and query to open (demo graph keys).
        signed_in: Whether it is opened with a session (``/sign-in`` is opened without).
        status: The status it answers (the explorer's error pages are pages too).
    """

    name: str
    path: str
    signed_in: bool = True
    status: int = 200


PAGES: tuple[ExplorerPage, ...] = (
    ExplorerPage("home", "/"),
    ExplorerPage("search", "/search?q=ehr"),
    ExplorerPage("entity", "/entity/Service/ehr-nbh"),
    ExplorerPage("impact", "/impact?ref=Service/ehr-nbh"),
    ExplorerPage("health", "/health"),
    ExplorerPage("sign-in", "/sign-in", signed_in=False),
    ExplorerPage("home-signed-out", "/", signed_in=False),
    ExplorerPage("not-found", "/entity/Service/no-such-service", status=404),
    ExplorerPage("bad-parameter", "/search?after=-1", status=400),
    ExplorerPage("change", "/change/CHG0041215"),
    ExplorerPage("calendar", "/calendar"),
    ExplorerPage("team", "/team/team-imaging"),
    ExplorerPage("project", "/project/PRJ-0117"),
)
"""Every page of the explorer, on the demo graph. A page whose route does not exist
(the router's 404 problem document, not the explorer's own HTML page) is skipped, so pages can
be listed here before they are merged."""

KEYBOARD_QUERY = "ehr-nbh"
"""What the keyboard flow types into the search box; the result it opens."""
KEYBOARD_RESULT = "/entity/Service/ehr-nbh"


# ------------------------------------------------------------------ the server


@dataclass(frozen=True, slots=True)
class DemoServer:
    """A running graphsvc over the demo graph.

    Attributes:
        url: Its origin, ``http://127.0.0.1:<port>``.
        token: A read token (``tokens`` mode), ``None`` in ``local`` mode.
        db: The store file it serves.
    """

    url: str
    token: str | None
    db: Path

    def headers(self) -> dict[str, str]:
        """Headers that let a plain HTTP client read (a bearer token in ``tokens`` mode)."""
        return {"authorization": f"Bearer {self.token}"} if self.token else {}


async def _load_demo(db: Path) -> None:
    store = store_from_settings(Settings(data=db, durability="normal"))
    async with store:
        engine = IngestEngine(store, IngestPolicy())
        for batch in demo_batches(datetime.datetime.now(datetime.UTC).date()):
            await engine.ingest(batch, actor="demo")


@contextmanager
def demo_server(home: Path, *, auth: str = "tokens") -> Iterator[DemoServer]:
    """Serve the demo graph (dates relative to today) from ``home`` on a free loopback port.

    Args:
        home: A folder for the store file and the tokens file.
        auth: ``tokens`` (a read token is made and returned) or ``local``.
    """
    db = home / "demo.db"
    with ThreadPoolExecutor(1) as loader:  # its own event loop: Playwright's may be running here
        loader.submit(asyncio.run, _load_demo(db)).result()
    settings = Settings(
        data=db,
        tokens_file=home / "tokens.db",
        auth=auth,  # type: ignore[arg-type]
        durability="normal",
        log_format="json",
    )
    server = LiveServer(settings).start()
    try:
        token = None
        if auth == "tokens":
            _, token = server.services.auth.tokens.create("browser-tests", Scope.READ)
        yield DemoServer(server.url, token, db)
    finally:
        server.stop()


@contextmanager
def local_replica(served: DemoServer, home: Path) -> Iterator[DemoServer]:
    """A second graphsvc over the same file: ``local`` mode, a read-only replica (no lock)."""
    settings = Settings(
        data=served.db,
        tokens_file=home / "replica-tokens.db",
        auth="local",
        read_only=True,
        log_format="json",
    )
    server = LiveServer(settings).start()
    try:
        yield DemoServer(server.url, None, served.db)
    finally:
        server.stop()


def route_exists(server: DemoServer, path: str) -> bool:
    """Whether the explorer serves ``path``: not the router's 404 problem document (no route)."""
    r = httpx.get(server.url + path, headers=server.headers(), timeout=30)
    return r.status_code != 404 or r.headers["content-type"].startswith("text/html")


# ------------------------------------------------------------------ the browser


@dataclass
class Watch:  # no slots: Playwright keeps its wrappers on bound methods' objects
    """What the pages of one browser context did that a clean page never does.

    Attributes:
        origin: The only origin requests may go to.
        requests: Every URL asked for (routed through the test).
        blocked: URLs on another origin: aborted before they left.
        problems: Console errors and warnings, script errors, refused loads.
        error_pages: Addresses opened for their error page: the browser's console
            line for their own 4xx status is expected, not a problem.
    """

    origin: str
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error_pages: set[str] = field(default_factory=set)

    def route(self, route: Route) -> None:
        """Let a request to :attr:`origin` through (axe from the test's file); abort others."""
        url = route.request.url
        self.requests.append(url)
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.blocked.append(url)
            route.abort("blockedbyclient")
        elif parts.path == AXE_PATH:
            route.fulfill(path=AXE, content_type="text/javascript")
        else:
            route.continue_()

    def console(self, message: ConsoleMessage) -> None:
        """Record console errors and warnings (CSP refusals and failed loads are errors)."""
        own_status = message.text.startswith("Failed to load resource: the server responded")
        if own_status and message.location.get("url") in self.error_pages:
            return
        if message.type in ("error", "warning", "assert"):
            self.problems.append(f"console.{message.type}: {message.text} at {message.location}")

    def watch(self, page: Page) -> None:
        """Listen to ``page``'s console, script errors and web sockets."""
        page.on("console", self.console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("websocket", lambda ws: self.blocked.append(ws.url))

    def clear(self) -> None:
        """Forget what was seen (between pages)."""
        self.requests.clear()
        self.blocked.clear()
        self.problems.clear()
        self.error_pages.clear()


def launch(playwright: Playwright) -> Browser:
    """Debian's headless chromium (no browser download)."""
    assert CHROMIUM is not None
    return playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))


def guarded_context(
    browser: Browser, server: DemoServer, **options: Any
) -> tuple[BrowserContext, Watch]:
    """A new context whose every request passes :meth:`Watch.route`."""
    watch = Watch(server.url)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.route("**/*", watch.route)
    context.on("page", watch.watch)
    return context, watch


def sign_in(page: Page, server: DemoServer) -> None:
    """Sign in through the form, by keyboard: the token field has the focus."""
    assert server.token is not None
    page.goto(server.url + "/sign-in")
    page.locator("#token:focus").wait_for(timeout=5000)  # autofocus
    page.keyboard.type(server.token)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert urlsplit(page.url).path == "/", page.url


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on ``page``; return its violations of impact ``serious`` or ``critical``."""
    page.add_script_tag(url=AXE_PATH)
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary}))}))"
    )
    return [v for v in found if v["impact"] in BLOCKING_IMPACTS]


def describe(violations: list[dict[str, Any]]) -> str:
    """The violations as lines a person can act on."""
    lines = []
    for v in violations:
        lines.append(f"{v['impact']} {v['id']}: {v['help']}")
        lines += [f"    {n['target']}: {n['summary']}" for n in v["nodes"][:8]]
    return "\n".join(lines)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with demo_server(tmp_path_factory.mktemp("explorer-browser")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = launch(playwright)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def signed_in(browser: Browser, server: DemoServer) -> Iterator[tuple[BrowserContext, Watch]]:
    """One signed-in context for the module (sign-in itself is checked on the way)."""
    context, watch = guarded_context(browser, server)
    page = context.new_page()
    sign_in(page, server)
    page.close()
    yield context, watch
    context.close()


@pytest.fixture
def page(signed_in: tuple[BrowserContext, Watch]) -> Iterator[Page]:
    context, watch = signed_in
    watch.clear()
    opened = context.new_page()
    yield opened
    opened.close()


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("case", PAGES, ids=[p.name for p in PAGES])
def test_page_loads_clean_offline_and_accessible(
    case: ExplorerPage,
    server: DemoServer,
    browser: Browser,
    signed_in: tuple[BrowserContext, Watch],
) -> None:
    if not route_exists(server, case.path):
        pytest.skip(f"{case.path}: no such route on this branch")
    if case.signed_in:
        context, watch = signed_in
    else:
        context, watch = guarded_context(browser, server)
    watch.clear()
    if case.status != 200:
        watch.error_pages.add(server.url + case.path)
    page = context.new_page()
    try:
        answer = page.goto(server.url + case.path, wait_until="load")
        assert answer is not None and answer.status == case.status, (
            case.path,
            answer and answer.status,
        )
        assert page.locator("h1").count() == 1, "a page has one h1"
        if case.status == 200:
            assert "This page cannot be shown" not in page.inner_text("main")
        else:  # the error page says why, in words
            assert page.get_by_role("alert").inner_text().strip(), case.path
        assert watch.problems == [], f"{case.path}: {watch.problems}"
        serious = axe_violations(page)  # also lets the page run its scripts a while
        assert serious == [], f"{case.path}: axe found\n{describe(serious)}"
        assert watch.blocked == [], f"{case.path} asked another host for {watch.blocked}"
        assert watch.problems == [], f"{case.path} (while axe ran): {watch.problems}"
        assert all(u.startswith(server.url + "/") for u in watch.requests), watch.requests
    finally:
        page.close()
        if not case.signed_in:
            context.close()


def _focus_by_tab(page: Page, wanted: str, *, what: str, most: int = 300) -> int:
    """Press Tab until the focused element satisfies the JS predicate ``wanted`` (``el`` in it).

    Returns how many Tabs it took; fails naming what was focused when it never does.
    """
    seen = []
    for presses in range(1, most + 1):
        page.keyboard.press("Tab")
        if page.evaluate(
            f"(() => {{ const el = document.activeElement; return !!({wanted}); }})()"
        ):
            return presses
        seen.append(
            page.evaluate(
                "(() => { const el = document.activeElement;"
                " return el.tagName + ' ' + (el.getAttribute('href') || el.id || el.innerText || ''); })()"
            )
        )
    raise AssertionError(f"{most} Tabs never focused {what}; the last ones focused: {seen[-40:]}")


def test_search_entity_impact_team_by_keyboard_alone(
    page: Page, server: DemoServer, signed_in: tuple[BrowserContext, Watch]
) -> None:
    """Only keyboard events move the page: Tab, typing, Enter (reading the focus is no event)."""
    page.goto(server.url + "/search")
    # the first Tab reaches the skip link, then the search box follows the navigation
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    _focus_by_tab(page, "el.id === 'q'", what="the search box")
    page.keyboard.type(KEYBOARD_QUERY)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q=ehr-nbh"))
    page.wait_for_load_state("networkidle")
    # Tab from the box to the result (htmx may have swapped the results in place)
    _focus_by_tab(
        page,
        f"el.tagName === 'A' && el.closest('#results') && el.pathname === {KEYBOARD_RESULT!r}",
        what="the search result",
    )
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert urlsplit(page.url).path == KEYBOARD_RESULT
    _focus_by_tab(page, "el.tagName === 'A' && el.pathname === '/impact'", what="the impact link")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert urlsplit(page.url).path == "/impact"
    assert "ref=Service%2Fehr-nbh" in page.url
    assert "What if this fails" in (page.text_content("header") or "")
    team_link = (
        "el.tagName === 'A' && el.closest('#teams')"
        " && (el.pathname.startsWith('/team/') || el.pathname.startsWith('/entity/Team/'))"
    )
    _focus_by_tab(page, team_link, what="a team to notify")
    target = page.evaluate("document.activeElement.pathname")
    with page.expect_navigation() as landed:
        page.keyboard.press("Enter")
    assert urlsplit(page.url).path == target
    assert landed.value is not None and landed.value.status == 200, page.url
    assert page.locator("h1").count() == 1
    _, watch = signed_in
    assert watch.blocked == [] and watch.problems == [], (watch.blocked, watch.problems)


def test_reading_and_paging_work_with_javascript_off(browser: Browser, server: DemoServer) -> None:
    context, watch = guarded_context(browser, server, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, server)  # a plain form post works without scripts too
        for case in PAGES:
            if not case.signed_in or not route_exists(server, case.path):
                continue
            if case.status != 200:
                watch.error_pages.add(server.url + case.path)
            answer = page.goto(server.url + case.path)
            assert answer is not None and answer.status == case.status, case.path
            assert page.locator("h1").count() == 1, case.path
        # paging: each "next" link is a plain link that brings the next page
        for start, section in (
            ("/search?q=", "#results"),
            ("/impact?ref=ConfigurationItem/nbh-dc1-fabric", "#affected"),
        ):
            page.goto(server.url + start)
            first = page.locator(f"{section} tbody tr").all_inner_texts()
            link = page.locator(f"{section} a[rel=next]")
            assert link.count() == 1, f"{start} has no next link"
            with page.expect_navigation():
                link.click()
            assert "after=" in page.url
            assert page.locator(f"{section} tbody tr").all_inner_texts() != first, start
        assert watch.blocked == [] and watch.problems == [], (watch.blocked, watch.problems)
        # no script ran: htmx was not even asked for
        assert not any(u.endswith("htmx.min.js") for u in watch.requests), watch.requests
    finally:
        context.close()


BAD_PAGE = """<!doctype html><html lang="en"><head><title>bad</title></head><body><main>
<h1>A page that fails every check</h1>
<img src="http://cdn.example.net/logo.png" alt="logo">
<input name="unlabelled">
<p style="color:#eee;background:#fff">faint</p>
<script>console.error("boom")</script>
</main></body></html>"""


def test_the_checks_catch_a_page_that_breaks_them(server: DemoServer, browser: Browser) -> None:
    """The watch and axe are not blind: a page on the server's origin that breaks each rule."""
    context, watch = guarded_context(browser, server)
    try:
        page = context.new_page()
        page.route(
            server.url + "/__tests__/bad",
            lambda route: route.fulfill(body=BAD_PAGE, content_type="text/html"),
        )
        page.goto(server.url + "/__tests__/bad")
        page.wait_for_load_state("networkidle")
        assert watch.blocked == ["http://cdn.example.net/logo.png"]
        assert any("boom" in p for p in watch.problems), watch.problems
        serious = axe_violations(page)
        assert {"label", "color-contrast"} <= {v["id"] for v in serious}, serious
        assert "critical label:" in describe(serious)
    finally:
        context.close()


def test_local_mode_serves_every_page_without_sign_in(
    server: DemoServer, browser: Browser, tmp_path: Path
) -> None:
    """``local`` mode (loopback): no sign-in, no sign-out, the same clean pages."""
    with local_replica(server, tmp_path) as local:
        context, watch = guarded_context(browser, local)
        try:
            page = context.new_page()
            for case in PAGES:
                if not case.signed_in or not route_exists(local, case.path):
                    continue
                if case.status != 200:
                    watch.error_pages.add(local.url + case.path)
                answer = page.goto(local.url + case.path)
                assert answer is not None and answer.status == case.status, case.path
                assert urlsplit(page.url).path == urlsplit(case.path).path, page.url
                assert page.get_by_role("button", name="Sign out").count() == 0
            assert page.goto(local.url + "/sign-in") is not None
            assert urlsplit(page.url).path == "/"  # nothing to sign in to
            assert watch.blocked == [] and watch.problems == [], (watch.blocked, watch.problems)
        finally:
            context.close()
