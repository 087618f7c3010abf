"""The fuzzing campaign: its budget, the per-target case counter and the store snapshot.

Budget: ``GRAPHSVC_FUZZ=short`` (the default, what ``make test`` runs: the whole
folder in about a minute) or ``long`` (``make fuzz``: more than 10,000 cases over
all targets, each case bounded in time). :func:`budget` gives the number of
cases of one target.

Every fuzz test calls :func:`count` once per case it runs; the counts per target
are printed at the end of the session and, when ``GRAPHSVC_FUZZ_REPORT`` names a
file, written there as JSON (with the failures), which ``bench/fuzz.py`` turns
into ``bench/results/fuzz.json``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from pathlib import Path

LEVEL = os.environ.get("GRAPHSVC_FUZZ", "short").strip().lower() or "short"
if LEVEL not in ("short", "long"):
    msg = f"GRAPHSVC_FUZZ must be short or long, not {LEVEL!r}"
    raise ValueError(msg)

# Cases per unit of each target: per REST operation, per GraphQL root field, per
# importer (and per kind of mutation of its samples), per CLI format.
_BUDGETS: dict[str, dict[str, int]] = {
    "short": {"rest": 20, "graphql": 15, "importer": 50, "xml-attack": 10, "cli": 1},
    "long": {"rest": 250, "graphql": 120, "importer": 900, "xml-attack": 60, "cli": 1},
}

COUNTS: Counter[str] = Counter()
OUTCOMES: Counter[str] = Counter()
"""``target/outcome`` -> cases (importers: ``imported`` or ``refused``)."""
FAILED: list[str] = []
STARTED = time.monotonic()


def budget(target: str) -> int:
    """Return how many cases one unit of ``target`` runs at the current level."""
    return _BUDGETS[LEVEL][target]


def count(target: str, n: int = 1) -> None:
    """Record that ``n`` cases of ``target`` ran."""
    COUNTS[target] += n


def outcome(target: str, what: str) -> None:
    """Record how one case of ``target`` ended (for the summary, not a case of its own)."""
    OUTCOMES[f"{target}/{what}"] += 1


def store_snapshot(path: Path) -> dict[str, int]:
    """Return the row count of every table of the embedded store at ``path``.

    Read through a connection of its own (read-only), so it sees what was
    committed, whatever the app holds in memory. Any write (an entity, a
    history event, a run, a commit record) changes at least one count.
    """
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            str(row[0])
            for row in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"
            )
        ]
        return {t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}
    finally:
        con.close()
