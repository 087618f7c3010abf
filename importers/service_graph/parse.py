"""Reading service dependency graph files; the format is detected from the content.

* **Jaeger** dependency links: a JSON array of ``{parent, child, callCount}``
  (the UI's form) or the query API's ``{"data": [...]}``. One call per link.
* **Kiali** graph (``/api/namespaces/graph``): ``{"duration", "elements":
  {"nodes", "edges"}}``. A node's service name is ``service`` for service
  nodes, ``app`` (else ``workload``) for workload nodes and ``app`` for app
  nodes; several workloads of one app (``reviews-v1``, ``reviews-v2``) are one
  service. Nodes of other types (``unknown``, ``aggregate``) and the
  ``unknown``, ``PassthroughCluster`` and ``BlackHoleCluster`` service nodes
  are placeholders, and box nodes are ignored. Kiali reports request *rates*
  over ``duration`` seconds, so ``call_count = round(rate * duration)`` for
  ``http`` and ``grpc`` edges, and ``error_count`` likewise from ``http4xx +
  http5xx + httpNoResponse`` or ``grpcErr + grpcNoResponse``. TCP edges carry
  bytes, not requests: they have no count.
* **OpenTelemetry** service graph connector output (OTLP metrics, as the
  connector's pdata YAML or OTLP JSON): each data point of
  ``traces_service_graph_request_total`` is calls from its ``client`` to its
  ``server`` attribute, with ``failed`` and ``connection_type``;
  ``traces_service_graph_request_failed_total`` counts failures. Cumulative
  series (``aggregationTemporality: 2``) count their latest point only; delta
  series are summed. The error count of an edge is the larger of its
  ``failed=true`` requests and its ``request_failed_total`` (the two count the
  same failures). An edge with no request counter takes its call count from
  the ``traces_service_graph_request_server[_seconds]`` histogram (else the
  client one). The connector's placeholders for a missing peer (``user`` for a
  ``virtual_node`` client, ``unknown`` for a server) are not services.

A call from or to a placeholder is skipped with a warning (the real side is
still a service). Anything that is none of these formats, or an element of
the wrong shape, raises :class:`~graphsvc.errors.ParseError` naming the file,
the element (a JSON path such as ``data[3]`` or ``elements.edges[2]``) and the
reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import yaml

from graphsvc.errors import ParseError
from graphsvc.ingest.importer import ImportWarning
from importers import _yaml
from importers.service_graph.model import GraphFile, GraphFormat, ObservedCall

__all__ = ["parse_graph_bytes", "parse_graph_file"]

_KIALI_PLACEHOLDER_SERVICES = frozenset({"unknown", "PassthroughCluster", "BlackHoleCluster"})
_OTEL_PLACEHOLDERS = frozenset({"user", "unknown"})
_REQUEST_TOTAL = "traces_service_graph_request_total"
_REQUEST_FAILED = "traces_service_graph_request_failed_total"
_HISTOGRAMS = (
    "traces_service_graph_request_server_seconds",
    "traces_service_graph_request_server",
    "traces_service_graph_request_client_seconds",
    "traces_service_graph_request_client",
)
_CUMULATIVE = 2


class _Bad(Exception):
    def __init__(self, element: str, reason: str) -> None:
        super().__init__(reason)
        self.element = element
        self.reason = reason


def parse_graph_file(path: Path) -> GraphFile:
    """Read one service graph file.

    Raises:
        ParseError: when the file cannot be read, is not JSON/YAML, is none of
            the formats, or has an element of the wrong shape.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    return parse_graph_bytes(str(path), data)


def parse_graph_bytes(path: str, data: bytes) -> GraphFile:
    """Parse the content of one file named ``path`` (see :func:`parse_graph_file`).

    Raises:
        ParseError: as :func:`parse_graph_file`.
    """
    doc = _load(path, data)
    try:
        if isinstance(doc, list):
            return _jaeger(path, doc, "")
        if isinstance(doc, dict):
            if "resourceMetrics" in doc:
                return _otel(path, doc)
            if "elements" in doc:
                return _kiali(path, doc)
            if "data" in doc and (doc["data"] is None or isinstance(doc["data"], list)):
                return _jaeger(path, doc["data"] or [], "data")
    except _Bad as exc:
        raise ParseError(path, exc.element, exc.reason) from None
    raise ParseError(
        path,
        "top level",
        "not a service graph: expected a Jaeger dependencies array (or {data: [...]}), "
        "a Kiali graph (elements.nodes/edges) or OpenTelemetry service graph metrics "
        "(resourceMetrics)",
    )


def _load(path: str, data: bytes) -> object:
    if data.lstrip()[:1] in (b"{", b"["):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ParseError(
                path, f"line {exc.lineno}, column {exc.colno}", f"invalid JSON: {exc.msg}"
            ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(path, "", f"not UTF-8 text: {exc.reason}") from None
    try:
        docs = [d for d in _yaml.load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = (
            f"line {mark.line + 1}, column {mark.column + 1}" if isinstance(mark, yaml.Mark) else ""
        )
        problem = getattr(exc, "problem", None)
        raise ParseError(path, where, f"invalid YAML: {problem or exc}") from None
    if len(docs) != 1:
        raise ParseError(path, "top level", f"expected one YAML document, found {len(docs)}")
    return docs[0]


# --------------------------------------------------------------------------- Jaeger


def _jaeger(path: str, links: list[object], prefix: str) -> GraphFile:
    calls: list[ObservedCall] = []
    for index, raw in enumerate(links):
        element = f"{prefix}[{index}]"
        link = _mapping(raw, element)
        parent = _name(link.get("parent"), f"{element}.parent")
        child = _name(link.get("child"), f"{element}.child")
        count = link.get("callCount")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise _Bad(f"{element}.callCount", "must be a non-negative integer")
        calls.append(ObservedCall(parent, child, count, element=element))
    return GraphFile(path, GraphFormat.JAEGER, _services_of(calls, ()), tuple(calls))


# --------------------------------------------------------------------------- Kiali


def _kiali(path: str, doc: Mapping[str, object]) -> GraphFile:
    duration = doc.get("duration")
    if not isinstance(duration, int | float) or isinstance(duration, bool) or duration <= 0:
        raise _Bad("duration", "must be a positive number of seconds (rates are per second)")
    elements = _mapping(doc.get("elements"), "elements")
    names: dict[str, str | None] = {}  # node id -> service name; None for placeholders
    for index, raw in enumerate(_array(elements.get("nodes"), "elements.nodes")):
        element = f"elements.nodes[{index}]"
        data = _mapping(_mapping(raw, element).get("data"), f"{element}.data")
        node_id = _name(data.get("id"), f"{element}.data.id")
        if data.get("isBox"):
            continue
        names[node_id] = _kiali_name(data, element)
    warnings: list[ImportWarning] = []
    calls: list[ObservedCall] = []
    for index, raw in enumerate(_array(elements.get("edges"), "elements.edges")):
        element = f"elements.edges[{index}]"
        data = _mapping(_mapping(raw, element).get("data"), f"{element}.data")
        ends: list[str | None] = []
        for end in ("source", "target"):
            node_id = _name(data.get(end), f"{element}.data.{end}")
            if node_id not in names:
                raise _Bad(f"{element}.data.{end}", f"names no node: {node_id!r}")
            ends.append(names[node_id])
        caller, callee = ends
        if caller is None or callee is None:
            warnings.append(
                ImportWarning(
                    path,
                    element,
                    f"call from {caller or 'an unknown source'} to {callee or 'an unknown service'}"
                    " involves a Kiali placeholder node; skipped",
                )
            )
            continue
        calls.append(_kiali_call(caller, callee, data.get("traffic"), float(duration), element))
    services = _services_of(calls, [n for n in names.values() if n is not None])
    return GraphFile(path, GraphFormat.KIALI, services, tuple(calls), tuple(warnings))


def _kiali_name(data: Mapping[str, object], element: str) -> str | None:
    """Return the service name of a Kiali node, ``None`` for a placeholder.

    Nodes of other types (``unknown``, ``aggregate`` ...) are placeholders.
    """
    node_type = data.get("nodeType")
    candidates: tuple[str, ...]
    if node_type == "service":
        candidates = ("service",)
    elif node_type == "workload":
        candidates = ("app", "workload")
    elif node_type == "app":
        candidates = ("app",)
    else:
        return None
    for key in candidates:
        value = data.get(key)
        if isinstance(value, str) and value.strip() and value != "unknown":
            return None if value in _KIALI_PLACEHOLDER_SERVICES else value.strip()
        if value == "unknown":
            return None
    raise _Bad(f"{element}.data", f"{node_type} node without {' or '.join(candidates)}")


def _kiali_call(
    caller: str, callee: str, traffic: object, duration: float, element: str
) -> ObservedCall:
    traffic_map = _mapping(traffic, f"{element}.data.traffic")
    protocol = traffic_map.get("protocol")
    protocol = protocol if isinstance(protocol, str) and protocol else None
    rates_raw = _mapping(traffic_map.get("rates"), f"{element}.data.traffic.rates")
    rates: dict[str, float] = {}
    for key, value in rates_raw.items():
        number = _float(value)
        if number is None:
            raise _Bad(f"{element}.data.traffic.rates.{key}", f"not a number: {value!r}")
        rates[str(key)] = number
    calls: int | None = None
    errors: int | None = None
    if protocol == "http":
        calls = round(rates.get("http", 0.0) * duration)
        bad = (
            rates.get("http4xx", 0.0) + rates.get("http5xx", 0.0) + rates.get("httpNoResponse", 0.0)
        )
        errors = round(bad * duration)
    elif protocol == "grpc":
        calls = round(rates.get("grpc", 0.0) * duration)
        errors = round((rates.get("grpcErr", 0.0) + rates.get("grpcNoResponse", 0.0)) * duration)
    return ObservedCall(caller, callee, calls, errors, protocol=protocol, element=element)


# --------------------------------------------------------------------------- OpenTelemetry


_Series = tuple[str, tuple[tuple[str, str], ...]]
"""A metric series: (metric name, its sorted attributes)."""


@dataclass(slots=True)
class _Edge:
    """What the service graph metrics say about calls from one client to one server."""

    element: str
    connection_types: set[str] = field(default_factory=set)
    total: int | None = None
    failed_in_total: int = 0
    failed_total: int | None = None
    histogram: int | None = None
    histogram_rank: int = len(_HISTOGRAMS)

    def add(self, metric: str, attrs: Mapping[str, str], value: int) -> None:
        """Account for the value of one series of ``metric``."""
        if attrs.get("connection_type"):
            self.connection_types.add(attrs["connection_type"])
        if metric == _REQUEST_TOTAL:
            self.total = (self.total or 0) + value
            if attrs.get("failed") == "true":
                self.failed_in_total += value
        elif metric == _REQUEST_FAILED:
            self.failed_total = (self.failed_total or 0) + value
        else:  # a histogram: the most preferred one present gives the count
            rank = _HISTOGRAMS.index(metric)
            if rank < self.histogram_rank:
                self.histogram_rank, self.histogram = rank, value
            elif rank == self.histogram_rank:
                self.histogram = (self.histogram or 0) + value

    def call(self, client: str, server: str) -> ObservedCall:
        """Return the observed call (see the module docstring for the rules)."""
        count = self.total if self.total is not None else self.histogram
        known = self.total is not None or self.failed_total is not None
        errors = max(self.failed_in_total, self.failed_total or 0) if known else None
        connection = ",".join(sorted(self.connection_types)) or None
        return ObservedCall(client, server, count, errors, connection, element=self.element)


class _OtelReader:
    """Collects the data points of one OTLP document into per-series values."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.services: set[str] = set()
        self.warnings: list[ImportWarning] = []
        self.skipped: set[tuple[str, str]] = set()
        # cumulative series: (series, start time) -> (time, value, element) of the latest point
        self.cumulative: dict[tuple[_Series, str], tuple[int, int, str]] = {}
        # delta series: series -> (sum of the points, element of the first)
        self.delta: dict[_Series, tuple[int, str]] = {}

    def point(self, metric: str, kind: str, temporality: int, raw: object, where: str) -> None:
        point = _mapping(raw, where)
        attrs = _otel_attributes(point.get("attributes"), f"{where}.attributes")
        client = _name(attrs.get("client"), f"{where}.attributes.client")
        server = _name(attrs.get("server"), f"{where}.attributes.server")
        connection_type = attrs.get("connection_type") or ""
        virtual = attrs.get("virtual_node") or ""
        client_ok = not _placeholder(client, "client", virtual, connection_type)
        server_ok = not _placeholder(server, "server", virtual, connection_type)
        self.services.update(n for n, ok in ((client, client_ok), (server, server_ok)) if ok)
        if not (client_ok and server_ok):
            if (client, server) not in self.skipped:
                self.skipped.add((client, server))
                self.warnings.append(
                    ImportWarning(
                        self.path,
                        where,
                        f"call from {client} to {server} involves an OpenTelemetry "
                        f"virtual node placeholder ({virtual or connection_type}); skipped",
                    )
                )
            return
        value = _otel_value(point, kind, where)
        series: _Series = (metric, tuple(sorted(attrs.items())))
        if temporality == _CUMULATIVE:
            start = str(point.get("startTimeUnixNano", ""))
            time = _nanos(point.get("timeUnixNano"), f"{where}.timeUnixNano")
            previous = self.cumulative.get((series, start))
            if previous is None or time >= previous[0]:
                self.cumulative[(series, start)] = (time, value, where)
        else:
            total, first = self.delta.get(series, (0, ""))
            self.delta[series] = (total + value, first or where)

    def calls(self) -> list[ObservedCall]:
        values = [(s, value, where) for (s, _), (_, value, where) in self.cumulative.items()]
        values += [(s, value, where) for s, (value, where) in self.delta.items()]
        edges: dict[tuple[str, str], _Edge] = {}
        for (metric, series), value, where in values:
            attrs = dict(series)
            edges.setdefault((attrs["client"], attrs["server"]), _Edge(where)).add(
                metric, attrs, value
            )
        return [edge.call(c, s) for (c, s), edge in sorted(edges.items())]


def _otel(path: str, doc: Mapping[str, object]) -> GraphFile:
    reader = _OtelReader(path)
    for element, metric, kind, temporality, points in _otel_points(doc):
        for index, raw in enumerate(points):
            reader.point(metric, kind, temporality, raw, f"{element}.{kind}.dataPoints[{index}]")
    calls = reader.calls()
    return GraphFile(
        path,
        GraphFormat.OTEL,
        _services_of(calls, reader.services),
        tuple(calls),
        tuple(reader.warnings),
    )


def _otel_points(
    doc: Mapping[str, object],
) -> list[tuple[str, str, str, int, list[object]]]:
    """Return the service graph metrics of an OTLP document.

    Each as (element, metric name, ``sum`` or ``histogram``, temporality, data
    points); other metrics are ignored.
    """
    out: list[tuple[str, str, str, int, list[object]]] = []
    for r, raw_rm in enumerate(_array(doc.get("resourceMetrics"), "resourceMetrics")):
        rm_el = f"resourceMetrics[{r}]"
        rm = _mapping(raw_rm, rm_el)
        for s, raw_sm in enumerate(_array(rm.get("scopeMetrics"), f"{rm_el}.scopeMetrics")):
            sm_el = f"{rm_el}.scopeMetrics[{s}]"
            sm = _mapping(raw_sm, sm_el)
            for m, raw_metric in enumerate(_array(sm.get("metrics"), f"{sm_el}.metrics")):
                element = f"{sm_el}.metrics[{m}]"
                metric = _mapping(raw_metric, element)
                name = metric.get("name")
                if name in (_REQUEST_TOTAL, _REQUEST_FAILED):
                    kind = "sum"
                elif name in _HISTOGRAMS:
                    kind = "histogram"
                else:
                    continue
                body = _mapping(metric.get(kind), f"{element}.{kind}")
                temporality = body.get("aggregationTemporality", _CUMULATIVE)
                if temporality == "AGGREGATION_TEMPORALITY_DELTA":
                    temporality = 1
                points = _array(body.get("dataPoints"), f"{element}.{kind}.dataPoints")
                out.append(
                    (element, str(name), kind, 1 if temporality == 1 else _CUMULATIVE, points)
                )
    return out


def _otel_attributes(raw: object, element: str) -> dict[str, str]:
    """Return OTLP key/value attributes as strings (booleans as ``true``/``false``)."""
    attrs: dict[str, str] = {}
    for index, item in enumerate(_array(raw, element)):
        entry = _mapping(item, f"{element}[{index}]")
        key = entry.get("key")
        if not isinstance(key, str):
            raise _Bad(f"{element}[{index}].key", "must be a string")
        value = _mapping(entry.get("value"), f"{element}[{index}].value")
        if "stringValue" in value:
            attrs[key] = str(value["stringValue"])
        elif "boolValue" in value:
            attrs[key] = "true" if value["boolValue"] is True else "false"
        elif "intValue" in value:
            attrs[key] = str(value["intValue"])
        elif "doubleValue" in value:
            attrs[key] = str(value["doubleValue"])
    return attrs


def _otel_value(point: Mapping[str, object], kind: str, where: str) -> int:
    """Return a data point's count: ``count`` (histograms), ``asInt`` or ``asDouble``.

    OTLP encodes 64-bit integers as strings (``asInt: "1"``); both forms are read.
    """
    if kind == "histogram":
        field_name = "count"
    elif "asInt" in point:
        field_name = "asInt"
    else:
        field_name = "asDouble"
    raw = point.get(field_name)
    number = _float(raw)
    if number is None or number < 0 or (field_name != "asDouble" and number != int(number)):
        raise _Bad(f"{where}.{field_name}", f"not a count: {raw!r}")
    return round(number)


def _placeholder(name: str, side: str, virtual: str, connection_type: str) -> bool:
    return name in _OTEL_PLACEHOLDERS and (virtual == side or connection_type == "virtual_node")


def _nanos(raw: object, element: str) -> int:
    if raw is None:
        return 0
    try:
        return int(str(raw))
    except ValueError:
        raise _Bad(element, f"not a time in nanoseconds: {raw!r}") from None


# --------------------------------------------------------------------------- helpers


def _services_of(calls: list[ObservedCall], others: Iterable[str]) -> tuple[str, ...]:
    names = {c.caller for c in calls} | {c.callee for c in calls}
    names.update(others)
    return tuple(sorted(names))


def _float(value: object) -> float | None:
    """Return a JSON number or numeric string as a finite float, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _mapping(value: object, element: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _Bad(element, f"must be an object, got {_json_type(value)}")
    return value


def _array(value: object, element: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(element, f"must be an array, got {_json_type(value)}")
    return value


def _name(value: object, element: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(element, "must be a non-empty string")
    return value.strip()


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
