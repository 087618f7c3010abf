"""Crash trials, the short version of ``bench/crash_trials.py`` (same code).

An ingest through ``graphsvc import batch`` and one through ``POST /api/v1/ingest``
to ``graphsvc serve`` are killed with SIGKILL mid-run; the reopened store must
hold every acknowledged batch whole, no partial batch, a history that agrees
with the graph, take a new write, and serve ``/readyz``. The checker itself is
tested first on a store damaged on purpose, so a silent checker cannot pass.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bench.crash_trials import Params, Trial, batch_doc, check_store, run_trial
from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.store.factory import store_from_settings

SMALL = Params(batches=16, entities=40, updates_1=12, updates_2=6, rel_updates=8, early=0.0)


@pytest.fixture(scope="module")
def trials(tmp_path_factory: pytest.TempPathFactory) -> list[Trial]:
    work = tmp_path_factory.mktemp("crash")
    return [run_trial(mode, seed, SMALL, work) for mode in ("cli", "http") for seed in (11, 12)]


def test_killed_ingests_lose_no_acknowledged_batch_and_leave_no_partial_one(
    trials: list[Trial],
) -> None:
    for trial in trials:
        assert trial.violations == [], f"{trial.mode} seed {trial.seed}: {trial.violations}"
        assert trial.present in (trial.acked, trial.acked + 1)
        assert trial.ready_s is not None
    # the trials did what they are for: kills mid-run after some batches were acknowledged
    for mode in ("cli", "http"):
        assert any(t.killed_mid_run and t.acked > 0 for t in trials if t.mode == mode), [
            (t.mode, t.plan, t.acked, t.killed_mid_run) for t in trials
        ]


async def _ingest(db: Path, p: Params, count: int) -> None:
    store = store_from_settings(Settings(data=db, durability="normal"))
    async with store:
        engine = IngestEngine(store)
        for i in range(count):
            await engine.ingest(IngestBatch.model_validate(batch_doc(i, p)))


async def _check(db: Path, p: Params, acked: set[int]) -> list[str]:
    violations: list[str] = []
    store = store_from_settings(Settings(data=db, durability="normal"))
    async with store:
        await check_store(store, p, acked, violations)
    return violations


async def test_the_checker_finds_lost_partial_and_inconsistent_batches(tmp_path: Path) -> None:
    p = Params(batches=6, entities=10, updates_1=4, updates_2=2, rel_updates=3)
    db = tmp_path / "g.db"
    await _ingest(db, p, 4)
    assert await _check(db, p, {0, 1, 2}) == []  # batch 3 committed, its ack lost: fine
    lost = await _check(db, p, {0, 1, 2, 3, 4})
    assert any("acknowledged batch 4 is lost" in v for v in lost), lost

    with sqlite3.connect(db) as conn:  # an update of batch 3 vanishes from the history
        conn.execute(
            "DELETE FROM history WHERE seq = (SELECT max(seq) FROM history WHERE op = 'updated')"
        )
    partial = await _check(db, p, {0, 1, 2, 3})
    assert any("batch 3:" in v and "updates present" in v for v in partial), partial
    assert any("the history holds" in v for v in partial), partial

    with sqlite3.connect(db) as conn:  # a value that no batch wrote
        conn.execute(
            "UPDATE entity SET attributes = json_set(attributes, '$.rev', 99) "
            "WHERE key = 'b0000-00000'"
        )
    wrong = await _check(db, p, {0, 1, 2, 3})
    assert any("entity b0000-00000: attributes" in v for v in wrong), wrong
