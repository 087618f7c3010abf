"""Kubernetes importer through run_import into the embedded store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.runner import EngineSink, ImportReport, run_import
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import Direction, EntityKind, RelationType, Status
from graphsvc.store.base import EntityQuery, GraphStore
from importers.kubernetes import KubernetesImporter

DATA = Path(__file__).parents[2] / "data" / "kubernetes"
SAMPLES = (
    "online-boutique-release-kubernetes-manifests.yaml",
    "sock-shop-complete-demo.yaml",
    "kubectl-neat-list1-raw-pods.json",
    "kubectl-neat-pod1-raw.json",
    "kubectl-neat-service1-raw.json",
)
CI = EntityKind.CONFIGURATION_ITEM


async def run(engine: IngestEngine, paths: list[Path], scope: str) -> ImportReport:
    return await run_import(
        KubernetesImporter(), paths, EngineSink(engine), source="kubernetes", scope=scope
    )


async def keys_with(store: GraphStore, status: Status) -> list[str]:
    page = await store.find_entities(EntityQuery(statuses=frozenset({status})), first=500)
    return sorted(e.key for e in page.items)


async def entity_id(store: GraphStore, kind: EntityKind, key: str) -> int:
    found = (await store.resolve([(kind, key)]))[0]
    assert found is not None, key
    return found


async def touching(store: GraphStore, key: str) -> list[Status]:
    eid = await entity_id(store, CI, key)
    return [
        r.status
        for d in (Direction.OUT, Direction.IN)
        for r in (await store.relations(eid, d, first=100)).items
    ]


async def test_real_samples_twice_then_one_deployment_removed(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    for name in SAMPLES:
        shutil.copy(DATA / name, tmp_path / name)
    paths = [tmp_path / name for name in SAMPLES]
    first = await run(engine, paths, "demo")
    assert first.summary.entities_created == 24 + 28 + 4
    # 28 Online Boutique + 14 Sock Shop + Service myappservice -> pod myapp; the three
    # pods' nodes (minikube, 116-control-plane) are not in the import: dropped with a warning
    assert first.summary.relations_created == 28 + 14 + 1
    dropped = [
        w for w in first.warnings if "exists neither in this import nor in the store" in w.message
    ]
    assert len(dropped) == 3
    second = await run(engine, paths, "demo")
    assert (second.summary.created, second.summary.updated, second.summary.marked_stale) == (
        0,
        0,
        0,
    )
    assert second.summary.unchanged == 56 + 43

    boutique = tmp_path / SAMPLES[0]
    documents = boutique.read_text(encoding="utf-8").split("\n---\n")
    kept = [
        d
        for d in documents
        if not d.startswith("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: adservice\n")
    ]
    assert len(kept) == len(documents) - 1
    boutique.write_text("\n---\n".join(kept), encoding="utf-8")
    third = await run(engine, paths, "demo")

    # the Deployment and the Service adservice -> Deployment adservice relation
    assert third.summary.marked_stale == 2
    assert (third.summary.created, third.summary.updated) == (0, 0)
    assert await keys_with(store, Status.STALE) == ["k8s/demo/default/deployment/adservice"]
    assert await touching(store, "k8s/demo/default/deployment/adservice") == [Status.STALE]
    # frontend still depends on the (still present) Service adservice
    assert sorted(await touching(store, "k8s/demo/default/service/adservice")) == [
        Status.ACTIVE,
        Status.STALE,
    ]


async def test_live_cluster_links_to_other_sources_and_goes_stale_per_pod(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    # what Terraform state and Backstage put in the store before
    await engine.ingest(
        IngestBatch.model_validate(
            {
                "source": "terraform",
                "entities": [
                    {
                        "kind": "ConfigurationItem",
                        "key": "tf/aws_db_instance.cart",
                        "identifiers": {"fqdn": "CART-DB.prod.example.com."},
                        "attributes": {"ciClass": "database"},
                    }
                ],
            }
        )
    )
    await engine.ingest(
        IngestBatch.model_validate(
            {
                "source": "backstage",
                "entities": [
                    {
                        "kind": "Service",
                        "key": "component:default/cart",
                        "identifiers": {
                            "backstageRef": "component:default/cart",
                            "backstageKubernetesId": "cart",
                        },
                    }
                ],
            }
        )
    )
    live = tmp_path / "live.json"
    shutil.copy(DATA / "extra" / "live-cluster.json", live)
    report = await run(engine, [live], "prod-eu")
    assert report.summary.entities_created == 15
    # 18 emitted; the IP one and the Backstage catalog one have no endpoint in the store
    assert report.summary.relations_created == 16
    dropped = [w.message for w in report.warnings if "exists neither" in w.message]
    assert len(dropped) == 2
    assert "ConfigurationItem{ipAddress=10.1.2.3}" in dropped[0]
    assert "Service{backstageKubernetesId=catalog}" in dropped[1]

    cart = await entity_id(store, CI, "k8s/prod-eu/shop/deployment/cart")
    out = (await store.relations(cart, Direction.OUT, first=50)).items
    database = await entity_id(store, CI, "tf/aws_db_instance.cart")
    assert [r.type for r in out if r.to_id == database] == [RelationType.DEPENDS_ON]
    component = await entity_id(store, EntityKind.SERVICE, "component:default/cart")
    runs_on = (await store.relations(cart, Direction.IN, first=50)).items
    assert [r.type for r in runs_on if r.from_id == component] == [RelationType.RUNS_ON]

    again = await run(engine, [live], "prod-eu")
    assert (again.summary.created, again.summary.updated, again.summary.marked_stale) == (0, 0, 0)

    doc = json.loads(live.read_text(encoding="utf-8"))
    doc["items"] = [i for i in doc["items"] if i["metadata"]["name"] != "cart-7d4b9c-bbbbb"]
    live.write_text(json.dumps(doc), encoding="utf-8")
    last = await run(engine, [live], "prod-eu")
    # the pod, ReplicaSet -> pod and pod RUNS_ON node-b
    assert last.summary.marked_stale == 3
    assert await keys_with(store, Status.STALE) == ["k8s/prod-eu/shop/pod/cart-7d4b9c-bbbbb"]
    assert await touching(store, "k8s/prod-eu/shop/pod/cart-7d4b9c-bbbbb") == [
        Status.STALE,
        Status.STALE,
    ]
    assert set(await touching(store, "k8s/prod-eu/shop/pod/cart-7d4b9c-aaaaa")) == {Status.ACTIVE}
    # node-b still carries the bare debug pod
    assert await keys_with(store, Status.ACTIVE) == sorted(
        [
            "component:default/cart",
            "tf/aws_db_instance.cart",
            *(
                f"k8s/prod-eu/{k}"
                for k in (
                    "billing/pod/payments-0",
                    "billing/service/payments",
                    "billing/statefulset/payments",
                    "default/node/node-a",
                    "default/node/node-b",
                    "shop/cronjob/cleanup",
                    "shop/deployment/cart",
                    "shop/deployment/catalog",
                    "shop/job/cleanup-28000000",
                    "shop/pod/cart-7d4b9c-aaaaa",
                    "shop/pod/debug",
                    "shop/replicaset/cart-7d4b9c",
                    "shop/service/cart",
                    "shop/service/catalog",
                )
            ),
        ]
    )
