"""The service: ``create_app(settings)`` builds the FastAPI application.

Nothing happens at import time. The app's lifespan opens the configured store
and the token file when the server starts and closes them when it stops.

Routes: ``/graphql`` (GraphQL; GraphiQL only in development), ``/api/v1/…``
(REST, see :mod:`graphsvc.api.rest`), ``/openapi.json``, and the operations
endpoints ``/livez`` (the process answers; no dependency checked), ``/readyz``
(the store can serve a read; 503 otherwise) and ``/metrics`` (Prometheus); ``/``,
``/static/…`` and ``/docs`` (development only) from :mod:`graphsvc.api.pages`; the
explorer's pages (``/`` and below) from :mod:`graphsvc.api.explorer`.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import anyio
import orjson
import structlog
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import HTTPConnection
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

import graphsvc
from graphsvc.api.auth import Authenticator, choose_auth_mode
from graphsvc.api.explorer import explorer_router
from graphsvc.api.graphql.context import GraphContext
from graphsvc.api.graphql.schema import build_schema
from graphsvc.api.health_cache import HealthCache
from graphsvc.api.health_metrics import HealthGauges
from graphsvc.api.limits import GraphQLBodyLimitMiddleware
from graphsvc.api.observability import Metrics, TimeoutAndMetricsMiddleware, configure_logging
from graphsvc.api.pages import graphiql_page, pages_router
from graphsvc.api.problems import install_problem_handlers, problem_response
from graphsvc.api.reports import router as reports_router
from graphsvc.api.rest import ANSWER_SHAPES, Services
from graphsvc.api.rest import router as rest_router
from graphsvc.api.stewardship import router as stewardship_router
from graphsvc.api.tokens import Principal, Scope, TokenStore
from graphsvc.api.webhooks.admin import webhook_admin
from graphsvc.api.webhooks.delivery import Clock
from graphsvc.api.webhooks.rest import router as webhooks_router
from graphsvc.api.workers import WorkerLoops
from graphsvc.collector import collect_when_idle, freeze_survivors
from graphsvc.config import Settings
from graphsvc.errors import GraphSvcError, StoreCorrupted
from graphsvc.ingest.abandon import IdleRunWatch
from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.model.batch import IngestBatch
from graphsvc.store.factory import store_from_settings
from graphsvc.store.retention import Retention, prune_in_batches

__all__ = ["create_app"]

log = structlog.get_logger("graphsvc")

MAX_SUBSCRIPTIONS_PER_CONNECTION = 10
"""Most operations one websocket runs at once (every subscription also counts against
``GRAPHSVC_EVENT_STREAMS_MAX``)."""


class _Unauthenticated(Principal):
    """A websocket before its ``connection_init`` was accepted: it may do nothing."""

    def allows(self, needed: Scope) -> bool:  # noqa: ARG002
        """Nothing is allowed."""
        return False


NOBODY = _Unauthenticated("(not authenticated)", Scope.READ)


async def _follow_the_writer(svc: Services, metrics: Metrics, every: float) -> None:
    """A read replica: apply the writer's commits as they come (see ``GraphStore.catch_up``)."""
    while True:
        await anyio.sleep(every)
        try:
            caught = await svc.run(svc.store.catch_up)
        except GraphSvcError as exc:
            log.warning("following the writer failed", error=str(exc))
            continue
        metrics.replica_commits.inc(caught.applied)
        if caught.applied or caught.reloaded:
            svc.feed.notify()  # the writer's events are readable: wake feed followers
        if caught.reloaded:
            log.info("replica reloaded its index")
        if caught.last_commit is not None:
            lag = (datetime.now(UTC) - caught.last_commit).total_seconds()
            metrics.replica_lag.set(max(lag, 0.0))
        elif not caught.reloaded:
            metrics.replica_lag.set(0.0)


async def _abandon_idle_runs(watch: IdleRunWatch, svc: Services) -> None:
    """Sweep for idle open runs every so often (a quarter of the idle time, at most a minute)."""
    every = min(60.0, watch.after_seconds / 4)
    while True:
        await anyio.sleep(every)
        try:
            await svc.run(lambda: watch.sweep(svc.store, svc.engine), writes=True)
        except GraphSvcError as exc:  # the store is away for now: try again next time
            log.warning("sweeping idle runs failed", error=str(exc))


async def _prune_events(svc: Services, retention: Retention, every: float) -> None:
    """Prune the events past retention every so often, in short batches (a writer's task)."""
    while True:
        try:
            done = await prune_in_batches(
                lambda: svc.run(
                    functools.partial(
                        svc.store.prune_events,
                        before=retention.before(datetime.now(UTC)),
                        keep=retention.keep,
                    ),
                    writes=True,
                )
            )
        except GraphSvcError as exc:  # the store is away for now: try again next time
            log.warning("pruning events failed", error=str(exc))
        else:
            if done.removed:
                log.info("events pruned", removed=done.removed, oldest_seq=done.oldest_seq)
        await anyio.sleep(every)


class FastJSONGraphQLRouter(GraphQLRouter[Any, Any]):
    """strawberry's FastAPI router, reading and writing JSON with orjson.

    orjson is several times faster than the standard library on GraphQL answers.
    It refuses integers outside 64 bits; an answer holding one (an attribute
    stored by an older importer) is written by the standard library instead.
    """

    def decode_json(self, data: str | bytes) -> object:
        """Parse a request body (the body limit middleware has already vetted it)."""
        return orjson.loads(data)

    def encode_json(self, data: object) -> bytes:
        """Write an answer."""
        try:
            return orjson.dumps(data)
        except TypeError:
            return json.dumps(data, separators=(",", ":")).encode()

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """GraphiQL, its scripts and styles served by graphsvc (see :mod:`graphsvc.api.pages`)."""
        return graphiql_page(request)

    async def on_ws_connect(self, context: Any) -> UnsetType | dict[str, object] | None:
        """Authenticate a ``graphql-transport-ws`` connection (its ``connection_init``).

        The token is the payload's ``authorization`` (``"Bearer gsv_…"``), else the
        upgrade request's ``Authorization`` header; in local mode the client and
        the page that opened the socket must be local. A refused connection is
        closed with 4403.
        """
        assert isinstance(context, GraphContext)
        connection = context.request
        assert connection is not None
        svc: Services = connection.app.state.services
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        given = params.get("authorization", params.get("Authorization"))
        token = given if isinstance(given, str) else None
        try:
            context.principal = svc.auth.principal(connection, Scope.READ, authorization=token)
        except HTTPException as exc:
            log.info("websocket refused", reason=str(exc.detail))
            raise ConnectionRejectionError from None

        def recheck() -> bool:
            try:
                svc.auth.principal(connection, Scope.READ, authorization=token)
            except HTTPException:
                return False
            return True

        context.recheck = recheck
        return cast("UnsetType", UNSET)


def create_app(
    settings: Settings | None = None,
    *,
    webhook_clock: Clock | None = None,
    health_clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the application for ``settings`` (from the environment when ``None``).

    ``webhook_clock``: the time the webhook delivery worker schedules by (tests).
    ``health_clock``: the time of the health page's trend and documents (tests).
    """
    settings = settings or Settings()
    configure_logging(settings.log_format)
    metrics = Metrics()
    health_cache = HealthCache(health_clock)
    health_gauges = HealthGauges(
        metrics.registry, health_cache, interval=settings.health_metrics_interval_seconds
    )
    development = settings.env == "development"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = store_from_settings(settings)
        await store.open()
        try:
            await store.verify()
        except StoreCorrupted as exc:
            # serve anyway: /readyz says 503 with the reason, so that a
            # balancer keeps traffic away and an operator can read why
            log.error("the store is damaged", reason=str(exc))
        tokens = TokenStore(settings.tokens_path)
        mode, why = choose_auth_mode(settings.auth, tokens)
        policy = IngestPolicy(
            source_priorities=settings.source_priorities,
            retire_after_missing_runs=settings.retire_after_missing_runs,
        )
        engine = IngestEngine(store, policy)
        workers = WorkerLoops(settings.worker_threads)
        app.state.services = Services(store, engine, Authenticator(tokens, mode), settings, workers)
        feed = app.state.services.feed
        store.add_commit_listener(feed.notify)
        app.state.before_shutdown = [feed.close]  # graphsvc.api.server: streams end first
        # What the store loaded lives as long as the server: moved out of the collector's
        # generations, a full collection does not walk it again (no pause of hundreds of
        # ms). No collection first: at 1M entities it would cost a second for little.
        gc.freeze()
        thresholds = gc.get_threshold()
        # Requests leave no cyclic garbage (the cycles of the executor and the loaders
        # are broken), so what they allocate is freed as they end: a high threshold
        # for the youngest generation keeps collections (which stop every thread)
        # rare, and each one short.
        gc.set_threshold(settings.gc_young_threshold, *gc.get_threshold()[1:])
        stop_watching_gc = metrics.watch_gc()
        stop_freezing = (
            freeze_survivors(asyncio.get_running_loop().call_soon_threadsafe)
            if settings.gc_freeze_survivors
            else lambda: None
        )
        log.info(
            "graphsvc ready",
            store=settings.store,
            data=str(settings.data),
            env=settings.env,
            auth=mode.value,
            auth_chosen_by=why,
            read_only=settings.read_only,
        )
        watch = IdleRunWatch(settings.run_abandon_after_seconds)
        hooks = webhook_admin(store, app.state.services.run, settings, clock=webhook_clock)
        retention = Retention(settings.event_retention_days, settings.event_retention_max)
        try:
            async with anyio.create_task_group() as background:
                if settings.read_only:
                    background.start_soon(
                        _follow_the_writer,
                        app.state.services,
                        metrics,
                        settings.replica_poll_seconds,
                    )
                else:
                    background.start_soon(_abandon_idle_runs, watch, app.state.services)
                    # webhooks are delivered by writers only (PRODUCT.md 8)
                    app.state.services.webhooks = hooks
                    app.state.services.after_write = hooks.worker.notify
                    background.start_soon(hooks.worker.run_forever)
                    if retention.active:
                        every = settings.event_prune_every_seconds
                        background.start_soon(_prune_events, app.state.services, retention, every)
                if settings.gc_collect_when_idle:
                    background.start_soon(functools.partial(collect_when_idle, workers.in_flight))
                background.start_soon(feed.watch, app.state.services.read_events)
                # the health page's missing trend points, one at a time, when asked
                background.start_soon(health_cache.fill_forever, store, app.state.services.run)
                try:
                    yield
                finally:
                    feed.close()
                    background.cancel_scope.cancel()
        finally:
            # outside the task group: its cancellation must not cut the closing short
            await hooks.worker.sender.aclose()
            if await workers.aclose(store.release_loop):
                await store.close()
            else:
                log.error(
                    "a worker thread is still working 10 s after the stop: the store is "
                    "left open for the process exit to close (closing it under a running "
                    "read would crash the process)"
                )
            tokens.close()
            stop_watching_gc()
            stop_freezing()
            gc.unfreeze()
            gc.set_threshold(*thresholds)
            log.info("graphsvc stopped")

    app = FastAPI(
        title="graphsvc",
        version=graphsvc.__version__,
        description="CMDB and dependency graph: impact, ownership, consolidation readiness.",
        lifespan=lifespan,
        # no redirect from /path/ to /path: it would reflect the Host header in
        # Location before the request is authenticated
        redirect_slashes=False,
        openapi_url="/openapi.json",
        docs_url=None,  # /docs (development only) is served by graphsvc.api.pages
        redoc_url=None,
    )
    install_problem_handlers(app)
    app.state.health_gauges = health_gauges  # computed on scrapes, after commits
    app.state.health_cache = health_cache  # shared by /metrics and the health page

    async def graphql_context(request: HTTPConnection) -> GraphContext:
        svc: Services = request.app.state.services
        # a websocket is authenticated by its connection_init (on_ws_connect), which
        # strawberry awaits before any operation; until then it may do nothing
        principal = (
            NOBODY
            if request.scope["type"] == "websocket"
            else svc.auth.principal(request, Scope.READ)
        )
        return GraphContext(
            store=svc.store,
            engine=svc.engine,
            settings=settings,
            principal=principal,
            workers=svc.workers,
            webhooks=svc.webhooks,
            feed=svc.feed,
        )

    graphql = FastJSONGraphQLRouter(
        build_schema(settings),
        path="/graphql",
        graphql_ide="graphiql" if development else None,
        allow_queries_via_get=True,
        multipart_uploads_enabled=False,
        context_getter=graphql_context,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        connection_init_wait_timeout=timedelta(seconds=settings.header_timeout_seconds),
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
    )
    app.include_router(graphql, include_in_schema=False)
    app.include_router(rest_router)
    app.include_router(stewardship_router)
    app.include_router(reports_router)
    app.include_router(webhooks_router)
    app.include_router(pages_router(development=development, title=app.title))
    app.include_router(explorer_router(development=development))

    @app.get("/livez", include_in_schema=False)
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        svc: Services | None = getattr(request.app.state, "services", None)
        if svc is None:
            return problem_response(503, "Service unavailable", "the store is not open yet")
        try:
            await svc.store.ping()
        except GraphSvcError as exc:
            return problem_response(503, "Service unavailable", f"the store cannot serve: {exc}")
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        svc: Services | None = getattr(request.app.state, "services", None)
        if svc is not None:
            metrics.event_followers.set(svc.feed.followers)
            metrics.event_waiters.set(svc.feed.waiting)
            if svc.workers is not None:
                metrics.work_waiting.set(svc.workers.in_flight())
                metrics.work_running.set(svc.workers.running())
            try:
                stats = await svc.run(svc.store.stats)
            except GraphSvcError:
                pass
            else:
                metrics.entities.set(stats.entities)
                metrics.relations.set(stats.relations)
                metrics.history.set(stats.history_events)
                metrics.bytes.set(stats.bytes_on_disk)
                await health_gauges.refresh(svc.store, stats.last_commit, svc.run)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            batch = IngestBatch.model_json_schema(
                by_alias=True, ref_template="#/components/schemas/{model}"
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(batch.pop("$defs", {}))
            components["IngestBatch"] = batch
            for shape in ANSWER_SHAPES:  # the analyses' answers, derived from their dataclasses
                components.update(shape.components())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(
        GraphQLBodyLimitMiddleware,
        limit=settings.graphql_max_body_bytes,
        max_depth=settings.graphql_max_variable_depth,
    )
    app.add_middleware(
        TimeoutAndMetricsMiddleware,
        metrics=metrics,
        timeout_seconds=settings.request_timeout_seconds,
    )
    return app
