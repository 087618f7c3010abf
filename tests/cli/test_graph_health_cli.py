"""``graphsvc spof`` and ``graphsvc cycles``: tables and JSON from the local store."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_import_batch import graphsvc


def _rel(a: tuple[str, str], t: str, b: tuple[str, str], **attributes: str) -> dict[str, object]:
    return {
        "type": t,
        "from": {"kind": a[0], "key": a[1]},
        "to": {"kind": b[0], "key": b[1]},
        "attributes": attributes,
    }


def test_spof_and_cycles(tmp_path: Path) -> None:
    svc, ci = "Service", "ConfigurationItem"
    batch = tmp_path / "g.json"
    batch.write_text(
        json.dumps(
            {
                "source": "cmdb",
                "entities": [
                    {"kind": svc, "key": "web"},
                    {"kind": svc, "key": "app"},
                    {"kind": ci, "key": "db1", "attributes": {"ciClass": "db"}},
                    {"kind": ci, "key": "db2", "attributes": {"ciClass": "db"}},
                    {"kind": ci, "key": "host", "attributes": {"ciClass": "server"}},
                ],
                "relations": [
                    _rel((svc, "web"), "DEPENDS_ON", (svc, "app")),
                    _rel((svc, "app"), "DEPENDS_ON", (svc, "web")),
                    _rel((svc, "app"), "DEPENDS_ON", (ci, "db1"), redundancyGroup="db"),
                    _rel((svc, "app"), "DEPENDS_ON", (ci, "db2"), redundancyGroup="db"),
                    _rel((ci, "db1"), "RUNS_ON", (ci, "host")),
                    _rel((ci, "db2"), "RUNS_ON", (ci, "host")),
                ],
            }
        )
    )
    done = graphsvc(tmp_path, "import", "batch", str(batch))
    assert done.returncode == 0, done.stderr
    table = graphsvc(tmp_path, "spof", "service", "web")
    assert table.returncode == 0, table.stderr
    assert "Service/app" in table.stdout and "ConfigurationItem/host" in table.stdout
    assert "2 single point(s) among 4 dependencies" in table.stderr
    answer = json.loads(graphsvc(tmp_path, "spof", "Service", "web", "--json").stdout)
    assert [p["entity"]["key"] for p in answer["points"]] == ["app", "host"]
    missing = graphsvc(tmp_path, "spof", "Service", "nope")
    assert missing.returncode == 2 and "no Service has the key or alias 'nope'" in missing.stderr
    bad_kind = graphsvc(tmp_path, "spof", "Gadget", "web")
    assert bad_kind.returncode == 2 and "'Gadget' is not a kind" in bad_kind.stderr
    bad_time = graphsvc(tmp_path, "spof", "Service", "web", "--as-of", "yesterday")
    assert bad_time.returncode == 2 and "--as-of" in bad_time.stderr

    cycles = graphsvc(tmp_path, "cycles")
    assert cycles.returncode == 0, cycles.stderr
    assert "Service/app, Service/web" in cycles.stdout
    assert "1 group(s), 2 entities in a cycle, 6 impact-carrying relations" in cycles.stderr
    page = json.loads(graphsvc(tmp_path, "cycles", "--json").stdout)
    assert page["total"] == 1 and len(page["groups"][0]["cycle"]) == 2
