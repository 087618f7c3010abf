"""Tokens and scopes: every route and GraphQL operation checks the caller."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from graphsvc.api.tokens import Scope, TokenStore
from tests.api.conftest import Api, MakeApi

BATCH = {"source": "x", "entities": [{"kind": "Team", "key": "t"}]}


def tokens(api: Api) -> TokenStore:
    return api.services.auth.tokens


async def test_local_mode_serves_loopback_only(make_api: MakeApi) -> None:
    local: Api = await make_api()
    assert (await local.client.post("/api/v1/ingest", json=BATCH)).status_code == 200
    remote: Api = await make_api(client_host="10.1.2.3")
    r = await remote.client.get("/api/v1/runs")
    assert r.status_code == 403
    assert "local mode" in r.json()["detail"]
    r = await remote.client.post("/graphql", json={"query": "{ runs { runId } }"})
    assert r.status_code == 403


async def test_tokens_and_scopes(make_api: MakeApi) -> None:
    api: Api = await make_api(client_host="10.1.2.3", auth="tokens")
    _, reader = tokens(api).create("portal", Scope.READ)
    _, writer = tokens(api).create("k8s-importer", Scope.WRITE)
    # no token, bad token
    r = await api.client.get("/api/v1/runs")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = await api.client.get("/api/v1/runs", headers={"authorization": "Bearer gsv_nope_nope"})
    assert r.status_code == 401 and "not valid" in r.json()["detail"]
    r = await api.client.post("/graphql", json={"query": "{ runs { runId } }"})
    assert r.status_code == 401
    # a read token reads but cannot write, over REST and GraphQL
    read = {"authorization": f"Bearer {reader}"}
    assert (await api.client.get("/api/v1/runs", headers=read)).status_code == 200
    r = await api.client.post("/api/v1/ingest", json=BATCH, headers=read)
    assert r.status_code == 403 and "needs write" in r.json()["detail"]
    body = await api.gql(
        'mutation { ingest(input: {source: "x", entities: [{kind: TEAM, key: "t"}]}) { userErrors { message } } }',
        token=reader,
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # a write token writes, and its name is the actor in the history
    write = {"authorization": f"Bearer {writer}"}
    assert (await api.client.post("/api/v1/ingest", json=BATCH, headers=write)).status_code == 200
    hist = await api.gql(
        '{ entity(kind: TEAM, key: "t") { history { edges { node { actor } } } } }', token=reader
    )
    assert hist["data"]["entity"]["history"]["edges"][0]["node"]["actor"] == "k8s-importer"
    # revoked and expired tokens are refused
    tokens(api).revoke("portal")
    assert (await api.client.get("/api/v1/runs", headers=read)).status_code == 401
    _, expired = tokens(api).create(
        "old", Scope.ADMIN, expires=datetime.now(UTC) - timedelta(seconds=1)
    )
    r = await api.client.get("/api/v1/runs", headers={"authorization": f"Bearer {expired}"})
    assert r.status_code == 401


async def test_tokens_are_stored_only_as_hashes(make_api: MakeApi) -> None:
    api: Api = await make_api()
    _, plaintext = tokens(api).create("ci", Scope.ADMIN)
    secret = plaintext.split("_", 2)[2]
    raw = tokens(api).path.read_bytes()
    assert secret.encode() not in raw
    assert tokens(api).verify(plaintext) is not None
    assert tokens(api).verify(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None


async def test_local_mode_refuses_requests_addressed_to_other_names(make_api: MakeApi) -> None:
    """DNS rebinding: a page of evil.example re-pointed at 127.0.0.1 gets nothing."""
    local: Api = await make_api()
    for host in ("evil.example", "evil.example:8000", "192.168.1.5:8000", ""):
        r = await local.client.post("/api/v1/ingest", json=BATCH, headers={"host": host})
        assert r.status_code == 403, host
        assert "only requests addressed to localhost" in r.json()["detail"]
        r = await local.client.post(
            "/graphql", json={"query": "{ runs { runId } }"}, headers={"host": host}
        )
        assert r.status_code == 403, host
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"):
        r = await local.client.get("/api/v1/runs", headers={"host": host})
        assert r.status_code == 200, host
    assert (await local.client.get("/api/v1/entities/Team/t")).status_code == 404


async def test_cross_site_simple_requests_cannot_write(make_api: MakeApi) -> None:
    """CSRF: a browser sends form or text/plain POSTs without preflight; none may write."""
    local: Api = await make_api()
    before = await local.services.store.stats()
    body = b'{"source": "x", "entities": [{"kind": "Team", "key": "csrf"}]}'
    simple = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b")
    for path in ("/api/v1/ingest", "/api/v1/runs", "/api/v1/runs/abc/finish", "/graphql"):
        for content_type in simple:
            r = await local.client.post(path, content=body, headers={"content-type": content_type})
            assert r.status_code in (400, 415, 422), (path, content_type, r.status_code)
    assert await local.services.store.stats() == before
    assert await local.services.store.runs(first=10) == []


async def test_revoking_or_expiring_the_last_token_never_opens_the_server(
    make_api: MakeApi,
) -> None:
    """PRODUCT.md 6: the auth mode is fixed at start; a token server stays closed."""
    api: Api = await make_api(client_host="127.0.0.1", auth="tokens")
    _, only = tokens(api).create("only", Scope.ADMIN)
    bearer = {"authorization": f"Bearer {only}"}
    assert (await api.client.post("/api/v1/ingest", json=BATCH, headers=bearer)).status_code == 200
    tokens(api).revoke("only")
    _, short = tokens(api).create(
        "short", Scope.ADMIN, expires=datetime.now(UTC) - timedelta(seconds=1)
    )
    before = await api.services.store.stats()
    for headers in ({}, bearer, {"authorization": f"Bearer {short}"}):
        r = await api.client.post("/api/v1/ingest", json=BATCH, headers=headers)
        assert r.status_code == 401, (headers, r.text)
        r = await api.client.post("/graphql", json={"query": "{ runs { runId } }"}, headers=headers)
        assert r.status_code == 401
    assert await api.services.store.stats() == before
    assert api.services.auth.mode.value == "tokens"


async def test_auto_mode_is_chosen_once_from_the_token_file(make_api: MakeApi) -> None:
    """auto: tokens when any token was ever created (revoked ones too), else local."""
    fresh: Api = await make_api()
    assert fresh.services.auth.mode.value == "local"
    tokens(fresh).create("later", Scope.READ)
    # a token created while it runs does not switch a local server to tokens either
    assert (await fresh.client.get("/api/v1/runs")).status_code == 200
    tokens(fresh).revoke("later")
    restarted: Api = await make_api()  # the same token file: one revoked token in it
    assert restarted.services.auth.mode.value == "tokens"
    assert (await restarted.client.get("/api/v1/runs")).status_code == 401
    forced: Api = await make_api(auth="local")
    assert (await forced.client.get("/api/v1/runs")).status_code == 200
