"""Defences of the GraphQL endpoint that strawberry does not ship, and its error policy.

* :class:`MaxDirectives`: a validation rule refusing documents with more
  directives than allowed (directive overloading).
* :class:`PageSizeGuard`: refuses, before execution starts and so before any
  resolver or store call, every ``first`` argument above the configured largest
  page or below zero, whether written in the document or passed as a variable,
  at any depth (including inside fragments); and documents whose nested pages
  could return more items than allowed in total (:func:`requested_items`:
  ``entities(first: 500) { outgoing(first: 500) }`` asks for 250,500 items,
  each page being a store read).
* :func:`should_mask` and :class:`GuardedSchema`: errors that graphsvc raised on
  purpose (client errors: bad ids, bad input, refusals) reach the client as they
  are; anything else (a bug, a driver error) is answered "Unexpected error." with
  no message, type or traceback, and logged in full on the server. Client errors
  are logged at info level without a traceback, so hostile clients cannot fill
  the log with stack traces.
"""

from __future__ import annotations

import functools
import re
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLResolveInfoHelpers,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    get_named_type,
    parse,
    value_from_ast_untyped,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry import Schema
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.schema.schema import (
    StrawberryGraphQLCoreExecutionContext,
    StreamResult,
    validate_document,
)
from strawberry.types import ExecutionContext
from strawberry.types import ExecutionResult as StrawberryExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from graphsvc.deadline import check_deadline
from graphsvc.errors import (
    AnswerTooLarge,
    DeadlineExceeded,
    GraphSvcError,
    StoreCorrupted,
    StoreError,
)

__all__ = [
    "BoundedExecutionContext",
    "BoundedMemo",
    "ClientSafeErrors",
    "GuardedSchema",
    "MaxDirectives",
    "PageSizeGuard",
    "ValidationByText",
    "should_mask",
    "with_defaults",
]

log = structlog.get_logger("graphsvc.graphql")

PAGE_ARGUMENTS = frozenset({"first"})
"""Argument names that size a page, on every field that takes one."""


def _walk(node: object) -> Iterator[object]:
    """Yield ``node`` and every AST node below it (depth first, document order)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        children: list[object] = []
        for key in getattr(current, "keys", ()):
            if key == "loc":
                continue
            value = getattr(current, key, None)
            if isinstance(value, list | tuple):
                children.extend(child for child in value if hasattr(child, "keys"))
            elif hasattr(value, "keys"):
                children.append(value)
        stack.extend(reversed(children))


class MaxDirectives(ValidationRule):
    """Refuse documents with more directives than :attr:`limit` (directive overloading)."""

    limit = 20

    def enter_document(self, node: DocumentNode, *_args: object) -> None:
        count = sum(1 for found in _walk(node) if isinstance(found, DirectiveNode))
        if count > self.limit:
            self.report_error(GraphQLError(f"{count} directives; at most {self.limit} are allowed"))


def page_size_errors(
    document: DocumentNode, variables: Mapping[str, Any] | None, largest: int
) -> list[GraphQLError]:
    """Return one error per ``first`` argument of ``document`` outside ``0..largest``.

    Literal values and variables are both checked; a variable that is unset or not
    an integer is left to GraphQL's own coercion (which refuses non-integers).
    """
    errors: list[GraphQLError] = []
    for node in _walk(document):
        if not isinstance(node, ArgumentNode) or node.name.value not in PAGE_ARGUMENTS:
            continue
        value: object = None
        if isinstance(node.value, IntValueNode):
            value = int(node.value.value)
        elif isinstance(node.value, VariableNode) and variables:
            value = variables.get(node.value.name.value)
        if not isinstance(value, int) or isinstance(value, bool):
            continue
        if value < 0:
            errors.append(
                GraphQLError(
                    "first must not be negative", nodes=[node], extensions={"code": "PAGE_SIZE"}
                )
            )
        elif value > largest:
            errors.append(
                GraphQLError(
                    f"first is {value}; the largest page is {largest}",
                    nodes=[node],
                    extensions={"code": "PAGE_SIZE"},
                )
            )
    return errors


def _page_of(node: FieldNode, variables: Mapping[str, Any] | None, default: int) -> int | None:
    """Return the page size ``node`` asks for, ``None`` when the field takes no ``first``."""
    for argument in node.arguments or ():
        if argument.name.value not in PAGE_ARGUMENTS:
            continue
        if isinstance(argument.value, IntValueNode):
            return int(argument.value.value)
        if isinstance(argument.value, VariableNode) and variables:
            value = variables.get(argument.value.name.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return default
    return None


def requested_items(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    default_page: int,
) -> int:
    """Return how many items the operations of ``document`` may ask for at most.

    Every field with a ``first`` argument is a page: it counts its page size
    (``default_page`` when not given) times the page sizes of the pages it is
    nested in. Fragments are expanded (cycles are refused earlier, by validation).
    """
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    total = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            root = schema.get_root_type(definition.operation)
            total += _items_below(
                _ItemCount(schema, fragments, variables, default_page),
                definition.selection_set,
                root,
                1,
            )
    return total


@dataclass(frozen=True)
class _ItemCount:
    """What :func:`_items_below` needs besides the selections it walks."""

    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any] | None
    default_page: int


def _items_below(
    count: _ItemCount, selections: SelectionSetNode | None, parent: object, multiplier: int
) -> int:
    """Items the pages in ``selections`` may ask for, each nested in ``multiplier`` items.

    A module function rather than a closure: a nested function calling itself is a
    reference cycle, freed only by a garbage collection.
    """
    if selections is None:
        return 0
    total = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            fields = getattr(parent, "fields", None)
            definition = fields.get(selection.name.value) if fields else None
            if definition is None:
                continue
            declared = "first" in definition.args
            page = _page_of(selection, count.variables, count.default_page) if declared else None
            if declared and page is None:
                page = count.default_page
            inner = multiplier * max(page or 1, 1)
            if page is not None:
                total += inner
            total += _items_below(
                count, selection.selection_set, get_named_type(definition.type), inner
            )
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            target = count.schema.get_type(condition.name.value) if condition else parent
            total += _items_below(count, selection.selection_set, target, multiplier)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = count.fragments.get(selection.name.value)
            if fragment is not None:
                target = count.schema.get_type(fragment.type_condition.name.value)
                total += _items_below(count, fragment.selection_set, target, multiplier)
    return total


def with_defaults(
    document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Return ``variables`` with the defaults the executed operation declares filled in.

    A variable the request leaves unset takes its declared default, and limits must
    count that value as they count a literal (``query($n: Int = 500)``).
    """
    values = dict(variables or {})
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        name = operation.name.value if operation.name else None
        if len(operations) > 1 and name != operation_name:
            continue
        for definition in operation.variable_definitions or ():
            declared = definition.variable.name.value
            if declared not in values and definition.default_value is not None:
                values[declared] = value_from_ast_untyped(definition.default_value)
    return values


class PageSizeGuard(SchemaExtension):
    """Refuse the whole operation when a page, or all pages together, are too large."""

    largest = 500
    default_page = 50
    most_items = 100_000

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            variables = with_defaults(document, context.operation_name, context.variables)
            schema = context.schema._schema
            text = context.query
            if text is None:  # no text to key a memo by
                verdict = self._verdict(schema, document, variables)
            else:
                names = _PAGE_VARIABLES.get(text, lambda: _page_variable_names(document))
                verdict = _VERDICTS.get(
                    (id(schema), text, context.operation_name, _page_values(names, variables)),
                    lambda: self._verdict(schema, document, variables),
                )
            if verdict:
                context.result = GraphQLExecutionResult(data=None, errors=list(verdict))
        yield

    def _verdict(
        self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
    ) -> tuple[GraphQLError, ...]:
        """The errors refusing ``document`` with these page sizes (none: it may run)."""
        errors = page_size_errors(document, variables, self.largest)
        if errors:
            return tuple(errors)
        items = requested_items(schema, document, variables, self.default_page)
        if items > self.most_items:
            msg = (
                f"the query may ask for {items:,} items in nested pages; at most "
                f"{self.most_items:,} are allowed: ask for smaller pages, or page "
                "through the outer connection"
            )
            return (GraphQLError(msg, extensions={"code": "TOO_MANY_ITEMS"}),)
        return ()


def _page_variable_names(document: DocumentNode) -> tuple[str, ...]:
    """Names of the variables ``document`` passes as a page size, in document order."""
    return tuple(
        dict.fromkeys(
            node.value.name.value
            for node in _walk(document)
            if isinstance(node, ArgumentNode)
            and node.name.value in PAGE_ARGUMENTS
            and isinstance(node.value, VariableNode)
        )
    )


def _page_values(names: tuple[str, ...], variables: Mapping[str, Any]) -> tuple[object, ...]:
    """What the page guard's verdict on a document depends on besides its text.

    The page sizes given as the variables ``names``, each with its type (``True``
    is not ``1``); a value that is not a plain scalar makes the verdict
    uncacheable (a fresh object: the key never repeats).
    """
    values: list[object] = []
    for name in names:
        value = variables.get(name)
        if value is not None and not isinstance(value, int | str | float):
            return (object(),)
        values.append((type(value).__name__, value))
    return tuple(values)


class BoundedMemo:
    """A small bounded memo (oldest entry dropped first), safe across worker threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Any) -> Any:
        """The value for ``key``, computed by ``compute()`` (outside the lock) when absent."""
        with self._lock:
            if key in self._entries:
                return self._entries[key]
        value = compute()
        self.put(key, value)
        return value

    def put(self, key: Any, value: Any) -> None:
        """Store ``value`` for ``key``, dropping the oldest entry when full."""
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self._size:
                del self._entries[next(iter(self._entries))]


class ValidationByText(SchemaExtension):
    """Validate each query text once: strawberry's ``ValidationCache``, keyed by the text.

    strawberry's cache is keyed by the parsed document, and graphql-core's nodes
    are frozen dataclasses whose hash walks the whole tree again on every request
    (a tenth of the worker time of a small ``entity`` query, measured). The text
    is hashed once per request string, and parsed with the same options (the
    parser cache's key) it always gives the same document, so the verdict is the
    same. The validation rules are part of the key; the memo belongs to one schema
    (:func:`~graphsvc.api.graphql.schema.build_schema` makes it), so schemas with
    other limits never share verdicts. Without a text (a document given directly)
    the document is validated each time.

    Args:
        memo: Verdicts by (query text, validation rules); bounded, oldest dropped first.
    """

    def __init__(self, memo: BoundedMemo) -> None:
        super().__init__()
        self.memo = memo

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        schema, document = context.schema._schema, context.graphql_document
        rules = context.validation_rules
        if document is None:
            yield
            return
        if context.query is None:
            context.pre_execution_errors = validate_document(schema, document, rules)
        else:
            context.pre_execution_errors = self.memo.get(
                (context.query, rules), lambda: validate_document(schema, document, rules)
            )
        yield


_PAGE_VARIABLES = BoundedMemo(1024)
"""The variables each query text passes as page sizes."""
_VERDICTS = BoundedMemo(1024)
"""Page-guard verdicts by (schema, query text, operation, page-size variables)."""


def should_mask(error: GraphQLError) -> bool:
    """Return whether ``error`` must reach the client as "Unexpected error.".

    Errors raised on purpose are shown: GraphQL's own (syntax, validation,
    coercion, and the ``GraphQLError`` our resolvers raise with a code) and
    graphsvc's client errors. Store failures and every other exception are masked:
    their text may carry paths, queries or driver details.
    """
    original = error.original_error
    if original is None or isinstance(original, GraphQLError | StoreCorrupted):
        return False  # damage is said as it is: the client must not retry
    return not isinstance(original, GraphSvcError) or isinstance(original, StoreError)


class BoundedExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, counting the fields it resolves into one answer.

    Every :data:`CHECK_EVERY` fields it checks the request's deadline (so that
    completing a huge answer stops when the request is cut, not when it ends) and
    refuses an answer of more than :attr:`max_fields` fields with
    :class:`AnswerTooLarge`.
    """

    CHECK_EVERY = 512
    max_fields = 1_000_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields_resolved = 0
        # graphql-core keeps bound methods of the executor in ``async_helpers``: a
        # reference cycle holding the whole request until a garbage collection (a
        # pause of every thread). Weak references to the executor break it; the
        # executor outlives every resolver that could call them.
        executor = weakref.ref(self)

        def gather(values: Any) -> Any:
            alive = executor()
            assert alive is not None
            return alive.gather_async_work(values)

        def track(values: Any) -> None:
            alive = executor()
            if alive is not None:
                alive.track_async_work(values)

        self.async_helpers = GraphQLResolveInfoHelpers(gather=gather, track=track)

    def execute_field(self, *args: Any, **kwargs: Any) -> Any:
        """Resolve one field (graphql-core's), after the periodic checks."""
        self.fields_resolved += 1
        if self.fields_resolved % self.CHECK_EVERY == 0:
            check_deadline()
            if self.fields_resolved > self.max_fields:
                msg = (
                    f"the answer would hold more than {self.max_fields:,} fields: ask for "
                    "smaller pages (first), fewer nested lists, or fewer fields"
                )
                raise AnswerTooLarge(msg)
        return super().execute_field(*args, **kwargs)


@functools.lru_cache(maxsize=256)
def _operation_types(query: str) -> dict[str | None, str]:
    """Operation name -> ``query``/``mutation``/… of a document (``{}`` when it does not parse)."""
    try:
        document = parse(query)
    except GraphQLError:
        return {}
    return {
        (d.name.value if d.name else None): d.operation.value
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    }


def _is_mutation(query: object, kwargs: Mapping[str, Any]) -> bool:
    """Whether the operation to execute is a mutation (it then runs on the writing loop)."""
    if not isinstance(query, str) or "mutation" not in query:
        return False
    types = _operation_types(query)
    name = kwargs.get("operation_name")
    if name is None and len(types) == 1:
        return next(iter(types.values())) == "mutation"
    return types.get(name) == "mutation"


def _drop_tracebacks(result: StrawberryExecutionResult) -> None:
    """Let go of the tracebacks of the answer's errors, once they have been logged.

    A traceback holds the frames it passed through and so their locals (a path
    list, a partial answer), and those frames often hold the exception: a
    reference cycle that only a garbage collection frees, a pause of every thread
    as long as the freeing (measured: up to 12 ms after refused chain queries).
    """
    for error in result.errors or ():
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            current.__traceback__ = None
            if isinstance(current, GraphQLError) and current.original_error is not None:
                current = current.original_error
            else:
                current = current.__cause__ or current.__context__


def _stopping_error(result: StrawberryExecutionResult) -> GraphSvcError | None:
    """The error that must replace the whole answer: a deadline passed, or it is too large."""
    for error in result.errors or ():
        if isinstance(error.original_error, DeadlineExceeded | AnswerTooLarge):
            return error.original_error
    return None


class GuardedSchema(Schema):
    """A strawberry schema that runs operations in worker loops, bounded.

    * :meth:`execute` hands the operation to the worker loops of the request's
      context (``context_value.workers``), so that resolvers, analyses and the
      completion of the answer never run on the server's event loop; without
      workers (tests, scripts) it runs where it is called.
    * An operation stopped by its deadline raises :class:`DeadlineExceeded` (the
      HTTP layer answers 503); one whose answer grew past the bound is answered
      with that one error and no data, not a partial megabyte.
    * Client errors are logged briefly and unexpected ones in full.
    """

    async def execute(self, *args: Any, **kwargs: Any) -> StrawberryExecutionResult:
        """Execute an operation (strawberry's), in a worker loop when there are some."""
        context = kwargs.get("context_value")
        workers = getattr(context, "workers", None)
        if workers is None:
            result = await Schema.execute(self, *args, **kwargs)
        else:
            writes = _is_mutation(kwargs.get("query") or (args[0] if args else None), kwargs)
            result = await workers.run(lambda: Schema.execute(self, *args, **kwargs), writes=writes)
        _drop_tracebacks(result)
        stopping = _stopping_error(result)
        if isinstance(stopping, DeadlineExceeded):
            raise stopping
        if stopping is not None:
            result.data = None
            result.errors = [GraphQLError(str(stopping), extensions={"code": "ANSWER_TOO_LARGE"})]
        return result

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,  # noqa: ARG002
    ) -> StreamResult:
        """Stream a subscription (strawberry's), over a websocket: subscriptions only.

        Queries and mutations over a websocket would run on the server's event
        loop, without the request deadline: they are refused here and belong
        in ``POST /graphql``, whatever ``allowed_operation_types`` asked. A
        document that does not parse ends the socket with 4400 and the syntax
        error, as graphql-transport-ws says (see :func:`_syntax_error_first`).
        """
        source = await Schema.stream(
            self,
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types=(OperationType.SUBSCRIPTION,),
        )
        return _syntax_error_first(source)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log each error: masked ones with their traceback, client errors in one line."""
        operation = execution_context.operation_name if execution_context else None
        for error in errors:
            if should_mask(error):
                log.error(
                    "graphql unexpected error",
                    operation=operation,
                    path=error.path,
                    exc_info=error.original_error,
                )
            else:
                log.info("graphql client error", operation=operation, message=error.message)


async def _syntax_error_first(source: StreamResult) -> StreamResult:
    """``source``, with a syntax error raised by its first step yielded as a result.

    With strawberry's ``ParserCache`` extension the stream of a document that does
    not parse raises the :class:`GraphQLSyntaxError` instead of yielding it as a
    :class:`PreExecutionError`; the graphql-transport-ws handler then answered a
    bare ``complete``, so the client never learnt what was wrong. Yielded, the
    handler closes the socket with 4400 and the error, as the protocol says.
    """
    try:
        try:
            first = await anext(source)
        except StopAsyncIteration:
            return
        except GraphQLSyntaxError as error:
            yield PreExecutionError(data=None, errors=[error])
            return
        yield first
        async for result in source:
            yield result
    finally:
        await source.aclose()


MAX_ERROR_MESSAGE = 400
"""Longest error message sent to a client; what a client sent is echoed only in part."""

_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?", re.DOTALL)


def client_message(message: str, *, suggest: bool) -> str:
    """Return ``message`` as a client may see it.

    At most :data:`MAX_ERROR_MESSAGE` characters, and without GraphQL's "Did you
    mean …?" unless ``suggest``.
    """
    if not suggest:
        message = _SUGGESTION.sub("", message)
    if len(message) > MAX_ERROR_MESSAGE:
        message = f"{message[: MAX_ERROR_MESSAGE - 40]}… ({len(message):,} characters in all)"
    return message


class ClientSafeErrors(MaskErrors):
    """Mask unexpected errors (:func:`should_mask`) and shorten every message.

    In production GraphQL's suggestions of field, argument, type, enum value and
    input field names are dropped too: they would map the schema for a caller who
    may not introspect it.
    """

    suggest = False

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = []
        for error in super()._process_errors(errors):
            message = client_message(error.message, suggest=self.suggest)
            if message != error.message:
                error = GraphQLError(
                    message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    original_error=error.original_error,
                    extensions=error.extensions,
                )
            processed.append(error)
        return processed
