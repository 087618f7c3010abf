"""Shared pieces of the project plan and team load documents (HTML and Markdown).

The two documents reuse the change report's stylesheet and Markdown escaping
(:data:`graphsvc.report.render_html.CSS`, :func:`graphsvc.report.render_markdown.md_text`)
and add a few rules of their own (:data:`EXTRA_CSS`). Like the change report,
an HTML page is one self-contained file: a Content-Security-Policy forbids every
fetch and every script, charts are inline SVG, and every string from the graph
goes through :func:`esc`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape

from graphsvc.model.vocabulary import EntityKind
from graphsvc.report.render_html import CSS
from graphsvc.report.render_markdown import md_text

__all__ = [
    "EXTRA_CSS",
    "EntityLink",
    "date_text",
    "esc",
    "hours_text",
    "key_html",
    "md_row",
    "md_text",
    "page",
]

EXTRA_CSS = """
.pill {
  display:inline-block;
  padding:1px 7px;
  border-radius:4px;
  font-size:11.5px;
  font-weight:700;
  letter-spacing:.03em;
  white-space:nowrap;
  border:1px solid transparent;
}
.pill.bad {
  background:var(--down-bg);
  color:var(--down);
  border-color:#f0b7b1;
}
.pill.risk {
  background:var(--deg-bg);
  color:var(--deg);
  border-color:#ecd08a;
}
.pill.ok {
  background:var(--ok-bg);
  color:var(--ok);
  border-color:#b5dcc2;
}
.pill.done {
  background:var(--soft);
  color:var(--muted);
  border-color:var(--line);
}
.verdict.READY, .verdict.OK {
  border-left-color:var(--ok);
}
.verdict.AT_RISK, .verdict.OVER_PROJECT_SHARE {
  border-left-color:#c77700;
}
.verdict.BLOCKED, .verdict.OVERBOOKED {
  border-left-color:var(--down);
}
ol.path {
  margin:6px 0 0;
  padding-left:24px;
}
ol.path li {
  margin:2px 0;
}
ul.problems {
  list-style:none;
  margin:0;
  padding:0;
}
ul.problems li+li {
  margin-top:4px;
}
tr.closed td {
  color:var(--muted);
}
tr.OVERBOOKED td:first-child {
  box-shadow:inset 4px 0 0 var(--down);
}
tr.OVER_PROJECT_SHARE td:first-child {
  box-shadow:inset 4px 0 0 #c77700;
}
figure.chart svg {
  width:100%;
  height:auto;
  max-height:none;
}
"""
"""Rules the plan and load documents add to the change report's stylesheet."""


EntityLink = Callable[[EntityKind, str], str | None]
"""A link hook of the HTML fragments: the address of an entity's page, by kind and key.

The documents written to files pass none (their keys are plain text); the
explorer passes one that links each entity to its page. ``None`` from the hook
leaves that one entity unlinked.
"""


def key_html(kind: EntityKind, key: str, link: EntityLink | None = None) -> str:
    """An entity's key as ``<span class="k">``, or as ``<a class="k">`` to what ``link`` names."""
    href = link(kind, key) if link is not None else None
    if href is None:
        return f'<span class="k">{esc(key)}</span>'
    return f'<a class="k" href="{esc(href)}">{esc(key)}</a>'


def esc(text: str) -> str:
    """Escape ``text`` for HTML text and attribute values (quotes included)."""
    return escape(text, quote=True)


def hours_text(hours: float) -> str:
    """Return ``"12 h"`` or ``"12.5 h"`` (at most one decimal; ``-0`` shows as ``0``)."""
    rounded = round(hours, 1)
    if rounded == 0:
        rounded = 0.0
    return f"{rounded:,.1f}".removesuffix(".0") + " h"


def date_text(moment: datetime) -> str:
    """Return the UTC date of ``moment`` as ``2030-01-07``."""
    return moment.astimezone(UTC).date().isoformat()


def md_row(*cells: str) -> str:
    """One GFM table row; empty cells get a space so the row keeps its columns."""
    return "| " + " | ".join(c or " " for c in cells) + " |"


def page(title: str, generator: str, body: Sequence[str]) -> str:
    """Return one self-contained HTML document.

    Args:
        title: The document's title (escaped here).
        generator: What made it, for ``<meta name="generator">`` (escaped here).
        body: The HTML inside ``<main>``, already escaped, one piece per line.
    """
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        f'<meta name="generator" content="{esc(generator)}">',
        f"<title>{esc(title)}</title>",
        f"<style>{CSS}{EXTRA_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
    ]
    return "\n".join([*head, *body, "</main>", "</body>", "</html>", ""])
