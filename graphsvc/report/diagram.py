"""The impact diagram of a change report: Graphviz DOT in, inline SVG out.

:func:`impact_diagram` lays the report's impact set out as a DOT graph that
stays legible however large the blast radius:

* The change is drawn on the left, with an arrow to each entity it modifies;
  arrows follow the impact, from what fails to what it affects (each arrow is
  one relation walked, or a bundle of N of them marked with N).
* When the whole impact set fits in ``max_nodes`` nodes, every entity is drawn.
* Otherwise modified entities and the most critical services (tier 1 first,
  DOWN first, nearest first, together with the services on their paths) are
  drawn one by one, and everything else is folded into dashed group nodes with
  counts: configuration items by ``ciClass``, services by tier, projects, and
  modified entities beyond the first few. The node count never exceeds
  ``max_nodes``.
* Nodes are coloured by state (DOWN red, DEGRADED amber); modified entities
  have a thick border.

:func:`render_svg` runs Graphviz ``dot -Tsvg`` with the DOT on stdin and a
time limit, and returns SVG ready to inline in HTML (no XML prolog, no fixed
size, tooltips in words), or ``None`` and a note saying why there is none
(Graphviz missing, too slow, failed). Every user-supplied string reaches
Graphviz only inside HTML-like labels, escaped by :func:`dot_label_text`.
"""

from __future__ import annotations

import html
import math
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from graphsvc.analysis.impact import ImpactState
from graphsvc.model.vocabulary import EntityKind
from graphsvc.report.model import AffectedEntity, ChangeReport
from graphsvc.report.wording import KIND_SHORT, kind_count, plural, tier_label

__all__ = [
    "DEFAULT_MAX_NODES",
    "DOT_TIMEOUT_SECONDS",
    "Diagram",
    "RenderedDiagram",
    "dot_label_text",
    "draw",
    "impact_diagram",
    "render_svg",
]

DEFAULT_MAX_NODES = 60
"""At most this many nodes are drawn (the change and group nodes included)."""
DOT_TIMEOUT_SECONDS = 20.0
"""Graphviz gets this long to lay the diagram out before the report goes without it."""
LABEL_CHARS = 30
"""Keys and names longer than this are cut with an ellipsis in the diagram."""
MAX_IN_ARROWS = 3
"""A node keeps at most this many incoming arrows (bundles of relations walked)."""
MIN_ARROW_SHARE = 0.1
"""Beyond its largest, a node keeps incoming arrows carrying at least this share of its entities."""
MAX_CLASS_GROUPS = 6
"""At most this many ciClass groups; smaller classes share one "other" group."""

COLOURS = {
    ImpactState.DOWN: ("#fdecea", "#b3261e"),
    ImpactState.DEGRADED: ("#fff4d6", "#b7791f"),
}
"""Fill and line colours of each state."""
CHANGE_COLOURS = ("#1f3a5f", "#1f3a5f")
START_LINE = "#111827"

Key = tuple[EntityKind, str]

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def dot_label_text(text: str, limit: int | None = LABEL_CHARS) -> str:
    r"""Escape ``text`` for the text of a Graphviz HTML-like label.

    Characters XML cannot hold are dropped, line breaks become spaces, text
    longer than ``limit`` is cut with an ellipsis, backslashes are doubled
    (Graphviz reads ``\N``, ``\G`` … in labels) and ``& < > " '`` become XML
    entities. Any Unicode text comes out exactly as given.
    """
    clean = _NOT_XML.sub("", text).replace("\r", " ").replace("\n", " ").replace("\t", " ")
    if limit is not None and len(clean) > limit:
        clean = clean[: limit - 1].rstrip() + "…"
    return html.escape(clean.replace("\\", "\\\\"), quote=True)


@dataclass(slots=True)
class _Node:
    id: str
    title: str
    subtitle: str | None
    detail: str
    tooltip: str
    state: ImpactState | None
    kind: EntityKind | None
    start: bool = False
    group: bool = False
    down: int = 0
    degraded: int = 0


@dataclass(slots=True)
class _Edge:
    count: int = 0
    down: bool = False


@dataclass(frozen=True, slots=True)
class Diagram:
    """A laid-out-ready diagram.

    Attributes:
        dot: The DOT source.
        nodes: Nodes drawn (the change and group nodes included).
        entities: Impact-set entities it accounts for (the listed ones).
        collapsed: How many of them are folded into group nodes.
        caption: What the diagram shows, in words.
        tooltips: SVG ``<title>`` text by Graphviz node or edge name.
    """

    dot: str
    nodes: int
    entities: int
    collapsed: int
    caption: str
    tooltips: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RenderedDiagram:
    """A diagram and its SVG, or the note that replaces the SVG."""

    diagram: Diagram
    svg: str | None
    note: str | None


def _key(entity: AffectedEntity) -> Key:
    return (entity.entity.kind, entity.entity.key)


def _priority(e: AffectedEntity) -> tuple[int, int, int, str]:
    tier = e.tier if e.tier is not None else 99
    return (tier, e.state is not ImpactState.DOWN, e.depth, e.entity.key)


def _detail(e: AffectedEntity) -> str:
    parts = [KIND_SHORT[e.entity.kind]]
    if e.tier is not None:
        parts.append(f"tier {e.tier}")
    if e.ci_class:
        parts.append(e.ci_class)
    if e.depth == 0:
        parts.append("modified")
    parts.append(e.state.value)
    if e.stale:
        parts.append("stale")
    return " · ".join(parts)


def _entity_node(node_id: str, e: AffectedEntity) -> _Node:
    ref = e.entity
    name = ref.name if ref.name != ref.key else None
    tooltip = f"{ref.kind.value}/{ref.key}" + (f" ({ref.name})" if name else "")
    return _Node(
        node_id,
        ref.key,
        name,
        _detail(e),
        f"{tooltip}: {_detail(e)}",
        e.state,
        ref.kind,
        start=e.depth == 0,
    )


class _Planner:
    """Chooses what is drawn one by one and what is folded into groups."""

    def __init__(self, entities: Sequence[AffectedEntity], max_nodes: int) -> None:
        self.entities = entities
        self.max_nodes = max_nodes
        self.by_key = {_key(e): e for e in entities}
        self.shown: dict[Key, _Node] = {}
        self.groups: dict[str, _Node] = {}
        self._classes: set[str] = set()
        self._coarse = False

    def _show(self, e: AffectedEntity) -> None:
        if _key(e) not in self.shown:
            self.shown[_key(e)] = _entity_node(f"n{len(self.shown)}", e)

    def plan(self) -> None:
        budget = self.max_nodes - 1  # the change node
        if len(self.entities) <= budget:
            for e in self.entities:
                self._show(e)
            return
        starts = [e for e in self.entities if e.depth == 0]
        rest = [e for e in self.entities if e.depth > 0]
        classes = Counter(
            e.ci_class or "unclassified"
            for e in rest
            if e.entity.kind is EntityKind.CONFIGURATION_ITEM
        )
        self._classes = {c for c, _ in classes.most_common(MAX_CLASS_GROUPS)}
        kinds = {e.entity.kind for e in rest}
        reserved = min(len(classes), MAX_CLASS_GROUPS) + (len(classes) > MAX_CLASS_GROUPS)
        reserved += len({e.tier for e in rest if e.entity.kind is EntityKind.SERVICE})
        reserved += len(kinds - {EntityKind.SERVICE, EntityKind.CONFIGURATION_ITEM})
        start_budget = min(len(starts), max(3, budget // 5))
        if start_budget < len(starts):
            start_budget = max(1, start_budget - 1)  # room for the group of the others
        start_group = int(start_budget < len(starts))
        if reserved + start_budget + start_group > budget:
            # too many classes and tiers for the cap: one group per kind
            self._coarse = True
            reserved = len(kinds)
        if reserved + start_budget + start_group > budget:
            start_budget = max(1, budget - reserved - 1)
            start_group = int(start_budget < len(starts))
        reserved += start_group
        ordered_starts = sorted(
            starts, key=lambda e: (e.entity.kind is not EntityKind.SERVICE, e.entity.key)
        )
        for e in ordered_starts[:start_budget]:
            self._show(e)
        room = budget - reserved - len(self.shown)
        services = sorted((e for e in rest if e.entity.kind is EntityKind.SERVICE), key=_priority)
        for e in services:
            if room <= 0:
                break
            needed = [k for k in self._service_chain(e) if k not in self.shown]
            if len(needed) <= room:
                for k in reversed(needed):
                    self._show(self.by_key[k])
                room -= len(needed)
        self._unfold(budget)

    def _unfold(self, budget: int) -> None:
        """Draw the members of the smallest groups one by one while the budget allows."""
        members: dict[str, list[AffectedEntity]] = defaultdict(list)
        for e in self.entities:
            if _key(e) not in self.shown:
                members[self._group_id(e)[0]].append(e)
        room = budget - len(self.shown) - len(members)
        for _gid, group in sorted(members.items(), key=lambda item: (len(item[1]), item[0])):
            if len(group) - 1 > room:
                break
            for e in group:
                self._show(e)
            room -= len(group) - 1

    def _service_chain(self, e: AffectedEntity) -> list[Key]:
        """The service itself and the services (not modified) on its path, nearest first."""
        chain = [_key(e)]
        current = e
        seen = {_key(e)}
        while current.reached_from is not None:
            parent_key = (current.reached_from.kind, current.reached_from.key)
            parent = self.by_key.get(parent_key)
            if parent is None or parent_key in seen:
                break
            seen.add(parent_key)
            if parent.depth > 0 and parent.entity.kind is EntityKind.SERVICE:
                chain.append(parent_key)
            current = parent
        return chain

    def _group_id(self, e: AffectedEntity) -> tuple[str, str]:
        """Return the group an entity folds into, and the group's qualifier."""
        kind = e.entity.kind
        if e.depth == 0:
            return "g-start", "modified"
        if self._coarse:
            return f"g-kind-{kind.value}", ""
        if kind is EntityKind.SERVICE:
            return f"g-tier-{e.tier}", tier_label(e.tier).lower()
        if kind is EntityKind.CONFIGURATION_ITEM:
            cls = e.ci_class or "unclassified"
            if cls not in self._classes:
                cls = "other classes"
            return f"g-class-{cls}", cls
        return f"g-kind-{kind.value}", ""

    def node_of(self, e: AffectedEntity) -> _Node:
        found = self.shown.get(_key(e))
        if found is not None:
            return found
        gid, what = self._group_id(e)
        group = self.groups.get(gid)
        if group is None:
            group = self.groups[gid] = _Node(
                f"g{len(self.groups)}", "", what or None, "", "", None, e.entity.kind, group=True
            )
            group.start = e.depth == 0
        if e.state is ImpactState.DOWN:
            group.down += 1
        else:
            group.degraded += 1
        return group


def impact_diagram(report: ChangeReport, *, max_nodes: int = DEFAULT_MAX_NODES) -> Diagram:
    """Return the DOT diagram of the report's impact set (see the module docstring).

    Only listed entities are drawn (``report.affected.entities``); when the
    listing was cut, the caption says how many are left out.
    """
    max_nodes = max(8, max_nodes)
    entities = report.affected.entities
    planner = _Planner(entities, max_nodes)
    planner.plan()
    nodes_of: dict[Key, _Node] = {}
    for e in entities:
        nodes_of[_key(e)] = planner.node_of(e)
    shown_tiers = {
        e.tier for e in entities if _key(e) in planner.shown and e.entity.kind is EntityKind.SERVICE
    }
    for group in planner.groups.values():
        members = group.down + group.degraded
        kind = group.kind or EntityKind.CONFIGURATION_ITEM
        if group.start:
            group.title = plural(members, "more modified entity", "more modified entities")
            group.subtitle = None
        elif kind is EntityKind.SERVICE and group.subtitle:
            tier = group.subtitle
            more = "more " if any(tier_label(t).lower() == tier for t in shown_tiers) else ""
            group.title = f"{members:,} {more}{tier} service{'s' if members != 1 else ''}"
            group.subtitle = None
        else:
            group.title = kind_count(members, kind)
        group.detail = " · ".join(
            p
            for p in (
                f"{group.down:,} DOWN" if group.down else "",
                f"{group.degraded:,} DEGRADED" if group.degraded else "",
            )
            if p
        )
        group.state = ImpactState.DOWN if group.down >= group.degraded else ImpactState.DEGRADED
        what = f"{group.title} ({group.subtitle})" if group.subtitle else group.title
        group.tooltip = f"{what}: {group.detail}"

    edges: dict[tuple[str, str], _Edge] = defaultdict(_Edge)
    change_id = "change"
    for e in entities:
        target = nodes_of[_key(e)]
        if e.reached_from is None:
            source_id = change_id
        else:
            parent = nodes_of.get((e.reached_from.kind, e.reached_from.key))
            if parent is None:
                continue
            source_id = parent.id
        if source_id == target.id:
            continue
        edge = edges[(source_id, target.id)]
        edge.count += 1
        edge.down = edge.down or e.state is ImpactState.DOWN
    edges, hidden = _strongest(edges, change_id)

    change = report.change.change
    level = _levels(entities, nodes_of)
    level[change_id] = 0
    tooltips: dict[str, str] = {"impact": "Impact diagram"}
    lines = [
        "digraph impact {",
        f'  graph [rankdir={_rankdir(level)}, charset="UTF-8", '
        'bgcolor="transparent", pad="0.15", nodesep="0.15", ranksep="0.4", newrank=true, '
        'fontname="Helvetica,Arial,sans-serif"];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica,Arial,sans-serif", '
        'fontsize=12, margin="0.1,0.05", penwidth=1.2];',
        '  edge [fontname="Helvetica,Arial,sans-serif", fontsize=10, arrowsize=0.7, '
        'color="#7b8494", fontcolor="#4b5563"];',
    ]
    change_label = _label(change.key, change.name if change.name != change.key else None, "")
    lines.append(
        f'  {change_id} [label=<{change_label}>, fillcolor="{CHANGE_COLOURS[0]}", '
        f'color="{CHANGE_COLOURS[1]}", fontcolor="#ffffff", style="filled"];'
    )
    tooltips[change_id] = f"Change/{change.key} ({change.name})"
    all_nodes = [*planner.shown.values(), *planner.groups.values()]
    for node in all_nodes:
        fill, line = COLOURS[node.state or ImpactState.DEGRADED]
        style = "rounded,filled"
        if node.group:
            style += ",dashed"
        elif node.kind is not EntityKind.SERVICE:
            style = "filled"
        attrs = [f"label=<{_label(node.title, node.subtitle, node.detail)}>"]
        attrs.append(f'fillcolor="{fill}"')
        attrs.append(f'color="{START_LINE if node.start else line}"')
        attrs.append(f'style="{style}"')
        if node.start:
            attrs.append("penwidth=2.6")
        if node.kind is EntityKind.PROJECT and not node.group:
            attrs.append("shape=folder")
        lines.append(f"  {node.id} [{', '.join(attrs)}];")
        tooltips[node.id] = node.tooltip
    by_level: dict[int, list[str]] = defaultdict(list)
    for node_id, node_level in level.items():
        by_level[node_level].append(node_id)
    for node_level in sorted(by_level):
        # one column (row) per level: a node sits as far from the change as its nearest entity
        lines.append(f"  {{rank=same; {'; '.join(sorted(by_level[node_level]))};}}")
    for (a, b), edge in sorted(edges.items()):
        attrs = []
        if edge.count > 1:
            attrs.append(f"penwidth={1 + math.log10(edge.count):.2f}")
        if level.get(b, 0) <= level.get(a, 0):
            # a link back to a group as near as its source (groups hold entities of
            # many depths) does not push the group further right: fewer, legible levels
            attrs.append("constraint=false")
        if a == change_id:
            attrs.append('color="#1f3a5f"')
            if edge.count > 1:
                attrs.append(f'label="\N{MULTIPLICATION SIGN}{edge.count:,}"')
        else:
            if edge.down:
                attrs.append('color="#b3261e"')
            else:
                attrs.append('color="#b7791f", style=dashed')
            if edge.count > 1:
                attrs.append(f'label="\N{MULTIPLICATION SIGN}{edge.count:,}"')
        lines.append(f"  {a} -> {b} [{', '.join(attrs)}];")
        tooltips[f"{a}&#45;&gt;{b}"] = (
            f"{plural(edge.count, 'entity', 'entities')} reached this way"
            if a != change_id
            else f"the change modifies {plural(edge.count, 'entity', 'entities')}"
        )
    lines.append("}")

    collapsed = sum(g.down + g.degraded for g in planner.groups.values())
    drawn = len(all_nodes) + 1
    if collapsed:
        caption = (
            f"{len(planner.shown):,} of {len(entities):,} impact-set entities drawn one by one "
            "(the modified entities, and the most critical services with the services on "
            f"their paths); the other {collapsed:,} are grouped in the dashed boxes by "
            "configuration-item class, service tier and kind."
        )
    else:
        caption = f"Every entity of the impact set ({len(entities):,})."
    if hidden:
        caption += (
            f" Each box shows only its strongest incoming arrows ({hidden:,} weaker links "
            "between boxes are left out)."
        )
    missing = report.affected.total - report.affected.listed
    if missing > 0:
        caption += f" {missing:,} entities beyond the listing limit are not drawn."
    return Diagram("\n".join(lines) + "\n", drawn, len(entities), collapsed, caption, tooltips)


def _strongest(
    edges: dict[tuple[str, str], _Edge], change_id: str
) -> tuple[dict[tuple[str, str], _Edge], int]:
    """Keep each node's strongest incoming arrows; return them and how many were dropped.

    A node keeps its largest bundle, and up to :data:`MAX_IN_ARROWS` bundles that
    carry at least :data:`MIN_ARROW_SHARE` of what reaches it; the change's
    arrows to the modified entities are always kept. A node drawn for one entity
    has one incoming arrow (from where the walk reached it), so only arrows
    between groups are ever dropped.
    """
    incoming: dict[str, list[tuple[tuple[str, str], _Edge]]] = defaultdict(list)
    for pair, edge in edges.items():
        incoming[pair[1]].append((pair, edge))
    kept: dict[tuple[str, str], _Edge] = {}
    for arrows in incoming.values():
        total = sum(edge.count for _, edge in arrows)
        ranked = sorted(arrows, key=lambda item: (-item[1].count, item[0]))
        for rank, (pair, edge) in enumerate(ranked):
            strong = rank < MAX_IN_ARROWS and edge.count >= MIN_ARROW_SHARE * total
            if rank == 0 or strong or pair[0] == change_id:
                kept[pair] = edge
    return kept, len(edges) - len(kept)


def _levels(entities: Sequence[AffectedEntity], nodes_of: dict[Key, _Node]) -> dict[str, int]:
    """Each node's level: one more than the fewest hops of the entities it stands for."""
    level: dict[str, int] = {}
    for e in entities:
        node = nodes_of[_key(e)]
        level[node.id] = min(level.get(node.id, e.depth + 1), e.depth + 1)
    return level


def _rankdir(level: dict[str, int]) -> str:
    """Left-to-right when the drawing has fewer levels than its widest level has nodes.

    Whichever direction gives the narrower picture is chosen, so that the text
    stays legible once the drawing is scaled to the page.
    """
    if not level:
        return "LR"
    ranks = max(level.values()) + 1
    widest = max(Counter(level.values()).values())
    return "LR" if ranks <= widest + 1 else "TB"


def _label(title: str, subtitle: str | None, detail: str) -> str:
    parts = [f"<B>{dot_label_text(title)}</B>"]
    if subtitle:
        parts.append(f'<FONT POINT-SIZE="10">{dot_label_text(subtitle)}</FONT>')
    if detail:
        parts.append(f'<FONT POINT-SIZE="9" COLOR="#4b5563">{dot_label_text(detail, None)}</FONT>')
    return "<BR/>".join(parts)


_TITLE = re.compile(r"<title>([^<]*)</title>")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_SIZE = re.compile(r'\s(?:width|height)="[^"]*"')


def _inline(svg: str, tooltips: dict[str, str]) -> str:
    """Make Graphviz's SVG fit for inlining: no prolog, no fixed size, worded tooltips."""
    start = svg.find("<svg")
    body = _COMMENT.sub("", svg[start:] if start >= 0 else svg).strip()
    head_end = body.find(">")
    head = _SIZE.sub("", body[:head_end])
    head += ' class="impact-diagram" role="img" aria-label="Impact diagram"'
    body = head + body[head_end:]
    return _TITLE.sub(
        lambda m: f"<title>{html.escape(tooltips.get(m[1], ''), quote=False)}</title>", body
    )


def render_svg(
    dot_source: str,
    *,
    tooltips: dict[str, str] | None = None,
    timeout: float = DOT_TIMEOUT_SECONDS,
    dot_binary: str | None = None,
) -> tuple[str | None, str | None]:
    """Lay ``dot_source`` out with Graphviz; return (inline SVG, None) or (None, note).

    Args:
        dot_source: The DOT graph (passed on stdin).
        tooltips: Text for the SVG ``<title>`` of each node or edge, by Graphviz
            name (``n3``, ``n3&#45;&gt;n4``); titles not in it are emptied.
        timeout: Seconds Graphviz may take.
        dot_binary: The ``dot`` executable (default: ``dot`` on ``PATH``).

    The note says why there is no SVG: Graphviz is not installed, took longer
    than ``timeout``, could not be run, or failed (with its first error line).
    """
    binary = dot_binary or shutil.which("dot")
    if binary is None:
        return None, (
            "The diagram needs Graphviz, which is not installed here (no `dot` on PATH); "
            "install the Debian package graphviz and generate the report again."
        )
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, the DOT goes on stdin
            [binary, "-Tsvg"],
            input=dot_source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, f"Graphviz took longer than {timeout:g} s; the diagram was left out."
    except OSError as exc:
        return None, f"Graphviz could not be run ({exc}); the diagram was left out."
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = error[0] if error else f"exit status {done.returncode}"
        return None, f"Graphviz failed ({reason}); the diagram was left out."
    return _inline(done.stdout.decode("utf-8", "replace"), tooltips or {}), None


def draw(
    report: ChangeReport,
    *,
    max_nodes: int = DEFAULT_MAX_NODES,
    timeout: float = DOT_TIMEOUT_SECONDS,
    dot_binary: str | None = None,
) -> RenderedDiagram:
    """Build the report's diagram and render it (see :func:`render_svg` for the note)."""
    diagram = impact_diagram(report, max_nodes=max_nodes)
    svg, note = render_svg(
        diagram.dot, tooltips=diagram.tooltips, timeout=timeout, dot_binary=dot_binary
    )
    return RenderedDiagram(diagram, svg, note)
