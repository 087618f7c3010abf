"""Observed calls -> services and ``DEPENDS_ON`` relations (pure, deterministic).

Every service named by a file of the run becomes a ``Service`` with key
``svc:<name>`` and identifier ``serviceName`` = name (names are kept as
written: case matters). Every (caller, callee) pair seen in any file of the
run becomes one ``caller DEPENDS_ON callee`` with:

* ``callCount``: the calls summed over every observation of the pair (absent
  when no observation had a request count, e.g. only Kiali TCP traffic);
* ``errorCount``: the failed calls summed, when any observation reports
  failures (Kiali, OpenTelemetry; Jaeger links have none);
* ``connectionType``: the OpenTelemetry ``connection_type`` values seen
  (comma-separated when several);
* ``protocol``: the Kiali protocols seen (comma-separated when several).

A service calling itself is not a dependency: such calls are skipped with one
warning per service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import JsonValue

from graphsvc.ingest.importer import ImportResult, ImportWarning
from graphsvc.model.batch import EntityItem, EntityRef, RelationItem
from graphsvc.model.vocabulary import EntityKind, RelationType
from importers.service_graph.model import GraphFile

__all__ = ["service_key", "transform_graphs"]


def service_key(name: str) -> str:
    """Return the key of the service named ``name``: ``svc:<name>``."""
    return f"svc:{name}"


@dataclass(slots=True)
class _Pair:
    calls: int | None = None
    errors: int | None = None
    connection_types: set[str] = field(default_factory=set)
    protocols: set[str] = field(default_factory=set)


def transform_graphs(files: Sequence[GraphFile]) -> ImportResult:
    """Aggregate the parsed files of one run (see the module docstring); sorted output."""
    warnings: list[ImportWarning] = [w for f in files for w in f.warnings]
    services: set[str] = set()
    pairs: dict[tuple[str, str], _Pair] = {}
    self_calls: set[str] = set()
    for graph in files:
        services.update(graph.services)
        for call in graph.calls:
            if call.caller == call.callee:
                if call.caller not in self_calls:
                    self_calls.add(call.caller)
                    warnings.append(
                        ImportWarning(
                            graph.path,
                            call.element,
                            f"{call.caller} calls itself; not a dependency, skipped",
                        )
                    )
                continue
            pair = pairs.setdefault((call.caller, call.callee), _Pair())
            if call.call_count is not None:
                pair.calls = (pair.calls or 0) + call.call_count
            if call.error_count is not None:
                pair.errors = (pair.errors or 0) + call.error_count
            if call.connection_type:
                pair.connection_types.add(call.connection_type)
            if call.protocol:
                pair.protocols.add(call.protocol)
    entities = tuple(
        EntityItem(
            kind=EntityKind.SERVICE,
            key=service_key(name),
            name=name,
            identifiers={"serviceName": name},
        )
        for name in sorted(services)
    )
    relations = tuple(_relation(c, s, pairs[(c, s)]) for c, s in sorted(pairs))
    return ImportResult(entities, relations, tuple(warnings))


def _relation(caller: str, callee: str, pair: _Pair) -> RelationItem:
    attributes: dict[str, JsonValue] = {}
    if pair.calls is not None:
        attributes["callCount"] = pair.calls
    if pair.errors is not None:
        attributes["errorCount"] = pair.errors
    if pair.connection_types:
        attributes["connectionType"] = ",".join(sorted(pair.connection_types))
    if pair.protocols:
        attributes["protocol"] = ",".join(sorted(pair.protocols))
    return RelationItem.model_validate(
        {
            "type": RelationType.DEPENDS_ON,
            "from": EntityRef(kind=EntityKind.SERVICE, key=service_key(caller)),
            "to": EntityRef(kind=EntityKind.SERVICE, key=service_key(callee)),
            "attributes": attributes,
        }
    )
