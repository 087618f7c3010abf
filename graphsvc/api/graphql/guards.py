"""Defences of the GraphQL endpoint that strawberry does not ship, and its error policy.

* :class:`MaxDirectives`: a validation rule refusing documents with more
  directives than allowed (directive overloading).
* :class:`PageSizeGuard`: refuses, before execution starts and so before any
  resolver or store call, every ``first`` argument above the configured largest
  page or below zero, whether written in the document or passed as a variable,
  at any depth (including inside fragments).
* :func:`should_mask` and :class:`GuardedSchema`: errors that graphsvc raised on
  purpose (client errors: bad ids, bad input, refusals) reach the client as they
  are; anything else (a bug, a driver error) is answered "Unexpected error." with
  no message, type or traceback, and logged in full on the server. Client errors
  are logged at info level without a traceback, so hostile clients cannot fill
  the log with stack traces.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import structlog
from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    GraphQLError,
    IntValueNode,
    ValidationRule,
    VariableNode,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry import Schema
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from graphsvc.errors import GraphSvcError, StoreError

__all__ = ["GuardedSchema", "MaxDirectives", "PageSizeGuard", "should_mask"]

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


class PageSizeGuard(SchemaExtension):
    """Refuse the whole operation when any page asked for is too large (see module doc)."""

    largest = 500

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            errors = page_size_errors(document, context.variables, self.largest)
            if errors:
                context.result = GraphQLExecutionResult(data=None, errors=errors)
        yield


def should_mask(error: GraphQLError) -> bool:
    """Return whether ``error`` must reach the client as "Unexpected error.".

    Errors raised on purpose are shown: GraphQL's own (syntax, validation,
    coercion, and the ``GraphQLError`` our resolvers raise with a code) and
    graphsvc's client errors. Store failures and every other exception are masked:
    their text may carry paths, queries or driver details.
    """
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return not isinstance(original, GraphSvcError) or isinstance(original, StoreError)


class GuardedSchema(Schema):
    """A strawberry schema that logs client errors briefly and unexpected ones in full."""

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
