"""Ownership, inheritance, escalation, orphans and ghost owners on hand-drawn graphs."""

from __future__ import annotations

import pytest

from graphsvc.analysis.ownership import ghost_owners, orphans, ownership
from graphsvc.errors import InvalidInput, NotFound
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.base import GraphStore
from tests.analysis.helpers import eid, ent, load, rel


async def hierarchy(engine: IngestEngine) -> None:
    """c-disk PART_OF c-shelf PART_OF c-array PART_OF c-rack; t-storage owns c-rack."""
    await load(
        engine,
        [
            ent("c-disk"),
            ent("c-shelf"),
            ent("c-array"),
            ent("c-rack"),
            ent("t-storage", email="storage@example.org"),
            ent("t-infra"),
            ent("t-noc"),
            ent("p-ann", name="Ann"),
            ent("p-bob", name="Bob"),
        ],
        [
            rel("c-disk", "PART_OF", "c-shelf"),
            rel("c-shelf", "PART_OF", "c-array"),
            rel("c-array", "PART_OF", "c-rack"),
            rel("t-storage", "OWNS", "c-rack"),
            rel("t-noc", "SUPPORTS", "c-shelf"),
            rel("t-storage", "PART_OF", "t-infra"),
            rel("p-bob", "MEMBER_OF", "t-storage"),
            rel("p-ann", "MEMBER_OF", "t-storage"),
        ],
    )


async def test_inherited_owner_three_levels_up_with_chain_and_escalation(
    store: GraphStore, engine: IngestEngine
) -> None:
    await hierarchy(engine)
    answer = await ownership(store, await eid(store, "c-disk"))
    assert answer.entity.key == "c-disk"
    [owner] = answer.owners
    assert owner.team.key == "t-storage" and owner.inherited
    assert [v.key for v in owner.via] == ["c-rack"]
    assert [[e.key for e in c] for c in owner.chains] == [
        ["c-disk", "c-shelf", "c-array", "c-rack"]
    ]
    [support] = answer.supporters
    assert (support.team.key, support.inherited, [v.key for v in support.via]) == (
        "t-noc",
        True,
        ["c-shelf"],
    )
    assert [e.key for e in answer.escalation] == ["p-ann", "p-bob", "t-infra"]


async def test_direct_owner_wins_over_inheritance(store: GraphStore, engine: IngestEngine) -> None:
    await hierarchy(engine)
    await load(engine, [ent("t-disks")], [rel("t-disks", "OWNS", "c-disk")])
    answer = await ownership(store, await eid(store, "c-disk"))
    assert [(o.team.key, o.inherited, [v.key for v in o.via]) for o in answer.owners] == [
        ("t-disks", False, ["c-disk"])
    ]
    assert answer.escalation == ()  # t-disks has no members and no parent team


async def test_several_owners_at_the_same_distance(store: GraphStore, engine: IngestEngine) -> None:
    await load(
        engine,
        [ent("c-vm"), ent("s-a"), ent("s-b"), ent("s-far"), ent("t-a"), ent("t-b"), ent("t-far")],
        [
            rel("c-vm", "PART_OF", "s-a"),
            rel("c-vm", "PART_OF", "s-b"),
            rel("s-a", "PART_OF", "s-far"),
            rel("t-a", "OWNS", "s-a"),
            rel("t-b", "OWNS", "s-b"),
            rel("t-far", "OWNS", "s-far"),
        ],
    )
    answer = await ownership(store, await eid(store, "c-vm"))
    assert [(o.team.key, [v.key for v in o.via]) for o in answer.owners] == [
        ("t-a", ["s-a"]),
        ("t-b", ["s-b"]),
    ]


async def test_part_of_cycle_does_not_loop(store: GraphStore, engine: IngestEngine) -> None:
    await load(
        engine,
        [ent("c-a"), ent("c-b")],
        [rel("c-a", "PART_OF", "c-b"), rel("c-b", "PART_OF", "c-a")],
    )
    answer = await ownership(store, await eid(store, "c-a"))
    assert answer.owners == () and answer.supporters == ()


async def test_unknown_entity(store: GraphStore) -> None:
    with pytest.raises(NotFound):
        await ownership(store, 12345)


async def test_orphans(store: GraphStore, engine: IngestEngine) -> None:
    await hierarchy(engine)
    await load(
        engine,
        [
            ent("c-loose"),
            ent("s-lonely"),
            ent("c-gone", status="retired"),
            ent("s-owned"),
            ent("t-x"),
        ],
        [rel("t-x", "OWNS", "s-owned")],
    )
    page = await orphans(store)
    assert [r.key for r in page.items] == ["c-loose", "s-lonely"]
    assert not page.has_next
    services = await orphans(store, EntityKind.SERVICE)
    assert [r.key for r in services.items] == ["s-lonely"]
    first = await orphans(store, first=1)
    assert [r.key for r in first.items] == ["c-loose"] and first.has_next
    rest = await orphans(store, first=5, after=first.end_cursor)
    assert [r.key for r in rest.items] == ["s-lonely"]


async def test_ghost_owners(store: GraphStore, engine: IngestEngine) -> None:
    await hierarchy(engine)
    await load(
        engine,
        [ent("t-empty"), ent("t-gone"), ent("t-idle"), ent("s-a"), ent("s-b"), ent("p-cy")],
        [
            rel("t-empty", "OWNS", "s-a"),
            rel("t-gone", "OWNS", "s-b"),
            rel("p-cy", "MEMBER_OF", "t-gone"),
            rel("p-cy", "MEMBER_OF", "t-idle"),  # has members but owns nothing: not a ghost
        ],
    )
    await load(engine, [ent("t-gone", status="retired")])
    page = await ghost_owners(store)
    ghosts = {(g.team.key, g.owns, g.no_members, g.inactive) for g in page.items}
    assert ghosts == {("t-empty", 1, True, False), ("t-gone", 1, False, True)}
    assert all(g.reason.startswith("owns 1 entity but") for g in page.items)


async def test_orphans_refuses_other_kinds(store: GraphStore) -> None:
    with pytest.raises(InvalidInput):
        await orphans(store, EntityKind.TEAM)
