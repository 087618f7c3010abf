"""The analyses' result dataclasses as REST JSON, with their OpenAPI schema, derived once.

REST answers of the analyses (impact, dependencies, ownership) are the frozen
dataclasses :mod:`graphsvc.analysis` returns, not hand copies: pydantic derives
their JSON Schema and their serialisation from the type hints. What this module
adds is the REST spelling, camelCase field names like the rest of the API
(``teamsToNotify``, ``firstSeen``), applied to dataclass fields only: the keys
of free-form maps (an entity's ``attributes``) are never touched.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter
from pydantic.alias_generators import to_camel

__all__ = ["AnswerShape"]


class AnswerShape:
    """How one result type is written as REST JSON, and its schema.

    Args:
        result_type: A (frozen) dataclass type, possibly nesting others.
    """

    def __init__(self, result_type: type[Any]) -> None:
        self._adapter: TypeAdapter[Any] = TypeAdapter(result_type)
        self.name = result_type.__name__
        self.ref = f"#/components/schemas/{self.name}"

    def components(self) -> dict[str, Any]:
        """This answer's schema and the ones it nests, for OpenAPI ``components.schemas``."""
        schema = dict(self.schema)
        nested = schema.pop("$defs", {})
        return {**nested, self.name: schema}

    @functools.cached_property
    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the REST JSON (``$defs`` inside, camelCase properties)."""
        return _camel_schema(self._raw_schema)  # type: ignore[no-any-return]

    def dump(self, value: object) -> Any:
        """``value`` as REST JSON (dicts, lists, strings, numbers)."""
        raw = self._adapter.dump_python(value, mode="json")
        return _camel_data(raw, self._raw_schema)

    @functools.cached_property
    def _raw_schema(self) -> dict[str, Any]:
        return self._adapter.json_schema(
            mode="serialization", ref_template="#/components/schemas/{model}"
        )


def _camel_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_camel_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {to_camel(name): _camel_schema(sub) for name, sub in value.items()}
        elif key == "required" and isinstance(value, list):
            out[key] = [to_camel(name) for name in value]
        elif key == "$defs" and isinstance(value, dict):
            out[key] = {name: _camel_schema(sub) for name, sub in value.items()}
        else:
            out[key] = _camel_schema(value)
    return out


def _camel_data(data: Any, schema: dict[str, Any]) -> Any:
    """Rename the dataclass fields of ``data``, guided by its (pydantic) ``schema``."""
    return _walk(data, schema, schema.get("$defs", {}))


def _walk(value: Any, node: dict[str, Any], definitions: dict[str, Any]) -> Any:
    # a module function, not a closure: a nested function calling itself is a cycle
    node = _resolve(node, definitions)
    if isinstance(value, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            return {
                to_camel(k): _walk(v, properties.get(k, {}), definitions) for k, v in value.items()
            }
        extra = node.get("additionalProperties")
        inner = extra if isinstance(extra, dict) else {}
        return {k: _walk(v, inner, definitions) for k, v in value.items()}
    if isinstance(value, list):
        items = node.get("items") or node.get("prefixItems") or {}
        if isinstance(items, list):  # a tuple of fixed length
            return [
                _walk(v, items[i] if i < len(items) else {}, definitions)
                for i, v in enumerate(value)
            ]
        return [_walk(v, items, definitions) for v in value]
    return value


def _resolve(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` and pick the object branch of ``anyOf`` (``X | None``)."""
    seen = 0
    while seen < 32:
        seen += 1
        ref = node.get("$ref")
        if isinstance(ref, str):
            node = definitions.get(ref.rsplit("/", 1)[-1], {})  # "#/components/schemas/X"
            continue
        branches = node.get("anyOf")
        if isinstance(branches, list):
            objects = [b for b in branches if isinstance(b, dict) and b.get("type") != "null"]
            if len(objects) == 1:
                node = objects[0]
                continue
        return node
    return node
