"""Hooks of the fuzzing campaign: failures recorded, counts printed and written (see campaign.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz.campaign import COUNTS, FAILED, LEVEL, OUTCOMES, STARTED


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and "tests/fuzz/" in report.nodeid.replace("\\", "/"):
        FAILED.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COUNTS:
        return
    total = sum(COUNTS.values())
    duration = time.monotonic() - STARTED
    terminalreporter.write_sep("-", f"fuzz ({LEVEL}): {total} cases in {duration:.1f} s")
    for target, n in sorted(COUNTS.items()):
        ends = sorted(
            (k.partition("/")[2], v) for k, v in OUTCOMES.items() if k.partition("/")[0] == target
        )
        how = ", ".join(f"{what} {v}" for what, v in ends)
        terminalreporter.write_line(f"  {target:<28} {n:>7}" + (f"  ({how})" if how else ""))
    terminalreporter.write_line(f"  {'failed tests':<28} {len(FAILED):>7}")
    out = os.environ.get("GRAPHSVC_FUZZ_REPORT")
    if out:
        Path(out).write_text(
            json.dumps(
                {
                    "level": LEVEL,
                    "cases": total,
                    "counts": dict(sorted(COUNTS.items())),
                    "outcomes": dict(sorted(OUTCOMES.items())),
                    "failures": FAILED,
                    "duration_s": round(duration, 1),
                },
                indent=2,
            )
            + "\n"
        )
