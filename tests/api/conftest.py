"""The real ASGI app over a real store of each backend, reached with httpx.

Every test that takes ``make_api`` (or ``api``) runs once on the embedded store
and once on the real Neo4j server (``tests/conftest.py``); the apps a test
builds on Neo4j share its one database, emptied before the test.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from graphsvc.api.app import create_app
from graphsvc.api.rest import Services
from graphsvc.config import Settings

SMALL = Path(__file__).parents[1] / "data" / "core" / "small-graph.json"


class Api:
    """An app with its lifespan running and a client for it."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def services(self) -> Services:
        found: Services = self.app.state.services
        return found

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        r = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def load_small_graph(self) -> None:
        r = await self.client.post("/api/v1/ingest", json=json.loads(SMALL.read_text()))
        assert r.status_code == 200, r.text


MakeApi = Callable[..., Any]


@pytest.fixture
async def make_api(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[MakeApi]:
    """Build apps with settings overrides; every app is closed after the test."""
    stack: list[tuple[FastAPI, Any, httpx.AsyncClient]] = []
    store: dict[str, Any] = {}
    if backend == "neo4j":
        neo4j: Settings = request.getfixturevalue("empty_neo4j")
        store = {
            k: getattr(neo4j, k)
            for k in ("store", "neo4j_uri", "neo4j_user", "neo4j_password", "neo4j_database")
        }

    async def make(client_host: str = "127.0.0.1", **overrides: Any) -> Api:
        settings = Settings(
            data=tmp_path / f"g{len(stack)}.db",
            tokens_file=tmp_path / "tokens.db",
            durability="normal",
            log_format="json",
            **{**store, **overrides},
        )
        app = create_app(settings)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(client_host, 51000)),
            base_url="http://localhost",
        )
        stack.append((app, lifespan, client))
        return Api(app, client)

    yield make
    for _app, lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    """A production-mode app with no tokens (local mode) and the small graph loaded."""
    a: Api = await make_api()
    await a.load_small_graph()
    return a
