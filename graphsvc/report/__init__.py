"""The CAB change review report (PRODUCT.md 4.4): one content model, three formats.

Layer: above the analyses, below the API and the CLI. It reads the store only
through the port and the analyses, and knows nothing of HTTP or the terminal.

* :func:`build_change_report` asks the analyses and returns a frozen
  :class:`ChangeReport` (:mod:`graphsvc.report.model`).
* :func:`render_report` turns it into HTML (self-contained, with the impact
  diagram drawn by Graphviz; :mod:`graphsvc.report.diagram`), Markdown, or JSON
  (whose schema :func:`report_schema_json` derives from the model).
"""

from graphsvc.report.build import build_change_report, report_from_change_impact
from graphsvc.report.formats import MEDIA_TYPES, ReportFormat, render_json, render_report
from graphsvc.report.model import ChangeReport
from graphsvc.report.schema import SCHEMA_FILE, report_schema, report_schema_json

__all__ = [
    "MEDIA_TYPES",
    "SCHEMA_FILE",
    "ChangeReport",
    "ReportFormat",
    "build_change_report",
    "render_json",
    "render_report",
    "report_from_change_impact",
    "report_schema",
    "report_schema_json",
]
