"""Authorisation sweep: every root query field, every mutation, every route, every token state.

The tables below name the scope each operation needs. They must cover the whole
surface: a field or route added without an entry here fails
``test_the_sweep_covers_the_whole_surface``, so nothing new ships unchecked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import graphsvc.api.tokens as tokens_module
from graphsvc.api.explorer.routes import STYLESHEET
from graphsvc.api.graphql.schema import build_schema
from graphsvc.api.tokens import Scope, TokenStore
from graphsvc.config import Settings
from tests.api.conftest import SMALL, Api, MakeApi

QUERIES: dict[str, str] = {
    "impact": "{ impact(ids: [$ID]) { summary { deepest } } }",
    "dependencies": "{ dependencies(ids: [$ID]) { summary { deepest } } }",
    "ownership": "{ ownership(id: $ID) { entity { key } } }",
    "orphans": "{ orphans { pageInfo { hasNextPage } } }",
    "ghostOwners": "{ ghostOwners { pageInfo { hasNextPage } } }",
    "health": "{ health { score checks { name } } }",
    "changeImpact": '{ changeImpact(key: "CHG-1") { riskScore } }',
    "consolidationReadiness": '{ consolidationReadiness(projectKey: "P-1") { status } }',
    "consolidationCandidates": "{ consolidationCandidates { capability } }",
    "node": "{ node(id: $ID) { id } }",
    "entity": '{ entity(kind: SERVICE, key: "checkout") { key } }',
    "entities": "{ entities { totalCount } }",
    "runs": "{ runs { runId } }",
    "identityConflicts": "{ identityConflicts { edges { cursor } } }",
    "events": "{ events(first: 5) { edges { cursor } pageInfo { endCursor } } }",
    "teamLoad": '{ teamLoad(teamKey: "payments", from: "2030-01-07T00:00:00Z",'
    ' to: "2030-01-20T00:00:00Z") { worst } }',
    "capacityForecast": '{ capacityForecast(from: "2030-01-07T00:00:00Z",'
    ' to: "2030-01-20T00:00:00Z") { teamsLookedAt } }',
    "projectPlan": '{ projectPlan(projectKey: "P-1") { status } }',
    "singlePointsOfFailure": "{ singlePointsOfFailure(id: $ID) { dependencies } }",
    "dependencyCycles": "{ dependencyCycles { totalCount } }",
}
"""Every root query field that needs ``read``."""

ADMIN_QUERIES: dict[str, str] = {
    "webhooks": "{ webhooks { id deliveries(first: 1) { hasMore } } }",
}
"""Root query fields that need ``admin``."""

MUTATIONS: dict[str, str] = {
    "ingest": 'mutation { ingest(input: {source: "sweep", entities: [{kind: TEAM, key: "sweep"}]})'
    " { userErrors { message } } }",
    "startRun": 'mutation { startRun(input: {source: "sweep"}) { run { runId } } }',
    "finishRun": 'mutation { finishRun(input: {runId: "nope", complete: false})'
    " { userErrors { message } } }",
}
"""Every mutation that needs ``write``."""

NO_HOOK = "wh_" + "0" * 24
ADMIN_MUTATIONS: dict[str, str] = {
    "createWebhook": 'mutation { createWebhook(input: {url: "ftp://x"}) { userErrors { code } } }',
    "disableWebhook": f'mutation {{ disableWebhook(id: "{NO_HOOK}") {{ userErrors {{ code }} }} }}',
    "enableWebhook": f'mutation {{ enableWebhook(id: "{NO_HOOK}") {{ userErrors {{ code }} }} }}',
    "deleteWebhook": f'mutation {{ deleteWebhook(id: "{NO_HOOK}") {{ userErrors {{ code }} }} }}',
    "resendWebhookDelivery": f'mutation {{ resendWebhookDelivery(id: "{NO_HOOK}", number: 1)'
    " { userErrors { code } } }",
    "mergeEntities": 'mutation { mergeEntities(survivor: "nope", other: "nope")'
    " { userErrors { code } } }",
    "dismissIdentityConflict": 'mutation { dismissIdentityConflict(id: "999999", reason: "sweep")'
    " { userErrors { code } } }",
}
"""Mutations that need ``admin`` (each answers a user error here: nothing to act on)."""

SUBSCRIPTIONS: dict[str, str] = {"events": "subscription { events { cursor } }"}
"""Every subscription: all need ``read`` (over graphql-transport-ws; tested with a real
server in ``tests/api/test_event_stream.py``)."""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    needs: Scope
    body: Any = None
    headers: dict[str, str] | None = None


BATCH = {"source": "sweep", "entities": [{"kind": "Team", "key": "sweep-rest"}]}
ROUTES: dict[tuple[str, str], Route] = {
    ("post", "/api/v1/ingest"): Route("POST", "/api/v1/ingest", Scope.WRITE, BATCH),
    ("post", "/api/v1/runs"): Route("POST", "/api/v1/runs", Scope.WRITE, {"source": "sweep"}),
    ("get", "/api/v1/runs"): Route("GET", "/api/v1/runs", Scope.READ),
    ("get", "/api/v1/identity-conflicts"): Route("GET", "/api/v1/identity-conflicts", Scope.READ),
    ("get", "/api/v1/events"): Route("GET", "/api/v1/events?after=0&limit=5", Scope.READ),
    ("get", "/api/v1/single-points-of-failure"): Route(
        "GET", "/api/v1/single-points-of-failure?ref=Service/checkout", Scope.READ
    ),
    ("get", "/api/v1/dependency-cycles"): Route("GET", "/api/v1/dependency-cycles", Scope.READ),
    ("post", "/api/v1/webhooks"): Route(
        "POST", "/api/v1/webhooks", Scope.ADMIN, {"url": "ftp://refused.example.org"}
    ),
    ("get", "/api/v1/webhooks"): Route("GET", "/api/v1/webhooks", Scope.ADMIN),
    ("get", "/api/v1/webhooks/{webhook_id}"): Route(
        "GET", f"/api/v1/webhooks/{NO_HOOK}", Scope.ADMIN
    ),
    ("delete", "/api/v1/webhooks/{webhook_id}"): Route(
        "DELETE", f"/api/v1/webhooks/{NO_HOOK}", Scope.ADMIN
    ),
    ("post", "/api/v1/webhooks/{webhook_id}/disable"): Route(
        "POST", f"/api/v1/webhooks/{NO_HOOK}/disable", Scope.ADMIN
    ),
    ("post", "/api/v1/webhooks/{webhook_id}/enable"): Route(
        "POST", f"/api/v1/webhooks/{NO_HOOK}/enable", Scope.ADMIN
    ),
    ("get", "/api/v1/webhooks/{webhook_id}/deliveries"): Route(
        "GET", f"/api/v1/webhooks/{NO_HOOK}/deliveries", Scope.ADMIN
    ),
    ("post", "/api/v1/webhooks/{webhook_id}/deliveries/{number}/resend"): Route(
        "POST", f"/api/v1/webhooks/{NO_HOOK}/deliveries/1/resend", Scope.ADMIN
    ),
    # an admin merge of an entity with itself (400), a dismissal of no conflict (404)
    ("post", "/api/v1/entities/merge"): Route(
        "POST",
        "/api/v1/entities/merge",
        Scope.ADMIN,
        {"survivor": "Service/checkout", "other": "SERVICE/checkout"},
    ),
    ("post", "/api/v1/identity-conflicts/{seq}/dismiss"): Route(
        "POST", "/api/v1/identity-conflicts/999999/dismiss", Scope.ADMIN, {"reason": "sweep"}
    ),
    # an invalid Last-Event-ID is refused after the scope check, before anything streams
    ("get", "/api/v1/events/stream"): Route(
        "GET", "/api/v1/events/stream", Scope.READ, headers={"Last-Event-ID": "x"}
    ),
    ("post", "/api/v1/runs/{run_id}/finish"): Route(
        "POST", "/api/v1/runs/nope/finish", Scope.WRITE, {"complete": False}
    ),
    ("get", "/api/v1/entities/{kind}/{key}"): Route(
        "GET", "/api/v1/entities/Service/checkout", Scope.READ
    ),
    ("get", "/api/v1/entities"): Route("GET", "/api/v1/entities?kind=SERVICE&q=check", Scope.READ),
    ("get", "/api/v1/impact"): Route("GET", "/api/v1/impact?ref=Service/checkout", Scope.READ),
    ("get", "/api/v1/dependencies"): Route(
        "GET", "/api/v1/dependencies?ref=SERVICE/checkout", Scope.READ
    ),
    ("get", "/api/v1/ownership"): Route(
        "GET", "/api/v1/ownership?ref=Service/checkout", Scope.READ
    ),
    ("post", "/api/v1/entities/resolve"): Route(
        "POST",
        "/api/v1/entities/resolve",
        Scope.READ,
        {"refs": [{"kind": "Service", "key": "checkout"}]},
    ),
    ("get", "/api/v1/teams/{key}/load"): Route(
        "GET", "/api/v1/teams/payments/load?from=2030-01-07&to=2030-01-20", Scope.READ
    ),
    ("get", "/api/v1/capacity-forecast"): Route(
        "GET", "/api/v1/capacity-forecast?from=2030-01-07&to=2030-01-20", Scope.READ
    ),
    ("get", "/api/v1/projects/{key}/plan"): Route("GET", "/api/v1/projects/P-1/plan", Scope.READ),
    ("get", "/api/v1/reports/changes/{key}"): Route(
        "GET", "/api/v1/reports/changes/CHG-1?format=json", Scope.READ
    ),
    ("get", "/api/v1/health"): Route("GET", "/api/v1/health", Scope.READ),
    ("get", "/api/v1/health/checks/{name}/entities"): Route(
        "GET", "/api/v1/health/checks/orphans/entities?first=1", Scope.READ
    ),
    ("get", "/api/v1/reports/health"): Route("GET", "/api/v1/reports/health?format=md", Scope.READ),
}
"""Every REST operation of the OpenAPI document and the scope it needs."""

PUBLIC = ["/livez", "/readyz", "/metrics", "/openapi.json", STYLESHEET.path]
"""Routes answered without a token: probes, the API description, the explorer's stylesheet."""


@dataclass
class Tokens:
    reader: str
    writer: str
    admin: str
    revoked: str
    expired: str

    def of(self, scope: Scope) -> str:
        return {Scope.READ: self.reader, Scope.WRITE: self.writer, Scope.ADMIN: self.admin}[scope]


def bearer(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


@pytest.fixture
async def guarded(make_api: MakeApi) -> tuple[Api, Tokens]:
    """An app with tokens configured (so no local mode), seen from a remote client."""
    api: Api = await make_api(client_host="10.1.2.3", auth="tokens")
    store: TokenStore = api.services.auth.tokens
    expires = datetime.now(UTC) - timedelta(seconds=1)
    made = Tokens(
        reader=store.create("portal", Scope.READ)[1],
        writer=store.create("k8s-importer", Scope.WRITE)[1],
        admin=store.create("ops", Scope.ADMIN)[1],
        revoked=store.create("old-portal", Scope.ADMIN)[1],
        expired=store.create("temp", Scope.ADMIN, expires=expires)[1],
    )
    store.revoke("old-portal")
    r = await api.client.post(
        "/api/v1/ingest", json=json.loads(SMALL.read_text()), headers=bearer(made.writer)
    )
    assert r.status_code == 200, r.text
    return api, made


def test_the_sweep_covers_the_whole_surface() -> None:
    schema = build_schema(Settings(env="development"))._schema
    assert schema.query_type is not None and schema.mutation_type is not None
    assert set(schema.query_type.fields) == set(QUERIES) | set(ADMIN_QUERIES)
    assert set(schema.mutation_type.fields) == set(MUTATIONS) | set(ADMIN_MUTATIONS)
    assert schema.subscription_type is not None
    assert set(schema.subscription_type.fields) == set(SUBSCRIPTIONS)


async def test_the_sweep_covers_every_rest_operation(guarded: tuple[Api, Tokens]) -> None:
    api, _ = guarded
    document = (await api.client.get("/openapi.json")).json()
    operations = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert operations == set(ROUTES)


async def _gql(api: Api, query: str, token: str | None) -> tuple[int, dict[str, Any]]:
    r = await api.client.post("/graphql", json={"query": query}, headers=bearer(token))
    return r.status_code, (r.json() if r.content else {})


def _codes(body: dict[str, Any]) -> set[str]:
    return {(e.get("extensions") or {}).get("code", "") for e in body.get("errors", [])}


async def _a_global_id(api: Api, token: str) -> str:
    _, body = await _gql(api, '{ entity(kind: SERVICE, key: "checkout") { id } }', token)
    found: str = body["data"]["entity"]["id"]
    return found


async def test_every_query_field_needs_a_valid_token_and_read(
    guarded: tuple[Api, Tokens],
) -> None:
    api, tok = guarded
    gid = json.dumps(await _a_global_id(api, tok.reader))
    for field, template in QUERIES.items():
        query = template.replace("$ID", gid)
        for token in (None, "gsv_forged_secret", tok.revoked, tok.expired):
            status, body = await _gql(api, query, token)
            assert status == 401, (field, token, body)
            assert "data" not in body, field
        for token in (tok.reader, tok.writer, tok.admin):
            status, body = await _gql(api, query, token)
            assert status == 200, (field, body)
            assert "FORBIDDEN" not in _codes(body), (field, body)
            # answered: data, or NOT_FOUND for the keys this sweep makes up
            assert body.get("data") is not None or _codes(body) == {"NOT_FOUND"}, (field, body)


async def test_every_mutation_needs_write_and_a_refused_one_writes_nothing(
    guarded: tuple[Api, Tokens],
) -> None:
    api, tok = guarded
    before = await api.services.store.stats()
    runs_before = await api.services.store.runs(first=500)
    for field, mutation in MUTATIONS.items():
        for token in (None, tok.revoked, tok.expired):
            status, _ = await _gql(api, mutation, token)
            assert status == 401, field
        status, body = await _gql(api, mutation, tok.reader)
        assert status == 200 and _codes(body) == {"FORBIDDEN"}, (field, body)
        assert "does not allow write" in body["errors"][0]["message"]
    assert await api.services.store.stats() == before
    assert await api.services.store.runs(first=500) == runs_before
    for field, mutation in MUTATIONS.items():
        for token in (tok.writer, tok.admin):
            status, body = await _gql(api, mutation, token)
            assert status == 200 and "errors" not in body, (field, body)


async def test_every_admin_field_needs_admin_and_a_refused_one_does_nothing(
    guarded: tuple[Api, Tokens],
) -> None:
    api, tok = guarded
    for field, document in {**ADMIN_QUERIES, **ADMIN_MUTATIONS}.items():
        for token in (None, tok.revoked, tok.expired):
            status, _ = await _gql(api, document, token)
            assert status == 401, field
        for token in (tok.reader, tok.writer):
            status, body = await _gql(api, document, token)
            assert status == 200 and "FORBIDDEN" in _codes(body), (field, body)
            assert not (body.get("data") or {}).get(field), (field, body)
        status, body = await _gql(api, document, tok.admin)
        assert status == 200 and "errors" not in body, (field, body)
    assert await api.services.store.webhooks.list() == []


async def test_every_rest_route_needs_its_scope(guarded: tuple[Api, Tokens]) -> None:
    api, tok = guarded
    order = [Scope.READ, Scope.WRITE, Scope.ADMIN]
    for route in ROUTES.values():
        extra = route.headers or {}
        for token in (None, "gsv_forged_secret", tok.revoked, tok.expired):
            r = await api.client.request(
                route.method, route.path, json=route.body, headers=bearer(token) | extra
            )
            assert r.status_code == 401, (route, token, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
        for scope in order:
            before = await api.services.store.stats()
            r = await api.client.request(
                route.method, route.path, json=route.body, headers=bearer(tok.of(scope)) | extra
            )
            if order.index(scope) < order.index(route.needs):
                assert r.status_code == 403, (route, scope, r.text)
                assert f"this needs {route.needs.value}" in r.json()["detail"]
                assert await api.services.store.stats() == before, route
            else:
                assert r.status_code not in (401, 403), (route, scope, r.text)


async def test_public_routes_carry_no_graph_data(guarded: tuple[Api, Tokens]) -> None:
    api, _ = guarded
    for path in PUBLIC:
        r = await api.client.get(path)
        assert r.status_code == 200, path
        assert "checkout" not in r.text and "payments" not in r.text, path


async def test_writes_record_the_token_name_as_actor(guarded: tuple[Api, Tokens]) -> None:
    api, tok = guarded
    status, _ = await _gql(api, MUTATIONS["ingest"], tok.admin)
    assert status == 200
    _, body = await _gql(
        api,
        "{ entities(kind: TEAM) { edges { node { key history { edges { node { actor } } } } } } }",
        tok.reader,
    )
    actors = {
        edge["node"]["key"]: {h["node"]["actor"] for h in edge["node"]["history"]["edges"]}
        for edge in body["data"]["entities"]["edges"]
    }
    assert actors["payments"] == {"k8s-importer"}  # loaded over REST with the write token
    assert actors["sweep"] == {"ops"}  # the GraphQL mutation with the admin token


def test_token_digests_are_compared_in_constant_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TokenStore(tmp_path / "tokens.db")
    _, plaintext = store.create("ci", Scope.READ)
    compared: list[tuple[bytes, bytes]] = []
    real = tokens_module.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens_module.hmac, "compare_digest", spy)
    assert store.verify(plaintext) is not None
    assert store.verify(plaintext[:-2] + "zz") is None
    token_id = plaintext.split("_")[1]
    assert store.verify(f"gsv_{token_id}x_whatever") is None  # unknown id: compared too
    assert len(compared) == 3
    secret = plaintext.split("_", 2)[2].encode()
    raw = store.path.read_bytes()
    assert secret not in raw and plaintext.encode() not in raw
    store.close()


PAGES = [
    "/search?q=check",
    "/entity/Service/checkout",
    "/impact?ref=Service/checkout",
    "/impact?ref=Service/checkout&ref=ConfigurationItem/pg-main",
    "/entity/Service/checkout?outType=DEPENDS_ON&inType=OWNS&historyOrder=oldest",
    "/health",
    "/change/CHG-SWEEP",
    "/change/CHG-SWEEP?download=json",
    "/calendar?from=2030-01-07",
    "/team/payments",
    "/project/PRJ-checkout",
]
"""The explorer's pages that show graph data (``/`` and ``/sign-in`` show none)."""

SWEEP_PROJECT = {
    "source": "handwritten",
    "scope": "sweep-project",
    "entities": [{"kind": "Project", "key": "PRJ-checkout", "name": "Checkout consolidation"}],
    "relations": [
        {
            "type": "CONSOLIDATES",
            "from": {"kind": "Project", "key": "PRJ-checkout"},
            "to": {"kind": "Service", "key": "payments-api"},
        }
    ],
}
"""A project over the small graph, for the project page (the small graph has none)."""


async def test_every_explorer_page_needs_a_session_or_a_read_token(
    guarded: tuple[Api, Tokens],
) -> None:
    api, tok = guarded
    change = {  # a change on checkout, so the change page has one to show
        "source": "sweep",
        "scope": "sweep",
        "entities": [
            {
                "kind": "Change",
                "key": "CHG-SWEEP",
                "attributes": {
                    "plannedStart": "2030-01-08T20:00:00Z",
                    "plannedEnd": "2030-01-08T22:00:00Z",
                },
            },
            {"kind": "Service", "key": "checkout"},
        ],
        "relations": [
            {
                "type": "MODIFIES",
                "from": {"kind": "Change", "key": "CHG-SWEEP"},
                "to": {"kind": "Service", "key": "checkout"},
            }
        ],
    }
    for batch in (change, SWEEP_PROJECT):
        r = await api.client.post("/api/v1/ingest", json=batch, headers=bearer(tok.writer))
        assert r.status_code == 200, r.text
    for path in PAGES:
        r = await api.client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/sign-in?next="), path
        api.client.cookies.set("gsv_session", "forged-session-id")
        forged = await api.client.get(path)
        api.client.cookies.clear()
        assert forged.status_code == 303, path
        for token in ("gsv_forged_secret", tok.revoked, tok.expired):
            r = await api.client.get(path, headers=bearer(token))
            assert r.status_code == 401 and "checkout" not in r.text, (path, token)
        for scope in (Scope.READ, Scope.WRITE, Scope.ADMIN):
            r = await api.client.get(path, headers=bearer(tok.of(scope)))
            assert r.status_code == 200, (path, scope, r.text[-300:])
    for path in ("/", "/sign-in"):
        r = await api.client.get(path)
        assert r.status_code == 200 and "checkout" not in r.text, path
