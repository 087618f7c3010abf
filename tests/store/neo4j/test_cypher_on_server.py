"""Every generated statement is planned by the real Neo4j 5 server.

``EXPLAIN`` runs each distinct statement text the golden scenario sends, and
each text that varies with a kind or a relation type, for every kind and
type, against the test server, with the statement's own parameters: Neo4j
parses, checks and plans it without running it. (This replaced a lint through
the ``@neo4j-cypher/language-support`` npm package once a real server ran in
every test run.) Plans that must use a unique index are pinned: a ``MERGE`` on
a young database otherwise plans on whatever index it finds (ingest became
quadratic through the ``Assertion(source, scope)`` index before
``assertion_claim`` existed).
"""

from __future__ import annotations

from typing import Any

import pytest

from graphsvc.config import Settings
from graphsvc.model.vocabulary import VOCABULARY, EntityKind, RelationType
from graphsvc.store.neo4j import cypher as q
from tests.store.neo4j.scenario import record, statements

pytestmark = pytest.mark.neo4j


def _vocabulary_variants() -> list[q.Statement]:
    """Statements whose text varies with a kind or a type, for every kind and type."""
    row = {"id": 1, "src": 1, "dst": 2, "props": {"status": 0}}
    out = [q.create_entities(k, [{"id": 1, "props": {"key": "k"}}]) for k in EntityKind]
    out += [q.create_relations(t, [row]) for t in RelationType]
    out += [q.count_entities(q.EntityFilter(kind=k)) for k in EntityKind]
    for outgoing in (True, False):
        out += [q.expand_level([1], RelationType, outgoing=outgoing, max_status=1, as_of=None)]
    out += [q.group_members([1], VOCABULARY.redundancy_types)]
    out += [q.attribute_column([1], a) for a in VOCABULARY.indexed_attributes]
    out += [q.expand_level([1], RelationType, outgoing=True, max_status=1, as_of=5)]
    # migration and check statements (not in the recorded scenario)
    out += [q.normalise_keys(label) for label in (q.ENTITY, q.ALIAS)]
    out += [q.DROP_IDENTIFIERS, q.identifier_sources(0, 10), q.set_schema_version("2")]
    out += [q.set_entity_identifiers([{"id": 1, "identifiers": "{}"}])]
    out += [q.without_creation(relations, 10) for relations in (False, True)]
    out += [q.shared_identifiers(["serial"], 10), q.conflicts_page(0, 10)]
    # webhooks (run for real by tests/contract/test_webhooks.py; planned here too)
    wh = "wh_" + "0" * 24
    out += [q.create_webhook({"id": wh}), q.get_webhook(wh), q.list_webhooks()]
    out += [q.set_webhook(wh, {"state": "active"}, cursor=1, active=True), q.delete_webhook(wh)]
    out += [q.lease_webhook(wh, "o", 1, 2), q.release_webhook(wh, "o")]
    out += [q.record_delivery(wh, {"ok": True}, 5), q.deliveries_page(wh, 9, 5)]
    out += [q.get_delivery(wh, 1)]
    return out


def _explain(driver: Any, settings: Settings, st: q.Statement) -> str:
    with driver.session(database=settings.neo4j_database) as session:
        result = session.run("EXPLAIN " + st.text, dict(st.params))
        plan = result.consume().plan
    assert plan is not None
    text: str = plan["args"]["string-representation"]
    return text


async def test_every_statement_is_planned_by_neo4j(empty_neo4j: Settings, neo4j_admin: Any) -> None:
    # the store creates its constraints and indexes on open: plan against them
    from graphsvc.store.factory import store_from_settings

    async with store_from_settings(empty_neo4j):
        pass
    unique: dict[str, q.Statement] = {}
    for st in [*statements(await record()), *_vocabulary_variants()]:
        if st.op == "schema":
            continue  # EXPLAIN does not take schema commands; opening the store ran them
        unique.setdefault(st.text, st)
    failures = {}
    for st in unique.values():
        try:
            _explain(neo4j_admin, empty_neo4j, st)
        except Exception as exc:  # collect every refusal, not only the first
            failures[st.text] = str(exc)
    assert failures == {}
    assert len(unique) > 80


@pytest.mark.parametrize(
    ("statement", "index"),
    [
        (
            q.assert_items([1, 2], "src", "scope", 1),
            "UNIQUE a:Assertion(source, scope, item)",
        ),
        (q.set_aliases([{"kind": 1, "key": "k", "entity": 1}], 1), "UNIQUE a:Alias(kind, key)"),
        (
            q.set_identifiers([{"kind": 1, "type": "serial", "value": "v", "entity": 1}]),
            "UNIQUE anon_0:Identifier(kind, type, value, entity)",
        ),
        (q.entity_states([1, 2]), "UNIQUE e:Entity(id)"),
        (q.resolve_identifiers(1, [(0, "serial", "v")]), "i:Identifier(kind, type, value)"),
    ],
    ids=["assert_items", "set_aliases", "set_identifiers", "entity_states", "identifier_lookup"],
)
async def test_merges_and_lookups_plan_on_a_unique_index(
    empty_neo4j: Settings, neo4j_admin: Any, statement: q.Statement, index: str
) -> None:
    from graphsvc.store.factory import store_from_settings

    async with store_from_settings(empty_neo4j):
        pass
    plan = _explain(neo4j_admin, empty_neo4j, statement)
    assert index in plan, plan
    assert "NodeByLabelScan" not in plan and "AllNodesScan" not in plan, plan
