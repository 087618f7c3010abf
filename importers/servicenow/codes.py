"""ServiceNow code tables: service classes, choice codes and relationship types."""

from __future__ import annotations

from dataclasses import dataclass

from graphsvc.model.vocabulary import RelationType

__all__ = [
    "CHANGE_STATES",
    "CHANGE_TYPES",
    "INSTALL_STATUS",
    "OOB_REL_TYPE_IDS",
    "OPERATIONAL_STATUS",
    "REL_TYPES",
    "RISKS",
    "SERVICE_CLASSES",
    "RelMapping",
    "rel_mapping",
]

SERVICE_CLASSES: frozenset[str] = frozenset(
    {
        "cmdb_ci_service",
        "cmdb_ci_service_business",
        "cmdb_ci_service_technical",
        "cmdb_ci_service_discovered",
        "cmdb_ci_service_auto",
        "cmdb_ci_service_calculated",
        "cmdb_ci_service_by_tags",
        "cmdb_ci_service_manual",
        "cmdb_ci_query_based_service",
        "service_offering",
    }
)
"""Classes imported as ``Service`` (the ``serviceClasses`` setting adds more)."""

INSTALL_STATUS: dict[str, str] = {
    "1": "Installed",
    "2": "On Order",
    "3": "In Maintenance",
    "4": "Pending Install",
    "5": "Pending Repair",
    "6": "In Stock",
    "7": "Retired",
    "8": "Stolen",
    "100": "Absent",
}
"""``cmdb_ci.install_status`` choice codes -> labels."""

OPERATIONAL_STATUS: dict[str, str] = {
    "1": "Operational",
    "2": "Non-Operational",
    "3": "Repair in Progress",
    "4": "DR Standby",
    "5": "Ready",
    "6": "Retired",
    "7": "Pipeline",
    "8": "Catalog",
}
"""``cmdb_ci.operational_status`` choice codes -> labels."""

CHANGE_STATES: dict[str, str] = {
    # state codes of the change model (Geneva and later)
    "-5": "new",
    "-4": "assess",
    "-3": "assess",  # Authorize: still being approved, not yet scheduled
    "-2": "scheduled",
    "-1": "implement",
    "0": "review",
    "3": "closed",
    "4": "cancelled",
    # labels, lower case (current and legacy models)
    "new": "new",
    "assess": "assess",
    "authorize": "assess",
    "scheduled": "scheduled",
    "implement": "implement",
    "review": "review",
    "closed": "closed",
    "canceled": "cancelled",
    "cancelled": "cancelled",
    "pending": "new",
    "open": "new",
    "work in progress": "implement",
    "closed complete": "closed",
    "closed incomplete": "closed",
    "closed skipped": "cancelled",
}
"""``change_request.state`` codes and labels -> graph ``state``."""

CHANGE_TYPES: dict[str, str] = {
    "standard": "standard",
    "normal": "normal",
    "emergency": "emergency",
    "expedited": "emergency",
    "comprehensive": "normal",
}
"""``change_request.type`` values and labels (lower case) -> graph ``changeType``."""

RISKS: dict[str, str] = {"1": "Very High", "2": "High", "3": "Moderate", "4": "Low", "5": "None"}
"""``change_request.risk`` codes -> labels (used when the export has no display values)."""

OOB_REL_TYPE_IDS: dict[str, str] = {
    "1a9cb166f1571100a92eb60da2bce5c5": "Depends on::Used by",
    "60bc4e22c0a8010e01f074cbe6bd73c3": "Runs on::Runs",
    "55c95bf6c0a8010e0118ec7056ebc54d": "Contains::Contained by",
    "55c913d3c0a8010e012d1563182d6050": "Members::Member of",
    "d93304fb0a0a0b78006081a72ef08444": "Virtualized by::Virtualizes",
}
"""sys_ids of out-of-box ``cmdb_rel_type`` records, for exports without display values.

Other types need display values (``sysparm_display_value=all``) or a
``cmdb_rel_type`` export in the same run.
"""


@dataclass(frozen=True, slots=True)
class RelMapping:
    """How one relationship type maps onto the graph.

    Attributes:
        type: The graph relation type.
        from_parent: ``True``: the relation goes parent -> child; ``False``: child -> parent.
        redundant: The relation gets a ``redundancyGroup`` named after its ``from``
            end (the cluster), so that losing one member degrades the cluster and
            losing all of them takes it down.
    """

    type: RelationType
    from_parent: bool
    redundant: bool = False


REL_TYPES: dict[str, RelMapping] = {
    "depends on::used by": RelMapping(RelationType.DEPENDS_ON, True),
    "uses::used by": RelMapping(RelationType.DEPENDS_ON, True),
    "consumes::consumed by": RelMapping(RelationType.DEPENDS_ON, True),
    "provided by::provides": RelMapping(RelationType.DEPENDS_ON, True),
    "provides storage for::stored on": RelMapping(RelationType.DEPENDS_ON, False),
    "runs on::runs": RelMapping(RelationType.RUNS_ON, True),
    "hosted on::hosts": RelMapping(RelationType.RUNS_ON, True),
    "virtualized by::virtualizes": RelMapping(RelationType.RUNS_ON, True),
    "contains::contained by": RelMapping(RelationType.PART_OF, False),
    # membership: the cluster needs its members, redundantly
    "members::member of": RelMapping(RelationType.DEPENDS_ON, True, redundant=True),
    "cluster of::cluster": RelMapping(RelationType.DEPENDS_ON, False, redundant=True),
}
"""Relationship type names (``parent::child`` descriptors, lower case) -> mapping."""


def _norm(name: str) -> str:
    return "::".join(" ".join(part.split()).lower() for part in name.split("::"))


def rel_mapping(name: str) -> RelMapping | None:
    """Return the mapping of relationship type ``name``, or ``None`` when it has none.

    Names compare case- and whitespace-insensitively. A type written the other
    way round (``Used by::Depends on``, ``Hosts::Hosted on``) maps like its
    counterpart with the ends swapped.
    """
    key = _norm(name)
    found = REL_TYPES.get(key)
    if found is not None:
        return found
    if "::" in key:
        parent, child = key.split("::", 1)
        reverse = REL_TYPES.get(f"{child}::{parent}")
        if reverse is not None:
            return RelMapping(reverse.type, not reverse.from_parent, reverse.redundant)
    return None
