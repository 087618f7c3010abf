"""One deterministic run of every port operation on the Neo4j store, over the statement model.

``record()`` returns the statements each operation sent, in order, grouped
under the operation's name. The golden test pins them; the lint test feeds
their texts to Neo4j's own Cypher front end. Every value the scenario sends
contains ``zq`` (keys, names, sources, scopes, attribute and identifier
values), so a value spliced into a query text would show.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.ingest.stewardship import IdentityStewardship
from graphsvc.model.batch import IngestBatch
from graphsvc.model.records import ConflictState, ItemKind
from graphsvc.model.vocabulary import VOCABULARY, Direction, EntityKind, RelationType, Status
from graphsvc.store.base import EntityQuery, ItemRef, TraversalSpec
from graphsvc.store.neo4j import store as store_module
from graphsvc.store.neo4j.cypher import Statement
from graphsvc.store.neo4j.store import Neo4jStore
from tests.store.neo4j.cypher_model import ModelGateway

SENTINEL = "zq"
SVC, CI, TEAM = "Service", "ConfigurationItem", "Team"


def _ent(kind: str, key: str, **attributes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": kind, "key": key, "name": f"{key} zq name"}
    if kind == CI:
        attributes.setdefault("ciClass", "zq-server")
    if attributes:
        item["attributes"] = attributes
    return item


def _rel(type_: str, a: tuple[str, str], b: tuple[str, str], **attributes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": type_,
        "from": {"kind": a[0], "key": a[1]},
        "to": {"kind": b[0], "key": b[1]},
    }
    if attributes:
        item["attributes"] = attributes
    return item


def _batch(source: str, **body: Any) -> IngestBatch:
    return IngestBatch.model_validate({"source": source, **body})


@contextmanager
def deterministic() -> Iterator[None]:
    """Fixed clock and run ids, so that parameters are the same on every run."""
    clock = itertools.count(1_700_000_000_000_000, 1_000_000)
    ids = itertools.count(1)
    real_now, real_uuid = store_module._now_micros, uuid.uuid4
    store_module._now_micros = lambda: next(clock)  # type: ignore[assignment]
    uuid.uuid4 = lambda: uuid.UUID(int=next(ids))  # type: ignore[assignment]
    try:
        yield
    finally:
        store_module._now_micros = real_now  # type: ignore[assignment]
        uuid.uuid4 = real_uuid  # type: ignore[assignment]


_RECORDED: list[tuple[str, list[Statement | str]]] = []


async def record() -> list[tuple[str, list[Statement | str]]]:
    """Return the scenario's recording (run once per test session)."""
    if not _RECORDED:
        _RECORDED.extend(await _record())
    return _RECORDED


async def _record() -> list[tuple[str, list[Statement | str]]]:
    """Run the scenario; return (operation, statements and COMMIT/ROLLBACK markers) pairs."""
    gateway = ModelGateway()
    store = Neo4jStore(gateway=gateway, database="zq-db")
    store._writer = "zq-writer"
    engine = IngestEngine(
        store, IngestPolicy(source_priorities={"zq-authority": 10}, retire_after_missing_runs=2)
    )
    out: list[tuple[str, list[Statement | str]]] = []

    async def step(name: str, call: Callable[[], Awaitable[object]]) -> Any:
        start = len(gateway.log)
        result = await call()
        out.append((name, list(gateway.log[start:])))
        return result

    with deterministic():
        await step("open", store.open)
        await step(
            "ingest: create entities, identifiers and relations",
            lambda: engine.ingest(
                _batch(
                    "zq-cmdb",
                    scope="zq-scope",
                    complete=True,
                    entities=[
                        _ent(SVC, "zq-shop", tier=1, capability="zq-billing"),
                        _ent(SVC, "zq-pay"),
                        {**_ent(CI, "zq-db1"), "identifiers": {"serial": "ZQ-S1"}},
                        _ent(CI, "zq-db2"),
                        _ent(TEAM, "zq-team"),
                    ],
                    relations=[
                        _rel(
                            "DEPENDS_ON", (SVC, "zq-shop"), (CI, "zq-db1"), redundancyGroup="zq-g"
                        ),
                        _rel(
                            "DEPENDS_ON", (SVC, "zq-shop"), (CI, "zq-db2"), redundancyGroup="zq-g"
                        ),
                        _rel("RUNS_ON", (SVC, "zq-pay"), (CI, "zq-db1")),
                        _rel("OWNS", (TEAM, "zq-team"), (SVC, "zq-shop")),
                    ],
                ),
                actor="zq-actor",
            ),
        )
        then = (await store.stats()).last_commit
        assert then is not None
        await step(
            "ingest: identify by identifier, merge two entities, update attributes",
            lambda: engine.ingest(
                _batch(
                    "zq-nmap",
                    entities=[
                        {
                            **_ent(CI, "zq-db2", load=3),
                            "identifiers": {"serial": "ZQ-S1"},
                        },
                        _ent(SVC, "zq-shop", tier=2, capability="zq-billing"),
                    ],
                    relations=[_rel("RUNS_ON", (SVC, "zq-pay"), (CI, "zq-db2"), confidence=0.5)],
                )
            ),
        )
        await step(
            "ingest: new key of a known entity becomes an alias; identifiers and group change",
            lambda: engine.ingest(
                _batch(
                    "zq-authority",
                    entities=[
                        {**_ent(CI, "zq-alias"), "identifiers": {"serial": "ZQ-S1"}},
                        {**_ent(CI, "zq-db1"), "identifiers": {"fqdn": "zq.example.org"}},
                        _ent(SVC, "zq-shop", tier=2, capability="zq-billing"),
                    ],
                    relations=[
                        _rel("DEPENDS_ON", (SVC, "zq-shop"), (CI, "zq-db1"), redundancyGroup="zq-h")
                    ],
                )
            ),
        )

        async def lookups() -> None:
            async with store.write() as tx:
                shop_id = (await tx.lookup_keys(EntityKind.SERVICE, ["zq-shop"]))["zq-shop"]
                await tx.assertion_refs(ItemRef(ItemKind.ENTITY, shop_id))
                await tx.load_relations([1, 999])
                await tx.relations_touching([shop_id])
                await tx.lookup_identifiers(
                    EntityKind.CONFIGURATION_ITEM, [("fqdn", "zq.example.org")]
                )

        await step("write transaction lookups only (rolls back)", lookups)
        run = await step("start run", lambda: engine.start_run("zq-cmdb", "zq-scope"))
        await step(
            "ingest in a run",
            lambda: engine.ingest(
                _batch(
                    "zq-cmdb",
                    scope="zq-scope",
                    run_id=run.run_id,
                    entities=[_ent(SVC, "zq-shop", tier=2), _ent(SVC, "zq-pay")],
                )
            ),
        )
        await step(
            "finish run (stale, withdrawn)", lambda: engine.finish_run(run.run_id, complete=True)
        )
        await step(
            "ingest: retire",
            lambda: engine.ingest(
                _batch("zq-cmdb", entities=[{**_ent(SVC, "zq-pay"), "status": "retired"}])
            ),
        )
        await step(
            "dry run (rolls back)",
            lambda: engine.ingest(_batch("zq-cmdb", entities=[_ent(SVC, "zq-new")], dryRun=True)),
        )
        await step(
            "ingest: a weak value another entity holds (identity conflict)",
            lambda: engine.ingest(
                _batch(
                    "zq-nmap",
                    entities=[
                        {
                            **_ent(CI, "zq-db3"),
                            "identifiers": {"serial": "ZQ-S3", "fqdn": "zq.example.org"},
                        }
                    ],
                )
            ),
        )
        open_page = await step(
            "identity conflicts, open ones",
            lambda: store.identity_conflicts(first=10, state=ConflictState.OPEN),
        )
        steward = IdentityStewardship(store, engine.policy)
        await step(
            "dismiss an identity conflict",
            lambda: steward.dismiss_conflict(open_page.items[0].seq, "zq-reason", actor="zq-admin"),
        )
        db1_now, db3 = await store.resolve(
            [(EntityKind.CONFIGURATION_ITEM, "zq-db1"), (EntityKind.CONFIGURATION_ITEM, "zq-db3")]
        )
        assert db1_now is not None and db3 is not None
        await step(
            "merge two entities (admin)",
            lambda: steward.merge_entities(db1_now, db3, actor="zq-admin"),
        )
        shop = (await store.resolve([(EntityKind.SERVICE, "zq-shop")]))[0]
        db1 = (await store.resolve([(EntityKind.CONFIGURATION_ITEM, "zq-db1")]))[0]
        assert shop is not None and db1 is not None
        gateway.log.clear()
        refs = [(EntityKind.SERVICE, "zq-shop"), (EntityKind.CONFIGURATION_ITEM, "zq-db2")]
        await step("resolve", lambda: store.resolve(refs))
        await step("resolve as of", lambda: store.resolve(refs, as_of=then))
        await step(
            "resolve identifiers",
            lambda: store.resolve_identifiers(EntityKind.CONFIGURATION_ITEM, [("serial", "ZQ-S1")]),
        )
        await step("entities", lambda: store.entities([shop, db1, 999]))
        await step("entities as of", lambda: store.entities([shop, db1], as_of=then))
        await step(
            "find entities (Cypher filters)",
            lambda: store.find_entities(
                EntityQuery(
                    kind=EntityKind.SERVICE,
                    statuses=frozenset({Status.ACTIVE, Status.STALE}),
                    text="ZQ-SH",
                    attributes={"tier": 2},
                ),
                first=10,
                after=0,
            ),
        )
        await step(
            "find entities (attribute filter evaluated in graphsvc)",
            lambda: store.find_entities(EntityQuery(attributes={"load": 3}), first=10),
        )
        await step(
            "relations out, typed",
            lambda: store.relations(
                shop, Direction.OUT, types=frozenset({RelationType.DEPENDS_ON}), first=10
            ),
        )
        await step(
            "relations in, as of",
            lambda: store.relations(db1, Direction.IN, first=10, as_of=then),
        )
        await step("relations by id", lambda: store.relations_by_id([1, 2, 999]))
        await step("relations by id as of", lambda: store.relations_by_id([1], as_of=then))
        await step(
            "history", lambda: store.history(ItemRef(ItemKind.ENTITY, db1), first=2, after=0)
        )
        await step("runs", lambda: store.runs(first=5))
        await step("runs of a source", lambda: store.runs(source="zq-cmdb", first=5))
        await step(
            "traverse with edges",
            lambda: store.traverse(
                TraversalSpec([db1], VOCABULARY.impact_steps, max_depth=3, collect_edges=True)
            ),
        )
        await step(
            "traverse as of, active only",
            lambda: store.traverse(
                TraversalSpec(
                    [db1],
                    VOCABULARY.impact_steps,
                    as_of=then + timedelta(seconds=0),
                    include_stale=False,
                )
            ),
        )
        await step("neighbours", lambda: store.neighbours([db1, shop], VOCABULARY.dependency_steps))
        await step("attribute column", lambda: store.attribute_column([shop, db1], "tier"))
        await step("stats", store.stats)
        await step("ping", store.ping)
        await step("close", store.close)
    return out


def render(recorded: list[tuple[str, list[Statement | str]]]) -> str:
    """Return the recording as the golden text."""
    import json

    lines: list[str] = []
    for name, entries in recorded:
        lines.append(f"=== {name}")
        for entry in entries:
            if isinstance(entry, str):
                lines.append(f"--- {entry}")
                continue
            lines.append(f"--- {entry.op}")
            lines.append(entry.text)
            lines.append("params: " + json.dumps(entry.params, sort_keys=True))
        lines.append("")
    return "\n".join(lines)


def statements(recorded: list[tuple[str, list[Statement | str]]]) -> list[Statement]:
    """Every statement of the recording, in order."""
    return [e for _, entries in recorded for e in entries if isinstance(e, Statement)]
