"""REST at /api/v1 through the real app: ingest (JSON and NDJSON), runs, entities, problems."""

from __future__ import annotations

from tests.api.conftest import Api, MakeApi

PROBLEM = "application/problem+json"


async def test_get_entity_and_404_problem(api: Api) -> None:
    r = await api.client.get("/api/v1/entities/ConfigurationItem/pg-main")
    assert r.status_code == 200
    body = r.json()
    assert (body["kind"], body["key"], body["attributes"]["ciClass"]) == (
        "ConfigurationItem",
        "pg-main",
        "database",
    )
    assert body["provenance"]["attributes.ciClass"]["source"] == "handwritten"
    missing = await api.client.get("/api/v1/entities/Service/nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert "no entity has this key: Service/nope" in missing.json()["detail"]
    bad_kind = await api.client.get("/api/v1/entities/Servce/x")
    assert bad_kind.status_code == 422 and bad_kind.headers["content-type"] == PROBLEM


async def test_rejected_batch_is_a_422_problem_naming_every_item(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/ingest",
        json={
            "source": "x",
            "entities": [
                {"kind": "Service", "key": "a", "attributes": {"tier": 0}},
                {"kind": "Servce", "key": "b"},
            ],
        },
    )
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    errors = r.json()["errors"]
    assert [(e["section"], e["index"], e["field"]) for e in errors] == [
        ("entities", 0, "kind"),
        ("entities", 1, "kind"),
    ] or [(e["section"], e["index"]) for e in errors] == [("entities", 0), ("entities", 1)]
    assert (await api.client.get("/api/v1/entities/Service/a")).status_code == 404


async def test_dry_run_reports_planned_changes(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/ingest",
        json={
            "source": "handwritten",
            "dryRun": True,
            "entities": [{"kind": "Service", "key": "checkout", "attributes": {"tier": 2}}],
        },
    )
    body = r.json()
    assert body["dryRun"] and body["entitiesUpdated"] == 1
    assert body["changes"][0]["op"] == "update"
    still = (await api.client.get("/api/v1/entities/Service/checkout")).json()
    assert still["attributes"]["tier"] == 1


async def test_media_type_and_size_limits(make_api: MakeApi) -> None:
    api: Api = await make_api(max_body_bytes=2048)
    r = await api.client.post(
        "/api/v1/ingest",
        content=b"source=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415 and r.headers["content-type"] == PROBLEM
    big = {"source": "x", "entities": [{"kind": "Team", "key": f"t{i}"} for i in range(200)]}
    r = await api.client.post("/api/v1/ingest", json=big)
    assert r.status_code == 413 and "NDJSON" in r.json()["detail"]
    r = await api.client.post(
        "/api/v1/ingest", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]


async def test_ndjson_stream_is_cut_into_batches_as_one_run(api: Api) -> None:
    lines = [f'{{"kind": "Team", "key": "team-{i}"}}' for i in range(25)]
    lines += [
        f'{{"type": "OWNS", "from": {{"kind": "Team", "key": "team-{i}"}}, "to": {{"kind": "Service", "key": "checkout"}}}}'
        for i in range(5)
    ]
    body = ("\n".join(lines) + "\n").encode()
    r = await api.client.post(
        "/api/v1/ingest?source=hr&scope=org&batchSize=10&complete=true",
        content=body,
        headers={"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    summary = r.json()
    assert (summary["entitiesCreated"], summary["relationsCreated"], summary["batches"]) == (
        25,
        5,
        3,
    )
    assert summary["runState"] == "complete"
    runs = (await api.client.get("/api/v1/runs?source=hr")).json()
    assert runs[0]["batches"] == 3 and runs[0]["state"] == "complete"


async def test_ndjson_stream_error_names_the_line_and_keeps_earlier_batches(api: Api) -> None:
    lines = [f'{{"kind": "Team", "key": "u-{i}"}}' for i in range(4)] + [
        '{"kind": "Team", "key": "u-bad", "attributes": {"email": "nope"}}'
    ]
    r = await api.client.post(
        "/api/v1/ingest?source=hr2&batchSize=2&complete=true",
        content=("\n".join(lines)).encode(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 422
    problem = r.json()
    assert problem["errors"][0]["section"] == "line" and problem["errors"][0]["index"] == 5
    assert "2 applied before it" in problem["detail"]
    assert (await api.client.get("/api/v1/entities/Team/u-0")).status_code == 200
    runs = (await api.client.get("/api/v1/runs?source=hr2")).json()
    assert runs[0]["state"] == "incomplete"
    r = await api.client.post(
        "/api/v1/ingest", content=b"[1,2]\n", headers={"content-type": "application/x-ndjson"}
    )
    assert r.status_code == 422 and "source" in r.json()["detail"]


async def test_runs_over_rest(api: Api) -> None:
    run = (await api.client.post("/api/v1/runs", json={"source": "k8s", "scope": "prod"})).json()
    batch = {
        "source": "k8s",
        "scope": "prod",
        "runId": run["runId"],
        "entities": [{"kind": "Team", "key": "sre"}],
    }
    assert (await api.client.post("/api/v1/ingest", json=batch)).status_code == 200
    done = await api.client.post(f"/api/v1/runs/{run['runId']}/finish", json={"complete": True})
    assert done.status_code == 200 and done.json()["runState"] == "complete"
    again = await api.client.post(f"/api/v1/runs/{run['runId']}/finish", json={"complete": True})
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    missing = await api.client.post("/api/v1/runs/nope/finish", json={"complete": True})
    assert missing.status_code == 404


async def test_openapi_document(api: Api) -> None:
    doc = (await api.client.get("/openapi.json")).json()
    assert {"/api/v1/ingest", "/api/v1/runs", "/api/v1/entities/{kind}/{key}"} <= set(doc["paths"])
    body = doc["paths"]["/api/v1/ingest"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/x-ndjson"}
    assert "IngestBatch" in doc["components"]["schemas"]
