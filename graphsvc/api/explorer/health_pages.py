"""The explorer's health page (PRODUCT.md 9 and 10, issue 22): fast on a big graph.

``/health`` shows the CMDB health document of
:func:`graphsvc.report.health_report.build_health_document` (the score, the
checks, the sources, the first failing entities of each check) with the 30-day
score chart, in the explorer's layout.

* **Now** (no ``asOf``): the document comes from the app's
  :class:`~graphsvc.api.health_cache.HealthCache`, computed at most once per
  store commit and shared with the ``/metrics`` gauges. After a start or a
  commit the first view waits for the computation (about 5 s at 1,000,000
  entities, under the request's deadline; concurrent views wait for the same
  one); the others cost milliseconds until the next commit. The page says when
  the document was computed.
* **asOf**: computed on demand, under the request's deadline (a past moment's
  figures are not kept: each view computes them again).
* **The trend never makes a page wait.** The chart draws the points already
  computed; the missing midnights are computed in the background, one at a
  time (:meth:`~graphsvc.api.health_cache.HealthCache.fill_forever`), and the
  page says how many of the 30 points are still being computed (a reload shows
  them once they are). Points after now (an ``asOf`` in the future) are not
  computed; the page says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from graphsvc.analysis.health import TREND_DAYS
from graphsvc.api.explorer.routes import PageRequest, _render
from graphsvc.api.health_cache import HealthCache
from graphsvc.api.rest import Services
from graphsvc.report.health_report import HealthDocument, build_health_document, score_chart_svg

__all__ = ["TrendNote", "health_router"]

Serve = Callable[[Request, Callable[[PageRequest], Awaitable[Response]]], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class TrendNote:
    """What the page says about its trend.

    Attributes:
        points: Points of the chart (30).
        computing: Missing points being computed in the background.
        not_computed: Missing points that will not be (after now, or too many asked).
    """

    points: int
    computing: int
    not_computed: int


def health_router(serve: Serve) -> APIRouter:
    """Return the route ``/health``.

    Args:
        serve: The explorer's page runner (sign-in, ``asOf``, error pages).
    """
    router = APIRouter(include_in_schema=False)

    @router.get("/health")
    async def health_page(request: Request) -> Response:
        async def build(page: PageRequest) -> HTMLResponse:
            svc: Services = request.app.state.services
            cache: HealthCache = request.app.state.health_cache
            store = svc.store
            document: HealthDocument
            if page.as_of is None:
                stats = await svc.run(store.stats)
                document = await cache.current(store, stats.last_commit, svc.run)
            else:
                as_of = page.as_of
                document = await svc.run(
                    lambda: build_health_document(store, as_of=as_of, trend=False)
                )
            known, computing = cache.trend(store, document)
            note = TrendNote(
                points=TREND_DAYS,
                computing=computing,
                not_computed=len(known.missing) - computing,
            )
            shown = HealthDocument(known.report, document.samples)
            chart = Markup(score_chart_svg(known.report))  # noqa: S704 - escaped by the renderer
            return _render("health.html", page, document=shown, chart=chart, trend=note)

        return await serve(request, build)

    return router
