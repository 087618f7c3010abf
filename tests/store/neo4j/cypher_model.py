"""An in-memory model of what each statement of ``graphsvc.store.neo4j.cypher`` does.

No Neo4j runs on the machines this project is built on. This module answers
every statement the Neo4j store sends, by its ``op`` name, the way its Cypher
text says it behaves (``MATCH`` finds nothing -> no row, ``SET n += map``
removes the keys mapped to ``null``, ``MERGE`` matches or creates, ...), over
plain dictionaries. :class:`ModelGateway` plugs it into ``Neo4jStore`` as its
gateway, so that:

* the contract suite runs against the Neo4j store's own code (everything but
  the Cypher engine), as the ``neo4j-model`` backend;
* the golden tests record the exact statements each port operation sends.

What it cannot tell is whether Neo4j agrees with the model about a text: that
is checked by the golden texts, the Cypher linter test and, where a server is
available, the ``neo4j`` contract case.
"""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from graphsvc.store.neo4j.cypher import SCHEMA_VERSION, Statement, schema_name

Row = dict[str, Any]
INT64 = (-(2**63), 2**63 - 1)


def check_param(value: Any, path: str = "$") -> None:
    """Fail unless ``value`` is something the Bolt protocol can carry as a parameter."""
    if value is None or isinstance(value, bool | str | float):
        return
    if isinstance(value, int):
        assert INT64[0] <= value <= INT64[1], f"{path}: {value} does not fit 64 bits"
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_param(v, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), f"{path}: map key {k!r} is not a string"
            check_param(v, f"{path}.{k}")
        return
    raise AssertionError(f"{path}: {type(value).__name__} cannot be a parameter")


def check_property(value: Any, what: str) -> None:
    """Fail unless ``value`` may be stored as a Neo4j property (null means remove)."""
    if value is None or isinstance(value, bool | str | float):
        return
    if isinstance(value, int):
        assert INT64[0] <= value <= INT64[1], f"{what}: {value} does not fit 64 bits"
        return
    if isinstance(value, list):
        assert value, f"{what}: empty list property"
        kinds = {type(v) for v in value}
        assert len(kinds) == 1, f"{what}: mixed list {value!r}"
        assert kinds <= {int, str, float, bool}, f"{what}: list of {kinds}"
        return
    raise AssertionError(f"{what}: {type(value).__name__} cannot be a property")


def set_props(target: dict[str, Any], props: dict[str, Any], what: str) -> None:
    """``SET n += props``: null values remove the property."""
    for k, v in props.items():
        check_property(v, f"{what}.{k}")
        if v is None:
            target.pop(k, None)
        else:
            target[k] = v


@dataclass
class GraphState:
    """The nodes and relationships the store writes, by kind of node."""

    meta: dict[str, Any] | None = None
    entities: dict[int, dict[str, Any]] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)
    aliases: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    identifiers: set[tuple[int, str, str, int]] = field(default_factory=set)
    conflicts: dict[int, dict[str, Any]] = field(default_factory=dict)
    relations: dict[int, dict[str, Any]] = field(default_factory=dict)
    refs: dict[int, dict[str, Any]] = field(default_factory=dict)
    assertions: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[int, dict[str, Any]] = field(default_factory=dict)
    schema: list[str] = field(default_factory=list)

    def node_count(self) -> int:
        return (
            (1 if self.meta else 0)
            + len(self.entities)
            + len(self.aliases)
            + len(self.identifiers)
            + len(self.refs)
            + len(self.assertions)
            + len(self.runs)
            + len(self.history)
            + len(self.conflicts)
        )


_ENTITY_FIELDS = (
    "id",
    "kind",
    "key",
    "name",
    "status",
    "attributes",
    "identifiers",
    "provenance",
    "first_seen",
    "last_seen",
)


def _entity_row(e: dict[str, Any]) -> Row:
    return {k: e.get(k) for k in _ENTITY_FIELDS}


def _relation_row(r: dict[str, Any]) -> Row:
    return {
        "id": r["id"],
        "type": r["type"],
        "src": r["src"],
        "dst": r["dst"],
        "status": r.get("status"),
        "attributes": r.get("attributes"),
        "provenance": r.get("provenance"),
        "first_seen": r.get("first_seen"),
        "last_seen": r.get("last_seen"),
        "grp": r.get("grp"),
        "s_at": r.get("s_at"),
        "s_old": r.get("s_old"),
    }


def _types_in(text: str) -> set[str]:
    match = re.search(r"\[r:([A-Z_|]+)\]", text)
    assert match, text
    return set(match.group(1).split("|"))


class Model:
    """Answers statements over a :class:`GraphState` (see the module docstring)."""

    def __init__(self, state: GraphState) -> None:
        self.s = state

    def run(self, st: Statement) -> list[Row]:
        check_param(dict(st.params))
        handler: Callable[[Statement, dict[str, Any]], list[Row]] = getattr(self, "op_" + st.op)
        return handler(st, dict(st.params))

    # ------------------------------------------------------------ helpers
    def survivor(self, i: int) -> dict[str, Any] | None:
        x = self.s.entities.get(i)
        if x is None:
            return None
        return self.s.entities.get(x.get("merged_into") or x["id"])

    def by_key(self, kind: int, key: str) -> dict[str, Any] | None:
        for e in self.s.entities.values():
            if e["kind"] == kind and e["key"] == key:
                return e
        return None

    def relation(self, rid: int) -> dict[str, Any] | None:
        k = self.s.refs.get(rid)
        if k is None:
            return None
        r = self.s.relations.get(rid)
        if r is None or r["src"] != k["src"] or r["dst"] != k["dst"]:
            return None
        if k["src"] not in self.s.entities or k["dst"] not in self.s.entities:
            return None
        return r

    # --------------------------------------------------------------- meta
    def op_read_meta(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        m = self.s.meta
        if m is None:
            return []
        return [
            {
                k: m.get(k)
                for k in (
                    "schema_version",
                    "entities",
                    "relations",
                    "next_history",
                    "last_commit",
                    "mirrored",
                    "text_mirrored",
                )
            }
        ]

    def op_any_node(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        return [{"nodes": self.s.node_count()}]

    def op_schema(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        if st.text not in self.s.schema:
            self.s.schema.append(st.text)
        return []

    def op_schema_names(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        names: list[str] = []
        for text in self.s.schema:
            named = schema_name(text)
            if text.startswith("DROP") and named in names:
                names.remove(named)
            elif text.startswith("CREATE") and named not in names:
                names.append(named)
        return [{"name": n} for n in names]

    def op_await_indexes(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        return []

    def op_create_meta(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        if self.s.meta is None:
            self.s.meta = {
                "name": p["name"],
                "schema_version": p["version"],
                "created": p["created"],
                "next_entity": 1,
                "next_relation": 1,
                "next_history": 1,
                "next_run": 1,
                "entities": 0,
                "relations": 0,
                "last_commit": 0,
                "mirrored": list(p["mirrored"]),
                "text_mirrored": True,
            }
        return [
            {
                "schema_version": self.s.meta["schema_version"],
                "mirrored": self.s.meta.get("mirrored"),
                "text_mirrored": self.s.meta.get("text_mirrored"),
            }
        ]

    def op_text_sources(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        found = sorted(
            (e for e in self.s.entities.values() if e["id"] > p["after"]),
            key=lambda e: e["id"],
        )
        return [{"id": e["id"], "key": e["key"], "name": e["name"]} for e in found][: p["limit"]]

    def op_set_text_mirrored(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        assert self.s.meta is not None
        self.s.meta["text_mirrored"] = True
        return []

    def op_mirror_sources(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        found = sorted(
            (e for e in self.s.entities.values() if e["id"] > p["after"]),
            key=lambda e: e["id"],
        )
        rows = [
            {"id": e["id"], "attributes": e["attributes"]} for e in found if e["attributes"] != "{}"
        ]
        return rows[: p["limit"]]

    def op_set_mirror(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for row in p["rows"]:
            e = self.s.entities.get(row["id"])
            if e is not None:
                set_props(e, row["props"], "entity")
        return []

    def op_set_mirrored(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        assert self.s.meta is not None
        self.s.meta["mirrored"] = list(p["names"])
        return []

    def op_lock_meta(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        m = self.s.meta
        if m is None:
            return []
        m["writer"] = p["writer"]
        keys = ("next_entity", "next_relation", "next_history", "next_run")
        return [{k: m[k] for k in (*keys, "entities", "relations", "last_commit")}]

    def op_save_meta(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        assert self.s.meta is not None
        set_props(self.s.meta, p["counters"], "meta")
        return []

    # ------------------------------------------------------------ entities
    def _aliases_of(self, eid: int, as_of: int | None = None) -> list[str]:
        return sorted(
            key
            for (_, key), a in self.s.aliases.items()
            if a["entity"] == eid and (as_of is None or a["since"] <= as_of)
        )

    def op_entities_now(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        out = []
        for i in p["ids"]:
            e = self.survivor(i)
            if e is None or e["status"] == 3:
                continue
            out.append({"requested": i, **_entity_row(e), "aliases": self._aliases_of(e["id"])})
        return out

    def op_entities_rows(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        out = []
        for i in p["ids"]:
            e = self.s.entities.get(i)
            if e is None:
                continue
            out.append(
                {
                    **_entity_row(e),
                    "merged_into": e.get("merged_into"),
                    "aliases": self._aliases_of(e["id"], p["as_of"]),
                }
            )
        return out

    def op_entity_states(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        return [_entity_row(self.s.entities[i]) for i in p["ids"] if i in self.s.entities]

    def op_walk_nodes(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        out = []
        for i in p["ids"]:
            e = self.survivor(i)
            if e is not None:
                out.append(
                    {
                        "requested": i,
                        "id": e["id"],
                        "kind": e["kind"],
                        "status": e["status"],
                        "first_seen": e["first_seen"],
                        "s_at": e.get("s_at"),
                        "s_old": e.get("s_old"),
                    }
                )
        return out

    def op_resolve_keys(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        out = []
        for ref in p["refs"]:
            a = self.s.aliases.get((ref["kind"], ref["key"]))
            e = self.by_key(ref["kind"], ref["key"])
            out.append(
                {
                    "i": ref["i"],
                    "alias_entity": a["entity"] if a else None,
                    "entity_id": e["id"] if e else None,
                    "merged_into": e.get("merged_into") if e else None,
                }
            )
        return out

    def op_resolve_keys_as_of(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        out = []
        t = p["as_of"]
        for ref in p["refs"]:
            e = self.by_key(ref["kind"], ref["key"])
            if e is not None and not e["first_seen"] <= t:
                e = None
            a = self.s.aliases.get((ref["kind"], ref["key"]))
            if a is not None and not a["since"] <= t:
                a = None
            out.append(
                {
                    "i": ref["i"],
                    "entity_id": e["id"] if e else None,
                    "alias_entity": a["entity"] if a else None,
                }
            )
        return out

    def op_resolve_identifiers(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        out = []
        for pair in p["pairs"]:
            for kind, type_, value, holder in sorted(self.s.identifiers):
                if (kind, type_, value) != (p["kind"], pair["type"], pair["value"]):
                    continue
                e = self.s.entities.get(holder)
                if e is not None and e["status"] != 3:
                    out.append({"i": pair["i"], "id": e["id"]})
        return out

    def _filtered(self, st: Statement, p: dict[str, Any]) -> list[dict[str, Any]]:
        label = re.search(r"MATCH \(e:Entity(?::(\w+))?\)", st.text)
        assert label, st.text
        attrs = re.findall(r"e\.(attr_\w+) = \$(a\d+)", st.text)
        out = []
        for eid in sorted(self.s.entities):
            e = self.s.entities[eid]
            if label.group(1) and self.s.labels.get(eid) != label.group(1):
                continue
            if e["status"] == 3:
                continue
            if "after" in p and not e["id"] > p["after"]:
                continue
            if "statuses" in p and e["status"] not in p["statuses"]:
                continue
            text = p.get("text")
            if text is not None and text not in e["key"].lower() and text not in e["name"].lower():
                continue
            if any(not _cypher_equal(e.get(prop), p[param]) for prop, param in attrs):
                continue
            out.append(e)
        return out

    def op_count_entities(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        found = len(self._filtered(st, p))
        return [{"total": min(found, p["bound"]) if "bound" in p else found}]

    def op_page_entity_ids(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        return [{"id": e["id"]} for e in self._filtered(st, p)[: p["limit"]]]

    def op_scan_entity_attributes(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        return [{"id": e["id"], "attributes": e["attributes"]} for e in self._filtered(st, p)]

    def op_attribute_column(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        prop = re.search(r"e\.(attr_\w+) AS value", st.text)
        assert prop, st.text
        out = []
        for i in p["ids"]:
            e = self.survivor(i)
            if e is None or e["status"] == 3:
                continue
            value = e.get(prop.group(1))
            out.append(
                {
                    "requested": i,
                    "value": value,
                    "attributes": e["attributes"] if value is None else None,
                }
            )
        return out

    def op_losers_of(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        return [
            {"id": e["id"]} for e in self.s.entities.values() if e.get("merged_into") == p["id"]
        ]

    # ----------------------------------------------------------- relations
    def op_relations_by_id(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        return [_relation_row(r) for i in p["ids"] if (r := self.relation(i)) is not None]

    def op_relations_of(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        a = self.survivor(p["id"])
        if a is None:
            return []
        out_dir = "-[r]->(b)" in st.text
        end = "src" if out_dir else "dst"
        return [
            {
                "entity": a["id"],
                "id": r["id"],
                "type": r["type"],
                "status": r["status"],
                "first_seen": r["first_seen"],
                "s_at": r.get("s_at"),
                "s_old": r.get("s_old"),
            }
            for r in self.s.relations.values()
            if r[end] == a["id"]
        ]

    def op_lookup_relations(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        out = []
        for t in p["triples"]:
            for r in self.s.relations.values():
                if (r["src"], r["dst"], r["type"]) == (t["src"], t["dst"], t["type"]) and r[
                    "status"
                ] != 3:
                    out.append({"i": t["i"], **_relation_row(r)})
        return out

    def op_relations_touching(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        ids = [i for i in p["ids"] if i in self.s.entities]
        found = {
            r["id"]: r
            for r in self.s.relations.values()
            if (r["src"] in ids or r["dst"] in ids) and r["status"] != 3
        }
        return [_relation_row(r) for r in found.values()]

    def op_expand_level(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        types = _types_in(st.text)
        outgoing = "]->(" in st.text
        assert outgoing != ("<-[" in st.text), "expand_level reads one direction"
        out = []
        for uid in p["ids"]:
            if uid not in self.s.entities:
                continue
            for r in self.s.relations.values():
                if r["type"] not in types or uid != (r["src"] if outgoing else r["dst"]):
                    continue
                is_out = outgoing
                v = self.s.entities[r["dst"] if is_out else r["src"]]
                if "max_status" in p and not (
                    r["status"] <= p["max_status"] and v["status"] <= p["max_status"]
                ):
                    continue
                if "as_of" in p and not (
                    r["first_seen"] <= p["as_of"] and v["first_seen"] <= p["as_of"]
                ):
                    continue
                out.append(
                    {
                        "uid": uid,
                        "rid": r["id"],
                        "type": r["type"],
                        "is_out": is_out,
                        "r_status": r["status"],
                        "r_first": r["first_seen"],
                        "r_s_at": r.get("s_at"),
                        "r_s_old": r.get("s_old"),
                        "grp": r.get("grp"),
                        "g_at": r.get("g_at"),
                        "g_old": r.get("g_old"),
                        "vid": v["id"],
                        "v_kind": v["kind"],
                        "v_status": v["status"],
                        "v_first": v["first_seen"],
                        "v_s_at": v.get("s_at"),
                        "v_s_old": v.get("s_old"),
                    }
                )
        return out

    def op_group_members(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        types = _types_in(st.text)
        return [
            {
                "oid": oid,
                "rid": r["id"],
                "status": r["status"],
                "first_seen": r["first_seen"],
                "s_at": r.get("s_at"),
                "s_old": r.get("s_old"),
                "grp": r.get("grp"),
                "g_at": r.get("g_at"),
                "g_old": r.get("g_old"),
            }
            for oid in p["ids"]
            if oid in self.s.entities
            for r in self.s.relations.values()
            if r["src"] == oid
            and r["type"] in types
            and (r.get("grp") is not None or r.get("g_at") is not None)
        ]

    # ------------------------------------------------------------- history
    def op_history_page(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        rows = sorted(
            (
                h
                for h in self.s.history.values()
                if h["item"] in p["items"] and h["seq"] > p["after"]
            ),
            key=lambda h: h["seq"],
        )
        keys = ("seq", "at", "op", "item", "source", "actor", "run_id", "changes")
        return [{k: h.get(k) for k in keys} for h in rows[: p["limit"]]]

    def op_history_count(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        return [{"n": sum(1 for h in self.s.history.values() if h["item"] in p["items"])}]

    def op_oldest_event(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        m = self.s.meta
        return [] if m is None else [{"seq": (m.get("events_pruned_through") or 0) + 1}]

    def op_prune_events(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        first = sorted(
            (h for h in self.s.history.values() if 0 < h["seq"] <= p["upto"]),
            key=lambda h: h["seq"],
        )[: p["limit"]]
        gone = [
            h
            for h in first
            if h["seq"] <= p["keep_bound"] or (p["cut"] is not None and h["at"] < p["cut"])
        ]
        for h in gone:
            del self.s.history[next(k for k, v in self.s.history.items() if v is h)]
        return [{"removed": len(gone), "through": max((h["seq"] for h in gone), default=0)}]

    def op_set_pruned_through(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        m = self.s.meta
        if m is not None:
            m["events_pruned_through"] = max(m.get("events_pruned_through") or 0, p["through"])
        return []

    def op_events_page(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        def kept(h: dict[str, Any]) -> bool:
            if not p["after"] < h["seq"] <= p["upto"]:
                return False
            if "sources" in p and h["source"] not in p["sources"]:
                return False
            if h["source"] in p.get("excluded", ()):
                return False
            if "parity" in p and h["item"] % 2 != p["parity"]:
                return False
            if "kinds" in p:
                item_id = h["item"] // 2
                if h["item"] % 2 == 0:
                    e = self.s.entities.get(item_id)
                    return e is not None and e["kind"] in p["kinds"]
                k = self.s.refs.get(item_id)
                return k is not None and k["type"] in p["types"]
            return True

        rows = sorted((h for h in self.s.history.values() if kept(h)), key=lambda h: h["seq"])
        keys = ("seq", "at", "op", "item", "source", "actor", "run_id", "changes")
        return [{k: h.get(k) for k in keys} for h in rows[: p["limit"]]]

    def op_events_after(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        rows = sorted(
            (
                h
                for h in self.s.history.values()
                if h["item"] in p["items"] and h["at"] > p["as_of"]
            ),
            key=lambda h: -h["seq"],
        )
        return [{"item": h["item"], "op": h["op"], "changes": h.get("changes")} for h in rows]

    # ---------------------------------------------------------------- runs
    @staticmethod
    def _run_row(r: dict[str, Any]) -> Row:
        keys = ("run_id", "source", "scope", "state", "started", "finished", "batches", "seq")
        return {k: r.get(k) for k in keys}

    def op_latest_runs(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        rows = [r for r in self.s.runs.values() if "source" not in p or r["source"] == p["source"]]
        rows.sort(key=lambda r: -r["seq"])
        return [self._run_row(r) for r in rows[: p["first"]]]

    def op_get_run(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        r = self.s.runs.get(p["run_id"])
        return [self._run_row(r)] if r else []

    def op_create_run(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        r = self.s.runs.setdefault(p["run"]["run_id"], {"run_id": p["run"]["run_id"]})
        set_props(r, p["run"], "run")
        return []

    def op_update_run(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        r = self.s.runs.get(p["run_id"])
        if r is not None:
            set_props(
                r,
                {"state": p["state"], "finished": p["finished"], "batches": p["batches"]},
                "run",
            )
        return []

    # ----------------------------------------------------------- assertions
    def op_missing_assertions(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        return [
            {"item": item, "last_run": a["last_run"], "missed": a["missed"]}
            for (source, scope, item), a in self.s.assertions.items()
            if (source, scope) == (p["source"], p["scope"])
            and (a["missed"] > 0 or a["last_run"] < p["run_seq"])
            and a["missed"] != p["saturated_at"]
        ]

    def op_asserted_elsewhere(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        found = []
        for item in p["items"]:
            for (source, scope, it), a in self.s.assertions.items():
                if it == item and a["missed"] == 0 and (source, scope) != (p["source"], p["scope"]):
                    found.append(item)
                    break
        return [{"item": i} for i in found]

    def op_assertions_of(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        return [
            {"source": source, "scope": scope, "last_run": a["last_run"], "missed": a["missed"]}
            for (source, scope, item), a in self.s.assertions.items()
            if item == p["item"]
        ]

    # --------------------------------------------------------------- writes
    def op_create_entities(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        label = re.search(r"SET e:(\w+),", st.text)
        assert label, st.text
        for row in p["rows"]:
            e = self.s.entities.setdefault(row["id"], {"id": row["id"]})
            self.s.labels[row["id"]] = label.group(1)
            set_props(e, row["props"], "entity")
        keys = [(e["kind"], e["key"]) for e in self.s.entities.values()]
        assert len(keys) == len(set(keys)), "key uniqueness constraint violated"
        return [{"n": len(p["rows"])}]

    def op_update_entities(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        n = 0
        for row in p["rows"]:
            e = self.s.entities.get(row["id"])
            if e is not None:
                set_props(e, row["props"], "entity")
                n += 1
        return [{"n": n}]

    def op_log_entity_status(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for row in p["rows"]:
            e = self.s.entities.get(row["id"])
            if e is not None:
                set_props(
                    e,
                    {
                        "s_at": (e.get("s_at") or []) + row["at"],
                        "s_old": (e.get("s_old") or []) + row["old"],
                    },
                    "entity",
                )
        return []

    def op_touch_entities(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for i in p["ids"]:
            if i in self.s.entities:
                self.s.entities[i]["last_seen"] = p["at"]
        return []

    def op_merge_entity(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        loser = self.s.entities.get(p["loser"])
        if loser is None:
            return []
        loser["status"] = 3
        loser["merged_into"] = p["survivor"]
        a = self.s.aliases.setdefault((loser["kind"], loser["key"]), {})
        a.update(entity=p["survivor"], since=p["at"])
        return []

    def op_repoint_aliases(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for a in self.s.aliases.values():
            if a["entity"] == p["loser"]:
                a["entity"] = p["survivor"]
        return []

    def op_repoint_losers(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for e in self.s.entities.values():
            if e.get("merged_into") == p["loser"]:
                e["merged_into"] = p["survivor"]
        return []

    def op_set_aliases(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for row in p["rows"]:
            a = self.s.aliases.setdefault((row["kind"], row["key"]), {})
            a.update(entity=row["entity"], since=p["at"])
        return []

    def op_set_identifiers(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for row in p["rows"]:
            self.s.identifiers.add((row["kind"], row["type"], row["value"], row["entity"]))
        return []

    def op_unset_identifiers(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for row in p["rows"]:
            self.s.identifiers.discard((row["kind"], row["type"], row["value"], row["entity"]))
        return []

    def op_record_conflicts(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for row in p["rows"]:
            clash = [row[k] for k in ("kind", "id_type", "value", "entity", "holder")]
            if any(
                [c[k] for k in ("kind", "id_type", "value", "entity", "holder")] == clash
                for c in self.s.conflicts.values()
            ):
                continue
            assert row["seq"] not in self.s.conflicts, "identity_conflict_seq"
            self.s.conflicts[row["seq"]] = dict(row)
        return []

    def _conflicts_in(self, p: dict[str, Any], st: Statement) -> list[dict[str, Any]]:
        rows = [dict(c) for _, c in sorted(self.s.conflicts.items())]
        if "c.state IS NULL" in st.text:
            return [r for r in rows if r.get("state") is None]
        if "state" in p:
            return [r for r in rows if r.get("state") == p["state"]]
        return rows

    def op_conflicts_count(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        return [{"n": len(self._conflicts_in(p, st))}]

    @staticmethod
    def _conflict_row(r: dict[str, Any]) -> Row:
        return {
            k: r.get(k)
            for k in (
                "seq",
                "at",
                "kind",
                "id_type",
                "value",
                "entity",
                "holder",
                "item_key",
                "source",
                "run_id",
                "state",
                "closed_at",
                "closed_by",
                "close_reason",
            )
        }

    def op_conflicts_page(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        rows = [r for r in self._conflicts_in(p, st) if r["seq"] > p["after"]]
        return [self._conflict_row(r) for r in rows[: p["limit"]]]

    def op_conflicts_by_seq(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        return [self._conflict_row(self.s.conflicts[s]) for s in p["seqs"] if s in self.s.conflicts]

    def op_conflicts_of(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        ids = set(p["ids"])
        return [
            self._conflict_row(c)
            for _, c in sorted(self.s.conflicts.items())
            if c["entity"] in ids or c["holder"] in ids
        ]

    def op_close_conflicts(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        n = 0
        for row in p["rows"]:
            c = self.s.conflicts.get(row["seq"])
            if c is None:
                continue
            c.update(
                state=row["state"],
                closed_at=row["at"],
                closed_by=row["actor"],
                close_reason=row["reason"],
            )
            n += 1
        return [{"n": n}]

    def op_create_relations(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        type_ = re.search(r"\[r:(\w+)\]->\(b\)", st.text)
        assert type_, st.text
        n = 0
        for row in p["rows"]:
            if row["src"] not in self.s.entities or row["dst"] not in self.s.entities:
                continue
            r = self.s.relations.get(row["id"])
            if r is None or (r["src"], r["dst"], r["type"]) != (
                row["src"],
                row["dst"],
                type_.group(1),
            ):
                assert r is None, "relation id reused"
                r = self.s.relations[row["id"]] = {
                    "id": row["id"],
                    "type": type_.group(1),
                    "src": row["src"],
                    "dst": row["dst"],
                }
            set_props(r, row["props"], "relation")
            self.s.refs[row["id"]] = {
                "id": row["id"],
                "type": r["type"],
                "src": row["src"],
                "dst": row["dst"],
            }
            n += 1
        return [{"n": n}]

    def _rows_relations(self, p: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(row, r) for row in p["rows"] if (r := self.relation(row["id"])) is not None]

    def op_update_relations(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        found = self._rows_relations(p)
        for row, r in found:
            set_props(r, row["props"], "relation")
        return [{"n": len(found)}]

    def op_log_relation_status(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for row, r in self._rows_relations(p):
            set_props(
                r,
                {
                    "s_at": (r.get("s_at") or []) + row["at"],
                    "s_old": (r.get("s_old") or []) + row["old"],
                },
                "relation",
            )
        return []

    def op_log_relation_group(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for row, r in self._rows_relations(p):
            set_props(
                r,
                {
                    "g_at": (r.get("g_at") or []) + row["at"],
                    "g_old": (r.get("g_old") or []) + row["old"],
                },
                "relation",
            )
        return []

    def op_touch_relations(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for i in p["ids"]:
            r = self.relation(i)
            if r is not None:
                r["last_seen"] = p["at"]
        return []

    def op_move_assertions(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for (source, scope, item), a in list(self.s.assertions.items()):
            if item != p["old"]:
                continue
            b = self.s.assertions.get((source, scope, p["new"]))
            if b is None:
                self.s.assertions[(source, scope, p["new"])] = dict(a)
            else:
                b["last_run"] = max(a["last_run"], b["last_run"])
                b["missed"] = min(a["missed"], b["missed"])
            del self.s.assertions[(source, scope, item)]
        return []

    def op_assert_items(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for item in p["items"]:
            self.s.assertions[(p["source"], p["scope"], item)] = {
                "last_run": p["run_seq"],
                "missed": 0,
            }
        return []

    def op_withdraw(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for row in p["rows"]:
            a = self.s.assertions.get((p["source"], p["scope"], row["item"]))
            if a is not None:
                a["missed"] = row["missed"]
        return []

    def op_append_history(self, st: Statement, p: dict[str, Any]) -> list[Row]:
        for row in p["rows"]:
            h = self.s.history.setdefault(row["seq"], {"seq": row["seq"]})
            set_props(h, row, "history")
        return []


def _cypher_equal(a: Any, b: Any) -> bool:
    """Cypher ``=`` on property values: null is never equal, booleans are not numbers."""
    if a is None or b is None:
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


Work = Callable[[Callable[[Statement], Awaitable[list[Row]]]], Awaitable[Any]]


class _ModelTx:
    def __init__(self, gateway: ModelGateway, doing: str) -> None:
        self.gateway = gateway
        self.state = copy.deepcopy(gateway.state)
        self.doing = doing
        self.done = False

    async def run(self, statement: Statement) -> list[Row]:
        assert not self.done, "statement after commit or rollback"
        return self.gateway.record(statement, Model(self.state))

    async def commit(self) -> None:
        assert not self.done
        self.done = True
        self.gateway.state = self.state
        self.gateway.log.append("COMMIT")

    async def rollback(self) -> None:
        assert not self.done
        self.done = True
        self.gateway.log.append("ROLLBACK")


class ModelGateway:
    """A ``Gateway`` over :class:`Model`; records every statement it answers.

    ``log`` holds the statements in order, and ``"COMMIT"``/``"ROLLBACK"``
    markers of explicit transactions.
    """

    def __init__(self, state: GraphState | None = None) -> None:
        self.state = state or GraphState()
        self.log: list[Statement | str] = []
        self.connected = False

    def record(self, statement: Statement, model: Model) -> list[Row]:
        self.log.append(statement)
        return model.run(statement)

    async def connect(self) -> None:
        self.connected = True

    async def close(self) -> None:
        self.connected = False

    async def release_loop(self) -> None:
        return

    async def read(self, work: Work, doing: str) -> Any:
        model = Model(copy.deepcopy(self.state))

        async def run(statement: Statement) -> list[Row]:
            return self.record(statement, model)

        return await work(run)

    async def write(self, work: Work, doing: str) -> Any:
        state = copy.deepcopy(self.state)
        model = Model(state)

        async def run(statement: Statement) -> list[Row]:
            return self.record(statement, model)

        result = await work(run)
        self.state = state
        return result

    @asynccontextmanager
    async def begin(self, doing: str) -> AsyncIterator[_ModelTx]:
        tx = _ModelTx(self, doing)
        try:
            yield tx
        finally:
            if not tx.done:
                self.log.append("ROLLBACK")


__all__ = ["SCHEMA_VERSION", "GraphState", "Model", "ModelGateway", "check_param"]
