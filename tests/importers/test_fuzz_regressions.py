"""What fuzzing the importers found (tests/fuzz), pinned: each input once, refused with a ParseError.

Before the fixes these raised ``RecursionError`` (deep YAML, deep JSON read with
the standard ``json`` module), ``AttributeError``/``ValueError`` out of PyYAML's
constructors (an impossible date), or pydantic's ``ValidationError`` (a value no
ingest item can take); an alias bomb loaded fine and then expanded to billions of
values as soon as anything walked it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest
import yaml

from graphsvc.errors import ParseError
from graphsvc.ingest.importer import load_importer
from graphsvc.ingest.results import IngestSummary
from graphsvc.ingest.runner import BatchSink, run_import
from graphsvc.model.batch import EntityRef, IngestBatch
from importers import _yaml

DATA = Path(__file__).parents[1] / "data"

DEEP_YAML = "a: " + "[" * 3000 + "]" * 3000 + "\n"
ALIAS_BOMB = (
    "a: &a [x,x,x,x,x,x,x,x,x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb, labels: {x: y}}\ndata: {d: *i}\n"
)
BAD_DATE = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, creationTimestamp: 2024-13-45}\n"
BAD_TAG = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: !!timestamp 99999-99-99}\n"


class NoSink(BatchSink):
    async def start_run(self, source: str, scope: str) -> str:
        raise AssertionError("nothing may be written")

    async def send(self, batch: IngestBatch) -> IngestSummary:
        raise AssertionError("nothing may be written")

    async def finish_run(self, run_id: str, *, complete: bool) -> IngestSummary:
        raise AssertionError("nothing may be written")

    async def exists(self, refs: Sequence[EntityRef]) -> list[bool]:
        return [True] * len(refs)


def refused(name: str, path: Path, settings: dict[str, str] | None = None) -> ParseError:
    async def go() -> None:
        await run_import(load_importer(name), [path], NoSink(), settings=settings)

    with pytest.raises(ParseError) as caught:
        anyio.run(go)
    assert caught.value.reason.strip()
    return caught.value


# ------------------------------------------------------------------------ YAML


@pytest.mark.parametrize("text", [DEEP_YAML, ALIAS_BOMB, BAD_DATE, BAD_TAG])
@pytest.mark.parametrize("name", ["kubernetes", "backstage", "service-graph"])
def test_hostile_yaml_is_a_parse_error(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / "in.yaml"
    path.write_text(text)
    error = refused(name, path)
    assert error.path == str(path)
    assert "YAML" in error.reason


@pytest.mark.parametrize("text", [DEEP_YAML, ALIAS_BOMB, BAD_DATE])
def test_hostile_yaml_as_a_csv_mapping_is_a_parse_error(tmp_path: Path, text: str) -> None:
    table = tmp_path / "org.csv"
    table.write_bytes((DATA / "csv_table" / "org.csv").read_bytes())
    mapping = tmp_path / "org.csv.mapping.yaml"
    mapping.write_text(text)
    assert refused("csv", table).path == str(mapping)


def test_bounded_loader_limits() -> None:
    assert list(_yaml.load_all("a: " + "[" * 90 + "]" * 90)) == [{"a": _nested(89)}]
    with pytest.raises(yaml.YAMLError, match="nesting deeper than"):
        _yaml.load("[" * (_yaml.MAX_DEPTH + 1) + "]" * (_yaml.MAX_DEPTH + 1))
    with pytest.raises(yaml.YAMLError, match="aliases expand"):
        list(_yaml.load_all(ALIAS_BOMB))
    # ordinary anchors and merges still work
    assert _yaml.load("base: &b {a: 1}\nx: {<<: *b, c: 2}\n") == {
        "base": {"a": 1},
        "x": {"a": 1, "c": 2},
    }


def _nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


# ------------------------------------------------------------------------ JSON


@pytest.mark.parametrize(
    ("name", "filename"),
    [("jira", "search.json"), ("servicenow", "cmdb_ci.json")],
)
def test_deeply_nested_json_is_a_parse_error(tmp_path: Path, name: str, filename: str) -> None:
    path = tmp_path / filename
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in refused(name, path).reason


def test_deeply_nested_json_mapping_is_a_parse_error(tmp_path: Path) -> None:
    mapping = tmp_path / "m.json"
    mapping.write_text("[" * 100_000 + "]" * 100_000)
    error = refused("csv", DATA / "csv_table" / "services.csv", {"mapping": str(mapping)})
    assert error.path == str(mapping)


# ---------------------------------------------------------------- item values


def test_a_value_no_item_can_take_is_a_parse_error_naming_field_and_value(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bom.json"
    long_ref = "x" * 600
    path.write_text(
        '{"bomFormat": "CycloneDX", "specVersion": "1.4", "components": '
        f'[{{"type": "library", "name": "a", "version": "1", "bom-ref": "{long_ref}"}}]}}'
    )
    error = refused("sbom", path)
    assert error.path == str(path)
    assert "at most 512 characters" in error.reason
    assert "xxxx" in error.reason and long_ref not in error.reason  # shown, shortened
