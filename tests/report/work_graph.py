"""A small hand-drawn graph of project and operational work, for the plan and load reports.

*Now* is Monday 2030-01-07 00:00 UTC, so the weeks start 01-07, 01-14, 01-21.
t-dev has capacity 40 h and project share 0.5 (project capacity 20 h).

* prj-x (planned start 02-01) REQUIRES tsk-a REQUIRES tsk-b; tsk-c and tsk-d
  are PART_OF prj-x and tsk-c REQUIRES tsk-b.
* tsk-b: 50 h from 01-07 to 01-12: week 01-07 carries 50 h of project work,
  above C: OVERBOOKED.
* tsk-a: 25 h from 01-14 to 01-19: week 01-14 carries 25 h of project work,
  above 20 h but within C: OVER_PROJECT_SHARE.
* tsk-ops: 30 h of operational work from 01-21 to 01-26: week 01-21 is OK.
* tsk-c: 8 h due 02-05, assigned to nobody: UNASSIGNED and LATE.
* tsk-d: done. tsk-u: operational, no effort and no due: unscheduled.
* prj-y REQUIRES tsk-y1; tsk-y1 and tsk-y2 REQUIRE each other (a cycle); both
  are assigned to t-mem, whose capacity comes from its members (40 h + 30 h).
* prj-done: its only task is done.

The critical path of prj-x is tsk-b then tsk-a (75 h): tsk-a needs tsk-b, and
that chain outweighs tsk-c after tsk-b (58 h).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from graphsvc.ingest.engine import IngestEngine
from tests.analysis.helpers import ent, load, rel

NOW = datetime(2030, 1, 7, tzinfo=UTC)
END = datetime(2030, 1, 27, tzinfo=UTC)  # a Sunday: three weeks
TASK_A_NAME = "Migrate <db> | core *now*"


def at(day: str) -> str:
    """2030-<day> 00:00 UTC, ISO 8601."""
    return f"2030-{day}T00:00:00+00:00"


def task(key: str, name: str | None = None, **attributes: Any) -> dict[str, Any]:
    """A Task item (``status`` is the task's attribute, not the entity status)."""
    item: dict[str, Any] = {"kind": "Task", "key": key, "attributes": attributes}
    if name is not None:
        item["name"] = name
    return item


async def work_graph(engine: IngestEngine) -> None:
    """Load the graph of the module docstring."""
    await load(
        engine,
        [
            ent("prj-x", plannedStart=at("02-01")),
            ent("prj-y"),
            ent("prj-done"),
            ent("t-dev", capacityHoursPerWeek=40, projectShare=0.5),
            ent("t-mem"),
            ent("p-dev"),
            ent("p-half", hoursPerWeek=30),
            task("tsk-a", TASK_A_NAME, effortHours=25, plannedStart=at("01-14"), due=at("01-19")),
            task("tsk-b", effortHours=50, plannedStart=at("01-07"), due=at("01-12")),
            task("tsk-c", effortHours=8, due=at("02-05")),
            task("tsk-d", effortHours=8, due=at("01-03"), status="done"),
            task("tsk-ops", effortHours=30, plannedStart=at("01-21"), due=at("01-26")),
            task("tsk-u"),
            task("tsk-y1", effortHours=4, due=at("01-20")),
            task("tsk-y2", effortHours=4, due=at("01-20")),
            task("tsk-z", effortHours=4, due=at("01-02"), status="done"),
        ],
        [
            rel("p-dev", "MEMBER_OF", "t-dev"),
            rel("p-dev", "MEMBER_OF", "t-mem"),
            rel("p-half", "MEMBER_OF", "t-mem"),
            rel("prj-x", "REQUIRES", "tsk-a"),
            rel("tsk-a", "REQUIRES", "tsk-b"),
            rel("tsk-c", "PART_OF", "prj-x"),
            rel("tsk-d", "PART_OF", "prj-x"),
            rel("tsk-c", "REQUIRES", "tsk-b"),
            rel("prj-y", "REQUIRES", "tsk-y1"),
            rel("tsk-y1", "REQUIRES", "tsk-y2"),
            rel("tsk-y2", "REQUIRES", "tsk-y1"),
            rel("tsk-z", "PART_OF", "prj-done"),
            *(
                rel(k, "ASSIGNED_TO", "t-dev")
                for k in ("tsk-a", "tsk-b", "tsk-d", "tsk-ops", "tsk-u")
            ),
            rel("tsk-y1", "ASSIGNED_TO", "t-mem"),
            rel("tsk-y2", "ASSIGNED_TO", "t-mem"),
        ],
    )
