"""``graphsvc import FORMAT PATH... --url URL --token TOKEN`` against a real served graphsvc.

Each server is a ``graphsvc serve`` subprocess on a free loopback port with its
own data folder; tokens are created with ``graphsvc token create`` before it
starts, so it requires them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

DATA = Path(__file__).parents[1] / "data"
BOUTIQUE = DATA / "kubernetes" / "online-boutique-release-kubernetes-manifests.yaml"
FRONTEND = "k8s/boutique/default/deployment/frontend"


@dataclass(frozen=True)
class Server:
    url: str
    folder: Path
    write_token: str
    read_token: str

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.read_token}"}
        return httpx.get(self.url + path, headers=headers, timeout=10)

    def graphql(self, query: str) -> dict[str, Any]:
        answer = httpx.post(
            self.url + "/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {self.read_token}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GRAPHSVC_DATA": str(folder / "g.db"), "COLUMNS": "200"}
    environment.pop("GRAPHSVC_TOKEN", None)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "graphsvc.cli.main", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=folder,
        timeout=120,
        check=False,
    )


def start_server(folder: Path, **settings: str) -> Iterator[Server]:
    folder.mkdir(parents=True, exist_ok=True)
    tokens = {}
    for name, scope in (("importer", "write"), ("portal", "read")):
        created = run_cli(folder, "token", "create", name, "--scope", scope)
        assert created.returncode == 0, created.stderr
        tokens[scope] = created.stdout.strip()
    port = free_port()
    env = {**os.environ, "GRAPHSVC_DATA": str(folder / "g.db"), "GRAPHSVC_DURABILITY": "normal"}
    env.update({f"GRAPHSVC_{k.upper()}": v for k, v in settings.items()})
    log = (folder / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphsvc.cli.main", "serve", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError((folder / "serve.log").read_text())
            time.sleep(0.1)
        yield Server(url, folder, tokens["write"], tokens["read"])
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(tmp_path_factory.mktemp("served"))


def remote_import(
    server: Server, tmp_path: Path, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    # the client gets its own (empty) data folder: nothing may be written locally
    return run_cli(
        tmp_path,
        "import",
        *args,
        "--url",
        server.url,
        env={"GRAPHSVC_TOKEN": token if token is not None else server.write_token},
    )


def count(server: Server) -> int:
    total: int = server.graphql("{ entities { totalCount } }")["entities"]["totalCount"]
    return total


def test_remote_import_arrives_and_reimport_changes_nothing(server: Server, tmp_path: Path) -> None:
    first = remote_import(server, tmp_path, "kubernetes", str(BOUTIQUE), "--scope", "boutique")
    assert first.returncode == 0, first.stderr
    # the same summary table as the local import
    assert "kubernetes import: run" in first.stdout
    assert "│ created      │       24 │        28 │" in first.stdout
    assert "kind ServiceAccount is not imported" in first.stderr  # warnings as locally
    assert not (tmp_path / "g.db").exists()

    entity = server.get(f"/api/v1/entities/ConfigurationItem/{FRONTEND}")
    assert entity.status_code == 200, entity.text
    body = entity.json()
    assert body["attributes"]["ciClass"] == "k8s_deployment"
    assert {p["source"] for p in body["provenance"].values()} == {"kubernetes"}
    assert count(server) == 24
    runs = server.get("/api/v1/runs?source=kubernetes").json()
    assert runs[0]["state"] == "complete" and runs[0]["batches"] == 2

    # the bulk lookup the remote import uses for dangling relations
    resolved = httpx.post(
        server.url + "/api/v1/entities/resolve",
        json={
            "refs": [
                {"kind": "ConfigurationItem", "key": FRONTEND},
                {"kind": "Service", "key": FRONTEND},
                {"kind": "ConfigurationItem", "identifiers": {"fqdn": "nowhere.example.com"}},
            ]
        },
        headers={"Authorization": f"Bearer {server.read_token}"},
        timeout=10,
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["ids"] == [body["id"], None, None]

    again = remote_import(server, tmp_path, "kubernetes", str(BOUTIQUE), "--scope", "boutique")
    assert again.returncode == 0, again.stderr
    assert "│ created      │        0 │         0 │" in again.stdout
    assert "│ updated      │        0 │         0 │" in again.stdout
    assert "│ unchanged    │       24 │        28 │" in again.stdout
    assert "│ marked stale │        0 │" in again.stdout
    assert count(server) == 24


def test_dangling_relations_are_resolved_on_the_server(server: Server, tmp_path: Path) -> None:
    # a Backstage component on the server; a Deployment labelled for it is imported
    # remotely: its RUNS_ON is kept, the one naming an unknown component is dropped
    catalog = tmp_path / "catalog-info.yaml"
    catalog.write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: shop-cart\n"
        "  annotations:\n    backstage.io/kubernetes-id: cart\n"
        "spec:\n  type: service\n  lifecycle: production\n  owner: team-a\n"
    )
    done = remote_import(server, tmp_path, "backstage", str(catalog), "--scope", "dangling")
    assert done.returncode == 0, done.stderr
    manifests = tmp_path / "apps.yaml"
    manifests.write_text(
        yaml.safe_dump_all(
            [
                deployment("cart", labels={"backstage.io/kubernetes-id": "cart"}),
                deployment("ghost", labels={"backstage.io/kubernetes-id": "nobody"}),
            ]
        )
    )
    result = remote_import(server, tmp_path, "kubernetes", str(manifests), "--scope", "dangling")
    assert result.returncode == 0, result.stderr
    assert "│ created      │        2 │         1 │" in result.stdout
    message = " ".join(result.stderr.split())
    assert (
        "Service{backstageKubernetesId=nobody} exists neither in this import nor in the store"
        in (message)
    )


def test_bad_token_exits_2_names_server_and_writes_nothing(server: Server, tmp_path: Path) -> None:
    before = count(server)
    bad = remote_import(
        server, tmp_path, "kubernetes", str(BOUTIQUE), "--scope", "bad", token="gsv_not-a-token"
    )
    assert bad.returncode == 2
    message = " ".join(bad.stderr.split())
    assert f"POST {server.url}/api/v1/runs (starting the run): 401 Unauthorized" in message
    assert "the API token is not valid" in message and "GRAPHSVC_TOKEN" in message
    assert "Traceback" not in bad.stderr

    missing = remote_import(
        server, tmp_path, "kubernetes", str(BOUTIQUE), "--scope", "bad", token=""
    )
    assert missing.returncode == 2
    assert "an API token is required" in " ".join(missing.stderr.split())

    reader = remote_import(
        server, tmp_path, "kubernetes", str(BOUTIQUE), "--scope", "bad", token=server.read_token
    )
    assert reader.returncode == 2
    message = " ".join(reader.stderr.split())
    assert "403 Forbidden: token 'portal' has scope read; this needs write" in message
    assert count(server) == before
    assert server.get("/api/v1/runs?source=kubernetes").json()[0]["scope"] != "bad"


def test_token_option_wins_over_the_environment(server: Server, tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "import",
        "kubernetes",
        str(BOUTIQUE),
        "--scope",
        "boutique",
        "--url",
        server.url + "/api/v1/",  # the API prefix and a trailing slash are accepted
        "--token",
        server.write_token,
        env={"GRAPHSVC_TOKEN": "gsv_wrong"},
    )
    assert result.returncode == 0, result.stderr


def test_unreachable_server_exits_3(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli(
        tmp_path, "import", "kubernetes", str(BOUTIQUE), "--url", url, "--token", "gsv_x"
    )
    assert result.returncode == 3
    message = " ".join(result.stderr.split())
    assert f"cannot reach graphsvc at {url}" in message
    assert "Traceback" not in result.stderr


def test_malformed_file_exits_2_before_contacting_the_server(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"apiVersion": "v1", "kind": "List", "items": [')
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens: never contacted
    result = run_cli(tmp_path, "import", "kubernetes", str(broken), "--url", url)
    assert result.returncode == 2
    assert "broken.json" in result.stderr


def deployment(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, **(labels or {})}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": f"registry.example/{name}:1"}]},
            },
        },
    }


def test_failure_half_way_finishes_the_run_incomplete(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # a server that refuses request bodies over 1 KiB: with one item per batch,
    # the Deployment with many labels is refused after the first batch was applied
    for server in start_server(tmp_path_factory.mktemp("small"), max_body_bytes="1024"):
        work = tmp_path_factory.mktemp("client")
        manifests = work / "apps.yaml"
        apps = [deployment("a-small"), deployment("c-gone")]
        manifests.write_text(yaml.safe_dump_all(apps))
        ok = remote_import(server, work, "kubernetes", str(manifests), "--batch-size", "1")
        assert ok.returncode == 0, ok.stderr

        labels = {f"team.example.com/label-{i:02}": "x" * 40 for i in range(20)}
        manifests.write_text(
            yaml.safe_dump_all([deployment("a-small"), deployment("b-big", labels=labels)])
        )
        failed = remote_import(server, work, "kubernetes", str(manifests), "--batch-size", "1")
        assert failed.returncode == 2, failed.stderr
        message = " ".join(failed.stderr.split())
        assert f"POST {server.url}/api/v1/ingest (batch 2): 413" in message
        assert "--batch-size" in message

        runs = server.get("/api/v1/runs?source=kubernetes").json()
        assert [r["state"] for r in runs] == ["incomplete", "complete"]
        # nothing went stale: c-gone, missing from the failed run, is still active
        gone = server.get(
            "/api/v1/entities/ConfigurationItem/k8s/default/default/deployment/c-gone"
        )
        assert gone.json()["status"] == "active"
        big = server.get("/api/v1/entities/ConfigurationItem/k8s/default/default/deployment/b-big")
        assert big.status_code == 404
