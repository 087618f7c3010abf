"""The long fuzzing campaign (``make fuzz``): tests/fuzz at GRAPHSVC_FUZZ=long, counted.

Runs pytest over ``tests/fuzz`` with the long budget (more than 10,000 cases
over all targets: the REST API, GraphQL, every importer, hostile markup, the
CLI), then writes ``bench/results/fuzz.json``: cases per target, failures
(which must be none), duration, the git commit and the tool versions. Prints
the counts and exits with pytest's status.

    python bench/fuzz.py [extra pytest arguments]
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "fuzz.json"


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "counts.json"
        env = {**os.environ, "GRAPHSVC_FUZZ": "long", "GRAPHSVC_FUZZ_REPORT": str(report)}
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/fuzz",
                *sys.argv[1:],
            ],
            cwd=ROOT,
            env=env,
            check=False,
        )
        duration = time.monotonic() - started
        counts = json.loads(report.read_text()) if report.exists() else {}
    result = {
        "what": "make fuzz: schemathesis over REST (OpenAPI) and GraphQL (exported SDL), "
        "hypothesis over every importer with mutated real samples, hostile markup, CLI",
        "level": counts.get("level", "long"),
        "cases": counts.get("cases", 0),
        "counts": counts.get("counts", {}),
        "outcomes": counts.get("outcomes", {}),
        "failures": counts.get("failures", []),
        "pytest_exit_code": done.returncode,
        "duration_s": round(duration, 1),
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "versions": {p: version(p) for p in ("hypothesis", "schemathesis", "pytest")},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nfuzz: {result['cases']} cases in {duration:.0f} s, {len(result['failures'])} failed")
    for target, n in sorted(result["counts"].items()):
        print(f"  {target:<28} {n:>7}")
    print(f"written to {OUT.relative_to(ROOT)}")
    if result["cases"] < 10_000:
        print("fuzz: fewer than 10,000 cases ran", file=sys.stderr)
        return done.returncode or 1
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
