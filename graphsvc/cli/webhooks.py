"""``graphsvc webhook create|list|disable|enable|delete|deliveries|resend``.

Like ``graphsvc import``: without ``--url`` a command works on the configured
store directly (the embedded file must not be held by a running server: send the
command to that server with ``--url`` instead); with ``--url`` it calls the
server's REST API (``/api/v1/webhooks``) with an admin token (``--token`` or
``GRAPHSVC_TOKEN``). ``create`` prints the secret once on standard output and
everything else on standard error, so ``SECRET=$(graphsvc webhook create …)``
keeps only the secret.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.table import Table

from graphsvc.errors import InvalidInput, NotFound, StoreUnavailable

__all__ = ["webhook_app"]

T = TypeVar("T")

webhook_app = typer.Typer(
    help="Manage webhook subscriptions to the event feed (admin).", no_args_is_help=True
)

Url = Annotated[
    str | None,
    typer.Option(help="Manage the webhooks of the graphsvc served at this URL (http://host:port)."),
]
Token = Annotated[
    str | None,
    typer.Option(envvar="GRAPHSVC_TOKEN", show_envvar=True, help="API token (scope admin)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


def _remote(url: str, token: str | None, method: str, path: str, body: Any = None) -> Any:
    """Call the server's REST API; errors become graphsvc errors (exit codes 2, 3)."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=30, headers=headers) as client:
            response = client.request(method, f"/api/v1/webhooks{path}", json=body)
    except httpx.HTTPError as exc:
        msg = f"{method} {url}: {exc}"
        raise StoreUnavailable(msg) from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text[:300]
        msg = f"{method} {url}/api/v1/webhooks{path}: {response.status_code} {detail}"
        if response.status_code >= 500:
            raise StoreUnavailable(msg)
        raise NotFound(msg) if response.status_code == 404 else InvalidInput(msg)
    return response.json() if response.content else None


def _local(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(admin)`` over the configured store, opened for the command."""
    from graphsvc.api.webhooks.admin import webhook_admin
    from graphsvc.cli.main import _run, _settings
    from graphsvc.store.factory import store_from_settings

    settings = _settings()

    async def run() -> T:
        store = store_from_settings(settings)
        async with store:

            async def direct(call: Callable[[], Awaitable[Any]]) -> Any:
                return await call()

            admin = webhook_admin(store, direct, settings)
            try:
                return await work(admin)
            finally:
                await admin.worker.sender.aclose()

    return _run(run)


def _print(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    from graphsvc.cli.main import out

    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    table = Table(show_header=True, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    out.print(table)


def _hook_rows(hooks: list[Any]) -> list[dict[str, Any]]:
    from graphsvc.api.webhooks.rest import WebhookOut

    return [WebhookOut.of(h).model_dump(mode="json", by_alias=True) for h in hooks]


def _fail_on(work: Callable[[], T]) -> T:
    from graphsvc.cli.main import _fail

    try:
        return work()
    except InvalidInput as exc:
        raise _fail(str(exc), 2) from None
    except NotFound as exc:
        raise _fail(str(exc), 1) from None
    except StoreUnavailable as exc:
        raise _fail(str(exc), 3) from None


@webhook_app.command("create")
def webhook_create(
    target: Annotated[str, typer.Argument(metavar="URL", help="Where deliveries are POSTed.")],
    kind: Annotated[
        list[str] | None, typer.Option(help="Only events of entities of this kind (repeat).")
    ] = None,
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", help="Only events of relations of this type (repeat)."),
    ] = None,
    item: Annotated[str | None, typer.Option(help="entity or relation: only those events.")] = None,
    source: Annotated[
        list[str] | None, typer.Option(help="Only events made by this source (repeat).")
    ] = None,
    exclude_source: Annotated[
        list[str] | None, typer.Option(help="No event made by this source (repeat).")
    ] = None,
    description: Annotated[str, typer.Option(help="Free text for operators.")] = "",
    after: Annotated[
        int | None,
        typer.Option(min=0, help="Deliver events after this seq (default: from now on)."),
    ] = None,
    url: Url = None,
    token: Token = None,
) -> None:
    """Subscribe a URL to the event feed and print its signing secret, once."""
    from graphsvc.api.webhooks.rest import WebhookCreateIn, WebhookOut
    from graphsvc.cli.main import _fail, err, out

    body: dict[str, Any] = {"url": target, "description": description, "after": after}
    body["filter"] = {
        "item": item,
        "kinds": kind,
        "types": type_,
        "sources": source,
        "excludeSources": exclude_source,
    }
    try:
        checked = WebhookCreateIn.model_validate(body)
    except ValueError as exc:
        raise _fail(f"invalid webhook: {exc}", 2) from None
    if url is not None:
        made = _fail_on(lambda: _remote(url, token, "POST", "", body))
        secret, shown = made["secret"], made
    else:

        async def work(admin: Any) -> tuple[Any, str]:
            created: tuple[Any, str] = await admin.create(
                checked.url,
                checked.filter.query(),
                description=checked.description,
                after=checked.after,
            )
            return created

        hook, secret = _fail_on(lambda: _local(work))
        shown = WebhookOut.of(hook).model_dump(mode="json", by_alias=True)
    err.print(
        f"created webhook {shown['id']} -> {shown['url']} (from seq {shown['cursor']}); "
        "its secret is shown only now:",
        highlight=False,
    )
    out.print(secret, highlight=False)


@webhook_app.command("list")
def webhook_list(url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """List webhooks and where their delivery stands (never their secrets)."""
    if url is not None:
        rows = _fail_on(lambda: _remote(url, token, "GET", ""))
    else:

        async def work(admin: Any) -> list[Any]:
            found: list[Any] = await admin.list()
            return found

        rows = _hook_rows(_fail_on(lambda: _local(work)))
    columns = ["id", "url", "state", "cursor", "attempts", "nextAttempt", "lastError"]
    _print(rows, columns, as_json)


def _act(action: str, webhook_id: str, url: str | None, token: str | None) -> dict[str, Any]:
    if url is not None:
        found: dict[str, Any] = _fail_on(
            lambda: _remote(url, token, "POST", f"/{webhook_id}/{action}")
        )
        return found

    async def work(admin: Any) -> Any:
        return await getattr(admin, action)(webhook_id)

    return _hook_rows([_fail_on(lambda: _local(work))])[0]


@webhook_app.command("disable")
def webhook_disable(
    webhook_id: Annotated[str, typer.Argument(metavar="ID")],
    url: Url = None,
    token: Token = None,
) -> None:
    """Stop delivering a webhook; its cursor is kept."""
    from graphsvc.cli.main import out

    out.print(f"{_act('disable', webhook_id, url, token)['id']} disabled", highlight=False)


@webhook_app.command("enable")
def webhook_enable(
    webhook_id: Annotated[str, typer.Argument(metavar="ID")],
    url: Url = None,
    token: Token = None,
) -> None:
    """Deliver a webhook again from its cursor (also one marked failing)."""
    from graphsvc.cli.main import out

    out.print(f"{_act('enable', webhook_id, url, token)['id']} enabled", highlight=False)


@webhook_app.command("delete")
def webhook_delete(
    webhook_id: Annotated[str, typer.Argument(metavar="ID")],
    url: Url = None,
    token: Token = None,
) -> None:
    """Delete a webhook and its delivery log."""
    from graphsvc.cli.main import out

    if url is not None:
        _fail_on(lambda: _remote(url, token, "DELETE", f"/{webhook_id}"))
    else:

        async def work(admin: Any) -> None:
            await admin.delete(webhook_id)

        _fail_on(lambda: _local(work))
    out.print(f"{webhook_id} deleted", highlight=False)


@webhook_app.command("deliveries")
def webhook_deliveries(
    webhook_id: Annotated[str, typer.Argument(metavar="ID")],
    first: Annotated[int, typer.Option(min=1, max=500, help="How many.")] = 50,
    after: Annotated[int | None, typer.Option(min=1, help="Only older than this number.")] = None,
    url: Url = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """List a webhook's delivery attempts, newest first."""
    from graphsvc.api.webhooks.rest import DeliveryOut

    if url is not None:
        query = f"?limit={first}" + (f"&after={after}" if after is not None else "")
        rows = _fail_on(lambda: _remote(url, token, "GET", f"/{webhook_id}/deliveries{query}"))[
            "items"
        ]
    else:

        async def work(admin: Any) -> Any:
            return await admin.deliveries(webhook_id, first=first, after=after)

        page = _fail_on(lambda: _local(work))
        rows = [DeliveryOut.of(d).model_dump(mode="json", by_alias=True) for d in page.items]
    columns = ["number", "at", "messageId", "firstSeq", "lastSeq", "attempt", "statusCode"]
    _print(rows, [*columns, "error"], as_json)


@webhook_app.command("resend")
def webhook_resend(
    webhook_id: Annotated[str, typer.Argument(metavar="ID")],
    number: Annotated[int, typer.Argument(metavar="NUMBER", help="The delivery's number.")],
    url: Url = None,
    token: Token = None,
) -> None:
    """Send a delivery's events again now, under the same webhook-id."""
    from graphsvc.api.webhooks.rest import DeliveryOut
    from graphsvc.cli.main import out

    if url is not None:
        row = _fail_on(
            lambda: _remote(url, token, "POST", f"/{webhook_id}/deliveries/{number}/resend")
        )
    else:

        async def work(admin: Any) -> Any:
            return await admin.resend(webhook_id, number)

        row = DeliveryOut.of(_fail_on(lambda: _local(work))).model_dump(mode="json", by_alias=True)
    verdict = "delivered" if row["succeeded"] else f"failed: {row['error']}"
    out.print(f"delivery {row['number']} ({row['messageId']}): {verdict}", highlight=False)
