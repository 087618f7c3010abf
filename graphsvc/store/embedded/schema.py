"""The embedded store's SQLite schema.

Items are encoded in one integer where a table refers to "an entity or a
relation": ``id * 2`` for an entity, ``id * 2 + 1`` for a relation
(:func:`encode`). Times are integer microseconds since the Unix epoch.
Provenance JSON maps a field (``name``, ``attributes.<a>``, ``identifiers.<t>``)
to ``[source id, micros]``.

Uniqueness of relations on ``(type, src, dst)`` is kept by the single writer
through the in-memory index and checked again on every open.

``changelog`` holds, for each recent commit, what the in-memory index learnt
from it (:class:`~graphsvc.store.embedded.writer.IndexUpdate` as JSON), written
in the same transaction; read replicas (``graphsvc serve --read-only``) apply
it to their own index to follow the writer. The writer keeps the last
:data:`CHANGELOG_KEEP` commits. ``meta.epoch`` changes when the store is erased
(``demo --reset``): a replica that sees another epoch reloads its index.

``identity_conflict_closure`` holds, for each identity conflict an administrator
dismissed or resolved by a merge, its state, time, actor and reason; a conflict
without a row is open.

``webhook`` and ``webhook_delivery`` hold webhook subscriptions and their delivery
log (:mod:`graphsvc.store.embedded.webhooks`); the secret is stored sealed.

``entity_text`` (:data:`TEXT_INDEX`) is an FTS5 trigram index over the key and
the name of every entity row (merged ones too: the search leaves them out by
status), an external-content table over ``entity`` kept by triggers in the
transaction that writes the row, so no write path can forget it. It serves
text searches of three characters or more (``find_entities``).
"""

from __future__ import annotations

from graphsvc.model.records import ItemKind

__all__ = [
    "CHANGELOG_KEEP",
    "MIGRATES_FROM",
    "READABLE_UNMIGRATED",
    "SCHEMA",
    "SCHEMA_VERSION",
    "TEXT_INDEX",
    "decode",
    "encode",
]

CHANGELOG_KEEP = 20_000
"""Commits kept in ``changelog``; a replica further behind reloads its index whole."""

SCHEMA_VERSION = "6"
"""Version 2 added ``identity_conflict``, version 3 ``changelog``, version 4 ``webhook``
and ``webhook_delivery``, version 5 ``identity_conflict_closure`` (dismissed and
resolved conflicts) and the indexes of ``identity_conflict`` by entity and holder,
version 6 the text index ``entity_text`` (:data:`TEXT_INDEX`); an older store is
migrated when opened for writing (the new tables and indexes are created and the text
index built from every entity, keys and identifier values put in NFC, nothing else
changes: every conflict of an older store is open)."""

MIGRATES_FROM = frozenset({"1", "2", "3", "4", "5"})
"""Older versions a writable open brings up to date."""

READABLE_UNMIGRATED = frozenset({"5"})
"""Older versions a read-only open accepts as they are: version 5 lacks only the
text index, and its text searches scan the entity table as before."""

TEXT_INDEX = (
    """CREATE VIRTUAL TABLE IF NOT EXISTS entity_text USING fts5(
    key, name, content='entity', content_rowid='id', tokenize='trigram'
)""",
    """CREATE TRIGGER IF NOT EXISTS entity_text_insert AFTER INSERT ON entity BEGIN
    INSERT INTO entity_text(rowid, key, name) VALUES (new.id, new.key, new.name);
END""",
    """CREATE TRIGGER IF NOT EXISTS entity_text_update AFTER UPDATE OF key, name ON entity
WHEN old.key IS NOT new.key OR old.name IS NOT new.name BEGIN
    INSERT INTO entity_text(entity_text, rowid, key, name)
        VALUES ('delete', old.id, old.key, old.name);
    INSERT INTO entity_text(rowid, key, name) VALUES (new.id, new.key, new.name);
END""",
    """CREATE TRIGGER IF NOT EXISTS entity_text_delete AFTER DELETE ON entity BEGIN
    INSERT INTO entity_text(entity_text, rowid, key, name)
        VALUES ('delete', old.id, old.key, old.name);
END""",
)
"""Statements (each one whole: triggers hold ``;``) creating the trigram text index
over entity keys and names and the triggers that keep it; run after :data:`SCHEMA`.
The trigram tokenizer folds case (Unicode simple folding) and keeps diacritics."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS changelog (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS source (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS assertor (
    id        INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES source(id),
    scope     TEXT NOT NULL,
    UNIQUE (source_id, scope)
);
CREATE TABLE IF NOT EXISTS entity (
    id          INTEGER PRIMARY KEY,
    kind        INTEGER NOT NULL,
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    status      INTEGER NOT NULL,
    attributes  TEXT NOT NULL,
    identifiers TEXT NOT NULL,
    provenance  TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    merged_into INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS entity_kind_key ON entity (kind, key);
CREATE INDEX IF NOT EXISTS entity_merged_into ON entity (merged_into)
    WHERE merged_into IS NOT NULL;
CREATE TABLE IF NOT EXISTS alias (
    kind      INTEGER NOT NULL,
    key       TEXT NOT NULL,
    entity_id INTEGER NOT NULL,
    since     INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS relation (
    id         INTEGER PRIMARY KEY,
    type       INTEGER NOT NULL,
    src        INTEGER NOT NULL,
    dst        INTEGER NOT NULL,
    status     INTEGER NOT NULL,
    grp        TEXT,
    attributes TEXT NOT NULL,
    provenance TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS assertion (
    assertor INTEGER NOT NULL,
    item     INTEGER NOT NULL,
    last_run INTEGER NOT NULL,
    missed   INTEGER NOT NULL,
    PRIMARY KEY (assertor, item)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run (
    seq      INTEGER PRIMARY KEY,
    run_id   TEXT NOT NULL UNIQUE,
    assertor INTEGER NOT NULL REFERENCES assertor(id),
    state    TEXT NOT NULL,
    started  INTEGER NOT NULL,
    finished INTEGER,
    batches  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    item      INTEGER NOT NULL,
    op        TEXT NOT NULL,
    source_id INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    run_seq   INTEGER,
    changes   TEXT
);
CREATE INDEX IF NOT EXISTS history_item ON history (item, seq);
CREATE INDEX IF NOT EXISTS history_at ON history (at);
CREATE TABLE IF NOT EXISTS status_log (
    seq  INTEGER PRIMARY KEY,
    at   INTEGER NOT NULL,
    item INTEGER NOT NULL,
    old  INTEGER NOT NULL,
    new  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS group_log (
    seq      INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    relation INTEGER NOT NULL,
    old      TEXT
);
CREATE TABLE IF NOT EXISTS identity_conflict (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    kind      INTEGER NOT NULL,
    id_type   TEXT NOT NULL,
    value     TEXT NOT NULL,
    entity    INTEGER NOT NULL,
    holder    INTEGER NOT NULL,
    item_key  TEXT NOT NULL,
    source_id INTEGER NOT NULL,
    run_seq   INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS identity_conflict_clash
    ON identity_conflict (kind, id_type, value, entity, holder);
CREATE INDEX IF NOT EXISTS identity_conflict_entity ON identity_conflict (entity);
CREATE INDEX IF NOT EXISTS identity_conflict_holder ON identity_conflict (holder);
CREATE TABLE IF NOT EXISTS identity_conflict_closure (
    seq    INTEGER PRIMARY KEY REFERENCES identity_conflict(seq),
    state  TEXT NOT NULL,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook (
    id           TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    filter       TEXT NOT NULL,
    description  TEXT NOT NULL,
    secret       TEXT NOT NULL,
    state        TEXT NOT NULL,
    cursor       INTEGER NOT NULL,
    batch_end    INTEGER,
    attempts     INTEGER NOT NULL,
    next_attempt INTEGER,
    last_error   TEXT NOT NULL,
    created      INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  INTEGER,
    deliveries   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_delivery (
    webhook     TEXT NOT NULL,
    number      INTEGER NOT NULL,
    message_id  TEXT NOT NULL,
    first_seq   INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL,
    events      INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    manual      INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    duration    REAL NOT NULL,
    status_code INTEGER,
    error       TEXT NOT NULL,
    body        TEXT NOT NULL,
    ok          INTEGER NOT NULL,
    PRIMARY KEY (webhook, number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commit_log (
    at        INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL,
    run_seq   INTEGER,
    entities  INTEGER NOT NULL,
    relations INTEGER NOT NULL
);
"""


def encode(item: ItemKind, item_id: int) -> int:
    """Return the one-integer form of an entity or relation id."""
    return item_id * 2 + (1 if item is ItemKind.RELATION else 0)


def decode(code: int) -> tuple[ItemKind, int]:
    """Return (item kind, id) of an encoded item."""
    return (ItemKind.RELATION if code & 1 else ItemKind.ENTITY), code >> 1
