"""The impact page's data and picture: one walk for the table and the picture (issue 22).

:func:`impact_view` answers ``/impact``: the impact analysis of the start
entities (the same :func:`graphsvc.analysis.impact.impact_analysis` the API's
``impact`` uses: one traversal), its page of affected entities with paths, and
the picture of the affected graph drawn by the change report's diagram
(:func:`graphsvc.report.diagram.affected_diagram`, one implementation for both; the
last :data:`SVG_CACHE_SIZE` pictures laid out by Graphviz are kept, by DOT text).

The picture is bounded whatever the blast radius: it is drawn from at most
:data:`~graphsvc.report.build.PICTURE_ENTITIES` entities (the start entities and
the nearest ones, breadth-first) and folds into at most :data:`PICTURE_NODES`
nodes; its caption says how many entities are drawn, folded and left out. Each
node drawn for one entity links to that entity's page (keeping ``asOf``).
Without Graphviz the page says so in the picture's place, as the report does.
"""

from __future__ import annotations

import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from markupsafe import Markup

from graphsvc.analysis.impact import Impact, impact_analysis
from graphsvc.errors import NotFound
from graphsvc.model.vocabulary import EntityKind
from graphsvc.report.build import PICTURE_ENTITIES, affected_from_analysis
from graphsvc.report.diagram import (
    IMPACT_WORDS,
    RenderedDiagram,
    affected_diagram,
    render_svg,
    safe_svg,
)
from graphsvc.report.model import EntityRef

if TYPE_CHECKING:
    from graphsvc.api.explorer.routes import PageRequest
    from graphsvc.api.rest import Services

__all__ = [
    "PAGES_OF_KIND",
    "PICTURE_NODES",
    "PICTURE_TIMEOUT_SECONDS",
    "ImpactView",
    "entity_page_path",
    "impact_view",
]

PICTURE_NODES = 40
"""The impact picture has at most this many nodes (groups and surviving members included)."""
PICTURE_TIMEOUT_SECONDS = 5.0
"""Graphviz gets this long to lay the picture out before the page goes without it."""

SVG_CACHE_SIZE = 64
"""Pictures kept laid out (by DOT text): paging the table redraws the same picture."""

PAGES_OF_KIND = {
    EntityKind.CHANGE: "/change/",
    EntityKind.TEAM: "/team/",
    EntityKind.PROJECT: "/project/",
}
"""Kinds with a page of their own (issue 22's URL conventions); others use ``/entity/``."""


def entity_page_path(kind: EntityKind, key: str) -> str:
    """The path of the page that shows an entity (its key percent-encoded).

    A change, team or project has its own page (``/change/{key}``, ...), any
    other entity ``/entity/{Kind}/{key}``.
    """
    own = PAGES_OF_KIND.get(kind)
    if own is not None:
        return own + quote(key, safe="")
    return f"/entity/{kind.value}/{quote(key, safe='')}"


@dataclass(frozen=True, slots=True)
class ImpactView:
    """What the impact page shows.

    Attributes:
        answer: The impact answer (summary, teams, projects, this page of affected entities).
        picture: The picture, or ``None`` when nothing is affected.
        svg: The picture's SVG, checked by :func:`graphsvc.report.diagram.safe_svg`,
            ready to inline (``None``: see ``picture.note``).
    """

    answer: Impact
    picture: RenderedDiagram | None
    svg: Markup | None


async def impact_view(
    svc: Services,
    refs: list[tuple[EntityKind, str]],
    max_depth: int | None,
    after: str | None,
    page: PageRequest,
    *,
    page_size: int,
    dot_binary: str | None = None,
) -> ImpactView:
    """Return the impact page of the start entities ``refs`` (see the module docstring).

    Args:
        svc: The services (store, settings).
        refs: The start entities by kind and key or alias (one or more).
        max_depth: The depth limit (``None``: unbounded).
        after: The cursor of the last affected entity of the previous page.
        page: The request (``asOf``, the links' root).
        page_size: Affected entities per page of the table.
        dot_binary: The Graphviz ``dot`` to run (default: ``dot`` on ``PATH``).

    Raises:
        NotFound: naming the references that match no entity (at ``asOf``).
        InvalidInput: for a bad cursor.
    """
    as_of: datetime | None = page.as_of
    found = await svc.store.resolve(refs, as_of=as_of)
    unknown = [
        f"{k.value}/{key[:80]}" for (k, key), f in zip(refs, found, strict=True) if f is None
    ]
    if unknown:
        msg = "no entity has the key " + ", ".join(unknown[:10])
        raise NotFound(msg)
    analysis = await impact_analysis(
        svc.store,
        [f for f in found if f is not None],
        max_depth=max_depth,
        as_of=as_of,
        first=page_size,
        after=after,
        paths=True,
        max_path_steps=svc.settings.graphql_max_path_steps,
    )
    if not len(analysis.walk):
        return ImpactView(analysis.answer, None, None)
    entities = await affected_from_analysis(
        svc.store, analysis, limit=PICTURE_ENTITIES, as_of=as_of
    )

    def link(ref: EntityRef) -> str:
        return page.href(entity_page_path(ref.kind, ref.key))

    diagram = affected_diagram(
        entities,
        total=len(analysis.walk),
        words=IMPACT_WORDS,
        max_nodes=PICTURE_NODES,
        link=link,
    )
    svg, note = _render(diagram.dot, diagram.tooltips, dot_binary or shutil.which("dot"))
    drawn = RenderedDiagram(diagram, svg, note)
    svg = drawn.svg if drawn.svg is not None and safe_svg(drawn.svg) else None
    # safe_svg: no script, style, handler or foreign link (render_svg checked it too)
    return ImpactView(analysis.answer, drawn, Markup(svg) if svg is not None else None)  # noqa: S704


_SVG_CACHE: OrderedDict[tuple[str, tuple[tuple[str, str], ...], str], str] = OrderedDict()
_SVG_LOCK = threading.Lock()


def _render(
    dot: str, tooltips: dict[str, str], binary: str | None
) -> tuple[str | None, str | None]:
    """Lay ``dot`` out (see :func:`render_svg`), reusing the SVG of the same DOT text.

    Only successes are kept (the last :data:`SVG_CACHE_SIZE`): without
    Graphviz, or when it fails, every request tries again and gets the note.
    """
    if binary is None:
        return render_svg(dot, tooltips=tooltips)
    key = (dot, tuple(sorted(tooltips.items())), binary)
    with _SVG_LOCK:
        found = _SVG_CACHE.get(key)
        if found is not None:
            _SVG_CACHE.move_to_end(key)
            return found, None
    svg, note = render_svg(
        dot, tooltips=tooltips, timeout=PICTURE_TIMEOUT_SECONDS, dot_binary=binary
    )
    if svg is not None:
        with _SVG_LOCK:
            _SVG_CACHE[key] = svg
            while len(_SVG_CACHE) > SVG_CACHE_SIZE:
                _SVG_CACHE.popitem(last=False)
    return svg, note
