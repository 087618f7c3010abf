"""Importing into a running graphsvc over HTTP: the remote :class:`BatchSink`.

``graphsvc import FORMAT PATH... --url URL --token TOKEN`` parses and checks
everything locally exactly as the local import does (:func:`run_import`), then
talks to the service's REST API instead of opening the store:

==========================  =================================================
step                        request
==========================  =================================================
dangling relations          ``POST /api/v1/entities/resolve`` (read scope), in
                            chunks of 10,000 references: a relation whose
                            endpoint is neither in the import nor on the
                            server is dropped with a warning, as locally
start the run               ``POST /api/v1/runs`` (write scope)
each batch                  ``POST /api/v1/ingest`` (one JSON batch with the
                            run id, applied atomically by the server)
finish the run              ``POST /api/v1/runs/{runId}/finish``
==========================  =================================================

The endpoints are resolved before the run starts, so a bad token or URL fails
before anything is written. Between that check and the batches another
writer could remove an endpoint; the server then rejects that batch (422),
naming the relation, and the run is finished incomplete.

Errors become graphsvc errors, so the CLI maps them to exit codes:

* the service cannot be reached (connection refused, DNS, timeout), answers
  5xx, or answers something that is not graphsvc ->
  :class:`~graphsvc.errors.StoreUnavailable` / :class:`~graphsvc.errors.StoreError`
  (exit code 3);
* 401 (no or invalid token), 403 (scope too small, or no tokens configured and
  not on loopback), 400/404/409/413/415 -> :class:`~graphsvc.errors.InvalidInput`
  (exit code 2);
* 422 with a problem document listing items -> :class:`~graphsvc.errors.BatchRejected`
  naming every offending item (exit code 2).

Every message names the request (method, URL, and the batch number for
ingest) and the server's own ``detail``.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx
import orjson

import graphsvc
from graphsvc.errors import (
    BatchRejected,
    InvalidInput,
    ItemError,
    StoreError,
    StoreUnavailable,
)
from graphsvc.ingest.results import IngestSummary, PlannedChange, UnappliedWrite
from graphsvc.ingest.runner import BatchSink
from graphsvc.model.batch import EntityRef, IngestBatch
from graphsvc.model.records import RunState

__all__ = ["RESOLVE_CHUNK", "RemoteSink", "normalise_url"]

RESOLVE_CHUNK = 10_000
"""References per ``POST /entities/resolve`` (the server's limit)."""

_API = "/api/v1"


def normalise_url(url: str) -> str:
    """Return the service's base URL: no trailing ``/``, no ``/api/v1`` suffix.

    Raises:
        InvalidInput: when ``url`` is not an absolute ``http`` or ``https`` URL.
    """
    base = url.strip().rstrip("/")
    if base.endswith(_API):
        base = base[: -len(_API)].rstrip("/")
    try:
        parsed = httpx.URL(base)
    except httpx.InvalidURL as exc:
        msg = f"--url {url!r} is not a URL: {exc}"
        raise InvalidInput(msg) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        msg = f"--url {url!r} must be an http:// or https:// URL of a graphsvc service"
        raise InvalidInput(msg)
    return base


class RemoteSink(BatchSink):
    """Sends an import run's batches to a served graphsvc (see the module docstring).

    Use it as an async context manager: it holds one HTTP connection pool for
    the whole run and closes it on exit.

    Args:
        url: The service's base URL (``http://host:port``; a trailing
            ``/api/v1`` is accepted).
        token: An API token (``gsv_…``) with scope ``write`` or ``admin``;
            ``None`` for a service without tokens (loopback only).
        timeout: Seconds to wait for one answer (connecting: at most 10).
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = 300.0,
    ) -> None:
        self.url = normalise_url(url)
        headers = {
            "User-Agent": f"graphsvc-cli/{graphsvc.__version__}",
            "Accept": "application/json, application/problem+json",
        }
        if token:
            headers["Authorization"] = f"Bearer {token.strip()}"
        self._client = httpx.AsyncClient(
            base_url=self.url + _API,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )
        self._batches = 0

    async def __aenter__(self) -> RemoteSink:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    # ------------------------------------------------------------------ BatchSink

    async def exists(self, refs: Sequence[EntityRef]) -> list[bool]:
        """Resolve the references on the server, in chunks of :data:`RESOLVE_CHUNK`."""
        out: list[bool] = []
        for start in range(0, len(refs), RESOLVE_CHUNK):
            chunk = refs[start : start + RESOLVE_CHUNK]
            body = b'{"refs":[' + b",".join(r.model_dump_json().encode() for r in chunk) + b"]}"
            answer = await self._post("/entities/resolve", body, what="resolving endpoints")
            ids = answer.get("ids")
            if not isinstance(ids, list) or len(ids) != len(chunk):
                raise self._not_graphsvc("/entities/resolve", "an answer without ids for each ref")
            out.extend(i is not None for i in ids)
        return out

    async def start_run(self, source: str, scope: str) -> str:
        """Open the run on the server."""
        body = orjson.dumps({"source": source, "scope": scope})
        answer = await self._post("/runs", body, what="starting the run")
        run_id = answer.get("runId")
        if not isinstance(run_id, str):
            raise self._not_graphsvc("/runs", "an answer without runId")
        self._batches = 0
        return run_id

    async def send(self, batch: IngestBatch) -> IngestSummary:
        """Post one batch; the server applies it atomically."""
        self._batches += 1
        answer = await self._post(
            "/ingest", batch.model_dump_json().encode(), what=f"batch {self._batches}"
        )
        return _summary(answer)

    async def finish_run(self, run_id: str, *, complete: bool) -> IngestSummary:
        """Finish the run on the server."""
        body = orjson.dumps({"complete": complete})
        answer = await self._post(
            f"/runs/{run_id}/finish",
            body,
            what="finishing the run" + ("" if complete else " as incomplete"),
        )
        return _summary(answer)

    # ------------------------------------------------------------------ HTTP

    async def _post(self, path: str, body: bytes, *, what: str) -> dict[str, Any]:
        where = f"POST {self.url}{_API}{path} ({what})"
        try:
            response = await self._client.post(
                path, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.TimeoutException as exc:
            msg = f"{where}: no answer in time ({type(exc).__name__}); is graphsvc overloaded?"
            raise StoreUnavailable(msg) from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            msg = f"cannot reach graphsvc at {self.url}: {reason} ({where})"
            raise StoreUnavailable(msg) from None
        document = _json(response)
        if response.is_success:
            if not isinstance(document, dict):
                raise self._not_graphsvc(path, f"{response.status_code} without a JSON object")
            return document
        raise _error(response, document, where)

    def _not_graphsvc(self, path: str, what: str) -> StoreError:
        return StoreError(
            f"POST {self.url}{_API}{path}: the server answered {what}; "
            f"is {self.url} a graphsvc service?"
        )


def _json(response: httpx.Response) -> object:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


_HINTS = {
    401: "pass a valid API token with --token or GRAPHSVC_TOKEN",
    403: "importing needs a token with scope write or admin",
    413: "send smaller batches with --batch-size",
}


def _error(response: httpx.Response, document: object, where: str) -> Exception:
    """Turn an error answer into the graphsvc error the CLI maps to an exit code."""
    status = response.status_code
    problem = document if isinstance(document, dict) else {}
    title = problem.get("title") or response.reason_phrase or "error"
    detail = problem.get("detail")
    if not isinstance(detail, str) or not detail:
        text = response.text.strip().replace("\n", " ")
        detail = text[:200] if text else "(no detail)"
    items = [_item(e) for e in problem.get("errors") or [] if isinstance(e, dict)]
    if status == 422 and items:
        # the server's detail already names the offending items; keep them all
        return BatchRejected(items, origin=f"{where}: rejected by the server")
    message = f"{where}: {status} {title}: {detail}"
    hint = _HINTS.get(status)
    if hint:
        message += f" ({hint})"
    if status >= 500 or not isinstance(document, dict):
        if status == 404 and not isinstance(document, dict):
            message += "; is this the URL of a graphsvc service?"
        return StoreUnavailable(message) if status in (502, 503, 504) else StoreError(message)
    if items:
        message += ": " + "; ".join(i.describe() for i in items[:5])
    return InvalidInput(message)


def _item(raw: dict[str, Any]) -> ItemError:
    index = raw.get("index")
    return ItemError(
        str(raw.get("section") or ""),
        index if isinstance(index, int) else None,
        str(raw.get("key") or ""),
        str(raw.get("field") or ""),
        str(raw.get("reason") or ""),
    )


def _count(answer: dict[str, Any], name: str) -> int:
    value = answer.get(name, 0)
    return value if isinstance(value, int) else 0


def _summary(answer: dict[str, Any]) -> IngestSummary:
    """Read a ``SummaryOut`` document back into an :class:`IngestSummary`."""
    state = answer.get("runState")
    run_id = answer.get("runId")
    changes = tuple(
        PlannedChange(
            str(c.get("op", "")),
            str(c.get("item", "")),
            str(c.get("label", "")),
            tuple(str(f) for f in c.get("fields") or ()),
        )
        for c in answer.get("changes") or ()
        if isinstance(c, dict)
    )
    return IngestSummary(
        run_id=run_id if isinstance(run_id, str) else None,
        run_state=RunState(state) if state in {s.value for s in RunState} else None,
        dry_run=answer.get("dryRun") is True,
        entities_created=_count(answer, "entitiesCreated"),
        entities_updated=_count(answer, "entitiesUpdated"),
        entities_unchanged=_count(answer, "entitiesUnchanged"),
        relations_created=_count(answer, "relationsCreated"),
        relations_updated=_count(answer, "relationsUpdated"),
        relations_unchanged=_count(answer, "relationsUnchanged"),
        merged=_count(answer, "merged"),
        revived=_count(answer, "revived"),
        retired=_count(answer, "retired"),
        marked_stale=_count(answer, "markedStale"),
        identity_conflicts=_count(answer, "identityConflicts"),
        warnings=tuple(str(w) for w in answer.get("warnings") or () if isinstance(w, str)),
        changes=changes,
        unapplied=tuple(
            _unapplied(w) for w in answer.get("unapplied") or () if isinstance(w, dict)
        ),
        unapplied_total=_count(answer, "unappliedTotal"),
    )


def _unapplied(raw: dict[str, Any]) -> UnappliedWrite:
    """Read one ``UnappliedOut`` document back."""
    return UnappliedWrite(
        item=str(raw.get("item") or ""),
        section=str(raw.get("section") or ""),
        index=_count(raw, "index"),
        label=str(raw.get("label") or ""),
        field=str(raw.get("field") or ""),
        sent=raw.get("sent"),
        kept=raw.get("kept"),
        holder=str(raw.get("holder") or ""),
        holder_priority=_count(raw, "holderPriority"),
        sender=str(raw.get("sender") or ""),
        sender_priority=_count(raw, "senderPriority"),
        reason=str(raw.get("reason") or ""),
    )
