"""Transform of real CycloneDX and SPDX documents (tests/data/sbom, see SOURCE.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graphsvc.ingest.importer import ImporterOptions, ImportResult
from graphsvc.model.batch import EntityItem, IngestBatch
from graphsvc.model.validation import validate_batch
from graphsvc.model.vocabulary import EntityKind
from importers.sbom import SbomImporter

DATA = Path(__file__).parents[2] / "data" / "sbom"
SAAS = DATA / "cyclonedx-saasbom-apigateway-microservices-datastores.json"
LARAVEL = DATA / "cyclonedx-laravel-7.12.0-bom.1.4.json"
SPDX_EXAMPLE = DATA / "spdx-tools-python-SPDXJSONExample-v2.3.spdx.json"
SPDX_TOOL = DATA / "spdx-examples-example11-sbom.spdx.json"
ALL = (SAAS, LARAVEL, SPDX_EXAMPLE, SPDX_TOOL)

SERIAL = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"
EXAMPLE_NS = "http://spdx.org/spdxdocs/spdx-example-444504E0-4F89-41D3-9A0C-0305E82C3301"
TOOL_NS = "https://spdx.org/spdxdocs/k8s-releng-bom-7c6a33ab-bd76-4b06-b291-a850e0815b07"
LARAVEL_ROOT = "pkg:composer/cyclonedx/cyclonedx-php-composer-demo@dev-master"

CI, SVC = EntityKind.CONFIGURATION_ITEM, EntityKind.SERVICE


def transform(*paths: Path) -> ImportResult:
    importer = SbomImporter()
    options = ImporterOptions(scope="sbom")
    return importer.transform([(p, importer.parse(p, options)) for p in paths], options)


def by_key(result: ImportResult) -> dict[str, EntityItem]:
    return {e.key: e for e in result.entities}


def triples(result: ImportResult) -> set[tuple[str, str, str, str, str]]:
    return {
        (r.type.value, r.from_.kind.value, r.from_.key or "", r.to.kind.value, r.to.key or "")
        for r in result.relations
    }


def write(tmp_path: Path, document: Any, name: str = "bom.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


# ------------------------------------------------------------------ CycloneDX


def test_saasbom_services() -> None:
    result = transform(SAAS)
    entities = by_key(result)
    assert sorted((e.kind.value, e.key) for e in result.entities) == [
        ("ConfigurationItem", f"{SERIAL}#acme-application"),
        ("Service", f"{SERIAL}#api-gateway"),
        ("Service", f"{SERIAL}#ms-1-pgsql.example.com"),
        ("Service", f"{SERIAL}#ms-1.example.com"),
        ("Service", f"{SERIAL}#ms-2.example.com"),
        ("Service", f"{SERIAL}#ms-3.example.com"),
        ("Service", f"{SERIAL}#s3-example.amazon.com"),
    ]
    root = entities[f"{SERIAL}#acme-application"]
    assert root.name == "Acme Cloud Example@2022-1"
    assert root.identifiers == {"bomRef": f"{SERIAL}#acme-application"}
    assert root.attributes == {
        "ciClass": "software",
        "componentType": "application",
        "name": "Acme Cloud Example",
        "version": "2022-1",
    }
    gateway = entities[f"{SERIAL}#api-gateway"]
    assert gateway.kind is SVC
    assert gateway.name == "API Gateway"
    assert gateway.identifiers == {"bomRef": f"{SERIAL}#api-gateway"}
    assert gateway.attributes == {
        "authenticated": False,
        "description": "Example API Gateway",
        "endpoints": ["https://example.com/", "https://example.com/app"],
        "group": "com.example",
        "name": "API Gateway",
        "provider": "Acme Inc",
        "trustBoundary": True,
        "version": "2022-1",
    }
    assert "provider" not in entities[f"{SERIAL}#s3-example.amazon.com"].attributes
    assert result.warnings == ()


def test_saasbom_relations() -> None:
    gw, ms1, ms2, ms3 = (
        f"{SERIAL}#{r}"
        for r in ("api-gateway", "ms-1.example.com", "ms-2.example.com", "ms-3.example.com")
    )
    pg, s3 = f"{SERIAL}#ms-1-pgsql.example.com", f"{SERIAL}#s3-example.amazon.com"
    assert triples(transform(SAAS)) == {
        # dependencies
        ("DEPENDS_ON", "ConfigurationItem", f"{SERIAL}#acme-application", "Service", gw),
        ("DEPENDS_ON", "Service", gw, "Service", ms1),
        ("DEPENDS_ON", "Service", gw, "Service", ms2),
        ("DEPENDS_ON", "Service", gw, "Service", ms3),
        ("DEPENDS_ON", "Service", ms1, "Service", pg),
        ("DEPENDS_ON", "Service", ms3, "Service", s3),
        # services nested in the gateway are parts of it
        ("PART_OF", "Service", ms1, "Service", gw),
        ("PART_OF", "Service", ms2, "Service", gw),
        ("PART_OF", "Service", ms3, "Service", gw),
        ("PART_OF", "Service", pg, "Service", gw),
        ("PART_OF", "Service", s3, "Service", gw),
    }


def test_laravel_components() -> None:
    result = transform(LARAVEL)
    entities = by_key(result)
    assert len(entities) == 62 + 1
    assert {e.kind for e in result.entities} == {CI}
    root = entities[LARAVEL_ROOT]
    assert root.name == "cyclonedx/cyclonedx-php-composer-demo@dev-master"
    assert root.attributes["componentType"] == "application"
    # no serialNumber: bom-refs are scoped by the root's purl
    assert root.identifiers == {
        "bomRef": f"{LARAVEL_ROOT}#cyclonedx/cyclonedx-php-composer-demo-dev-master",
        "purl": LARAVEL_ROOT,
    }
    cors = entities["pkg:composer/asm89/stack-cors@1.3.0"]
    assert cors.name == "asm89/stack-cors@1.3.0"
    assert cors.identifiers == {
        "bomRef": f"{LARAVEL_ROOT}#asm89/stack-cors-1.3.0.0",
        "purl": "pkg:composer/asm89/stack-cors@1.3.0",
    }
    assert cors.attributes == {
        "ciClass": "software",
        "componentType": "library",
        "description": "Cross-origin resource sharing library and stack middleware",
        "group": "asm89",
        "licenses": ["MIT"],
        "name": "stack-cors",
        "version": "1.3.0",
    }
    assert result.warnings == ()


def test_laravel_dependencies() -> None:
    result = transform(LARAVEL)
    found = triples(result)
    assert len(result.relations) == 113  # every dependsOn entry, nothing else
    assert {t[0] for t in found} == {"DEPENDS_ON"}
    assert (
        "DEPENDS_ON",
        "ConfigurationItem",
        LARAVEL_ROOT,
        "ConfigurationItem",
        "pkg:composer/laravel/laravel@v7.12.0",
    ) in found
    framework = [t for t in found if t[2] == "pkg:composer/laravel/framework@v7.30.6"]
    assert len(framework) == 25
    assert (
        "DEPENDS_ON",
        "ConfigurationItem",
        "pkg:composer/ramsey/uuid@4.2.3",
        "ConfigurationItem",
        "pkg:composer/brick/math@0.9.3",
    ) in found


def test_nested_components_are_parts_and_dangling_refs_warn(tmp_path: Path) -> None:
    bom = json.loads(LARAVEL.read_text())
    uuid = next(c for c in bom["components"] if c["bom-ref"] == "ramsey/uuid-4.2.3.0")
    math = next(c for c in bom["components"] if c["bom-ref"] == "brick/math-0.9.3.0")
    bom["components"].remove(math)
    uuid["components"] = [math]
    bom["dependencies"].append({"ref": "ghost/pkg-1.0", "dependsOn": ["brick/math-0.9.3.0"]})
    bom["dependencies"][0]["dependsOn"].append("ghost/other-2.0")
    result = transform(write(tmp_path, bom))
    assert len(result.entities) == 63
    found = triples(result)
    assert (
        "PART_OF",
        "ConfigurationItem",
        "pkg:composer/brick/math@0.9.3",
        "ConfigurationItem",
        "pkg:composer/ramsey/uuid@4.2.3",
    ) in found
    assert sorted((w.element, w.message) for w in result.warnings) == [
        (
            "dependencies[0]",
            "asm89/stack-cors-1.3.0.0 depends on 'ghost/other-2.0', which names no component or service",
        ),
        ("dependencies[63]", "ref 'ghost/pkg-1.0' names no component or service"),
    ]


def test_bom_without_dependency_graph_attaches_inventory_to_root(tmp_path: Path) -> None:
    bom = json.loads(SAAS.read_text())
    del bom["dependencies"]
    bom["components"] = [
        {
            "type": "library",
            "name": "left-pad",
            "version": "1.3.0",
            "purl": "pkg:npm/left-pad@1.3.0",
        }
    ]
    result = transform(write(tmp_path, bom))
    assert triples(result) >= {
        (
            "PART_OF",
            "Service",
            f"{SERIAL}#api-gateway",
            "ConfigurationItem",
            f"{SERIAL}#acme-application",
        ),
        (
            "PART_OF",
            "ConfigurationItem",
            "pkg:npm/left-pad@1.3.0",
            "ConfigurationItem",
            f"{SERIAL}#acme-application",
        ),
        ("PART_OF", "Service", f"{SERIAL}#ms-1.example.com", "Service", f"{SERIAL}#api-gateway"),
    }
    assert not any(t[0] == "DEPENDS_ON" for t in triples(result))
    left_pad = by_key(result)["pkg:npm/left-pad@1.3.0"]
    assert left_pad.identifiers == {"purl": "pkg:npm/left-pad@1.3.0"}  # no bom-ref


def test_bom_without_serial_or_root_is_scoped_by_file_name(tmp_path: Path) -> None:
    bom = json.loads(SAAS.read_text())
    del bom["serialNumber"], bom["metadata"]
    result = transform(write(tmp_path, bom, "gateway.cdx.json"))
    assert "gateway.cdx.json#api-gateway" in by_key(result)
    first, second = result.warnings
    assert first.element == "$"
    assert "file name" in first.message
    # the root is gone, so is what its dependency entry names
    assert (second.element, second.message) == (
        "dependencies[0]",
        "ref 'acme-application' names no component or service",
    )


# ----------------------------------------------------------------------- SPDX


def test_spdx_example_packages() -> None:
    result = transform(SPDX_EXAMPLE)
    entities = by_key(result)
    assert sorted(entities) == [
        f"{EXAMPLE_NS}#SPDXRef-Package",
        f"{EXAMPLE_NS}#SPDXRef-Saxon",
        f"{EXAMPLE_NS}#SPDXRef-fromDoap-1",
        "pkg:maven/org.apache.jena/apache-jena@3.12.0",
    ]
    glibc = entities[f"{EXAMPLE_NS}#SPDXRef-Package"]
    assert glibc.name == "glibc@2.11.1"
    assert glibc.identifiers == {"bomRef": f"{EXAMPLE_NS}#SPDXRef-Package"}
    assert glibc.attributes == {
        "ciClass": "software",
        "componentType": "source",
        "cpe": "cpe:2.3:a:pivotal_software:spring_framework:4.1.0:*:*:*:*:*:*:*",
        "licenses": ["(LGPL-2.0-only OR LicenseRef-3)"],
        "name": "glibc",
        "supplier": "Jane Doe",
        "version": "2.11.1",
    }
    jena = entities["pkg:maven/org.apache.jena/apache-jena@3.12.0"]
    assert jena.identifiers == {
        "bomRef": f"{EXAMPLE_NS}#SPDXRef-fromDoap-0",
        "purl": "pkg:maven/org.apache.jena/apache-jena@3.12.0",
    }
    # NOASSERTION is no license information
    assert "licenses" not in entities[f"{EXAMPLE_NS}#SPDXRef-fromDoap-1"].attributes


def test_spdx_example_relationships() -> None:
    result = transform(SPDX_EXAMPLE)
    # DYNAMIC_LINK: glibc links Saxon in, so it needs it
    assert triples(result) == {
        (
            "DEPENDS_ON",
            "ConfigurationItem",
            f"{EXAMPLE_NS}#SPDXRef-Package",
            "ConfigurationItem",
            f"{EXAMPLE_NS}#SPDXRef-Saxon",
        )
    }
    assert [(w.element, w.message) for w in result.warnings] == [
        (
            "relationships[0]",
            "SPDXRef-DOCUMENT CONTAINS SPDXRef-Package: SPDXRef-DOCUMENT is the document itself; skipped",
        ),
        (
            "relationships[1]",
            "SPDXRef-DOCUMENT COPY_OF DocumentRef-spdx-tool-1.2:SPDXRef-ToolsElement: relationship type not mapped; skipped",
        ),
        (
            "relationships[3]",
            "SPDXRef-CommonsLangSrc GENERATED_FROM NOASSERTION: relationship type not mapped; skipped",
        ),
        (
            "relationships[4]",
            "SPDXRef-JenaLib CONTAINS SPDXRef-Package: SPDXRef-JenaLib is a file or snippet, not a package; skipped",
        ),
        (
            "relationships[5]",
            "SPDXRef-Specification SPECIFICATION_FOR SPDXRef-fromDoap-0: relationship type not mapped; skipped",
        ),
        (
            "relationships[6]",
            "SPDXRef-File GENERATED_FROM SPDXRef-fromDoap-0: relationship type not mapped; skipped",
        ),
    ]
    assert all(w.path == str(SPDX_EXAMPLE) for w in result.warnings)


def test_spdx_tool_output_with_doubled_ids() -> None:
    result = transform(SPDX_TOOL)
    entities = by_key(result)
    tokio = entities["pkg:cargo/tokio@1.19.2"]
    assert tokio.name == "tokio@1.19.2"
    assert tokio.identifiers == {
        "bomRef": f"{TOOL_NS}#SPDXRef-Package-SPDXRef-Package-cargo-tokio-1",
        "purl": "pkg:cargo/tokio@1.19.2",
    }
    assert tokio.attributes == {
        "ciClass": "software",
        "licenses": ["MIT"],
        "name": "tokio",
        "version": "1.19.2",
    }
    source = "pkg:deb/debian/libselinux1-dev@3.1-3?arch=s390x"  # the sample's purl, kept as given
    assert entities[source].name == "hello-server-src@0.1.0"
    assert triples(result) == {
        ("DEPENDS_ON", "ConfigurationItem", source, "ConfigurationItem", "pkg:cargo/hyper@0.14"),
        (
            "DEPENDS_ON",
            "ConfigurationItem",
            source,
            "ConfigurationItem",
            "pkg:cargo/pretty_env_logger@0.4.0",
        ),
        ("DEPENDS_ON", "ConfigurationItem", source, "ConfigurationItem", "pkg:cargo/tokio@1.19.2"),
    }
    (warning,) = result.warnings
    assert warning.element == "relationships[3]"
    assert "GENERATED_FROM" in warning.message


def test_spdx_relationship_directions(tmp_path: Path) -> None:
    document = json.loads(SPDX_TOOL.read_text())
    ids = [p["SPDXID"] for p in document["packages"]]
    keys = [f"{TOOL_NS}#{i}" for i in ids]
    for package in document["packages"]:
        del package["externalRefs"]  # key the packages by namespace#SPDXID
    document["relationships"] = [
        {
            "spdxElementId": ids[1],
            "relationshipType": "DEPENDENCY_OF",
            "relatedSpdxElement": ids[0],
        },
        {
            "spdxElementId": ids[2],
            "relationshipType": "RUNTIME_DEPENDENCY_OF",
            "relatedSpdxElement": ids[1],
        },
        {"spdxElementId": ids[0], "relationshipType": "CONTAINS", "relatedSpdxElement": ids[3]},
        {"spdxElementId": ids[2], "relationshipType": "CONTAINED_BY", "relatedSpdxElement": ids[0]},
        {"spdxElementId": ids[3], "relationshipType": "STATIC_LINK", "relatedSpdxElement": ids[2]},
        {
            "spdxElementId": ids[0],
            "relationshipType": "BUILD_DEPENDENCY_OF",
            "relatedSpdxElement": ids[1],
        },
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": ids[0],
        },
    ]
    result = transform(write(tmp_path, document, "rels.spdx.json"))
    ci = "ConfigurationItem"
    assert triples(result) == {
        ("DEPENDS_ON", ci, keys[0], ci, keys[1]),
        ("DEPENDS_ON", ci, keys[1], ci, keys[2]),
        ("PART_OF", ci, keys[3], ci, keys[0]),
        ("PART_OF", ci, keys[2], ci, keys[0]),
        ("DEPENDS_ON", ci, keys[3], ci, keys[2]),
    }
    (warning,) = result.warnings  # DESCRIBES is structural; the build dependency is skipped
    assert warning.element == "relationships[5]"
    assert "BUILD_DEPENDENCY_OF" in warning.message


# ------------------------------------------------------------------- together


def test_same_purl_in_two_documents_is_one_entity(tmp_path: Path) -> None:
    spdx = json.loads(SPDX_TOOL.read_text())
    spdx["packages"][2]["externalRefs"][0]["referenceLocator"] = "pkg:composer/brick/math@0.9.3"
    laravel = tmp_path / "a-laravel.json"
    laravel.write_bytes(LARAVEL.read_bytes())
    result = transform(write(tmp_path, spdx, "b-other.spdx.json"), laravel)
    assert len(result.entities) == 63 + 3
    math = by_key(result)["pkg:composer/brick/math@0.9.3"]
    # the later document (by path) wins the attributes; the first bomRef is kept
    assert math.attributes["name"] == "tokio"
    assert math.identifiers["bomRef"] == f"{LARAVEL_ROOT}#brick/math-0.9.3.0"
    assert result.warnings[-1].element == "relationships[3]"


def test_all_samples_in_one_run() -> None:
    result = transform(*ALL)
    assert len(result.entities) == 7 + 63 + 4 + 4
    assert len(result.relations) == 11 + 113 + 1 + 3


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_batches_pass_validation_and_are_deterministic(path: Path) -> None:
    result = transform(path)
    batch = IngestBatch(
        source="sbom", entities=list(result.entities), relations=list(result.relations)
    )
    assert validate_batch(batch) == []
    assert transform(path) == result
    keys = [(e.kind.value, e.key) for e in result.entities]
    assert keys == sorted(keys)
