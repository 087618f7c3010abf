"""Crash trials, the short version of ``bench/crash_trials.py`` (same code).

An ingest through ``graphsvc import batch`` and one through ``POST /api/v1/ingest``
to ``graphsvc serve`` are killed with SIGKILL mid-run; the reopened store must
hold every acknowledged batch whole, no partial batch, a history that agrees
with the graph, take a new write, and serve ``/readyz``. The checker itself is
tested first on a store damaged on purpose, so a silent checker cannot pass.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bench.crash_trials import (
    DeliveryParams,
    Params,
    Received,
    Trial,
    batch_doc,
    check_deliveries,
    check_store,
    run_delivery_trial,
    run_trial,
    warm_up,
)
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


# ------------------------------------------------------------------ deliveries

DELIVERY = DeliveryParams(
    ingest=Params(batches=8, entities=20, updates_1=6, updates_2=3, rel_updates=4, early=0.0),
    webhook_batch_size=10,
)


def test_killed_servers_deliver_every_committed_event_in_order_after_the_restart(
    tmp_path: Path,
) -> None:
    """Three delivery trials of ``bench/crash_trials.py --mode delivery`` (same code).

    They run side by side (each has its own servers, store, receiver and ports):
    most of a trial is two ``graphsvc serve`` starts.
    """
    plan = ((21, "delivery"), (22, "ingest"), (23, "delivery"))
    warm_up()
    with ThreadPoolExecutor(len(plan)) as pool:
        trials = list(
            pool.map(lambda sk: run_delivery_trial(sk[0], DELIVERY, tmp_path, sk[1]), plan)
        )
    for t in trials:
        assert t.violations == [], f"seed {t.seed} ({t.plan}): {t.violations}"
        assert t.killed_mid_run and t.deliveries_before_kill > 0, (t.seed, t.plan)
        assert t.present in (t.acked, t.acked + 1)
        assert t.events_expected["all"] > t.events_expected["cis"] > 0
        assert t.catch_up_s is not None and t.deliveries_after_restart > 0


def _event(seq: int) -> dict[str, Any]:
    return {"seq": seq, "op": "created", "source": "crash"}


def _got(name: str, seqs: list[int], at: float, webhook_id: str = "") -> Received:
    events = [_event(s) for s in seqs]
    return Received(name, webhook_id or f"msg_{seqs[0]}_{seqs[-1]}", events, at, True)


def test_the_delivery_checker_finds_gaps_repeats_and_foreign_events() -> None:
    expected = [_event(s) for s in (1, 2, 3, 5, 6)]  # 4: filtered out
    fine = [_got("a", [1, 2], 1.0), _got("a", [3, 5], 2.0), _got("a", [3, 5, 6], 9.0)]
    assert check_deliveries("a", expected, fine, kill_at=5.0) == ([], 2)  # [3, 5] again
    gap = [_got("a", [1, 2], 1.0), _got("a", [5, 6], 2.0)]
    assert "skipped 1 events ([3]" in check_deliveries("a", expected, gap, 5.0)[0][0]
    again = [_got("a", [1, 2], 1.0), _got("a", [2, 3], 2.0), _got("a", [5, 6], 3.0)]
    assert "sent again without a crash" in check_deliveries("a", expected, again, 5.0)[0][0]
    late = [*fine, _got("a", [6], 9.5)]  # a second repeat after the restart
    assert "sent again without a crash" in check_deliveries("a", expected, late, 5.0)[0][0]
    holes = [_got("a", [1, 3], 1.0), _got("a", [5, 6], 2.0)]
    assert "not consecutive" in check_deliveries("a", expected, holes, 5.0)[0][0]
    foreign = [_got("a", [1, 2, 3, 4], 1.0), _got("a", [5, 6], 2.0)]
    assert "does not hold" in check_deliveries("a", expected, foreign, 5.0)[0][0]
    changed = [_got("a", [1, 2, 3], 1.0), _got("a", [5, 6], 2.0)]
    changed[0].events[1]["source"] = "elsewhere"
    assert "does not hold" in check_deliveries("a", expected, changed, 5.0)[0][0]
    short = [_got("a", [1, 2], 1.0)]
    assert "delivered up to event 2 of 5" in check_deliveries("a", expected, short, 5.0)[0][0]
    same_id = [_got("a", [1, 2], 1.0, "m"), _got("a", [1, 2, 3], 9.0, "m"), _got("a", [5, 6], 9.1)]
    assert "the same webhook-id carried" in check_deliveries("a", expected, same_id, 5.0)[0][0]
    forged = [Received("a", "m", [], 1.0, False)]
    assert "did not verify" in check_deliveries("a", expected, forged, 5.0)[0][0]
