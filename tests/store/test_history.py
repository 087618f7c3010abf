"""Undoing history events, shared by both stores (graphsvc/store/history.py)."""

from __future__ import annotations

from graphsvc.model.fields import FieldPath, FieldSection, attribute_path, identifier_path
from graphsvc.store.history import ItemState, revert


def test_revert_undoes_newest_first_and_stops_at_creation() -> None:
    events = [
        (
            "updated",
            '{"attributes.tier":[3,1],"name":["old","new"],"identifiers.fqdn":[null,"a.x"]}',
        ),
        ("status_changed", '{"status":["stale","active"]}'),
        ("merged", '{"alias":[null,"k2"]}'),
    ]
    now = ItemState({"tier": 1}, {"fqdn": "a.x"}, "new", 0)
    assert revert(now, events) == ItemState({"tier": 3}, {}, "old", 1)
    assert now == ItemState({"tier": 1}, {"fqdn": "a.x"}, "new", 0)  # not changed
    assert revert(now, [("created", None)]) is None


def test_field_paths_parse_and_print() -> None:
    assert FieldPath.parse("attributes.tier") == FieldPath(FieldSection.ATTRIBUTES, "tier")
    assert FieldPath.parse("attributes.a.b") == FieldPath(FieldSection.ATTRIBUTES, "a.b")
    assert FieldPath.parse("identifiers.fqdn") == FieldPath.identifier("fqdn")
    assert FieldPath.parse("status") == FieldPath(FieldSection.STATUS)
    for bad in ("attributes", "attributes.", "status.x", "colour", ""):
        assert FieldPath.parse(bad) is None, bad
    assert str(FieldPath.attribute("tier")) == attribute_path("tier") == "attributes.tier"
    assert str(FieldPath.identifier("serial")) == identifier_path("serial")
    assert str(FieldPath(FieldSection.MERGED_INTO)) == "mergedInto"
