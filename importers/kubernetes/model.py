"""Parsed form of Kubernetes object files (``kubectl get -o json``, manifests).

:mod:`importers.kubernetes.parse` reads a file into a :class:`KubeFile` holding
one :class:`KubeObject` per supported object; :mod:`importers.kubernetes.transform`
turns the files of a run into ingest items. Records are frozen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from graphsvc.ingest.importer import ImportWarning

__all__ = [
    "CLUSTER_SCOPED_KINDS",
    "SUPPORTED_KINDS",
    "WORKLOAD_KINDS",
    "EnvVar",
    "KubeFile",
    "KubeObject",
    "LabelRequirement",
    "LabelSelector",
    "OwnerRef",
]

WORKLOAD_KINDS = frozenset(
    {
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
        "CronJob",
    }
)
"""Kinds that run pods from a pod template."""

CLUSTER_SCOPED_KINDS = frozenset({"Node"})
"""Supported kinds that live outside any namespace."""

SUPPORTED_KINDS = WORKLOAD_KINDS | {"Pod", "Node", "Service"}
"""Kinds that become configuration items; every other kind is skipped with a warning."""


@dataclass(frozen=True, slots=True)
class LabelRequirement:
    """One ``matchExpressions`` entry of a label selector.

    Attributes:
        key: The label key.
        operator: ``In``, ``NotIn``, ``Exists`` or ``DoesNotExist``.
        values: The values for ``In`` and ``NotIn``.
    """

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` satisfy the requirement (unknown operators never do)."""
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        return False


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A label selector: ``matchLabels`` (or a Service's plain map) and ``matchExpressions``.

    An empty selector selects nothing: a Service without a selector has no
    automatic endpoints, and a workload without one matches no stray pods.
    """

    match_labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[LabelRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the selector has no condition at all."""
        return not self.match_labels and not self.expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` satisfy every condition (``False`` when empty)."""
        if self.empty:
            return False
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            r.matches(labels) for r in self.expressions
        )


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """One ``metadata.ownerReferences`` entry.

    Attributes:
        kind: The owner's kind.
        name: The owner's name (same namespace as the owned object).
        uid: The owner's uid, when given.
        controller: Whether the owner is the managing controller.
    """

    kind: str
    name: str
    uid: str | None = None
    controller: bool = False


@dataclass(frozen=True, slots=True)
class EnvVar:
    """A container environment variable with a literal value.

    Attributes:
        container: The container that sets it.
        name: The variable.
        value: Its literal value (variables set through ``valueFrom`` are not kept).
    """

    container: str
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class KubeObject:
    """One supported Kubernetes object, reduced to what the graph needs.

    Attributes:
        path: The file it was read from.
        element: Where it is in the file: ``items[3]``, ``document 2 (line 40)``,
            ``document 2 (line 40): items[0]`` or ``object`` (a lone JSON object).
        kind: The object's kind (one of :data:`SUPPORTED_KINDS`).
        name: ``metadata.name``.
        namespace: ``metadata.namespace``; ``None`` when absent (and always for
            cluster-scoped kinds).
        uid: ``metadata.uid`` (live dumps only).
        labels: ``metadata.labels``.
        annotations: ``metadata.annotations``.
        owners: ``metadata.ownerReferences``.
        selector: Workloads: ``spec.selector``; Services: ``spec.selector`` as
            ``matchLabels``; ``None`` otherwise or when absent.
        template_labels: Workloads: the pod template's labels (``None`` for other kinds).
        env: Literal environment variables of the pod template's (or the pod's)
            containers and init containers.
        images: Container images of the pod template or pod, in order, deduplicated.
        replicas: ``spec.replicas`` of workloads that have it.
        node_name: Pods: ``spec.nodeName``.
        phase: Pods: ``status.phase``.
        service_type: Services: ``spec.type`` (``ClusterIP`` when absent).
        cluster_ip: Services: ``spec.clusterIP``.
        external_name: ``ExternalName`` Services: ``spec.externalName``, the
            external host the Service is an alias of.
        ports: Services: ``spec.ports[].port``.
        internal_ip: Nodes: the first ``InternalIP`` in ``status.addresses``.
        hostname: Nodes: the first ``Hostname`` in ``status.addresses``, else the
            ``kubernetes.io/hostname`` label.
        kubelet_version: Nodes: ``status.nodeInfo.kubeletVersion``.
    """

    path: str
    element: str
    kind: str
    name: str
    namespace: str | None = None
    uid: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    owners: tuple[OwnerRef, ...] = ()
    selector: LabelSelector | None = None
    template_labels: Mapping[str, str] | None = None
    env: tuple[EnvVar, ...] = ()
    images: tuple[str, ...] = ()
    replicas: int | None = None
    node_name: str | None = None
    phase: str | None = None
    service_type: str | None = None
    cluster_ip: str | None = None
    external_name: str | None = None
    ports: tuple[int, ...] = ()
    internal_ip: str | None = None
    hostname: str | None = None
    kubelet_version: str | None = None

    def label(self) -> str:
        """Return ``Kind namespace/name`` (``Kind name`` when cluster-scoped), for messages."""
        if self.namespace is None:
            return f"{self.kind} {self.name}"
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class KubeFile:
    """Everything read from one file.

    Attributes:
        path: The file.
        objects: Its supported objects, in file order.
        warnings: Objects of kinds that are not imported, one warning each.
    """

    path: str
    objects: tuple[KubeObject, ...]
    warnings: tuple[ImportWarning, ...] = ()
