"""The Cypher the Neo4j store sends, pinned: golden texts and parameters, values only as
parameters, labels and types only from the vocabulary, and the committed schema file."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from graphsvc.model.vocabulary import VOCABULARY, EntityKind, RelationType
from graphsvc.store.neo4j import cypher as q
from tests.store.neo4j.scenario import SENTINEL, record, render, statements

HERE = Path(__file__).parent
GOLDEN = HERE / "golden" / "statements.txt"
ROOT = HERE.parents[2]
STORE_LABELS = {
    q.META,
    q.ENTITY,
    q.ALIAS,
    q.IDENTIFIER,
    q.RELATION_REF,
    q.ASSERTION,
    q.RUN,
    q.HISTORY,
    q.IDENTITY_CONFLICT,
    q.WEBHOOK,
    q.WEBHOOK_DELIVERY,
}
ALLOWED_NAMES = STORE_LABELS | {k.value for k in EntityKind} | {t.value for t in RelationType}


async def test_every_statement_matches_the_golden_file() -> None:
    """Each port operation sends exactly the pinned statements with the pinned parameters.

    After a deliberate change, regenerate with ``GRAPHSVC_UPDATE_GOLDEN=1`` and
    review the diff of ``golden/statements.txt``.
    """
    text = render(await record())
    if os.environ.get("GRAPHSVC_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "generated Cypher changed: see GRAPHSVC_UPDATE_GOLDEN"


async def test_values_travel_only_as_parameters() -> None:
    sent = statements(await record())
    assert len(sent) > 100
    for st in sent:
        assert SENTINEL not in st.text.lower(), st.text
        assert "'" not in st.text and '"' not in st.text, f"string literal in {st.text}"
    # the scenario's values did reach Neo4j, as parameters
    assert any(SENTINEL in repr(st.params) for st in sent)


async def test_labels_and_types_come_from_the_closed_sets() -> None:
    for st in statements(await record()):
        names: set[str] = set()
        for group in re.findall(r"\(\w*((?::\w+)+)", st.text):
            names.update(group.strip(":").split(":"))
        for group in re.findall(r"\[\w*:([\w|]+)", st.text):
            names.update(group.split("|"))
        names.update(re.findall(r"SET \w+:(\w+)", st.text))
        assert names <= ALLOWED_NAMES, (names - ALLOWED_NAMES, st.text)


def test_the_committed_schema_file_is_what_the_store_creates() -> None:
    assert (ROOT / "schema" / "neo4j.cypher").read_text() == q.schema_script(), (
        "regenerate: graphsvc export-schema"
    )


def test_schema_is_derived_from_the_vocabulary() -> None:
    schema = q.schema_statements()
    for kind in EntityKind:
        assert (
            f"CREATE CONSTRAINT key_{kind.value} IF NOT EXISTS "
            f"FOR (e:{kind.value}) REQUIRE e.key IS UNIQUE" in schema
        )
    for attribute in VOCABULARY.indexed_attributes:
        assert (
            f"CREATE INDEX entity_attr_{attribute} IF NOT EXISTS "
            f"FOR (e:Entity) ON (e.attr_{attribute})" in schema
        )
    # every statement can run again: creations if absent, the migration's drops if present
    assert all(" IF NOT EXISTS " in s or s.endswith(" IF EXISTS") for s in schema)
    created = [q.schema_name(s) for s in schema if s.startswith("CREATE")]
    dropped = {q.schema_name(s) for s in schema if s.startswith("DROP")}
    assert len(set(created)) == len(created), "index and constraint names repeat"
    assert not dropped & set(created), "a name is dropped and created again"


def test_only_the_schema_statements_that_change_something_are_sent() -> None:
    schema = q.schema_statements()
    created = {q.schema_name(s) for s in schema if s.startswith("CREATE")}
    dropped = {q.schema_name(s) for s in schema if s.startswith("DROP")}
    # an empty database: every creation, no drop
    assert q.missing_schema(set()) == tuple(s for s in schema if s.startswith("CREATE"))
    # the schema in place (and names graphsvc does not know): nothing to send
    assert q.missing_schema(created | {"index_343aff4e"}) == ()
    # a version 1 database: the old indexes are dropped and the new ones created
    old = (created - {"identifier_holder", "alias_key"}) | dropped
    assert set(q.missing_schema(old)) == {
        *(s for s in schema if s.startswith("DROP")),
        *(s for s in schema if q.schema_name(s) in {"identifier_holder", "alias_key"}),
    }
    # in the order of the schema: drops before the creations that replace them
    assert list(q.missing_schema(old)) == [s for s in schema if s in q.missing_schema(old)]


def test_level_expansion_text() -> None:
    now = q.expand_level(
        [7, 8],
        [RelationType.RUNS_ON, RelationType.DEPENDS_ON],
        outgoing=False,
        max_status=1,
        as_of=None,
    )
    assert now.text == (
        "UNWIND $ids AS uid\n"
        "MATCH (u:Entity {id: uid})<-[r:DEPENDS_ON|RUNS_ON]-(v:Entity)\n"
        "WHERE r.status <= $max_status AND v.status <= $max_status\n"
        "WITH uid, r.id AS rid, type(r) AS type, r.status AS r_status, r.grp AS grp, "
        "v.id AS vid, v.kind AS v_kind, v.status AS v_status\n"
        "RETURN collect([uid, rid, type, r_status, grp, vid, v_kind, v_status]) AS rows"
    )
    assert now.columns == ("uid", "rid", "type", "r_status", "grp", "vid", "v_kind", "v_status")
    assert now.params == {"ids": [7, 8], "max_status": 1}
    past = q.expand_level([7], [RelationType.RUNS_ON], outgoing=True, max_status=0, as_of=123)
    assert "MATCH (u:Entity {id: uid})-[r:RUNS_ON]->(v:Entity)\n" in past.text
    assert "WHERE r.first_seen <= $as_of AND v.first_seen <= $as_of\n" in past.text
    assert past.params == {"ids": [7], "as_of": 123}
    # a walk of the past also reads the creation times and the status and group logs
    assert past.columns[-8:] == (
        "r_first",
        "r_s_at",
        "r_s_old",
        "g_at",
        "g_old",
        "v_first",
        "v_s_at",
        "v_s_old",
    )


def test_a_packed_statement_keeps_its_rows_order_and_names() -> None:
    st = q.Statement(
        "MATCH (h:History)\nRETURN h.item AS item, coalesce(h.op, 'x') AS op, h.seq AS seq\n"
        "ORDER BY h.seq DESC LIMIT $n",
        {"n": 3},
        op="t",
    )
    p = q.packed(st)
    assert p.text == (
        "MATCH (h:History)\nWITH h.item AS item, coalesce(h.op, 'x') AS op, h.seq AS seq\n"
        "ORDER BY h.seq DESC LIMIT $n\nRETURN collect([item, op, seq]) AS rows"
    )
    assert p.columns == ("item", "op", "seq")
    assert p.params == {"n": 3}
    assert q.packed(q.Statement("MATCH (a) RETURN DISTINCT a.x AS x")).text == (
        "MATCH (a) WITH DISTINCT a.x AS x\nRETURN collect([x]) AS rows"
    )
    with pytest.raises(ValueError, match="no RETURN"):
        q.packed(q.Statement("MATCH (a) SET a.x = 1", op="set"))
    with pytest.raises(ValueError, match="has no name"):
        q.packed(q.Statement("MATCH (a) RETURN a.x + 1", op="sum"))


def test_the_write_lock_statement() -> None:
    st = q.lock_meta("host:1")
    assert st.text.startswith("MATCH (m:GraphsvcStore {name: $name})\nSET m.writer = $writer\n")
    assert st.params == {"name": "graphsvc", "writer": "host:1"}


def test_names_that_are_not_identifiers_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot be put into a Cypher text"):
        q.name("Service) DETACH DELETE (n")
    with pytest.raises(ValueError):
        q.attr_property("tier`")


def test_webhook_statements_keep_the_same_rules() -> None:
    """Values as parameters, labels from the closed set (they are not in the recorded scenario)."""
    wh = "wh_" + "0" * 24
    built = [
        q.create_webhook({"id": wh}),
        q.get_webhook(wh),
        q.list_webhooks(),
        q.set_webhook(wh, {"state": "disabled"}, cursor=None),
        q.set_webhook(wh, {"cursor": 2}, cursor=1, active=True),
        q.delete_webhook(wh),
        q.lease_webhook(wh, "o", 1, 2),
        q.release_webhook(wh, "o"),
        q.record_delivery(wh, {"ok": True}, 5),
        q.deliveries_page(wh, 9, 5),
        q.get_delivery(wh, 1),
    ]
    for st in built:
        assert "'" not in st.text and '"' not in st.text, st.text
        assert wh not in st.text
        labels: set[str] = set()
        for group in re.findall(r"\(\w*((?::\w+)+)", st.text):
            labels.update(group.strip(":").split(":"))
        assert labels <= ALLOWED_NAMES, st.text
