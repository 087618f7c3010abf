"""The one place that knows the store backends: build the configured store."""

from __future__ import annotations

from graphsvc.config import Settings
from graphsvc.errors import StoreUnavailable
from graphsvc.store.base import GraphStore

__all__ = ["store_from_settings"]


def store_from_settings(settings: Settings, *, read_only: bool = False) -> GraphStore:
    """Return the (unopened) store that ``settings`` configure.

    Args:
        settings: Where the store is and which backend holds it.
        read_only: Open without taking the writer lock (embedded store only).

    Raises:
        StoreUnavailable: when the configured backend cannot be used.
    """
    if settings.store == "embedded":
        from graphsvc.store.embedded.store import EmbeddedStore

        return EmbeddedStore(settings.data, durability=settings.durability, read_only=read_only)
    msg = f"store backend {settings.store!r} is not available in this build"
    raise StoreUnavailable(msg)
