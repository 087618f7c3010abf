"""The embedded store's text index across schema versions (5 -> 6).

A version 5 file (no ``entity_text``) opened read-only answers text searches by a
scan, the same answers; opened for writing it is migrated: the index is built
from every entity and later writes keep it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.store.base import EntityQuery
from graphsvc.store.embedded.store import EmbeddedStore


def services(*names: tuple[str, str]) -> IngestBatch:
    items = [{"kind": "Service", "key": k, "name": n} for k, n in names]
    return IngestBatch.model_validate({"source": "cmdb", "entities": items})


def as_version_5(path: Path) -> None:
    conn = sqlite3.connect(path)
    for trigger in ("entity_text_insert", "entity_text_update", "entity_text_delete"):
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("DROP TABLE entity_text")
    conn.execute("UPDATE meta SET value = '5' WHERE name = 'schema_version'")
    conn.commit()
    conn.close()


async def found(store: EmbeddedStore, text: str) -> list[str]:
    return [r.key for r in (await store.find_entities(EntityQuery(text=text), first=10)).items]


async def test_a_version_5_file_is_read_by_a_scan_and_migrated_when_opened_for_writing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "g.db"
    async with EmbeddedStore(path) as store:
        await IngestEngine(store).ingest(services(("svc-a", "Billing"), ("svc-b", "Ledger")))
    as_version_5(path)
    async with EmbeddedStore(path, read_only=True) as old:
        assert await found(old, "BILL") == ["svc-a"]
        assert await found(old, "svc-") == ["svc-a", "svc-b"]
    tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall()
    assert ("entity_text",) not in tables, "a read-only open changes nothing"
    async with EmbeddedStore(path) as store:
        assert await found(store, "BILL") == ["svc-a"]
        await IngestEngine(store).ingest(services(("svc-b", "General ledger"), ("svc-c", "Fax")))
        assert await found(store, "general") == ["svc-b"]
        assert await found(store, "fax") == ["svc-c"]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone() == ("6",)
    hits = conn.execute("SELECT rowid FROM entity_text WHERE entity_text MATCH '\"ledger\"'")
    assert [r[0] for r in hits] == [2], "the index was built from the old rows and kept since"
    assert (
        conn.execute(
            "INSERT INTO entity_text(entity_text, rank) VALUES ('integrity-check', 1)"
        ).fetchall()
        == []
    ), "the index agrees with the entity table"
