"""A small graph whose keys and names try to break every format."""

from __future__ import annotations

from typing import Any

from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch

CHANGE = 'CHG|"7"<b>'
CI = "ci*_[x]`tick`"
SVC = 'svc&<i>"q"</i>\\N'
SVC_NAME = "Line one\nline two | pipe <script>alert(1)</script>"
UNICODE = "ünï-日本-サービス"
TEAM = "team#1 |x|"
WINDOW = 'win "freeze" & <hold>'
PROJECT = "prj\\back\\"
AMP_NAME = "&amp; stays literal"
BACKOUT = "Restore <script>alert(2)</script> & run `undo` | *now*"
CI_NAMED = "db|02 <b>gone</b>"
HOSTILE_KEYS = (CHANGE, CI, SVC, UNICODE, TEAM, WINDOW, PROJECT)


def ref(kind: str, key: str) -> dict[str, str]:
    return {"kind": kind, "key": key}


def rel(type_: str, a: tuple[str, str], b: tuple[str, str]) -> dict[str, Any]:
    return {"type": type_, "from": ref(*a), "to": ref(*b)}


async def load_hostile(engine: IngestEngine) -> None:
    """Load the hostile graph; the change ``CHANGE`` modifies ``CI`` inside a blackout."""
    s, c, t = "Service", "ConfigurationItem", "Team"
    entities = [
        {
            "kind": "Change",
            "key": CHANGE,
            "name": 'Patch "core" <b>switch</b> & co \\N',
            "attributes": {
                "state": "scheduled",
                "changeType": "normal",
                "plannedStart": "2030-01-01T10:00:00+00:00",
                "plannedEnd": "2030-01-01T12:00:00+00:00",
                "risk": "high <b>",
                "requestedBy": "Zoë | <b>boss</b>",
                "approval": "approved *by* `cab`",
                "backoutPlan": BACKOUT,
                "testPlan": "ping <x> # 1\n| ok |",
                "configurationItem": CI_NAMED,
            },
        },
        {"kind": c, "key": CI, "name": "db|01 **bold** _it_", "attributes": {"ciClass": "da<ta>|"}},
        {"kind": s, "key": SVC, "name": SVC_NAME, "attributes": {"tier": 1}},
        {"kind": s, "key": UNICODE, "name": AMP_NAME, "attributes": {"tier": 2}},
        {
            "kind": t,
            "key": TEAM,
            "name": "Ops | <i>Team</i>",
            "attributes": {"email": "ops@example.org", "slack": "#ops|<x>"},
        },
        {
            "kind": "Person",
            "key": "zoe",
            "name": "Zoë O'Brien <z>",
            "attributes": {"email": "zoe@example.org", "role": "Lead | *on call*"},
        },
        {
            "kind": "Window",
            "key": WINDOW,
            "attributes": {
                "windowType": "blackout",
                "start": "2030-01-01T00:00:00+00:00",
                "end": "2030-01-02T00:00:00+00:00",
                "reason": "Quarter <end> | freeze",
            },
        },
        {"kind": "Project", "key": PROJECT, "name": "Project `x` # not a heading"},
    ]
    relations = [
        rel("MODIFIES", ("Change", CHANGE), (c, CI)),
        rel("ASSIGNED_TO", ("Change", CHANGE), (t, TEAM)),
        rel("DEPENDS_ON", (s, SVC), (c, CI)),
        rel("DEPENDS_ON", (s, UNICODE), (s, SVC)),
        rel("OWNS", (t, TEAM), (s, SVC)),
        rel("MEMBER_OF", ("Person", "zoe"), (t, TEAM)),
        rel("APPLIES_TO", ("Window", WINDOW), (c, CI)),
        rel("DEPENDS_ON", ("Project", PROJECT), (s, UNICODE)),
    ]
    await engine.ingest(
        IngestBatch.model_validate(
            {"source": "hostile", "entities": entities, "relations": relations}
        )
    )
