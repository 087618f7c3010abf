"""Malformed SBOMs raise ParseError naming the file and the element."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graphsvc.errors import ParseError
from graphsvc.ingest.importer import ImporterOptions
from importers.sbom import SbomImporter

DATA = Path(__file__).parents[2] / "data" / "sbom"
SAAS = DATA / "cyclonedx-saasbom-apigateway-microservices-datastores.json"
SPDX = DATA / "spdx-examples-example11-sbom.spdx.json"


def parse_error(path: Path) -> ParseError:
    with pytest.raises(ParseError) as caught:
        SbomImporter().parse(path, ImporterOptions())
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)
    return caught.value


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    return path


def saas() -> Any:
    return json.loads(SAAS.read_text())


def spdx() -> Any:
    return json.loads(SPDX.read_text())


def test_truncated_json(tmp_path: Path) -> None:
    path = tmp_path / "truncated.json"
    path.write_bytes((DATA / "cyclonedx-laravel-7.12.0-bom.1.4.json").read_bytes()[:4096])
    error = parse_error(path)
    assert error.element.startswith("line ")
    assert "not valid JSON" in error.reason


def test_neither_format(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, {"components": []}))
    assert error.element == "$"
    assert "neither a CycloneDX BOM" in error.reason
    assert parse_error(write(tmp_path, [saas()])).element == "$"


def test_unknown_bom_format(tmp_path: Path) -> None:
    document = saas()
    document["bomFormat"] = "SWID"
    assert parse_error(write(tmp_path, document)).element == "bomFormat"


@pytest.mark.parametrize("version", ["1.1", "2.0", 1.4, None])
def test_unsupported_cyclonedx_version(tmp_path: Path, version: object) -> None:
    document = saas()
    document["specVersion"] = version
    error = parse_error(write(tmp_path, document))
    assert error.element == "specVersion"
    assert "unsupported CycloneDX specVersion" in error.reason


def test_nested_service_without_name(tmp_path: Path) -> None:
    document = saas()
    del document["services"][0]["services"][2]["name"]
    error = parse_error(write(tmp_path, document))
    assert error.element == "services[0].services[2].name"


def test_components_of_the_wrong_shape(tmp_path: Path) -> None:
    document = saas()
    document["components"] = {"name": "left-pad"}
    assert parse_error(write(tmp_path, document)).element == "components"
    document["components"] = ["pkg:npm/left-pad@1.3.0"]
    assert parse_error(write(tmp_path, document)).element == "components[0]"


def test_dependency_without_ref(tmp_path: Path) -> None:
    document = saas()
    del document["dependencies"][3]["ref"]
    assert parse_error(write(tmp_path, document)).element == "dependencies[3].ref"
    document = saas()
    document["dependencies"][1]["dependsOn"][1] = 42
    assert parse_error(write(tmp_path, document)).element == "dependencies[1].dependsOn[1]"


@pytest.mark.parametrize("version", ["SPDX-3.0", "SPDX-1.2", 2.3])
def test_unsupported_spdx_version(tmp_path: Path, version: object) -> None:
    document = spdx()
    document["spdxVersion"] = version
    error = parse_error(write(tmp_path, document))
    assert error.element == "spdxVersion"
    assert "unsupported SPDX version" in error.reason


def test_spdx_without_namespace(tmp_path: Path) -> None:
    document = spdx()
    del document["documentNamespace"]
    assert parse_error(write(tmp_path, document)).element == "$.documentNamespace"


def test_spdx_package_without_id(tmp_path: Path) -> None:
    document = spdx()
    del document["packages"][2]["SPDXID"]
    assert parse_error(write(tmp_path, document)).element == "packages[2].SPDXID"


def test_spdx_relationship_of_the_wrong_shape(tmp_path: Path) -> None:
    document = spdx()
    del document["relationships"][1]["relatedSpdxElement"]
    assert parse_error(write(tmp_path, document)).element == "relationships[1].relatedSpdxElement"
    document["relationships"] = "DEPENDS_ON"
    assert parse_error(write(tmp_path, document)).element == "relationships"
