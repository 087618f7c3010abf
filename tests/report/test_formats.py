"""HTML and Markdown: sections in order, self-contained, and every string escaped."""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser

from markdown_it import MarkdownIt

from graphsvc.ingest.engine import IngestEngine
from graphsvc.report import ChangeReport, ReportFormat, build_change_report, render_report
from graphsvc.report.render_markdown import md_text
from graphsvc.store.base import GraphStore
from tests.report.conftest import needs_dot
from tests.report.hostile import (
    AMP_NAME,
    BACKOUT,
    CHANGE,
    CI_NAMED,
    HOSTILE_KEYS,
    SVC,
    SVC_NAME,
    load_hostile,
)

SECTIONS = ["summary", "conflicts", "diagram", "services", "teams", "projects", "entities"]


class Page(HTMLParser):
    """Collects the tags, attributes and text of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def markdown_tokens(text: str) -> list:  # type: ignore[type-arg]
    return MarkdownIt("commonmark").enable("table").parse(text)


def inline_text(tokens: list) -> str:  # type: ignore[type-arg]
    """The text a reader sees: every text and code child of every inline token."""
    out = []
    for token in tokens:
        for child in token.children or []:
            if child.type in ("text", "code_inline"):
                out.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                out.append("\n")
    return " ".join(out)


def test_html_sections_in_order_self_contained_and_printable(
    demo_reports: dict[str, ChangeReport],
) -> None:
    html = render_report(demo_reports["CHG0041215"], ReportFormat.HTML)
    assert html.startswith("<!DOCTYPE html>")
    page = parse(html)
    ids = [a["id"] for tag, a in page.tags if tag == "section"]
    assert ids == SECTIONS
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}, "no fetches"
    for _tag, attrs in page.tags:
        assert "src" not in attrs
        href = attrs.get("href") or attrs.get("xlink:href")
        assert href is None or href.startswith(("#", "mailto:")), href
    # the only URLs are the SVG namespaces; the CSP forbids every fetch
    assert set(re.findall(r"https?://[^\s\"'<>)]+", html)) <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }
    assert "default-src 'none'" in html and "url(" not in html and "@import" not in html
    assert "@media print" in html and "overflow-wrap:anywhere" in html
    assert '<meta charset="utf-8">' in html


def test_markdown_parses_with_the_sections_in_order(demo_reports: dict[str, ChangeReport]) -> None:
    text = render_report(demo_reports["CHG0041220"], ReportFormat.MARKDOWN)
    tokens = markdown_tokens(text)
    headings = [
        (tokens[i].tag, tokens[i + 1].content)
        for i, t in enumerate(tokens)
        if t.type == "heading_open" and t.tag in ("h1", "h2")
    ]
    assert headings == [
        ("h1", "Change review: CHG0041220 — Monthly patching of domain controller nbh-dc01"),
        ("h2", "Summary"),
        ("h2", "Conflicts (1)"),
        ("h2", "Impact diagram"),
        ("h2", "Affected services by tier (14)"),
        ("h2", "Teams to notify (7)"),
        ("h2", "Affected projects (2)"),
        ("h2", "Affected entities (16)"),
    ]
    h3 = [
        tokens[i + 1].content
        for i, t in enumerate(tokens)
        if t.type == "heading_open" and t.tag == "h3"
    ]
    assert "Tier 1: 6 services (0 DOWN, 6 DEGRADED)" in h3
    assert any(h.startswith("1. COLLISION: Collides with change CHG0041221") for h in h3)
    assert_tables_are_rectangular(tokens)


def assert_tables_are_rectangular(tokens: list) -> None:  # type: ignore[type-arg]
    tables = 0
    width = cells = 0
    for t in tokens:
        if t.type == "table_open":
            tables += 1
            width = -1
        elif t.type == "tr_open":
            cells = 0
        elif t.type in ("th_open", "td_open"):
            cells += 1
        elif t.type == "tr_close":
            if width < 0:
                width = cells
            assert cells == width, "a row has a different number of cells"
    assert tables >= 4


async def test_hostile_names_are_escaped_in_every_format(
    store: GraphStore, engine: IngestEngine
) -> None:
    await load_hostile(engine)
    report = await build_change_report(store, CHANGE)
    assert [c.other.key for c in report.conflicts] == ['win "freeze" & <hold>']

    # markdown: parses, tables stay rectangular, names read back exactly, no HTML injected
    md = render_report(report, ReportFormat.MARKDOWN)
    tokens = markdown_tokens(md)
    assert_tables_are_rectangular(tokens)
    seen = inline_text(tokens)
    for key in HOSTILE_KEYS:
        assert key in seen, key
    assert AMP_NAME in seen
    assert SVC_NAME.replace("\n", " ") in seen
    assert BACKOUT in seen and "Zoë | <b>boss</b>" in seen and "ping <x> # 1 | ok |" in seen
    assert f"configuration item '{CI_NAMED}'" in seen
    rendered = MarkdownIt("commonmark").enable("table").render(md)
    assert "<script>" not in rendered and "<b>switch" not in rendered
    assert escape("<script>alert(1)</script>", quote=False) in rendered

    # HTML: no element comes from a name; the text reads back exactly
    html = render_report(report, ReportFormat.HTML)
    page = parse(html)
    assert not {tag for tag, _ in page.tags} & {"script", "b", "i", "hold", "x", "z"}
    text = "".join(page.text)
    for key in HOSTILE_KEYS:
        assert key in text, key
    assert SVC_NAME in text and AMP_NAME in text
    assert "Zoë O'Brien <z>" in text and "Quarter <end> | freeze" in text
    assert BACKOUT in text and "Zoë | <b>boss</b>" in text and "ping <x> # 1\n| ok |" in text
    assert f"configuration item '{CI_NAMED}'" in text


@needs_dot
async def test_hostile_names_in_the_diagram(store: GraphStore, engine: IngestEngine) -> None:
    import xml.etree.ElementTree as ET

    from graphsvc.report.diagram import draw

    await load_hostile(engine)
    report = await build_change_report(store, CHANGE)
    drawn = draw(report)
    assert drawn.svg is not None, drawn.note
    root = ET.fromstring(drawn.svg)  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    texts = [t.text or "" for t in root.iter(f"{ns}text")]
    assert SVC in texts, "the key comes out exactly, \\N included"
    assert AMP_NAME in texts
    assert "ünï-日本-サービス" in texts
    titles = [t.text or "" for t in root.iter(f"{ns}title")]
    assert any(SVC in t for t in titles), "tooltips name the entity"


def test_md_text_escapes_what_markdown_would_read() -> None:
    hostile = "a|b *c* _d_ `e` [f](g) <h> &amp; #i ~j~ \\k !l\nm"
    rendered = (
        MarkdownIt("commonmark").enable("table").render(f"| x |\n| - |\n| {md_text(hostile)} |\n")
    )
    cell = re.search(r"<td>(.*)</td>", rendered)
    assert cell is not None
    assert cell.group(1) == escape(hostile.replace("\n", " "), quote=True).replace("&#x27;", "'")
