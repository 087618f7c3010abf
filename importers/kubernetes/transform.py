"""Kubernetes objects -> configuration items and their relations (pure, deterministic).

Entities: every Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob, Pod, Node and Service becomes a
``ConfigurationItem`` with ``ciClass`` ``k8s_<kind lower case>`` (``k8s_deployment``,
``k8s_pod``, ``k8s_node``, ``k8s_service`` ...) and key
``k8s/<scope>/<namespace>/<kind lower case>/<name>``, where ``<scope>`` is the
run's scope (it names the cluster) and ``<namespace>`` defaults to ``default``
when the object has none; cluster-scoped Nodes therefore get ``default`` too.
Identifiers: ``k8sUid`` from ``metadata.uid``; Nodes also ``hostname`` (the
``Hostname`` address, else the ``kubernetes.io/hostname`` label) and
``ipAddress`` (the first ``InternalIP``). Attributes: ``k8sKind``,
``k8sNamespace``, ``labels``, ``images``, ``replicas``, ``nodeName`` and
``phase`` (pods), ``k8sServiceType``, ``clusterIP``, ``externalName`` and
``ports`` (services), ``kubeletVersion`` (nodes), each only when the object
has it.

Relations (``Kind/key`` endpoints by key unless said otherwise):

* **Workload -> its pods.** An owner ``DEPENDS_ON`` what it owns, through
  ``metadata.ownerReferences`` (the ``controller`` one, else the first one of
  a workload kind): Deployment -> ReplicaSet, ReplicaSet/StatefulSet/DaemonSet/
  Job/ReplicationController -> Pod, CronJob -> Job. The relation carries
  ``redundancyGroup = "<owner key>#replicas"``: replicas are redundant
  alternatives (one down degrades the owner, all down take it down). The
  relation is emitted even when the owner is not in the import (the runner
  keeps it if the store has the owner, else drops it with a warning). A pod
  without a workload owner reference is matched to the workloads of its
  namespace whose selector selects its labels (the most specific one: a
  matching ReplicaSet wins over the Deployment that owns it).
* **Service -> workloads.** A k8s Service ``DEPENDS_ON`` every *top-level*
  object of its namespace (a workload or pod not owned by another object of
  the import) whose pod template labels (pod labels) its selector selects,
  with ``redundancyGroup = "<service key>#endpoints"``: the endpoints of a
  Service are redundant alternatives too. A Service without a selector
  depends on nothing.
* **ExternalName Service -> external host.** A Service of type
  ``ExternalName`` ``DEPENDS_ON`` ``ConfigurationItem{identifiers: {fqdn:
  <spec.externalName>}}`` (kept by the runner only when another source knows
  that host), so an environment variable naming the Service reaches the host.
* **Pod -> Node.** A pod ``RUNS_ON`` the Node named by ``spec.nodeName``
  (by key; dropped by the runner when that node is neither imported nor stored).
* **App -> app (environment).** A top-level workload (or pod) whose containers
  set a variable named ``*_ADDR``, ``*_HOST`` or ``*_URL`` (any case) with a
  literal value naming a k8s Service of the import ``DEPENDS_ON`` that Service.
  Accepted values: ``name``, ``name:port``, ``name.ns``, ``name.ns.svc``,
  ``name.ns.svc.cluster.local[:port]``, ``pod.name.ns.svc...``, with an
  optional URL scheme, user info and path, comma-separated lists allowed; a
  bare ``name`` means the workload's own namespace. A value that is instead an
  external host name (it has a dot and is not a cluster service name) gives
  ``DEPENDS_ON ConfigurationItem{identifiers: {fqdn: host}}`` (an IP address
  gives ``{ipAddress: ip}``), which links to a CI another source knows (a
  database from Terraform state, a host from Nmap) or is dropped by the runner
  with a warning. Loopback and wildcard addresses, empty hosts and values with
  ``$(VAR)`` substitutions are ignored; a cluster-style name that matches no
  Service of the import is a warning; a reference to a Service that selects
  the workload itself is ignored.
* **Backstage.** A top-level workload or a k8s Service whose labels or
  annotations carry ``backstage.io/kubernetes-id: <id>`` gets
  ``Service{identifiers: {backstageKubernetesId: <id>}} RUNS_ON`` it: the
  Backstage entity annotated with the same ``backstage.io/kubernetes-id``
  (the ``backstage`` importer turns that annotation into this identifier,
  whatever the entity's name, as Backstage's Kubernetes plugin matches them).
  The runner keeps the relation only when that entity is in the store, so
  import the catalog first; a later Kubernetes import adds the link.

An object defined twice (same kind, namespace and name) is taken from its
first occurrence and the other is reported. Output is sorted.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pydantic import JsonValue

from graphsvc.ingest.importer import ImportResult, ImportWarning
from graphsvc.model.batch import EntityItem, EntityRef, RelationItem
from graphsvc.model.vocabulary import EntityKind, RelationType
from importers.kubernetes.model import WORKLOAD_KINDS, KubeFile, KubeObject, OwnerRef

__all__ = ["BACKSTAGE_ID", "ENV_SUFFIXES", "hosts_in", "object_key", "transform_objects"]

BACKSTAGE_ID = "backstage.io/kubernetes-id"
"""Label or annotation naming the Backstage component an object runs."""

ENV_SUFFIXES = ("_ADDR", "_HOST", "_URL")
"""Environment variable name endings (case-insensitive) that name a dependency."""

_CI = EntityKind.CONFIGURATION_ITEM
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SCHEME = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:)+//")  # also jdbc:postgresql://
_DIGITS_AND_DOTS = re.compile(r"^[0-9.]+$")
_IGNORED_HOSTS = frozenset({"localhost", "localhost.localdomain"})


def object_key(obj: KubeObject, scope: str) -> str:
    """Return the natural key ``k8s/<scope>/<namespace>/<kind lower case>/<name>``."""
    return _key(scope, obj.namespace or "default", obj.kind, obj.name)


def _key(scope: str, namespace: str, kind: str, name: str) -> str:
    return f"k8s/{scope}/{namespace}/{kind.lower()}/{name}"


def hosts_in(value: str) -> list[str]:
    """Return the host names or IP addresses an address-like value names, lower case.

    Handles ``host``, ``host:port``, ``[v6]:port``, URLs with scheme, user info,
    path and query, and comma-separated lists of those. Returns nothing for
    values with ``$(...)`` substitutions.
    """
    if "$(" in value or "${" in value:
        return []
    hosts: list[str] = []
    for raw_part in value.split(","):
        part = _SCHEME.sub("", raw_part.strip())
        authority = re.split(r"[/?#]", part, maxsplit=1)[0]
        authority = authority.rsplit("@", 1)[-1]
        if authority.startswith("["):
            host = authority[1 : authority.find("]")] if "]" in authority else ""
        elif authority.count(":") == 1:
            host = authority.split(":", 1)[0]
        else:
            host = authority
        host = host.strip().lower().rstrip(".")
        if host:
            hosts.append(host)
    return hosts


def transform_objects(files: Sequence[KubeFile], scope: str) -> ImportResult:
    """Turn the parsed files of one run into configuration items and relations.

    See the module docstring for the mapping. ``scope`` is the run's scope,
    used in every key. Output is sorted (entities by key, relations by type
    and endpoint keys).
    """
    return _Transform(scope).run(files)


class _Transform:
    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.warnings: list[ImportWarning] = []
        self.objects: dict[str, KubeObject] = {}
        self.relations: dict[tuple[RelationType, str, str], RelationItem] = {}
        # object key -> key of its workload owner (ownerReferences), in the import or not
        self.owner_keys: dict[str, str] = {}

    # ------------------------------------------------------------------ driver
    def run(self, files: Sequence[KubeFile]) -> ImportResult:
        for file in files:
            self.warnings.extend(file.warnings)
            for obj in file.objects:
                key = object_key(obj, self.scope)
                first = self.objects.get(key)
                if first is not None:
                    self._warn(
                        obj, f"defined again; the object at {first.path} {first.element} is used"
                    )
                    continue
                self.objects[key] = obj
        owned = self._ownership()
        top = {
            k: o
            for k, o in self.objects.items()
            if o.kind not in ("Node", "Service") and k not in owned
        }
        service_targets = self._services(top)
        self._nodes()
        self._environment(top, service_targets)
        self._backstage(top)
        entities = [self._entity(k, o) for k, o in sorted(self.objects.items())]
        ordered = sorted(
            self.relations.items(), key=lambda kv: (kv[0][0].value, kv[0][1], kv[0][2])
        )
        return ImportResult(tuple(entities), tuple(r for _, r in ordered), tuple(self.warnings))

    # ------------------------------------------------------------------ entities
    def _entity(self, key: str, obj: KubeObject) -> EntityItem:
        attributes: dict[str, JsonValue] = {
            "ciClass": f"k8s_{obj.kind.lower()}",
            "k8sKind": obj.kind,
        }
        if obj.kind != "Node":
            attributes["k8sNamespace"] = obj.namespace or "default"
        if obj.labels:
            attributes["labels"] = dict(sorted(obj.labels.items()))
        if obj.images:
            attributes["images"] = list(obj.images)
        if obj.replicas is not None:
            attributes["replicas"] = obj.replicas
        if obj.node_name is not None:
            attributes["nodeName"] = obj.node_name
        if obj.phase is not None:
            attributes["phase"] = obj.phase
        if obj.service_type is not None:
            attributes["k8sServiceType"] = obj.service_type
        if obj.cluster_ip is not None:
            attributes["clusterIP"] = obj.cluster_ip
        if obj.external_name is not None:
            attributes["externalName"] = obj.external_name
        if obj.ports:
            attributes["ports"] = list(obj.ports)
        if obj.kubelet_version is not None:
            attributes["kubeletVersion"] = obj.kubelet_version
        identifiers: dict[str, str] = {}
        if obj.uid is not None:
            identifiers["k8sUid"] = obj.uid
        if obj.hostname is not None:
            identifiers["hostname"] = obj.hostname
        if obj.internal_ip is not None:
            identifiers["ipAddress"] = obj.internal_ip
        return EntityItem(
            kind=_CI, key=key, name=obj.name, identifiers=identifiers, attributes=attributes
        )

    # ------------------------------------------------------------------ ownership
    def _ownership(self) -> set[str]:
        """Emit owner -> owned relations; return the keys owned by an object of the import."""
        for key, obj in self.objects.items():
            if obj.kind not in ("Node", "Service"):
                owner = self._owner(obj)
                if owner is not None:
                    namespace = obj.namespace or "default"
                    self.owner_keys[key] = _key(self.scope, namespace, owner.kind, owner.name)
        owned: set[str] = set()
        stray_pods: list[tuple[str, KubeObject]] = []
        for key, obj in self.objects.items():
            owner_key = self.owner_keys.get(key)
            if owner_key is not None:
                self._depends(owner_key, key, f"{owner_key}#replicas")
                if owner_key in self.objects:
                    owned.add(key)
            elif obj.kind == "Pod":
                stray_pods.append((key, obj))
        if stray_pods:
            self._match_stray_pods(stray_pods, owned)
        return owned

    def _owner(self, obj: KubeObject) -> OwnerRef | None:
        """Return the workload that controls ``obj`` (warns about owners of unknown kinds)."""
        candidates = [o for o in obj.owners if o.controller] or list(obj.owners)
        for owner in candidates:
            if owner.kind in WORKLOAD_KINDS:
                return owner
            if owner.kind != "Node":  # mirror pods are owned by their node: RUNS_ON covers it
                self._warn(
                    obj,
                    f"owner {owner.kind} {owner.name} is not a kind this importer knows; "
                    "the object is treated as top-level",
                )
        return None

    def _match_stray_pods(self, pods: list[tuple[str, KubeObject]], owned: set[str]) -> None:
        """Give pods without a workload owner reference to the workloads that select them.

        When both a workload and the workload that owns it match (a ReplicaSet
        and its Deployment), only the owned, more specific one is used.
        """
        by_namespace: dict[str, list[tuple[str, KubeObject]]] = defaultdict(list)
        for key, obj in self.objects.items():
            if obj.kind in WORKLOAD_KINDS and obj.kind != "CronJob" and obj.selector is not None:
                by_namespace[obj.namespace or "default"].append((key, obj))
        for pod_key, pod in pods:
            matches = sorted(
                k
                for k, w in by_namespace.get(pod.namespace or "default", [])
                if w.selector is not None and w.selector.matches(pod.labels)
            )
            owners_of_matches = {self.owner_keys.get(k) for k in matches}
            for key in matches:
                if key not in owners_of_matches:
                    self._depends(key, pod_key, f"{key}#replicas")
                    owned.add(pod_key)

    # ------------------------------------------------------------------ services
    def _services(self, top: Mapping[str, KubeObject]) -> dict[str, set[str]]:
        """Emit Service -> selected top-level objects; return service key -> target keys."""
        index: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        pod_labels: dict[str, Mapping[str, str]] = {}
        for key, obj in top.items():
            labels = obj.labels if obj.kind == "Pod" else obj.template_labels or {}
            pod_labels[key] = labels
            for label, value in labels.items():
                index[(obj.namespace or "default", label, value)].add(key)
        targets: dict[str, set[str]] = {}
        for key, svc in self.objects.items():
            if svc.kind != "Service" or svc.selector is None or not svc.selector.match_labels:
                continue
            namespace = svc.namespace or "default"
            candidates: set[str] | None = None
            for label, value in svc.selector.match_labels:
                found = index.get((namespace, label, value), set())
                candidates = set(found) if candidates is None else candidates & found
            chosen = {c for c in candidates or () if svc.selector.matches(pod_labels[c])}
            targets[key] = chosen
            for target in sorted(chosen):
                self._depends(key, target, f"{key}#endpoints")
        for key, svc in self.objects.items():
            if svc.kind == "Service" and svc.external_name is not None:
                for host in hosts_in(svc.external_name):
                    external = _env_target(host, svc.namespace or "default", {})
                    if isinstance(external, EntityRef):
                        self._add(RelationType.DEPENDS_ON, _ref(key), external)
        return targets

    # ------------------------------------------------------------------ nodes
    def _nodes(self) -> None:
        for key, obj in self.objects.items():
            if obj.kind == "Pod" and obj.node_name:
                node_key = _key(self.scope, "default", "Node", obj.node_name)
                self._add(RelationType.RUNS_ON, _ref(key), _ref(node_key))

    # ------------------------------------------------------------------ environment
    def _environment(
        self, top: Mapping[str, KubeObject], service_targets: Mapping[str, set[str]]
    ) -> None:
        services = {
            (o.namespace or "default", o.name): k
            for k, o in self.objects.items()
            if o.kind == "Service"
        }
        for key, obj in sorted(top.items()):
            namespace = obj.namespace or "default"
            for var in obj.env:
                if not var.name.upper().endswith(ENV_SUFFIXES):
                    continue
                for host in hosts_in(var.value):
                    target = _env_target(host, namespace, services)
                    if isinstance(target, _Missing):
                        self._warn(
                            obj,
                            f"env {var.name}={var.value} (container {var.container}) names "
                            f"Service {target.namespace}/{target.name}, which is not in this "
                            "import; dependency not emitted",
                        )
                    elif isinstance(target, EntityRef):
                        self._add(RelationType.DEPENDS_ON, _ref(key), target)
                    elif target is not None and key not in service_targets.get(target, set()):
                        self._add(RelationType.DEPENDS_ON, _ref(key), _ref(target))

    # ------------------------------------------------------------------ backstage
    def _backstage(self, top: Mapping[str, KubeObject]) -> None:
        linked = {**top, **{k: o for k, o in self.objects.items() if o.kind == "Service"}}
        for key, obj in sorted(linked.items()):
            if obj.kind == "Pod":
                continue
            component = obj.labels.get(BACKSTAGE_ID) or obj.annotations.get(BACKSTAGE_ID)
            if not component or not component.strip():
                continue
            service = EntityRef(
                kind=EntityKind.SERVICE, identifiers={"backstageKubernetesId": component.strip()}
            )
            self._add(RelationType.RUNS_ON, service, _ref(key))

    # ------------------------------------------------------------------ helpers
    def _depends(self, from_key: str, to_key: str, group: str) -> None:
        self._add(RelationType.DEPENDS_ON, _ref(from_key), _ref(to_key), {"redundancyGroup": group})

    def _add(
        self,
        type_: RelationType,
        from_: EntityRef,
        to: EntityRef,
        attributes: Mapping[str, JsonValue] | None = None,
    ) -> None:
        triple = (type_, from_.label(), to.label())
        if triple[1] == triple[2]:
            return
        if triple in self.relations:
            return
        self.relations[triple] = RelationItem.model_validate(
            {"type": type_, "from": from_, "to": to, "attributes": dict(attributes or {})}
        )

    def _warn(self, obj: KubeObject, message: str) -> None:
        self.warnings.append(ImportWarning(obj.path, f"{obj.element} ({obj.label()})", message))


@lru_cache(maxsize=65536)
def _ref(key: str) -> EntityRef:
    """Return the reference to the CI ``key`` (frozen, so shared between relations)."""
    return EntityRef(kind=_CI, key=key)


@dataclass(frozen=True, slots=True)
class _Missing:
    """A cluster-style host name that names no Service of the import."""

    namespace: str
    name: str


def _env_target(
    host: str, namespace: str, services: Mapping[tuple[str, str], str]
) -> str | EntityRef | _Missing | None:
    """Resolve one host of an environment value (see the module docstring).

    Returns:
        The key of the k8s Service it names, a reference to an external CI, a
        :class:`_Missing` for a cluster-style name without a Service, or
        ``None`` when the host is to be ignored (loopback, wildcard, not a name).
    """
    if host in _IGNORED_HOSTS:
        return None
    if ":" in host or _DIGITS_AND_DOTS.match(host):
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        if address.is_loopback or address.is_unspecified:
            return None
        return EntityRef(kind=_CI, identifiers={"ipAddress": str(address)})
    labels = host.split(".")
    if host.isdigit() or not all(_LABEL.match(label) for label in labels):
        return None
    if len(labels) == 1:
        return services.get((namespace, host)) or _Missing(namespace, host)
    if len(labels) == 2 and (labels[1], labels[0]) in services:
        return services[(labels[1], labels[0])]
    if "svc" in labels[2:4]:
        at = labels.index("svc", 2)
        name, ns = labels[at - 2], labels[at - 1]
        return services.get((ns, name)) or _Missing(ns, name)
    return EntityRef(kind=_CI, identifiers={"fqdn": host})
