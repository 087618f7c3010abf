"""Kubernetes importer: malformed files raise ParseError naming file, element and reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphsvc.errors import ParseError
from graphsvc.ingest.importer import ImporterOptions
from importers.kubernetes import KubernetesImporter

DATA = Path(__file__).parents[2] / "data" / "kubernetes"
PODS = DATA / "kubectl-neat-list1-raw-pods.json"
BOUTIQUE = DATA / "online-boutique-release-kubernetes-manifests.yaml"


def parse(path: Path) -> object:
    return KubernetesImporter().parse(path, ImporterOptions(scope="c1"))


def error_of(tmp_path: Path, name: str, content: str | bytes) -> ParseError:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    with pytest.raises(ParseError) as info:
        parse(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    return info.value


def test_truncated_json(tmp_path: Path) -> None:
    data = PODS.read_bytes()
    error = error_of(tmp_path, "pods.json", data[: len(data) // 2])
    assert error.element.startswith("line ")
    assert ", column " in error.element
    assert error.reason.startswith("invalid JSON: ")


def test_truncated_yaml(tmp_path: Path) -> None:
    text = BOUTIQUE.read_text(encoding="utf-8")
    cut = text.index('"productcatalogservice:3550"') + 10  # inside a quoted scalar
    error = error_of(tmp_path, "boutique.yaml", text[:cut])
    assert error.element.startswith("document 1 (line ")
    assert error.reason.startswith("invalid YAML: ")


def items_file(items: object) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}}


@pytest.mark.parametrize(
    ("content", "element", "reason"),
    [
        (json.dumps([POD]), "top level", "expected an object (a Kubernetes object or a List), "),
        (
            json.dumps({"apiVersion": "v1", "kind": "List", "items": {"a": 1}}),
            "object",
            "List.items must be an array, got a mapping",
        ),
        (json.dumps({"apiVersion": "v1", "kind": "List"}), "object", "List.items must be an array"),
        (items_file([POD, "not an object"]), "items[1]", "expected a mapping (a Kubernetes "),
        (
            items_file([POD, {"apiVersion": "v1", "metadata": {"name": "x"}}]),
            "items[1]",
            "kind is missing or not a string",
        ),
        (
            items_file([{"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "ns"}}]),
            "items[0]",
            "Pod: metadata.name is missing or not a string",
        ),
        (
            items_file([{"kind": "ConfigMap", "metadata": {"generateName": "x-"}}]),
            "items[0]",
            "ConfigMap: metadata.name is missing",
        ),
        (
            items_file([{**POD, "kind": "List", "items": []}]),
            "items[0]",
            "a List inside a List is not supported",
        ),
        (
            items_file(
                [
                    POD,
                    {
                        "kind": "Deployment",
                        "metadata": {"name": "web", "namespace": "ns"},
                        "spec": {"selector": "app=web", "template": {}},
                    },
                ]
            ),
            "items[1]",
            "Deployment ns/web: spec.selector must be a mapping, got a string",
        ),
        (
            items_file([{**POD, "metadata": {"name": "p", "labels": {"a": ["b"]}}}]),
            "items[0]",
            "Pod p: metadata.labels must map strings to strings",
        ),
    ],
)
def test_wrong_json_shapes(tmp_path: Path, content: str, element: str, reason: str) -> None:
    error = error_of(tmp_path, "dump.json", content)
    assert error.element == element
    assert error.reason.startswith(reason)


def test_yaml_document_errors_name_document_and_line(tmp_path: Path) -> None:
    good = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
    error = error_of(tmp_path, "m.yaml", f"# header\n---\n{good}---\n- 1\n- 2\n")
    assert error.element == "document 2 (line 8)"
    assert error.reason == "expected a mapping (a Kubernetes object), got an array"
    error = error_of(tmp_path, "m.yaml", f"{good}---\n\n---\napiVersion: v1\nkind: Service\n")
    assert error.element == "document 3 (line 8)"
    assert error.reason == "Service: metadata is missing or not a mapping"
    nested = "apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {}\n"
    error = error_of(tmp_path, "m.yaml", f"{good}---\n{nested}")
    assert error.element == "document 2 (line 6): items[0]"
    assert error.reason == "Pod: metadata.name is missing or not a string"


def test_unknown_kinds_only_warn(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
        encoding="utf-8",
    )
    parsed = KubernetesImporter().parse(path, ImporterOptions())
    assert [o.name for o in parsed.objects] == ["a"]
    assert [(w.element, w.message) for w in parsed.warnings] == [
        ("document 1 (line 1) (Secret ns/s)", "kind Secret is not imported; skipped")
    ]


def test_unquoted_yaml_scalars_are_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "pod.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {enabled: true, tier: 2}\n"
        "  annotations: {deployed: 2024-01-02}\n"
        "spec:\n  containers:\n  - name: a\n    env: [{name: RETRIES, value: 3}]\n",
        encoding="utf-8",
    )
    [pod] = KubernetesImporter().parse(path, ImporterOptions()).objects
    assert pod.labels == {"enabled": "true", "tier": "2"}
    assert pod.annotations == {"deployed": "2024-01-02"}
    assert [(v.name, v.value) for v in pod.env] == [("RETRIES", "3")]
