"""The GraphQL schema: queries over entities, ingest mutations, and the limits.

:func:`build_schema` assembles the schema with the limits taken from settings,
all checked while the document is parsed and validated, before any resolver
(and so any store call) runs: query depth, aliases, tokens, directives;
introspection and field suggestions are off outside development. Page sizes
(every ``first``, literal or variable) are checked after validation and before
execution (:mod:`graphsvc.api.graphql.guards`); each connection field checks its
own again. Unexpected errors reach the client masked (see ``guards``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import strawberry
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from pydantic import ValidationError
from strawberry import relay
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
)
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info
from strawberry.types.graphql import OperationType

from graphsvc.api.graphql.analysis import AnalysisQuery, EntityRefInput, not_found
from graphsvc.api.graphql.context import GraphContext
from graphsvc.api.graphql.derive import answer_type
from graphsvc.api.graphql.events import EventsQuery, EventsSubscription
from graphsvc.api.graphql.graph_health import GraphHealthQuery
from graphsvc.api.graphql.guards import (
    BoundedExecutionContext,
    BoundedMemo,
    ClientSafeErrors,
    GuardedSchema,
    MaxDirectives,
    PageSizeGuard,
    ValidationByText,
)
from graphsvc.api.graphql.stewardship import StewardshipMutation
from graphsvc.api.graphql.types import (
    ENTITY_TYPES,
    ConflictStateEnum,
    EntityConnection,
    EntityEdge,
    EntityInterface,
    EntityKindEnum,
    IdentityConflictConnection,
    IdentityConflictEdge,
    IdentityConflictType,
    PageInfo,
    RelationNode,
    RelationTypeEnum,
    StatusEnum,
    decode_cursor,
    encode_cursor,
    entity_object,
    global_id_parts,
    page_size,
)
from graphsvc.api.graphql.webhooks import WebhooksMutation, WebhooksQuery
from graphsvc.api.graphql.work import WorkQuery
from graphsvc.api.rest import READ_ONLY_MESSAGE
from graphsvc.api.tokens import Scope
from graphsvc.config import Settings
from graphsvc.errors import BatchRejected, Conflict, GraphSvcError, InvalidInput, NotFound
from graphsvc.ingest.results import UNAPPLIED_LIMIT, IngestSummary, UnappliedWrite
from graphsvc.model.batch import IngestBatch
from graphsvc.model.records import RunRecord
from graphsvc.model.validation import parse_batch
from graphsvc.model.vocabulary import EntityKind, RelationType, Status
from graphsvc.store.base import EntityQuery

__all__ = ["GRAPHQL_DOCUMENT_CACHE", "Mutation", "Query", "build_schema"]

GRAPHQL_DOCUMENT_CACHE = 256
"""Distinct GraphQL documents whose parse and validation are kept."""


# ------------------------------------------------------------------ query types


@strawberry.input(description="Conditions an entity must meet; all given ones apply.")
class EntityFilter:
    status: list[StatusEnum] | None = None  # type: ignore[valid-type]
    text: str | None = strawberry.field(
        default=None, description="Substring of key or name (case-insensitive)."
    )
    attributes: JSON | None = strawberry.field(
        default=None, description="Attribute name -> value that must be equal."
    )


@strawberry.type(name="Run", description="An ingest run of one source over one scope.")
class RunType:
    run_id: str
    source: str
    scope: str
    state: str
    started: datetime
    finished: datetime | None
    batches: int

    @classmethod
    def of(cls, run: RunRecord) -> RunType:
        return cls(
            run_id=run.run_id,
            source=run.source,
            scope=run.scope,
            state=run.state.value,
            started=run.started,
            finished=run.finished,
            batches=run.batches,
        )


class ScopeGuard(SchemaExtension):
    """The one place GraphQL checks what the caller may do, before any resolver runs.

    Queries need the ``read`` scope, mutations ``write``; a read-only replica
    refuses every mutation (``READ_ONLY``, naming the writer's role). A refused
    operation is answered with that one error and no data. Contexts without a
    principal (scripts and tests executing the schema directly) are not checked.
    """

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.result is None:
            error = _refusal(context.context, context.operation_type)
            if error is not None:
                context.result = GraphQLExecutionResult(data=None, errors=[error])
        yield


def _refusal(context: object, operation: OperationType) -> GraphQLError | None:
    principal = getattr(context, "principal", None)
    if principal is None:
        return None
    needed = Scope.WRITE if operation is OperationType.MUTATION else Scope.READ
    if not principal.allows(needed):
        msg = f"this token's scope ({principal.scope.value}) does not allow {needed.value}"
        return GraphQLError(msg, extensions={"code": "FORBIDDEN"})
    settings = getattr(context, "settings", None)
    if needed is Scope.WRITE and settings is not None and settings.read_only:
        return GraphQLError(READ_ONLY_MESSAGE, extensions={"code": "READ_ONLY"})
    return None


@strawberry.type
class Query(AnalysisQuery, GraphHealthQuery, WorkQuery, EventsQuery, WebhooksQuery):
    """Read access; every field needs the ``read`` scope."""

    @strawberry.field(description="Any entity or relation by its Relay global id.")
    async def node(self, info: Info[GraphContext, None], id: strawberry.ID) -> relay.Node | None:
        type_name, number = global_id_parts(id)
        if type_name == "Relation":
            relation = await info.context.loaders.relation.load(number)
            return RelationNode(id=relation.id, record=relation) if relation else None
        record = await info.context.loaders.entity.load(number)
        if record is None or record.kind.value != type_name:
            return None
        return entity_object(record)

    @strawberry.field(
        description="One entity by kind and key (or alias); NOT_FOUND when none has it."
    )
    async def entity(
        self,
        info: Info[GraphContext, None],
        kind: EntityKindEnum,  # type: ignore[valid-type]
        key: str,
    ) -> EntityInterface:
        found = (await info.context.store.resolve([(kind, key)]))[0]
        record = await info.context.loaders.entity.load(found) if found is not None else None
        if record is None:
            raise not_found([f"{EntityKind(kind).value}/{key[:80]}"])
        obj = entity_object(record)
        assert obj is not None
        return obj

    @strawberry.field(
        description="Entities matching a filter, as a cursor connection with a total count."
    )
    async def entities(
        self,
        info: Info[GraphContext, None],
        kind: EntityKindEnum | None = None,  # type: ignore[valid-type]
        filter: EntityFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        as_of: Annotated[
            datetime | None,
            strawberry.argument(
                description="Match the entities as they were then (names, statuses and "
                "attributes then; entities that did not exist yet are left out). The "
                "entities are as they were then; fields reached through them (relations, "
                "history) read the graph as it is now."
            ),
        ] = None,
    ) -> EntityConnection:
        size = page_size(info, first)
        when = as_of.replace(tzinfo=UTC) if as_of is not None and as_of.tzinfo is None else as_of
        attributes: object = filter.attributes if filter and filter.attributes else {}
        if not isinstance(attributes, dict):
            msg = "filter.attributes must be an object of attribute name -> value"
            raise GraphQLError(msg, extensions={"code": "BAD_FILTER"})
        query = EntityQuery(
            kind=kind,
            statuses=frozenset(Status(s) for s in filter.status)
            if filter and filter.status
            else None,
            text=filter.text if filter else None,
            attributes=attributes,
        )
        start = decode_cursor(after)
        page = await info.context.store.find_entities(query, first=size, after=start, as_of=when)
        for record in page.items if when is None else ():  # a past record is not the entity now
            info.context.loaders.entity.prime(record.id, record)
        edges = [EntityEdge(cursor=encode_cursor(r.id), node=entity_object(r)) for r in page.items]  # type: ignore[arg-type]
        return EntityConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=start is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total,
            total_count_is_lower_bound=page.total_is_lower_bound,
        )

    @strawberry.field(
        description=(
            "Identifier values items carried that another entity holds, oldest first: "
            "each clash (kind, type, value, entity, holder) once, as first seen; with "
            "state, only those in that state (OPEN: neither dismissed nor resolved)."
        )
    )
    async def identity_conflicts(
        self,
        info: Info[GraphContext, None],
        first: int | None = None,
        after: str | None = None,
        state: ConflictStateEnum | None = None,  # type: ignore[valid-type]
    ) -> IdentityConflictConnection:
        size = page_size(info, first)
        page = await info.context.store.identity_conflicts(
            first=size, after=decode_cursor(after), state=state
        )
        edges = [
            IdentityConflictEdge(cursor=encode_cursor(c.seq), node=IdentityConflictType(record=c))
            for c in page.items
        ]
        return IdentityConflictConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total,
        )

    @strawberry.field(description="The latest ingest runs, newest first.")
    async def runs(
        self, info: Info[GraphContext, None], source: str | None = None, first: int | None = None
    ) -> list[RunType]:
        size = page_size(info, first)
        return [RunType.of(r) for r in await info.context.store.runs(source=source, first=size)]


# --------------------------------------------------------------------- mutations


@strawberry.type(description="A problem with the input, and where it is.")
class UserError:
    field: list[str] = strawberry.field(description="Path of the offending input field.")
    message: str
    code: str


def _sent(root: UnappliedWrite) -> JSON | None:
    return cast("JSON", root.sent)


def _kept(root: UnappliedWrite) -> JSON | None:
    return cast("JSON", root.kept)


UnappliedWriteType = answer_type(
    UnappliedWrite,
    overrides={
        "sent": strawberry.field(resolver=_sent, description="The value sent (null: a removal)."),
        "kept": strawberry.field(resolver=_kept, description="The value the field keeps."),
    },
)


@strawberry.type(
    name="IngestSummary", description="What an ingest changed (or, in a dry run, would change)."
)
class IngestSummaryType:
    run_id: str | None
    run_state: str | None
    dry_run: bool
    entities_created: int
    entities_updated: int
    entities_unchanged: int
    relations_created: int
    relations_updated: int
    relations_unchanged: int
    merged: int
    revived: int
    retired: int
    marked_stale: int
    identity_conflicts: int = strawberry.field(
        description="Identifier values items carried that another entity keeps (recorded)."
    )
    warnings: list[str] = strawberry.field(
        description="Accepted but maybe a mistake: attributes that are not well-known."
    )
    changes: JSON = strawberry.field(description="Planned changes of a dry run.")
    unapplied: list[UnappliedWriteType] = strawberry.field(  # type: ignore[valid-type]
        description="Writes not applied because a source of higher priority holds the field "
        f"(the first {UNAPPLIED_LIMIT:,}, in batch order); the losing source corrects its "
        "copy to `kept`."
    )
    unapplied_total: int = strawberry.field(description="All writes not applied, listed or not.")

    @classmethod
    def of(cls, s: IngestSummary) -> IngestSummaryType:
        return cls(
            run_id=s.run_id,
            run_state=s.run_state.value if s.run_state else None,
            dry_run=s.dry_run,
            entities_created=s.entities_created,
            entities_updated=s.entities_updated,
            entities_unchanged=s.entities_unchanged,
            relations_created=s.relations_created,
            relations_updated=s.relations_updated,
            relations_unchanged=s.relations_unchanged,
            merged=s.merged,
            revived=s.revived,
            retired=s.retired,
            marked_stale=s.marked_stale,
            identity_conflicts=s.identity_conflicts,
            warnings=list(s.warnings),
            changes=cast(
                "JSON",
                [
                    {"op": c.op, "item": c.item, "label": c.label, "fields": list(c.fields)}
                    for c in s.changes
                ],
            ),
            unapplied=list(s.unapplied),
            unapplied_total=s.unapplied_total,
        )


@strawberry.input(description="An entity as a source sees it (PRODUCT.md 2).")
class EntityInput:
    kind: EntityKindEnum  # type: ignore[valid-type]
    key: str
    name: str | None = None
    status: str | None = None
    identifiers: JSON | None = None
    attributes: JSON | None = None


@strawberry.input(description="A relation as a source sees it.")
class RelationInput:
    type: RelationTypeEnum  # type: ignore[valid-type]
    from_: EntityRefInput = strawberry.field(name="from")
    to: EntityRefInput
    status: str | None = None
    attributes: JSON | None = None


@strawberry.input(description="One ingest batch.")
class IngestInput:
    source: str
    scope: str = "default"
    run_id: str | None = None
    complete: bool = False
    dry_run: bool = False
    entities: list[EntityInput] = strawberry.field(default_factory=list)
    relations: list[RelationInput] = strawberry.field(default_factory=list)


@strawberry.type
class IngestPayload:
    summary: IngestSummaryType | None
    user_errors: list[UserError]


@strawberry.input
class StartRunInput:
    source: str
    scope: str = "default"


@strawberry.type
class StartRunPayload:
    run: RunType | None
    user_errors: list[UserError]


@strawberry.input
class FinishRunInput:
    run_id: str
    complete: bool
    dry_run: bool = False


@strawberry.type
class FinishRunPayload:
    summary: IngestSummaryType | None
    user_errors: list[UserError]


def _ref(ref: EntityRefInput) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": EntityKind(ref.kind).value}
    if ref.key is not None:
        out["key"] = ref.key
    if ref.identifiers is not None:
        out["identifiers"] = ref.identifiers
    return out


def _batch_document(data: IngestInput) -> dict[str, Any]:
    def entity(e: EntityInput) -> dict[str, Any]:
        item: dict[str, Any] = {"kind": EntityKind(e.kind).value, "key": e.key}
        for name in ("name", "status", "identifiers", "attributes"):
            value = getattr(e, name)
            if value is not None:
                item[name] = value
        return item

    def relation(r: RelationInput) -> dict[str, Any]:
        item: dict[str, Any] = {
            "type": RelationType(r.type).value,
            "from": _ref(r.from_),
            "to": _ref(r.to),
        }
        if r.status is not None:
            item["status"] = r.status
        if r.attributes is not None:
            item["attributes"] = r.attributes
        return item

    return {
        "source": data.source,
        "scope": data.scope,
        "runId": data.run_id,
        "complete": data.complete,
        "dryRun": data.dry_run,
        "entities": [entity(e) for e in data.entities],
        "relations": [relation(r) for r in data.relations],
    }


def _user_errors(exc: GraphSvcError) -> list[UserError]:
    if isinstance(exc, BatchRejected):
        out = []
        for e in exc.errors:
            path = ["input"] if e.index is None else ["input", e.section, str(e.index)]
            path += [p for p in e.field.split(".") if p]
            where = f" ({e.key})" if e.key else ""
            out.append(UserError(field=path, message=f"{e.reason}{where}", code="INVALID"))
        return out
    code = {NotFound: "NOT_FOUND", Conflict: "CONFLICT", InvalidInput: "INVALID"}.get(
        type(exc), "ERROR"
    )
    return [UserError(field=["input"], message=str(exc), code=code)]


@strawberry.type
class Mutation(WebhooksMutation, StewardshipMutation):
    """Ingest operations need the ``write`` scope; webhook, merge and dismissal ``admin``."""

    @strawberry.mutation(description="Apply one ingest batch (atomic), or with dryRun report it.")
    async def ingest(self, info: Info[GraphContext, None], input: IngestInput) -> IngestPayload:
        try:
            try:
                batch: IngestBatch = parse_batch(_batch_document(input), origin="input")
            except BatchRejected as rejected:
                raise await info.context.engine.with_store_errors(rejected) from None
            summary = await info.context.engine.ingest(batch, actor=info.context.principal.name)
        except GraphSvcError as exc:
            return IngestPayload(summary=None, user_errors=_user_errors(exc))
        return IngestPayload(summary=IngestSummaryType.of(summary), user_errors=[])

    @strawberry.mutation(description="Open a run for a source over a scope.")
    async def start_run(
        self, info: Info[GraphContext, None], input: StartRunInput
    ) -> StartRunPayload:
        try:
            run = await info.context.engine.start_run(
                input.source, input.scope, actor=info.context.principal.name
            )
        except ValidationError as exc:
            return StartRunPayload(
                run=None,
                user_errors=[
                    UserError(
                        field=["input", *map(str, e["loc"])], message=e["msg"], code="INVALID"
                    )
                    for e in exc.errors(include_url=False)
                ],
            )
        except GraphSvcError as exc:
            return StartRunPayload(run=None, user_errors=_user_errors(exc))
        return StartRunPayload(run=RunType.of(run), user_errors=[])

    @strawberry.mutation(description="Finish a run; with complete, apply staleness and retirement.")
    async def finish_run(
        self, info: Info[GraphContext, None], input: FinishRunInput
    ) -> FinishRunPayload:
        try:
            summary = await info.context.engine.finish_run(
                input.run_id,
                complete=input.complete,
                dry_run=input.dry_run,
                actor=info.context.principal.name,
            )
        except GraphSvcError as exc:
            return FinishRunPayload(summary=None, user_errors=_user_errors(exc))
        return FinishRunPayload(summary=IngestSummaryType.of(summary), user_errors=[])


@strawberry.type
class Subscription(EventsSubscription):
    """The event feed as it happens, over ``graphql-transport-ws`` only (needs ``read``)."""


# ------------------------------------------------------------------------ limits


def build_schema(settings: Settings) -> strawberry.Schema:
    """Return the schema with the limits of ``settings`` (see the module docstring)."""
    directive_rule = type(
        "MaxDirectives", (MaxDirectives,), {"limit": settings.graphql_max_directives}
    )
    page_guard = type(
        "PageSizeGuard",
        (PageSizeGuard,),
        {
            "largest": settings.page_size_max,
            "default_page": settings.page_size_default,
            "most_items": settings.graphql_max_items,
        },
    )
    max_tokens, max_depth = settings.graphql_max_tokens, settings.graphql_max_depth
    max_aliases = settings.graphql_max_aliases
    rules = [
        depth_rule(max_depth, None),
        alias_rule(max_aliases),
        directive_rule,
    ]
    validations = BoundedMemo(GRAPHQL_DOCUMENT_CACHE)
    extensions: list[Any] = [
        ScopeGuard,
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        page_guard,
        # The depth and alias rules are built once (not per request as the
        # QueryDepthLimiter/MaxAliasesLimiter extensions do), so that validation
        # results can be cached below: the cache is keyed by the rule classes.
        lambda: AddValidationRules(rules),
        # Portals send the same few documents again and again: parse and validate each
        # once (bounded LRUs; the token limit is part of the parse key, and every limit
        # above is a validation rule, so cached verdicts are the same verdicts).
        lambda: ParserCache(maxsize=GRAPHQL_DOCUMENT_CACHE),
        lambda: ValidationByText(validations),
    ]
    production = settings.env != "development"
    if production:
        extensions.append(DisableIntrospection)
    # last, so that it sees every error: unexpected ones reach the client masked
    safe_errors = type("ClientSafeErrors", (ClientSafeErrors,), {"suggest": not production})
    extensions.append(safe_errors)
    executor = type(
        "BoundedExecutionContext",
        (BoundedExecutionContext,),
        {"max_fields": settings.graphql_max_answer_fields},
    )
    return GuardedSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[*ENTITY_TYPES.values(), RelationNode],
        extensions=extensions,
        execution_context_class=executor,
        config=StrawberryConfig(
            disable_field_suggestions=production, relay_max_results=settings.page_size_max
        ),
    )
