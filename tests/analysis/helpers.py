"""Builders for the hand-drawn graphs of the analysis tests."""

from __future__ import annotations

from typing import Any

from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.base import GraphStore

SVC = "Service"
CI = "ConfigurationItem"
TEAM = "Team"
PERSON = "Person"
CHANGE = "Change"
PROJECT = "Project"
WINDOW = "Window"
TASK = "Task"

_PREFIX = {
    "s": SVC,
    "c": CI,
    "t": TEAM,
    "p": PERSON,
    "chg": CHANGE,
    "prj": PROJECT,
    "w": WINDOW,
    "tsk": TASK,
}


def kind_of(key: str) -> str:
    """Kind from the key's prefix: s-, c-, t-, p-, chg-, prj-, w-, tsk-."""
    return _PREFIX[key.split("-", 1)[0]]


def ent(key: str, status: str | None = None, **attributes: Any) -> dict[str, Any]:
    kind = kind_of(key)
    item: dict[str, Any] = {"kind": kind, "key": key}
    if kind == CI and "ciClass" not in attributes:
        attributes["ciClass"] = "server"
    if attributes:
        item["attributes"] = attributes
    if status:
        item["status"] = status
    return item


def rel(
    from_: str, type_: str, to: str, status: str | None = None, **attributes: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": type_,
        "from": {"kind": kind_of(from_), "key": from_},
        "to": {"kind": kind_of(to), "key": to},
    }
    if attributes:
        item["attributes"] = attributes
    if status:
        item["status"] = status
    return item


async def load(
    engine: IngestEngine,
    entities: list[dict[str, Any]] | None = None,
    relations: list[dict[str, Any]] | None = None,
    source: str = "cmdb",
    **header: Any,
) -> None:
    await engine.ingest(
        IngestBatch.model_validate(
            {"source": source, "entities": entities or [], "relations": relations or [], **header}
        )
    )


async def graph(engine: IngestEngine, edges: str, **attrs: dict[str, Any]) -> None:
    """Load a graph written one relation per line: ``from TYPE to [group]``.

    Entities are created from the keys; ``attrs`` gives attributes per key
    (``-`` in keys written as ``_`` in the keyword).
    """
    keys: dict[str, None] = {}
    relations = []
    for line in edges.strip().splitlines():
        parts = line.split()
        if not parts:
            continue
        a, t, b = parts[:3]
        keys.setdefault(a)
        keys.setdefault(b)
        extra = {"redundancyGroup": parts[3]} if len(parts) > 3 else {}
        relations.append(rel(a, t, b, **extra))
    for k in attrs:
        keys.setdefault(k.replace("_", "-"))
    entities = [ent(k, **attrs.get(k.replace("-", "_"), {})) for k in keys]
    await load(engine, entities, relations)


async def eid(store: GraphStore, key: str) -> int:
    found = (await store.resolve([(EntityKind(kind_of(key)), key)]))[0]
    assert found is not None, key
    return found


async def ids(store: GraphStore, *keys: str) -> list[int]:
    return [await eid(store, k) for k in keys]
