"""``find_entities`` with a text, on every store backend (issue 22, "fast on the big graph").

A text matches entities whose key or name contains it, case-insensitively, taken
literally: the embedded store looks texts of three characters or more up in a
trigram index (SQLite FTS5) and Neo4j in its text indexes, and neither may read
the text as query syntax. Counting stops above ``ENTITY_COUNT_BOUND`` matches
(``total_is_lower_bound``); paging still reaches every match.
"""

from __future__ import annotations

import pytest

from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.vocabulary import EntityKind, Status
from graphsvc.store.base import EntityQuery, GraphStore
from tests.contract.helpers import CI, SVC, TEAM, batch, ent, entity_id, merge


def named(kind: str, key: str, name: str, **extra: object) -> dict[str, object]:
    return {**ent(kind, key), "name": name, **extra}


GRAPH = [
    named(SVC, "svc-billing-eu", "Billing Gateway"),
    named(SVC, "svc-ledger", "Ledger"),
    named(CI, "ci-db-01", "Ledger DB primary"),
    named(TEAM, "team-ops", "Operations"),
    named(SVC, "svc-old", "Retired thing", status="retired"),
    named(SVC, "pct-100%-done", "Percent"),
    named(SVC, "under_score", 'He said "quoted" it\'s'),
    named(SVC, "svc-or", "alpha OR beta"),
    named(SVC, "svc-near", "NEAR(a b) and star*"),
    named(SVC, "svc-unicode", "Ünïcode Straße"),
]


@pytest.fixture
async def loaded(store: GraphStore, engine: IngestEngine) -> GraphStore:
    await engine.ingest(batch("cmdb", entities=GRAPH))
    return store


async def keys(store: GraphStore, text: str, **query: object) -> list[str]:
    """Every matching key, in id order, read page by page (two per page)."""
    out: list[str] = []
    after = None
    while True:
        page = await store.find_entities(
            EntityQuery(text=text, **query),  # type: ignore[arg-type]
            first=2,
            after=after,
        )
        out += [r.key for r in page.items]
        if not page.has_next:
            break
        after = page.end_cursor
    whole = await store.find_entities(EntityQuery(text=text, **query), first=100)  # type: ignore[arg-type]
    assert [r.key for r in whole.items] == out, "paging with after reaches the same entities"
    assert whole.total == len(out) and not whole.total_is_lower_bound
    return sorted(out)


SUBSTRINGS = [
    ("svc-bill", ["svc-billing-eu"]),  # start of a key
    ("SVC-BILL", ["svc-billing-eu"]),  # any case
    ("ling-e", ["svc-billing-eu"]),  # middle of a key
    ("-eu", ["svc-billing-eu"]),  # end of a key, three characters
    ("GATEWAY", ["svc-billing-eu"]),  # end of a name
    ("ing gat", ["svc-billing-eu"]),  # middle of a name, with its space
    ("billing gateway", ["svc-billing-eu"]),  # a whole name
    ("ledger", ["ci-db-01", "svc-ledger"]),  # a key and two names
    ("ünï", ["svc-unicode"]),  # letters beyond ASCII, any case
    ("ÜNÏCODE", ["svc-unicode"]),
    ("straße", ["svc-unicode"]),
    ("ledgers", []),
    ("svc-billing-eu-", []),
]


async def test_a_text_matches_a_substring_of_the_key_or_the_name(loaded: GraphStore) -> None:
    for text, expected in SUBSTRINGS:
        assert await keys(loaded, text) == expected, text


SHORT_TEXTS = [
    ("eu", ["svc-billing-eu"]),
    ("EU", ["svc-billing-eu"]),
    ("%", ["pct-100%-done"]),
    ("_", ["under_score"]),
    ('"', ["under_score"]),
    ("*", ["svc-near"]),
    ("'", ["under_score"]),
    ("(", ["svc-near"]),
    ("zz", []),
]


async def test_a_text_of_one_or_two_characters_matches_too(loaded: GraphStore) -> None:
    for text, expected in SHORT_TEXTS:
        assert await keys(loaded, text) == expected, text


LITERAL_TEXTS = [
    ("100%", ["pct-100%-done"]),
    ("0%-d", ["pct-100%-done"]),
    ("1%0", []),  # % is no wildcard
    ("der_s", ["under_score"]),
    ("der-s", []),
    ("der_", ["under_score"]),
    ("u_d", []),  # _ is no wildcard
    ('"quoted"', ["under_score"]),
    ('d "quo', ["under_score"]),
    ("it's", ["under_score"]),
    ("alpha OR beta", ["svc-or"]),
    ("alpha OR gamma", []),  # no OR operator
    ("alpha OR", ["svc-or"]),
    ("OR beta", ["svc-or"]),
    ("NEAR(a b)", ["svc-near"]),
    ("NEAR(a", ["svc-near"]),
    ("NEAR(alpha beta)", []),  # no NEAR group
    ("star*", ["svc-near"]),
    ("sta*", []),  # no prefix query
    ("svc*", []),
    ('svc" OR "ledger', []),  # a text cannot close the quote it is put in
    ('""', []),
    ('"""', []),
    ("key:svc", []),  # no column filter
    ("name:ledger", []),
    ("-svc", []),
    ("^svc", []),
    ("{key}", []),
    ("a AND b", []),
    ("NOT ledger", []),
    ("()", []),
    ("\\%", []),
]


async def test_a_text_is_taken_literally_never_as_query_syntax(loaded: GraphStore) -> None:
    for text, expected in LITERAL_TEXTS:
        assert await keys(loaded, text) == expected, text


async def test_kind_and_status_filters_combine_with_the_text(loaded: GraphStore) -> None:
    assert await keys(loaded, "ledger", kind=EntityKind.SERVICE) == ["svc-ledger"]
    assert await keys(loaded, "ledger", kind=EntityKind.CONFIGURATION_ITEM) == ["ci-db-01"]
    assert await keys(loaded, "ledger", kind=EntityKind.TEAM) == []
    assert await keys(loaded, "svc-", kind=EntityKind.SERVICE) == [
        "svc-billing-eu",
        "svc-ledger",
        "svc-near",
        "svc-old",
        "svc-or",
        "svc-unicode",
    ]
    retired = frozenset({Status.RETIRED})
    assert await keys(loaded, "svc-", statuses=retired) == ["svc-old"]
    assert await keys(loaded, "retired", statuses=retired) == ["svc-old"]
    assert await keys(loaded, "retired", statuses=frozenset({Status.ACTIVE})) == []
    assert await keys(loaded, "sv", statuses=retired, kind=EntityKind.SERVICE) == ["svc-old"]
    assert await keys(loaded, "o", kind=EntityKind.TEAM) == ["team-ops"]
    assert await keys(loaded, "svc-", attributes={"tier": 1}) == []


async def test_a_name_changed_by_a_later_batch_is_found_by_its_new_name_only(
    loaded: GraphStore, engine: IngestEngine
) -> None:
    await engine.ingest(batch("cmdb", entities=[named(SVC, "svc-ledger", "General journal")]))
    assert await keys(loaded, "ledger") == ["ci-db-01", "svc-ledger"], "the key still matches"
    assert await keys(loaded, "ledger", kind=EntityKind.SERVICE) == ["svc-ledger"]
    assert await keys(loaded, "general journal") == ["svc-ledger"]
    assert await keys(loaded, "Ledger DB") == ["ci-db-01"]
    await engine.ingest(batch("cmdb", entities=[named(CI, "ci-db-01", "Journal store")]))
    assert await keys(loaded, "ledger db") == []
    assert await keys(loaded, "journal") == ["ci-db-01", "svc-ledger"]
    # an attribute update that leaves the name alone keeps it findable
    await engine.ingest(batch("cmdb", entities=[{**ent(CI, "ci-db-01", environment="prod")}]))
    assert await keys(loaded, "journal store") == ["ci-db-01"]


async def test_a_merged_entity_is_no_longer_found_its_survivor_is(loaded: GraphStore) -> None:
    loser = await entity_id(loaded, SVC, "svc-or")
    await merge(loaded, loser, await entity_id(loaded, SVC, "svc-near"))
    assert await keys(loaded, "alpha") == []
    assert await keys(loaded, "svc-or") == []
    assert await keys(loaded, "near(") == ["svc-near"]
    assert await keys(loaded, "svc-n") == ["svc-near"]


@pytest.fixture
def small_bound(monkeypatch: pytest.MonkeyPatch) -> int:
    """Make the stores stop counting above 3 matches (the real bound is 10,000)."""
    import graphsvc.store.embedded.store as embedded
    import graphsvc.store.neo4j.store as neo4j

    monkeypatch.setattr(embedded, "ENTITY_COUNT_BOUND", 3)
    monkeypatch.setattr(neo4j, "ENTITY_COUNT_BOUND", 3)
    return 3


async def test_the_total_is_bounded_and_says_so_paging_is_not(
    loaded: GraphStore, small_bound: int
) -> None:
    for text in ["svc-", "SV", "s"]:  # the index, and the scan of short texts
        page = await loaded.find_entities(EntityQuery(text=text), first=2)
        assert (page.total, page.total_is_lower_bound) == (small_bound, True), text
        seen = [r.key for r in page.items]
        while page.has_next:
            page = await loaded.find_entities(
                EntityQuery(text=text), first=2, after=page.end_cursor
            )
            assert page.total_is_lower_bound
            seen += [r.key for r in page.items]
        assert len(seen) > small_bound and len(set(seen)) == len(seen)
        assert all(text.lower() in k for k in seen if text != "s")
    exact = await loaded.find_entities(EntityQuery(text="ledger"), first=1)
    assert (exact.total, exact.total_is_lower_bound, exact.has_next) == (2, False, True)
    at_bound = await loaded.find_entities(EntityQuery(text="svc-", kind=EntityKind.TEAM), first=1)
    assert (at_bound.total, at_bound.total_is_lower_bound) == (0, False)
    three = await loaded.find_entities(
        EntityQuery(text="e", kind=EntityKind.SERVICE, statuses=frozenset({Status.RETIRED})),
        first=5,
    )
    assert (three.total, three.total_is_lower_bound) == (1, False)
    everything = await loaded.find_entities(EntityQuery(), first=0)
    assert (everything.total, everything.total_is_lower_bound) == (len(GRAPH), False), (
        "without a text or attribute condition the count is exact"
    )
