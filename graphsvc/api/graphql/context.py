"""Per-request GraphQL context: the caller, the store, and request-scoped DataLoaders.

Related entities and relations are always fetched through the loaders below, so
that a list of N entities with their relations costs a bounded number of store
calls (one per loader and nesting level), never N.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from graphsvc.api.feed import FeedHub
from graphsvc.api.tokens import Principal
from graphsvc.api.workers import WorkerLoops
from graphsvc.config import Settings
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.records import EntityRecord, RelationRecord
from graphsvc.model.vocabulary import VOCABULARY, Direction, RelationType, TraversalStep
from graphsvc.store.base import GraphStore

if TYPE_CHECKING:
    from graphsvc.api.webhooks.admin import WebhookAdmin

__all__ = ["GraphContext", "Loaders", "RelationsKey"]

_ALL_KINDS = frozenset(VOCABULARY.kinds)


@dataclass(frozen=True, slots=True)
class RelationsKey:
    """What a relation list of one entity asks for (the key of the relations loader)."""

    entity_id: int
    direction: Direction
    types: frozenset[RelationType] | None


class Loaders:
    """Request-scoped DataLoaders over the store port.

    Attributes:
        entity: id -> entity (or ``None``), batched through ``store.entities``.
        relation: id -> relation, batched through ``store.relations_by_id``.
        relations: (entity, direction, types) -> the ids of its non-retired
            relations, ordered by id, batched through one ``store.neighbours`` call.
    """

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.calls: dict[str, int] = defaultdict(int)
        # The load functions are not bound methods of this object: a loader holding
        # its owner would make a reference cycle (the whole request's data freed
        # only by a garbage collection, a pause that stops every thread).
        calls = self.calls
        self.entity: DataLoader[int, EntityRecord | None] = DataLoader(
            load_fn=partial(_load_entities, store, calls)
        )
        self.relation: DataLoader[int, RelationRecord | None] = DataLoader(
            load_fn=partial(_load_relations, store, calls)
        )
        self.relations: DataLoader[RelationsKey, list[int]] = DataLoader(
            load_fn=partial(_load_relation_ids, store, calls)
        )


async def _load_entities(
    store: GraphStore, calls: dict[str, int], ids: list[int]
) -> Sequence[EntityRecord | None]:
    calls["entities"] += 1
    return await store.entities(ids)


async def _load_relations(
    store: GraphStore, calls: dict[str, int], ids: list[int]
) -> Sequence[RelationRecord | None]:
    calls["relations_by_id"] += 1
    return await store.relations_by_id(ids)


async def _load_relation_ids(
    store: GraphStore, calls: dict[str, int], keys: list[RelationsKey]
) -> Sequence[list[int]]:
    by_shape: dict[tuple[Direction, frozenset[RelationType] | None], list[int]] = {}
    for position, key in enumerate(keys):
        by_shape.setdefault((key.direction, key.types), []).append(position)
    out: list[list[int]] = [[] for _ in keys]
    for (direction, types), positions in by_shape.items():
        steps = [
            TraversalStep(t, direction, _ALL_KINDS, _ALL_KINDS)
            for t in (types if types is not None else VOCABULARY.relation_types)
        ]
        calls["neighbours"] += 1
        found = await store.neighbours([keys[p].entity_id for p in positions], steps)
        for origin, relation in zip(found.origin.tolist(), found.relation.tolist(), strict=True):
            out[positions[origin]].append(relation)
    return [sorted(set(ids)) for ids in out]


@dataclass
class GraphContext(BaseContext):
    """What every resolver can reach through ``info.context``."""

    store: GraphStore
    engine: IngestEngine
    settings: Settings
    principal: Principal
    workers: WorkerLoops | None = None
    webhooks: WebhookAdmin | None = None
    feed: FeedHub | None = None
    """Wakes event subscriptions (``None``: a context without subscriptions)."""
    recheck: Callable[[], bool] = lambda: True
    """Whether the caller's token is still valid (subscriptions ask now and then)."""
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        super().__init__()
        self.loaders = Loaders(self.store)
