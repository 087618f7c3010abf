"""Backstage annotations as identifiers: ``backstage.io/kubernetes-id`` and AWS ARNs."""

from __future__ import annotations

import json
from pathlib import Path

from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import ImporterOptions, ImportResult
from graphsvc.ingest.runner import EngineSink, run_import
from graphsvc.model.vocabulary import Direction, EntityKind, RelationType
from graphsvc.store.base import GraphStore
from importers.backstage import BackstageImporter
from importers.backstage.parse import parse_catalog_text
from importers.backstage.transform import transform_catalog
from importers.kubernetes import KubernetesImporter

DATA = Path(__file__).parents[2] / "data" / "backstage"
SHOWCASE = DATA / "janus-idp-showcase" / "components" / "showcase.yaml"
ARN = "arn:aws:rds:eu-west-1:123456789012:db:orders-db"


def transform(text: str) -> ImportResult:
    return transform_catalog([parse_catalog_text("catalog.yaml", text)])


def resource(name: str, annotations: dict[str, str]) -> str:
    lines = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in annotations.items())
    return (
        f"---\napiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata:\n  name: {name}\n"
        f"  annotations:\n{lines}spec:\n  type: database\n  owner: team-a\n"
    )


def test_the_showcase_kubernetes_id_becomes_an_identifier() -> None:
    importer = BackstageImporter()
    parsed = importer.parse(SHOWCASE, ImporterOptions())
    result = importer.transform([(SHOWCASE, parsed)], ImporterOptions())
    (showcase,) = [e for e in result.entities if e.key == "component:default/backstage-showcase"]
    # the component is called backstage-showcase; its cluster objects are labelled janus-idp
    assert showcase.identifiers == {
        "backstageRef": "component:default/backstage-showcase",
        "backstageKubernetesId": "janus-idp",
    }


def test_arn_annotations_become_aws_arn() -> None:
    result = transform(
        resource("backstage-form", {"amazonaws.com/arn": ARN, "amazonaws.com/account-id": "1"})
        + resource("roadie-form", {"amazon.com/dynamo-db-table-arn": ARN.replace("db:", "x:")})
        + resource("not-an-arn", {"amazonaws.com/arn": "orders-db"})
        + resource(
            "two-arns",
            {"amazonaws.com/arn": ARN + "-2", "amazon.com/s3-bucket-arn": "arn:aws:s3:::bucket"},
        )
    )
    ids = {e.key.split("/")[-1]: e.identifiers for e in result.entities}
    assert ids["backstage-form"]["awsArn"] == ARN
    assert ids["roadie-form"]["awsArn"] == ARN.replace("db:", "x:")
    assert "awsArn" not in ids["not-an-arn"]
    assert ids["two-arns"]["awsArn"] == ARN + "-2"  # Backstage's own annotation first
    messages = [w.message for w in result.warnings]
    assert "annotation amazonaws.com/arn: 'orders-db' is not an ARN; not used as awsArn" in (
        messages
    )
    assert any(
        m.startswith("annotation amazon.com/s3-bucket-arn: arn:aws:s3:::bucket differs")
        for m in messages
    )


def test_an_identifier_two_entities_claim_is_used_by_neither() -> None:
    result = transform(
        resource("primary", {"amazonaws.com/arn": ARN})
        + resource("copy-paste", {"amazonaws.com/arn": ARN})
        + resource("other", {"amazonaws.com/arn": ARN + "-other"})
    )
    ids = {e.key.split("/")[-1]: e.identifiers for e in result.entities}
    assert "awsArn" not in ids["primary"] and "awsArn" not in ids["copy-paste"]
    assert ids["other"]["awsArn"] == ARN + "-other"
    ambiguous = [w for w in result.warnings if "is held by 2 entities" in w.message]
    assert len(ambiguous) == 2


async def test_cluster_objects_labelled_with_the_kubernetes_id_run_the_component(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    await run_import(BackstageImporter(), [SHOWCASE], EngineSink(engine), scope="catalog")
    dump = tmp_path / "janus.json"
    dump.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {
                            "name": "backstage-janus-idp",
                            "namespace": "janus-idp-prod",
                            "labels": {"backstage.io/kubernetes-id": "janus-idp"},
                        },
                        "spec": {"selector": {"matchLabels": {"app": "backstage"}}},
                    }
                ],
            }
        )
    )
    report = await run_import(KubernetesImporter(), [dump], EngineSink(engine), scope="prod")
    assert report.summary.relations_created == 1
    (component,) = await store.resolve(
        [(EntityKind.SERVICE, "component:default/backstage-showcase")]
    )
    assert component is not None
    out = (await store.relations(component, Direction.OUT, first=50)).items
    assert [r.type for r in out if r.type is RelationType.RUNS_ON] == [RelationType.RUNS_ON]
