"""Kubernetes importer: parse + transform of real dumps and manifests (pure, no store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphsvc.ingest.importer import ImporterOptions, ImportResult
from graphsvc.model.batch import EntityItem, EntityRef, IngestBatch
from graphsvc.model.validation import validate_batch
from importers.kubernetes import KubernetesImporter
from importers.kubernetes.transform import hosts_in

DATA = Path(__file__).parents[2] / "data" / "kubernetes"
BOUTIQUE = DATA / "online-boutique-release-kubernetes-manifests.yaml"
SOCK_SHOP = DATA / "sock-shop-complete-demo.yaml"
PODS = DATA / "kubectl-neat-list1-raw-pods.json"
POD = DATA / "kubectl-neat-pod1-raw.json"
SERVICE = DATA / "kubectl-neat-service1-raw.json"
LIVE = DATA / "extra" / "live-cluster.json"


def run(*paths: Path, scope: str = "demo") -> ImportResult:
    importer = KubernetesImporter()
    options = ImporterOptions(scope=scope)
    return importer.transform([(p, importer.parse(p, options)) for p in paths], options)


def by_key(result: ImportResult) -> dict[str, EntityItem]:
    return {e.key: e for e in result.entities}


def label(ref: EntityRef) -> str:
    if ref.key is not None:
        return ref.key
    return ",".join(f"{t}={v}" for t, v in (ref.identifiers or {}).items())


def triples(result: ImportResult) -> dict[tuple[str, str, str], dict[str, object]]:
    return {
        (r.type.value, label(r.from_), label(r.to)): dict(r.attributes) for r in result.relations
    }


def assert_valid(result: ImportResult) -> None:
    batch = IngestBatch(
        source="kubernetes", entities=list(result.entities), relations=list(result.relations)
    )
    assert validate_batch(batch) == []


# --------------------------------------------------------------------------- Online Boutique


def test_online_boutique_manifests() -> None:
    result = run(BOUTIQUE)
    entities = by_key(result)
    deployments = sorted(k for k in entities if "/deployment/" in k)
    services = sorted(k for k in entities if "/service/" in k)
    assert len(deployments) == 12
    assert len(services) == 12
    assert len(entities) == 24
    frontend = entities["k8s/demo/default/deployment/frontend"]
    assert frontend.name == "frontend"
    assert frontend.identifiers == {}  # manifests have no uid
    assert frontend.attributes == {
        "ciClass": "k8s_deployment",
        "k8sKind": "Deployment",
        "k8sNamespace": "default",  # Online Boutique sets no namespace
        "labels": {"app": "frontend"},
        "images": [
            "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/frontend:v0.10.6"
        ],
    }
    external = entities["k8s/demo/default/service/frontend-external"]
    assert external.attributes["ciClass"] == "k8s_service"
    assert external.attributes["k8sServiceType"] == "LoadBalancer"
    assert external.attributes["ports"] == [80]
    relations = triples(result)
    # each Service depends on the Deployment its selector picks, endpoints being redundant
    assert relations[
        (
            "DEPENDS_ON",
            "k8s/demo/default/service/frontend-external",
            "k8s/demo/default/deployment/frontend",
        )
    ] == {"redundancyGroup": "k8s/demo/default/service/frontend-external#endpoints"}
    service_edges = [t for t in relations if t[1].startswith("k8s/demo/default/service/")]
    assert len(service_edges) == 12
    # app-to-app dependencies from the *_ADDR environment variables
    env_edges = sorted(
        (t[1].rsplit("/", 1)[1], t[2].rsplit("/", 1)[1])
        for t in relations
        if "/deployment/" in t[1] and "/service/" in t[2]
    )
    assert env_edges == [
        ("cartservice", "redis-cart"),
        ("checkoutservice", "cartservice"),
        ("checkoutservice", "currencyservice"),
        ("checkoutservice", "emailservice"),
        ("checkoutservice", "paymentservice"),
        ("checkoutservice", "productcatalogservice"),
        ("checkoutservice", "shippingservice"),
        ("frontend", "adservice"),
        ("frontend", "cartservice"),
        ("frontend", "checkoutservice"),
        ("frontend", "currencyservice"),
        ("frontend", "productcatalogservice"),
        ("frontend", "recommendationservice"),
        ("frontend", "shippingservice"),
        ("loadgenerator", "frontend"),
        ("recommendationservice", "productcatalogservice"),
    ]
    assert len(relations) == 12 + 16
    warnings = [w.describe() for w in result.warnings]
    assert sum("kind ServiceAccount is not imported; skipped" in w for w in warnings) == 11
    assert any(
        w.endswith(
            "document 1 (line 21) (Deployment frontend): env SHOPPING_ASSISTANT_SERVICE_ADDR="
            "shoppingassistantservice:80 (container server) names Service "
            "default/shoppingassistantservice, which is not in this import; dependency not emitted"
        )
        for w in warnings
    )
    assert len(warnings) == 12
    assert_valid(result)


# --------------------------------------------------------------------------- Sock Shop


def test_sock_shop_uses_its_namespace() -> None:
    result = run(SOCK_SHOP, scope="cluster/prod-eu")
    entities = by_key(result)
    assert len(entities) == 28
    carts = entities["k8s/cluster/prod-eu/sock-shop/deployment/carts"]
    assert carts.attributes["k8sNamespace"] == "sock-shop"
    assert carts.attributes["replicas"] == 1
    rabbit = entities["k8s/cluster/prod-eu/sock-shop/deployment/rabbitmq"]
    assert rabbit.attributes["images"] == ["rabbitmq:3.6.8-management", "kbudde/rabbitmq-exporter"]
    assert entities["k8s/cluster/prod-eu/sock-shop/service/rabbitmq"].attributes["ports"] == [
        5672,
        9090,
    ]
    relations = triples(result)
    assert (
        "DEPENDS_ON",
        "k8s/cluster/prod-eu/sock-shop/service/carts-db",
        "k8s/cluster/prod-eu/sock-shop/deployment/carts-db",
    ) in relations
    assert len(relations) == 14  # one per Service; Sock Shop hard-codes its peers
    assert [w.describe() for w in result.warnings] == [
        f"{SOCK_SHOP}: document 1 (line 2) (Namespace sock-shop): "
        "kind Namespace is not imported; skipped"
    ]
    assert_valid(result)


# --------------------------------------------------------------------------- kubectl dumps


def test_kubectl_dumps_pods_and_service() -> None:
    result = run(PODS, POD, SERVICE)
    entities = by_key(result)
    assert sorted(entities) == [
        "k8s/demo/default/pod/myapp",
        "k8s/demo/default/pod/t1",
        "k8s/demo/default/pod/t2",
        "k8s/demo/default/service/myappservice",
    ]
    t1 = entities["k8s/demo/default/pod/t1"]
    assert t1.identifiers == {"k8sUid": "2fd916b3-3df3-41ff-87b7-0213c60210cd"}
    assert t1.attributes == {
        "ciClass": "k8s_pod",
        "k8sKind": "Pod",
        "k8sNamespace": "default",
        "labels": {"run": "t1"},
        "images": ["itaysk/cyan"],
        "nodeName": "116-control-plane",
        "phase": "Running",
    }
    service = entities["k8s/demo/default/service/myappservice"]
    assert service.attributes["clusterIP"] == "None"
    assert triples(result) == {
        # the bare pod myapp (labels name=myapp) is what the headless Service selects
        ("DEPENDS_ON", "k8s/demo/default/service/myappservice", "k8s/demo/default/pod/myapp"): {
            "redundancyGroup": "k8s/demo/default/service/myappservice#endpoints"
        },
        ("RUNS_ON", "k8s/demo/default/pod/myapp", "k8s/demo/default/node/minikube"): {},
        ("RUNS_ON", "k8s/demo/default/pod/t1", "k8s/demo/default/node/116-control-plane"): {},
        ("RUNS_ON", "k8s/demo/default/pod/t2", "k8s/demo/default/node/116-control-plane"): {},
    }
    assert result.warnings == ()
    assert_valid(result)


# --------------------------------------------------------------------------- a live cluster


def test_live_cluster_owner_chains_nodes_env_and_backstage() -> None:
    result = run(LIVE, scope="prod-eu")
    entities = by_key(result)
    assert len(entities) == 15  # the ConfigMap is skipped
    node = entities["k8s/prod-eu/default/node/node-a"]
    assert node.identifiers == {
        "k8sUid": "n-aaaa",
        "hostname": "node-a.cluster.example.com",
        "ipAddress": "10.0.0.11",
    }
    assert node.attributes["ciClass"] == "k8s_node"
    assert node.attributes["kubeletVersion"] == "v1.29.4"
    assert "k8sNamespace" not in node.attributes
    # no Hostname address: the kubernetes.io/hostname label
    assert entities["k8s/prod-eu/default/node/node-b"].identifiers["hostname"] == "node-b"
    assert entities["k8s/prod-eu/shop/replicaset/cart-7d4b9c"].attributes["ciClass"] == (
        "k8s_replicaset"
    )
    assert entities["k8s/prod-eu/shop/cronjob/cleanup"].attributes["ciClass"] == "k8s_cronjob"
    p = "k8s/prod-eu/"
    deploy, rs = f"{p}shop/deployment/cart", f"{p}shop/replicaset/cart-7d4b9c"
    pod_a, pod_b = f"{p}shop/pod/cart-7d4b9c-aaaaa", f"{p}shop/pod/cart-7d4b9c-bbbbb"
    assert triples(result) == {
        # ownerReferences: Deployment -> ReplicaSet -> Pods, replicas redundant
        ("DEPENDS_ON", deploy, rs): {"redundancyGroup": f"{deploy}#replicas"},
        ("DEPENDS_ON", rs, pod_a): {"redundancyGroup": f"{rs}#replicas"},
        ("DEPENDS_ON", rs, pod_b): {"redundancyGroup": f"{rs}#replicas"},
        ("DEPENDS_ON", f"{p}billing/statefulset/payments", f"{p}billing/pod/payments-0"): {
            "redundancyGroup": f"{p}billing/statefulset/payments#replicas"
        },
        ("DEPENDS_ON", f"{p}shop/cronjob/cleanup", f"{p}shop/job/cleanup-28000000"): {
            "redundancyGroup": f"{p}shop/cronjob/cleanup#replicas"
        },
        # Services select top-level workloads (matchLabels and matchExpressions)
        ("DEPENDS_ON", f"{p}shop/service/cart", deploy): {
            "redundancyGroup": f"{p}shop/service/cart#endpoints"
        },
        ("DEPENDS_ON", f"{p}shop/service/catalog", f"{p}shop/deployment/catalog"): {
            "redundancyGroup": f"{p}shop/service/catalog#endpoints"
        },
        ("DEPENDS_ON", f"{p}billing/service/payments", f"{p}billing/statefulset/payments"): {
            "redundancyGroup": f"{p}billing/service/payments#endpoints"
        },
        # pods on nodes; the cluster-scoped node keys use the namespace "default"
        ("RUNS_ON", pod_a, f"{p}default/node/node-a"): {},
        ("RUNS_ON", pod_b, f"{p}default/node/node-b"): {},
        ("RUNS_ON", f"{p}billing/pod/payments-0", f"{p}default/node/node-a"): {},
        ("RUNS_ON", f"{p}shop/pod/debug", f"{p}default/node/node-b"): {},
        # environment: CATALOG_ADDR=catalog:8080, PAYMENT_URL=http://payments.billing.svc...
        ("DEPENDS_ON", deploy, f"{p}shop/service/catalog"): {},
        ("DEPENDS_ON", deploy, f"{p}billing/service/payments"): {},
        # DB_HOST=cart-db.prod.example.com, CACHE_URL=redis://:secret@10.1.2.3:6379/0
        ("DEPENDS_ON", deploy, "fqdn=cart-db.prod.example.com"): {},
        ("DEPENDS_ON", deploy, "ipAddress=10.1.2.3"): {},
        # backstage.io/kubernetes-id as a label (Deployment) and an annotation (Service)
        ("RUNS_ON", "backstageKubernetesId=cart", deploy): {},
        ("RUNS_ON", "backstageKubernetesId=catalog", f"{p}shop/service/catalog"): {},
    }
    external = [r for r in result.relations if r.to.identifiers]
    assert {r.to.kind.value for r in external} == {"ConfigurationItem"}
    backstage = [r for r in result.relations if r.from_.identifiers]
    assert {r.from_.kind.value for r in backstage} == {"Service"}
    # LISTEN_ADDR=0.0.0.0, METRICS_HOST=localhost, SELF_URL=cart (its own Service),
    # SECRET_URL (valueFrom) and JAVA_OPTS give nothing; QUEUE_ADDR names a missing Service
    assert [(w.element, w.message) for w in result.warnings] == [
        ("items[9] (ConfigMap shop/cart-config)", "kind ConfigMap is not imported; skipped"),
        (
            "items[2] (Deployment shop/cart)",
            "env QUEUE_ADDR=queue:5672 (container app) names Service shop/queue, which is not "
            "in this import; dependency not emitted",
        ),
    ]
    assert_valid(result)


STRAY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: site, uid: d1}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-abc
  namespace: site
  ownerReferences: [{kind: Deployment, name: web, uid: d1, controller: true}]
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-abc-1, namespace: site, labels: {app: web}}
spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: elsewhere, labels: {app: web}}
spec: {containers: [{name: web, image: nginx}]}
"""


def test_pods_without_owner_references_are_matched_by_selector(tmp_path: Path) -> None:
    path = tmp_path / "stripped.yaml"
    path.write_text(STRAY, encoding="utf-8")
    result = run(path, scope="c1")
    assert triples(result) == {
        ("DEPENDS_ON", "k8s/c1/site/deployment/web", "k8s/c1/site/replicaset/web-abc"): {
            "redundancyGroup": "k8s/c1/site/deployment/web#replicas"
        },
        # the ReplicaSet, not its Deployment; the pod of another namespace matches nothing
        ("DEPENDS_ON", "k8s/c1/site/replicaset/web-abc", "k8s/c1/site/pod/web-abc-1"): {
            "redundancyGroup": "k8s/c1/site/replicaset/web-abc#replicas"
        },
    }


EXTERNAL = """\
apiVersion: v1
kind: Service
metadata: {name: orders-db, namespace: shop}
spec: {type: ExternalName, externalName: orders.db.example.com}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  template:
    metadata: {labels: {app: orders}}
    spec:
      containers:
      - name: app
        image: example/orders:1
        env:
        - {name: ORDERS_DB_URL, value: "jdbc:postgresql://orders-db:5432/orders"}
"""


def test_external_name_service_points_at_its_host(tmp_path: Path) -> None:
    path = tmp_path / "external.yaml"
    path.write_text(EXTERNAL, encoding="utf-8")
    result = run(path, scope="c1")
    service = by_key(result)["k8s/c1/shop/service/orders-db"]
    assert service.attributes["k8sServiceType"] == "ExternalName"
    assert service.attributes["externalName"] == "orders.db.example.com"
    assert triples(result) == {
        ("DEPENDS_ON", "k8s/c1/shop/deployment/orders", "k8s/c1/shop/service/orders-db"): {},
        ("DEPENDS_ON", "k8s/c1/shop/service/orders-db", "fqdn=orders.db.example.com"): {},
    }
    assert_valid(result)


@pytest.mark.parametrize(
    ("value", "hosts"),
    [
        ("productcatalogservice:3550", ["productcatalogservice"]),
        ("catalog", ["catalog"]),
        ("payments.billing", ["payments.billing"]),
        (
            "http://payments.billing.svc.cluster.local:9000/api?x=1",
            ["payments.billing.svc.cluster.local"],
        ),
        (
            "mongodb://user:pw@db-1.example.com:27017,db-2.example.com:27017/app",
            ["db-1.example.com", "db-2.example.com"],
        ),
        ("[fd00::1]:5432", ["fd00::1"]),
        ("jdbc:postgresql://orders-db:5432/orders", ["orders-db"]),
        ("DB.Example.COM.", ["db.example.com"]),
        ("http://$(HOST):80", []),
        (":8080", []),
        ("", []),
    ],
)
def test_hosts_in_address_values(value: str, hosts: list[str]) -> None:
    assert hosts_in(value) == hosts


def test_output_is_sorted_and_deterministic() -> None:
    paths = (BOUTIQUE, SOCK_SHOP, PODS, POD, SERVICE, LIVE)
    first = run(*paths)
    second = run(*reversed(paths))
    assert first.entities == second.entities
    assert first.relations == second.relations
    keys = [e.key for e in first.entities]
    assert keys == sorted(keys)
