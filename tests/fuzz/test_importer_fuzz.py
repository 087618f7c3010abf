"""Hypothesis over every registered importer, fed mutated real samples.

Each case takes one real sample of the importer from ``tests/data`` (the same
files its own tests use), mutates it (see :mod:`tests.fuzz.mutations`) and runs
the whole import with :func:`~graphsvc.ingest.runner.run_import` into a sink
that only records what it is sent. The only outcomes allowed:

* success, and then every batch sent is a valid ingest batch (it goes through
  :func:`~graphsvc.model.validation.parse_batch` again from its JSON form);
* :class:`~graphsvc.errors.ParseError` naming the file, or
  :class:`~graphsvc.errors.InvalidInput` (a rejected batch), with a message,
  and then nothing at all was sent to the sink (no run, no batch).

Any other exception fails, and so does a case running longer than
:data:`LIMIT_S` (a watchdog interrupts it). XML entity expansion and external
entities must be refused (nmap reads XML with defusedxml's handlers).

The CLI gets one bad file per format: exit code 2, a message naming the file,
no traceback, and a store left empty.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from graphsvc.errors import InvalidInput, ParseError
from graphsvc.ingest.importer import Importer, available_importers, load_importer
from graphsvc.ingest.results import IngestSummary
from graphsvc.ingest.runner import BatchSink, run_import
from graphsvc.model.batch import EntityRef, IngestBatch
from graphsvc.model.validation import parse_batch
from tests.fuzz.campaign import LEVEL, budget, count, outcome, store_snapshot
from tests.fuzz.mutations import ATTACKS_XML, ATTACKS_YAML, fmt_of, mutate

DATA = Path(__file__).parents[1] / "data"
LIMIT_S = 20.0
"""Longest a case may run (a sample mutated into a few MiB at most)."""

SAMPLES: dict[str, tuple[str, ...]] = {
    "aws": ("aws/config/*.json", "aws/describe/*.json", "aws/merge/config-instance.json"),
    "backstage": ("backstage/**/*.yaml",),
    "csv": ("csv_table/*.csv",),
    "jira": ("jira/*.json",),
    "kubernetes": ("kubernetes/*.json", "kubernetes/*.yaml", "kubernetes/extra/*.json"),
    "nmap": ("nmap/*.xml", "servicenow/*.xml"),
    "sbom": ("sbom/*.json",),
    "service-graph": ("service_graph/*.json", "service_graph/*.yaml", "service_graph/extra/*.json"),
    "servicenow": ("servicenow/*.json",),
    "terraform": ("terraform/*.tfstate", "terraform/*.json", "aws/merge/terraform.tfstate"),
}
CSV_MAPPINGS = {"services.csv": "services.mapping.json"}
"""CSV samples whose mapping is given by the ``mapping`` setting (the others sit beside them)."""


def samples_of(name: str) -> list[Path]:
    """The real sample files of importer ``name``."""
    return sorted({p for g in SAMPLES[name] for p in DATA.glob(g) if p.is_file()})


def test_every_registered_importer_has_samples() -> None:
    assert sorted(SAMPLES) == sorted(available_importers())
    for name in SAMPLES:
        assert samples_of(name), name


# ------------------------------------------------------------------ the harness


class Hang(Exception):
    """A case ran longer than :data:`LIMIT_S`."""


@contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """Interrupt the block (raising :class:`Hang`) when it runs longer than ``seconds``."""

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class RecordingSink(BatchSink):
    """A sink that records every call and writes nothing."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.batches: list[IngestBatch] = []

    async def start_run(self, source: str, scope: str) -> str:
        self.calls.append("start_run")
        return "run-1"

    async def send(self, batch: IngestBatch) -> IngestSummary:
        self.calls.append("send")
        self.batches.append(batch)
        return IngestSummary(run_id="run-1", entities_created=len(batch.entities))

    async def finish_run(self, run_id: str, *, complete: bool) -> IngestSummary:
        self.calls.append("finish_run")
        return IngestSummary(run_id=run_id)

    async def exists(self, refs: Sequence[EntityRef]) -> list[bool]:
        # every other endpoint "exists": relations are kept, so they are validated and sent
        return [True] * len(refs)


def place(folder: Path, sample: Path, content: bytes) -> tuple[Path, dict[str, str]]:
    """Write ``content`` as the sample's file in ``folder``; return it and the import settings."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / sample.name
    target.write_bytes(content)
    settings: dict[str, str] = {}
    if fmt_of(sample.name) == "csv":
        if sample.name in CSV_MAPPINGS:
            settings["mapping"] = str(sample.with_name(CSV_MAPPINGS[sample.name]))
        else:
            shutil.copy(sample.with_name(sample.name + ".mapping.yaml"), folder)
    return target, settings


def run_one(importer: Importer[Any], target: Path, settings: dict[str, str]) -> str:
    """Import ``target``; return ``imported`` or ``refused``, failing on anything else."""
    sink = RecordingSink()

    async def go() -> None:
        await run_import(importer, [target], sink, scope="fuzz", settings=settings, batch_size=50)

    started = time.perf_counter()
    try:
        with watchdog(LIMIT_S):
            anyio.run(go)
    except (ParseError, InvalidInput) as exc:
        message = str(exc)
        assert message.strip(), "an input error without a message"
        if isinstance(exc, ParseError):
            # the file itself, or the file it comes with (a CSV table's column mapping)
            named = Path(exc.path)
            assert (
                named == target
                or named.parent == target.parent
                or str(named) in (settings.values())
            ), f"the error names {exc.path!r}, not the file"
            assert exc.reason.strip(), "a ParseError without a reason"
        assert not sink.calls, f"refused ({message[:200]}) after writing: {sink.calls}"
        return "refused"
    finally:
        note(f"ran {time.perf_counter() - started:.3f} s")
    assert sink.calls[0] == "start_run" and sink.calls[-1] == "finish_run", sink.calls
    for batch in sink.batches:
        again = parse_batch(batch.model_dump(mode="json", by_alias=True), origin="re-read")
        assert again == batch
    return "imported"


IMPORTERS = sorted(SAMPLES)


@pytest.mark.parametrize("name", IMPORTERS)
def test_importer_survives_mutated_samples(name: str, tmp_path: Path) -> None:
    importer = load_importer(name)
    samples = [(p, p.read_bytes()) for p in samples_of(name)]
    outcomes: dict[str, int] = {}

    @settings(
        max_examples=budget("importer"),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(st.data())
    def case(data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(samples) - 1), label="sample")
        sample, raw = samples[index]
        how, content = mutate(data, raw, sample.name)
        note(f"{sample.name} mutated by {how}: {len(content)} bytes, starts {content[:120]!r}")
        target, settings_ = place(tmp_path / "case", sample, content)
        ended = run_one(importer, target, settings_)
        count(f"importer:{name}")  # counted once run (a draw may end a case before that)
        outcomes[ended] = outcomes.get(ended, 0) + 1
        outcome(f"importer:{name}", ended)

    case()
    # the campaign must reach both outcomes, or its mutations are too weak (or too strong)
    if LEVEL == "long" or budget("importer") >= 40:
        assert outcomes.get("refused", 0) > 0, outcomes
        assert outcomes.get("imported", 0) > 0, outcomes


@pytest.mark.parametrize("name", ["nmap", "kubernetes", "backstage", "service-graph", "csv"])
def test_hostile_markup_is_refused_or_harmless(name: str, tmp_path: Path) -> None:
    """Entity expansion, external entities, alias bombs and deep nesting, in every importer reading them."""
    importer = load_importer(name)
    sample = samples_of(name)[0]
    payloads = ATTACKS_XML if fmt_of(sample.name) == "xml" else ATTACKS_YAML
    if name == "csv":  # YAML reaches the CSV importer as its mapping file
        sample = DATA / "csv_table" / "org.csv"

    @settings(
        max_examples=budget("xml-attack"),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(st.sampled_from(payloads))
    def case(payload: bytes) -> None:
        count(f"hostile:{name}")
        if name == "csv":
            folder = tmp_path / "case"
            folder.mkdir(exist_ok=True)
            target = folder / sample.name
            target.write_bytes(sample.read_bytes())
            (folder / (sample.name + ".mapping.yaml")).write_bytes(payload)
            outcome = run_one(importer, target, {})
        else:
            target, settings_ = place(tmp_path / "case", sample, payload)
            outcome = run_one(importer, target, settings_)
        if fmt_of(sample.name) == "xml" and b"<!ENTITY" in payload:
            assert outcome == "refused", "an XML entity declaration was accepted"

    case()


# ------------------------------------------------------------------------ CLI

BAD = {
    "json": b'{"kind": "List", "items": [{"a": 1}, ',
    "yaml": b"apiVersion: v1\nkind: [unclosed\n  - x: {\n",
    "xml": b'<?xml version="1.0"?><nmaprun><host><address addr="10.0.0.1"',
    "csv": b"\xff\xfe\x00,\x00\n\xc3(",
}
CLI_FORMATS = IMPORTERS if LEVEL == "long" else ["csv", "kubernetes", "nmap"]


@pytest.mark.parametrize("name", CLI_FORMATS)
def test_cli_refuses_a_bad_file_with_exit_2_and_writes_nothing(name: str, tmp_path: Path) -> None:
    count("cli")
    sample = samples_of(name)[0]
    bad, settings_ = place(tmp_path / "in", sample, BAD[fmt_of(sample.name)])
    data = tmp_path / "g.db"
    options = [arg for k, v in settings_.items() for arg in ("--option", f"{k}={v}")]
    env = {
        **os.environ,
        "GRAPHSVC_DATA": str(data),
        "GRAPHSVC_DURABILITY": "normal",
        "COLUMNS": "300",
    }
    env.pop("GRAPHSVC_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-m", "graphsvc.cli.main", "import", name, str(bad), *options],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert "internal error" not in output
    assert bad.name in output, output
    if data.exists():
        written = store_snapshot(data)
        assert written.get("entity", 0) == 0 and written.get("run", 0) == 0, json.dumps(written)
