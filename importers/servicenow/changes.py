"""Reading change requests: numbers, date-times in the right zone, plan texts.

Pure helpers of :mod:`importers.servicenow.importer` for ``change_request``
records (see the package docstring for the mapping).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from graphsvc.errors import InvalidInput
from graphsvc.model.validation import parse_datetime
from importers.servicenow.records import SnowRecord

__all__ = [
    "CHANGE_TEXTS",
    "TIME_ZONE_SETTING",
    "change_number",
    "read_time_zone",
    "snow_datetime",
    "text_block",
]

TIME_ZONE_SETTING = "timeZone"
"""Setting naming the exporting user's time zone, for display-values-only exports."""

CHANGE_TEXTS: tuple[tuple[str, str], ...] = (
    ("backout_plan", "backoutPlan"),
    ("test_plan", "testPlan"),
    ("implementation_plan", "implementationPlan"),
    ("change_plan", "changePlan"),
    ("justification", "justification"),
    ("risk_impact_analysis", "riskImpactAnalysis"),
    ("description", "description"),
)
"""Free-text fields of ``change_request`` -> attributes (tidied by :func:`text_block`)."""

_SNOW_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}$")


def change_number(record: SnowRecord) -> str:
    """Return a change record's number (its key), stripped: the raw value, else the display value.

    The parser has refused records without one, so this is never empty for
    records it returned.
    """
    return record.value("number") or record.label("number")


def snow_datetime(value: str, zone: tzinfo = UTC) -> str | None:
    """Return a ServiceNow date-time as ISO 8601 with a zone, or ``None`` if unreadable.

    The Table API returns raw values as ``YYYY-MM-DD HH:MM:SS`` in UTC without a
    zone; they are read in ``zone`` (UTC unless told otherwise: display values
    are in the exporting user's zone) and written with its offset. A value that
    already carries a zone is kept as it says. A local time that a daylight
    saving change skips or repeats is read with the offset before the change.
    """
    text = value.strip()
    if _SNOW_TIME.match(text):
        return datetime.fromisoformat(text).replace(tzinfo=zone).isoformat()
    parsed = parse_datetime(text)
    return parsed.isoformat() if parsed else None


def read_time_zone(name: str | None) -> tzinfo | None:
    """Return the time zone of the ``timeZone`` setting (an IANA name, ``UTC``), or ``None``.

    Raises:
        InvalidInput: when the name is not a time zone this machine knows.
    """
    if name is None or not name.strip():
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        msg = (
            f"--set {TIME_ZONE_SETTING}={name!r}: not a time zone name; give an IANA name "
            "such as Europe/Amsterdam or UTC"
        )
        raise InvalidInput(msg) from None


def text_block(text: str) -> str:
    """Return a multi-line text field tidied: each line stripped, runs of blank lines as one.

    ServiceNow keeps the indentation of whatever was pasted into a plan;
    line breaks carry meaning (steps), indentation does not.
    """
    lines: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)
