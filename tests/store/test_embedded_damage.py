"""A damaged or inconsistent embedded store: ``check`` finds it, reads say so, nothing crashes.

Damage is made the way a disk makes it: bytes of one page of the file
overwritten (the page found with SQLite's ``dbstat``), on a closed store.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from graphsvc.api.app import create_app
from graphsvc.config import Settings
from graphsvc.errors import StoreCorrupted
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.records import ItemKind
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.base import ItemRef
from graphsvc.store.embedded.store import EmbeddedStore


async def _store_with_history(path: Path) -> None:
    async with EmbeddedStore(path) as store:
        engine = IngestEngine(store)
        for round_ in range(30):
            items = [
                {
                    "kind": "Service",
                    "key": f"svc-{i}",
                    "attributes": {"description": f"round {round_} " + "x" * 200},
                }
                for i in range(60)
            ]
            await engine.ingest(IngestBatch.model_validate({"source": "s", "entities": items}))


def _damage(path: Path, table: str) -> None:
    """Overwrite a leaf page of ``table`` (not its root, which the schema names)."""
    con = sqlite3.connect(path)
    pages = [
        int(r[0])
        for r in con.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
            (table,),
        )
    ]
    size = int(con.execute("PRAGMA page_size").fetchone()[0])
    con.close()
    assert len(pages) > 2, pages
    with path.open("r+b") as f:
        f.seek((pages[len(pages) // 2] - 1) * size)
        f.write(b"\xa5" * size)


def graphsvc(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRAPHSVC_DATA": str(path), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "graphsvc.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_a_clean_store_checks_clean(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    await _store_with_history(path)
    async with EmbeddedStore(path, read_only=True) as store:
        report = await store.check()
    assert report.clean, report.findings
    assert set(report.checks) == {"integrity", "history", "identifiers", "index"}
    done = graphsvc(path, "check")
    assert done.returncode == 0, done.stdout + done.stderr


async def test_check_finds_history_and_identifier_inconsistencies(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    await _store_with_history(path)
    con = sqlite3.connect(path)
    con.execute("DELETE FROM history WHERE item = 2 AND op = 'created'")
    # what graphsvc 1 could leave: one IP address on two active hosts
    for key in ("svc-1", "svc-2"):
        con.execute(
            'UPDATE entity SET identifiers = \'{"ipAddress":"10.0.0.9"}\' WHERE key = ?', (key,)
        )
    con.commit()
    con.close()
    done = graphsvc(path, "check", "--json")
    assert done.returncode == 1, done.stderr
    import json

    report = json.loads(done.stdout)
    messages = [(f["check"], f["message"]) for f in report["findings"]]
    assert ("history", "entity 1 has no 'created' event") in messages
    assert any(
        check == "identifiers" and "'10.0.0.9' is held by 2 active or stale entities" in m
        for check, m in messages
    )


async def test_a_damaged_history_page_is_found_and_said_not_crashed_on(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    await _store_with_history(path)
    _damage(path, "history")
    # the index does not read the history: the store opens, and reading it says what is wrong
    async with EmbeddedStore(path) as store:
        await store.ping()
        [svc] = await store.resolve([(EntityKind.SERVICE, "svc-30")])
        assert svc is not None
        with pytest.raises(StoreCorrupted, match="is damaged"):
            for i in range(1, 61):
                await store.history(ItemRef(ItemKind.ENTITY, i), first=100)
        with pytest.raises(StoreCorrupted, match="is damaged"):
            await store.ping()  # remembered: readiness fails from now on
    done = graphsvc(path, "check")
    assert done.returncode == 1 and "integrity" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


async def test_a_server_on_a_damaged_store_is_not_ready_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    await _store_with_history(path)
    _damage(path, "history")
    app = create_app(Settings(data=path, tokens_file=tmp_path / "t.db", log_format="json"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert "damaged" in ready.json()["detail"]
            assert (await client.get("/livez")).status_code == 200


async def test_a_damaged_entity_page_refuses_every_command_with_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    await _store_with_history(path)
    _damage(path, "entity")
    for args in (("check",), ("conflicts",), ("report", "change", "CHG1"), ("demo",)):
        done = graphsvc(path, *args)
        assert done.returncode == 3, (args, done.stdout, done.stderr)
        assert "damaged" in done.stderr or "not a graphsvc store" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
