"""Writing one change set into SQLite, section by section, and what the index learns from it.

:class:`ChangeSetWriter` writes a :class:`~graphsvc.store.base.ChangeSet` inside
the open SQLite transaction, one method per section (runs, entities, entity
updates, merges, aliases, relations, relation updates, assertions, history and
logs, conflicts, the run's state). Each section that the in-memory index must
know about returns a delta; :meth:`ChangeSetWriter.write` collects them into an
:class:`IndexUpdate`, which the store applies under the index lock once SQLite
has committed. The index is therefore changed only by deltas computed from
what was written, in one place, with the same rules it is rebuilt with on open
(every unmerged holder of an identifier value, whatever its status).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import orjson

from graphsvc.errors import NotFound
from graphsvc.model.records import HistoryOp, ItemKind, RunState
from graphsvc.model.vocabulary import Status, Vocabulary
from graphsvc.store.base import MERGED, ChangeSet
from graphsvc.store.embedded.index import GraphIndex, triple_key
from graphsvc.store.embedded.schema import encode

__all__ = ["Catalog", "ChangeSetWriter", "IndexUpdate", "dumps", "encode_provenance"]


def dumps(value: object) -> str:
    """JSON text of ``value`` (orjson)."""
    return orjson.dumps(value).decode()


def encode_provenance(
    provenance: Mapping[str, tuple[str, int]], source_ids: Mapping[str, int]
) -> str:
    """Provenance as stored: field -> ``[source id, micros]``."""
    return dumps({k: [source_ids[s], at] for k, (s, at) in provenance.items()})


class Catalog(Protocol):
    """The store's sources and assertors (names to ids), and how to add one in SQL."""

    _source_ids: dict[str, int]
    _sources: dict[int, str]
    _assertors: dict[tuple[int, str], int]

    def source_id(self, conn: sqlite3.Connection, name: str) -> int:
        """Return the id of source ``name``, creating it in the open transaction."""
        ...

    def assertor_id(self, conn: sqlite3.Connection, source_id: int, scope: str) -> int:
        """Return the id of (source, scope), creating it in the open transaction."""
        ...


# ------------------------------------------------------------------------- deltas


@dataclass(frozen=True, slots=True)
class NewEntitiesDelta:
    """Entities created: their columns, keys, indexed attributes and identifiers."""

    ids: tuple[int, ...]
    kinds: tuple[int, ...]
    statuses: tuple[int, ...]
    keys: tuple[str, ...]
    attributes: tuple[Mapping[str, object], ...]
    identifiers: tuple[Mapping[str, str], ...]

    def apply(self, idx: GraphIndex, at: int) -> None:
        if not self.ids:
            return
        n = len(self.ids)
        idx.add_entities(
            np.asarray(self.ids, dtype=np.int64),
            np.asarray(self.kinds, dtype=np.int8),
            np.asarray(self.statuses, dtype=np.int8),
            np.full(n, at, dtype=np.int64),
        )
        for eid, code, key, identifiers in zip(
            self.ids, self.kinds, self.keys, self.identifiers, strict=True
        ):
            idx.keys[code][key] = eid
            for t, v in identifiers.items():
                idx.hold_identifier(idx.identifier_key(code, t, v), eid)
        idx.set_attributes_many(self.ids, self.attributes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class EntityUpdateDelta:
    """One entity's new status, indexed attributes and identifiers (``None``: unchanged)."""

    id: int
    status: int | None
    attributes: Mapping[str, object] | None
    old_identifiers: Mapping[str, str]
    identifiers: Mapping[str, str] | None

    def apply(self, idx: GraphIndex, *, attributes: bool = True) -> None:
        """Apply to the index; ``attributes=False``: the caller indexes them (in bulk)."""
        kind_code = int(idx.e_kind.data[self.id])
        if self.status is not None:
            idx.set_entity_status(self.id, self.status)
        if attributes and self.attributes is not None:
            idx.set_attributes(self.id, self.attributes)  # type: ignore[arg-type]
        if self.identifiers is not None:
            for t, v in self.old_identifiers.items():
                idx.release_identifier(idx.identifier_key(kind_code, t, v), self.id)
            for t, v in self.identifiers.items():
                idx.hold_identifier(idx.identifier_key(kind_code, t, v), self.id)


@dataclass(frozen=True, slots=True)
class MergeDelta:
    """An entity merged into another: its identifiers released, its keys now the survivor's."""

    loser: int
    survivor: int
    kind: int
    identifiers: Mapping[str, str]
    keys: tuple[str, ...]

    def apply(self, idx: GraphIndex) -> None:
        for t, v in self.identifiers.items():
            idx.release_identifier(idx.identifier_key(self.kind, t, v), self.loser)
        idx.survivor[self.loser] = self.survivor
        idx.set_entity_status(self.loser, MERGED)
        for key in self.keys:
            idx.keys[self.kind][key] = self.survivor


@dataclass(frozen=True, slots=True)
class NewRelationsDelta:
    """Relations created: their columns and redundancy groups."""

    ids: tuple[int, ...]
    types: tuple[int, ...]
    sources: tuple[int, ...]
    targets: tuple[int, ...]
    statuses: tuple[int, ...]
    groups: tuple[str | None, ...]

    def apply(self, idx: GraphIndex, at: int) -> None:
        if not self.ids:
            return
        n = len(self.ids)
        idx.add_relations(
            np.asarray(self.ids, dtype=np.int64),
            np.asarray(self.types, dtype=np.int8),
            np.asarray(self.sources, dtype=np.int64),
            np.asarray(self.targets, dtype=np.int64),
            np.asarray(self.statuses, dtype=np.int8),
            np.full(n, at, dtype=np.int64),
            np.fromiter((idx.group_code(g) for g in self.groups), dtype=np.int32, count=n),
        )


@dataclass(frozen=True, slots=True)
class RelationUpdateDelta:
    """One relation's new status (merged: forgotten by its triple) and group."""

    id: int
    status: int | None
    group_changed: bool
    group: str | None

    def apply(self, idx: GraphIndex) -> None:
        if self.status == MERGED:
            idx.set_relation_status(self.id, MERGED)
            idx.forget_triple(
                triple_key(
                    int(idx.r_type.data[self.id]),
                    int(idx.r_src.data[self.id]),
                    int(idx.r_dst.data[self.id]),
                )
            )
        elif self.status is not None:
            idx.set_relation_status(self.id, self.status)
        if self.group_changed:
            idx.r_group.data[self.id] = idx.group_code(self.group)


@dataclass(slots=True)
class IndexUpdate:
    """Everything the index and the catalog learn from one committed change set."""

    at: int
    new_sources: dict[str, int] = field(default_factory=dict)
    new_assertors: dict[tuple[int, str], int] = field(default_factory=dict)
    entities: NewEntitiesDelta | None = None
    merges: list[MergeDelta] = field(default_factory=list)
    aliases: list[tuple[int, int, str]] = field(default_factory=list)  # entity, kind, key
    entity_updates: list[EntityUpdateDelta] = field(default_factory=list)
    relations: NewRelationsDelta | None = None
    relation_updates: list[RelationUpdateDelta] = field(default_factory=list)
    status_events: list[tuple[int, int, int, int]] = field(default_factory=list)
    group_events: list[tuple[int, int, str | None]] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)  # entities with a history event
    seen_entities: list[int] | None = field(default_factory=list)
    """Entities asserted again (their row's ``last_seen`` moved); ``None``: not recorded
    (a changelog entry of an older version), any row may have."""
    seen_relations: list[int] | None = field(default_factory=list)
    """Relations asserted again, as :attr:`seen_entities`."""

    def apply(self, idx: GraphIndex, catalog: Catalog) -> None:
        """Apply, under the index lock, after SQLite committed (the order matters)."""
        for name, sid in self.new_sources.items():
            catalog._source_ids[name] = sid
            catalog._sources[sid] = name
        catalog._assertors.update(self.new_assertors)
        if self.entities is not None:
            self.entities.apply(idx, self.at)
        idx.mark_changed(self.changed, self.at)
        for merge in self.merges:
            merge.apply(idx)
        for entity_id, kind, key in self.aliases:
            idx.keys[kind][key] = entity_id
        for update in self.entity_updates:
            update.apply(idx, attributes=False)
        with_attributes = [u for u in self.entity_updates if u.attributes is not None]
        idx.set_attributes_many(
            [u.id for u in with_attributes],
            [u.attributes for u in with_attributes],  # type: ignore[misc]
        )
        if self.relations is not None:
            self.relations.apply(idx, self.at)
        for rupdate in self.relation_updates:
            rupdate.apply(idx)
        for at, item, old, _new in self.status_events:
            idx.log_status(at, item, old)
        for at, rel_id, old_group in self.group_events:
            idx.log_group(at, rel_id, idx.group_code(old_group))
        idx.last_commit = max(idx.last_commit, self.at)
        idx.version += 1

    def entity_rows_written(self) -> list[int] | None:
        """Ids of the ``entity`` rows this change set inserted or updated; ``None``: unknown."""
        if self.seen_entities is None:
            return None
        ids = list(self.entities.ids) if self.entities is not None else []
        ids += self.seen_entities
        ids += [u.id for u in self.entity_updates]
        for merge in self.merges:
            ids += (merge.loser, merge.survivor)
        return ids

    def relation_rows_written(self) -> list[int] | None:
        """Ids of the ``relation`` rows this change set inserted or updated; ``None``: unknown."""
        if self.seen_relations is None:
            return None
        ids = list(self.relations.ids) if self.relations is not None else []
        ids += self.seen_relations
        ids += [u.id for u in self.relation_updates]
        return ids

    def alias_lists_written(self) -> list[int] | None:
        """Entities whose alias list this change set may have changed; ``None``: any.

        A merge moves the loser's aliases and a new alias may take a key over
        (``INSERT OR REPLACE``) from whichever entity held it, so either makes
        every list suspect; new entities are listed in case their (empty) list
        was read before they existed.
        """
        if self.merges or self.aliases:
            return None
        return list(self.entities.ids) if self.entities is not None else []

    def to_json(self) -> bytes:
        """This update as JSON, for the ``changelog`` replicas follow."""
        e, r = self.entities, self.relations
        return orjson.dumps(
            {
                "at": self.at,
                "sources": self.new_sources,
                "assertors": [
                    [sid, scope, aid] for (sid, scope), aid in self.new_assertors.items()
                ],
                "entities": None
                if e is None
                else [e.ids, e.kinds, e.statuses, e.keys, e.attributes, e.identifiers],
                "merges": [
                    [m.loser, m.survivor, m.kind, m.identifiers, m.keys] for m in self.merges
                ],
                "aliases": self.aliases,
                "entity_updates": [
                    [u.id, u.status, u.attributes, u.old_identifiers, u.identifiers]
                    for u in self.entity_updates
                ],
                "relations": None
                if r is None
                else [r.ids, r.types, r.sources, r.targets, r.statuses, r.groups],
                "relation_updates": [
                    [u.id, u.status, u.group_changed, u.group] for u in self.relation_updates
                ],
                "status_events": self.status_events,
                "group_events": self.group_events,
                "changed": self.changed,
                "seen_entities": self.seen_entities,
                "seen_relations": self.seen_relations,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> IndexUpdate:
        """The update :meth:`to_json` wrote."""
        d = orjson.loads(raw)
        e, r = d["entities"], d["relations"]
        return cls(
            at=d["at"],
            new_sources=d["sources"],
            new_assertors={(sid, scope): aid for sid, scope, aid in d["assertors"]},
            entities=None if e is None else NewEntitiesDelta(*(tuple(column) for column in e)),
            merges=[
                MergeDelta(lo, sv, k, ids, tuple(keys)) for lo, sv, k, ids, keys in d["merges"]
            ],
            aliases=[tuple(a) for a in d["aliases"]],
            entity_updates=[EntityUpdateDelta(*u) for u in d["entity_updates"]],
            relations=None if r is None else NewRelationsDelta(*(tuple(column) for column in r)),
            relation_updates=[RelationUpdateDelta(*u) for u in d["relation_updates"]],
            status_events=[tuple(x) for x in d["status_events"]],
            group_events=[tuple(x) for x in d["group_events"]],
            changed=d["changed"],
            seen_entities=d.get("seen_entities"),
            seen_relations=d.get("seen_relations"),
        )


# ------------------------------------------------------------------------- writer


class ChangeSetWriter:
    """Writes one change set in the open SQLite transaction (see the module docstring)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        cs: ChangeSet,
        *,
        index: GraphIndex,
        catalog: Catalog,
        vocabulary: Vocabulary,
        new_ids: Mapping[int, int],
        created_runs: Sequence[tuple[str, str, str, int, int]],
    ) -> None:
        self.conn = conn
        self.cs = cs
        self.idx = index
        self.catalog = catalog
        self.vocab = vocabulary
        self.ids = new_ids
        self.created_runs = created_runs
        self.update = IndexUpdate(at=cs.at)
        self.source_ids: dict[str, int] = {}
        self.source = 0
        self.assertor = 0
        self.history_run = cs.run_seq if cs.run_id is not None else None

    def real(self, item_id: int) -> int:
        """The id of an item: assigned ones for the temporary ids of new items."""
        return self.ids[item_id] if item_id < 0 else item_id

    def write(self) -> IndexUpdate:
        """Write every section; return what the index must learn once committed."""
        self._sources()
        self._runs()
        self._entities()
        self._entity_updates()
        self._merges()
        self._aliases()
        self._relations()
        self._relation_updates()
        self._assertions()
        self._history()
        self._conflicts()
        self._logs()
        self._run_update()
        self.update.changed = [
            *(self.ids[e.temp_id] for e in self.cs.entities),
            *(u.id for u in self.cs.entity_updates),
            *(m.loser for m in self.cs.merges),
            *(m.survivor for m in self.cs.merges),
        ]
        return self.update

    # -------------------------------------------------------------- catalog
    def _sid(self, name: str) -> int:
        catalog, new = self.catalog, self.update.new_sources
        found = catalog._source_ids.get(name) or new.get(name)
        if found is None:
            found = new[name] = catalog.source_id(self.conn, name)
        return found

    def _assertor(self, source_id: int, scope: str) -> int:
        key = (source_id, scope)
        found = self.catalog._assertors.get(key) or self.update.new_assertors.get(key)
        if found is None:
            found = self.update.new_assertors[key] = self.catalog.assertor_id(
                self.conn, source_id, scope
            )
        return found

    def _sources(self) -> None:
        cs = self.cs
        self.source = self._sid(cs.source)
        names: set[str] = set()
        for provenance in (
            *(e.provenance for e in cs.entities),
            *(u.provenance for u in cs.entity_updates if u.provenance),
            *(r.provenance for r in cs.relations),
            *(u.provenance for u in cs.relation_updates if u.provenance),
        ):
            names.update(s for s, _ in provenance.values())
        for name in names:
            self._sid(name)
        self.source_ids = {**self.catalog._source_ids, **self.update.new_sources}
        self.assertor = self._assertor(self.source, cs.scope)

    def _runs(self) -> None:
        for run_id, run_source, scope, started, seq in self.created_runs:
            assertor = self._assertor(self._sid(run_source), scope)
            self.conn.execute(
                "INSERT INTO run(seq, run_id, assertor, state, started, finished, batches) "
                "VALUES (?, ?, ?, 'open', ?, NULL, 0)",
                (seq, run_id, assertor, started),
            )

    # ------------------------------------------------------------- entities
    def _entities(self) -> None:
        cs, at = self.cs, self.cs.at
        if not cs.entities:
            return
        kinds = tuple(self.vocab.kind_code(e.kind) for e in cs.entities)
        ids = tuple(self.ids[e.temp_id] for e in cs.entities)
        self.conn.executemany(
            "INSERT INTO entity(id, kind, key, name, status, attributes, identifiers, provenance, "
            "first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    eid,
                    code,
                    e.key,
                    e.name,
                    e.status.code,
                    dumps(e.attributes),
                    dumps(e.identifiers),
                    encode_provenance(e.provenance, self.source_ids),
                    at,
                    at,
                )
                for e, eid, code in zip(cs.entities, ids, kinds, strict=True)
            ],
        )
        self.update.entities = NewEntitiesDelta(
            ids,
            kinds,
            tuple(e.status.code for e in cs.entities),
            tuple(e.key for e in cs.entities),
            tuple(e.attributes for e in cs.entities),
            tuple(e.identifiers for e in cs.entities),
        )

    def _entity_updates(self) -> None:
        cs, at, idx = self.cs, self.cs.at, self.idx
        if not cs.entity_updates:
            return
        old_identifiers: dict[int, dict[str, str]] = {}
        wanted = [u.id for u in cs.entity_updates if u.identifiers is not None]
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            for eid, raw in self.conn.execute(
                f"SELECT id, identifiers FROM entity WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                old_identifiers[eid] = orjson.loads(raw)
        rows = []
        for u in cs.entity_updates:
            status = u.status.code if u.status is not None else None
            rows.append(
                (
                    u.name,
                    dumps(u.attributes) if u.attributes is not None else None,
                    dumps(u.identifiers) if u.identifiers is not None else None,
                    encode_provenance(u.provenance, self.source_ids)
                    if u.provenance is not None
                    else None,
                    status,
                    u.id,
                )
            )
            if status is not None:
                old = int(idx.e_status.data[u.id])
                if old != status:
                    self.update.status_events.append(
                        (at, encode(ItemKind.ENTITY, u.id), old, status)
                    )
            self.update.entity_updates.append(
                EntityUpdateDelta(
                    u.id, status, u.attributes, old_identifiers.get(u.id, {}), u.identifiers
                )
            )
        self.conn.executemany(
            "UPDATE entity SET name=COALESCE(?, name), attributes=COALESCE(?, attributes), "
            "identifiers=COALESCE(?, identifiers), provenance=COALESCE(?, provenance), "
            "status=COALESCE(?, status) WHERE id=?",
            rows,
        )

    def _merges(self) -> None:
        conn, at = self.conn, self.cs.at
        for m in self.cs.merges:
            row = conn.execute(
                "SELECT kind, key, status, identifiers FROM entity WHERE id=?", (m.loser,)
            ).fetchone()
            if row is None:
                msg = f"entity {m.loser} to merge does not exist"
                raise NotFound(msg)
            kind_code, key, old_status, identifiers = row
            aliases = [
                str(r[0])
                for r in conn.execute("SELECT key FROM alias WHERE entity_id=?", (m.loser,))
            ]
            conn.execute(
                "UPDATE entity SET status=?, merged_into=? WHERE id=?",
                (MERGED, m.survivor, m.loser),
            )
            conn.execute(
                "INSERT OR REPLACE INTO alias(kind, key, entity_id, since) VALUES (?,?,?,?)",
                (kind_code, key, m.survivor, at),
            )
            conn.execute("UPDATE alias SET entity_id=? WHERE entity_id=?", (m.survivor, m.loser))
            self.update.status_events.append(
                (at, encode(ItemKind.ENTITY, m.loser), old_status, MERGED)
            )
            self.update.merges.append(
                MergeDelta(
                    m.loser, m.survivor, kind_code, orjson.loads(identifiers), (key, *aliases)
                )
            )

    def _aliases(self) -> None:
        for alias in self.cs.aliases:
            code = self.vocab.kind_code(alias.kind)
            target = self.real(alias.entity_id)
            self.conn.execute(
                "INSERT OR REPLACE INTO alias(kind, key, entity_id, since) VALUES (?,?,?,?)",
                (code, alias.key, target, self.cs.at),
            )
            self.update.aliases.append((target, code, alias.key))

    # ------------------------------------------------------------ relations
    def _relations(self) -> None:
        cs, at = self.cs, self.cs.at
        if not cs.relations:
            return
        groups: list[str | None] = []
        rows = []
        for r in cs.relations:
            grp = r.attributes.get("redundancyGroup")
            group = grp if isinstance(grp, str) else None
            groups.append(group)
            rows.append(
                (
                    self.ids[r.temp_id],
                    self.vocab.type_code(r.type),
                    self.real(r.from_id),
                    self.real(r.to_id),
                    r.status.code,
                    group,
                    dumps(r.attributes),
                    encode_provenance(r.provenance, self.source_ids),
                    at,
                    at,
                )
            )
        self.conn.executemany(
            "INSERT INTO relation(id, type, src, dst, status, grp, attributes, provenance, "
            "first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        self.update.relations = NewRelationsDelta(
            tuple(row[0] for row in rows),
            tuple(row[1] for row in rows),
            tuple(row[2] for row in rows),
            tuple(row[3] for row in rows),
            tuple(row[4] for row in rows),
            tuple(groups),
        )

    def _relation_updates(self) -> None:
        cs, at, idx = self.cs, self.cs.at, self.idx
        rows = []
        for ru in cs.relation_updates:
            status = MERGED if ru.merged else (ru.status.code if ru.status is not None else None)
            group: str | None = None
            group_changed = False
            if ru.attributes is not None:
                g = ru.attributes.get("redundancyGroup")
                group = g if isinstance(g, str) else None
                old_code = int(idx.r_group.data[ru.id])
                old_group = idx.group_names[old_code] if old_code >= 0 else None
                if group != old_group:
                    group_changed = True
                    self.update.group_events.append((at, ru.id, old_group))
            rows.append(
                (
                    dumps(ru.attributes) if ru.attributes is not None else None,
                    encode_provenance(ru.provenance, self.source_ids)
                    if ru.provenance is not None
                    else None,
                    status,
                    1 if group_changed else 0,
                    group if group_changed else None,
                    ru.id,
                )
            )
            if status is not None:
                old = int(idx.r_status.data[ru.id])
                if old != status:
                    self.update.status_events.append(
                        (at, encode(ItemKind.RELATION, ru.id), old, status)
                    )
            self.update.relation_updates.append(
                RelationUpdateDelta(ru.id, status, group_changed, group)
            )
        self.conn.executemany(
            "UPDATE relation SET attributes=COALESCE(?, attributes), "
            "provenance=COALESCE(?, provenance), "
            "status=COALESCE(?, status), grp=CASE WHEN ? THEN ? ELSE grp END WHERE id=?",
            rows,
        )

    # ----------------------------------------------------------- assertions
    def _assertions(self) -> None:
        cs, conn, at, assertor = self.cs, self.conn, self.cs.at, self.assertor
        for old_ref, new_ref in cs.moved_assertions:
            old_code = encode(old_ref.item, self.real(old_ref.id))
            conn.execute(
                "INSERT INTO assertion(assertor, item, last_run, missed) "
                "SELECT assertor, ?, last_run, missed FROM assertion WHERE item=? "
                "ON CONFLICT(assertor, item) DO UPDATE SET "
                "last_run=max(last_run, excluded.last_run), "
                "missed=min(missed, excluded.missed)",
                (encode(new_ref.item, self.real(new_ref.id)), old_code),
            )
            conn.execute("DELETE FROM assertion WHERE item=?", (old_code,))
        retired = Status.RETIRED
        created: list[int] = []
        if cs.asserts_created:
            created += [self.ids[e.temp_id] * 2 for e in cs.entities if e.status is not retired]
            created += [
                self.ids[r.temp_id] * 2 + 1 for r in cs.relations if r.status is not retired
            ]
        conn.executemany(
            "INSERT INTO assertion(assertor, item, last_run, missed) VALUES (?,?,?,0)",
            [(assertor, c, cs.run_seq) for c in created],
        )
        conn.executemany(
            "INSERT INTO assertion(assertor, item, last_run, missed) VALUES (?,?,?,0) "
            "ON CONFLICT(assertor, item) DO UPDATE SET last_run=excluded.last_run, missed=0",
            [
                (assertor, encode(a.ref.item, self.real(a.ref.id)), cs.run_seq)
                for a in cs.assertions
            ],
        )
        seen: dict[ItemKind, list[int]] = {ItemKind.ENTITY: [], ItemKind.RELATION: []}
        for a in cs.assertions:
            if a.ref.id > 0:
                seen[a.ref.item].append(self.real(a.ref.id))
        for item_kind, table in ((ItemKind.ENTITY, "entity"), (ItemKind.RELATION, "relation")):
            conn.executemany(
                f"UPDATE {table} SET last_seen=? WHERE id=?", [(at, i) for i in seen[item_kind]]
            )
        self.update.seen_entities = seen[ItemKind.ENTITY]
        self.update.seen_relations = seen[ItemKind.RELATION]
        conn.executemany(
            "UPDATE assertion SET missed=? WHERE assertor=? AND item=?",
            [(missed, assertor, encode(ref.item, ref.id)) for ref, missed in cs.withdrawn],
        )

    # ------------------------------------------------------ history and logs
    def _history(self) -> None:
        cs, at, run = self.cs, self.cs.at, self.history_run
        created = HistoryOp.CREATED.value
        self.conn.executemany(
            "INSERT INTO history(at, item, op, source_id, actor, run_seq, changes) "
            "VALUES (?,?,?,?,?,?,NULL)",
            [
                (at, self.ids[e.temp_id] * 2, created, self.source, cs.actor, run)
                for e in cs.entities
            ]
            + [
                (at, self.ids[r.temp_id] * 2 + 1, created, self.source, cs.actor, run)
                for r in cs.relations
            ],
        )
        self.conn.executemany(
            "INSERT INTO history(at, item, op, source_id, actor, run_seq, changes) "
            "VALUES (?,?,?,?,?,?,?)",
            [
                (
                    at,
                    encode(h.ref.item, self.real(h.ref.id)),
                    h.op.value,
                    self.source,
                    cs.actor,
                    run,
                    dumps({k: [v.old, v.new] for k, v in h.changes.items()}) if h.changes else None,
                )
                for h in cs.history
            ],
        )

    def _conflicts(self) -> None:
        cs = self.cs
        self.conn.executemany(
            "INSERT OR IGNORE INTO identity_conflict(at, kind, id_type, value, entity, holder, "
            "item_key, source_id, run_seq) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (
                    cs.at,
                    self.vocab.kind_code(c.kind),
                    c.id_type,
                    c.value,
                    self.real(c.entity_id),
                    self.real(c.holder_id),
                    c.item_key,
                    self.source,
                    self.history_run,
                )
                for c in cs.conflicts
            ],
        )
        self.conn.executemany(
            "INSERT INTO identity_conflict_closure(seq, state, at, actor, reason) "
            "VALUES (?,?,?,?,?)",
            [(c.seq, c.state.value, cs.at, cs.actor, c.reason) for c in cs.closed_conflicts],
        )

    def _logs(self) -> None:
        self.conn.executemany(
            "INSERT INTO status_log(at, item, old, new) VALUES (?,?,?,?)",
            self.update.status_events,
        )
        self.conn.executemany(
            "INSERT INTO group_log(at, relation, old) VALUES (?,?,?)", self.update.group_events
        )

    def _run_update(self) -> None:
        cs = self.cs
        if cs.run_update is not None:
            ru = cs.run_update
            self.conn.execute(
                "UPDATE run SET state=?, finished=?, batches=? WHERE run_id=?",
                (
                    ru.state.value,
                    None if ru.state is RunState.OPEN else cs.at,
                    ru.batches,
                    ru.run_id,
                ),
            )
        self.conn.execute(
            "INSERT INTO commit_log(at, source_id, run_seq, entities, relations) "
            "VALUES (?,?,?,?,?)",
            (cs.at, self.source, cs.run_seq, len(cs.entities), len(cs.relations)),
        )
