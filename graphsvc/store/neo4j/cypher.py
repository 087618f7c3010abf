"""Every Cypher statement the Neo4j store sends, as pure constants and functions.

Nothing here talks to a server: each function returns a :class:`Statement`
(query text and parameters) so that unit tests pin the exact text and prove
that every value travels as a parameter. The rules the texts follow:

* **Values are parameters**, always (``$ids``, ``$rows``, ``row.key``). The only
  literals in query texts are code constants (the merged status ``3``, the
  retired status ``2``).
* **Labels and relationship types come from closed sets**: the store's own
  labels below, and :class:`~graphsvc.model.vocabulary.EntityKind` /
  :class:`~graphsvc.model.vocabulary.RelationType` values and indexed
  attribute names of the vocabulary, each checked against
  :data:`_NAME` before it is put into a text (:func:`name`).
* **Small statements**: one ``MATCH``/``MERGE`` shape each, batched with
  ``UNWIND $rows``; no APOC, no ``CALL`` subqueries, no variable-length
  patterns. Traversal expands one level per statement (:func:`expand_level`).

The graph model (``schema/neo4j.cypher`` is :func:`schema_script`):

* ``(:Entity:<Kind> {id, kind, key, name, status, attributes, identifiers,
  provenance, first_seen, last_seen, merged_into, s_at, s_old, attr_<a>})``:
  ``kind`` and ``status`` are the vocabulary's integer codes (status ``3`` is
  merged); ``attributes``/``identifiers``/``provenance`` are JSON texts;
  ``s_at``/``s_old`` are the entity's status log (when it left which status);
  ``attr_<a>`` mirrors each *indexed* attribute whose value is a JSON scalar.
  ``merged_into`` always names a survivor that is not itself merged (merges
  re-point older losers).
* Relations are relationships of their vocabulary type between entities,
  ``{id, status, grp, attributes, provenance, first_seen, last_seen, s_at,
  s_old, g_at, g_old}`` (``grp`` the redundancy group; ``g_at``/``g_old`` its
  log, old values as JSON texts). ``(:RelationRef {id, type, src, dst})``
  finds a relation by id (relationship property indexes exist per type only).
* ``(:Alias {kind, key, entity, since})``, ``(:Identifier {kind, type, value,
  entity})`` (one per holder: every unmerged entity, any status, holding the
  value), ``(:Assertion {source, scope, item, last_run, missed})``,
  ``(:Run {seq, run_id, source, scope, state, started, finished, batches})``,
  ``(:History {seq, at, item, op, source, actor, run_seq, run_id, changes})``
  where ``item`` encodes an entity ``id * 2`` and a relation ``id * 2 + 1``,
  ``(:IdentityConflict {seq, at, kind, id_type, value, entity, holder,
  item_key, source, run_id, state, closed_at, closed_by, close_reason})``
  (``seq`` from the history counter; ``state`` ``dismissed`` or ``resolved``
  with the other three once an administrator closed it, absent while open).
* ``(:Webhook {id, url, filter, description, secret, state, cursor, batch_end,
  attempts, next_attempt, last_error, created, updated, lease_owner,
  lease_until, deliveries})`` and ``(:WebhookDelivery {webhook, number, …})``:
  webhook subscriptions and their delivery log (:mod:`graphsvc.store.neo4j.webhooks`).
* One ``(:GraphsvcStore {name})`` node holds the schema version, the id
  counters and the last commit time; every write transaction sets a property
  on it first, which serialises graphsvc writers across processes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, ParamSpec

from graphsvc.model.vocabulary import VOCABULARY, Direction, EntityKind, RelationType, Vocabulary

__all__ = [
    "ALIAS",
    "ASSERTION",
    "ENTITY",
    "HISTORY",
    "IDENTIFIER",
    "IDENTITY_CONFLICT",
    "META",
    "MISSING",
    "RELATION_REF",
    "RUN",
    "SCHEMA_VERSION",
    "STORE_NAME",
    "WEBHOOK",
    "WEBHOOK_DELIVERY",
    "Statement",
    "attr_property",
    "name",
    "schema_script",
    "schema_statements",
    "text_mirror",
]

SCHEMA_VERSION = "2"
"""Version of the graph model above; a database holding another is refused."""

STORE_NAME = "graphsvc"
"""The ``name`` of the one :data:`META` node."""

META = "GraphsvcStore"
ENTITY = "Entity"
ALIAS = "Alias"
IDENTIFIER = "Identifier"
RELATION_REF = "RelationRef"
ASSERTION = "Assertion"
RUN = "Run"
HISTORY = "History"
IDENTITY_CONFLICT = "IdentityConflict"
WEBHOOK = "Webhook"
WEBHOOK_DELIVERY = "WebhookDelivery"

MISSING = object()
"""Marker for "no such row" in helpers that map rows."""

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
P = ParamSpec("P")


def name(token: str) -> str:
    """Return ``token`` for use as a label, relationship type or property name.

    Raises:
        ValueError: when it is not a plain identifier (letters, digits, ``_``),
            which no vocabulary name is allowed to be.
    """
    if not _NAME.match(token):
        msg = f"{token!r} cannot be put into a Cypher text"
        raise ValueError(msg)
    return token


def attr_property(attribute: str) -> str:
    """Return the node property that mirrors indexed attribute ``attribute``."""
    return "attr_" + name(attribute)


@dataclass(frozen=True, slots=True)
class Statement:
    """One Cypher statement: its text and its parameters."""

    text: str
    params: Mapping[str, Any] = field(default_factory=dict)
    op: str = ""
    """The statement's name (the function that built it), for logs and tests."""
    columns: tuple[str, ...] = ()
    """When set, the statement answers one record whose ``rows`` column is a list
    of rows, each a list of these columns (see :func:`packed`)."""


_RETURN = re.compile(r"(?:^|\s)RETURN (DISTINCT )?", re.MULTILINE)
_TAIL = re.compile(r"\s(ORDER BY|LIMIT) ")
_ALIAS = re.compile(r"(?:^| AS )([A-Za-z_][A-Za-z0-9_]*)$")


def _top_level_split(text: str, sep: str = ",") -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _packs(build: Callable[P, Statement]) -> Callable[P, Statement]:
    """Decorate a statement builder whose statement may answer many rows (see :func:`packed`)."""

    @functools.wraps(build)
    def build_packed(*args: P.args, **kwargs: P.kwargs) -> Statement:
        return packed(build(*args, **kwargs))

    return build_packed


def packed(statement: Statement) -> Statement:
    """Return ``statement`` answering all its rows in one record.

    ``... RETURN a AS x, b AS y ORDER BY x`` becomes ``... WITH a AS x, b AS y
    ORDER BY x RETURN collect([x, y]) AS rows``: the same rows in the same
    order. The Python driver spends most of a large read on per-record
    overhead (one Bolt message and several event-loop turns each), so a walk
    level of 50,000 rows costs a fraction when it travels as one list.

    Raises:
        ValueError: when the statement has no final ``RETURN`` or a returned
            expression has no name (``AS`` or a bare variable).
    """
    found = list(_RETURN.finditer(statement.text))
    if not found:
        msg = f"{statement.op}: no RETURN to pack"
        raise ValueError(msg)
    last = found[-1]
    head = statement.text[: last.start()] + statement.text[last.start() : last.end()].replace(
        "RETURN ", "WITH ", 1
    )
    clause = statement.text[last.end() :]
    tail_at = _TAIL.search(clause)
    fields = clause if tail_at is None else clause[: tail_at.start()]
    columns = []
    for expression in _top_level_split(fields):
        alias = _ALIAS.search(expression)
        if alias is None:
            msg = f"{statement.op}: {expression!r} has no name to pack"
            raise ValueError(msg)
        columns.append(alias.group(1))
    return Statement(
        f"{head}{clause}\nRETURN collect([{', '.join(columns)}]) AS rows",
        statement.params,
        statement.op,
        tuple(columns),
    )


# ------------------------------------------------------------------------ schema


def schema_statements(vocabulary: Vocabulary = VOCABULARY) -> tuple[str, ...]:
    """Return the constraints and indexes the store creates on open.

    Derived from the vocabulary: a key uniqueness constraint per entity kind
    (on the kind's label), an index per indexed attribute, and the store's
    own lookups. Every statement is ``IF NOT EXISTS``: running them again, or
    after the vocabulary grew, only adds what is missing.
    """
    out = [
        f"CREATE CONSTRAINT graphsvc_store_name IF NOT EXISTS "
        f"FOR (m:{META}) REQUIRE m.name IS UNIQUE",
        f"CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (e:{ENTITY}) REQUIRE e.id IS UNIQUE",
    ]
    for kind in vocabulary.kinds:
        label = name(kind.value)
        out.append(
            f"CREATE CONSTRAINT key_{label} IF NOT EXISTS FOR (e:{label}) REQUIRE e.key IS UNIQUE"
        )
    out += [
        f"CREATE INDEX entity_kind_key IF NOT EXISTS FOR (e:{ENTITY}) ON (e.kind, e.key)",
        f"CREATE INDEX entity_merged_into IF NOT EXISTS FOR (e:{ENTITY}) ON (e.merged_into)",
    ]
    for attribute in vocabulary.indexed_attributes:
        prop = attr_property(attribute)
        out.append(f"CREATE INDEX entity_{prop} IF NOT EXISTS FOR (e:{ENTITY}) ON (e.{prop})")
    out += [
        # text searches: Neo4j 5 text indexes are trigram indexes serving CONTAINS;
        # they compare case-sensitively, so they index the lower-cased mirrors
        # of the key and the name (:func:`text_mirror`)
        f"CREATE TEXT INDEX entity_text_key IF NOT EXISTS FOR (e:{ENTITY}) ON (e.text_key)",
        f"CREATE TEXT INDEX entity_text_name IF NOT EXISTS FOR (e:{ENTITY}) ON (e.text_name)",
    ]
    out += [
        # what MERGE finds by several properties has a composite uniqueness constraint:
        # Neo4j plans the MERGE on its unique index (a plain index on fewer properties
        # was chosen instead on a young database: a scan per row, quadratic ingest), and
        # the constraint, not the writers' lock alone, keeps the node single. The
        # plain indexes of schema version 1 on the same properties are dropped first.
        "DROP INDEX alias_kind_key IF EXISTS",
        f"CREATE CONSTRAINT alias_key IF NOT EXISTS "
        f"FOR (a:{ALIAS}) REQUIRE (a.kind, a.key) IS UNIQUE",
        f"CREATE INDEX alias_entity IF NOT EXISTS FOR (a:{ALIAS}) ON (a.entity)",
        "DROP INDEX identifier_value IF EXISTS",
        # schema version 2: a value may have several holders (a retired host's IP
        # reused by a new one; which holder an item is, is the ingest's rule)
        "DROP CONSTRAINT identifier_value_unique IF EXISTS",
        f"CREATE CONSTRAINT identifier_holder IF NOT EXISTS "
        f"FOR (i:{IDENTIFIER}) REQUIRE (i.kind, i.type, i.value, i.entity) IS UNIQUE",
        f"CREATE INDEX identifier_lookup IF NOT EXISTS "
        f"FOR (i:{IDENTIFIER}) ON (i.kind, i.type, i.value)",
        f"CREATE CONSTRAINT relation_ref_id IF NOT EXISTS "
        f"FOR (k:{RELATION_REF}) REQUIRE k.id IS UNIQUE",
        f"CREATE INDEX assertion_item IF NOT EXISTS FOR (a:{ASSERTION}) ON (a.item)",
        f"CREATE INDEX assertion_assertor IF NOT EXISTS FOR (a:{ASSERTION}) ON (a.source, a.scope)",
        f"CREATE CONSTRAINT assertion_claim IF NOT EXISTS "
        f"FOR (a:{ASSERTION}) REQUIRE (a.source, a.scope, a.item) IS UNIQUE",
        f"CREATE CONSTRAINT run_id IF NOT EXISTS FOR (r:{RUN}) REQUIRE r.run_id IS UNIQUE",
        f"CREATE CONSTRAINT run_seq IF NOT EXISTS FOR (r:{RUN}) REQUIRE r.seq IS UNIQUE",
        f"CREATE INDEX run_source IF NOT EXISTS FOR (r:{RUN}) ON (r.source)",
        f"CREATE CONSTRAINT history_seq IF NOT EXISTS FOR (h:{HISTORY}) REQUIRE h.seq IS UNIQUE",
        f"CREATE INDEX history_item IF NOT EXISTS FOR (h:{HISTORY}) ON (h.item)",
        f"CREATE INDEX history_at IF NOT EXISTS FOR (h:{HISTORY}) ON (h.at)",
        f"CREATE CONSTRAINT identity_conflict_seq IF NOT EXISTS "
        f"FOR (c:{IDENTITY_CONFLICT}) REQUIRE c.seq IS UNIQUE",
        f"CREATE CONSTRAINT identity_conflict_clash IF NOT EXISTS "
        f"FOR (c:{IDENTITY_CONFLICT}) REQUIRE (c.kind, c.id_type, c.value, c.entity, c.holder) "
        "IS UNIQUE",
        f"CREATE INDEX identity_conflict_entity IF NOT EXISTS "
        f"FOR (c:{IDENTITY_CONFLICT}) ON (c.entity)",
        f"CREATE INDEX identity_conflict_holder IF NOT EXISTS "
        f"FOR (c:{IDENTITY_CONFLICT}) ON (c.holder)",
        f"CREATE CONSTRAINT webhook_id IF NOT EXISTS FOR (w:{WEBHOOK}) REQUIRE w.id IS UNIQUE",
        f"CREATE CONSTRAINT webhook_delivery_number IF NOT EXISTS "
        f"FOR (d:{WEBHOOK_DELIVERY}) REQUIRE (d.webhook, d.number) IS UNIQUE",
    ]
    return tuple(out)


AWAIT_INDEXES = Statement("CALL db.awaitIndexes($seconds)", {"seconds": 300}, op="await_indexes")
"""Wait until every index is online (after :func:`schema_statements`)."""

SCHEMA_NAMES = (
    Statement("SHOW INDEXES YIELD name", op="schema_names"),
    Statement("SHOW CONSTRAINTS YIELD name", op="schema_names"),
)
"""The names of the database's indexes and constraints (each statement answers ``name`` rows)."""


def schema_name(statement: str) -> str:
    """The index or constraint a statement of :func:`schema_statements` creates or drops."""
    words = statement.split()
    return words[3] if words[1] == "TEXT" else words[2]


def missing_schema(existing: Set[str], vocabulary: Vocabulary = VOCABULARY) -> tuple[str, ...]:
    """The statements of :func:`schema_statements` that would change a database.

    Each statement names its index or constraint: a ``CREATE ... IF NOT EXISTS``
    whose name the database already has, and a ``DROP ... IF EXISTS`` whose name
    it does not have, would do nothing (Neo4j's ``IF NOT EXISTS`` keeps an
    existing index or constraint of that name whatever its definition), so they
    are left out. A store opening a database whose schema is in place then sends
    none of them: 45 schema transactions, each taking the schema lock, cost
    about half a second on every open.

    Args:
        existing: The names of the database's indexes and constraints
            (:data:`SCHEMA_NAMES`).
        vocabulary: The vocabulary the schema is derived from.
    """
    out = []
    for text in schema_statements(vocabulary):
        present = schema_name(text) in existing
        if text.startswith("DROP") == present:
            out.append(text)
    return tuple(out)


def schema_script(vocabulary: Vocabulary = VOCABULARY) -> str:
    """Return the schema as one Cypher script (the committed ``schema/neo4j.cypher``)."""
    head = (
        "// graphsvc Neo4j schema, generated by graphsvc.store.neo4j.cypher.schema_script();\n"
        "// the store runs these statements itself on open. Do not edit: regenerate with\n"
        "//   graphsvc export-schema\n"
    )
    return head + "".join(f"{s};\n" for s in schema_statements(vocabulary))


# -------------------------------------------------------------------------- meta

_META_MATCH = f"MATCH (m:{META} {{name: $name}})"

READ_META = Statement(
    f"{_META_MATCH}\n"
    "RETURN m.schema_version AS schema_version, m.entities AS entities, "
    "m.relations AS relations, m.next_history AS next_history, m.last_commit AS last_commit, "
    "m.mirrored AS mirrored, m.text_mirrored AS text_mirrored",
    {"name": STORE_NAME},
    op="read_meta",
)
"""The store's version and sizes (no row: not a graphsvc database yet)."""

ANY_NODE = Statement("MATCH (n) RETURN count(n) AS nodes", op="any_node")
"""How many nodes the database holds (from the count store)."""


def create_meta(created: int, mirrored: Sequence[str]) -> Statement:
    """Create the store's meta node unless it exists (concurrent opens are safe).

    A new store mirrors every indexed attribute from the start (``mirrored``),
    and the lower-cased key and name of every entity (``text_mirrored``).
    """
    return Statement(
        f"MERGE (m:{META} {{name: $name}})\n"
        "ON CREATE SET m.schema_version = $version, m.created = $created, "
        "m.next_entity = 1, m.next_relation = 1, m.next_history = 1, m.next_run = 1, "
        "m.entities = 0, m.relations = 0, m.last_commit = 0, m.mirrored = $mirrored, "
        "m.text_mirrored = true\n"
        "RETURN m.schema_version AS schema_version, m.mirrored AS mirrored, "
        "m.text_mirrored AS text_mirrored",
        {
            "name": STORE_NAME,
            "version": SCHEMA_VERSION,
            "created": created,
            "mirrored": list(mirrored),
        },
        op="create_meta",
    )


MIRRORED_BEFORE_RECORDED = (
    "capability",
    "ciClass",
    "lifecycle",
    "projectType",
    "state",
    "tier",
    "windowType",
)
"""The attributes mirrored by stores made before the meta node recorded them."""


@_packs
def mirror_sources(after: int, limit: int) -> Statement:
    """Entities with attributes and ``id > after``, by id, at most ``limit``."""
    return Statement(
        f"MATCH (e:{ENTITY})\n"
        "WHERE e.id > $after AND e.attributes <> '{}'\n"
        "RETURN e.id AS id, e.attributes AS attributes\n"
        "ORDER BY id LIMIT $limit",
        {"after": after, "limit": limit},
        op="mirror_sources",
    )


def set_mirror(rows: Sequence[Mapping[str, Any]]) -> Statement:
    """Set ``attr_<a>`` properties of entities; rows are ``{id, props}``."""
    return Statement(
        f"UNWIND $rows AS row\nMATCH (e:{ENTITY} {{id: row.id}})\nSET e += row.props",
        {"rows": [dict(r) for r in rows]},
        op="set_mirror",
    )


def text_mirror(key: str | None, name: str | None) -> dict[str, str]:
    """The ``text_key``/``text_name`` properties of an entity's key and name.

    Lower-cased in Python, as the searched text is, so that both sides agree
    on every character; the text indexes serve ``CONTAINS`` on them.
    """
    out = {}
    if key is not None:
        out["text_key"] = key.lower()
    if name is not None:
        out["text_name"] = name.lower()
    return out


@_packs
def text_sources(after: int, limit: int) -> Statement:
    """Entities (merged too) with ``id > after``, by id, at most ``limit``: key and name."""
    return Statement(
        f"MATCH (e:{ENTITY})\n"
        "WHERE e.id > $after\n"
        "RETURN e.id AS id, e.key AS key, e.name AS name\n"
        "ORDER BY id LIMIT $limit",
        {"after": after, "limit": limit},
        op="text_sources",
    )


SET_TEXT_MIRRORED = Statement(
    f"{_META_MATCH}\nSET m.text_mirrored = true",
    {"name": STORE_NAME},
    op="set_text_mirrored",
)
"""Record that every entity has its ``text_key`` and ``text_name``."""


def set_mirrored(names: Sequence[str]) -> Statement:
    """Record which indexed attributes every entity now mirrors."""
    return Statement(
        f"{_META_MATCH}\nSET m.mirrored = $names",
        {"name": STORE_NAME, "names": list(names)},
        op="set_mirrored",
    )


MIGRATIONS: dict[str, str] = {
    "1": "identifiers of retired entities were not kept, and a value had one holder",
}
"""Older graph model versions this one migrates from, and what changed."""

DROP_IDENTIFIERS = Statement(
    f"MATCH (i:{IDENTIFIER})\nWITH i LIMIT $limit\nDELETE i\nRETURN count(*) AS n",
    {"limit": 10_000},
    op="drop_identifiers",
)
"""Delete up to ``limit`` identifier nodes (a migration rebuilds them all)."""


def normalise_keys(label: str) -> Statement:
    """Migration from version 1: up to ``limit`` keys of ``label`` nodes put in Unicode NFC."""
    return Statement(
        f"MATCH (n:{name(label)})\n"
        "WHERE n.key <> normalize(n.key, NFC)\n"
        "WITH n LIMIT $limit\n"
        "SET n.key = normalize(n.key, NFC)\n"
        "RETURN count(n) AS n",
        {"limit": 10_000},
        op="normalise_keys",
    )


def set_entity_identifiers(rows: Sequence[Mapping[str, Any]]) -> Statement:
    """Replace the identifiers JSON of entities; rows are ``{id, identifiers}``."""
    return Statement(
        f"UNWIND $rows AS row\nMATCH (e:{ENTITY} {{id: row.id}})\n"
        "SET e.identifiers = row.identifiers",
        {"rows": [dict(r) for r in rows]},
        op="set_entity_identifiers",
    )


@_packs
def identifier_sources(after: int, limit: int) -> Statement:
    """Unmerged entities with identifiers and ``id > after``, by id, at most ``limit``."""
    return Statement(
        f"MATCH (e:{ENTITY})\n"
        "WHERE e.id > $after AND e.status <> 3 AND e.identifiers <> '{}'\n"
        "RETURN e.id AS id, e.kind AS kind, e.identifiers AS identifiers\n"
        "ORDER BY id LIMIT $limit",
        {"after": after, "limit": limit},
        op="identifier_sources",
    )


def set_schema_version(version: str) -> Statement:
    """Record the graph model version the database now holds."""
    return Statement(
        f"{_META_MATCH}\nSET m.schema_version = $version",
        {"name": STORE_NAME, "version": version},
        op="set_schema_version",
    )


def lock_meta(writer: str) -> Statement:
    """Take the store-wide write lock (a write to the meta node) and read the counters.

    The lock is held until the transaction ends; a second writer waits on it.
    """
    return Statement(
        f"{_META_MATCH}\n"
        "SET m.writer = $writer\n"
        "RETURN m.next_entity AS next_entity, m.next_relation AS next_relation, "
        "m.next_history AS next_history, m.next_run AS next_run, m.entities AS entities, "
        "m.relations AS relations, m.last_commit AS last_commit",
        {"name": STORE_NAME, "writer": writer},
        op="lock_meta",
    )


def save_meta(counters: Mapping[str, int]) -> Statement:
    """Write the counters (``next_*``, ``entities``, ``relations``, ``last_commit``)."""
    return Statement(
        f"{_META_MATCH}\nSET m += $counters",
        {"name": STORE_NAME, "counters": dict(counters)},
        op="save_meta",
    )


# ---------------------------------------------------------------------- entities

ENTITY_FIELDS = (
    "e.id AS id, e.kind AS kind, e.key AS key, e.name AS name, e.status AS status, "
    "e.attributes AS attributes, e.identifiers AS identifiers, e.provenance AS provenance, "
    "e.first_seen AS first_seen, e.last_seen AS last_seen"
)
_SURVIVOR = (
    f"UNWIND $ids AS id\n"
    f"MATCH (x:{ENTITY} {{id: id}})\n"
    f"MATCH (e:{ENTITY} {{id: coalesce(x.merged_into, x.id)}})\n"
)


@_packs
def entities_now(ids: Sequence[int]) -> Statement:
    """Current entities (merged ids answer with their survivor) and their aliases."""
    return Statement(
        f"{_SURVIVOR}"
        "WHERE e.status <> 3\n"
        f"OPTIONAL MATCH (a:{ALIAS} {{entity: e.id}})\n"
        "WITH id, e, a ORDER BY a.key\n"
        f"RETURN id AS requested, {ENTITY_FIELDS}, collect(a.key) AS aliases",
        {"ids": list(ids)},
        op="entities_now",
    )


@_packs
def entities_rows(ids: Sequence[int], as_of: int) -> Statement:
    """Entities by their own id (not resolved), with the aliases they had at ``as_of``."""
    return Statement(
        f"UNWIND $ids AS id\n"
        f"MATCH (e:{ENTITY} {{id: id}})\n"
        f"OPTIONAL MATCH (a:{ALIAS} {{entity: e.id}}) WHERE a.since <= $as_of\n"
        "WITH e, a ORDER BY a.key\n"
        f"RETURN {ENTITY_FIELDS}, e.merged_into AS merged_into, collect(a.key) AS aliases",
        {"ids": list(ids), "as_of": as_of},
        op="entities_rows",
    )


@_packs
def entity_states(ids: Sequence[int]) -> Statement:
    """Entities by id for the write transaction (no resolution, merged included)."""
    return Statement(
        f"UNWIND $ids AS id\nMATCH (e:{ENTITY} {{id: id}})\nRETURN {ENTITY_FIELDS}",
        {"ids": list(ids)},
        op="entity_states",
    )


@_packs
def walk_nodes(ids: Sequence[int]) -> Statement:
    """What a walk needs of its start entities (merged ids resolved to survivors)."""
    return Statement(
        f"{_SURVIVOR}"
        "RETURN id AS requested, e.id AS id, e.kind AS kind, e.status AS status, "
        "e.first_seen AS first_seen, e.s_at AS s_at, e.s_old AS s_old",
        {"ids": list(ids)},
        op="walk_nodes",
    )


def entities_of_kinds(kinds: Sequence[int]) -> Statement:
    """Every unmerged entity of the given kind codes, with what a walk needs of it."""
    return Statement(
        f"MATCH (e:{ENTITY})\n"
        "WHERE e.kind IN $kinds AND e.merged_into IS NULL\n"
        "RETURN e.id AS id, e.kind AS kind, e.status AS status, "
        "e.first_seen AS first_seen, e.s_at AS s_at, e.s_old AS s_old",
        {"kinds": list(kinds)},
        op="entities_of_kinds",
    )


@_packs
def resolve_keys(refs: Sequence[tuple[int, int, str]]) -> Statement:
    """Look (kind code, key) up as alias and as entity key; ``refs`` are (i, kind, key)."""
    return Statement(
        "UNWIND $refs AS ref\n"
        f"OPTIONAL MATCH (a:{ALIAS} {{kind: ref.kind, key: ref.key}})\n"
        f"OPTIONAL MATCH (e:{ENTITY} {{kind: ref.kind, key: ref.key}})\n"
        "RETURN ref.i AS i, a.entity AS alias_entity, e.id AS entity_id, "
        "e.merged_into AS merged_into",
        {"refs": [{"i": i, "kind": k, "key": key} for i, k, key in refs]},
        op="resolve_keys",
    )


@_packs
def resolve_keys_as_of(refs: Sequence[tuple[int, int, str]], as_of: int) -> Statement:
    """Look keys up as they resolved at ``as_of`` (entities created by then, older aliases)."""
    return Statement(
        "UNWIND $refs AS ref\n"
        f"OPTIONAL MATCH (e:{ENTITY} {{kind: ref.kind, key: ref.key}}) "
        "WHERE e.first_seen <= $as_of\n"
        f"OPTIONAL MATCH (a:{ALIAS} {{kind: ref.kind, key: ref.key}}) WHERE a.since <= $as_of\n"
        "RETURN ref.i AS i, e.id AS entity_id, a.entity AS alias_entity",
        {"refs": [{"i": i, "kind": k, "key": key} for i, k, key in refs], "as_of": as_of},
        op="resolve_keys_as_of",
    )


@_packs
def resolve_identifiers(kind: int, pairs: Sequence[tuple[int, str, str]]) -> Statement:
    """Every unmerged holder, any status, of each (i, identifier type, value) of a kind."""
    return Statement(
        "UNWIND $pairs AS p\n"
        f"MATCH (i:{IDENTIFIER} {{kind: $kind, type: p.type, value: p.value}})\n"
        f"MATCH (e:{ENTITY} {{id: i.entity}})\n"
        "WHERE e.status <> 3\n"
        "RETURN p.i AS i, e.id AS id",
        {"kind": kind, "pairs": [{"i": i, "type": t, "value": v} for i, t, v in pairs]},
        op="resolve_identifiers",
    )


@dataclass(frozen=True, slots=True)
class EntityFilter:
    """The Cypher side of an entity query (see :func:`find_entities`).

    Attributes:
        kind: Kind label to match, or ``None`` for every entity.
        statuses: Status codes to keep, or ``None`` for all (merged never).
        text: Lower-cased substring of the key or the name (compared with
            their lower-cased mirrors, which the text indexes serve).
        indexed: (attribute, scalar value) pairs compared on ``attr_<a>``.
        seen_by: Only entities first seen at or before this time (microseconds).
        unchanged: Leave these entity ids out (those changed since ``seen_by``).
    """

    kind: EntityKind | None = None
    statuses: tuple[int, ...] | None = None
    text: str | None = None
    indexed: tuple[tuple[str, Any], ...] = ()
    seen_by: int | None = None
    unchanged: tuple[int, ...] = ()


def _entity_where(f: EntityFilter, after: int | None = None) -> tuple[str, dict[str, Any]]:
    labels = f":{ENTITY}" + (f":{name(f.kind.value)}" if f.kind is not None else "")
    clauses = ["e.status <> 3"]
    params: dict[str, Any] = {}
    if after is not None:
        clauses.append("e.id > $after")
        params["after"] = after
    if f.statuses is not None:
        clauses.append("e.status IN $statuses")
        params["statuses"] = list(f.statuses)
    if f.text:
        clauses.append("(e.text_key CONTAINS $text OR e.text_name CONTAINS $text)")
        params["text"] = f.text
    for n, (attribute, value) in enumerate(f.indexed):
        clauses.append(f"e.{attr_property(attribute)} = $a{n}")
        params[f"a{n}"] = value
    if f.seen_by is not None:
        clauses.append("e.first_seen <= $seen_by")
        params["seen_by"] = f.seen_by
    if f.unchanged:
        clauses.append("NOT e.id IN $changed")
        params["changed"] = list(f.unchanged)
    return f"MATCH (e{labels})\nWHERE " + " AND ".join(clauses) + "\n", params


def entities_changed_after(as_of: int) -> Statement:
    """Ids (``id``, ascending) of the entities with a history event after ``as_of``."""
    return Statement(
        f"MATCH (h:{HISTORY})\nWHERE h.at > $as_of AND h.item % 2 = 0\n"
        "RETURN DISTINCT h.item / 2 AS id ORDER BY id",
        {"as_of": as_of},
        op="entities_changed_after",
    )


def count_entities(f: EntityFilter, bound: int | None = None) -> Statement:
    """Count the entities matching ``f``, up to ``bound`` when given."""
    head, params = _entity_where(f)
    if bound is None:
        return Statement(head + "RETURN count(e) AS total", params, op="count_entities")
    params["bound"] = bound
    return Statement(
        head + "WITH e LIMIT $bound\nRETURN count(e) AS total", params, op="count_entities"
    )


@_packs
def page_entity_ids(f: EntityFilter, after: int | None, limit: int) -> Statement:
    """Ids of the first ``limit`` entities matching ``f`` with an id above ``after``."""
    head, params = _entity_where(f, after)
    params["limit"] = limit
    return Statement(
        head + "RETURN e.id AS id ORDER BY id LIMIT $limit", params, op="page_entity_ids"
    )


@_packs
def scan_entity_attributes(f: EntityFilter) -> Statement:
    """Every entity matching ``f`` with its attributes (for filters Cypher cannot express)."""
    head, params = _entity_where(f)
    return Statement(
        head + "RETURN e.id AS id, e.attributes AS attributes ORDER BY id",
        params,
        op="scan_entity_attributes",
    )


@_packs
def attribute_column(ids: Sequence[int], attribute: str) -> Statement:
    """The mirrored value of an indexed attribute for each id (resolved to survivors).

    ``attributes`` is returned only where the mirror is empty, so that a
    non-scalar value can still be read from the JSON.
    """
    prop = attr_property(attribute)
    return Statement(
        f"{_SURVIVOR}"
        "WHERE e.status <> 3\n"
        f"RETURN id AS requested, e.{prop} AS value, "
        f"CASE WHEN e.{prop} IS NULL THEN e.attributes END AS attributes",
        {"ids": list(ids)},
        op="attribute_column",
    )


@_packs
def losers_of(entity_id: int) -> Statement:
    """Ids of the entities merged into ``entity_id``."""
    return Statement(
        f"MATCH (l:{ENTITY} {{merged_into: $id}}) RETURN l.id AS id",
        {"id": entity_id},
        op="losers_of",
    )


# --------------------------------------------------------------------- relations

RELATION_FIELDS = (
    "r.id AS id, type(r) AS type, a.id AS src, b.id AS dst, r.status AS status, "
    "r.attributes AS attributes, r.provenance AS provenance, r.first_seen AS first_seen, "
    "r.last_seen AS last_seen, r.grp AS grp, r.s_at AS s_at, r.s_old AS s_old"
)
_BY_RELATION_ID = (
    f"MATCH (k:{RELATION_REF} {{id: id}})\n"
    f"MATCH (a:{ENTITY} {{id: k.src}})-[r]->(b:{ENTITY} {{id: k.dst}})\n"
    "WHERE r.id = id\n"
)


@_packs
def relations_by_id(ids: Sequence[int]) -> Statement:
    """Relations by id, any status (the caller filters merged ones)."""
    return Statement(
        f"UNWIND $ids AS id\n{_BY_RELATION_ID}RETURN {RELATION_FIELDS}",
        {"ids": list(ids)},
        op="relations_by_id",
    )


@_packs
def relations_of(entity_id: int, direction: Direction) -> Statement:
    """Every relation leaving (OUT) or reaching (IN) an entity (resolved to its survivor)."""
    arrow = "-[r]->(b)" if direction is Direction.OUT else "<-[r]-(b)"
    return Statement(
        f"MATCH (x:{ENTITY} {{id: $id}})\n"
        f"MATCH (a:{ENTITY} {{id: coalesce(x.merged_into, x.id)}}){arrow}\n"
        "RETURN a.id AS entity, r.id AS id, type(r) AS type, r.status AS status, "
        "r.first_seen AS first_seen, r.s_at AS s_at, r.s_old AS s_old",
        {"id": entity_id},
        op="relations_of",
    )


@_packs
def lookup_relations(triples: Sequence[tuple[int, str, int, int]]) -> Statement:
    """Unmerged relations by (i, type, from, to)."""
    return Statement(
        "UNWIND $triples AS t\n"
        f"MATCH (a:{ENTITY} {{id: t.src}})-[r]->(b:{ENTITY} {{id: t.dst}})\n"
        "WHERE type(r) = t.type AND r.status <> 3\n"
        f"RETURN t.i AS i, {RELATION_FIELDS}",
        {"triples": [{"i": i, "type": t, "src": s, "dst": d} for i, t, s, d in triples]},
        op="lookup_relations",
    )


@_packs
def relations_touching(ids: Sequence[int]) -> Statement:
    """Every unmerged relation with an end among ``ids``."""
    return Statement(
        "UNWIND $ids AS id\n"
        f"MATCH (e:{ENTITY} {{id: id}})-[r]-(:{ENTITY})\n"
        "WHERE r.status <> 3\n"
        "WITH DISTINCT r\n"
        "WITH r, startNode(r) AS a, endNode(r) AS b\n"
        f"RETURN {RELATION_FIELDS}",
        {"ids": list(ids)},
        op="relations_touching",
    )


def _types_pattern(types: Iterable[RelationType]) -> str:
    return "|".join(name(t.value) for t in sorted(set(types), key=lambda t: t.value))


WALK_FIELDS_NOW = (
    "uid, r.id AS rid, type(r) AS type, r.status AS r_status, r.grp AS grp, "
    "v.id AS vid, v.kind AS v_kind, v.status AS v_status"
)
"""What a walk of the present reads of each relation: statuses and groups as they are."""
WALK_FIELDS_AS_OF = (
    f"{WALK_FIELDS_NOW}, r.first_seen AS r_first, r.s_at AS r_s_at, r.s_old AS r_s_old, "
    "r.g_at AS g_at, r.g_old AS g_old, v.first_seen AS v_first, v.s_at AS v_s_at, "
    "v.s_old AS v_s_old"
)
"""What a walk of a past time reads: also creation times and the status and group logs."""


@_packs
def expand_level(
    ids: Sequence[int],
    types: Iterable[RelationType],
    *,
    outgoing: bool,
    max_status: int,
    as_of: int | None,
) -> Statement:
    """The relations of the given types leaving (``outgoing``) or reaching a frontier.

    One direction per statement: a walk reads only the directions its steps
    follow (an impact walk reads the dependents of a hub, not also everything
    the hub depends on). Now, relations and neighbours above ``max_status``
    are left out here and only :data:`WALK_FIELDS_NOW` are read; as of a past
    time only those created later are left out, and statuses and groups are
    replayed by the caller from the logs in :data:`WALK_FIELDS_AS_OF`.
    """
    pattern = _types_pattern(types)
    arrow = f"-[r:{pattern}]->" if outgoing else f"<-[r:{pattern}]-"
    if as_of is None:
        where = "WHERE r.status <= $max_status AND v.status <= $max_status\n"
        params: dict[str, Any] = {"ids": list(ids), "max_status": max_status}
        fields = WALK_FIELDS_NOW
    else:
        where = "WHERE r.first_seen <= $as_of AND v.first_seen <= $as_of\n"
        params = {"ids": list(ids), "as_of": as_of}
        fields = WALK_FIELDS_AS_OF
    return Statement(
        "UNWIND $ids AS uid\n"
        f"MATCH (u:{ENTITY} {{id: uid}}){arrow}(v:{ENTITY})\n"
        f"{where}"
        f"RETURN {fields}",
        params,
        op="expand_level",
    )


@_packs
def group_members(ids: Sequence[int], types: Iterable[RelationType]) -> Statement:
    """Relations of the redundancy types leaving ``ids`` that have (or had) a group."""
    return Statement(
        "UNWIND $ids AS oid\n"
        f"MATCH (o:{ENTITY} {{id: oid}})-[r:{_types_pattern(types)}]->()\n"
        "WHERE r.grp IS NOT NULL OR r.g_at IS NOT NULL\n"
        "RETURN oid, r.id AS rid, r.status AS status, r.first_seen AS first_seen, "
        "r.s_at AS s_at, r.s_old AS s_old, r.grp AS grp, r.g_at AS g_at, r.g_old AS g_old",
        {"ids": list(ids)},
        op="group_members",
    )


# ----------------------------------------------------------------------- history


@_packs
def history_page(
    items: Sequence[int], after: int | None, limit: int, *, newest_first: bool = False
) -> Statement:
    """History events of the given item codes after the cursor ``after``.

    Oldest first, ``seq > after``; with ``newest_first``, newest first and
    ``seq < after`` (``after`` ``None``: from the first or the last event).
    """
    if newest_first:
        where, order = ("WHERE h.seq < $after\n" if after is not None else ""), "DESC "
    else:
        where, order = "WHERE h.seq > $after\n", ""
    return Statement(
        "UNWIND $items AS item\n"
        f"MATCH (h:{HISTORY} {{item: item}})\n"
        f"{where}"
        "RETURN h.seq AS seq, h.at AS at, h.op AS op, h.item AS item, h.source AS source, "
        "h.actor AS actor, h.run_id AS run_id, h.changes AS changes\n"
        f"ORDER BY seq {order}LIMIT $limit",
        {"items": list(items), "after": after or 0, "limit": limit},
        op="history_page",
    )


def history_count(items: Sequence[int]) -> Statement:
    """How many history events the given item codes have (``n``)."""
    return Statement(
        f"UNWIND $items AS item\nMATCH (h:{HISTORY} {{item: item}})\nRETURN count(h) AS n",
        {"items": list(items)},
        op="history_count",
    )


OLDEST_EVENT = Statement(
    f"{_META_MATCH}\nRETURN coalesce(m.events_pruned_through, 0) + 1 AS seq",
    {"name": STORE_NAME},
    op="oldest_event",
)
"""The oldest seq the store holds: one past the last seq pruning removed (``1``: none
was; seqs of identity conflicts make gaps, so this is kept, not the smallest held seq)."""


def prune_events(upto: int, keep_bound: int, cut: int | None, limit: int) -> Statement:
    """Delete the oldest events a retention rule removes, at most ``limit``, in seq order.

    An event goes when ``seq <= upto`` (never the newest) and either ``seq <=
    keep_bound`` or it was committed before ``cut`` (microseconds; ``None``:
    that rule is off). Commit times grow with seq, so what goes is a prefix of
    the first ``limit`` events (a seek on ``history_seq``). Answers how many
    went (``removed``) and the largest seq among them (``through``, ``0``: none).
    """
    return Statement(
        f"MATCH (h:{HISTORY})\nWHERE h.seq > 0 AND h.seq <= $upto\n"
        "WITH h ORDER BY h.seq LIMIT $limit\n"
        "WITH h WHERE h.seq <= $keep_bound OR ($cut IS NOT NULL AND h.at < $cut)\n"
        "WITH collect(h) AS gone, max(h.seq) AS through\n"
        "FOREACH (n IN gone | DETACH DELETE n)\n"
        "RETURN size(gone) AS removed, coalesce(through, 0) AS through",
        {"upto": upto, "keep_bound": keep_bound, "cut": cut, "limit": limit},
        op="prune_events",
    )


def set_pruned_through(through: int) -> Statement:
    """Record that every event up to seq ``through`` was pruned (never lowered)."""
    return Statement(
        f"{_META_MATCH}\n"
        "SET m.events_pruned_through = CASE WHEN coalesce(m.events_pruned_through, 0) > $through "
        "THEN m.events_pruned_through ELSE $through END",
        {"name": STORE_NAME, "through": through},
        op="set_pruned_through",
    )


@_packs
def events_page(
    after: int,
    upto: int,
    limit: int,
    *,
    parity: int | None = None,
    kinds: Sequence[int] | None = None,
    types: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    excluded: Sequence[str] = (),
) -> Statement:
    """The store's events with ``after < seq <= upto``, in seq order, at most ``limit``.

    A seek on the ``history_seq`` range index. ``parity`` keeps entity (``0``)
    or relation (``1``) events; ``kinds`` (entity kind codes) and ``types``
    (relation type names) keep the events of items of those kinds or types,
    read from the entity node or the relation's reference node by id (each a
    unique-index lookup, made only when a kind or type is asked for);
    ``sources`` and ``excluded`` keep or drop events by their source.
    """
    where = ["h.seq > $after", "h.seq <= $upto"]
    params: dict[str, Any] = {"after": after, "upto": upto, "limit": limit}
    if sources is not None:
        where.append("h.source IN $sources")
        params["sources"] = sorted(sources)
    if excluded:
        where.append("NOT h.source IN $excluded")
        params["excluded"] = sorted(excluded)
    if parity is not None:
        where.append("h.item % 2 = $parity")
        params["parity"] = parity
    text = f"MATCH (h:{HISTORY})\nWHERE {' AND '.join(where)}\n"
    if kinds is not None or types is not None:
        text += (
            f"OPTIONAL MATCH (e:{ENTITY} {{id: h.item / 2}}) WHERE h.item % 2 = 0\n"
            f"OPTIONAL MATCH (k:{RELATION_REF} {{id: h.item / 2}}) WHERE h.item % 2 = 1\n"
            "WITH h, e, k\n"
            "WHERE e.kind IN $kinds OR k.type IN $types\n"
        )
        params["kinds"] = sorted(kinds or ())
        params["types"] = sorted(types or ())
    return Statement(
        text + "RETURN h.seq AS seq, h.at AS at, h.op AS op, h.item AS item, h.source AS source, "
        "h.actor AS actor, h.run_id AS run_id, h.changes AS changes\n"
        "ORDER BY seq LIMIT $limit",
        params,
        op="events_page",
    )


@_packs
def events_after(items: Sequence[int], as_of: int) -> Statement:
    """Events of the given item codes later than ``as_of``, newest first (to undo them)."""
    return Statement(
        "UNWIND $items AS item\n"
        f"MATCH (h:{HISTORY} {{item: item}})\n"
        "WHERE h.at > $as_of\n"
        "RETURN h.item AS item, h.op AS op, h.changes AS changes\n"
        "ORDER BY h.seq DESC",
        {"items": list(items), "as_of": as_of},
        op="events_after",
    )


# -------------------------------------------------------------------------- runs

RUN_FIELDS = (
    "r.run_id AS run_id, r.source AS source, r.scope AS scope, r.state AS state, "
    "r.started AS started, r.finished AS finished, r.batches AS batches, r.seq AS seq"
)


@_packs
def latest_runs(source: str | None, first: int) -> Statement:
    """The latest runs, newest first, optionally of one source."""
    if source is None:
        return Statement(
            f"MATCH (r:{RUN})\nRETURN {RUN_FIELDS}\nORDER BY seq DESC LIMIT $first",
            {"first": first},
            op="latest_runs",
        )
    return Statement(
        f"MATCH (r:{RUN} {{source: $source}})\nRETURN {RUN_FIELDS}\nORDER BY seq DESC LIMIT $first",
        {"source": source, "first": first},
        op="latest_runs",
    )


def get_run(run_id: str) -> Statement:
    """One run by id."""
    return Statement(
        f"MATCH (r:{RUN} {{run_id: $run_id}})\nRETURN {RUN_FIELDS}",
        {"run_id": run_id},
        op="get_run",
    )


def create_run(run: Mapping[str, Any]) -> Statement:
    """Record a new run (``run`` holds every property, ``run_id`` included)."""
    return Statement(
        f"MERGE (r:{RUN} {{run_id: $run.run_id}})\nSET r += $run",
        {"run": dict(run)},
        op="create_run",
    )


def update_run(run_id: str, state: str, finished: int | None, batches: int) -> Statement:
    """Set a run's state, end and batch count."""
    return Statement(
        f"MATCH (r:{RUN} {{run_id: $run_id}})\n"
        "SET r.state = $state, r.finished = $finished, r.batches = $batches",
        {"run_id": run_id, "state": state, "finished": finished, "batches": batches},
        op="update_run",
    )


# -------------------------------------------------------------------- assertions


@_packs
def missing_assertions(source: str, scope: str, run_seq: int, saturated_at: int) -> Statement:
    """Assertions of (source, scope) not renewed by run ``run_seq``, short of ``saturated_at``."""
    return Statement(
        f"MATCH (a:{ASSERTION} {{source: $source, scope: $scope}})\n"
        "WHERE (a.missed > 0 OR a.last_run < $run_seq) AND a.missed <> $saturated_at\n"
        "RETURN a.item AS item, a.last_run AS last_run, a.missed AS missed",
        {"source": source, "scope": scope, "run_seq": run_seq, "saturated_at": saturated_at},
        op="missing_assertions",
    )


@_packs
def asserted_elsewhere(items: Sequence[int], source: str, scope: str) -> Statement:
    """Those item codes that another (source, scope) asserts now."""
    return Statement(
        "UNWIND $items AS item\n"
        f"MATCH (a:{ASSERTION} {{item: item}})\n"
        "WHERE a.missed = 0 AND NOT (a.source = $source AND a.scope = $scope)\n"
        "RETURN DISTINCT item",
        {"items": list(items), "source": source, "scope": scope},
        op="asserted_elsewhere",
    )


@_packs
def assertions_of(item: int) -> Statement:
    """Every assertion of one item code."""
    return Statement(
        f"MATCH (a:{ASSERTION} {{item: $item}})\n"
        "RETURN a.source AS source, a.scope AS scope, a.last_run AS last_run, "
        "a.missed AS missed",
        {"item": item},
        op="assertions_of",
    )


# ---------------------------------------------------------------- whole-graph columns


@_packs
def entity_columns(kinds: Sequence[int] | None, as_of: int | None) -> Statement:
    """Id, kind, status and status log of every unmerged entity (of ``kinds``), by id."""
    where = ["e.status < 3"]
    params: dict[str, Any] = {}
    if kinds is not None:
        where.append("e.kind IN $kinds")
        params["kinds"] = list(kinds)
    if as_of is not None:
        where.append("e.first_seen <= $as_of")
        params["as_of"] = as_of
    return Statement(
        f"MATCH (e:{ENTITY})\nWHERE {' AND '.join(where)}\n"
        "RETURN e.id AS id, e.kind AS kind, e.status AS status, e.s_at AS s_at, "
        "e.s_old AS s_old\nORDER BY id",
        params,
        op="entity_columns",
    )


@_packs
def relation_columns(types: Iterable[RelationType], as_of: int | None) -> Statement:
    """Id, endpoints, status and status log of every unmerged relation of ``types``, by id."""
    where = "WHERE r.status < 3" + (" AND r.first_seen <= $as_of" if as_of is not None else "")
    return Statement(
        f"MATCH (u:{ENTITY})-[r:{_types_pattern(types)}]->(v:{ENTITY})\n{where}\n"
        "RETURN r.id AS id, type(r) AS type, u.id AS src, v.id AS dst, r.status AS status, "
        "r.s_at AS s_at, r.s_old AS s_old\nORDER BY id",
        {} if as_of is None else {"as_of": as_of},
        op="relation_columns",
    )


@_packs
def entity_assertions() -> Statement:
    """Every assertion of an entity (item codes are even)."""
    return Statement(
        f"MATCH (a:{ASSERTION})\nWHERE a.item % 2 = 0\n"
        "RETURN a.source AS source, a.scope AS scope, a.item / 2 AS entity, a.missed AS missed",
        {},
        op="entity_assertions",
    )


# ------------------------------------------------------------------------ writes


def create_entities(kind: EntityKind, rows: Sequence[Mapping[str, Any]]) -> Statement:
    """Create entities of one kind; each row is ``{id, props}``. Returns ``n`` written."""
    return Statement(
        "UNWIND $rows AS row\n"
        f"MERGE (e:{ENTITY} {{id: row.id}})\n"
        f"SET e:{name(kind.value)}, e += row.props\n"
        "RETURN count(e) AS n",
        {"rows": [dict(r) for r in rows]},
        op="create_entities",
    )


def update_entities(rows: Sequence[Mapping[str, Any]]) -> Statement:
    """Set properties of existing entities; each row is ``{id, props}`` (null removes)."""
    return Statement(
        "UNWIND $rows AS row\n"
        f"MATCH (e:{ENTITY} {{id: row.id}})\n"
        "SET e += row.props\n"
        "RETURN count(e) AS n",
        {"rows": [dict(r) for r in rows]},
        op="update_entities",
    )


def log_entity_status(rows: Sequence[Mapping[str, Any]]) -> Statement:
    """Append to entities' status logs; each row is ``{id, at: [...], old: [...]}``."""
    return Statement(
        "UNWIND $rows AS row\n"
        f"MATCH (e:{ENTITY} {{id: row.id}})\n"
        "SET e.s_at = coalesce(e.s_at, []) + row.at, e.s_old = coalesce(e.s_old, []) + row.old",
        {"rows": [dict(r) for r in rows]},
        op="log_entity_status",
    )


def touch_entities(ids: Sequence[int], at: int) -> Statement:
    """Set ``last_seen`` of entities."""
    return Statement(
        f"UNWIND $ids AS id\nMATCH (e:{ENTITY} {{id: id}})\nSET e.last_seen = $at",
        {"ids": list(ids), "at": at},
        op="touch_entities",
    )


def merge_entity(loser: int, survivor: int, at: int) -> Statement:
    """Mark ``loser`` merged into ``survivor`` and make its key an alias of the survivor."""
    return Statement(
        f"MATCH (l:{ENTITY} {{id: $loser}})\n"
        "SET l.status = 3, l.merged_into = $survivor\n"
        "WITH l\n"
        f"MERGE (a:{ALIAS} {{kind: l.kind, key: l.key}})\n"
        "SET a.entity = $survivor, a.since = $at",
        {"loser": loser, "survivor": survivor, "at": at},
        op="merge_entity",
    )


def repoint_aliases(loser: int, survivor: int) -> Statement:
    """Aliases of ``loser`` now name ``survivor``."""
    return Statement(
        f"MATCH (a:{ALIAS} {{entity: $loser}})\nSET a.entity = $survivor",
        {"loser": loser, "survivor": survivor},
        op="repoint_aliases",
    )


def repoint_losers(loser: int, survivor: int) -> Statement:
    """Entities merged into ``loser`` earlier now name ``survivor`` as their survivor."""
    return Statement(
        f"MATCH (x:{ENTITY} {{merged_into: $loser}})\nSET x.merged_into = $survivor",
        {"loser": loser, "survivor": survivor},
        op="repoint_losers",
    )


def set_aliases(rows: Sequence[Mapping[str, Any]], at: int) -> Statement:
    """Make each ``{kind, key, entity}`` an alias (replacing an alias of that key)."""
    return Statement(
        "UNWIND $rows AS row\n"
        f"MERGE (a:{ALIAS} {{kind: row.kind, key: row.key}})\n"
        "SET a.entity = row.entity, a.since = $at",
        {"rows": [dict(r) for r in rows], "at": at},
        op="set_aliases",
    )


def set_identifiers(rows: Sequence[Mapping[str, Any]]) -> Statement:
    """``row.entity`` holds each ``{kind, type, value}`` identifier (others may hold it too)."""
    return Statement(
        "UNWIND $rows AS row\n"
        f"MERGE (:{IDENTIFIER} {{kind: row.kind, type: row.type, value: row.value, "
        "entity: row.entity})",
        {"rows": [dict(r) for r in rows]},
        op="set_identifiers",
    )


def unset_identifiers(rows: Sequence[Mapping[str, Any]]) -> Statement:
    """``row.entity`` no longer holds each ``{kind, type, value}`` identifier."""
    return Statement(
        "UNWIND $rows AS row\n"
        f"MATCH (i:{IDENTIFIER} {{kind: row.kind, type: row.type, value: row.value, "
        "entity: row.entity})\n"
        "DELETE i",
        {"rows": [dict(r) for r in rows]},
        op="unset_identifiers",
    )


def create_relations(type_: RelationType, rows: Sequence[Mapping[str, Any]]) -> Statement:
    """Create relations of one type; rows are ``{id, src, dst, props}``. Returns ``n``.

    ``CREATE``, not ``MERGE``: the ids are new (the store's counter), a retried
    transaction starts from a rollback, and a repeated id still fails on the
    ``relation_ref_id`` constraint. ``MERGE`` of a relationship looks at every
    relationship between the two ends, a third of the statement's time when
    one end is a hub.
    """
    return Statement(
        "UNWIND $rows AS row\n"
        f"MATCH (a:{ENTITY} {{id: row.src}})\n"
        f"MATCH (b:{ENTITY} {{id: row.dst}})\n"
        f"CREATE (a)-[r:{name(type_.value)}]->(b)\n"
        "SET r = row.props\n"
        f"CREATE (:{RELATION_REF} {{id: row.id, type: type(r), src: row.src, dst: row.dst}})\n"
        "RETURN count(r) AS n",
        {"rows": [dict(r) for r in rows]},
        op="create_relations",
    )


_ROW_RELATION = (
    "UNWIND $rows AS row\n"
    f"MATCH (k:{RELATION_REF} {{id: row.id}})\n"
    f"MATCH (:{ENTITY} {{id: k.src}})-[r]->(:{ENTITY} {{id: k.dst}})\n"
    "WHERE r.id = row.id\n"
)


def update_relations(rows: Sequence[Mapping[str, Any]]) -> Statement:
    """Set properties of relations by id; rows are ``{id, props}``. Returns ``n``."""
    return Statement(
        f"{_ROW_RELATION}SET r += row.props\nRETURN count(r) AS n",
        {"rows": [dict(r) for r in rows]},
        op="update_relations",
    )


def log_relation_status(rows: Sequence[Mapping[str, Any]]) -> Statement:
    """Append to relations' status logs; rows are ``{id, at: [...], old: [...]}``."""
    return Statement(
        f"{_ROW_RELATION}"
        "SET r.s_at = coalesce(r.s_at, []) + row.at, r.s_old = coalesce(r.s_old, []) + row.old",
        {"rows": [dict(r) for r in rows]},
        op="log_relation_status",
    )


def log_relation_group(rows: Sequence[Mapping[str, Any]]) -> Statement:
    """Append to relations' group logs; rows are ``{id, at: [...], old: [JSON texts]}``."""
    return Statement(
        f"{_ROW_RELATION}"
        "SET r.g_at = coalesce(r.g_at, []) + row.at, r.g_old = coalesce(r.g_old, []) + row.old",
        {"rows": [dict(r) for r in rows]},
        op="log_relation_group",
    )


def touch_relations(ids: Sequence[int], at: int) -> Statement:
    """Set ``last_seen`` of relations."""
    return Statement(
        f"UNWIND $ids AS id\n{_BY_RELATION_ID}SET r.last_seen = $at",
        {"ids": list(ids), "at": at},
        op="touch_relations",
    )


def move_assertions(old: int, new: int) -> Statement:
    """Every source's assertions of item ``old`` now assert item ``new`` (merging counts)."""
    return Statement(
        f"MATCH (a:{ASSERTION} {{item: $old}})\n"
        f"MERGE (b:{ASSERTION} {{source: a.source, scope: a.scope, item: $new}})\n"
        "ON CREATE SET b.last_run = a.last_run, b.missed = a.missed\n"
        "ON MATCH SET b.last_run = CASE WHEN a.last_run > b.last_run "
        "THEN a.last_run ELSE b.last_run END, "
        "b.missed = CASE WHEN a.missed < b.missed THEN a.missed ELSE b.missed END\n"
        "DELETE a",
        {"old": old, "new": new},
        op="move_assertions",
    )


def assert_items(items: Sequence[int], source: str, scope: str, run_seq: int) -> Statement:
    """(source, scope) asserts these item codes in run ``run_seq``."""
    return Statement(
        "UNWIND $items AS item\n"
        f"MERGE (a:{ASSERTION} {{source: $source, scope: $scope, item: item}})\n"
        "SET a.last_run = $run_seq, a.missed = 0",
        {"items": list(items), "source": source, "scope": scope, "run_seq": run_seq},
        op="assert_items",
    )


def withdraw(rows: Sequence[Mapping[str, Any]], source: str, scope: str) -> Statement:
    """Set ``missed`` of (source, scope) assertions; rows are ``{item, missed}``."""
    return Statement(
        "UNWIND $rows AS row\n"
        f"MATCH (a:{ASSERTION} {{source: $source, scope: $scope, item: row.item}})\n"
        "SET a.missed = row.missed",
        {"rows": [dict(r) for r in rows], "source": source, "scope": scope},
        op="withdraw",
    )


def append_history(rows: Sequence[Mapping[str, Any]]) -> Statement:
    """Append history events; each row holds every property, ``seq`` included.

    ``CREATE``: ``seq`` comes from the store's counter, and the ``history_seq``
    constraint refuses a repeated one.
    """
    return Statement(
        f"UNWIND $rows AS row\nCREATE (h:{HISTORY})\nSET h = row",
        {"rows": [dict(r) for r in rows]},
        op="append_history",
    )


@_packs
def without_creation(relations: bool, limit: int) -> Statement:
    """Ids of entities (or relations, by reference) with no ``created`` history event."""
    label, item = (RELATION_REF, "n.id * 2 + 1") if relations else (ENTITY, "n.id * 2")
    return Statement(
        f"MATCH (n:{label})\n"
        f"WHERE NOT EXISTS {{ MATCH (h:{HISTORY} {{item: {item}}}) WHERE h.op = 'created' }}\n"
        "RETURN n.id AS id LIMIT $limit",
        {"limit": limit},
        op="without_creation",
    )


@_packs
def shared_identifiers(strong_types: Sequence[str], limit: int) -> Statement:
    """Values held by two live entities, or strong values held by two unmerged ones."""
    return Statement(
        f"MATCH (i:{IDENTIFIER})\n"
        f"MATCH (e:{ENTITY} {{id: i.entity}})\n"
        "WHERE e.status IN [0, 1] OR (e.status = 2 AND i.type IN $strong)\n"
        "WITH i.kind AS kind, i.type AS type, i.value AS value, "
        "collect(e.id) AS ids, collect(e.status) AS statuses\n"
        "WHERE size([s IN statuses WHERE s < 2]) > 1 OR (type IN $strong AND size(ids) > 1)\n"
        "RETURN kind, type, value, ids LIMIT $limit",
        {"strong": list(strong_types), "limit": limit},
        op="shared_identifiers",
    )


def record_conflicts(rows: Sequence[Mapping[str, Any]]) -> Statement:
    """Record identity conflicts not recorded yet; each row holds every property.

    A clash (kind, type, value, entity, holder) is recorded once: the first
    time, with its ``seq``, time, source and run.
    """
    return Statement(
        "UNWIND $rows AS row\n"
        f"MERGE (c:{IDENTITY_CONFLICT} {{kind: row.kind, id_type: row.id_type, "
        "value: row.value, entity: row.entity, holder: row.holder})\n"
        "ON CREATE SET c = row",
        {"rows": [dict(r) for r in rows]},
        op="record_conflicts",
    )


CONFLICT_FIELDS = (
    "c.seq AS seq, c.at AS at, c.kind AS kind, c.id_type AS id_type, "
    "c.value AS value, c.entity AS entity, c.holder AS holder, c.item_key AS item_key, "
    "c.source AS source, c.run_id AS run_id, c.state AS state, c.closed_at AS closed_at, "
    "c.closed_by AS closed_by, c.close_reason AS close_reason"
)
"""What a conflict read answers (an open conflict's closure fields are null)."""


def _state_condition(state: str | None) -> tuple[str, dict[str, Any]]:
    """``AND …`` of the conflicts in ``state`` (``open``: no ``state`` property)."""
    if state is None:
        return "", {}
    if state == "open":
        return " AND c.state IS NULL", {}
    return " AND c.state = $state", {"state": state}


@_packs
def conflicts_page(after: int, limit: int, state: str | None = None) -> Statement:
    """Identity conflicts with ``seq > after`` (in ``state``), oldest first, at most ``limit``."""
    condition, params = _state_condition(state)
    return Statement(
        f"MATCH (c:{IDENTITY_CONFLICT})\n"
        f"WHERE c.seq > $after{condition}\n"
        f"RETURN {CONFLICT_FIELDS}\n"
        "ORDER BY seq LIMIT $limit",
        {"after": after, "limit": limit, **params},
        op="conflicts_page",
    )


def conflicts_count(state: str | None = None) -> Statement:
    """How many identity conflicts are recorded (in ``state``) (``n``)."""
    condition, params = _state_condition(state)
    where = f"\nWHERE true{condition}" if condition else ""
    return Statement(
        f"MATCH (c:{IDENTITY_CONFLICT}){where}\nRETURN count(c) AS n", params, op="conflicts_count"
    )


def conflicts_by_seq(seqs: Sequence[int]) -> Statement:
    """The identity conflicts with these seqs."""
    return Statement(
        f"UNWIND $seqs AS s\nMATCH (c:{IDENTITY_CONFLICT} {{seq: s}})\nRETURN {CONFLICT_FIELDS}",
        {"seqs": list(seqs)},
        op="conflicts_by_seq",
    )


def conflicts_of(ids: Sequence[int]) -> Statement:
    """The identity conflicts whose entity or holder is one of ``ids`` (as recorded)."""
    return Statement(
        "UNWIND $ids AS id\n"
        f"MATCH (c:{IDENTITY_CONFLICT})\n"
        "WHERE c.entity = id OR c.holder = id\n"
        f"WITH DISTINCT c\nRETURN {CONFLICT_FIELDS}",
        {"ids": list(ids)},
        op="conflicts_of",
    )


def close_conflicts(rows: Sequence[Mapping[str, Any]]) -> Statement:
    """Close identity conflicts: each row holds ``seq``, ``state``, ``at``, ``actor``, ``reason``.

    Answers ``n``, the conflicts found (the caller checks every one was).
    """
    return Statement(
        "UNWIND $rows AS row\n"
        f"MATCH (c:{IDENTITY_CONFLICT} {{seq: row.seq}})\n"
        "SET c.state = row.state, c.closed_at = row.at, c.closed_by = row.actor, "
        "c.close_reason = row.reason\n"
        "RETURN count(c) AS n",
        {"rows": [dict(r) for r in rows]},
        op="close_conflicts",
    )


# ---------------------------------------------------------------------- webhooks
# Every write below that reads what it then changes (a compare-and-set, the lease,
# the delivery counter) first SETs ``w.locked`` on the subscription: that takes the
# node's exclusive lock, so the condition is read after any other writer of the node
# committed (Neo4j's documented cure for lost updates), never from a stale read.

WEBHOOK_FIELDS = (
    "w.id AS id, w.url AS url, w.filter AS filter, w.description AS description, "
    "w.secret AS secret, w.state AS state, w.cursor AS cursor, w.batch_end AS batch_end, "
    "w.attempts AS attempts, w.next_attempt AS next_attempt, w.last_error AS last_error, "
    "w.created AS created, w.updated AS updated, w.lease_owner AS lease_owner, "
    "w.lease_until AS lease_until, w.deliveries AS deliveries"
)
DELIVERY_FIELDS = (
    "d.number AS number, d.webhook AS webhook, d.message_id AS message_id, "
    "d.first_seq AS first_seq, d.last_seq AS last_seq, d.events AS events, "
    "d.attempt AS attempt, d.manual AS manual, d.at AS at, d.duration AS duration, "
    "d.status_code AS status_code, d.error AS error, d.body AS body, d.ok AS ok"
)
_LOCK_WEBHOOK = f"MATCH (w:{WEBHOOK} {{id: $id}})\nSET w.locked = true\nWITH w\n"


def create_webhook(props: Mapping[str, Any]) -> Statement:
    """Create one subscription node from ``props`` (every property)."""
    return Statement(
        f"CREATE (w:{WEBHOOK})\nSET w = $props\nRETURN {WEBHOOK_FIELDS}",
        {"props": dict(props)},
        op="create_webhook",
    )


def get_webhook(webhook_id: str) -> Statement:
    """One subscription by id."""
    return Statement(
        f"MATCH (w:{WEBHOOK} {{id: $id}})\nRETURN {WEBHOOK_FIELDS}",
        {"id": webhook_id},
        op="get_webhook",
    )


def list_webhooks() -> Statement:
    """Every subscription, oldest first."""
    return Statement(
        f"MATCH (w:{WEBHOOK})\nRETURN {WEBHOOK_FIELDS}\nORDER BY created, id",
        {},
        op="list_webhooks",
    )


def set_webhook(
    webhook_id: str, changes: Mapping[str, Any], *, cursor: int | None, active: bool = False
) -> Statement:
    """Set properties of a subscription; with ``cursor``, only at that cursor (and ``active``)."""
    guard = ""
    params: dict[str, Any] = {"id": webhook_id, "changes": dict(changes)}
    if cursor is not None:
        guard = "WHERE w.cursor = $cursor" + (" AND w.state = $active" if active else "") + "\n"
        params["cursor"] = cursor
        if active:
            params["active"] = "active"
    return Statement(
        f"{_LOCK_WEBHOOK}{guard}SET w += $changes\nREMOVE w.locked\nRETURN {WEBHOOK_FIELDS}",
        params,
        op="set_webhook",
    )


def delete_webhook(webhook_id: str) -> Statement:
    """Delete a subscription and its delivery log; ``n`` subscriptions deleted."""
    return Statement(
        f"MATCH (w:{WEBHOOK} {{id: $id}})\n"
        f"OPTIONAL MATCH (d:{WEBHOOK_DELIVERY} {{webhook: $id}})\n"
        "DETACH DELETE d\n"
        "WITH DISTINCT w, w.id AS found\n"
        "DETACH DELETE w\n"
        "RETURN count(found) AS n",
        {"id": webhook_id},
        op="delete_webhook",
    )


def lease_webhook(webhook_id: str, owner: str, now: int, until: int) -> Statement:
    """Take the lease unless another owner holds an unexpired one (a row: taken)."""
    return Statement(
        f"{_LOCK_WEBHOOK}"
        "WHERE w.lease_owner IS NULL OR w.lease_owner = $owner OR w.lease_until <= $now\n"
        "SET w.lease_owner = $owner, w.lease_until = $until\n"
        "REMOVE w.locked\n"
        "RETURN w.id AS id",
        {"id": webhook_id, "owner": owner, "now": now, "until": until},
        op="lease_webhook",
    )


def release_webhook(webhook_id: str, owner: str) -> Statement:
    """Clear the lease if ``owner`` holds it."""
    return Statement(
        f"{_LOCK_WEBHOOK}"
        "WHERE w.lease_owner = $owner\n"
        "SET w.lease_owner = null, w.lease_until = null\n"
        "REMOVE w.locked\n"
        "RETURN w.id AS id",
        {"id": webhook_id, "owner": owner},
        op="release_webhook",
    )


def record_delivery(webhook_id: str, props: Mapping[str, Any], keep: int) -> Statement:
    """Number a delivery from the subscription's counter, store it, drop the oldest.

    Answers the new ``number`` (no row: no such subscription).
    """
    return Statement(
        f"{_LOCK_WEBHOOK}"
        "SET w.deliveries = w.deliveries + 1\n"
        "REMOVE w.locked\n"
        f"CREATE (d:{WEBHOOK_DELIVERY})\n"
        "SET d = $props, d.webhook = $id, d.number = w.deliveries\n"
        "WITH w, d\n"
        f"OPTIONAL MATCH (old:{WEBHOOK_DELIVERY} {{webhook: $id}})\n"
        "WHERE old.number <= w.deliveries - $keep\n"
        "DETACH DELETE old\n"
        "RETURN DISTINCT d.number AS number",
        {"id": webhook_id, "props": dict(props), "keep": keep},
        op="record_delivery",
    )


def deliveries_page(webhook_id: str, before: int, limit: int) -> Statement:
    """Deliveries of a subscription numbered below ``before``, newest first."""
    return Statement(
        f"MATCH (d:{WEBHOOK_DELIVERY} {{webhook: $id}})\n"
        "WHERE d.number < $before\n"
        f"RETURN {DELIVERY_FIELDS}\n"
        "ORDER BY number DESC LIMIT $limit",
        {"id": webhook_id, "before": before, "limit": limit},
        op="deliveries_page",
    )


def get_delivery(webhook_id: str, number: int) -> Statement:
    """One delivery by subscription and number."""
    return Statement(
        f"MATCH (d:{WEBHOOK_DELIVERY} {{webhook: $id, number: $number}})\nRETURN {DELIVERY_FIELDS}",
        {"id": webhook_id, "number": number},
        op="get_delivery",
    )


if __name__ == "__main__":  # pragma: no cover - regenerates schema/neo4j.cypher
    import sys

    sys.stdout.write(schema_script())
