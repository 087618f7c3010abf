"""Malformed or unknown AWS files raise ParseError naming the file and the element."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graphsvc.errors import ParseError
from graphsvc.ingest.importer import ImporterOptions
from importers.aws import AwsImporter

DATA = Path(__file__).parents[2] / "data" / "aws"


def parse_error(path: Path) -> ParseError:
    with pytest.raises(ParseError) as caught:
        AwsImporter().parse(path, ImporterOptions())
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)
    return caught.value


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    return path


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def test_truncated_json(tmp_path: Path) -> None:
    path = tmp_path / "truncated.json"
    path.write_bytes((DATA / "describe" / "ec2-describe-instances.json").read_bytes()[:1000])
    error = parse_error(path)
    assert error.element.startswith("line ")
    assert "not valid JSON" in error.reason


def test_unknown_top_level_shape(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, {"LoadBalancerDescriptions": [], "NextMarker": None}))
    assert error.element == "$"
    assert "not an AWS Config configuration item nor a supported describe response" in error.reason
    assert "LoadBalancerDescriptions" in error.reason


def test_scalar_document(tmp_path: Path) -> None:
    assert parse_error(write(tmp_path, "i-00000000000000000")).element == "$"


def test_array_of_something_else(tmp_path: Path) -> None:
    item = load("config/AWS_LAMBDA_FUNCTION.json")[0]
    error = parse_error(write(tmp_path, [item, {"InstanceId": "i-00000000000000000"}]))
    assert error.element == "[1]"
    assert "no resourceType" in error.reason
    error = parse_error(write(tmp_path, [item, 7]))
    assert error.element == "[1]"


def test_config_item_without_resource_id(tmp_path: Path) -> None:
    item = load("config/AWS_EC2_Instance.json")
    del item["resourceId"]
    error = parse_error(write(tmp_path, item))
    assert error.element == "$.resourceId"


def test_config_relationships_of_the_wrong_shape(tmp_path: Path) -> None:
    item = load("config/AWS_EC2_Subnet.json")
    item["relationships"][2] = "i-ebf3e058"
    assert parse_error(write(tmp_path, item)).element == "$.relationships[2]"
    item["relationships"] = {"resourceId": "vpc-0990dc6d"}
    assert parse_error(write(tmp_path, item)).element == "$.relationships"


def test_config_configuration_string_that_is_not_json(tmp_path: Path) -> None:
    item = load("config/AWS_EC2_VPC.json")
    item["configuration"] = '{"vpcId": "vpc-0990dc6d"'
    snapshot = {"fileVersion": "1.0", "configurationItems": [item]}
    error = parse_error(write(tmp_path, snapshot))
    assert error.element == "configurationItems[0].configuration"


def test_describe_instance_without_id(tmp_path: Path) -> None:
    document = load("describe/ec2-describe-instances.json")
    del document["Reservations"][0]["Instances"][1]["InstanceId"]
    error = parse_error(write(tmp_path, document))
    assert error.element == "Reservations[0].Instances[1].InstanceId"


def test_describe_list_of_the_wrong_type(tmp_path: Path) -> None:
    assert (
        parse_error(write(tmp_path, {"Subnets": {"SubnetId": "subnet-00000001"}})).element
        == "Subnets"
    )
    assert parse_error(write(tmp_path, {"Vpcs": ["vpc-12345678"]})).element == "Vpcs[0]"
    error = parse_error(write(tmp_path, {"Reservations": [{"OwnerId": "123456789012"}]}))
    assert error.element == "Reservations[0].Instances"


def test_change_notification_without_resource_type(tmp_path: Path) -> None:
    item = load("config/AWS_EC2_Subnet.json")
    del item["resourceType"]
    error = parse_error(
        write(
            tmp_path,
            {"messageType": "ConfigurationItemChangeNotification", "configurationItem": item},
        )
    )
    assert error.element == "configurationItem"
    assert "no resourceType" in error.reason
