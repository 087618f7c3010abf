"""Backstage, Kubernetes and Terraform describe one system; impact of its database crosses all three.

The "orders" system (``tests/data/e2e``): a web shop calls the orders API, which
stores orders in a PostgreSQL database on RDS.

* Terraform state knows the RDS instance (and its read replica, subnets,
  security groups) by cloud id, ARN and endpoint host name.
* The Backstage catalog knows the components, the API, the system, the owning
  team, and the database as a Resource annotated with its ARN
  (``amazonaws.com/arn``) -- so it merges with the Terraform CI.
* The cluster dump knows the Deployments, Services, pods and nodes; the API's
  ``DATABASE_HOST`` names the RDS endpoint (joins the Terraform CI by ``fqdn``),
  and ``backstage.io/kubernetes-id`` labels join the Backstage components, one
  of them (``orders-service``) under a different name (``orders-api``).

Each source is imported as one run through :func:`run_import` into a real
embedded store, in the order a CMDB would load them (infrastructure, catalog,
cluster: cross-source relations need their far end in the store already).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from graphsvc.analysis.impact import ImpactState, impact
from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.ingest.importer import Importer, load_importer
from graphsvc.ingest.runner import EngineSink, ImportReport, run_import
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import EntityKind
from graphsvc.store.base import GraphStore

DATA = Path(__file__).parents[1] / "data" / "e2e"
CI = EntityKind.CONFIGURATION_ITEM
SERVICE = EntityKind.SERVICE
DB = "aws_db_instance/db-7HXQK2NVZ4PR3WSJ5TBYL6UMAE"
REPLICA = "aws_db_instance/db-Q3MZ5TLW8KD2RNBX7YVH4PCJ6E"
K8S = "k8s/prod-eu/orders/"

# (format, file, source, scope), in load order
IMPORTS = (
    ("terraform", "terraform.tfstate", "terraform", "aws/123456789012/eu-west-1"),
    ("backstage", "catalog-info.yaml", "backstage", "catalog"),
    ("kubernetes", "kubectl-get-all.json", "kubernetes", "prod-eu"),
)


@pytest.fixture
def engine(store: GraphStore) -> IngestEngine:
    # discovery outranks the catalogue for attributes both set (ciClass of the
    # database), so re-importing either source leaves the other's values alone
    return IngestEngine(
        store, IngestPolicy(source_priorities={"terraform": 20, "kubernetes": 20, "backstage": 10})
    )


async def load(engine: IngestEngine) -> dict[str, ImportReport]:
    reports = {}
    for fmt, name, source, scope in IMPORTS:
        importer = cast("Importer[Any]", load_importer(fmt))
        reports[source] = await run_import(
            importer, [DATA / name], EngineSink(engine), source=source, scope=scope
        )
    return reports


async def entity(store: GraphStore, kind: EntityKind, key: str) -> EntityRecord:
    (found,) = await store.resolve([(kind, key)])
    assert found is not None, key
    (record,) = await store.entities([found])
    assert record is not None
    return record


def sources(record: EntityRecord) -> frozenset[str]:
    return frozenset(p.source for p in record.provenance.values())


async def test_impact_of_the_database_crosses_all_three_sources(
    engine: IngestEngine, store: GraphStore
) -> None:
    reports = await load(engine)
    # every cross-source reference found its far end: nothing was dropped
    for report in reports.values():
        assert not [w for w in report.warnings if "exists neither" in w.message], report.warnings
    assert reports["backstage"].summary.merged == 1  # the Resource is the Terraform CI

    db = await entity(store, CI, DB)
    assert (await entity(store, CI, "resource:default/orders-db")).id == db.id  # an alias now
    assert sources(db) == {"terraform", "backstage"}
    assert db.attributes["ciClass"] == "aws_db_instance"  # terraform outranks backstage
    assert db.attributes["description"] == "PostgreSQL on Amazon RDS, managed with Terraform."

    answer = await impact(store, [db.id], first=500)
    affected = {(a.entity.kind, a.entity.key): a for a in (e.node for e in answer.affected.edges)}
    assert answer.affected.total_count == len(affected)

    by_source: dict[frozenset[str], set[str]] = {}
    for (_, key), item in affected.items():
        by_source.setdefault(sources(item.entity), set()).add(key)
    # entities only Terraform, only Kubernetes, only Backstage know, all in one answer
    assert REPLICA in by_source[frozenset({"terraform"})]
    assert {
        f"{K8S}deployment/orders-api",
        f"{K8S}service/orders-api",
        f"{K8S}deployment/orders-web",
        f"{K8S}service/orders-web",
    } <= by_source[frozenset({"kubernetes"})]
    assert {
        "component:default/orders-service",
        "api:default/orders-api",
        "component:default/orders-web",
        "system:default/orders",
    } <= by_source[frozenset({"backstage"})]

    # how it got there: DATABASE_HOST (k8s -> terraform by fqdn), the catalog's
    # dependsOn on the merged Resource, the kubernetes-id labels (k8s -> backstage)
    def path(kind: EntityKind, key: str) -> list[str]:
        return [f"{s.type.value} {s.from_.key} -> {s.to.key}" for s in affected[(kind, key)].path]

    assert path(CI, f"{K8S}deployment/orders-api") == [
        f"DEPENDS_ON {K8S}deployment/orders-api -> {DB}"
    ]
    assert path(SERVICE, "component:default/orders-service") == [
        f"DEPENDS_ON component:default/orders-service -> {DB}"
    ]
    assert len(path(SERVICE, "component:default/orders-web")) == 3  # via the API
    # the web Deployment reaches the API through ORDERS_API_URL -> the k8s Service
    assert path(CI, f"{K8S}deployment/orders-web")[-1] == (
        f"DEPENDS_ON {K8S}deployment/orders-web -> {K8S}service/orders-api"
    )
    assert affected[(CI, f"{K8S}deployment/orders-web")].state is ImpactState.DOWN
    assert affected[(SERVICE, "component:default/orders-web")].state is ImpactState.DOWN
    # the infrastructure the database needs is not affected by its failure
    assert not any(key.startswith(("aws_vpc/", "aws_subnet/")) for _, key in affected)
    assert not any("/pod/" in key or "/node/" in key for _, key in affected)

    # the team owning the system's components is told
    assert "group:default/team-orders" in {t.team.key for t in answer.teams_to_notify}

    # the Backstage component runs as the Deployment labelled with its kubernetes-id
    component = await entity(store, SERVICE, "component:default/orders-service")
    assert component.identifiers["backstageKubernetesId"] == "orders-api"


async def test_reimporting_all_three_changes_nothing(
    engine: IngestEngine, store: GraphStore
) -> None:
    first = await load(engine)
    again = await load(engine)
    for source, report in again.items():
        s = report.summary
        assert (s.created, s.updated, s.merged, s.marked_stale) == (0, 0, 0, 0), source
        assert s.unchanged == first[source].summary.created + first[source].summary.merged, source
