"""Operations endpoints: /livez, /readyz, /metrics."""

from __future__ import annotations

from tests.api.conftest import Api, MakeApi


async def test_livez_and_readyz(api: Api) -> None:
    assert (await api.client.get("/livez")).json() == {"status": "alive"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_readyz_is_503_when_the_store_cannot_serve(make_api: MakeApi) -> None:
    api = await make_api(worker_threads=1)
    # closed on the one worker loop, where the webhook scheduler reads too: closed on
    # this thread, it could close a connection under one of the scheduler's reads
    # (a segfault of the whole suite, once)
    await api.services.run(api.services.store.close)
    r = await api.client.get("/readyz")
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert "store" in r.json()["detail"]
    assert (await api.client.get("/livez")).status_code == 200  # liveness checks no dependency


async def test_metrics_count_requests_per_route_and_operation_and_report_store_size(
    api: Api,
) -> None:
    await api.client.post(
        "/graphql",
        json={"query": "query Probe { entities { totalCount } }", "operationName": "Probe"},
    )
    await api.client.get("/api/v1/entities/Service/checkout")
    text = (await api.client.get("/metrics")).text
    assert (
        'graphsvc_http_requests_total{method="GET",route="/api/v1/entities/{kind}/{key:path}",status="200"} 1.0'
        in text
    )
    assert 'graphsvc_graphql_operations_total{operation="Probe"} 1.0' in text
    assert "graphsvc_http_request_duration_seconds_bucket" in text
    assert "graphsvc_store_entities 5.0" in text
    assert "graphsvc_store_relations 4.0" in text


async def test_metrics_labels_stay_bounded(api: Api) -> None:
    """Random paths, methods and operation names cannot grow the metrics without bound."""
    for i in range(250):
        await api.client.post(
            "/graphql",
            json={"query": f"query Op{i} {{ runs {{ runId }} }}", "operationName": f"Op{i}"},
        )
    for i in range(20):
        await api.client.get(f"/random/{i}")
        await api.client.request(f"BREW{i}", "/api/v1/runs")
    text = (await api.client.get("/metrics")).text
    assert 'operation="Op0"' in text and 'operation="other"' in text
    assert 'operation="Op249"' not in text
    assert "/random/" not in text and "BREW" not in text
    assert 'route="unmatched"' in text and 'route="/graphql"' in text
