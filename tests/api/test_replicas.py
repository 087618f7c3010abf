"""``graphsvc serve --read-only``: a read replica beside the writer (issue 17, item 6)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.api.serving import chain_batch, serve

ENTITY = '{ entity(kind: SERVICE, key: "%s") { name } }'


def test_a_replica_follows_the_writer_and_refuses_writes(tmp_path: Path) -> None:
    with serve(tmp_path, durability="normal") as writer:
        assert httpx.post(f"{writer}/api/v1/ingest", json=chain_batch(50)).status_code == 200
        with serve(tmp_path, "--read-only") as replica:
            r = httpx.post(f"{replica}/graphql", json={"query": ENTITY % "s7"})
            assert r.json() == {"data": {"entity": {"name": "service 7"}}}
            lags = []
            for round_ in range(5):
                batch = {
                    "source": "r",
                    "entities": [{"kind": "Service", "key": f"new-{round_}", "name": f"n{round_}"}],
                }
                assert httpx.post(f"{writer}/api/v1/ingest", json=batch).status_code == 200
                written = time.monotonic()
                while True:
                    seen = httpx.post(
                        f"{replica}/graphql", json={"query": ENTITY % f"new-{round_}"}
                    )
                    if (seen.json().get("data") or {}).get(
                        "entity"
                    ) is not None:  # NOT_FOUND before
                        break
                    assert time.monotonic() - written < 10, "the replica never caught up"
                    time.sleep(0.01)
                lags.append(time.monotonic() - written)
            assert max(lags) < 2, lags
            refused = httpx.post(f"{replica}/api/v1/ingest", json=chain_batch(3))
            assert refused.status_code == 409
            assert "read replica" in refused.json()["detail"]
            mutation = httpx.post(
                f"{replica}/graphql",
                json={"query": 'mutation { startRun(input: {source: "x"}) { run { runId } } }'},
            ).json()
            assert mutation["errors"][0]["extensions"]["code"] == "READ_ONLY"
            metrics = httpx.get(f"{replica}/metrics").text
            assert "graphsvc_replica_commits_applied_total 5.0" in metrics
