"""Generate a large, realistic ``kubectl get -o json`` List for benchmarking the importer.

Usage::

    python bench/gen_kubernetes.py OUT.json [-n 100000] [--seed 42] [--compact]

The output is a ``{"apiVersion": "v1", "kind": "List", "items": [...]}`` with
exactly ``n`` objects, the same for the same seed and ``n``. The mix, per
namespace of a few dozen applications:

* Nodes (about one per 60 objects) with ``InternalIP`` / ``Hostname`` addresses;
* per stateless app: a Deployment, its ReplicaSet (sometimes a second, scaled-
  down one from the previous rollout) with ``ownerReferences`` to the
  Deployment, 1-5 Pods owned by the current ReplicaSet with a ``nodeName``,
  and a ClusterIP Service selecting the app;
* per stateful app (about one in eight): a StatefulSet, its Pods and a
  headless Service;
* containers whose ``*_ADDR`` / ``*_HOST`` / ``*_URL`` environment variables name
  other Services of the namespace (``name:port``), of other namespaces
  (``name.ns.svc.cluster.local:port``), or external database hosts;
* a few ConfigMaps and ServiceAccounts (kinds the importer skips with a warning).

Objects carry uids, labels, resourceVersions and pod statuses as a live
cluster dump does. The list is cut at ``n`` objects, so the last app may be
incomplete.
"""

from __future__ import annotations

import argparse
import random
import string
import uuid
from pathlib import Path
from typing import Any

import orjson

WORDS = (
    *("cart", "checkout", "catalog", "payment", "shipping", "user", "auth", "search"),
    *("review", "ratings", "inventory", "order", "invoice", "ledger", "email", "notify"),
    *("gateway", "frontend", "profile", "session", "recommend", "pricing", "stock", "media"),
    *("upload", "report", "audit", "billing", "tax", "promo", "loyalty", "chat", "feed"),
)
PORTS = (80, 8080, 8443, 9000, 50051, 3550, 7070, 5432, 6379)
CREATED = "2024-05-02T10:00:00Z"


class Generator:
    """Builds the objects; deterministic for a seed."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.items: list[dict[str, Any]] = []
        self.nodes: list[str] = []
        self.services: dict[str, list[tuple[str, int]]] = {}
        self.version = 1000

    # -------------------------------------------------------------- helpers
    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def suffix(self, length: int) -> str:
        return "".join(self.rng.choices(string.ascii_lowercase + string.digits, k=length))

    def meta(
        self,
        name: str,
        namespace: str | None = None,
        labels: dict[str, str] | None = None,
        owner: tuple[str, str, str, str] | None = None,
    ) -> dict[str, Any]:
        self.version += 1
        meta: dict[str, Any] = {
            "creationTimestamp": CREATED,
            "name": name,
            "resourceVersion": str(self.version),
            "uid": self.uid(),
        }
        if namespace is not None:
            meta["namespace"] = namespace
        if labels:
            meta["labels"] = labels
        if owner is not None:
            api_version, kind, owner_name, owner_uid = owner
            meta["ownerReferences"] = [
                {
                    "apiVersion": api_version,
                    "blockOwnerDeletion": True,
                    "controller": True,
                    "kind": kind,
                    "name": owner_name,
                    "uid": owner_uid,
                }
            ]
        return meta

    def add(self, item: dict[str, Any]) -> bool:
        """Append ``item``; return ``False`` once ``n`` objects exist."""
        if len(self.items) >= self.n:
            return False
        self.items.append(item)
        return True

    def full(self) -> bool:
        return len(self.items) >= self.n

    # -------------------------------------------------------------- objects
    def node(self, index: int) -> dict[str, Any]:
        name = f"node-{index:05d}"
        ip = f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"
        self.nodes.append(name)
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": self.meta(
                name, labels={"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
            ),
            "spec": {"podCIDR": f"172.{16 + index % 16}.{index % 256}.0/24"},
            "status": {
                "addresses": [
                    {"type": "InternalIP", "address": ip},
                    {"type": "Hostname", "address": name},
                ],
                "nodeInfo": {"kubeletVersion": "v1.29.4", "osImage": "Ubuntu 22.04.4 LTS"},
            },
        }

    def env(self, namespace: str, namespaces: list[str]) -> list[dict[str, str]]:
        env = [{"name": "PORT", "value": "8080"}, {"name": "LOG_LEVEL", "value": "info"}]
        local = self.services.get(namespace, [])
        for _ in range(self.rng.randint(0, 4)):
            roll = self.rng.random()
            if local and roll < 0.7:
                name, port = self.rng.choice(local)
                var, value = f"{name.upper().replace('-', '_')}_ADDR", f"{name}:{port}"
            elif roll < 0.85:
                other = self.rng.choice(namespaces)
                remote = self.services.get(other)
                if not remote:
                    continue
                name, port = self.rng.choice(remote)
                var = f"{name.upper().replace('-', '_')}_URL"
                value = f"http://{name}.{other}.svc.cluster.local:{port}/api"
            else:
                db = self.rng.randint(1, 40)
                var, value = "DB_HOST", f"db-{db:02d}.prod.example.com"
            env.append({"name": var, "value": value})
        return env

    def pod_spec(self, app: str, env: list[dict[str, str]]) -> dict[str, Any]:
        version = f"{self.rng.randint(1, 9)}.{self.rng.randint(0, 20)}"
        return {
            "containers": [
                {
                    "name": app,
                    "image": f"registry.example.com/{app}:{version}",
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "env": env,
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
            ],
            "serviceAccountName": "default",
        }

    def pod(
        self,
        name: str,
        namespace: str,
        labels: dict[str, str],
        owner: tuple[str, str, str, str],
        spec: dict[str, Any],
    ) -> dict[str, Any]:
        node = self.rng.choice(self.nodes)
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": self.meta(name, namespace, labels, owner),
            "spec": {**spec, "nodeName": node},
            "status": {
                "phase": "Running",
                "podIP": f"172.16.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}",
                "hostIP": "10.0.0.1",
            },
        }

    def service(
        self, name: str, namespace: str, selector: dict[str, str], headless: bool
    ) -> dict[str, Any]:
        port = self.rng.choice(PORTS)
        self.services.setdefault(namespace, []).append((name, port))
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.meta(name, namespace, {"app": name}),
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "None"
                if headless
                else f"10.96.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}",
                "selector": selector,
                "ports": [{"name": "main", "port": port, "targetPort": 8080, "protocol": "TCP"}],
            },
        }

    def stateless_app(self, app: str, namespace: str, namespaces: list[str]) -> None:
        replicas = self.rng.choice((1, 1, 2, 2, 3, 3, 3, 4, 5))
        labels = {"app": app, "app.kubernetes.io/part-of": namespace}
        env = self.env(namespace, namespaces)
        spec = self.pod_spec(app, env)
        deployment_meta = self.meta(app, namespace, labels)
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": deployment_meta,
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": app}},
                "template": {"metadata": {"labels": labels}, "spec": spec},
            },
        }
        if not self.add(deployment):
            return
        owner = ("apps/v1", "Deployment", app, deployment_meta["uid"])
        sets = [(self.suffix(10), replicas)]
        if self.rng.random() < 0.15:
            sets.append((self.suffix(10), 0))  # the previous rollout, scaled down
        current_rs: tuple[str, str, str, str] | None = None
        current_labels: dict[str, str] = {}
        for index, (pod_hash, count) in enumerate(sets):
            rs_labels = {**labels, "pod-template-hash": pod_hash}
            rs_meta = self.meta(f"{app}-{pod_hash}", namespace, rs_labels, owner)
            replica_set = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": rs_meta,
                "spec": {
                    "replicas": count,
                    "selector": {"matchLabels": {"app": app, "pod-template-hash": pod_hash}},
                    "template": {"metadata": {"labels": rs_labels}, "spec": spec},
                },
            }
            if not self.add(replica_set):
                return
            if index == 0:
                current_rs = ("apps/v1", "ReplicaSet", rs_meta["name"], rs_meta["uid"])
                current_labels = rs_labels
        assert current_rs is not None
        for _ in range(replicas):
            name = f"{current_rs[2]}-{self.suffix(5)}"
            if not self.add(self.pod(name, namespace, current_labels, current_rs, spec)):
                return
        self.add(self.service(app, namespace, {"app": app}, headless=False))

    def stateful_app(self, app: str, namespace: str, namespaces: list[str]) -> None:
        replicas = self.rng.choice((1, 3, 3))
        labels = {"app": app}
        spec = self.pod_spec(app, self.env(namespace, namespaces))
        set_meta = self.meta(app, namespace, labels)
        stateful_set = {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": set_meta,
            "spec": {
                "replicas": replicas,
                "serviceName": app,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": spec},
            },
        }
        if not self.add(stateful_set):
            return
        owner = ("apps/v1", "StatefulSet", app, set_meta["uid"])
        for ordinal in range(replicas):
            pod_labels = {**labels, "statefulset.kubernetes.io/pod-name": f"{app}-{ordinal}"}
            if not self.add(self.pod(f"{app}-{ordinal}", namespace, pod_labels, owner, spec)):
                return
        self.add(self.service(app, namespace, labels, headless=True))

    # -------------------------------------------------------------- driver
    def build(self) -> dict[str, Any]:
        node_count = max(3, self.n // 60)
        for index in range(node_count):
            if not self.add(self.node(index)):
                break
        namespace_count = max(1, self.n // 2500)
        namespaces = [f"team-{i:03d}" for i in range(namespace_count)]
        serial = 0
        while not self.full():
            namespace = namespaces[serial % namespace_count]
            app = f"{self.rng.choice(WORDS)}-{self.rng.choice(WORDS)}-{serial}"
            serial += 1
            roll = self.rng.random()
            if roll < 0.03:
                cm = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": self.meta(f"{app}-config", namespace),
                    "data": {"LOG_LEVEL": "info"},
                }
                self.add(cm)
            elif roll < 0.04:
                sa = {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": self.meta(app, namespace),
                }
                self.add(sa)
            elif roll < 0.16:
                self.stateful_app(app, namespace, namespaces)
            else:
                self.stateless_app(app, namespace, namespaces)
        return {
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": ""},
            "items": self.items,
        }


def generate(n: int = 100_000, seed: int = 42) -> dict[str, Any]:
    """Return the List document with ``n`` objects for ``seed``."""
    return Generator(n, seed).build()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="where to write the JSON List")
    parser.add_argument(
        "-n", "--objects", type=int, default=100_000, help="objects (default 100000)"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--compact", action="store_true", help="no indentation")
    args = parser.parse_args(argv)
    if args.objects < 1:
        parser.error("-n must be at least 1")
    doc = generate(args.objects, args.seed)
    option = 0 if args.compact else orjson.OPT_INDENT_2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(orjson.dumps(doc, option=option) + b"\n")
    kinds: dict[str, int] = {}
    for item in doc["items"]:
        kinds[item["kind"]] = kinds.get(item["kind"], 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    print(f"wrote {len(doc['items'])} objects to {args.output}: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
