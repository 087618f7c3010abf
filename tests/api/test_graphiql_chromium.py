"""GraphiQL and the OpenAPI page render in headless Chromium with the network cut off.

A real ``graphsvc serve`` (development mode) on loopback; Chromium may reach
nothing but that server (``tests/api/browser.py``). The pages must render from
what graphsvc serves alone (PRODUCT.md 5: networks without internet access),
and no request may even try another host.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.browser import CHROMIUM, Browser, offline_browser
from tests.api.serving import serve

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (make test installs the Debian package chromium)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A development-mode graphsvc (GraphiQL and /docs on), local auth, empty store."""
    with serve(tmp_path_factory.mktemp("graphiql"), env="development") as base:
        yield base


@pytest.fixture
def page(server: str, tmp_path: Path) -> Iterator[Browser]:
    with offline_browser(tmp_path / "profile", allowed={server}) as browser:
        try:
            yield browser
        finally:
            # left for a person looking into a failure (pytest keeps recent tmp dirs)
            with contextlib.suppress(AssertionError):
                browser.screenshot(tmp_path / "page.png")


def _text_of(selector: str) -> str:
    """A JavaScript expression: the text of the first element matching ``selector``."""
    return f"(document.querySelector({json.dumps(selector)}) || {{}}).innerText || ''"


def test_graphiql_renders_and_documents_the_schema_offline(server: str, page: Browser) -> None:
    page.open(f"{server}/graphql")
    # rendered: the query editor (CodeMirror) is on the screen with the example query
    page.wait_for(
        "(() => { const e = document.querySelector('.graphiql-query-editor .CodeMirror');"
        " return !!e && e.getBoundingClientRect().height > 50"
        " && e.innerText.includes('entities'); })()",
        what="GraphiQL's query editor",
    )
    page.evaluate(
        "document.querySelector('button[aria-label=\"Show Documentation Explorer\"]').click()"
    )
    # the schema came from /graphql (introspection): the root types are listed (waited
    # for as one text: the panel may render its title alone between two checks)
    page.wait_for(
        f"(() => {{ const t = {_text_of('.graphiql-doc-explorer')}.replace(/\\n/g, ' ');"
        " return t.includes('Root Types') && t.includes('query: Query'); })()",
        what="the documentation explorer's root types",
    )
    page.evaluate(
        "[...document.querySelectorAll('.graphiql-doc-explorer a.graphiql-doc-explorer-type-name')]"
        ".find(a => a.innerText.trim() === 'Query').click()"
    )
    wanted = ["What is affected if these entities fail or change", "impact", "ownership"]
    wanted += ["changeImpact", "entities"]
    page.wait_for(  # all in one look (see above)
        f"(() => {{ const t = {_text_of('.graphiql-doc-explorer')};"
        f" return {json.dumps(wanted)}.every(w => t.includes(w)); }})()",
        what="the Query type's fields and the impact field's description",
    )

    # and a query runs, against the same server
    page.evaluate("document.querySelector('.graphiql-execute-button').click()")
    answer = page.wait_for(
        "(() => { const e = document.querySelector('.graphiql-response .CodeMirror');"
        " const v = e && e.CodeMirror.getValue(); return v && v.includes('totalCount') && v; })()",
        what="the example query's answer",
    )
    assert json.loads(answer) == {"data": {"entities": {"totalCount": 0, "edges": []}}}

    assert page.blocked == [], "GraphiQL tried to reach another host"
    assert page.problems == []
    assert any(
        url.endswith("/static/vendor/graphiql-3.8.3/graphiql.min.js") for url in page.requests
    )
    assert all(url.startswith(server) for url in page.requests), page.requests


def test_the_openapi_page_renders_offline(server: str, page: Browser) -> None:
    page.open(f"{server}/docs")
    page.wait_for(
        f"{_text_of('.swagger-ui .info .title')}.includes('graphsvc')",
        what="Swagger UI's title",
    )
    page.wait_for(
        "!!document.querySelector('.opblock-summary-path[data-path=\"/api/v1/ingest\"]')",
        what="the ingest operation",
    )
    assert page.blocked == [], "the OpenAPI page tried to reach another host"
    assert page.problems == []
    assert all(url.startswith(server) for url in page.requests), page.requests


def test_the_landing_page_renders_offline(server: str, page: Browser) -> None:
    page.open(f"{server}/")
    assert "dependency-graph service" in page.evaluate(_text_of("body"))
    links = page.evaluate("[...document.querySelectorAll('a')].map(a => a.href)")
    assert f"{server}/graphql" in links and f"{server}/docs" in links
    assert all(link.startswith(server) for link in links), links
    assert page.blocked == []
    assert page.problems == []
