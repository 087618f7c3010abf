"""The one place that knows the store backends: build the configured store."""

from __future__ import annotations

from graphsvc.config import Settings
from graphsvc.store.base import GraphStore

__all__ = ["store_from_settings", "store_schema_files"]


def store_from_settings(settings: Settings, *, read_only: bool = False) -> GraphStore:
    """Return the (unopened) store that ``settings`` configure.

    Args:
        settings: Where the store is and which backend holds it.
        read_only: Open without taking the writer lock (embedded store only; a
            Neo4j store is shared by design and ignores it).
    """
    if settings.store == "embedded":
        from graphsvc.store.embedded.store import EmbeddedStore

        return EmbeddedStore(
            settings.data,
            durability=settings.durability,
            read_only=read_only or settings.read_only,
            row_cache_entries=settings.row_cache_entries,
        )
    from graphsvc.store.neo4j.store import Neo4jStore

    return Neo4jStore(
        settings.neo4j_uri,
        user=settings.neo4j_user,
        password=settings.neo4j_password.get_secret_value(),
        database=settings.neo4j_database,
    )


def store_schema_files() -> dict[str, str]:
    """The schema files the backends derive from the vocabulary, by file name.

    ``neo4j.cypher``: the constraints and indexes a Neo4j store creates on open
    (written to ``schema/`` by ``graphsvc export-schema``).
    """
    from graphsvc.store.neo4j.cypher import schema_script

    return {"neo4j.cypher": schema_script()}
