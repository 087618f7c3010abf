"""``graphsvc import`` shows the writes a higher-priority source overruled (PRODUCT.md 8)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from graphsvc.api.rest import SummaryOut
from graphsvc.cli.main import app
from graphsvc.cli.remote import _summary
from graphsvc.ingest.results import IngestSummary, UnappliedWrite


def import_batch(tmp_path: Path, document: dict[str, object]) -> Result:
    """``graphsvc import batch FILE`` in this process, ITSM outranking the PPM tool."""
    path = tmp_path / f"{document['source']}.json"
    path.write_text(json.dumps(document))
    env = {
        "GRAPHSVC_DATA": str(tmp_path / "g.db"),
        "GRAPHSVC_SOURCE_PRIORITIES": '{"itsm": 10, "ppm": 5}',
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    return CliRunner().invoke(app, ["import", "batch", str(path)], env=env)


def test_import_batch_prints_a_table_of_unapplied_writes(tmp_path: Path) -> None:
    held = {f"a{n:02}": n for n in range(25)}
    first = import_batch(
        tmp_path,
        {
            "source": "itsm",
            "entities": [
                {"kind": "Service", "key": "billing", "name": "Billing", "attributes": held}
            ],
        },
    )
    assert first.exit_code == 0, first.output
    assert "not applied" not in first.stdout
    changed = {name: f"[red]{value}[/]" for name, value in held.items()}
    second = import_batch(
        tmp_path,
        {
            "source": "ppm",
            "entities": [{"kind": "Service", "key": "billing", "attributes": changed}],
        },
    )
    assert second.exit_code == 0, second.output
    out = second.stdout
    assert "25 write(s) not applied: a source of higher priority holds the field" in out
    row = next(line for line in out.splitlines() if "attributes.a00" in line)
    # sent and kept as JSON, markup in values shown as sent, the holder with both priorities
    assert "Service/billing" in row and '"[red]0[/]"' in row and "itsm (priority 10 > 5)" in row
    assert "attributes.a19" in out and "attributes.a20" not in out
    assert "… and 5 more" in out


def test_the_remote_cli_reads_them_back_from_the_rest_answer() -> None:
    writes = tuple(
        UnappliedWrite(
            "relation", "relations", n, "OWNS Team/a -> Service/b", "attributes.since",
            {"at": [n, None]}, None, "itsm", 10, "ppm", -1, "why",
        )
        for n in range(3)
    )  # fmt: skip
    summary = IngestSummary(run_id="r", unapplied=writes, unapplied_total=5000)
    answer = SummaryOut.of(summary).model_dump(by_alias=True, mode="json")
    assert _summary(answer) == summary
