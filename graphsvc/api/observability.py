"""Logs, metrics and the per-request timeout.

* Logs are structured (structlog): JSON lines when stderr is not a terminal (or
  ``GRAPHSVC_LOG_FORMAT=json``), readable lines on a terminal.
* Metrics live in a registry of the app (not the process-global one), exposed
  at ``/metrics``: request counts and latencies per route and per GraphQL
  operation, and the store's size.
* A request that runs longer than ``GRAPHSVC_REQUEST_TIMEOUT_SECONDS`` is
  answered 503 (unless it had already started answering) and its work is
  stopped: the request is cancelled, and the :class:`~graphsvc.deadline.Deadline`
  it carries stops work that computes without awaiting at its next check. An
  NDJSON ingest stream has no overall deadline (it may run for hours): it is
  bounded by its idle timeout, and each of its batches by a deadline of its own.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from graphsvc.collector import collecting_when_idle
from graphsvc.deadline import deadline

__all__ = ["Metrics", "TimeoutAndMetricsMiddleware", "configure_logging"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_NDJSON = frozenset(
    {
        b"application/x-ndjson",
        b"application/ndjson",
        b"application/jsonl",
        b"application/x-jsonlines",
    }
)


def _may_write(scope: Scope, graphql_body: bytes) -> bool:
    """Whether the request may have written (REST writes, GraphQL mutations)."""
    if scope.get("method") != "POST":
        return False
    path = str(scope.get("path", ""))
    if path == "/graphql":
        return b"mutation" in graphql_body
    return path.startswith(("/api/v1/ingest", "/api/v1/runs"))


def _is_stream(scope: Scope) -> bool:
    """Whether the request streams: bounded by its own limits, not the request deadline.

    An NDJSON ingest stream (bounded by idleness) or the event stream
    (``GET /api/v1/events/stream``, bounded by its own settings).
    """
    if scope.get("path") == "/api/v1/events/stream" and scope.get("method") in ("GET", "HEAD"):
        return True
    if scope.get("path") != "/api/v1/ingest" or scope.get("method") != "POST":
        return False
    content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
    return content_type.split(b";")[0].strip().lower() in _NDJSON


_OPERATION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def configure_logging(log_format: str) -> None:
    """Configure structlog once for the process (called by ``create_app``)."""
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    # JSON logs carry an exception as a structured traceback; the console renderer
    # formats exc_info itself
    tracebacks: list[Any] = [structlog.processors.dict_tracebacks] if as_json else []
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *tracebacks,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


MAX_OPERATION_LABELS = 200
"""Distinct GraphQL operation names given their own metrics label; later ones count as
``other``, so that clients sending random names cannot grow the metrics without bound."""


class Metrics:
    """The app's Prometheus metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._operation_labels: set[str] = set()
        self.requests = Counter(
            "graphsvc_http_requests",
            "HTTP requests.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "graphsvc_http_request_duration_seconds",
            "HTTP request latency.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.operations = Counter(
            "graphsvc_graphql_operations",
            "GraphQL operations.",
            ["operation"],
            registry=self.registry,
        )
        self.operation_latency = Histogram(
            "graphsvc_graphql_operation_duration_seconds",
            "GraphQL operation latency.",
            ["operation"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.entities = Gauge(
            "graphsvc_store_entities", "Entities in the store.", registry=self.registry
        )
        self.relations = Gauge(
            "graphsvc_store_relations", "Relations in the store.", registry=self.registry
        )
        self.history = Gauge(
            "graphsvc_store_history_events", "History events in the store.", registry=self.registry
        )
        self.bytes = Gauge(
            "graphsvc_store_size_bytes", "Bytes the store uses on disk.", registry=self.registry
        )
        self.gc_pauses = Histogram(
            "graphsvc_gc_pause_seconds",
            "Pauses of Python's garbage collector, by generation.",
            ["generation"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
        )
        self.gc_idle = Histogram(
            "graphsvc_gc_idle_collection_seconds",
            "Collections run at quiet moments (no request worked on; not in the pauses).",
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
        )
        self.gc_frozen = Gauge(
            "graphsvc_gc_frozen_objects",
            "Objects moved out of the collector's generations (never walked again).",
            registry=self.registry,
        )
        self.gc_frozen.set_function(gc.get_freeze_count)
        self.gc_longest = Gauge(
            "graphsvc_gc_longest_pause_seconds",
            "The longest garbage-collector pause since the server started.",
            registry=self.registry,
        )
        self.replica_lag = Gauge(
            "graphsvc_replica_lag_seconds",
            "A read replica: age of the writer's last commit it applied when it applied it "
            "(0 when caught up).",
            registry=self.registry,
        )
        self.replica_commits = Counter(
            "graphsvc_replica_commits_applied",
            "A read replica: commits of the writer applied.",
            registry=self.registry,
        )
        self.event_followers = Gauge(
            "graphsvc_event_followers",
            "Event streams (Server-Sent Events) and GraphQL subscriptions open now.",
            registry=self.registry,
        )
        self.event_waiters = Gauge(
            "graphsvc_event_waiters",
            "Readers waiting for the next commit now (long polls and idle followers).",
            registry=self.registry,
        )
        self.work_waiting = Gauge(
            "graphsvc_work_in_flight",
            "Requests waiting for an answer from the worker loops.",
            registry=self.registry,
        )
        self.work_running = Gauge(
            "graphsvc_work_running",
            "Pieces of work running in the worker loops (stopped ones until their next check).",
            registry=self.registry,
        )

    def watch_gc(self) -> Callable[[], None]:
        """Time every garbage collection from now on; return the function that stops it.

        A collection stops every thread of the process, so its pauses are part of
        every request's latency (``gc.callbacks`` brackets each one). Collections
        run at quiet moments (:func:`graphsvc.collector.collect_when_idle`) stop
        no request: they are timed apart.
        """
        started = [0.0]
        longest = [0.0]

        def callback(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
                return
            pause = time.perf_counter() - started[0]
            if collecting_when_idle():
                self.gc_idle.observe(pause)
                return
            self.gc_pauses.labels(str(info.get("generation", -1))).observe(pause)
            if pause > longest[0]:
                longest[0] = pause
                self.gc_longest.set(pause)

        gc.callbacks.append(callback)
        return lambda: gc.callbacks.remove(callback)

    def operation_label(self, name: str) -> str:
        """Return the label for operation ``name``: itself, or ``other`` past the cap."""
        if name in self._operation_labels:
            return name
        if len(self._operation_labels) >= MAX_OPERATION_LABELS:
            return "other"
        self._operation_labels.add(name)
        return name


def _operation_of(body: bytes) -> str:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "invalid"
    name = doc.get("operationName") if isinstance(doc, dict) else None
    if isinstance(name, str) and _OPERATION_NAME.match(name):
        return name
    return "anonymous"


class TimeoutAndMetricsMiddleware:
    """Pure ASGI middleware: per-request timeout, request metrics and access log."""

    def __init__(self, app: ASGIApp, metrics: Metrics, timeout_seconds: float) -> None:
        self.app = app
        self.metrics = metrics
        self.timeout = timeout_seconds
        self.log = structlog.get_logger("graphsvc.access")

    async def _within_deadline(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Run the app under the request deadline; whether the deadline cut it."""
        timeout = asyncio.timeout(self.timeout)
        with deadline(self.timeout):
            try:
                async with timeout:
                    await self.app(scope, receive, send)
            except TimeoutError:
                if not timeout.expired():
                    raise  # the app's own, not the deadline
                return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection through the wrapped app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500
        response_started = False
        graphql = scope.get("path") == "/graphql" and scope.get("method") == "POST"
        body_parts: list[bytes] = []

        async def receive_wrapper() -> Message:
            message = await receive()
            if (
                graphql
                and message.get("type") == "http.request"
                and sum(map(len, body_parts)) < 65536
            ):
                body_parts.append(message.get("body", b""))
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
                response_started = True
            await send(message)

        if _is_stream(scope):
            await self.app(scope, receive_wrapper, send_wrapper)
            cancelled = False
        else:
            cancelled = await self._within_deadline(scope, receive_wrapper, send_wrapper)
        if cancelled and not response_started:
            status_code = 503
            detail = f"the request took longer than {self.timeout:g} s and was stopped"
            if _may_write(scope, b"".join(body_parts)):
                detail += (
                    "; a write that had begun to commit may have been applied: ingest is "
                    "idempotent, so sending it again is safe"
                )
            body = orjson.dumps(
                {
                    "type": "about:blank",
                    "title": "Service unavailable",
                    "status": 503,
                    "detail": detail,
                    "errors": [],
                }
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [(b"content-type", b"application/problem+json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
        elapsed = time.perf_counter() - started
        route = scope.get("route")
        # only declared routes become labels: any other path is "unmatched"
        route_path = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        if method not in _METHODS:
            method = "other"
        self.metrics.requests.labels(method, route_path, str(status_code)).inc()
        self.metrics.latency.labels(method, route_path).observe(elapsed)
        if graphql:
            operation = self.metrics.operation_label(_operation_of(b"".join(body_parts)))
            self.metrics.operations.labels(operation).inc()
            self.metrics.operation_latency.labels(operation).observe(elapsed)
        if route_path not in ("/livez", "/readyz", "/metrics"):
            self.log.info(
                "request",
                method=method,
                path=scope.get("path"),
                status=status_code,
                ms=round(elapsed * 1e3, 2),
            )
