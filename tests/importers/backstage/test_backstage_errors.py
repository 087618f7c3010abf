"""Backstage importer: malformed descriptor files raise ParseError naming file, document, reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphsvc.errors import ParseError
from graphsvc.ingest.importer import ImporterOptions
from importers.backstage import BackstageImporter

DATA = Path(__file__).parents[2] / "data" / "backstage"
TEAM_A = DATA / "backstage-catalog-model-examples" / "acme-team-a-group.yaml"

ENTITY = """apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: ok
spec:
  type: service
  owner: team-a
"""


def parse(path: Path) -> object:
    return BackstageImporter().parse(path, ImporterOptions())


def write(tmp_path: Path, text: str, name: str = "catalog-info.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_truncated_file(tmp_path: Path) -> None:
    text = TEAM_A.read_text(encoding="utf-8")
    cut = text.index("memberOf: [team-a]") + len("memberOf: [team")
    path = write(tmp_path, text[:cut])
    with pytest.raises(ParseError) as info:
        parse(path)
    error = info.value
    assert error.path == str(path)
    assert error.element.startswith("document 2 (line ")
    assert error.reason.startswith("invalid YAML: ")
    assert str(path) in str(error)


def test_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, f"# comment\n---\n{ENTITY}---\n- just\n- a list\n")
    with pytest.raises(ParseError) as info:
        parse(path)
    assert info.value.element == "document 2 (line 11)"
    assert info.value.reason == "expected a mapping (an entity), got a list"


def test_unknown_kind(tmp_path: Path) -> None:
    path = write(tmp_path, ENTITY + "---\n" + ENTITY.replace("kind: Component", "kind: Widget"))
    with pytest.raises(ParseError) as info:
        parse(path)
    assert info.value.element == "document 2 (line 9)"
    assert info.value.reason.startswith("unknown kind 'Widget' (known: API, Component, ")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (ENTITY.replace("apiVersion: backstage.io/v1alpha1\n", ""), "apiVersion is missing"),
        (ENTITY.replace("kind: Component\n", ""), "kind is missing or not a string"),
        (ENTITY.replace("  name: ok\n", "  title: no name\n"), "metadata.name is missing"),
        (ENTITY.replace("metadata:\n  name: ok\n", "metadata: ok\n"), "metadata is missing"),
        (
            ENTITY.replace("spec:\n  type: service\n  owner: team-a\n", "spec: [1]\n"),
            "spec must be a mapping, got a list",
        ),
    ],
)
def test_entity_envelope_is_checked(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ParseError) as info:
        parse(path)
    assert info.value.element == "document 1 (line 1)"
    assert reason in info.value.reason


def test_blank_documents_and_comments_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path, f"# header\n---\n---\n   \n---\n{ENTITY}---\n")
    parsed = BackstageImporter().parse(path, ImporterOptions())
    assert [(e.ref, e.document, e.line) for e in parsed.entities] == [
        ("component:default/ok", 3, 6)
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as info:
        parse(tmp_path / "missing.yaml")
    assert info.value.reason.startswith("cannot read")
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ParseError, match="not UTF-8"):
        parse(path)
