"""The ``graphsvc`` command line.

Exit codes: 0 success; 2 invalid input (a malformed file, an invalid item: the
message names the file, the item and the reason, and nothing was written); 3 the
store cannot be used; 1 anything else (reported in one line, never a traceback
unless ``GRAPHSVC_DEBUG=1``).

Help texts (``--help``: the commands' docstrings up to ``Args:`` and the
options' ``help=``) are plain text: no reST or Markdown markup, no module
paths. A short option means one thing in every command: ``-o`` is always
``--output`` and ``-f`` always ``--format``; importer settings are ``--set
NAME=VALUE`` (no short form; ``--option`` is still accepted, hidden, for old
scripts). ``tests/cli/test_help.py`` holds every command to this.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import anyio
import structlog
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from graphsvc.analysis.impact import PathStep
from graphsvc.cli.remote import RemoteSink
from graphsvc.cli.tail import TailFilter, tail_events
from graphsvc.cli.webhooks import webhook_app
from graphsvc.config import Settings
from graphsvc.errors import GraphSvcError, InvalidInput, ParseError, StoreError
from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.ingest.importer import ImportWarning, available_importers, load_importer
from graphsvc.ingest.results import IngestSummary
from graphsvc.ingest.runner import (
    BatchSink,
    EngineSink,
    ImportReport,
    UnresolvedReference,
    check_batches,
    read_batch_file,
    run_import,
)
from graphsvc.ingest.stewardship import MAX_REASON, IdentityStewardship, MergeResult
from graphsvc.model.batch import IngestBatch
from graphsvc.model.records import ConflictState, IdentityConflict
from graphsvc.model.schema_export import batch_schema_json
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.base import CheckReport
from graphsvc.store.factory import store_from_settings, store_schema_files
from graphsvc.store.retention import PruneTotal, prune_in_batches

__all__ = ["app"]

app = typer.Typer(
    name="graphsvc",
    help="graphsvc: one graph of projects, changes, services, CIs and teams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

T = TypeVar("T")
err = Console(stderr=True)
out = Console()


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _where(settings: Settings) -> str:
    """Where the configured store is, for messages."""
    if settings.store == "embedded":
        return str(settings.data)
    return f"Neo4j {settings.neo4j_uri} (database {settings.neo4j_database})"


def _settings() -> Settings:
    """Read the settings from the environment, or exit 2 naming each bad variable.

    A bad setting (``GRAPHSVC_ENV=staging``, ``GRAPHSVC_PORT=http``) is the
    operator's input, so it gets one line per variable, not a traceback.
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"GRAPHSVC_{'__'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise _fail(f"invalid setting: {problems}", 2) from None


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async command, mapping errors onto exit codes (see the module docstring)."""
    try:
        return anyio.run(fn)
    except (InvalidInput, ParseError) as exc:
        raise _fail(str(exc), 2) from None
    except StoreError as exc:
        raise _fail(str(exc), 3) from None
    except GraphSvcError as exc:
        raise _fail(str(exc), 1) from None
    except (typer.Exit, KeyboardInterrupt):
        raise
    except Exception as exc:
        if os.environ.get("GRAPHSVC_DEBUG"):
            raise
        raise _fail(f"internal error: {type(exc).__name__}: {exc}", 1) from None


def _policy(settings: Settings) -> IngestPolicy:
    return IngestPolicy(
        source_priorities=settings.source_priorities,
        retire_after_missing_runs=settings.retire_after_missing_runs,
    )


def _show_summary(
    summary: IngestSummary, title: str, limit: int = 20, *, not_created: int = 0
) -> None:
    """Print the summary table, then (on stderr) what was accepted but may be a mistake.

    ``not_created``: relations of an import left out because an end names
    nothing (a row of the table when not 0).
    """
    for warning in summary.warnings[:limit]:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    if len(summary.warnings) > limit:
        err.print(f"[yellow]… and {len(summary.warnings) - limit} more warnings[/]")
    table = _summary_table(summary, title)
    if not_created:
        table.add_row("not created", "", str(not_created))
        table.caption = "not created: relations with an unresolved reference (listed above)"
    out.print(table)
    if summary.unapplied_total:
        out.print(_unapplied_table(summary, limit))


def _unapplied_table(summary: IngestSummary, limit: int) -> Table:
    """The writes a source of higher priority overruled (the first ``limit``), as a table."""
    total = summary.unapplied_total
    table = Table(
        title=f"{total} write(s) not applied: a source of higher priority holds the field",
        show_header=True,
        header_style="bold",
    )
    for column in ("item", "field", "sent", "kept", "held by"):
        table.add_column(column, overflow="fold")
    for w in summary.unapplied[:limit]:
        table.add_row(
            Text(w.label),
            Text(w.field),
            Text(_short_json(w.sent)),
            Text(_short_json(w.kept)),
            Text(f"{w.holder} (priority {w.holder_priority} > {w.sender_priority})"),
        )
    shown = min(limit, len(summary.unapplied))
    if total > shown:
        table.caption = f"… and {total - shown} more"
    return table


def _short_json(value: object, most: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= most else text[: most - 1] + "…"


def _summary_table(summary: IngestSummary, title: str) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("")
    table.add_column("entities", justify="right")
    table.add_column("relations", justify="right")
    table.add_row("created", str(summary.entities_created), str(summary.relations_created))
    table.add_row("updated", str(summary.entities_updated), str(summary.relations_updated))
    table.add_row("unchanged", str(summary.entities_unchanged), str(summary.relations_unchanged))
    table.add_row("merged", str(summary.merged), "")
    table.add_row("id conflicts", str(summary.identity_conflicts), "")
    table.add_row("revived", str(summary.revived), "")
    table.add_row("marked stale", str(summary.marked_stale), "")
    table.add_row("retired", str(summary.retired), "")
    return table


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal and not os.environ.get("GRAPHSVC_PROGRESS"),
    )


def _schema_files() -> dict[str, str]:
    from graphsvc.api.graphql.schema import build_schema
    from graphsvc.report.schema import SCHEMA_FILE, report_schema_json

    graphql = build_schema(Settings(env="development")).as_str() + "\n"
    return {
        "ingest-batch.schema.json": batch_schema_json(),
        "schema.graphql": graphql,
        SCHEMA_FILE: report_schema_json(),
        **store_schema_files(),
    }


@app.command("export-schema")
def export_schema(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder to write into.")] = Path(
        "schema"
    ),
    check: Annotated[
        bool,
        typer.Option("--check", help="Only compare with the files there; exit 1 when they differ."),
    ] = False,
) -> None:
    """Write the schemas derived from the code into the folder schema.

    The ingest batch JSON Schema, the GraphQL SDL, the change report's JSON
    Schema and the Neo4j constraints and indexes. With --check, only compare
    with the files there.
    """
    files = _schema_files()
    stale = []
    for name, text in files.items():
        target = out_dir / name
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(str(target))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        out.print(f"wrote {target}")
    if stale:
        raise _fail(f"out of date: {', '.join(stale)} (run graphsvc export-schema)", 1)


def _print_warnings(warnings: Sequence[ImportWarning], limit: int = 20) -> None:
    for warning in warnings[:limit]:
        err.print(
            f"[yellow]warning:[/] {escape(warning.describe())}", highlight=False, soft_wrap=True
        )
    if len(warnings) > limit:
        err.print(f"[yellow]… and {len(warnings) - limit} more warnings[/]")


def _print_unresolved(unresolved: Sequence[UnresolvedReference]) -> None:
    """Name every reference of an import that named nothing (all of them, on stderr)."""
    if not unresolved:
        return
    relations = len({u.relation for u in unresolved})
    err.print(
        f"[yellow]{len(unresolved)} reference(s) could not be resolved; "
        f"{relations} relation(s) were not created:[/]",
        highlight=False,
        soft_wrap=True,
    )
    for reference in unresolved:
        err.print(
            f"[yellow]unresolved:[/] {escape(reference.describe())}",
            highlight=False,
            soft_wrap=True,
        )


async def _import_batches(settings: Settings, paths: Sequence[Path], actor: str) -> IngestSummary:
    # read and check every batch of every file before writing anything
    batches: list[tuple[str, IngestBatch]] = []
    for path in paths:
        for number, batch in enumerate(read_batch_file(path), start=1):
            batches.append((f"{path} (batch {number})", batch))
    total = sum(len(b.entities) + len(b.relations) for _, b in batches)
    store = store_from_settings(settings)
    summary = IngestSummary()
    async with store:
        await check_batches(store, batches)
        engine = IngestEngine(store, _policy(settings))
        with _progress() as progress:
            task = progress.add_task("ingesting", total=total)
            for number, (origin, batch) in enumerate(batches, start=1):
                result = await engine.ingest(batch, actor=actor)
                summary = summary + result
                progress.advance(task, len(batch.entities) + len(batch.relations))
                # the batch is committed (and, with durability full, on disk): say so
                progress.console.print(
                    _acknowledgement(number, len(batches), origin, batch, result),
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
    return summary


def _acknowledgement(
    number: int, total: int, origin: str, batch: IngestBatch, result: IngestSummary
) -> str:
    """One line per committed batch, for operators and for scripts.

    ``committed batch N/T: ORIGIN: E entities, R relations (created C, updated U,
    unchanged K) run RUN``. Everything up to the first colon is stable; a script
    that resumes an interrupted import skips the first N batches it saw
    acknowledged (in the order of the files and, within an NDJSON file, of its lines).
    """
    created = result.entities_created + result.relations_created
    updated = result.entities_updated + result.relations_updated
    unchanged = result.entities_unchanged + result.relations_unchanged
    return (
        f"committed batch {number}/{total}: {origin}: {len(batch.entities)} entities, "
        f"{len(batch.relations)} relations (created {created}, updated {updated}, "
        f"unchanged {unchanged}) run {result.run_id}"
    )


@app.command("import")
def import_(
    format_: Annotated[
        str,
        typer.Argument(
            metavar="FORMAT",
            help="batch for graphsvc ingest batches (JSON or NDJSON), or an importer name "
            "(graphsvc importers lists them).",
        ),
    ],
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", help="Files to import.")],
    source: Annotated[
        str | None, typer.Option(help="Source name (default: the importer's).")
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(
            help="Scope the files describe (cluster, account, site). An import is one "
            "complete run of its source and scope: what the source asserted in the scope "
            "before and the files leave out becomes stale. Default: the importer's "
            "suggestion (servicenow change exports: changes), else default."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="NAME=VALUE",
            help="An importer setting, for example table=cmdb_ci_server or "
            "timeZone=Europe/Amsterdam (servicenow); repeat for several.",
        ),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", metavar="NAME=VALUE", hidden=True, help="Old name of --set."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Items per batch.")] = 5000,
    actor: Annotated[
        str,
        typer.Option(
            help="Recorded in the history as who made the change (with --url: the token's name)."
        ),
    ] = "cli",
    url: Annotated[
        str | None,
        typer.Option(
            help="Import into the graphsvc served at this URL (http://host:port) "
            "instead of the local store."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="GRAPHSVC_TOKEN",
            show_envvar=True,
            help="API token (scope write) for --url.",
        ),
    ] = None,
) -> None:
    """Import files: ingest batches, or a tool's output as one complete run.

    A tool's files are read and checked before anything is written. Relations
    whose other end is neither in the files nor in the graph are not created;
    each such reference is listed (which record, which field, which value).

    With --url the files are read and checked here, and the run goes to the
    graphsvc served at that URL, over its REST API, instead of the local store.
    """
    settings = _settings()
    if format_ == "batch":
        if url is not None:
            raise _fail(
                "--url works with importer formats; send batch files to a running graphsvc "
                "with POST /api/v1/ingest",
                2,
            )
        summary = _run(lambda: _import_batches(settings, paths, actor))
        _show_summary(summary, f"imported {len(paths)} file(s)")
        return
    settings_map: dict[str, str] = {}
    for item in [*(option or []), *(set_ or [])]:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise _fail(f"--set {item!r}: expected NAME=VALUE", 2)
        settings_map[name.strip()] = value

    async def run(sink: BatchSink) -> ImportReport:
        importer = load_importer(format_)
        with _progress() as progress:
            task = progress.add_task(f"{format_} import", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return await run_import(
                importer,
                paths,
                sink,
                source=source,
                scope=scope,
                settings=settings_map,
                batch_size=batch_size,
                progress=advance,
            )

    async def work() -> None:
        if url is not None:
            async with RemoteSink(url, token) as remote:
                report = await run(remote)
        else:
            store = store_from_settings(settings)
            async with store:
                report = await run(EngineSink(IngestEngine(store, _policy(settings)), actor=actor))
        unresolved = {u.warning for u in report.unresolved}
        _print_warnings([w for w in report.warnings if w not in unresolved])
        _print_unresolved(report.unresolved)
        _show_summary(
            report.summary,
            f"{format_} import: run {report.run_id} (scope {report.scope}), "
            f"{report.batches} batch(es)",
            not_created=len({u.relation for u in report.unresolved}),
        )

    _run(work)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (embedded store: 1).")] = 1,
    read_only: Annotated[
        bool,
        typer.Option(
            "--read-only",
            help="Serve reads only, following the writing server's commits (a read replica).",
        ),
    ] = False,
) -> None:
    """Serve GraphQL and REST on the configured store.

    With no API token configured the server binds only loopback addresses.
    """
    from graphsvc.api.app import create_app
    from graphsvc.api.auth import AuthMode, choose_auth_mode, is_loopback
    from graphsvc.api.server import run_server
    from graphsvc.api.tokens import TokenStore

    settings = _settings()
    tokens = TokenStore(settings.tokens_path)
    try:
        mode, why = choose_auth_mode(settings.auth, tokens)
    except GraphSvcError as exc:
        raise _fail(str(exc), 3) from None
    finally:
        tokens.close()
    if mode is AuthMode.LOCAL and not is_loopback(host):
        raise _fail(
            f"refusing to bind {host}: the server would run in local mode ({why}) and answer "
            "anyone without authentication. Create a token with "
            "'graphsvc token create NAME --scope admin' (or set GRAPHSVC_AUTH=tokens), "
            "or bind 127.0.0.1.",
            2,
        )
    # fixed for this server
    settings = settings.model_copy(
        update={"auth": mode.value, "read_only": read_only or settings.read_only}
    )
    if workers != 1 and settings.store == "embedded":
        raise _fail("the embedded store is served by one worker process (use --workers 1)", 2)
    app = create_app(settings)  # configures the logs
    structlog.get_logger("graphsvc").info("auth mode chosen", auth=mode.value, chosen_by=why)
    run_server(
        app,
        host=host,
        port=port,
        header_timeout=settings.header_timeout_seconds,
    )


token_app = typer.Typer(help="Manage API tokens (stored only as hashes).", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(webhook_app, name="webhook")


@token_app.command("create")
def token_create(
    name: Annotated[
        str, typer.Argument(help="Who or what uses it; recorded as the actor of writes.")
    ],
    scope: Annotated[str, typer.Option(help="read, write or admin.")] = "read",
    expires_days: Annotated[
        int | None,
        typer.Option(min=1, help="Days until it expires (a positive number; default: never)."),
    ] = None,
) -> None:
    """Create a token and print it once."""
    from datetime import UTC, datetime, timedelta

    from graphsvc.api.tokens import Scope, TokenStore

    try:
        chosen = Scope(scope)
    except ValueError:
        raise _fail(f"--scope must be read, write or admin, not {scope!r}", 2) from None
    store = TokenStore(_settings().tokens_path)
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days is not None else None
    try:
        info, plaintext = store.create(name, chosen, expires=expires)
    except InvalidInput as exc:
        raise _fail(str(exc), 2) from None
    finally:
        store.close()
    err.print(f"created token {info.name!r} ({info.scope.value}); it is shown only now:")
    out.print(plaintext, highlight=False)


@token_app.command("list")
def token_list() -> None:
    """List tokens (never their secrets)."""
    from graphsvc.api.tokens import TokenStore

    store = TokenStore(_settings().tokens_path)
    try:
        tokens = store.list()
    finally:
        store.close()
    table = Table(show_header=True, header_style="bold")
    for column in ("name", "id", "scope", "created", "expires", "last used", "revoked"):
        table.add_column(column)
    for t in tokens:
        table.add_row(
            t.name,
            t.token_id,
            t.scope.value,
            t.created.strftime("%Y-%m-%d %H:%M"),
            t.expires.strftime("%Y-%m-%d") if t.expires else "",
            t.last_used.strftime("%Y-%m-%d %H:%M") if t.last_used else "",
            "yes" if t.revoked else "",
        )
    out.print(table)


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="Token name or id.")]) -> None:
    """Revoke a token; requests using it are refused from then on."""
    from graphsvc.api.tokens import TokenStore

    store = TokenStore(_settings().tokens_path)
    try:
        info = store.revoke(name)
    except GraphSvcError as exc:
        raise _fail(str(exc), 2) from None
    finally:
        store.close()
    out.print(f"revoked {info.name!r}")


@app.command("demo")
def demo(
    reset: Annotated[
        bool,
        typer.Option(
            "--reset",
            help="Erase the store first (refused while another process writes to it).",
        ),
    ] = False,
) -> None:
    """Load the demo graph (a hospital group after a merger) through the ingest path.

    Dates in the demo are relative to today, so its changes and windows are
    always upcoming. Loading it twice changes nothing the second time.
    """
    from datetime import UTC, datetime

    from graphsvc.demo import demo_batches

    settings = _settings()
    if reset and settings.store != "embedded":
        err.print(
            "error: --reset deletes the embedded store's file; on Neo4j, empty the "
            f"database {settings.neo4j_database!r} yourself (loading the demo again is safe)"
        )
        raise typer.Exit(2)

    async def work() -> IngestSummary:
        batches = demo_batches(datetime.now(UTC).date())
        store = store_from_settings(settings)
        summary = IngestSummary()
        # opening for writing takes the writer lock: a store a server is using
        # is refused here, before anything is erased
        async with store:
            if reset:
                await store.erase()
            engine = IngestEngine(store, _policy(settings))
            with _progress() as progress:
                task = progress.add_task("loading the demo", total=len(batches))
                for batch in batches:
                    summary = summary + await engine.ingest(batch, actor="demo")
                    progress.advance(task)
        return summary

    summary = _run(work)
    _show_summary(summary, f"demo graph loaded into {_where(settings)}")


report_app = typer.Typer(help="Documents generated from the graph.", no_args_is_help=True)
app.add_typer(report_app, name="report")

_REPORT_SUFFIXES = {
    ".html": "html",
    ".htm": "html",
    ".md": "md",
    ".markdown": "md",
    ".json": "json",
}


def _as_of(value: str | None) -> datetime | None:
    """Parse ``--as-of``: ISO 8601, a time without a zone or a bare date meaning UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(
            f"--as-of {value!r}: expected an ISO 8601 time such as 2025-03-10T12:00:00Z", 2
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@report_app.command("change")
def report_change(
    key: Annotated[str, typer.Argument(help="The change's key (or an alias).")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Read the graph as it was then (ISO 8601; no zone means UTC)."
        ),
    ] = None,
    format_: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="html, md or json (default: from the extension of -o, else md).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Render the change review report of a change, for the CAB.

    Summary, conflicts, the impact diagram (HTML only), affected services by
    tier, teams to notify, affected projects and every affected entity. The
    store is opened read-only. An unknown change key exits with code 2.
    """
    from graphsvc.errors import NotFound
    from graphsvc.report import ReportFormat, build_change_report, render_report

    chosen = format_ or (_REPORT_SUFFIXES.get(output.suffix.lower()) if output else None) or "md"
    try:
        fmt = ReportFormat(chosen.lower())
    except ValueError:
        raise _fail(f"--format must be html, md or json, not {chosen!r}", 2) from None
    moment = _as_of(as_of)
    settings = _settings()

    async def work() -> str:
        store = store_from_settings(settings, read_only=True)
        async with store:
            try:
                report = await build_change_report(store, key, as_of=moment)
            except NotFound:
                when = f" as of {moment.isoformat()}" if moment else ""
                raise _fail(f"no Change has the key or alias {key!r}{when}", 2) from None
        return render_report(report, fmt)

    text = _run(work)
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    err.print(f"wrote {output} ({fmt.value}, {len(text.encode()):,} bytes)", highlight=False)


_WORK_FORMAT_HELP = "html, md (or markdown) or json (default: from the extension of -o, else md)."
_WORK_AS_OF_HELP = (
    "Read the graph as it was then, and spread the work from then (ISO 8601; no zone means UTC)."
)


def _work_format(format_: str | None, output: Path | None) -> str:
    """The format of a plan or load report: ``html``, ``md`` or ``json`` (exit 2 otherwise)."""
    chosen = format_ or (_REPORT_SUFFIXES.get(output.suffix.lower()) if output else None) or "md"
    name = {"markdown": "md"}.get(chosen.lower(), chosen.lower())
    if name not in ("html", "md", "json"):
        raise _fail(f"--format must be html, md (markdown) or json, not {chosen!r}", 2)
    return name


def _moment(value: str, option: str) -> datetime:
    """Parse a date or time option: ISO 8601; a bare date is 00:00 UTC, no zone means UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(
            f"{option} {value!r}: expected an ISO 8601 date or time such as 2030-01-07 or "
            "2030-01-07T09:00:00Z",
            2,
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _emit(text: str, output: Path | None, fmt: str) -> None:
    """Write a report to ``output`` (its folder created) or to stdout."""
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    err.print(f"wrote {output} ({fmt}, {len(text.encode()):,} bytes)", highlight=False)


def _answer_json(answer: object) -> str:
    """An analysis answer as the REST endpoints write it (camelCase), indented."""
    from graphsvc.api.answers import AnswerShape

    document = AnswerShape(type(answer)).dump(answer)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@report_app.command("project")
def report_project(
    key: Annotated[str, typer.Argument(help="The project's key (or an alias).")],
    as_of: Annotated[str | None, typer.Option("--as-of", help=_WORK_AS_OF_HELP)] = None,
    format_: Annotated[str | None, typer.Option("--format", "-f", help=_WORK_FORMAT_HELP)] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Render the plan of a project: what must be done before it can start.

    The status (READY, AT_RISK or BLOCKED) and why, the earliest start, the
    critical path, and every prerequisite task with its status, assignees, due
    date, effort and problems; circular prerequisites when there are any. The
    json format is the plan as the REST API returns it. The store is opened
    read-only. An unknown project key exits with code 2.
    """
    from graphsvc.analysis.plan import project_plan
    from graphsvc.errors import NotFound
    from graphsvc.report.plan_report import plan_report, render_plan_html, render_plan_markdown

    fmt = _work_format(format_, output)
    moment = _as_of(as_of)
    settings = _settings()

    async def work() -> str:
        store = store_from_settings(settings, read_only=True)
        async with store:
            try:
                plan = await project_plan(store, key, as_of=moment)
            except NotFound:
                when = f" as of {moment.isoformat()}" if moment else ""
                raise _fail(f"no Project has the key or alias {key!r}{when}", 2) from None
        if fmt == "json":
            return _answer_json(plan)
        document = plan_report(plan)
        return render_plan_html(document) if fmt == "html" else render_plan_markdown(document)

    _emit(_run(work), output, fmt)


@report_app.command("team")
def report_team(
    key: Annotated[str, typer.Argument(help="The team's key (or an alias).")],
    start: Annotated[
        str,
        typer.Option(
            "--from",
            help="A day or time in the first week (ISO 8601; a date is 00:00 UTC).",
        ),
    ],
    end: Annotated[
        str,
        typer.Option("--to", help="A day or time in the last week (at most 260 weeks later)."),
    ],
    as_of: Annotated[str | None, typer.Option("--as-of", help=_WORK_AS_OF_HELP)] = None,
    format_: Annotated[str | None, typer.Option("--format", "-f", help=_WORK_FORMAT_HELP)] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Render a team's capacity and load per week (Monday to Sunday, UTC).

    The capacity and where it comes from, the project share, and for each
    week the capacity, project capacity, project and operational load, state
    (OK, OVER_PROJECT_SHARE or OVERBOOKED) and its largest work items; then
    the work without effort or end. The html format adds a chart of the weekly
    load. The json format is the load as the REST API returns it. The store is
    opened read-only. An unknown team key, or --to before --from, exits with
    code 2.
    """
    from graphsvc.analysis.work import team_load
    from graphsvc.errors import NotFound
    from graphsvc.report.team_report import render_team_html, render_team_markdown, team_report

    fmt = _work_format(format_, output)
    first, last = _moment(start, "--from"), _moment(end, "--to")
    if last < first:
        raise _fail(f"--to {end} is before --from {start}", 2)
    moment = _as_of(as_of)
    settings = _settings()

    async def work() -> str:
        store = store_from_settings(settings, read_only=True)
        async with store:
            try:
                load = await team_load(store, key, first, last, as_of=moment)
            except NotFound:
                when = f" as of {moment.isoformat()}" if moment else ""
                raise _fail(f"no Team has the key or alias {key!r}{when}", 2) from None
        if fmt == "json":
            return _answer_json(load)
        document = team_report(load)
        return render_team_html(document) if fmt == "html" else render_team_markdown(document)

    _emit(_run(work), output, fmt)


@app.command("health")
def health_command(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Describe the graph as it was then (ISO 8601; no zone: UTC)."),
    ] = None,
    format_: Annotated[str | None, typer.Option("--format", "-f", help=_WORK_FORMAT_HELP)] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Report how trustworthy the graph is (PRODUCT.md 9).

    The score (0-100, formula in the README), every check with its figure,
    threshold, PASS/WARN/FAIL and the first failing entities, the figures per
    source (worst first) and the score over the last 30 days (a chart in the
    html format). The json format is the document as the REST API returns it.
    The store is opened read-only.
    """
    from graphsvc.report.health_report import (
        build_health_document,
        render_health_html,
        render_health_markdown,
    )

    fmt = _work_format(format_, output)
    moment = _as_of(as_of)
    settings = _settings()

    async def work() -> str:
        store = store_from_settings(settings, read_only=True)
        async with store:
            with _progress() as progress:
                progress.add_task(f"checking the health of {_where(settings)}", total=None)
                document = await build_health_document(store, as_of=moment)
        if fmt == "json":
            return _answer_json(document)
        return render_health_html(document) if fmt == "html" else render_health_markdown(document)

    _emit(_run(work), output, fmt)


@app.command("check")
def check(
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=100_000, help="Most findings per check.")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="The report as one JSON object.")] = False,
) -> None:
    """Check the store's consistency and list what is wrong.

    The checks: the file's integrity, the history against the graph, the
    index against the file, and one live holder per identifier value. Opens
    the store read-only (a running server may keep using it). Exit code 0 when
    clean, 1 when something was found, 3 when the store cannot be read.
    """
    settings = _settings()

    async def work() -> CheckReport:
        store = store_from_settings(settings, read_only=True)
        async with store:
            with _progress() as progress:
                progress.add_task(f"checking {_where(settings)}", total=None)
                return await store.check(limit=limit)

    report = _run(work)
    if as_json:
        body = {
            "clean": report.clean,
            "checks": dict(report.checks),
            "findings": [{"check": f.check, "message": f.message} for f in report.findings],
        }
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        table = Table(title=f"graphsvc check: {_where(settings)}", header_style="bold")
        for column in ("check", "looked at", "findings"):
            table.add_column(column)
        for name, what in report.checks.items():
            found = sum(1 for f in report.findings if f.check == name)
            table.add_row(name, what, "[green]none[/]" if not found else f"[red]{found}[/]")
        out.print(table)
        for finding in report.findings:
            out.print(
                f"[red]{finding.check}:[/] {finding.message}", highlight=False, soft_wrap=True
            )
    if not report.clean:
        raise typer.Exit(1)


conflicts_app = typer.Typer(
    help="Identity conflicts: list them (the default), dismiss one.",
    invoke_without_command=True,
)
app.add_typer(conflicts_app, name="conflicts")


@conflicts_app.callback()
def conflicts(
    ctx: typer.Context,
    first: Annotated[int, typer.Option("--first", min=1, max=10_000, help="How many.")] = 100,
    after: Annotated[
        int, typer.Option("--after", min=0, help="Only those after this sequence number.")
    ] = 0,
    state: Annotated[
        ConflictState | None,
        typer.Option("--state", help="Only those in this state (open: not dismissed, resolved)."),
    ] = None,
    open_only: Annotated[
        bool, typer.Option("--open", help="Only open ones (as --state open).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List identity conflicts, oldest first (graphsvc conflicts dismiss closes one).

    Each is an identifier value an item carried that another entity keeps:
    the entity the item was identified as, the holder, the type and value, the
    source and run, and when, with its state (open, dismissed or resolved) and,
    once closed, who closed it, when and why. The store is opened read-only.
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    wanted = ConflictState.OPEN if open_only else state

    async def work() -> tuple[list[tuple[IdentityConflict, str, str]], bool]:
        store = store_from_settings(settings, read_only=True)
        async with store:
            page = await store.identity_conflicts(first=first, after=after, state=wanted)
            ids = sorted({i for c in page.items for i in (c.entity_id, c.holder_id)})
            names = {r.id: f"{r.kind.value}/{r.key}" for r in await store.entities(ids) if r}
        rows = [
            (
                c,
                names.get(c.entity_id, f"#{c.entity_id}"),
                names.get(c.holder_id, f"#{c.holder_id}"),
            )
            for c in page.items
        ]
        return rows, page.has_next

    rows, more = _run(work)
    if as_json:
        for c, entity, holder in rows:
            line = {
                "seq": c.seq,
                "at": c.at.isoformat(),
                "kind": c.kind.value,
                "identifierType": c.id_type,
                "value": c.value,
                "entity": entity,
                "holder": holder,
                "itemKey": c.item_key,
                "source": c.source,
                "runId": c.run_id,
                "state": c.state.value,
                "closedAt": c.closure.at.isoformat() if c.closure else None,
                "closedBy": c.closure.actor if c.closure else None,
                "closeReason": c.closure.reason if c.closure else None,
            }
            sys.stdout.write(json.dumps(line) + "\n")
        return
    table = Table(title="identity conflicts", show_header=True, header_style="bold")
    columns = ("seq", "at", "identifier", "item (identified as)", "kept by", "source", "state")
    for column in columns:
        table.add_column(column)
    for c, entity, holder in rows:
        closed = c.closure
        table.add_row(
            str(c.seq),
            c.at.isoformat(timespec="seconds"),
            escape(f"{c.id_type}={c.value}"),
            escape(f"{c.item_key} ({entity})"),
            escape(holder),
            escape(c.source + (f" run {c.run_id}" if c.run_id else "")),
            c.state.value
            if closed is None
            else escape(f"{c.state.value} by {closed.actor}: {closed.reason}"),
        )
    out.print(table)
    if more:
        err.print(f"more: --after {rows[-1][0].seq}", highlight=False)


@conflicts_app.command("dismiss")
def conflicts_dismiss(
    seq: Annotated[int, typer.Argument(min=1, help="The conflict's seq (from the listing).")],
    reason: Annotated[
        str, typer.Option("--reason", help=f"Why it is no problem (1 to {MAX_REASON} chars).")
    ],
) -> None:
    """Dismiss an open identity conflict with a reason (local store, actor cli).

    It stays listed, as dismissed with the reason, the actor and the time; both
    its entities get a conflict_dismissed history event. A conflict closed
    already exits 1; an empty or too long reason exits 2.
    """
    settings = _settings()

    async def work() -> IdentityConflict:
        store = store_from_settings(settings)
        async with store:
            steward = IdentityStewardship(store, _policy(settings))
            return await steward.dismiss_conflict(seq, reason, actor="cli")

    conflict = _run(work)
    out.print(f"identity conflict {conflict.seq} dismissed", highlight=False)


@app.command("merge")
def merge(
    kind: Annotated[str, typer.Argument(help="The entities' kind (Service, SERVICE, …).")],
    survivor_key: Annotated[str, typer.Argument(help="The key of the entity that remains.")],
    other_key: Annotated[str, typer.Argument(help="The key of the entity merged into it.")],
) -> None:
    """Merge one entity into another of the same kind (local store, actor cli).

    Recorded like an ingest merge: the other's key becomes an alias of the
    survivor, its identifiers and other fields are folded in, its relations
    move, and the history gets merged/merged_into events (source
    admin). The open identity conflicts between the two become resolved.
    An alias, an unknown key, a retired entity exit 1; the same key twice exits 2.
    """
    entity_kind = _entity_kind(kind)
    settings = _settings()

    async def work() -> MergeResult:
        store = store_from_settings(settings)
        async with store:
            steward = IdentityStewardship(store, _policy(settings))
            survivor = await steward.entity_by_key(entity_kind, survivor_key, role="survivor")
            other = await steward.entity_by_key(entity_kind, other_key, role="other")
            return await steward.merge_entities(survivor, other, actor="cli")

    result = _run(work)
    resolved = ", ".join(map(str, result.resolved_conflicts)) or "none"
    out.print(
        escape(
            f"merged {entity_kind.value}/{result.merged_key} into {entity_kind.value}/"
            f"{survivor_key}: {result.relations_moved} relation(s) moved, "
            f"{result.relations_dropped} dropped; conflicts resolved: {resolved}"
        ),
        highlight=False,
    )


def _entity_kind(text: str) -> EntityKind:
    """The kind a CLI argument names (``Service``, ``SERVICE``, ``service``), or exit 2."""
    for kind in EntityKind:
        if text.lower() in (kind.value.lower(), kind.name.lower()):
            return kind
    kinds = ", ".join(k.value for k in EntityKind)
    raise _fail(f"{text[:60]!r} is not a kind; kinds are {kinds}", 2)


def _path_text(steps: Sequence[PathStep]) -> str:
    """A path as ``a -TYPE-> b`` steps, each relation as stored."""
    return "; ".join(f"{s.from_.key} {s.type.value} {s.to.key}" for s in steps)


@app.command("spof")
def spof(
    kind: Annotated[str, typer.Argument(help="The entity's kind (Service or ConfigurationItem).")],
    key: Annotated[str, typer.Argument(help="Its key (or an alias).")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Read the graph as it was then (ISO 8601; no zone: UTC)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The answer as REST writes it.")] = False,
) -> None:
    """List the single points of failure of a service.

    The entities whose failure alone makes it DOWN (impact of that one entity
    marks it DOWN: redundancy groups honoured, PRODUCT.md 4.2), nearest first,
    each with one path to the service. The store is opened read-only. An
    unknown kind or key exits with code 2.
    """
    from graphsvc.analysis.spof import SinglePoints, single_points_of_failure

    moment = _as_of(as_of)
    wanted = _entity_kind(kind)
    settings = _settings()

    async def work() -> SinglePoints:
        store = store_from_settings(settings, read_only=True)
        async with store:
            found = (await store.resolve([(wanted, key)]))[0]
            if found is None:
                raise _fail(f"no {wanted.value} has the key or alias {key!r}", 2)
            return await single_points_of_failure(store, found, as_of=moment)

    answer = _run(work)
    if as_json:
        sys.stdout.write(_answer_json(answer))
        return
    table = Table(
        title=f"single points of failure of {answer.service.kind.value}/{answer.service.key}",
        show_header=True,
        header_style="bold",
    )
    for column in ("depth", "entity", "stale", "path (relations as stored)"):
        table.add_column(column)
    for p in answer.points:
        table.add_row(
            str(p.depth),
            escape(f"{p.entity.kind.value}/{p.entity.key}"),
            "stale" if p.stale else "",
            escape(_path_text(p.path)),
        )
    out.print(table)
    err.print(
        f"{len(answer.points)} single point(s) among {answer.dependencies} dependencies",
        highlight=False,
    )


@app.command("cycles")
def cycles(
    first: Annotated[
        int, typer.Option("--first", min=0, max=100_000, help="How many groups.")
    ] = 50,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Read the graph as it was then (ISO 8601; no zone: UTC)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The answer as REST writes it.")] = False,
) -> None:
    """List the dependency cycles of the whole graph.

    Groups of services and CIs that depend on each other in a circle (over the
    impact-carrying relations), largest first, each with its members and one
    cycle as a path. The store is opened read-only.
    """
    from graphsvc.analysis.cycles import CycleGroupPage, cycle_page, dependency_cycles

    moment = _as_of(as_of)
    settings = _settings()

    async def work() -> CycleGroupPage:
        store = store_from_settings(settings, read_only=True)
        async with store:
            report = await dependency_cycles(store, as_of=moment)
        return cycle_page(report, first=first, after=None)

    page = _run(work)
    if as_json:
        sys.stdout.write(_answer_json(page))
        return
    table = Table(title="dependency cycles", show_header=True, header_style="bold")
    for column in ("size", "members", "one cycle (relations as stored)"):
        table.add_column(column)
    for group in page.groups:
        shown = ", ".join(f"{m.kind.value}/{m.key}" for m in group.members[:10])
        more = f" and {len(group.members) - 10} more" if len(group.members) > 10 else ""
        path = escape(_path_text(group.cycle))
        table.add_row(str(len(group.members)), escape(shown + more), path)
    out.print(table)
    err.print(
        f"{page.total} group(s), {page.entities} entities in a cycle, "
        f"{page.relations:,} impact-carrying relations looked at"
        + (f"; {page.total - len(page.groups)} more (--first)" if page.has_next_page else ""),
        highlight=False,
    )


events_app = typer.Typer(help="The event feed: follow it, prune it.", no_args_is_help=True)
app.add_typer(events_app, name="events")


def _event_line(event: dict[str, object]) -> str:
    """One event as one readable line."""
    changes = event.get("changes")
    fields = ", ".join(
        str(c.get("field"))
        for c in (changes if isinstance(changes, list) else [])
        if isinstance(c, dict)
    )
    actor = f" ({escape(str(event['actor']))})" if event.get("actor") else ""
    run = f" run {escape(str(event['runId']))}" if event.get("runId") else ""
    return (
        f"[dim]{escape(str(event.get('at')))}[/] [cyan]#{event.get('seq')}[/] "
        f"[bold]{escape(str(event.get('op')))}[/] {escape(str(event.get('item')))} "
        f"{event.get('itemId')} by [green]{escape(str(event.get('source')))}[/]{actor}{run}"
        + (f": {escape(fields)}" if fields else "")
    )


@events_app.command("tail")
def events_tail(
    url: Annotated[
        str,
        typer.Option(envvar="GRAPHSVC_URL", show_envvar=True, help="The graphsvc to follow."),
    ] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None,
        typer.Option(envvar="GRAPHSVC_TOKEN", show_envvar=True, help="API token (scope read)."),
    ] = None,
    after: Annotated[
        int | None,
        typer.Option(min=0, help="Start after this seq (0: the whole feed); default: from now."),
    ] = None,
    kind: Annotated[
        list[str] | None, typer.Option(help="Only events of entities of this kind; repeat.")
    ] = None,
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", help="Only events of relations of this type; repeat."),
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option(help="Only events made by this source; repeat.")
    ] = None,
    exclude_source: Annotated[
        list[str] | None, typer.Option(help="No event made by this source; repeat.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (NDJSON).")
    ] = False,
) -> None:
    """Print the event feed of a running graphsvc as it happens, one line per event.

    Follows GET /api/v1/events with a long poll; after a dropped connection or a
    server restart it goes on after the last event it printed. Ctrl-C ends it
    (exit code 0). Exit code 2 for a bad URL, token or filter, 1 when the server
    no longer holds the events after --after (they were pruned).
    """
    filters = TailFilter(
        kinds=kind or (),
        types=type_ or (),
        sources=source or (),
        exclude_sources=exclude_source or (),
    )

    def show(event: dict[str, object]) -> None:
        if as_json:
            sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        else:
            out.print(_event_line(event), highlight=False, soft_wrap=True)
            out.file.flush()  # a pipe too sees each event as it comes

    def retrying(why: str, pause: float) -> None:
        err.print(f"[yellow]{escape(why)}; again in {pause:g} s[/]", highlight=False)

    try:
        _run(
            lambda: tail_events(url, token, filters, after=after, on_event=show, on_retry=retrying)
        )
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@events_app.command("prune")
def events_prune(
    keep_days: Annotated[
        float | None, typer.Option(min=0, help="Remove events older than this many days.")
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(help="Remove events committed before this time (ISO 8601, UTC if no zone)."),
    ] = None,
    keep: Annotated[
        int | None, typer.Option(min=0, help="Keep at most about this many newest events.")
    ] = None,
) -> None:
    """Remove old events from the local store's history (event retention), in short batches.

    Removes the oldest events only, never the newest one. Per-item history then
    begins at the oldest event kept, and attribute values read as of an earlier
    time are those of that time. Feed readers with an older cursor get 410 Gone.
    A server started with GRAPHSVC_EVENT_RETENTION_DAYS or _MAX prunes by itself.
    """
    settings = _settings()
    cut = _moment(before, "--before") if before is not None else None
    if keep_days is not None:
        by_age = datetime.now(UTC) - timedelta(days=keep_days)
        cut = by_age if cut is None else max(cut, by_age)
    if cut is None and keep is None:
        raise _fail("say what to remove: --keep-days, --before or --keep", 2)

    async def work() -> PruneTotal:
        store = store_from_settings(settings)
        async with store:
            return await prune_in_batches(
                functools.partial(store.prune_events, before=cut, keep=keep), pause=0.01
            )

    done = _run(work)
    out.print(
        f"removed {done.removed:,} events in {done.batches} batch(es); "
        f"the oldest event held is now seq {done.oldest_seq}",
        highlight=False,
    )


@app.command("importers")
def importers() -> None:
    """List the importers this installation knows."""
    for name, target in sorted(available_importers().items()):
        out.print(f"{name:15} {target}")


def main() -> None:  # pragma: no cover - console entry point
    """Run the CLI."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
