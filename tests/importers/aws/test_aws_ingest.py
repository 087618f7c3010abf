"""AWS imports as complete ingest runs, and merging with Terraform through identifiers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import Importer
from graphsvc.ingest.runner import EngineSink, ImportReport, run_import
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import Direction, EntityKind, Status
from graphsvc.store.base import EntityQuery, GraphStore
from importers.aws import AwsImporter
from importers.terraform import TerraformImporter

DATA = Path(__file__).parents[2] / "data" / "aws"
DESCRIBE = sorted((DATA / "describe").glob("*.json"))
CONFIG = sorted((DATA / "config").glob("*.json"))
CI = EntityKind.CONFIGURATION_ITEM
WEB2 = "aws/AWS::EC2::Instance/i-00000000000000002"


async def run_aws(
    engine: IngestEngine, paths: list[Path], scope: str = "123456789012"
) -> ImportReport:
    # run_import is typed for Importer[object]; Importer is invariant in its parsed type
    importer = cast("Importer[object]", AwsImporter())
    return await run_import(importer, paths, EngineSink(engine), source="aws", scope=scope)


async def run_terraform(engine: IngestEngine, path: Path) -> ImportReport:
    importer = cast("Importer[object]", TerraformImporter())
    return await run_import(
        importer, [path], EngineSink(engine), source="terraform", scope="tf/app"
    )


async def entity_id(store: GraphStore, key: str) -> int:
    (found,) = await store.resolve([(CI, key)])
    assert found is not None, key
    return found


async def record(store: GraphStore, entity: int) -> EntityRecord:
    (found,) = await store.entities([entity])
    assert found is not None
    return found


async def statuses_by_key(store: GraphStore) -> dict[str, Status]:
    page = await store.find_entities(EntityQuery(kind=CI), first=500)
    return {e.key: e.status for e in page.items}


async def test_import_twice_changes_nothing_the_second_time(engine: IngestEngine) -> None:
    first = await run_aws(engine, DESCRIBE + CONFIG)
    assert first.summary.entities_created == 18 + 4
    # relations to resources that exist nowhere (the Config samples' other accounts) are dropped
    assert any(
        "exists neither in this import nor in the store" in w.message for w in first.warnings
    )
    second = await run_aws(engine, DESCRIBE + CONFIG)
    assert second.summary.created == 0
    assert second.summary.updated == 0
    assert second.summary.merged == 0
    assert second.summary.marked_stale == 0
    assert second.summary.unchanged == first.summary.created


async def test_removed_instance_and_its_relations_go_stale(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    await run_aws(engine, DESCRIBE)
    document = json.loads((DATA / "describe" / "ec2-describe-instances.json").read_text())
    document["Reservations"][0]["Instances"].pop(2)
    smaller = [tmp_path / "ec2-describe-instances.json"] + [
        p for p in DESCRIBE if p.name != "ec2-describe-instances.json"
    ]
    smaller[0].write_text(json.dumps(document))
    report = await run_aws(engine, smaller)
    assert (report.summary.created, report.summary.updated) == (0, 0)
    assert report.summary.marked_stale == 1 + 3  # the instance, its subnet, group and VPC relations
    statuses = await statuses_by_key(store)
    assert [k for k, s in statuses.items() if s is Status.STALE] == [WEB2]
    page = await store.relations(await entity_id(store, WEB2), Direction.OUT, first=10)
    assert [r.status for r in page.items] == [Status.STALE] * 3


async def test_terraform_and_config_describe_one_instance(
    engine: IngestEngine, store: GraphStore
) -> None:
    tf = await run_terraform(engine, DATA / "merge" / "terraform.tfstate")
    assert (tf.summary.entities_created, tf.summary.relations_created) == (3, 2)
    aws = await run_aws(engine, [DATA / "merge" / "config-instance.json"], scope="444455556666")
    assert aws.summary.entities_created == 0
    assert aws.summary.merged == 1  # the Config key became an alias of the Terraform CI
    page = await store.find_entities(
        EntityQuery(kind=CI, attributes={"ciClass": "aws_instance"}), first=10
    )
    (instance,) = page.items
    assert instance.key == "aws_instance/i-0123456789abcdef0"
    assert instance.aliases == ("aws/AWS::EC2::Instance/i-0123456789abcdef0",)
    assert instance.name == "app-1"
    assert instance.identifiers == {
        "awsArn": "arn:aws:ec2:eu-central-1:444455556666:instance/i-0123456789abcdef0",
        "cloudResourceId": "i-0123456789abcdef0",
        "fqdn": "ip-10-20-1-15.eu-central-1.compute.internal",
        "ipAddress": "10.20.1.15",
    }
    # attributes of both sources on one CI
    assert instance.attributes["terraformAddress"] == "aws_instance.app"
    assert instance.attributes["provider"] == "aws"
    assert instance.attributes["resourceType"] == "AWS::EC2::Instance"
    assert instance.attributes["state"] == "running"
    assert instance.attributes["instanceType"] == "m5.large"
    assert instance.attributes["environment"] == "prod"
    assert instance.provenance["attributes.terraformAddress"].source == "terraform"
    assert instance.provenance["attributes.state"].source == "aws"
    # Config's subnet and group relations land on the Terraform CIs: no duplicates
    relations = await store.relations(instance.id, Direction.OUT, first=10)
    targets = {(await record(store, r.to_id)).key for r in relations.items}
    assert targets == {
        "aws_subnet/subnet-0d1e2f3a4b5c6d7e8",
        "aws_security_group/sg-0a9b8c7d6e5f40312",
    }
    assert aws.summary.relations_created == 0
    # the two sources agree on every shared attribute: re-importing either changes nothing
    again = await run_terraform(engine, DATA / "merge" / "terraform.tfstate")
    assert (again.summary.created, again.summary.updated, again.summary.merged) == (0, 0, 0)
    again = await run_aws(engine, [DATA / "merge" / "config-instance.json"], scope="444455556666")
    assert (again.summary.created, again.summary.updated) == (0, 0)
    # AWS stops reporting it: Terraform still asserts it, so it stays active
    gone = await run_aws(engine, [DATA / "config" / "AWS_EC2_Subnet.json"], scope="444455556666")
    assert gone.summary.marked_stale == 0
    assert (await record(store, instance.id)).status is Status.ACTIVE


async def test_reimport_of_a_merged_key_is_not_a_new_merge(engine: IngestEngine) -> None:
    await run_terraform(engine, DATA / "merge" / "terraform.tfstate")
    await run_aws(engine, [DATA / "merge" / "config-instance.json"], scope="444455556666")
    again = await run_aws(engine, [DATA / "merge" / "config-instance.json"], scope="444455556666")
    assert again.summary.merged == 0
