"""``graphsvc conflicts``: identity conflicts of the store, as a table and as JSON lines."""

from __future__ import annotations

import json
import re
from pathlib import Path

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
