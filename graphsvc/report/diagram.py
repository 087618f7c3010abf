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
* Redundancy that holds is drawn: each surviving member of a group that
  keeps a DEGRADED entity up is a green box (or its own node, when it is in
  the impact set) with a dashed green arrow to the entity it keeps up, labelled
  with the group; the arrow from the failed member is labelled with the group
  too. Surviving members take at most a fifth of ``max_nodes`` (the caption
  says when some are left out; the tables name every one).
* Labels are never cut: keys, names and details wrap onto several lines
  (at spaces, else after ``/ - _ . :``, else anywhere).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from xml.etree import ElementTree

from graphsvc.analysis.impact import ImpactState
from graphsvc.model.vocabulary import EntityKind
from graphsvc.report.model import AffectedEntity, ChangeReport, EntityRef
from graphsvc.report.wording import KIND_SHORT, held_text, kind_count, plural, tier_label

__all__ = [
    "DEFAULT_MAX_NODES",
    "DOT_TIMEOUT_SECONDS",
    "IMPACT_WORDS",
    "REPORT_WORDS",
    "Diagram",
    "DiagramWords",
    "RenderedDiagram",
    "affected_diagram",
    "dot_label_text",
    "draw",
    "draw_affected",
    "impact_diagram",
    "render_svg",
    "safe_svg",
    "wrap_label",
]

DEFAULT_MAX_NODES = 60
"""At most this many nodes are drawn (the change and group nodes included)."""
DOT_TIMEOUT_SECONDS = 20.0
"""Graphviz gets this long to lay the diagram out before the report goes without it."""
TITLE_WIDTH = 26
"""Keys (a node's first line) wrap onto a new line after this many characters."""
TEXT_WIDTH = 30
"""Names and details wrap onto a new line after this many characters."""
SURVIVOR_SHARE = 5
"""Surviving members take at most ``max_nodes // SURVIVOR_SHARE`` nodes (at least 2)."""
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
SURVIVOR_COLOURS = ("#e7f5ec", "#1e6b3a")
"""Fill and line colours of a surviving member that the impact does not reach."""

Key = tuple[EntityKind, str]

LinkOf = Callable[[EntityRef], str]
"""Where a node drawn for one entity links to (an address of the page showing it)."""

_SAFE_HREF = re.compile(r"[A-Za-z0-9/%?=&.,_~:+@!$'()*;-]{1,2000}")
"""What a node link may hold: a URL already percent-encoded (no quote, backslash, space or <)."""


@dataclass(frozen=True, slots=True)
class DiagramWords:
    """How a diagram's labels and caption name its start entities and its entities.

    Attributes:
        start: The start entities' adjective ("modified" in a change report).
        entities: The entities drawn, in "N of M ... drawn one by one".
        every: The caption when every entity is drawn ("Every entity of the impact set").
    """

    start: str
    entities: str
    every: str


REPORT_WORDS = DiagramWords("modified", "impact-set entities", "Every entity of the impact set")
"""The change report's words (its start entities are the ones the change modifies)."""
IMPACT_WORDS = DiagramWords("failing", "affected entities", "Every affected entity")
"""The impact page's words ("what if this fails": its start entities fail)."""

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def dot_label_text(text: str) -> str:
    r"""Escape ``text`` for the text of a Graphviz HTML-like label, whole.

    Characters XML cannot hold are dropped, line breaks and tabs become
    spaces, backslashes are doubled (Graphviz reads ``\N``, ``\G`` … in
    labels) and ``& < > " '`` become XML entities. Any Unicode text comes out
    exactly as given; nothing is cut (see :func:`wrap_label` for long text).
    """
    return html.escape(_clean(text).replace("\\", "\\\\"), quote=True)


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text).replace("\r", " ").replace("\n", " ").replace("\t", " ")


_BREAK_AFTER = "/-_.:"


def _pieces(word: str, width: int) -> list[str]:
    """Split a word longer than ``width`` after a separator (``/ - _ . :``), else anywhere."""
    out = []
    while len(word) > width:
        cut = max(word.rfind(c, 0, width) for c in _BREAK_AFTER) + 1
        if cut <= 1:
            cut = width
        out.append(word[:cut])
        word = word[cut:]
    out.append(word)
    return out


def wrap_label(text: str, width: int) -> list[str]:
    """Return ``text`` as lines of at most ``width`` characters, nothing cut.

    Lines break at spaces (a run of spaces counts as one); a word longer than
    a line breaks after ``/ - _ . :`` where it can, else at ``width``.
    Joining the lines with spaces, or nothing where a word was split, gives
    the text back.
    """
    lines: list[str] = []
    current = ""
    for word in (w for w in _clean(text).split(" ") if w):
        for i, piece in enumerate(_pieces(word, width)):
            joiner = "" if i else " "
            if current and len(current) + len(joiner) + len(piece) <= width:
                current += joiner + piece
            else:
                if current:
                    lines.append(current)
                current = piece
    if current:
        lines.append(current)
    return lines or [""]


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
    href: str | None = None


@dataclass(slots=True)
class _Edge:
    count: int = 0
    down: bool = False
    groups: set[str] = field(default_factory=set)


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


def _detail(e: AffectedEntity, words: DiagramWords) -> str:
    parts = [KIND_SHORT[e.entity.kind]]
    if e.tier is not None:
        parts.append(f"tier {e.tier}")
    if e.ci_class:
        parts.append(e.ci_class)
    if e.depth == 0:
        parts.append(words.start)
    parts.append(e.state.value)
    if e.stale:
        parts.append("stale")
    return " · ".join(parts)


def _href(link: LinkOf | None, ref: EntityRef) -> str | None:
    """The node's link, or ``None`` (no link given, or an address unsafe in DOT and SVG)."""
    if link is None:
        return None
    href = link(ref)
    return href if _SAFE_HREF.fullmatch(href) else None


def _entity_node(
    node_id: str, e: AffectedEntity, words: DiagramWords, link: LinkOf | None
) -> _Node:
    ref = e.entity
    name = ref.name if ref.name != ref.key else None
    tooltip = f"{_ref_text(ref)}: {_detail(e, words)}"
    if e.kept_up_by:
        tooltip += f"; {held_text(e.kept_up_by, ref)}"
    return _Node(
        node_id,
        ref.key,
        name,
        _detail(e, words),
        tooltip,
        e.state,
        ref.kind,
        start=e.depth == 0,
        href=_href(link, ref),
    )


def _ref_text(ref: EntityRef) -> str:
    return f"{ref.kind.value}/{ref.key}" + (f" ({ref.name})" if ref.name != ref.key else "")


@dataclass(slots=True)
class _Survivor:
    """A surviving member drawn for the entities it keeps up (holder node id -> groups)."""

    node: _Node
    keeps: dict[str, set[str]] = field(default_factory=dict)


def _own_survivors(entities: Sequence[AffectedEntity]) -> list[Key]:
    """Surviving members outside the impact set, of groups held by the entities themselves."""
    inside = {_key(e) for e in entities}
    found: dict[Key, None] = {}
    for e in entities:
        for item in e.kept_up_by:
            if (item.holder.kind, item.holder.key) != _key(e):
                continue
            for s in item.survivors:
                k = (s.entity.kind, s.entity.key)
                if k not in inside:
                    found.setdefault(k)
    return list(found)


class _Planner:
    """Chooses what is drawn one by one and what is folded into groups."""

    def __init__(
        self,
        entities: Sequence[AffectedEntity],
        max_nodes: int,
        *,
        origin: bool,
        words: DiagramWords,
        link: LinkOf | None,
    ) -> None:
        self.entities = entities
        self.max_nodes = max_nodes
        self.origin = origin
        self.words = words
        self.link = link
        self.by_key = {_key(e): e for e in entities}
        self.shown: dict[Key, _Node] = {}
        self.groups: dict[str, _Node] = {}
        self._classes: set[str] = set()
        self._coarse = False

    def _show(self, e: AffectedEntity) -> None:
        if _key(e) not in self.shown:
            self.shown[_key(e)] = _entity_node(f"n{len(self.shown)}", e, self.words, self.link)

    def plan(self) -> None:
        budget = self.max_nodes - self.origin  # the change node, when there is one
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
            return "g-start", self.words.start
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
    return affected_diagram(
        report.affected.entities,
        total=report.affected.total,
        origin=report.change.change,
        words=REPORT_WORDS,
        max_nodes=max_nodes,
    )


def affected_diagram(
    entities: Sequence[AffectedEntity],
    *,
    total: int | None = None,
    origin: EntityRef | None = None,
    words: DiagramWords = IMPACT_WORDS,
    max_nodes: int = DEFAULT_MAX_NODES,
    link: LinkOf | None = None,
) -> Diagram:
    """Return the DOT diagram of affected entities (see the module docstring).

    The one implementation behind the change report's diagram and the
    explorer's impact picture.

    Args:
        entities: The affected entities in breadth-first order (depth-0 start
            entities first); each one's ``reachedFrom`` is the edge drawn to it
            (an entity reached from one not in ``entities`` gets no arrow).
        total: How many entities are affected in all (``None``: exactly
            ``entities``); when larger, the caption says how many are not drawn.
        origin: An entity drawn on the left with an arrow to each start entity
            (the change of a report); ``None``: the start entities are the roots.
        words: How the labels and the caption name the start entities.
        max_nodes: At most this many nodes (at least 8), origin and groups included.
        link: Where the node of each entity drawn one by one links to (``None``:
            no links). Addresses that are not plain percent-encoded URLs get no link.
    """
    outside = _own_survivors(entities)
    reserve = min(len(outside), max(2, max_nodes // SURVIVOR_SHARE))
    planner = _Planner(
        entities, max_nodes - reserve, origin=origin is not None, words=words, link=link
    )
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
            group.title = plural(
                members, f"more {words.start} entity", f"more {words.start} entities"
            )
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
            if origin is None:
                continue
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
        if e.reached_from is not None and _key(e) in planner.shown:
            parent_key = (e.reached_from.kind, e.reached_from.key)
            for item in e.kept_up_by:
                if any((f.kind, f.key) == parent_key for f in item.failed):
                    edge.groups.add(item.group)
    edges, hidden = _strongest(edges, change_id)

    # surviving members: an arrow to each entity drawn one by one that they keep up
    survivors: dict[Key, _Survivor] = {}
    left_out: set[Key] = set()
    room = max_nodes - (origin is not None) - len(planner.shown) - len(planner.groups)
    for e in entities:
        holder = planner.shown.get(_key(e))
        if holder is None:
            continue
        for item in e.kept_up_by:
            if (item.holder.kind, item.holder.key) != _key(e):
                continue
            for member in item.survivors:
                k = (member.entity.kind, member.entity.key)
                alone = planner.shown.get(k)
                if k in nodes_of and alone is None:
                    continue  # in the impact set but folded into a group: not drawn alone
                found = survivors.get(k)
                if found is None:
                    if alone is None and room <= 0:
                        left_out.add(k)
                        continue
                    node = alone or _survivor_node(f"u{len(survivors)}", member.entity, link)
                    room -= alone is None
                    found = survivors[k] = _Survivor(node)
                found.keeps.setdefault(holder.id, set()).add(item.group)
    clusters, boxed = _group_boxes(entities, planner.shown, survivors)
    level = _levels(entities, nodes_of)
    if origin is not None:
        level[change_id] = 0
    for survivor in survivors.values():
        if survivor.node.id not in level:
            level[survivor.node.id] = max(1, min(level[h] for h in survivor.keeps) - 1)
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
    extra = [v.node for v in survivors.values() if v.node.id.startswith("u")]
    if origin is not None:
        name = origin.name if origin.name != origin.key else None
        origin_href = _href(link, origin)
        lines.append(
            f"  {change_id} [label=<{_label(origin.key, name, '')}>, "
            f'fillcolor="{CHANGE_COLOURS[0]}", color="{CHANGE_COLOURS[1]}", '
            f'fontcolor="#ffffff", style="filled"'
            + (f', URL="{origin_href}"' if origin_href else "")
            + "];"
        )
        tooltips[change_id] = f"{origin.kind.value}/{origin.key} ({origin.name})"
    all_nodes = [*planner.shown.values(), *planner.groups.values(), *extra]
    for node in all_nodes:
        fill, line = COLOURS[node.state or ImpactState.DEGRADED]
        if node.state is None and not node.group:
            fill, line = SURVIVOR_COLOURS
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
        if node.href:
            attrs.append(f'URL="{node.href}"')
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
            label = [f"\N{MULTIPLICATION SIGN}{edge.count:,}"] if edge.count > 1 else []
            label += [f"group {g}" for g in sorted(edge.groups) if (b, g) not in boxed]
            if label:
                attrs.append(f"label=<{_edge_label(label)}>")
        lines.append(f"  {a} -> {b} [{', '.join(attrs)}];")
        tooltips[f"{a}&#45;&gt;{b}"] = (
            f"{plural(edge.count, 'entity', 'entities')} reached this way"
            if a != change_id
            else f"the change modifies {plural(edge.count, 'entity', 'entities')}"
        ) + (f" (a failed member of group {', '.join(sorted(edge.groups))})" if edge.groups else "")
    for box_label, box in clusters:
        lines.append(f"  subgraph cluster_{box[0]} {{")
        lines.append(
            f'    label=<{box_label}>; style="dashed,rounded"; color="{SURVIVOR_COLOURS[1]}"; '
            f'fontcolor="{SURVIVOR_COLOURS[1]}"; fontsize=10; margin=8;'
        )
        lines.append(f"    {'; '.join(box)};")
        lines.append("  }")
    for survivor in survivors.values():
        for holder_id, groups in sorted(survivor.keeps.items()):
            names = ", ".join(sorted(groups))
            unboxed = sorted(g for g in groups if (holder_id, g) not in boxed)
            attrs = [
                f'color="{SURVIVOR_COLOURS[1]}"',
                f'fontcolor="{SURVIVOR_COLOURS[1]}"',
                'style="dashed"',
                "penwidth=1.6",
            ]
            if unboxed:
                text = "keeps it up: " + ", ".join(unboxed)
                attrs.append(f"label=<{_edge_label([text])}>")
            if level.get(holder_id, 0) <= level.get(survivor.node.id, 0):
                attrs.append("constraint=false")
            lines.append(f"  {survivor.node.id} -> {holder_id} [{', '.join(attrs)}];")
            tooltips[f"{survivor.node.id}&#45;&gt;{holder_id}"] = (
                f"surviving member of redundancy group {names}: keeps it up"
            )
    lines.append("}")

    collapsed = sum(g.down + g.degraded for g in planner.groups.values())
    drawn = len(all_nodes) + (origin is not None)
    if collapsed:
        caption = (
            f"{len(planner.shown):,} of {len(entities):,} {words.entities} drawn one by one "
            f"(the {words.start} entities, and the most critical services with the services on "
            f"their paths); the other {collapsed:,} are grouped in the dashed boxes by "
            "configuration-item class, service tier and kind."
        )
    else:
        caption = f"{words.every} ({len(entities):,})."
    if survivors:
        caption += (
            " Green boxes are surviving members of redundancy groups: the dashed green arrow "
            "points at the DEGRADED entity each one keeps up."
        )
    if left_out:
        caption += (
            f" {plural(len(left_out), 'surviving member')} of redundancy groups "
            f"{'is' if len(left_out) == 1 else 'are'} not drawn (the tables name every one)."
        )
    if hidden:
        caption += (
            f" Each box shows only its strongest incoming arrows ({hidden:,} weaker links "
            "between boxes are left out)."
        )
    missing = (len(entities) if total is None else total) - len(entities)
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


def _group_boxes(
    entities: Sequence[AffectedEntity], shown: dict[Key, _Node], survivors: dict[Key, _Survivor]
) -> tuple[list[tuple[str, list[str]]], set[tuple[str, str]]]:
    """Box the drawn members of each redundancy group that holds, when they can be boxed.

    Returns the boxes (a label and the node ids inside) and the (holder node
    id, group) pairs they stand for. A group is boxed when two or more of its
    members are drawn one by one and none of them is in a box already (a node
    sits in one box at most); its arrows then need no group label.
    """
    boxes: list[tuple[str, list[str]]] = []
    boxed: set[tuple[str, str]] = set()
    taken: set[str] = set()
    for e in entities:
        holder = shown.get(_key(e))
        if holder is None:
            continue
        for item in e.kept_up_by:
            if (item.holder.kind, item.holder.key) != _key(e):
                continue
            ids: list[str] = []
            for ref in item.failed:
                node = shown.get((ref.kind, ref.key))
                if node is not None:
                    ids.append(node.id)
            for member in item.survivors:
                found = survivors.get((member.entity.kind, member.entity.key))
                if found is not None and holder.id in found.keeps:
                    ids.append(found.node.id)
            ids = list(dict.fromkeys(ids))
            if len(ids) < 2 or taken & set(ids):
                continue
            taken.update(ids)
            boxed.add((holder.id, item.group))
            label = _edge_label(
                [f"redundancy group {item.group}", f"{len(item.failed):,} of {item.members:,} DOWN"]
            )
            boxes.append((label, ids))
    return boxes, boxed


def _survivor_node(node_id: str, ref: EntityRef, link: LinkOf | None) -> _Node:
    name = ref.name if ref.name != ref.key else None
    detail = f"{KIND_SHORT[ref.kind]} · surviving member · up"
    return _Node(
        node_id,
        ref.key,
        name,
        detail,
        f"{_ref_text(ref)}: a surviving member of a redundancy group, not affected",
        None,
        ref.kind,
        href=_href(link, ref),
    )


def _lines(text: str, width: int, wrap: str) -> list[str]:
    """Wrap ``text`` and put each escaped line in ``wrap`` (a format with one ``{}``)."""
    return [wrap.format(dot_label_text(line)) for line in wrap_label(text, width)]


def _label(title: str, subtitle: str | None, detail: str) -> str:
    parts = _lines(title, TITLE_WIDTH, "<B>{}</B>")
    if subtitle:
        parts += _lines(subtitle, TEXT_WIDTH, '<FONT POINT-SIZE="10">{}</FONT>')
    if detail:
        parts += _lines(detail, TEXT_WIDTH + 6, '<FONT POINT-SIZE="9" COLOR="#4b5563">{}</FONT>')
    return "<BR/>".join(parts)


def _edge_label(texts: list[str]) -> str:
    return "<BR/>".join(line for t in texts for line in _lines(t, TEXT_WIDTH, "{}"))


_TITLE = re.compile(r"<title>([^<]*)</title>")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_SIZE = re.compile(r'\s(?:width|height)="[^"]*"')
_LINK_TITLE = re.compile(r'\sxlink:title="[^"]*"')
_SVG_TAGS = frozenset(
    {"svg", "g", "title", "desc", "polygon", "polyline", "path", "ellipse", "text", "a"}
)
"""The elements Graphviz writes for the DOT of this module; no other may be inlined."""


def safe_svg(svg: str) -> bool:
    """Whether ``svg`` is fit to inline in a page whose CSP forbids inline scripts and styles.

    Every element must be one Graphviz writes for these diagrams (no script,
    style, foreign object or embedded document), no attribute may be an event
    handler (``on...``) or ``style``, and every link must be a path of this
    site (an ``href`` starting with one ``/``). A document type, entity
    declaration or processing instruction, or text that is not XML, is refused.
    Graphviz writes none of these for the DOT of this module (labels reach it
    escaped); this check makes sure before a page carries the SVG.
    """
    if "<!" in svg or "<?" in svg:
        return False
    try:
        root = ElementTree.fromstring(svg)  # noqa: S314 - no DTD (refused above), our own output
    except ElementTree.ParseError:
        return False
    for element in root.iter():
        if not isinstance(element.tag, str) or element.tag.rsplit("}", 1)[-1] not in _SVG_TAGS:
            return False
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on") or local == "style":
                return False
            if local == "href" and (not value.startswith("/") or value.startswith("//")):
                return False
    return True


def _inline(svg: str, tooltips: dict[str, str]) -> str:
    """Make Graphviz's SVG fit for inlining: no prolog, no fixed size, worded tooltips."""
    start = svg.find("<svg")
    body = _COMMENT.sub("", svg[start:] if start >= 0 else svg).strip()
    head_end = body.find(">")
    head = _SIZE.sub("", body[:head_end])
    head += ' class="impact-diagram" role="img" aria-label="Impact diagram"'
    body = _LINK_TITLE.sub("", head + body[head_end:])
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
    svg = _inline(done.stdout.decode("utf-8", "replace"), tooltips or {})
    if not safe_svg(svg):
        return None, (
            "Graphviz wrote something that is not safe to inline; the diagram was left out."
        )
    return svg, None


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


def draw_affected(
    entities: Sequence[AffectedEntity],
    *,
    total: int | None = None,
    origin: EntityRef | None = None,
    words: DiagramWords = IMPACT_WORDS,
    max_nodes: int = DEFAULT_MAX_NODES,
    link: LinkOf | None = None,
    timeout: float = DOT_TIMEOUT_SECONDS,
    dot_binary: str | None = None,
) -> RenderedDiagram:
    """Build the diagram of ``entities`` and render it (see :func:`affected_diagram`).

    Without Graphviz (or when it fails or is too slow) the SVG is ``None`` and
    the note says why, as in the change report.
    """
    diagram = affected_diagram(
        entities, total=total, origin=origin, words=words, max_nodes=max_nodes, link=link
    )
    svg, note = render_svg(
        diagram.dot, tooltips=diagram.tooltips, timeout=timeout, dot_binary=dot_binary
    )
    return RenderedDiagram(diagram, svg, note)
