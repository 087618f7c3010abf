"""Opening the embedded store: readers leave no trace, bad files are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphsvc.errors import StoreCorrupted, StoreUnavailable
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
