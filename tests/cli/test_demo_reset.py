"""``graphsvc demo --reset`` takes the writer lock before it erases anything."""

from __future__ import annotations

from pathlib import Path

import anyio

from graphsvc.store.embedded.store import EmbeddedStore
from tests.cli.test_import_batch import entity_count, graphsvc


def test_reset_is_refused_while_another_process_writes_and_erases_nothing(
    tmp_path: Path,
) -> None:
    loaded = graphsvc(tmp_path, "demo")
    assert loaded.returncode == 0, loaded.stderr
    before = entity_count(tmp_path)
    assert before > 20
    (tmp_path / "link.db").symlink_to(tmp_path / "g.db")

    async def hold_and_reset() -> None:
        async with EmbeddedStore(tmp_path / "g.db") as held:
            for target in ("g.db", "link.db"):
                refused = await anyio.to_thread.run_sync(
                    lambda t=target: graphsvc(tmp_path, "demo", "--reset", data=tmp_path / t)
                )
                assert refused.returncode != 0
                assert "open for writing by another graphsvc process" in refused.stderr
                assert (await held.stats()).entities == before  # the holder still has it all
            assert (tmp_path / "g.db").stat().st_size > 0

    anyio.run(hold_and_reset)
    assert entity_count(tmp_path) == before
    again = graphsvc(tmp_path, "demo", "--reset")
    assert again.returncode == 0, again.stderr
    assert entity_count(tmp_path) == before
