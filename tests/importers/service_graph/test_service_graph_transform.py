"""Service graph importer: Jaeger, Kiali and OpenTelemetry samples (pure, no store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphsvc.errors import ParseError
from graphsvc.ingest.importer import ImporterOptions, ImportResult
from graphsvc.model.batch import IngestBatch
from graphsvc.model.validation import validate_batch
from importers.service_graph import ServiceGraphImporter
from importers.service_graph.model import GraphFormat

DATA = Path(__file__).parents[2] / "data" / "service_graph"
JAEGER = DATA / "jaeger-ui-dependencies-small.json"
JAEGER_API = DATA / "extra" / "jaeger-api-dependencies.json"
KIALI_SERVICE = DATA / "kiali-test_service_graph.expected.json"
KIALI_WORKLOAD = DATA / "kiali-test_workload_graph.expected.json"
OTEL_DIMENSIONS = (
    DATA / "otel-servicegraphconnector-extra-dimensions-queue-db-expected-metrics.yaml"
)
OTEL_VIRTUAL = DATA / "otel-servicegraphconnector-virtual-node-label-expected-metrics.yaml"
OTLP_JSON = DATA / "extra" / "otel-otlp-metrics.json"


def run(*paths: Path) -> ImportResult:
    importer = ServiceGraphImporter()
    options = ImporterOptions()
    return importer.transform([(p, importer.parse(p, options)) for p in paths], options)


def edges(result: ImportResult) -> dict[tuple[str, str], dict[str, object]]:
    assert {r.type.value for r in result.relations} <= {"DEPENDS_ON"}
    return {(r.from_.key or "", r.to.key or ""): dict(r.attributes) for r in result.relations}


def keys(result: ImportResult) -> list[str]:
    return [e.key for e in result.entities]


def assert_valid(result: ImportResult) -> None:
    batch = IngestBatch(
        source="service-graph", entities=list(result.entities), relations=list(result.relations)
    )
    assert validate_batch(batch) == []


def test_format_is_detected_from_content() -> None:
    importer = ServiceGraphImporter()
    options = ImporterOptions()
    assert [importer.parse(p, options).format for p in (JAEGER, JAEGER_API)] == [
        GraphFormat.JAEGER,
        GraphFormat.JAEGER,
    ]
    assert importer.parse(KIALI_WORKLOAD, options).format is GraphFormat.KIALI
    assert importer.parse(OTEL_VIRTUAL, options).format is GraphFormat.OTEL
    assert importer.parse(OTLP_JSON, options).format is GraphFormat.OTEL


def test_jaeger_ui_dependencies() -> None:
    result = run(JAEGER)
    assert keys(result) == [f"svc:Service{i}" for i in range(1, 9)]
    service1 = result.entities[0]
    assert service1.kind.value == "Service"
    assert service1.name == "Service1"
    assert service1.identifiers == {"serviceName": "Service1"}
    assert edges(result) == {
        ("svc:Service1", "svc:Service2"): {"callCount": 30489},
        ("svc:Service1", "svc:Service3"): {"callCount": 30491},
        ("svc:Service1", "svc:Service5"): {"callCount": 8560},
        ("svc:Service8", "svc:Service6"): {"callCount": 30489},
        ("svc:Service6", "svc:Service1"): {"callCount": 30489},
        ("svc:Service2", "svc:Service4"): {"callCount": 129216},
        ("svc:Service3", "svc:Service7"): {"callCount": 30491},
    }
    assert result.warnings == ()
    assert_valid(result)


def test_call_counts_are_summed_across_files_and_self_calls_skipped() -> None:
    result = run(JAEGER, JAEGER_API)
    found = edges(result)
    assert found[("svc:Service1", "svc:Service2")] == {"callCount": 30489 + 11}
    assert found[("svc:frontend", "svc:checkout")] == {"callCount": 500}
    assert ("svc:checkout", "svc:checkout") not in found
    assert "svc:checkout" in keys(result)
    assert [(w.element, w.message) for w in result.warnings] == [
        ("data[2]", "checkout calls itself; not a dependency, skipped")
    ]


def test_kiali_service_graph() -> None:
    result = run(KIALI_SERVICE)
    assert keys(result) == [
        "svc:deposit",
        "svc:details",
        "svc:ingressgateway",  # workload ingressgateway-unknown, app ingressgateway
        "svc:pricing",
        "svc:productpage",
        "svc:ratings",
        "svc:reviews",
        "svc:tcp",
    ]
    # rates are requests per second over "duration": 600 s
    assert edges(result) == {
        ("svc:ingressgateway", "svc:productpage"): {
            "callCount": 60000,
            "errorCount": 0,
            "protocol": "http",
        },
        ("svc:ingressgateway", "svc:tcp"): {"protocol": "tcp"},  # bytes, not requests
        ("svc:productpage", "svc:details"): {
            "callCount": 48000,
            "errorCount": 24000,  # http4xx 20 + http5xx 20 per second
            "protocol": "http",
        },
        ("svc:productpage", "svc:reviews"): {
            "callCount": 36000,
            "errorCount": 0,
            "protocol": "http",
        },
        ("svc:productpage", "svc:tcp"): {"protocol": "tcp"},
        ("svc:reviews", "svc:deposit"): {"callCount": 30000, "errorCount": 0, "protocol": "grpc"},
        ("svc:reviews", "svc:pricing"): {"callCount": 12000, "errorCount": 0, "protocol": "http"},
        ("svc:reviews", "svc:ratings"): {
            "callCount": 36000,
            "errorCount": 12000,
            "protocol": "http",
        },
    }
    messages = [(w.element, w.message) for w in result.warnings]
    assert (
        "elements.edges[6]",
        "call from reviews to an unknown service involves a Kiali placeholder node; skipped",
    ) in messages
    assert (
        "elements.edges[8]",
        "call from an unknown source to productpage involves a Kiali placeholder node; skipped",
    ) in messages
    assert ("elements.edges[5]", "reviews calls itself; not a dependency, skipped") in messages
    assert len(messages) == 5
    assert_valid(result)


def test_kiali_workload_graph_folds_workloads_into_their_app() -> None:
    result = run(KIALI_WORKLOAD)
    assert "svc:kiali-2412" in keys(result)  # no app label: the workload name
    assert "svc:reviews" in keys(result)
    assert not any("reviews-v" in k for k in keys(result))
    found = edges(result)
    # reviews-v2 and reviews-v3 both call ratings at 30 req/s (10 of them 5xx)
    assert found[("svc:reviews", "svc:ratings")] == {
        "callCount": 36000,
        "errorCount": 12000,
        "protocol": "http",
    }
    assert found[("svc:productpage", "svc:reviews")]["callCount"] == (20 + 20 + 20) * 600
    assert len(found) == 8
    assert_valid(result)


def test_otel_connector_extra_dimensions() -> None:
    result = run(OTEL_DIMENSIONS)
    assert keys(result) == ["svc:bar-requester", "svc:foo-server"]
    assert edges(result) == {
        ("svc:foo-server", "svc:bar-requester"): {"callCount": 1, "errorCount": 0}
    }
    assert result.warnings == ()
    assert_valid(result)


def test_otel_virtual_nodes_are_not_services() -> None:
    result = run(OTEL_VIRTUAL)
    assert keys(result) == ["svc:bar-requester", "svc:foo-server"]
    assert result.relations == ()
    prefix = "resourceMetrics[0].scopeMetrics[0].metrics"
    assert [(w.element, w.message) for w in result.warnings] == [
        (
            f"{prefix}[0].sum.dataPoints[0]",
            "call from foo-server to unknown involves an OpenTelemetry virtual node "
            "placeholder (server); skipped",
        ),
        (
            f"{prefix}[1].sum.dataPoints[0]",
            "call from user to bar-requester involves an OpenTelemetry virtual node "
            "placeholder (client); skipped",
        ),
    ]


def test_otlp_json_counts_failures_temporality_and_histograms() -> None:
    result = run(OTLP_JSON)
    assert keys(result) == [
        "svc:checkout",
        "svc:frontend",
        "svc:kafka-orders",
        "svc:payment",
        "svc:postgres",
    ]
    assert edges(result) == {
        # cumulative: latest point (100) + failed series (7); failed_total 9 counts the same
        # failures, so the larger of 7 and 9
        ("svc:frontend", "svc:checkout"): {"callCount": 107, "errorCount": 9},
        ("svc:checkout", "svc:postgres"): {
            "callCount": 40,
            "errorCount": 0,
            "connectionType": "database",
        },
        # delta: 5 + 6
        ("svc:checkout", "svc:kafka-orders"): {
            "callCount": 11,
            "errorCount": 0,
            "connectionType": "messaging_system",
        },
        ("svc:checkout", "svc:payment"): {"callCount": 12},  # from the server histogram
    }
    assert_valid(result)


def test_mixed_formats_in_one_run_are_sorted() -> None:
    paths = (JAEGER, JAEGER_API, KIALI_SERVICE, KIALI_WORKLOAD, OTEL_DIMENSIONS, OTLP_JSON)
    first = run(*paths)
    second = run(*reversed(paths))
    assert first.entities == second.entities
    assert first.relations == second.relations
    assert keys(first) == sorted(keys(first))
    found = edges(first)
    # Kiali's two graphs both report reviews -> ratings
    assert found[("svc:reviews", "svc:ratings")]["callCount"] == 72000
    assert_valid(first)


# --------------------------------------------------------------------------- malformed files


def parse_error(tmp_path: Path, name: str, content: str | bytes) -> ParseError:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    with pytest.raises(ParseError) as info:
        ServiceGraphImporter().parse(path, ImporterOptions())
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    return info.value


def test_truncated_files(tmp_path: Path) -> None:
    data = KIALI_SERVICE.read_bytes()
    error = parse_error(tmp_path, "kiali.json", data[: len(data) // 2])
    assert error.element.startswith("line ")
    assert error.reason.startswith("invalid JSON: ")
    text = OTEL_DIMENSIONS.read_text(encoding="utf-8")
    error = parse_error(
        tmp_path, "otel.yaml", text[: text.index("stringValue: kafka") + 15] + "\n  - ]"
    )
    assert error.element.startswith("line ")
    assert error.reason.startswith("invalid YAML: ")


@pytest.mark.parametrize(
    ("content", "element", "reason"),
    [
        ('{"services": ["a"]}', "top level", "not a service graph: expected a Jaeger "),
        ("just: yaml\n", "top level", "not a service graph"),
        ("[1, 2]", "[0]", "must be an object, got a number"),
        (
            '[{"parent": "a", "child": "b", "callCount": 1}, {"parent": "a"}]',
            "[1].child",
            "must be a non-empty string",
        ),
        (
            '{"data": [{"parent": "a", "child": "b", "callCount": -1}]}',
            "data[0].callCount",
            "must be a non-negative integer",
        ),
        (
            '{"data": [{"parent": "a", "child": "b", "callCount": "1"}]}',
            "data[0].callCount",
            "must be a non-negative integer",
        ),
        (
            '{"duration": 60, "elements": {"nodes": [{"data": {"id": "n1", "nodeType": "app", "app": "a"}}],'
            ' "edges": [{"data": {"source": "n1", "target": "n2"}}]}}',
            "elements.edges[0].data.target",
            "names no node: 'n2'",
        ),
        (
            '{"elements": {"nodes": [], "edges": []}}',
            "duration",
            "must be a positive number of seconds",
        ),
        (
            '{"duration": 60, "elements": {"nodes": [{"data": {"id": "n1", "nodeType": "service"}}]}}',
            "elements.nodes[0].data",
            "service node without service",
        ),
        (
            '{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "traces_service_graph_request_total",'
            ' "sum": {"dataPoints": [{"asInt": "1", "attributes": [{"key": "client", "value": {"stringValue": "a"}}]}]}}]}]}]}',
            "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[0].attributes.server",
            "must be a non-empty string",
        ),
        (
            '{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "traces_service_graph_request_total",'
            ' "sum": {"dataPoints": [{"asInt": "x", "attributes": [{"key": "client", "value": {"stringValue": "a"}},'
            ' {"key": "server", "value": {"stringValue": "b"}}]}]}}]}]}]}',
            "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[0].asInt",
            "not a count: 'x'",
        ),
        ("a: 1\n---\nb: 2\n", "top level", "expected one YAML document, found 2"),
    ],
)
def test_wrong_shapes(tmp_path: Path, content: str, element: str, reason: str) -> None:
    suffix = ".json" if content.lstrip().startswith(("{", "[")) else ".yaml"
    error = parse_error(tmp_path, f"graph{suffix}", content)
    assert error.element == element
    assert error.reason.startswith(reason)
