"""Opening the embedded store: readers leave no trace, bad files are named."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from graphsvc.errors import StoreCorrupted, StoreUnavailable
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.embedded.schema import SCHEMA_VERSION
from graphsvc.store.embedded.store import EmbeddedStore


async def test_reading_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "graphsvc.db"
    with pytest.raises(StoreUnavailable, match="does not exist yet"):
        async with EmbeddedStore(path, read_only=True):
            pass
    assert not path.parent.exists()
    path.parent.mkdir()
    with pytest.raises(StoreUnavailable, match="does not exist yet"):
        async with EmbeddedStore(path, read_only=True):
            pass
    assert list(path.parent.iterdir()) == []


async def test_a_file_that_is_not_a_store_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database" * 200)
    before = path.read_bytes()
    for read_only in (True, False):
        with pytest.raises(StoreCorrupted, match="is not a graphsvc store"):
            async with EmbeddedStore(path, read_only=read_only):
                pass
        assert path.read_bytes() == before


async def test_a_written_store_opens_read_only(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    async with EmbeddedStore(path):
        pass
    async with EmbeddedStore(path, read_only=True) as store:
        assert (await store.stats()).entities == 0


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


async def test_a_foreign_sqlite_file_is_left_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "inventory.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE asset(id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO asset(name) VALUES ('laptop')")
    con.commit()
    con.close()
    before = _listing(tmp_path)
    mtime = path.stat().st_mtime_ns
    for read_only in (True, False):
        with pytest.raises(StoreCorrupted, match="tables that graphsvc did not create"):
            async with EmbeddedStore(path, read_only=read_only):
                pass
        # same bytes (no WAL switch), nothing created beside it (no lock file, no -wal)
        assert _listing(tmp_path) == before
        assert path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("how", ["symlink", "hardlink", "relative"])
async def test_no_second_writer_through_another_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    path = tmp_path / "data" / "g.db"
    async with EmbeddedStore(path) as first:
        other = tmp_path / "other.db"
        if how == "symlink":
            other.symlink_to(path)
        elif how == "hardlink":
            os.link(path, other)
        else:
            monkeypatch.chdir(tmp_path / "data")
            other = Path("g.db")
        with pytest.raises(StoreUnavailable, match=f"process {os.getpid()}"):
            async with EmbeddedStore(other):
                pass
        assert (await first.stats()).entities == 0  # the first writer is untouched
    async with EmbeddedStore(other) as second:  # once the first is closed, it may open
        assert (await second.stats()).entities == 0
    assert sorted(p.name for p in path.parent.iterdir() if p.name.endswith(".lock")) == []


async def test_erase_empties_the_store_and_keeps_the_lock(tmp_path: Path) -> None:
    from graphsvc.ingest.engine import IngestEngine
    from graphsvc.model.batch import IngestBatch

    path = tmp_path / "g.db"
    async with EmbeddedStore(path) as store:
        batch = {"source": "s", "entities": [{"kind": "Service", "key": "a"}]}
        await IngestEngine(store).ingest(IngestBatch.model_validate(batch))
        inode = path.stat().st_ino
        await store.erase()
        assert (await store.stats()).entities == 0
        assert (await store.resolve([(EntityKind.SERVICE, "a")])) == [None]
        with pytest.raises(StoreUnavailable, match="open for writing by another"):
            async with EmbeddedStore(path):
                pass
        summary = await IngestEngine(store).ingest(IngestBatch.model_validate(batch))
        assert summary.entities_created == 1
        assert path.stat().st_ino == inode
    async with EmbeddedStore(path, read_only=True) as reader:
        assert (await reader.stats()).entities == 1


async def test_a_version_1_store_is_migrated_by_a_writer_and_refused_by_a_reader(
    tmp_path: Path,
) -> None:
    path = tmp_path / "g.db"
    async with EmbeddedStore(path):
        pass
    con = sqlite3.connect(path)
    con.execute("DROP TABLE identity_conflict")
    con.execute("UPDATE meta SET value = '1' WHERE name = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreUnavailable, match="open it once for writing"):
        async with EmbeddedStore(path, read_only=True):
            pass
    async with EmbeddedStore(path) as store:
        assert (await store.identity_conflicts(first=5)).items == ()
    async with EmbeddedStore(path, read_only=True) as reader:
        assert (await reader.identity_conflicts(first=5)).items == ()
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone() == (
        SCHEMA_VERSION,
    )
    con.close()


async def _version_1_store_with(path: Path, keys: list[str]) -> None:
    from graphsvc.ingest.engine import IngestEngine
    from graphsvc.model.batch import IngestBatch

    async with EmbeddedStore(path) as store:
        items = [{"kind": "Service", "key": f"placeholder-{i}"} for i in range(len(keys))]
        items.append(
            {
                "kind": "ConfigurationItem",
                "key": "h",
                "identifiers": {"hostname": "placeholder"},
                "attributes": {"ciClass": "server"},
            }
        )
        await IngestEngine(store).ingest(
            IngestBatch.model_validate({"source": "s", "entities": items})
        )
    con = sqlite3.connect(path)
    # what graphsvc 1 stored: keys and identifier values as sent
    for i, key in enumerate(keys):
        con.execute("UPDATE entity SET key = ? WHERE key = ?", (key, f"placeholder-{i}"))
    con.execute(
        "UPDATE entity SET identifiers = ? WHERE key = 'h'",
        ('{"hostname":"cafe\\u0301-01"}',),
    )
    con.execute("DROP TABLE identity_conflict")
    con.execute("UPDATE meta SET value = '1' WHERE name = 'schema_version'")
    con.commit()
    con.close()


async def test_the_migration_puts_keys_and_identifier_values_in_nfc(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    await _version_1_store_with(path, ["cafe\u0301"])
    async with EmbeddedStore(path) as store:
        found = await store.resolve([(EntityKind.SERVICE, "caf\u00e9")])
        assert found[0] is not None
        [record] = await store.entities([found[0]])
        assert record is not None and record.key == "caf\u00e9"
        [holders] = await store.resolve_identifiers(
            EntityKind.CONFIGURATION_ITEM, [("hostname", "caf\u00e9-01")]
        )
        assert len(holders) == 1


async def test_keys_that_are_one_in_nfc_refuse_the_migration_and_change_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "g.db"
    await _version_1_store_with(path, ["cafe\u0301", "caf\u00e9"])
    with pytest.raises(StoreCorrupted, match="are one key in Unicode NFC"):
        async with EmbeddedStore(path):
            pass
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone() == ("1",)
    assert con.execute("SELECT count(*) FROM entity WHERE key = 'cafe\u0301'").fetchone() == (1,)
    con.close()


async def test_a_version_4_store_is_migrated_with_its_conflicts_open(tmp_path: Path) -> None:
    from graphsvc.ingest.engine import IngestEngine
    from graphsvc.ingest.stewardship import IdentityStewardship
    from graphsvc.model.batch import IngestBatch
    from graphsvc.model.records import ConflictState

    path = tmp_path / "g.db"
    hosts = [("a", "S1"), ("b", "S2")]
    async with EmbeddedStore(path) as store:
        for key, serial in hosts:
            item = {
                "kind": "ConfigurationItem",
                "key": key,
                "identifiers": {"serial": serial, "ipAddress": "10.1.1.1"},
                "attributes": {"ciClass": "server"},
            }
            await IngestEngine(store).ingest(
                IngestBatch.model_validate({"source": "s", "entities": [item]})
            )
    con = sqlite3.connect(path)
    # what graphsvc with store version 4 had: no closures, no conflict indexes by entity
    con.execute("DROP TABLE identity_conflict_closure")
    con.execute("DROP INDEX identity_conflict_entity")
    con.execute("DROP INDEX identity_conflict_holder")
    con.execute("UPDATE meta SET value = '4' WHERE name = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreUnavailable, match="open it once for writing"):
        async with EmbeddedStore(path, read_only=True):
            pass
    async with EmbeddedStore(path) as store:
        page = await store.identity_conflicts(first=5, state=ConflictState.OPEN)
        assert page.total == 1 and page.items[0].closure is None
        await IdentityStewardship(store).dismiss_conflict(page.items[0].seq, "known", actor="t")
    async with EmbeddedStore(path, read_only=True) as reader:
        assert (await reader.identity_conflicts(first=5, state=ConflictState.OPEN)).total == 0
        dismissed = await reader.identity_conflicts(first=5, state=ConflictState.DISMISSED)
        assert [c.closure.reason for c in dismissed.items if c.closure] == ["known"]
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone() == (
        SCHEMA_VERSION,
    )
    con.close()
