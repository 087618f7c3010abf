"""The explorer's routes (PRODUCT.md 10): server-rendered pages over the API's own answers.

Every page reads through the same store calls and analyses as GraphQL and REST
(``GraphStore.find_entities``/``resolve``/``entities``/``relations``/``history``,
:func:`graphsvc.analysis.impact.impact`, :func:`graphsvc.analysis.ownership.ownership`,
:func:`graphsvc.report.health_report.build_health_document`, the health page in
:mod:`graphsvc.api.explorer.health_pages`): nothing is computed a
second way. The work runs in the worker loops (``Services.run``), off the event
loop, under the request's deadline like any other read.

Pages: ``/`` (home: the search box, and the interfaces in the footer), ``/search``,
``/entity/{Kind}/{key}``, ``/impact``, ``/health``, ``/sign-in`` and ``/sign-out``.
Every page takes ``asOf`` (ISO 8601 with a time zone) and keeps it in every link.

Query parameters are read here, not by FastAPI's validation, so that a bad one
is answered with an HTML page (400) naming the parameter, not a JSON problem.
HTML is written by Jinja2 templates with autoescape on: nothing from the graph
or the request reaches the page unescaped.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from graphsvc.analysis.ownership import Ownership, ownership
from graphsvc.api.auth import AuthMode
from graphsvc.api.explorer.assets import Stylesheet, stylesheet_router
from graphsvc.api.explorer.options import (
    HISTORY_ORDERS,
    relation_type_option,
    relation_types_of,
)
from graphsvc.api.explorer.picture import impact_view
from graphsvc.api.explorer.session import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Session,
    SessionBook,
    same_secret,
)
from graphsvc.api.pages import STATIC_PREFIX
from graphsvc.api.rest import Services
from graphsvc.api.tokens import Scope
from graphsvc.errors import DeadlineExceeded, GraphSvcError, InvalidInput, NotFound
from graphsvc.model.records import EntityRecord, HistoryEvent, ItemKind, RelationRecord
from graphsvc.model.vocabulary import VOCABULARY, Direction, EntityKind, RelationType
from graphsvc.report.pages import EXTRA_CSS
from graphsvc.report.render_html import CSS
from graphsvc.store.base import EntityQuery, ItemRef

__all__ = ["HTMX", "STYLESHEET", "explorer_path", "explorer_router"]

HTMX = "vendor/htmx-2.0.11/htmx.min.js"
"""The one script the explorer loads (under ``/static``); every page works without it."""

PAGE_SIZE = 25
"""Rows per page of search results, relations, history and affected entities."""

MAX_TEXT = 200
"""Longest search text, key or reference accepted."""

MAX_REFS = 20
"""Most start entities one impact page takes."""

MAX_FORM_BYTES = 8192
"""Largest form body accepted (sign-in, sign-out)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_HEADERS = {
    "content-security-policy": _POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

EXPLORER_CSS = """
.skip { position:absolute; left:-9999px; }
.skip:focus { left:8px; top:8px; background:#fff; padding:6px 10px; z-index:10; }
nav.top { max-width:1160px; margin:16px auto 0; display:flex; gap:18px; align-items:center;
  flex-wrap:wrap; padding:0 8px; }
nav.top .brand { font-weight:700; }
nav.top .asof { margin-left:auto; color:var(--muted); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible,
main:focus-visible {
  outline:3px solid #2563eb; outline-offset:2px; }
form.inline { display:inline; }
form.search, form.asof-form, form.sign-in { display:flex; gap:8px; align-items:center;
  flex-wrap:wrap; margin:8px 0 16px; }
input, select, button { font:inherit; padding:4px 8px; }
ol.timeline { padding-left:20px; }
ol.timeline li { margin:4px 0; }
footer dl dt { font-weight:600; margin-top:8px; }
"""
"""Rules the explorer adds to the change report's stylesheet (same look)."""

STYLESHEET = Stylesheet.of(CSS + EXTRA_CSS + EXPLORER_CSS)
"""The pages' one stylesheet, served as a cached file (no inline style: ``style-src 'self'``)."""
_ENV = Environment(
    loader=PackageLoader("graphsvc.api.explorer", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


# --------------------------------------------------------------------- inputs


_OWN_PAGES = {
    EntityKind.CHANGE: "/change/",
    EntityKind.TEAM: "/team/",
    EntityKind.PROJECT: "/project/",
}


def explorer_path(kind: EntityKind, key: str) -> str:
    """The path of the explorer page of an entity, wherever a page names it.

    Changes, teams and projects have pages of their own (``/change/{key}``,
    ``/team/{key}``, ``/project/{key}``); other entities the entity page.
    """
    own = _OWN_PAGES.get(kind)
    quoted = quote(key, safe="")
    return f"{own}{quoted}" if own else f"/entity/{kind.value}/{quoted}"


class _SignInNeeded(Exception):
    """The request needs a session (tokens mode) and has none."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What every page knows about its request.

    Attributes:
        root: The app's ``root_path`` (without a trailing slash).
        as_of: The time the graph is read at (``None``: now).
        session: The signed-in session (``None`` in local mode or with a bearer token).
        tokens_mode: Whether the server runs in ``tokens`` mode (sign-out is shown).
    """

    root: str
    as_of: datetime | None
    session: Session | None
    tokens_mode: bool

    def href(self, path: str, **params: object) -> str:
        """A link to ``path`` under the root with ``params`` and ``asOf``.

        ``None`` and empty values are left out; a list or tuple value repeats
        its parameter once per item (``ref=a&ref=b``).
        """
        query: list[tuple[str, str]] = []
        for name, value in params.items():
            values = value if isinstance(value, list | tuple) else [value]
            query += [(name, str(v)) for v in values if v is not None and v != ""]
        if self.as_of is not None:
            query.append(("asOf", self.as_of.isoformat()))
        return self.root + path + ("?" + urlencode(query) if query else "")

    @staticmethod
    def entity_path(record: EntityRecord) -> str:
        """The path of the entity page of ``record`` (its key percent-encoded)."""
        return f"/entity/{record.kind.value}/{quote(record.key, safe='')}"

    def entity_href(self, record: EntityRecord, **params: object) -> str:
        """A link to the entity page of ``record`` (with ``params`` and ``asOf``)."""
        return self.href(self.entity_path(record), **params)

    @staticmethod
    def page_path(kind: EntityKind, key: str) -> str:
        """The path of the page that names an entity (:func:`explorer_path`)."""
        return explorer_path(kind, key)

    def page_href(self, record: EntityRecord) -> str:
        """A link to the page that names ``record`` (:meth:`page_path`, with ``asOf``)."""
        return self.href(self.page_path(record.kind, record.key))


def _param(request: Request, name: str, *, most: int = MAX_TEXT) -> str | None:
    """One query parameter, refused (400) when repeated, too long or holding control characters."""
    values = request.query_params.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        msg = f"query parameter {name} is given {len(values)} times; give it once"
        raise InvalidInput(msg)
    value = values[0]
    if len(value) > most:
        msg = f"query parameter {name} is longer than {most} characters"
        raise InvalidInput(msg)
    if _CONTROL.search(value):
        msg = f"query parameter {name} holds a control character"
        raise InvalidInput(msg)
    return value


def _count(request: Request, name: str, most: int = 2**62) -> int | None:
    """A non-negative integer parameter (a cursor or a depth)."""
    text = _param(request, name, most=20)
    if text is None or text == "":
        return None
    if not text.isdecimal() or int(text) > most:
        msg = f"query parameter {name} must be a whole number from 0 to {most}, not {text!r}"
        raise InvalidInput(msg)
    return int(text)


def _as_of(request: Request) -> datetime | None:
    """``asOf``: ISO 8601 with a time zone (400 otherwise)."""
    text = _param(request, "asOf", most=40)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        msg = f"asOf {text!r} is not an ISO 8601 time (for example 2030-01-07T09:00:00Z)"
        raise InvalidInput(msg)
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = f"asOf {text!r} has no time zone; add Z or an offset such as +00:00"
        raise InvalidInput(msg)
    return moment


def _kind(text: str) -> EntityKind:
    """The kind a spelling names (``Service`` or ``SERVICE``, any case); 400 otherwise."""
    for kind in EntityKind:
        if text.lower() in (kind.value.lower(), kind.name.lower()):
            return kind
    msg = f"{text[:60]!r} is not a kind; kinds are " + ", ".join(k.value for k in EntityKind)
    raise InvalidInput(msg)


def _local_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site, else ``/``."""
    if value is None:
        return "/"
    local = value.startswith("/") and not value.startswith("//")
    if local and "\\" not in value and not _CONTROL.search(value) and len(value) <= 2000:
        return value
    return "/"


# --------------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class SearchView:
    """A page of search results: by key or name, and every entity holding ``q`` as identifier."""

    text: str
    kind: EntityKind | None
    items: tuple[EntityRecord, ...]
    by_identifier: tuple[EntityRecord, ...]
    total: int
    total_is_lower_bound: bool
    next_after: int | None


@dataclass(frozen=True, slots=True)
class RelationRow:
    """One relation of an entity, with the entity at its other end."""

    relation: RelationRecord
    other: EntityRecord | None


@dataclass(frozen=True, slots=True)
class RelationsView:
    """One page of an entity's relations in one direction."""

    direction: Direction
    rows: tuple[RelationRow, ...]
    total: int
    next_after: int | None


@dataclass(frozen=True, slots=True)
class EntityView:
    """What the entity page shows."""

    entity: EntityRecord
    outgoing: RelationsView
    incoming: RelationsView
    owners: Ownership
    history: tuple[HistoryEvent, ...]
    history_total: int
    history_next: int | None
    history_after_as_of: int


async def _search(
    svc: Services, text: str, kind: EntityKind | None, after: int | None, as_of: datetime | None
) -> SearchView:
    store = svc.store
    query = EntityQuery(kind=kind, text=text or None)
    page = await store.find_entities(query, first=PAGE_SIZE, after=after, as_of=as_of)
    items = page.items
    holders: list[int] = []
    if text and after is None:
        for k in [kind] if kind is not None else list(EntityKind):
            pairs = []
            for id_type in VOCABULARY.identifiers:
                try:
                    pairs.append((id_type, VOCABULARY.normalize_identifier(id_type, text)))
                except (ValueError, InvalidInput):
                    continue
            for found in await store.resolve_identifiers(k, pairs):
                holders.extend(found)
    by_identifier: tuple[EntityRecord, ...] = ()
    if holders:
        records = await store.entities(sorted(set(holders)), as_of=as_of)
        by_identifier = tuple(r for r in records if r is not None)
    return SearchView(
        text=text,
        kind=kind,
        items=tuple(items),
        by_identifier=by_identifier,
        total=page.total,
        total_is_lower_bound=page.total_is_lower_bound,
        next_after=page.end_cursor if page.has_next else None,
    )


async def _relations(
    svc: Services,
    entity_id: int,
    direction: Direction,
    after: int | None,
    as_of: datetime | None,
    only: RelationType | None = None,
) -> RelationsView:
    page = await svc.store.relations(
        entity_id,
        direction,
        types=frozenset({only}) if only is not None else None,
        first=PAGE_SIZE,
        after=after,
        as_of=as_of,
    )
    others = [r.to_id if direction is Direction.OUT else r.from_id for r in page.items]
    records = await svc.store.entities(others, as_of=as_of) if others else []
    return RelationsView(
        direction=direction,
        rows=tuple(RelationRow(r, o) for r, o in zip(page.items, records, strict=True)),
        total=page.total,
        next_after=page.end_cursor if page.has_next else None,
    )


async def _entity(
    svc: Services,
    kind: EntityKind,
    key: str,
    as_of: datetime | None,
    cursors: Mapping[str, int | None],
    only: Mapping[Direction, RelationType | None] | None = None,
    newest_first: bool = False,
) -> EntityView:
    store = svc.store
    [found] = await store.resolve([(kind, key)], as_of=as_of)
    record = None if found is None else (await store.entities([found], as_of=as_of))[0]
    if found is None or record is None:
        when = f" at {as_of.isoformat()}" if as_of else ""
        msg = f"no {kind.value} has the key or alias {key[:80]!r}{when}"
        raise NotFound(msg)
    history = await store.history(
        ItemRef(ItemKind.ENTITY, record.id),
        first=PAGE_SIZE,
        after=cursors["history"],
        newest_first=newest_first,
    )
    only = only or {}
    events = history.items
    later = 0
    if as_of is not None:
        kept = tuple(e for e in events if e.at <= as_of)
        later, events = len(events) - len(kept), kept
    return EntityView(
        entity=record,
        outgoing=await _relations(
            svc, record.id, Direction.OUT, cursors["out"], as_of, only.get(Direction.OUT)
        ),
        incoming=await _relations(
            svc, record.id, Direction.IN, cursors["in"], as_of, only.get(Direction.IN)
        ),
        owners=await ownership(store, record.id, as_of=as_of),
        history=events,
        history_total=history.total,
        history_next=history.end_cursor if history.has_next else None,
        history_after_as_of=later,
    )


# --------------------------------------------------------------------- pages


def _render(template: str, page: PageRequest, status: int = 200, **context: Any) -> HTMLResponse:
    text = _ENV.get_template(template).render(
        page=page,
        static=page.root + STATIC_PREFIX,
        htmx=HTMX,
        stylesheet=page.root + STYLESHEET.path,
        status=status,
        **context,
    )
    return HTMLResponse(text, status_code=status, headers=_HEADERS)


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def explorer_router(*, development: bool, book: SessionBook | None = None) -> APIRouter:
    """Return the explorer's routes (``/`` included).

    Args:
        development: Whether the footer links GraphiQL and ``/docs`` (served in development only).
        book: Where sessions are kept (a new one by default).
    """
    sessions = book or SessionBook()
    router = APIRouter(include_in_schema=False)
    router.include_router(stylesheet_router(STYLESHEET))

    def services(request: Request) -> Services:
        found: Services = request.app.state.services
        return found

    def tokens_mode(request: Request) -> bool:
        return services(request).auth.mode is AuthMode.TOKENS

    async def who(request: Request) -> Session | None:
        """Check the caller may read; return its session (``None``: local mode or bearer)."""
        svc = services(request)
        if svc.auth.mode is AuthMode.LOCAL or request.headers.get("authorization"):
            await anyio.to_thread.run_sync(svc.auth.principal, request, Scope.READ)
            return None
        session = sessions.find(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise _SignInNeeded
        principal = await anyio.to_thread.run_sync(svc.auth.tokens.verify, session.token)
        if principal is None or not principal.allows(Scope.READ):
            sessions.close(request.cookies.get(SESSION_COOKIE))
            raise _SignInNeeded
        return session

    async def serve(
        request: Request, build: Callable[[PageRequest], Awaitable[Response]]
    ) -> Response:
        """Authenticate, read ``asOf``, build the page; errors become HTML pages."""
        base = PageRequest(_root(request), None, None, tokens_mode(request))
        try:
            session = await who(request)
            page = PageRequest(base.root, _as_of(request), session, base.tokens_mode)
            return await build(page)
        except _SignInNeeded:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(
                base.root + "/sign-in?" + urlencode({"next": target}),
                status_code=303,
                headers=_HEADERS,
            )
        except HTTPException as exc:
            return _render("error.html", base, exc.status_code, detail=str(exc.detail))
        except (InvalidInput, NotFound, DeadlineExceeded) as exc:
            status = 400 if isinstance(exc, InvalidInput) else 404
            if isinstance(exc, DeadlineExceeded):
                status = 503
            return _render("error.html", base, status, detail=str(exc))
        except GraphSvcError as exc:  # the store is away: say so, as a page
            return _render("error.html", base, 503, detail=f"the graph cannot be read now: {exc}")

    @router.api_route("/", methods=["GET", "HEAD"])
    async def home(request: Request) -> Response:
        """The search box; no graph data (it answers without a session, showing sign-in)."""
        page = PageRequest(_root(request), None, None, tokens_mode(request))
        session = sessions.find(request.cookies.get(SESSION_COOKIE))
        signed_out = page.tokens_mode and session is None
        return _render(
            "home.html", page, development=development, signed_out=signed_out, kinds=EntityKind
        )

    @router.get("/search")
    async def search(request: Request) -> Response:
        async def build(page: PageRequest) -> HTMLResponse:
            text = (_param(request, "q") or "").strip()
            kind_text = _param(request, "kind", most=40)
            kind = _kind(kind_text) if kind_text else None
            after = _count(request, "after")
            svc = services(request)
            view = await svc.run(lambda: _search(svc, text, kind, after, page.as_of))
            return _render("search.html", page, view=view, kinds=EntityKind)

        return await serve(request, build)

    @router.get("/entity/{kind}/{key:path}")
    async def entity(request: Request, kind: str, key: str) -> Response:
        async def build(page: PageRequest) -> HTMLResponse:
            if len(key) > 1000 or not key or _CONTROL.search(key):
                msg = "the key in the address is empty, too long or holds a control character"
                raise InvalidInput(msg)
            the_kind = _kind(kind)
            cursors = {n: _count(request, n) for n in ("out", "in", "history")}
            only = {
                d: relation_type_option(_param(request, name, most=40), the_kind, d, name)
                for d, name in ((Direction.OUT, "outType"), (Direction.IN, "inType"))
            }
            order = _param(request, "historyOrder", most=20) or HISTORY_ORDERS[0]
            if order not in HISTORY_ORDERS:
                msg = f"query parameter historyOrder must be newest or oldest, not {order!r}"
                raise InvalidInput(msg)
            newest = order == "newest"
            svc = services(request)
            view = await svc.run(
                lambda: _entity(svc, the_kind, key, page.as_of, cursors, only, newest)
            )
            keep: dict[str, object] = {
                **cursors,
                "outType": only[Direction.OUT],
                "inType": only[Direction.IN],
                "historyOrder": None if newest else order,
            }
            choices = {d.value: relation_types_of(the_kind, d) for d in Direction}
            return _render(
                "entity.html", page, view=view, cursors=keep, choices=choices, newest=newest
            )

        return await serve(request, build)

    @router.get("/impact")
    async def impact_page(request: Request) -> Response:
        async def build(page: PageRequest) -> HTMLResponse:
            texts = request.query_params.getlist("ref")
            if not texts or len(texts) > MAX_REFS:
                msg = f"name 1 to {MAX_REFS} entities as ref=Kind/key (for example Service/billing)"
                raise InvalidInput(msg)
            refs = []
            for text in texts:
                kind, slash, key = text.partition("/")
                if not slash or not key or len(text) > 1000 or _CONTROL.search(text):
                    msg = f"ref {text[:80]!r} is not Kind/key (for example Service/billing)"
                    raise InvalidInput(msg)
                refs.append((_kind(kind), key))
            max_depth = _count(request, "maxDepth", most=10_000)
            after = _param(request, "after", most=40)
            svc = services(request)
            view = await svc.run(
                lambda: impact_view(svc, refs, max_depth, after or None, page, page_size=PAGE_SIZE)
            )
            return _render(
                "impact.html",
                page,
                answer=view.answer,
                view=view,
                refs=texts,
                max_depth=max_depth,
            )

        return await serve(request, build)

    from graphsvc.api.explorer.change_pages import change_router  # imports this module
    from graphsvc.api.explorer.health_pages import health_router  # imports this module
    from graphsvc.api.explorer.team_pages import team_pages  # here: it imports this module

    router.include_router(change_router(serve))
    router.include_router(team_pages(serve, services))
    router.include_router(health_router(serve))

    # ----------------------------------------------------------------- sign-in

    def sign_in_form(request: Request, status: int = 200, problem: str | None = None) -> Response:
        page = PageRequest(_root(request), None, None, tokens_mode(request))
        csrf = request.cookies.get(CSRF_COOKIE) or ""
        if not re.fullmatch(r"[A-Za-z0-9_-]{43}", csrf):
            from secrets import token_urlsafe

            csrf = token_urlsafe(32)
        answer = _render(
            "sign_in.html",
            page,
            status,
            csrf=csrf,
            next=_local_next(request.query_params.get("next")),
            problem=problem,
        )
        answer.set_cookie(
            CSRF_COOKIE,
            csrf,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path=page.root or "/",
        )
        return answer

    async def form(request: Request) -> dict[str, str]:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                msg = f"the form is larger than {MAX_FORM_BYTES} bytes"
                raise InvalidInput(msg)
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
        return {k: v[0] for k, v in fields.items() if len(v) == 1}

    @router.get("/sign-in")
    async def sign_in(request: Request) -> Response:
        if not tokens_mode(request):
            return RedirectResponse(_root(request) + "/", status_code=303, headers=_HEADERS)
        return sign_in_form(request)

    @router.post("/sign-in")
    async def sign_in_post(request: Request) -> Response:
        root = _root(request)
        if not tokens_mode(request):
            return RedirectResponse(root + "/", status_code=303, headers=_HEADERS)
        try:
            fields = await form(request)
        except (InvalidInput, ValueError) as exc:
            return sign_in_form(request, 400, str(exc))
        expected = request.cookies.get(CSRF_COOKIE) or ""
        if not expected or not same_secret(fields.get("csrf", ""), expected):
            return sign_in_form(request, 403, "the form had expired; please sign in again")
        token = fields.get("token", "").strip()
        svc = services(request)
        principal = (
            await anyio.to_thread.run_sync(svc.auth.tokens.verify, token)
            if token and len(token) <= 200
            else None
        )
        if principal is None:
            return sign_in_form(
                request, 401, "that token is not valid (unknown, revoked or expired)"
            )
        if not principal.allows(Scope.READ):
            return sign_in_form(request, 403, "that token may not read the graph")
        session_id, _session = sessions.open(token)
        answer = RedirectResponse(
            root + _local_next(fields.get("next")), status_code=303, headers=_HEADERS
        )
        answer.set_cookie(
            SESSION_COOKIE,
            session_id,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path=root or "/",
        )
        answer.delete_cookie(CSRF_COOKIE, path=root or "/")
        return answer

    @router.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        root = _root(request)
        session_id = request.cookies.get(SESSION_COOKIE)
        session = sessions.find(session_id)
        try:
            fields = await form(request)
        except (InvalidInput, ValueError):
            fields = {}
        if session is not None:
            if not same_secret(fields.get("csrf", ""), session.csrf):
                page = PageRequest(root, None, session, True)
                return _render("error.html", page, 403, detail="the sign-out form had expired")
            sessions.close(session_id)
        answer = RedirectResponse(root + "/", status_code=303, headers=_HEADERS)
        answer.delete_cookie(SESSION_COOKIE, path=root or "/")
        return answer

    return router
