"""The explorer's impact picture, impact from several starts, relation filters, history order,
past search and the stylesheet as a cached file (issue 22, second slice).

One app over the embedded store with the demo graph and a synthetic hub (2,500
services on one switch) serves the whole module; the store-level behaviour
(``find_entities`` with ``asOf``, ``history`` newest first) is checked on both
backends in ``tests/contract/test_past_search.py``, and one case here runs the
pages over Neo4j too.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import shutil
import time
from collections.abc import AsyncIterator
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import httpx
import pytest
from fastapi import FastAPI

from graphsvc.analysis.impact import ImpactState
from graphsvc.api.app import create_app
from graphsvc.api.explorer.picture import PICTURE_NODES
from graphsvc.api.explorer.routes import STYLESHEET
from graphsvc.config import Settings
from graphsvc.demo import demo_batches
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import EntityKind
from graphsvc.report.build import PICTURE_ENTITIES
from graphsvc.report.diagram import affected_diagram, safe_svg
from graphsvc.report.model import AffectedEntity, EntityRef
from tests.api.conftest import MakeApi
from tests.api.test_explorer import demo_api

TODAY = datetime.date(2025, 3, 10)
HUB_SERVICES = 2_500
EVIL = '<script>alert(1)</script>"><svg onload=alert(2)>'
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz `dot` is not installed"
)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def hub_batch() -> IngestBatch:
    """A core switch with HUB_SERVICES services on it, tiers 1 to 4; and hostile names."""
    entities: list[dict[str, Any]] = [
        {"kind": "ConfigurationItem", "key": "hub-switch", "attributes": {"ciClass": "switch"}},
        {"kind": "ConfigurationItem", "key": EVIL, "name": EVIL, "attributes": {"ciClass": EVIL}},
        {"kind": "Service", "key": "javascript:alert(3)", "name": "x' onclick='alert(4)"},
    ]
    relations: list[dict[str, Any]] = [
        {
            "type": "DEPENDS_ON",
            "from": {"kind": "Service", "key": "javascript:alert(3)"},
            "to": {"kind": "ConfigurationItem", "key": EVIL},
        }
    ]
    for i in range(HUB_SERVICES):
        entities.append(
            {"kind": "Service", "key": f"hub-svc-{i}", "attributes": {"tier": 1 + i % 4}}
        )
        relations.append(
            {
                "type": "DEPENDS_ON",
                "from": {"kind": "Service", "key": f"hub-svc-{i}"},
                "to": {"kind": "ConfigurationItem", "key": "hub-switch"},
            }
        )
    return IngestBatch.model_validate(
        {"source": "synthetic", "entities": entities, "relations": relations}
    )


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The demo graph and the hub, in one app for the module (local mode)."""
    home = tmp_path_factory.mktemp("picture")
    settings = Settings(
        data=home / "g.db", tokens_file=home / "tokens.db", durability="normal", log_format="json"
    )
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        for batch in [*demo_batches(TODAY), hub_batch()]:
            await app.state.services.engine.ingest(batch)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 51000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            yield c


class _Attributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.handlers: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handlers += [(tag, n) for n, _ in attrs if n.startswith("on") or n == "style"]


def handler_attributes(html: str) -> list[tuple[str, str]]:
    """Every ``on...`` or ``style`` attribute of the page's tags, as a browser parses them."""
    parser = _Attributes()
    parser.feed(html)
    return parser.handlers


def picture_of(html: str) -> ElementTree.Element:
    start = html.index('<section id="picture">')
    section = html[start : html.index("</section>", start)]
    svg = section[section.index("<svg") : section.index("</svg>") + 6]
    assert safe_svg(svg)
    return ElementTree.fromstring(svg)


def node_links(svg: ElementTree.Element) -> list[str]:
    return [unescape(a.get(XLINK) or "") for a in svg.iter(f"{SVG}a")]


def rows(html: str) -> list[str]:
    start = html.index('<section id="affected">')
    section = html[start : html.index("</section>", start)]
    return re.findall(r"<tr><td><a class=\"k\" href=\"([^\"]+)\"", section)


def next_link(html: str) -> str | None:
    found = re.search(r'<a rel="next" href="([^"]+)"', html)
    return unescape(found[1]) if found else None


# ------------------------------------------------------------------ the picture


@needs_dot
async def test_the_picture_draws_the_affected_graph_with_states_and_links(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/impact", params={"ref": "ConfigurationItem/nbh-dc01"})
    assert r.status_code == 200, r.text[-500:]
    svg = picture_of(r.text)
    texts = {t.text for t in svg.iter(f"{SVG}text")}
    assert {"nbh-dc01", "identity-sso"} <= texts
    assert any("DOWN" in (t or "") for t in texts) and any("DEGRADED" in (t or "") for t in texts)
    total = int(re.search(r"(\d+) affected \(start entities included\)", r.text)[1])  # type: ignore[index]
    assert f"Every affected entity ({total})." in r.text
    links = node_links(svg)
    assert "/entity/ConfigurationItem/nbh-dc01" in links
    for link in links:
        assert link.startswith(("/entity/", "/change/", "/team/", "/project/")), link
        if link.startswith("/entity/"):
            assert (await client.get(link)).status_code == 200, link
    # a surviving member of a redundancy group keeps a DEGRADED entity up: drawn in green
    assert "surviving member" in r.text
    # asOf is kept in every node link
    now = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5)).replace(
        microsecond=0
    )
    later = await client.get(
        "/impact", params={"ref": "ConfigurationItem/nbh-dc01", "asOf": now.isoformat()}
    )
    for link in node_links(picture_of(later.text)):
        assert parse_qs(urlsplit(link).query)["asOf"] == [now.isoformat()], link


@needs_dot
async def test_the_picture_of_a_hub_folds_and_stays_bounded(client: httpx.AsyncClient) -> None:
    started = time.perf_counter()
    r = await client.get("/impact", params={"ref": "ConfigurationItem/hub-switch"})
    seconds = time.perf_counter() - started
    assert r.status_code == 200
    svg = picture_of(r.text)
    nodes = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "node"]
    assert 8 <= len(nodes) <= PICTURE_NODES
    assert "grouped in the dashed boxes" in r.text
    beyond = HUB_SERVICES + 1 - PICTURE_ENTITIES
    assert f"{beyond:,} entities beyond the listing limit are not drawn" in r.text
    assert re.search(r"more tier \d services", r.text)
    assert len(r.text) < 400_000, "the page does not grow with the blast radius"
    assert seconds < 10, f"the hub's impact page took {seconds:.1f} s"


def test_the_diagram_folds_a_large_affected_set_under_its_node_cap() -> None:
    """The picture's input is capped; the diagram itself folds whatever it is given."""
    hub = EntityRef(kind=EntityKind.CONFIGURATION_ITEM, key="hub", name="hub")

    def affected(i: int) -> AffectedEntity:
        return AffectedEntity.model_construct(
            entity=EntityRef.model_construct(kind=EntityKind.SERVICE, key=f"s{i}", name=f"s{i}"),
            tier=1 + i % 4,
            ci_class=None,
            state=ImpactState.DOWN,
            depth=1,
            stale=False,
            reached_from=hub,
            relation=None,
            walked=None,
            kept_up_by=[],
        )

    start = AffectedEntity.model_construct(
        entity=hub,
        tier=None,
        ci_class="switch",
        state=ImpactState.DOWN,
        depth=0,
        stale=False,
        reached_from=None,
        relation=None,
        walked=None,
        kept_up_by=[],
    )
    many = [start, *(affected(i) for i in range(20_000))]
    started = time.perf_counter()
    diagram = affected_diagram(many, total=500_000, max_nodes=PICTURE_NODES)
    assert time.perf_counter() - started < 5
    assert diagram.nodes <= PICTURE_NODES and diagram.collapsed > 19_000
    assert "479,999 entities beyond the listing limit are not drawn" in diagram.caption
    assert "change" not in diagram.dot.split("{", 1)[1].split("[", 1)[0], "no change node"


@needs_dot
async def test_hostile_keys_and_names_reach_the_picture_escaped(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/impact", params={"ref": f"ConfigurationItem/{EVIL}"})
    assert r.status_code == 200
    assert "<script>alert" not in r.text and "<svg onload" not in r.text
    assert not handler_attributes(r.text), "no event handler in any tag"
    svg = picture_of(r.text)
    texts = "".join(t.text or "" for t in svg.iter(f"{SVG}text"))
    assert "<script>alert(1)</script>" in texts, "the key is shown as text"
    links = node_links(svg)
    assert all(link.startswith("/entity/") for link in links), links
    assert any("javascript%3Aalert%283%29" in link for link in links)
    for link in links:
        assert (await client.get(link)).status_code == 200, link


def test_the_svg_check_refuses_what_a_page_must_not_inline() -> None:
    ok = '<svg xmlns="http://www.w3.org/2000/svg"><g><title>t</title><text>on x=1 javascript:</text></g></svg>'
    assert safe_svg(ok)
    bad = [
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><g style="fill:red"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><style>g{}</style></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        '<a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><a href="//evil.example/"><text>x</text></a></svg>',
        '<!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg"/>',
        "<svg><unclosed>",
    ]
    for svg in bad:
        assert not safe_svg(svg), svg


async def test_without_graphviz_the_page_says_so(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    r = await client.get("/impact", params={"ref": "ConfigurationItem/nbh-dc01"})
    assert r.status_code == 200
    assert "needs Graphviz" in r.text and "<svg" not in r.text
    assert 'id="affected"' in r.text, "the rest of the page is there"


# ------------------------------------------------------------------ several starts


async def test_impact_from_several_starts_pages_through_every_affected_entity(
    client: httpx.AsyncClient,
) -> None:
    refs = ["ConfigurationItem/hub-switch", "ConfigurationItem/nbh-dc01"]
    url: str | None = "/impact?ref=" + "&ref=".join(refs) + "&maxDepth=5"
    first = await client.get(url)
    total = int(
        re.search(r'id="affected">\s*<h2>Affected entities <span class="n">(\d+)', first.text)[1]
    )  # type: ignore[index]
    assert total > HUB_SERVICES
    seen: list[str] = []
    pages = 0
    while url is not None and pages < 5:
        r = await client.get(url)
        assert r.status_code == 200, (url, r.text[-300:])
        seen += rows(r.text)
        pages += 1
        url = next_link(r.text)
        if url is not None:
            query = parse_qs(urlsplit(url).query)
            assert query["ref"] == refs and query["maxDepth"] == ["5"], url
    assert pages == 5 and len(seen) == 5 * 25 and len(set(seen)) == len(seen)
    # the asOf form keeps every start too
    assert first.text.count('<input type="hidden" name="ref"') == 2


# ------------------------------------------------------------------ entity page


async def test_relations_filter_by_type_and_links_keep_the_filter(
    client: httpx.AsyncClient,
) -> None:
    base = "/entity/ConfigurationItem/hub-switch"
    r = await client.get(base, params={"inType": "depends_on"})
    assert r.status_code == 200
    incoming = r.text[r.text.index('id="rel-in"') : r.text.index('id="history"')]
    assert incoming.count('<td class="k">DEPENDS_ON</td>') == 25
    nxt = next_link(incoming)
    assert nxt is not None and parse_qs(urlsplit(nxt).query)["inType"] == ["DEPENDS_ON"]
    assert '<option value="DEPENDS_ON" selected>' in incoming
    r = await client.get(base, params={"inType": "OWNS"})
    assert r.status_code == 200
    incoming = r.text[r.text.index('id="rel-in"') : r.text.index('id="history"')]
    assert "DEPENDS_ON</td>" not in incoming and "None." in incoming
    hostile = {
        "outType=NOPE": "outType",
        "inType=" + EVIL: "inType",
        "outType=MODIFIES": "outType",  # a CI never leaves on MODIFIES
        "outType=RUNS_ON&outType=PART_OF": "outType",
        "historyOrder=sideways": "historyOrder",
        "inType=" + "x" * 41: "inType",
    }
    for query, name in hostile.items():
        r = await client.get(f"{base}?{query}")
        assert r.status_code == 400, (query, r.status_code)
        assert name in r.text and "<script>alert" not in r.text, query


async def test_history_is_newest_first_with_a_toggle(client: httpx.AsyncClient) -> None:
    base = "/entity/Service/identity-sso"
    times = re.compile(r'<li><time datetime="([^"]+)">')
    r = await client.get(base)
    newest = times.findall(r.text)
    assert newest == sorted(newest, reverse=True) and newest
    assert "Newest first" in r.text and "historyOrder=oldest" in r.text
    r = await client.get(base, params={"historyOrder": "oldest"})
    oldest = times.findall(r.text)
    assert oldest == sorted(oldest) and "Oldest first" in r.text


# ------------------------------------------------------------------ past search


async def test_search_in_the_past_matches_what_existed_then(client: httpx.AsyncClient) -> None:
    r = await client.get("/search", params={"q": "hub-svc-1", "asOf": "2001-01-01T00:00:00Z"})
    assert r.status_code == 200 and "No entity matches." in r.text
    later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5)).isoformat()
    r = await client.get("/search", params={"q": "hub-svc-1", "asOf": later})
    assert "/entity/Service/hub-svc-1?" in r.text
    r = await client.get("/api/v1/entities", params={"q": "hub-svc-1", "asOf": "2001-01-01"})
    assert r.status_code == 200 and r.json()["total"] == 0
    r = await client.get("/api/v1/entities", params={"q": "hub-svc-1", "asOf": later})
    assert r.json()["total"] == 1 + 10 + 100 + 1000
    r = await client.get("/api/v1/entities", params={"asOf": "1700000000"})
    assert r.status_code == 422
    body = (
        await client.post(
            "/graphql",
            json={
                "query": '{ entities(filter: {text: "hub-svc-2"}, asOf: "2001-01-01T00:00:00Z")'
                " { totalCount } }"
            },
        )
    ).json()
    assert body["data"]["entities"]["totalCount"] == 0, body


# ------------------------------------------------------------------ the stylesheet


async def test_the_stylesheet_is_one_cached_file_and_pages_hold_no_inline_style(
    client: httpx.AsyncClient,
) -> None:
    for path in (
        "/",
        "/search?q=nbh",
        "/entity/ConfigurationItem/nbh-dc01",
        "/impact?ref=ConfigurationItem/nbh-dc01",
        "/health",
        "/impact?ref=Service/none-such",
        "/change/CHG0041215",
        "/calendar?from=2026-01-05&weeks=12",
        "/team/team-imaging",
        "/project/PRJ-0117",
    ):
        r = await client.get(path)
        policy = r.headers["content-security-policy"]
        assert "style-src 'self';" in policy and "unsafe-inline" not in policy, path
        assert f'<link rel="stylesheet" href="{STYLESHEET.path}">' in r.text, path
        assert "<style" not in r.text and not handler_attributes(r.text), path
        assert not re.search(r"<[^>]*\sstyle\s*=", r.text, re.IGNORECASE), path
        assert r.status_code == (404 if "none-such" in path else 200), path
    r = await client.get(STYLESHEET.path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert hashlib.sha256(r.content).hexdigest()[:16] in STYLESHEET.path
    assert ".legend" in r.text and "nav.top" in r.text, "the report's look and the explorer's rules"
    again = await client.get(STYLESHEET.path, headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and not again.content
    for wrong in ("/assets/explorer-0000000000000000.css", "/assets/explorer-.css"):
        assert (await client.get(wrong)).status_code == 404, wrong


# ------------------------------------------------------------------ both stores


async def test_the_new_page_options_on_each_store(make_api: MakeApi) -> None:
    api = await demo_api(make_api)
    c = api.client
    r = await c.get(
        "/impact?ref=ConfigurationItem/nbh-dc01&ref=Service/identity-sso",
        headers={"accept": "text/html"},
    )
    assert r.status_code == 200 and 'id="picture"' in r.text
    r = await c.get("/entity/Service/identity-sso", params={"outType": "DEPENDS_ON"})
    assert r.status_code == 200
    times = re.findall(r'<li><time datetime="([^"]+)">', r.text)
    assert times == sorted(times, reverse=True)
    r = await c.get("/search", params={"q": "identity", "asOf": "2001-01-01T00:00:00Z"})
    assert "No entity matches." in r.text
    r = await c.get("/search", params={"q": "identity"})
    assert "/entity/Service/identity-sso" in r.text
