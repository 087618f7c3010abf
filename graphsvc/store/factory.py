"""The one place that knows the store backends: open the configured store."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from graphsvc.store.base import GraphStore

__all__ = ["open_embedded", "store_from_settings"]


def open_embedded(
    path: Path | str, *, durability: Literal["full", "normal"] = "full", read_only: bool = False
) -> GraphStore:
    """Return an (unopened) embedded store on ``path``."""
    from graphsvc.store.embedded.store import EmbeddedStore  # noqa: PLC0415 - backends load lazily

    return EmbeddedStore(path, durability=durability, read_only=read_only)


def store_from_settings(
    backend: Literal["embedded", "neo4j"],
    *,
    data_path: Path,
    durability: Literal["full", "normal"] = "full",
    read_only: bool = False,
) -> GraphStore:
    """Return the configured (unopened) store."""
    if backend == "embedded":
        return open_embedded(data_path, durability=durability, read_only=read_only)
    msg = "the neo4j backend is not available yet"
    raise NotImplementedError(msg)
