"""``GET /api/v1/reports/changes/{key}``: the CAB report in three formats, read scope, 404."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from graphsvc.api.tokens import Scope
from graphsvc.demo import demo_batches
from tests.api.conftest import Api, MakeApi

TODAY = datetime.date(2025, 3, 10)
SCHEMA = Path(__file__).parents[2] / "schema" / "change-report.schema.json"
URL = "/api/v1/reports/changes/CHG0041215"


async def demo_api(make_api: MakeApi, **overrides: object) -> Api:
    api: Api = await make_api(**overrides)
    for batch in demo_batches(TODAY):
        await api.services.engine.ingest(batch)
    return api


async def test_three_formats_with_their_content_types(make_api: MakeApi) -> None:
    api = await demo_api(make_api)
    html = await api.client.get(URL)
    assert html.status_code == 200
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert html.text.startswith("<!DOCTYPE html>")
    assert "BLACKOUT" in html.text and "blackout-billing-month-end-close" in html.text
    if shutil.which("dot"):
        assert "<svg" in html.text
    assert 'filename="change-report-CHG0041215.html"' in html.headers["content-disposition"]

    md = await api.client.get(URL, params={"format": "md"})
    assert md.status_code == 200
    assert md.headers["content-type"] == "text/markdown; charset=utf-8"
    assert md.text.startswith("# Change review: CHG0041215")

    js = await api.client.get(URL, params={"format": "json"})
    assert js.status_code == 200
    assert js.headers["content-type"] == "application/json"
    body = js.json()
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(body)
    assert body["conflicts"][0]["kind"] == "BLACKOUT"
    assert body["asOf"] is None


async def test_as_of_unknown_change_and_bad_parameters(make_api: MakeApi) -> None:
    api = await demo_api(make_api)
    now = datetime.datetime.now(datetime.UTC).isoformat()
    r = await api.client.get(URL, params={"format": "json", "asOf": now})
    assert r.status_code == 200 and r.json()["asOf"] is not None
    # before the demo was loaded the change did not exist
    r = await api.client.get(URL, params={"asOf": "2000-01-01T00:00:00Z"})
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"

    r = await api.client.get("/api/v1/reports/changes/CHG-NOPE")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 404 and "CHG-NOPE" in problem["detail"]

    r = await api.client.get(URL, params={"asOf": "2025-03-10T00:00:00"})
    assert r.status_code == 400 and "time zone" in r.json()["detail"]
    r = await api.client.get(URL, params={"format": "pdf"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


async def test_needs_the_read_scope(make_api: MakeApi) -> None:
    api = await demo_api(make_api, client_host="10.1.2.3", auth="tokens")
    _, reader = api.services.auth.tokens.create("cab-portal", Scope.READ)
    assert (await api.client.get(URL)).status_code == 401
    r = await api.client.get(URL, headers={"authorization": f"Bearer {reader}"})
    assert r.status_code == 200


@pytest.mark.parametrize("fmt", ["html", "md", "json"])
async def test_is_documented_in_openapi(make_api: MakeApi, fmt: str) -> None:
    api: Api = await make_api()
    spec = (await api.client.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/reports/changes/{key}"]["get"]
    content = operation["responses"]["200"]["content"]
    media = {"html": "text/html", "md": "text/markdown", "json": "application/json"}[fmt]
    assert media in content
    names = {p["name"] for p in operation["parameters"]}
    assert {"key", "format", "asOf"} <= names
