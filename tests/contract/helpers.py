"""Small builders that keep contract tests readable."""

from __future__ import annotations

from typing import Any

from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.base import ChangeSet, GraphStore, Merge, WriteTransaction


def ent(kind: str, key: str, **attributes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": kind, "key": key}
    if kind == "ConfigurationItem" and "ciClass" not in attributes:
        attributes["ciClass"] = "server"
    if attributes:
        item["attributes"] = attributes
    return item


def rel(
    type_: str, from_: tuple[str, str], to: tuple[str, str], **attributes: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": type_,
        "from": {"kind": from_[0], "key": from_[1]},
        "to": {"kind": to[0], "key": to[1]},
    }
    if attributes:
        item["attributes"] = attributes
    return item


def batch(
    source: str = "cmdb",
    entities: list[dict[str, Any]] | None = None,
    relations: list[dict[str, Any]] | None = None,
    **header: Any,
) -> IngestBatch:
    return IngestBatch.model_validate(
        {"source": source, "entities": entities or [], "relations": relations or [], **header}
    )


async def entity_id(store: GraphStore, kind: str, key: str) -> int:
    found = (await store.resolve([(EntityKind(kind), key)]))[0]
    assert found is not None, f"{kind}/{key} not found"
    return found


async def get(store: GraphStore, kind: str, key: str) -> Any:
    records = await store.entities([await entity_id(store, kind, key)])
    assert records[0] is not None
    return records[0]


async def merge(store: GraphStore, loser: int, survivor: int) -> None:
    """Merge ``loser`` into ``survivor`` through the port.

    Ingest no longer merges two stored entities (an identifier one holds and
    another's item carries is an identity conflict); stores keep merges made
    before, and the port still applies them.
    """

    async def work(tx: WriteTransaction) -> None:
        at = await tx.next_commit_time()
        await tx.apply(
            ChangeSet(
                at=at,
                source="test",
                scope="default",
                actor="test",
                run_id=None,
                run_seq=0,
                merges=[Merge(loser, survivor)],
            )
        )

    await store.transact(work)


SVC = "Service"
CI = "ConfigurationItem"
TEAM = "Team"
