"""The JSON Schema of the change report, derived from :class:`~graphsvc.report.model.ChangeReport`.

``graphsvc export-schema`` writes it to ``schema/change-report.schema.json``;
``graphsvc export-schema --check`` and a test fail when the committed file
differs from what the model derives.
"""

from __future__ import annotations

from typing import Any

import orjson

from graphsvc.report.model import ChangeReport

__all__ = ["SCHEMA_FILE", "report_schema", "report_schema_json"]

SCHEMA_FILE = "change-report.schema.json"
"""The schema's file name under ``schema/``."""
SCHEMA_ID = "https://graphsvc.dev/schema/change-report.schema.json"


def report_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of the JSON format of the change report."""
    schema = ChangeReport.model_json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "graphsvc change review report",
        "description": (
            "The CAB report of one change (PRODUCT.md 4.4), as `graphsvc report change KEY "
            "--format json` and `GET /api/v1/reports/changes/{key}?format=json` return it. "
            "Generated from graphsvc.report.model by `graphsvc export-schema`; do not edit by "
            "hand."
        ),
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def report_schema_json() -> str:
    """Return :func:`report_schema` as stable, indented JSON text (with a final newline)."""
    return (
        orjson.dumps(report_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        + "\n"
    )
