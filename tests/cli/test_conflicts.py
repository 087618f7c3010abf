"""``graphsvc conflicts``: identity conflicts of the store, as a table and as JSON lines."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from graphsvc.cli.main import app
from tests.cli.test_import_batch import graphsvc


def _batch(path: Path, source: str, entities: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"source": source, "entities": entities}))
    return path


def test_conflicts_lists_what_an_import_could_not_take(tmp_path: Path) -> None:
    first = _batch(
        tmp_path / "a.json",
        "cmdb",
        [
            {
                "kind": "ConfigurationItem",
                "key": "srv-1",
                "identifiers": {"fqdn": "db1.example.org"},
                "attributes": {"ciClass": "server"},
            },
            {
                "kind": "ConfigurationItem",
                "key": "srv-2",
                "identifiers": {"serial": "S2"},
                "attributes": {"ciClass": "server"},
            },
        ],
    )
    second = _batch(
        tmp_path / "b.json",
        "nmap",
        [
            {
                "kind": "ConfigurationItem",
                "key": "srv-2",
                "identifiers": {"fqdn": "DB1.example.org."},
            }
        ],
    )
    for path in (first, second):
        done = graphsvc(tmp_path, "import", "batch", str(path))
        assert done.returncode == 0, done.stderr
    assert re.search(r"id conflicts\s+│\s+1 │", done.stdout), done.stdout

    table = graphsvc(tmp_path, "conflicts")
    assert table.returncode == 0, table.stderr
    assert "fqdn=db1.example.org" in table.stdout
    assert "ConfigurationItem/srv-1" in table.stdout and "srv-2" in table.stdout

    lines = graphsvc(tmp_path, "conflicts", "--json")
    [row] = [json.loads(line) for line in lines.stdout.splitlines()]
    assert (row["identifierType"], row["holder"], row["entity"], row["source"]) == (
        "fqdn",
        "ConfigurationItem/srv-1",
        "ConfigurationItem/srv-2",
        "nmap",
    )
    assert graphsvc(tmp_path, "conflicts", "--first", "0").returncode == 2


def cli(tmp_path: Path, *args: str) -> Result:
    """Run the CLI in this process (quicker than a process per call)."""
    env = {"GRAPHSVC_DATA": str(tmp_path / "g.db"), "COLUMNS": "200"}
    return CliRunner().invoke(app, list(args), env=env)


def test_dismiss_and_merge_close_conflicts_and_the_listing_shows_their_state(
    tmp_path: Path,
) -> None:
    def host(key: str, **identifiers: str) -> dict[str, object]:
        return {
            "kind": "ConfigurationItem",
            "key": key,
            "identifiers": identifiers,
            "attributes": {"ciClass": "server"},
        }

    first = _batch(
        tmp_path / "a.json",
        "cmdb",
        [host("srv-1", serial="S1", fqdn="db1.example.org"), host("srv-3", serial="S3", ipAddress="10.0.0.3")],
    )  # fmt: skip
    second = _batch(
        tmp_path / "b.json",
        "nmap",
        [host("srv-2", serial="S2", fqdn="db1.example.org"), host("srv-4", serial="S4", ipAddress="10.0.0.3")],
    )  # fmt: skip
    for path in (first, second):
        assert cli(tmp_path, "import", "batch", str(path)).exit_code == 0
    rows = [json.loads(x) for x in cli(tmp_path, "conflicts", "--open", "--json").stdout.splitlines()]  # fmt: skip
    seqs = {row["identifierType"]: row["seq"] for row in rows}
    assert {row["state"] for row in rows} == {"open"} and len(rows) == 2

    ip = str(seqs["ipAddress"])
    assert cli(tmp_path, "conflicts", "dismiss", ip, "--reason", " ").exit_code == 2
    done = cli(tmp_path, "conflicts", "dismiss", ip, "--reason", "lab IP")
    assert done.exit_code == 0, done.output
    again = cli(tmp_path, "conflicts", "dismiss", ip, "--reason", "x")
    assert again.exit_code == 1 and "already dismissed" in again.output

    merged = cli(tmp_path, "merge", "CONFIGURATION_ITEM", "srv-1", "srv-2")
    assert merged.exit_code == 0, merged.output
    assert f"conflicts resolved: {seqs['fqdn']}" in merged.stdout
    alias = cli(tmp_path, "merge", "ConfigurationItem", "srv-3", "srv-2")
    assert alias.exit_code == 1 and "is an alias of ConfigurationItem/srv-1" in alias.output
    assert cli(tmp_path, "merge", "ConfigurationItem", "srv-1", "srv-1").exit_code == 2
    assert cli(tmp_path, "merge", "Nothing", "srv-1", "srv-3").exit_code == 2

    rows = [json.loads(x) for x in cli(tmp_path, "conflicts", "--json").stdout.splitlines()]
    states = {row["identifierType"]: (row["state"], row["closedBy"], row["closeReason"]) for row in rows}  # fmt: skip
    assert states == {
        "fqdn": ("resolved", "cli", "merged ConfigurationItem/srv-2 into ConfigurationItem/srv-1"),
        "ipAddress": ("dismissed", "cli", "lab IP"),
    }
    assert cli(tmp_path, "conflicts", "--open", "--json").stdout == ""
    table = cli(tmp_path, "conflicts", "--state", "dismissed")
    assert "dismissed by cli: lab IP" in table.stdout and "fqdn" not in table.stdout
