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
        auth: ``tokens``, ``local`` or ``auto`` (the default), fixed when the server
            starts: ``auto`` is ``tokens`` when the token file holds any token
            (revoked and expired ones too) and ``local`` when none was ever
            created (see :mod:`graphsvc.api.auth`).
        store: ``embedded`` (default) or ``neo4j``.
        read_only: Serve as a read replica (``graphsvc serve --read-only``): writes are
            refused naming the writer; an embedded store follows the writing process's
            commits through the file's changelog.
        replica_poll_seconds: How often a read replica looks for the writer's commits.
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
        tokens_file: Where API token hashes are kept (default: ``tokens.db``
            beside the data file).
        graphql_max_depth: Deepest GraphQL selection accepted.
        graphql_max_aliases: Most aliases in one GraphQL document.
        graphql_max_tokens: Most lexical tokens in one GraphQL document.
        graphql_max_directives: Most directives in one GraphQL document.
        page_size_default: Page size when a query gives no ``first``.
        page_size_max: Largest ``first`` accepted.
        graphql_max_items: Most items one GraphQL document may ask for over all its
            pages, nested pages multiplied (``entities(first: 500) { outgoing(first:
            500) }`` asks for 250,500).
        graphql_max_path_steps: Most path steps (relations on the paths of affected
            entities) one ``impact``/``dependencies`` page may carry; a page holding more
            is refused with the page size that would fit.
        graphql_max_answer_fields: Most fields one GraphQL answer may hold; bigger ones
            are refused (``ANSWER_TOO_LARGE``) and their work stopped.
        worker_threads: Threads (each with its event loop) where requests do their
            work, off the server's event loop; also how many compute at once.
        gc_freeze_survivors: After each collection of an older generation, move what
            survived out of the collector's reach (:func:`graphsvc.collector.freeze_survivors`).
        gc_collect_when_idle: Run the collector's young generations at quiet moments
            (no request worked on for 40 ms), so that fewer collections land in the
            middle of requests (:func:`graphsvc.collector.collect_when_idle`).
        row_cache_entries: Embedded store: entity rows, alias lists and relation rows
            each kept in memory after a read until the next commit (0: none). Portals
            reading the same entities again are answered without SQLite.
        health_metrics_interval_seconds: Shortest time between two computations of
            the health gauges of ``/metrics`` (they are computed on a scrape after a
            commit; at 1,000,000 entities one takes about 5 s of a core). 0: after
            every commit.
        gc_young_threshold: Allocations (net of frees) between two collections of the
            garbage collector's youngest generation while serving (Python's default
            is 700). Requests leave no cyclic garbage, so a high value makes
            collections, which stop every thread, rare without growing memory.
        request_timeout_seconds: A request running longer is answered 503 and its work
            stopped (NDJSON streams are bounded by ``stream_idle_seconds`` instead).
        header_timeout_seconds: A request whose headers are not complete this long
            after its first byte (or the connection's opening) is answered 408 and its
            connection closed.
        max_body_bytes: Largest JSON request body accepted (NDJSON streams are
            read line by line and may be longer).
        json_batch_max_items: Most entities and relations one JSON batch may hold: a
            JSON batch is one transaction within one request; bigger loads are refused
            (413) before any work, with the advice to stream NDJSON.
        stream_idle_seconds: An NDJSON stream that sends nothing for this long is
            ended (408); what it applied stays, and its own run is finished incomplete.
        run_abandon_after_seconds: An open run whose batch count has not moved for this
            long is finished incomplete (abandoned) by the server.
        graphql_max_body_bytes: Largest POST body accepted at ``/graphql``
            (document and variables; bulk ingest belongs on REST); 413 above.
        graphql_max_variable_depth: Deepest nesting of lists and objects in GraphQL
            variables; 400 above.
        log_format: ``json``, ``console``, or ``auto`` (JSON unless on a terminal).
        webhook_key: Key(s) sealing webhook signing secrets at rest (Fernet keys, comma
            separated: the first seals, every one opens, for rotation). Without it the
            embedded store uses ``webhook_key_file``; on Neo4j it is required to use webhooks.
        webhook_key_file: Where the embedded store's webhook key is kept (default:
            ``webhooks.key`` beside the data file, created 0600 when absent).
        webhook_allow_private: Allow webhook targets on private, loopback, link-local
            and other non-public addresses (refused by default).
        webhook_batch_size: Most events one webhook delivery carries.
        webhook_poll_seconds: How often delivery looks for new events and due retries
            (a commit through this server wakes it at once).
        webhook_lease_seconds: How long a process's right to deliver a subscription
            lasts without renewal (another process takes over after it dies).
        webhook_timeout_seconds: Longest a receiver may take to answer a delivery.
        event_streams_max: Most event streams (SSE) and GraphQL subscriptions open at
            once in one process; more are refused (503) until one ends.
        event_heartbeat_seconds: Longest silence of an event stream: a heartbeat
            (an SSE comment) keeps proxies from closing it; tokens are checked again
            this often.
        event_poll_seconds: How often a process looks for commits of other processes
            (other graphsvc processes on Neo4j) while anyone follows the feed; its own
            commits wake followers at once.
        event_stream_max_seconds: An event stream or subscription is ended after this
            long (``0``: never); clients resume from their last seq.
        event_retention_days: Events older than this are pruned (``0``: kept forever).
        event_retention_max: At most about this many of the newest events are kept
            (``0``: no limit).
        event_prune_every_seconds: How often a writing process prunes (when a
            retention rule is set), in short batches.
    """

    model_config = SettingsConfigDict(
        env_prefix="GRAPHSVC_", env_nested_delimiter="__", extra="ignore"
    )

    env: Literal["development", "production"] = "production"
    auth: Literal["auto", "tokens", "local"] = "auto"
    store: Literal["embedded", "neo4j"] = "embedded"
    read_only: bool = False
    replica_poll_seconds: float = Field(default=0.05, gt=0, le=60)
    data: Path = Field(default_factory=lambda: Path("data") / "graphsvc.db")
    durability: Literal["full", "normal"] = "full"
    source_priorities: dict[str, int] = Field(default_factory=dict)
    retire_after_missing_runs: int = Field(default=3, ge=1)
    neo4j_uri: str = "bolt://localhost:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr = SecretStr("")
    neo4j_database: str = "neo4j"
    tokens_file: Path | None = None
    graphql_max_depth: int = Field(default=12, ge=2)
    graphql_max_aliases: int = Field(default=20, ge=0)
    graphql_max_tokens: int = Field(default=4000, ge=50)
    graphql_max_directives: int = Field(default=20, ge=0)
    page_size_default: int = Field(default=50, ge=1)
    page_size_max: int = Field(default=500, ge=1)
    graphql_max_items: int = Field(default=100_000, ge=1)
    graphql_max_path_steps: int = Field(default=20_000, ge=0)
    graphql_max_answer_fields: int = Field(default=1_000_000, ge=1000)
    worker_threads: int = Field(default=2, ge=1, le=64)
    gc_young_threshold: int = Field(default=10_000, ge=100, le=1_000_000)
    health_metrics_interval_seconds: float = Field(default=60.0, ge=0, le=86_400)
    gc_freeze_survivors: bool = True
    gc_collect_when_idle: bool = True
    row_cache_entries: int = Field(default=100_000, ge=0, le=10_000_000)
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    json_batch_max_items: int = Field(default=25_000, ge=1)
    stream_idle_seconds: float = Field(default=30.0, gt=0)
    run_abandon_after_seconds: float = Field(default=3600.0, gt=0)
    graphql_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    graphql_max_variable_depth: int = Field(default=32, ge=1, le=1000)
    log_format: Literal["auto", "json", "console"] = "auto"
    webhook_key: SecretStr | None = None
    webhook_key_file: Path | None = None
    webhook_allow_private: bool = False
    webhook_batch_size: int = Field(default=100, ge=1, le=1000)
    webhook_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    webhook_lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=10)
    event_streams_max: int = Field(default=100, ge=1, le=100_000)
    event_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    event_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    event_stream_max_seconds: float = Field(default=3600.0, ge=0)
    event_retention_days: float = Field(default=0.0, ge=0)
    event_retention_max: int = Field(default=0, ge=0)
    event_prune_every_seconds: float = Field(default=600.0, gt=0)

    @property
    def tokens_path(self) -> Path:
        """The token file actually used."""
        return self.tokens_file or self.data.with_name("tokens.db")

    @property
    def webhook_key_path(self) -> Path:
        """The embedded store's webhook key file actually used."""
        return self.webhook_key_file or self.data.with_name("webhooks.key")
