"""Reading Kubernetes object files.

Accepted shapes, detected from the content (a ``.json`` suffix or a first
character ``{`` means JSON, a ``.yaml``/``.yml`` suffix or anything else YAML):

* ``kubectl get -o json`` of several objects: ``{"kind": "List", "items": [...]}``
  (any ``*List`` kind with an ``items`` array, e.g. ``PodList`` from the API);
* a single object (``kubectl get pod x -o json``);
* multi-document YAML manifests (``safe_load_all``), whose documents may
  themselves be Lists; blank documents are skipped but counted.

Errors raise :class:`~graphsvc.errors.ParseError` naming the file, the element
and the reason: invalid JSON or YAML (with line and column), a top level or
document that is not a mapping (a bare JSON array included), a List without
an ``items`` array, an item that is not a mapping or lacks ``kind`` or
``metadata.name``, and a supported object whose fields used by the importer
have the wrong type (for example a ``spec.selector`` that is a string).
Elements are ``items[3]`` (0-based, as in a JSON path), ``document 2 (line 40)``
(documents counted from 1) or ``object`` for a lone JSON object.

Objects of kinds that are not imported (``ConfigMap``, ``Secret``,
``ServiceAccount``, ``Namespace`` ...) are skipped with one warning each.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import TypedDict

import orjson
import yaml

from graphsvc.errors import ParseError
from graphsvc.ingest.importer import ImportWarning
from importers import _yaml
from importers.kubernetes.model import (
    CLUSTER_SCOPED_KINDS,
    SUPPORTED_KINDS,
    WORKLOAD_KINDS,
    EnvVar,
    KubeFile,
    KubeObject,
    LabelRequirement,
    LabelSelector,
    OwnerRef,
)

__all__ = ["parse_kube_bytes", "parse_kube_file"]


class _BadField(Exception):
    """A field of an object has the wrong shape (turned into a ParseError by the caller)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason


def parse_kube_file(path: Path) -> KubeFile:
    """Read one file of Kubernetes objects.

    Raises:
        ParseError: when the file cannot be read or is malformed (see the module docstring).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    return parse_kube_bytes(str(path), data)


def parse_kube_bytes(path: str, data: bytes) -> KubeFile:
    """Parse the content of one file named ``path`` (see :func:`parse_kube_file`).

    Raises:
        ParseError: as :func:`parse_kube_file`.
    """
    objects: list[KubeObject] = []
    warnings: list[ImportWarning] = []
    for element, raw in _elements(path, data):
        obj = _object(path, element, raw)
        if isinstance(obj, KubeObject):
            objects.append(obj)
        else:
            warnings.append(obj)
    return KubeFile(path, tuple(objects), tuple(warnings))


# --------------------------------------------------------------------------- file shapes


def _is_json(path: str, data: bytes) -> bool:
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return True
    if suffix in (".yaml", ".yml"):
        return False
    return data.lstrip()[:1] in (b"{", b"[")


def _elements(path: str, data: bytes) -> Iterator[tuple[str, object]]:
    """Yield (element, raw object) for every object in the file, Lists unpacked."""
    if _is_json(path, data):
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ParseError(
                path, f"line {exc.lineno}, column {exc.colno}", f"invalid JSON: {exc.msg}"
            ) from None
        if not isinstance(doc, dict):
            raise ParseError(
                path,
                "top level",
                f"expected an object (a Kubernetes object or a List), got {_json_type(doc)}",
            )
        yield from _unpack(path, "", "object", doc)
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(path, "", f"not UTF-8 text: {exc.reason}") from None
    lines = _document_lines(text)
    document = 0
    try:
        for doc in _yaml.load_all(text):
            document += 1
            if doc is None:
                continue
            line = lines[document - 1] if document <= len(lines) else None
            where = f"document {document}" + (f" (line {line})" if line else "")
            if not isinstance(doc, dict):
                raise ParseError(
                    path, where, f"expected a mapping (a Kubernetes object), got {_json_type(doc)}"
                )
            yield from _unpack(path, f"{where}: ", where, doc)
    except yaml.YAMLError as exc:
        raise ParseError(path, _yaml_element(exc, document + 1), _yaml_reason(exc)) from None


def _unpack(
    path: str, prefix: str, where: str, doc: Mapping[str, object]
) -> Iterator[tuple[str, object]]:
    """Yield the items of a List (``kind: List``, or ``*List`` with ``items``), else ``doc``."""
    kind = doc.get("kind")
    if not (
        isinstance(kind, str) and (kind == "List" or (kind.endswith("List") and "items" in doc))
    ):
        yield where, doc
        return
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError(path, where, f"{kind}.items must be an array, got {_json_type(items)}")
    for index, item in enumerate(items):
        element = f"{prefix}items[{index}]"
        if isinstance(item, dict) and item.get("kind") == "List":
            raise ParseError(path, element, "a List inside a List is not supported")
        yield element, item
        # the object is read: its raw form can go (lowers the peak of a large List)
        items[index] = None


# --------------------------------------------------------------------------- objects


def _object(path: str, element: str, raw: object) -> KubeObject | ImportWarning:
    if not isinstance(raw, dict):
        raise ParseError(
            path, element, f"expected a mapping (a Kubernetes object), got {_json_type(raw)}"
        )
    kind = raw.get("kind")
    if not isinstance(kind, str) or not kind.strip():
        raise ParseError(path, element, "kind is missing or not a string")
    metadata = raw.get("metadata")
    if not isinstance(metadata, dict):
        raise ParseError(path, element, f"{kind}: metadata is missing or not a mapping")
    name = metadata.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ParseError(path, element, f"{kind}: metadata.name is missing or not a string")
    namespace = metadata.get("namespace")
    if namespace is not None and not (isinstance(namespace, str) and namespace.strip()):
        raise ParseError(path, element, f"{kind} {name}: metadata.namespace is not a string")
    label = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
    if kind not in SUPPORTED_KINDS:
        return ImportWarning(path, f"{element} ({label})", f"kind {kind} is not imported; skipped")
    try:
        return _supported(path, element, kind, name.strip(), namespace, metadata, raw)
    except _BadField as exc:
        raise ParseError(path, element, f"{label}: {exc.field} {exc.reason}") from None


def _supported(
    path: str,
    element: str,
    kind: str,
    name: str,
    namespace: object,
    metadata: Mapping[str, object],
    raw: Mapping[str, object],
) -> KubeObject:
    spec = _mapping(raw.get("spec"), "spec")
    status = _mapping(raw.get("status"), "status")
    uid = metadata.get("uid")
    labels = _string_map(metadata.get("labels"), "metadata.labels")
    extra: _KindFields
    if kind in WORKLOAD_KINDS:
        extra = _workload(kind, spec)
    elif kind == "Pod":
        env, images = _containers(spec, "spec")
        node_name = spec.get("nodeName")
        phase = status.get("phase")
        extra = _KindFields(
            env=env,
            images=images,
            node_name=node_name if isinstance(node_name, str) and node_name else None,
            phase=phase if isinstance(phase, str) and phase else None,
        )
    elif kind == "Service":
        extra = _service(spec)
    else:
        extra = _node(labels, status)
    return KubeObject(
        path=path,
        element=element,
        kind=kind,
        name=name,
        namespace=(
            namespace.strip()
            if isinstance(namespace, str) and kind not in CLUSTER_SCOPED_KINDS
            else None
        ),
        uid=uid.strip() if isinstance(uid, str) and uid.strip() else None,
        labels=labels,
        annotations=_string_map(metadata.get("annotations"), "metadata.annotations"),
        owners=_owners(metadata.get("ownerReferences")),
        **extra,
    )


class _KindFields(TypedDict, total=False):
    """The kind-specific fields of a :class:`KubeObject`."""

    selector: LabelSelector | None
    template_labels: Mapping[str, str] | None
    env: tuple[EnvVar, ...]
    images: tuple[str, ...]
    replicas: int | None
    node_name: str | None
    phase: str | None
    service_type: str | None
    cluster_ip: str | None
    external_name: str | None
    ports: tuple[int, ...]
    internal_ip: str | None
    hostname: str | None
    kubelet_version: str | None


def _workload(kind: str, spec: Mapping[str, object]) -> _KindFields:
    if kind == "CronJob":
        job_template = _mapping(spec.get("jobTemplate"), "spec.jobTemplate")
        job_spec = _mapping(job_template.get("spec"), "spec.jobTemplate.spec")
        where = "spec.jobTemplate.spec.template"
        template = _mapping(job_spec.get("template"), where)
    else:
        where = "spec.template"
        template = _mapping(spec.get("template"), where)
    template_meta = _mapping(template.get("metadata"), f"{where}.metadata")
    template_labels = _string_map(template_meta.get("labels"), f"{where}.metadata.labels")
    template_spec = _mapping(template.get("spec"), f"{where}.spec")
    env, images = _containers(template_spec, f"{where}.spec")
    selector: LabelSelector | None = None
    raw_selector = spec.get("selector")
    if kind == "ReplicationController":
        labels = _string_map(raw_selector, "spec.selector") or template_labels
        selector = LabelSelector(tuple(sorted(labels.items()))) if labels else None
    elif raw_selector is not None:
        selector = _label_selector(raw_selector, "spec.selector")
    replicas = spec.get("replicas")
    return _KindFields(
        selector=selector,
        template_labels=template_labels,
        env=env,
        images=images,
        replicas=replicas if isinstance(replicas, int) and not isinstance(replicas, bool) else None,
    )


def _service(spec: Mapping[str, object]) -> _KindFields:
    selector = _string_map(spec.get("selector"), "spec.selector")
    ports_raw = spec.get("ports")
    ports: list[int] = []
    if ports_raw is not None:
        if not isinstance(ports_raw, list):
            raise _BadField("spec.ports", f"must be an array, got {_json_type(ports_raw)}")
        for index, port in enumerate(ports_raw):
            entry = _mapping(port, f"spec.ports[{index}]")
            number = entry.get("port")
            if isinstance(number, int) and not isinstance(number, bool):
                ports.append(number)
    service_type = spec.get("type")
    cluster_ip = spec.get("clusterIP")
    external = spec.get("externalName")
    return _KindFields(
        selector=LabelSelector(tuple(sorted(selector.items()))) if selector else None,
        service_type=service_type
        if isinstance(service_type, str) and service_type
        else "ClusterIP",
        cluster_ip=cluster_ip if isinstance(cluster_ip, str) and cluster_ip else None,
        external_name=external.strip() if isinstance(external, str) and external.strip() else None,
        ports=tuple(ports),
    )


def _node(labels: Mapping[str, str], status: Mapping[str, object]) -> _KindFields:
    internal_ip: str | None = None
    hostname: str | None = None
    addresses = status.get("addresses")
    if addresses is not None:
        if not isinstance(addresses, list):
            raise _BadField("status.addresses", f"must be an array, got {_json_type(addresses)}")
        for index, address in enumerate(addresses):
            entry = _mapping(address, f"status.addresses[{index}]")
            type_, value = entry.get("type"), entry.get("address")
            if not isinstance(value, str) or not value.strip():
                continue
            if type_ == "InternalIP" and internal_ip is None:
                internal_ip = value.strip()
            elif type_ == "Hostname" and hostname is None:
                hostname = value.strip()
    if hostname is None:
        hostname = labels.get("kubernetes.io/hostname") or None
    node_info = _mapping(status.get("nodeInfo"), "status.nodeInfo")
    kubelet = node_info.get("kubeletVersion")
    return _KindFields(
        internal_ip=internal_ip,
        hostname=hostname,
        kubelet_version=kubelet if isinstance(kubelet, str) and kubelet else None,
    )


def _containers(
    pod_spec: Mapping[str, object], where: str
) -> tuple[tuple[EnvVar, ...], tuple[str, ...]]:
    env: list[EnvVar] = []
    images: list[str] = []
    for group in ("initContainers", "containers"):
        containers = pod_spec.get(group)
        if containers is None:
            continue
        if not isinstance(containers, list):
            raise _BadField(f"{where}.{group}", f"must be an array, got {_json_type(containers)}")
        for index, raw in enumerate(containers):
            container = _mapping(raw, f"{where}.{group}[{index}]")
            cname = container.get("name")
            cname = cname if isinstance(cname, str) else f"{group}[{index}]"
            image = container.get("image")
            if isinstance(image, str) and image and image not in images:
                images.append(image)
            variables = container.get("env")
            if variables is None:
                continue
            if not isinstance(variables, list):
                raise _BadField(
                    f"{where}.{group}[{index}].env",
                    f"must be an array, got {_json_type(variables)}",
                )
            for var in variables:
                if type(var) is not dict:
                    continue
                vname, value = var.get("name"), var.get("value")
                if type(vname) is not str or not vname or value is None:
                    continue
                if type(value) is str:  # the common case, without the scalar checks
                    env.append(EnvVar(cname, vname, value))
                elif _is_scalar(value):
                    env.append(EnvVar(cname, vname, _scalar_text(value)))
    return tuple(env), tuple(images)


def _owners(raw: object) -> tuple[OwnerRef, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _BadField("metadata.ownerReferences", f"must be an array, got {_json_type(raw)}")
    owners: list[OwnerRef] = []
    for index, item in enumerate(raw):
        entry = _mapping(item, f"metadata.ownerReferences[{index}]")
        kind, name, uid = entry.get("kind"), entry.get("name"), entry.get("uid")
        if not isinstance(kind, str) or not isinstance(name, str) or not kind or not name:
            raise _BadField(f"metadata.ownerReferences[{index}]", "needs a string kind and name")
        owners.append(
            OwnerRef(
                kind,
                name,
                uid if isinstance(uid, str) and uid else None,
                entry.get("controller") is True,
            )
        )
    return tuple(owners)


def _label_selector(raw: object, where: str) -> LabelSelector:
    selector = _mapping(raw, where)
    labels = _string_map(selector.get("matchLabels"), f"{where}.matchLabels")
    expressions: list[LabelRequirement] = []
    raw_expressions = selector.get("matchExpressions")
    if raw_expressions is not None:
        if not isinstance(raw_expressions, list):
            raise _BadField(
                f"{where}.matchExpressions", f"must be an array, got {_json_type(raw_expressions)}"
            )
        for index, item in enumerate(raw_expressions):
            entry = _mapping(item, f"{where}.matchExpressions[{index}]")
            key, operator, values = entry.get("key"), entry.get("operator"), entry.get("values")
            if not isinstance(key, str) or not isinstance(operator, str):
                raise _BadField(
                    f"{where}.matchExpressions[{index}]", "needs a string key and operator"
                )
            if values is not None and not isinstance(values, list):
                raise _BadField(f"{where}.matchExpressions[{index}].values", "must be an array")
            expressions.append(
                LabelRequirement(
                    key, operator, tuple(_scalar_text(v) for v in values or () if _is_scalar(v))
                )
            )
    return LabelSelector(tuple(sorted(labels.items())), tuple(expressions))


# --------------------------------------------------------------------------- helpers


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _BadField(where, f"must be a mapping, got {_json_type(value)}")
    return value


def _string_map(value: object, where: str) -> Mapping[str, str]:
    """Return a mapping of strings to strings (scalars as text); ``{}`` for ``None``.

    A mapping that already holds only strings (every JSON file, most YAML) is
    returned as it is, without a copy: the parsed document is not used again.
    """
    if type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items()):
        return value
    mapping = _mapping(value, where)
    out: dict[str, str] = {}
    for key, item in mapping.items():
        if not isinstance(key, str) or not _is_scalar(item):
            raise _BadField(where, "must map strings to strings")
        out[key] = "" if item is None else _scalar_text(item)
    return out


def _is_scalar(value: object) -> bool:
    # a tuple is faster than a union here; dates come from unquoted YAML timestamps
    return value is None or isinstance(value, (str, int, float, bool, date))


def _scalar_text(value: object) -> str:
    """Return a YAML scalar as text (``true``, ``8080``, an unquoted date in ISO 8601)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):  # datetime included
        return value.isoformat()
    return str(value)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _document_lines(text: str) -> list[int | None]:
    """Return, per YAML document, the 1-based line its content starts on (one compose pass)."""
    lines: list[int | None] = []
    try:
        for node in _yaml.compose_all(text):
            lines.append(None if node is None else node.start_mark.line + 1)
    except yaml.YAMLError:
        pass
    return lines


def _yaml_element(exc: yaml.YAMLError, document: int) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if isinstance(mark, yaml.Mark):
        return f"document {document} (line {mark.line + 1}, column {mark.column + 1})"
    return f"document {document}"


def _yaml_reason(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if isinstance(problem, str):
        return "invalid YAML: " + (f"{context} {problem}" if isinstance(context, str) else problem)
    return f"invalid YAML: {exc}"
