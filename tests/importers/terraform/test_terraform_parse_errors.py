"""Malformed Terraform states raise ParseError naming the file and the element."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graphsvc.errors import ParseError
from graphsvc.ingest.importer import ImporterOptions
from importers.terraform import TerraformImporter

DATA = Path(__file__).parents[2] / "data" / "terraform"


def parse(path: Path) -> object:
    return TerraformImporter().parse(path, ImporterOptions())


def write(tmp_path: Path, document: Any, name: str = "bad.tfstate") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def sample() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / "web-stack.tfstate").read_text())
    return loaded


def test_truncated_json(tmp_path: Path) -> None:
    path = tmp_path / "truncated.tfstate"
    path.write_bytes((DATA / "inframap-aws_state_cyclic.json").read_bytes()[:700])
    with pytest.raises(ParseError) as caught:
        parse(path)
    assert caught.value.path == str(path)
    assert caught.value.element.startswith("line ")
    assert "not valid JSON" in caught.value.reason
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="cannot read"):
        parse(tmp_path / "absent.tfstate")


@pytest.mark.parametrize("version", [3, 5])
def test_unsupported_version(tmp_path: Path, version: int) -> None:
    document = sample()
    document["version"] = version
    path = write(tmp_path, document)
    with pytest.raises(ParseError) as caught:
        parse(path)
    assert caught.value.element == "version"
    assert f"unsupported state format version {version}" in caught.value.reason
    assert str(path) in str(caught.value)


def test_not_a_state(tmp_path: Path) -> None:
    path = write(tmp_path, {"resources": []})
    with pytest.raises(ParseError) as caught:
        parse(path)
    assert (caught.value.element, caught.value.reason) == (
        "version",
        "not a Terraform state: no format version",
    )


def test_top_level_array(tmp_path: Path) -> None:
    path = write(tmp_path, [sample()])
    with pytest.raises(ParseError) as caught:
        parse(path)
    assert caught.value.element == "$"
    assert "expected an object" in caught.value.reason


def test_resources_not_a_list(tmp_path: Path) -> None:
    document = sample()
    document["resources"] = {"aws_vpc.main": {}}
    with pytest.raises(ParseError) as caught:
        parse(write(tmp_path, document))
    assert caught.value.element == "resources"


def test_instance_without_attributes(tmp_path: Path) -> None:
    document = sample()
    del document["resources"][2]["instances"][1]["attributes"]
    with pytest.raises(ParseError) as caught:
        parse(write(tmp_path, document))
    assert caught.value.element == "resources[2].instances[1]"
    assert "neither attributes nor attributes_flat" in caught.value.reason


def test_attributes_of_the_wrong_type(tmp_path: Path) -> None:
    document = sample()
    document["resources"][1]["instances"][0]["attributes"] = ["vpc-0a1b2c3d4e5f60718"]
    with pytest.raises(ParseError) as caught:
        parse(write(tmp_path, document))
    assert caught.value.element == "resources[1].instances[0].attributes"


def test_resource_without_type(tmp_path: Path) -> None:
    document = sample()
    del document["resources"][3]["type"]
    with pytest.raises(ParseError) as caught:
        parse(write(tmp_path, document))
    assert caught.value.element == "resources[3].type"


def test_unknown_mode(tmp_path: Path) -> None:
    document = sample()
    document["resources"][3]["mode"] = "ephemeral"
    with pytest.raises(ParseError) as caught:
        parse(write(tmp_path, document))
    assert caught.value.element == "resources[3].mode"


def test_bad_dependency_and_index_key(tmp_path: Path) -> None:
    document = sample()
    document["resources"][2]["instances"][0]["dependencies"] = ["aws_vpc.main", 7]
    with pytest.raises(ParseError) as caught:
        parse(write(tmp_path, document))
    assert caught.value.element == "resources[2].instances[0].dependencies[1]"
    document = sample()
    document["resources"][2]["instances"][0]["index_key"] = [0]
    with pytest.raises(ParseError) as caught:
        parse(write(tmp_path, document, "bad2.tfstate"))
    assert caught.value.element == "resources[2].instances[0].index_key"
