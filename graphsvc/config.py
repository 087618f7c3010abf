"""Configuration from ``GRAPHSVC_*`` environment variables (12-factor).

Only the composition roots (the CLI, the API's ``create_app``, the store
factory) read settings; everything below them receives plain values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Every setting of graphsvc.

    Attributes:
        env: ``development`` enables GraphiQL and introspection; ``production``
            (the default) does not.
        store: ``embedded`` (default) or ``neo4j``.
        data: The embedded store's file (``GRAPHSVC_DATA``).
        durability: ``full`` fsyncs every commit (survives power loss);
            ``normal`` survives a crash of the process only.
        source_priorities: Source name -> priority for attribute reconciliation,
            as JSON (``GRAPHSVC_SOURCE_PRIORITIES='{"servicenow": 10}'``).
        retire_after_missing_runs: Complete runs a stale item may stay missing
            before it is retired.
        neo4j_uri: Bolt URI of Neo4j (``GRAPHSVC_NEO4J_URI``).
        neo4j_user: Neo4j user.
        neo4j_password: Neo4j password.
        neo4j_database: Neo4j database name.
    """

    model_config = SettingsConfigDict(
        env_prefix="GRAPHSVC_", env_nested_delimiter="__", extra="ignore"
    )

    env: Literal["development", "production"] = "production"
    store: Literal["embedded", "neo4j"] = "embedded"
    data: Path = Field(default_factory=lambda: Path("data") / "graphsvc.db")
    durability: Literal["full", "normal"] = "full"
    source_priorities: dict[str, int] = Field(default_factory=dict)
    retire_after_missing_runs: int = Field(default=3, ge=1)
    neo4j_uri: str = "bolt://localhost:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr = SecretStr("")
    neo4j_database: str = "neo4j"
