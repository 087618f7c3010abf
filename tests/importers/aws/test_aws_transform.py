"""Transform of real AWS Config items and describe-* responses (tests/data/aws, see SOURCE.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphsvc.ingest.importer import ImporterOptions, ImportResult
from graphsvc.model.batch import EntityItem, IngestBatch
from graphsvc.model.validation import validate_batch
from graphsvc.model.vocabulary import EntityKind, RelationType
from importers.aws import AwsImporter

DATA = Path(__file__).parents[2] / "data" / "aws"
CONFIG = sorted((DATA / "config").glob("*.json"))
DESCRIBE = sorted((DATA / "describe").glob("*.json"))

INSTANCE = "aws/AWS::EC2::Instance/i-"
VPC_D = "aws/AWS::EC2::VPC/vpc-12345678"
LB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/demo/qwerty"
LB = f"aws/AWS::ElasticLoadBalancingV2::LoadBalancer/{LB_ARN}"
RDS = "aws/AWS::RDS::DBInstance/db-00000000000000000000000000"


def transform(*paths: Path) -> ImportResult:
    importer = AwsImporter()
    options = ImporterOptions(scope="123456789012")
    return importer.transform([(p, importer.parse(p, options)) for p in paths], options)


def by_key(result: ImportResult) -> dict[str, EntityItem]:
    return {e.key: e for e in result.entities}


def edges(result: ImportResult) -> dict[tuple[str, str], dict[str, object]]:
    """(from label, to label) -> attributes; labels are ``key`` or ``{type=value}``."""

    def label(ref_key: str | None, ids: dict[str, str] | None) -> str:
        if ref_key is not None:
            return ref_key
        assert ids is not None
        return ",".join(f"{t}={v}" for t, v in ids.items())

    assert {r.type for r in result.relations} <= {RelationType.DEPENDS_ON}
    return {
        (label(r.from_.key, r.from_.identifiers), label(r.to.key, r.to.identifiers)): dict(
            r.attributes
        )
        for r in result.relations
    }


# ----------------------------------------------------------------- AWS Config


def test_config_instance() -> None:
    result = transform(DATA / "config" / "AWS_EC2_Instance.json")
    (instance,) = result.entities
    assert instance.kind is EntityKind.CONFIGURATION_ITEM
    assert instance.key == "aws/AWS::EC2::Instance/i-03402838daac1d611"
    assert instance.name == "i-03402838daac1d611"
    assert instance.identifiers == {
        "awsArn": "arn:aws:ec2:us-east-1:681361479661:instance/i-03402838daac1d611",
        "cloudResourceId": "i-03402838daac1d611",
        "fqdn": "ip-172-31-74-239.ec2.internal",
        "ipAddress": "172.31.74.239",
    }
    assert instance.attributes == {
        "accountId": "681361479661",
        "availabilityZone": "us-east-1b",
        "ciClass": "aws_instance",
        "imageId": "ami-22ce4934",
        "instanceType": "t2.micro",
        "region": "us-east-1",
        "resourceType": "AWS::EC2::Instance",
        "state": "running",
    }
    # targets outside the import are named by identifier, to link with other sources' CIs
    assert edges(result) == {
        (instance.key, "cloudResourceId=sg-fd215482"): {},
        (instance.key, "cloudResourceId=subnet-1aaccc7f"): {},
        (instance.key, "cloudResourceId=vpc-79b3ea1e"): {},
    }
    (warning,) = result.warnings
    assert warning.element == "$"
    assert warning.message.endswith(
        "skipped 2 relationship(s) to resource types this importer does not map: "
        "AWS::EC2::NetworkInterface (1), AWS::EC2::Volume (1)"
    )


def test_config_vpc_contains_is_reversed() -> None:
    result = transform(DATA / "config" / "AWS_EC2_VPC.json")
    vpc = "aws/AWS::EC2::VPC/vpc-0990dc6d"
    assert by_key(result)[vpc].attributes["isDefault"] is True
    found = edges(result)
    # "Contains Subnet/Instance/SecurityGroup": the contained resource depends on the VPC
    assert len(found) == 2 + 15 + 4
    assert all(to == vpc for _, to in found)
    assert ("cloudResourceId=subnet-29428871", vpc) in found
    assert ("cloudResourceId=i-ebf3e058", vpc) in found
    assert ("cloudResourceId=sg-f693878d", vpc) in found
    assert "InternetGateway (1)" in result.warnings[0].message


def test_config_subnet_and_vpc_together() -> None:
    result = transform(
        DATA / "config" / "AWS_EC2_Subnet.json", DATA / "config" / "AWS_EC2_VPC.json"
    )
    subnet, vpc = "aws/AWS::EC2::Subnet/subnet-29428871", "aws/AWS::EC2::VPC/vpc-0990dc6d"
    found = edges(result)
    # the subnet says "Is contained in Vpc", the VPC "Contains Subnet": one relation, by key
    assert (subnet, vpc) in found
    assert ("cloudResourceId=subnet-29428871", vpc) not in found
    # "Contains Instance" on the subnet: the instance depends on the subnet
    assert ("cloudResourceId=i-ebf3e058", subnet) in found
    assert ("cloudResourceId=i-ebf3e058", vpc) in found
    assert len(found) == 22


def test_config_lambda_array_and_trailing_spaces() -> None:
    result = transform(DATA / "config" / "AWS_LAMBDA_FUNCTION.json")
    (function,) = result.entities
    assert function.key == "aws/AWS::Lambda::Function/test-function"
    assert function.name == "test-function"
    assert function.identifiers == {
        "awsArn": "arn:aws:lambda:us-east-1:823362693882:function:test-function"
    }
    assert function.attributes == {
        "accountId": "823362693882",
        "ciClass": "aws_lambda_function",
        "memorySize": 128,
        "region": "us-east-1",
        "resourceType": "AWS::Lambda::Function",
        "runtime": "nodejs6.10",
        "tags": {"test": "value"},
    }
    # "Is contained in " (trailing space) and vpcConfig agree; one subnet suffices
    assert edges(result) == {
        (function.key, "cloudResourceId=sg-e463c89c"): {},
        (function.key, "cloudResourceId=subnet-23deb22f"): {"redundancyGroup": "subnets"},
        (function.key, "cloudResourceId=subnet-8dee48a7"): {"redundancyGroup": "subnets"},
    }
    (warning,) = result.warnings
    assert warning.element == "[0]"
    assert "AWS::IAM::Role (1)" in warning.message


# --------------------------------------------------------------- describe-*


def test_describe_entities() -> None:
    result = transform(*DESCRIBE)
    entities = by_key(result)
    assert len(entities) == 3 + 1 + 4 + 8 + 1 + 1
    assert result.warnings == ()
    bastion = entities[f"{INSTANCE}00000000000000000"]
    assert bastion.name == "Bastion"
    # no ARN in describe-instances; the sample's shared MAC address is not an identifier
    assert bastion.identifiers == {
        "cloudResourceId": "i-00000000000000000",
        "fqdn": "ip-10-0-0-1.ec2.internal",
        "ipAddress": "10.0.0.1",
    }
    assert bastion.attributes == {
        "accountId": "123456789012",
        "availabilityZone": "us-east-1a",
        "ciClass": "aws_instance",
        "imageId": "ami-00000000",
        "instanceType": "t2.micro",
        "region": "us-east-1",
        "resourceType": "AWS::EC2::Instance",
        "state": "running",
        "tags": {"Name": "Bastion"},
    }
    # Web1's network interface repeats the bastion's DNS name; the instance's own is used
    assert (
        entities[f"{INSTANCE}00000000000000001"].identifiers["fqdn"] == "ip-10-0-2-1.ec2.internal"
    )
    assert entities[VPC_D].name == "Prod"
    assert entities["aws/AWS::EC2::SecurityGroup/sg-00000004"].name == "Internal web"
    lb = entities[LB]
    assert lb.name == "webalb"
    assert lb.identifiers == {"awsArn": LB_ARN, "fqdn": "webalb"}
    assert lb.attributes["ciClass"] == "aws_lb"
    assert lb.attributes["scheme"] == "internet-facing"
    rds = entities[RDS]
    assert rds.name == "database"
    assert rds.identifiers == {
        "awsArn": "arn:aws:rds:us-east-1:123456789012:db:securitymonkey",
        "cloudResourceId": "db-00000000000000000000000000",
        "fqdn": "database.abcdefghijkl.us-east-1.rds.amazonaws.com",
    }
    assert rds.attributes == {
        "accountId": "123456789012",
        "availabilityZone": "us-east-2a",
        "ciClass": "aws_db_instance",
        "engine": "postgres",
        "engineVersion": "9.6.2",
        "instanceClass": "db.t2.micro",
        "multiAz": False,
        "port": 5432,
        "region": "us-east-1",
        "resourceType": "AWS::RDS::DBInstance",
        "state": "available",
    }


def test_describe_relations() -> None:
    found = edges(transform(*DESCRIBE))
    sg = "aws/AWS::EC2::SecurityGroup/sg-0000000"
    sub = "aws/AWS::EC2::Subnet/subnet-0000000"
    assert found[(f"{INSTANCE}00000000000000000", f"{sub}1")] == {}
    assert (f"{INSTANCE}00000000000000000", f"{sg}2") in found
    assert (f"{INSTANCE}00000000000000000", VPC_D) in found
    assert (f"{sub}3", VPC_D) in found
    # security group rules naming other groups (the default group names itself: no loop)
    sg_pairs = {(a[-1], b[-1]) for a, b in found if a.startswith(sg) and b.startswith(sg)}
    assert sg_pairs == {("4", "2"), ("4", "3"), ("5", "4"), ("6", "4"), ("7", "2"), ("8", "2")}
    # load balancer: subnets are alternatives
    assert found[(LB, f"{sub}2")] == {"redundancyGroup": "subnets"}
    assert (LB, f"{sg}3") in found
    assert (LB, VPC_D) in found
    # single-AZ RDS instance: only the subnet of its zone (us-east-2a -> subnet-00000003)
    assert found[(RDS, f"{sub}3")] == {}
    assert (RDS, f"{sub}4") not in found
    assert (RDS, f"{sg}5") in found
    assert (RDS, VPC_D) in found
    assert len(found) == 9 + 4 + 8 + 6 + 3 + 3


def test_multi_az_db_needs_one_of_its_subnets(tmp_path: Path) -> None:
    document = json.loads((DATA / "describe" / "rds-describe-db-instances.json").read_text())
    document["DBInstances"][0]["MultiAZ"] = True
    path = tmp_path / "rds.json"
    path.write_text(json.dumps(document))
    found = edges(transform(path))
    assert found[(RDS, "cloudResourceId=subnet-00000003")] == {"redundancyGroup": "subnets"}
    assert found[(RDS, "cloudResourceId=subnet-00000004")] == {"redundancyGroup": "subnets"}


def test_config_and_describe_of_one_resource_are_one_ci(tmp_path: Path) -> None:
    item = json.loads((DATA / "config" / "AWS_EC2_Instance.json").read_text())
    item["resourceId"] = item["configuration"]["instanceId"] = "i-00000000000000000"
    item["arn"] = "arn:aws:ec2:us-east-1:123456789012:instance/i-00000000000000000"
    item["accountId"] = "123456789012"
    item["relationships"] = [
        {
            "resourceType": "AWS::EC2::Subnet",
            "resourceId": "subnet-00000001",
            "relationshipName": "Is contained in Subnet",
        }
    ]
    path = tmp_path / "bastion-config.json"
    path.write_text(json.dumps(item))
    result = transform(DATA / "describe" / "ec2-describe-instances.json", path)
    key = f"{INSTANCE}00000000000000000"
    assert len([e for e in result.entities if e.key == key]) == 1
    bastion = by_key(result)[key]
    # union of both: the ARN from Config, the tags and name from describe
    assert bastion.identifiers["awsArn"] == item["arn"]
    assert bastion.name == "Bastion"
    assert bastion.attributes["tags"] == {"Name": "Bastion"}
    assert (
        "aws/AWS::EC2::Instance/i-00000000000000000",
        "aws/AWS::EC2::Subnet/subnet-00000001",
    ) not in edges(result)
    assert (key, "cloudResourceId=subnet-00000001") in edges(result)


def test_terminated_and_deleted_resources_are_skipped(tmp_path: Path) -> None:
    document = json.loads((DATA / "describe" / "ec2-describe-instances.json").read_text())
    document["Reservations"][0]["Instances"][2]["State"] = {"Code": 48, "Name": "terminated"}
    instances = tmp_path / "instances.json"
    instances.write_text(json.dumps(document))
    item = json.loads((DATA / "config" / "AWS_EC2_Subnet.json").read_text())
    item["configurationItemStatus"] = "ResourceDeleted"
    subnet = tmp_path / "subnet.json"
    subnet.write_text(json.dumps(item))
    result = transform(instances, subnet)
    assert sorted(e.key for e in result.entities) == [
        f"{INSTANCE}00000000000000000",
        f"{INSTANCE}00000000000000001",
    ]
    assert sorted((w.element, w.message) for w in result.warnings) == [
        ("$", "skipped AWS::EC2::Subnet subnet-29428871: ResourceDeleted"),
        (
            "Reservations[0].Instances[2]",
            "skipped AWS::EC2::Instance i-00000000000000002: terminated",
        ),
    ]


def test_shared_private_ip_is_not_an_identifier(tmp_path: Path) -> None:
    document = json.loads((DATA / "describe" / "ec2-describe-instances.json").read_text())
    document["Reservations"][0]["Instances"][1]["PrivateIpAddress"] = "10.0.0.1"
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(document))
    result = transform(path)
    entities = by_key(result)
    assert "ipAddress" not in entities[f"{INSTANCE}00000000000000000"].identifiers
    assert "ipAddress" not in entities[f"{INSTANCE}00000000000000001"].identifiers
    assert entities[f"{INSTANCE}00000000000000002"].identifiers["ipAddress"] == "10.0.3.1"
    assert len([w for w in result.warnings if "ipAddress=10.0.0.1" in w.message]) == 2


@pytest.mark.parametrize(
    "paths", [CONFIG, DESCRIBE, CONFIG + DESCRIBE], ids=["config", "describe", "both"]
)
def test_batches_pass_validation_and_are_deterministic(paths: list[Path]) -> None:
    result = transform(*paths)
    batch = IngestBatch(
        source="aws", entities=list(result.entities), relations=list(result.relations)
    )
    assert validate_batch(batch) == []
    assert transform(*reversed(paths)) == result
    keys = [e.key for e in result.entities]
    assert keys == sorted(keys)


def test_format_is_detected_from_content(tmp_path: Path) -> None:
    importer, options = AwsImporter(), ImporterOptions()
    detected = {p.name: importer.parse(p, options).format for p in CONFIG + DESCRIBE}
    assert detected == {
        "AWS_EC2_Instance.json": "config",
        "AWS_EC2_Subnet.json": "config",
        "AWS_EC2_VPC.json": "config",
        "AWS_LAMBDA_FUNCTION.json": "config",
        "ec2-describe-instances.json": "ec2-describe-instances",
        "ec2-describe-security-groups.json": "ec2-describe-security-groups",
        "ec2-describe-subnets.json": "ec2-describe-subnets",
        "ec2-describe-vpcs.json": "ec2-describe-vpcs",
        "elbv2-describe-load-balancers.json": "elbv2-describe-load-balancers",
        "rds-describe-db-instances.json": "rds-describe-db-instances",
    }
    # the name says nothing: a Config snapshot saved under a describe name is still Config
    item = json.loads((DATA / "config" / "AWS_EC2_VPC.json").read_text())
    misleading = tmp_path / "ec2-describe-vpcs.json"
    misleading.write_text(json.dumps({"fileVersion": "1.0", "configurationItems": [item]}))
    parsed = importer.parse(misleading, options)
    assert parsed.format == "config"
    assert [r.resource_id for r in parsed.resources] == ["vpc-0990dc6d"]
    # configuration as a JSON string, as the Config API returns it
    item["configuration"] = json.dumps(item["configuration"])
    misleading.write_text(json.dumps({"configurationItem": item}))
    assert (
        dict(importer.parse(misleading, options).resources[0].facts)["cidrBlock"] == "172.31.0.0/16"
    )


def test_items_of_unmapped_types_give_one_warning_per_type(tmp_path: Path) -> None:
    vpc = json.loads((DATA / "config" / "AWS_EC2_VPC.json").read_text())
    volumes = [
        {"resourceType": "AWS::EC2::Volume", "resourceId": f"vol-0{i}", "configuration": {}}
        for i in range(3)
    ]
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps({"fileVersion": "1.0", "configurationItems": [vpc, *volumes]}))
    result = transform(path)
    assert [e.key for e in result.entities] == ["aws/AWS::EC2::VPC/vpc-0990dc6d"]
    assert (result.warnings[0].element, result.warnings[0].message) == (
        "configurationItems[1]",
        "skipped 3 AWS::EC2::Volume items: resource type not imported",
    )
