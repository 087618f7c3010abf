"""The CSV importer: tables, column mappings and their errors."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import cast

import pytest

from graphsvc.errors import ParseError
from graphsvc.ingest.engine import IngestEngine
from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult
from graphsvc.ingest.runner import EngineSink, ImportReport, batches_of, run_import
from graphsvc.model.batch import EntityItem
from graphsvc.model.records import EntityRecord
from graphsvc.model.validation import validate_batch
from graphsvc.model.vocabulary import Direction, EntityKind, Status
from graphsvc.store.base import GraphStore
from importers.csv_table import CsvImporter

DATA = Path(__file__).parents[2] / "data" / "csv_table"
SERVERS = DATA / "servers.csv"
SERVICES = DATA / "services.csv"
SERVICES_MAPPING = DATA / "services.mapping.json"
ORG = DATA / "org.csv"

CI, SERVICE, TEAM, PERSON = (
    EntityKind.CONFIGURATION_ITEM,
    EntityKind.SERVICE,
    EntityKind.TEAM,
    EntityKind.PERSON,
)


def transform(*paths: Path, **settings: str) -> ImportResult:
    importer = CsvImporter()
    options = ImporterOptions(settings=settings)
    return importer.transform([(p, importer.parse(p, options)) for p in paths], options)


def entity(result: ImportResult, kind: EntityKind, key: str) -> EntityItem:
    matches = [e for e in result.entities if e.kind is kind and e.key == key]
    assert len(matches) == 1, (kind, key)
    return matches[0]


def triples(result: ImportResult) -> set[tuple[str, str, str, str, str]]:
    return {
        (r.type.value, r.from_.kind.value, str(r.from_.key), r.to.kind.value, str(r.to.key))
        for r in result.relations
    }


# --------------------------------------------------------------------- transform


def test_servers_with_the_mapping_found_next_to_the_file() -> None:
    result = transform(SERVERS)
    assert len(result.entities) == 40
    car = entity(result, CI, "cmdb/6cabe993c611222500bb025775ec8732")
    assert car.name == "Car-1"
    assert car.identifiers == {
        "serial": "478933-e78-8823",
        "servicenowSysId": "6cabe993c611222500bb025775ec8732",
    }
    assert car.attributes == {
        "assetTag": "P1000171",
        "ciClass": "cmdb_ci_server",
        "cpuCount": 1,
        "os": "Windows XP",
        "ramMb": -1,
        "source": "servicenow-csv",  # a constant
        "virtual": False,
    }
    vmware = entity(result, CI, "cmdb/27e52cc8c0a8000b0067d0b66b8a66de")
    assert vmware.attributes["environment"] == "Production"
    assert "ramMb" not in vmware.attributes  # empty cell: left out
    assert result.relations == ()
    assert result.warnings == ()


def test_services_with_mapping_setting_relations_and_multiline_cells() -> None:
    result = transform(SERVICES, mapping=str(SERVICES_MAPPING))
    sfa = entity(result, SERVICE, "svc-sfa")
    assert sfa.name == "Sales Force Automation"
    assert sfa.attributes == {
        "capability": "sales",
        "description": "Siebel SFA.\nUsed by every sales office.",
        "lifecycle": "live",
        "tier": 1,  # an integer: the vocabulary's type for tier
    }
    assert entity(result, SERVICE, "svc-mail").name == "Mail, Calendar"
    ci = "ConfigurationItem"
    assert triples(result) == {
        ("OWNS", "Team", "team-sales-it", "Service", "svc-sfa"),
        ("OWNS", "Team", "team-dba", "Service", "svc-db-hosting"),
        ("OWNS", "Team", "team-service-desk", "Service", "svc-mail"),
        ("SUPPORTS", "Team", "team-service-desk", "Service", "svc-sfa"),
        ("SUPPORTS", "Team", "team-dba", "Service", "svc-db-hosting"),
        ("SUPPORTS", "Team", "team-service-desk", "Service", "svc-mail"),
        ("RUNS_ON", "Service", "svc-sfa", ci, "cmdb/b0cb50c3c0a8000900893e69d3c5885e"),
        ("RUNS_ON", "Service", "svc-sfa", ci, "cmdb/3a70f789c0a8ce010091b0ea635b982a"),
        ("RUNS_ON", "Service", "svc-db-hosting", ci, "cmdb/b0cbf176c0a80009002b452bc33e2fc3"),
        ("RUNS_ON", "Service", "svc-db-hosting", ci, "cmdb/14a9e27bc61122750037b90c4d34da38"),
        ("RUNS_ON", "Service", "svc-mail", ci, "cmdb/b0c4030ac0a800090152e7a4564ca36c"),
        ("DEPENDS_ON", "Service", "svc-sfa", "Service", "svc-db-hosting"),
    }
    runs_on = [r for r in result.relations if r.type.value == "RUNS_ON"]
    assert {r.attributes["redundancyGroup"] for r in runs_on} == {"app-servers"}


def test_kind_column_teams_and_people() -> None:
    result = transform(ORG)
    assert sorted((e.kind.value, e.key) for e in result.entities) == [
        ("Person", "p-olga"),
        ("Team", "team-dba"),
        ("Team", "team-it"),
        ("Team", "team-sales-it"),
        ("Team", "team-service-desk"),
    ]
    olga = entity(result, PERSON, "p-olga")
    assert olga.attributes == {"email": "olga@example.org", "role": "DBA"}
    assert entity(result, TEAM, "team-sales-it").attributes == {}
    assert triples(result) == {
        ("PART_OF", "Team", "team-dba", "Team", "team-it"),
        ("PART_OF", "Team", "team-service-desk", "Team", "team-it"),
        ("PART_OF", "Team", "team-sales-it", "Team", "team-it"),
        ("MEMBER_OF", "Person", "p-olga", "Team", "team-dba"),
        ("MEMBER_OF", "Person", "p-olga", "Team", "team-service-desk"),
    }


def test_every_batch_is_valid_and_output_is_sorted_and_deterministic(tmp_path: Path) -> None:
    services = tmp_path / "services.csv"
    shutil.copy(SERVICES, services)
    shutil.copy(SERVICES_MAPPING, tmp_path / "services.csv.mapping.json")
    result = transform(SERVERS, services, ORG)
    keys = [(e.kind.value, e.key) for e in result.entities]
    assert keys == sorted(keys)
    assert len(keys) == 40 + 3 + 5
    for batch in batches_of(result, source="csv", scope="sheet", run_id=None, size=7):
        assert validate_batch(batch) == []
    assert transform(SERVERS, services, ORG) == result


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_relation_targets_by_identifier(tmp_path: Path) -> None:
    table = write(tmp_path, "apps.csv", "app,class,host\nweb,appl,web01.example.org\n")
    write(
        tmp_path,
        "apps.csv.mapping.yaml",
        "kind: ConfigurationItem\nkey: app\nattributes: {ciClass: class}\n"
        "relations:\n  - {column: host, type: RUNS_ON, targetKind: ConfigurationItem,"
        " targetIdentifier: fqdn}\n",
    )
    (relation,) = transform(table).relations
    assert relation.to.identifiers == {"fqdn": "web01.example.org"}
    assert relation.to.key is None
    for batch in batches_of(transform(table), source="csv", scope="x", run_id=None, size=5):
        assert validate_batch(batch) == []


def test_repeated_rows_merge_with_a_warning(tmp_path: Path) -> None:
    table = write(
        tmp_path,
        "hosts.csv",
        "host,class,os,runs_on\nvm1,vm,Linux,esx1\nvm1,vm,Windows,esx2\nesx1,esx,,\nesx2,esx,,\n",
    )
    write(
        tmp_path,
        "hosts.csv.mapping.yaml",
        "kind: ConfigurationItem\nkey: host\nattributes: {ciClass: class, os: os}\n"
        "relations: [{column: runs_on, type: RUNS_ON, targetKind: ConfigurationItem}]\n",
    )
    result = transform(table)
    assert entity(result, CI, "vm1").attributes == {"ciClass": "vm", "os": "Windows"}
    assert {t[4] for t in triples(result)} == {"esx1", "esx2"}
    (warning,) = result.warnings
    assert warning.element == "line 3"
    assert "already given (line 2)" in warning.message
    assert "attributes.os" in warning.message


# ------------------------------------------------------------------ mapping errors

GOOD = "kind: ConfigurationItem\nkey: host\nattributes: {ciClass: class}\n"


@pytest.mark.parametrize(
    ("mapping", "element", "reason"),
    [
        ("kinds: Service\nkey: host\n", "", "unknown field(s) kinds"),
        ("key: host\n", "kind", "is required"),
        ("kind: Server\nkey: host\n", "kind", "'Server' is not a kind"),
        ("kind: Service\n", "key", "must be a non-empty string"),
        ("kind: ConfigurationItem\nkey: host\n", "attributes", "a ConfigurationItem needs ciClass"),
        (
            GOOD + "relations: [{column: x, type: RUNS_IN, targetKind: ConfigurationItem}]\n",
            "relations[0].type",
            "'RUNS_IN' is not a relation type",
        ),
        (
            GOOD + "relations: [{column: x, type: OWNS, targetKind: Service}]\n",
            "relations[0].type",
            "OWNS cannot go from ConfigurationItem to Service",
        ),
        (
            GOOD + "relations: [{column: x, type: OWNS, targetKind: Team, direction: up}]\n",
            "relations[0].direction",
            "must be out",
        ),
        (
            GOOD
            + "relations: [{column: x, type: RUNS_ON, targetKind: ConfigurationItem, colour: 1}]\n",
            "relations[0]",
            "unknown field(s) colour",
        ),
        (
            "kind: Service\nkey: s\nattributes: {tier: {column: t, type: string}}\n",
            "attributes.tier.type",
            "tier of a Service is of type integer; type string does not fit",
        ),
        (
            "kind: Service\nkey: s\nattributes: {tier: {value: 7}}\n",
            "attributes.tier.value",
            "tier must be at most 4",
        ),
        (
            "kind: Service\nkey: s\nattributes: {cpus: {column: c, type: float}}\n",
            "attributes.cpus.type",
            "must be one of string, integer",
        ),
        (
            "kind: Service\nkey: s\nattributes: {a: {column: c, value: 1}}\n",
            "attributes.a",
            "give either column or value",
        ),
        ("kind: Service\nkey: s\nidentifiers: {IP: ip}\n", "identifiers.IP", "must match"),
        (GOOD + "delimiter: ';;'\n", "delimiter", "must be one character"),
        ("kind: Service\nkey: [unclosed\n", "line 3, column 1", "not valid YAML"),
        ("- just\n- a list\n", "", "must be a YAML/JSON mapping"),
    ],
)
def test_mapping_errors_name_the_mapping_file_and_field(
    tmp_path: Path, mapping: str, element: str, reason: str
) -> None:
    table = write(tmp_path, "hosts.csv", "host,class\nh1,server\n")
    mapping_path = write(tmp_path, "hosts.csv.mapping.yaml", mapping)
    with pytest.raises(ParseError) as info:
        transform(table)
    assert info.value.path == str(mapping_path)
    assert info.value.element == element
    assert reason in info.value.reason


def test_json_mapping_syntax_error(tmp_path: Path) -> None:
    table = write(tmp_path, "hosts.csv", "host,class\nh1,server\n")
    mapping = write(tmp_path, "m.json", '{"kind": "Service",\n "key": }')
    with pytest.raises(ParseError) as info:
        transform(table, mapping=str(mapping))
    assert info.value.path == str(mapping)
    assert info.value.element == "line 2, column 9"


def test_no_mapping_at_all(tmp_path: Path) -> None:
    table = write(tmp_path, "hosts.csv", "host\nh1\n")
    with pytest.raises(ParseError) as info:
        transform(table)
    assert info.value.path == str(table)
    assert "no column mapping" in info.value.reason


# ---------------------------------------------------------------------- row errors

HOSTS_MAPPING = (
    "kind: ConfigurationItem\nkey: host\n"
    "attributes:\n  ciClass: class\n  cpus: {column: cpus, type: integer}\n"
    "  virtual: {column: vm, type: boolean}\n"
    "relations: [{column: runs_on, type: RUNS_ON, targetKind: ConfigurationItem}]\n"
)


@pytest.mark.parametrize(
    ("rows", "element", "reason"),
    [
        ("h1,server,2,no,\n,server,2,no,\n", "line 3, column 'host'", "the key is empty"),
        ("h1,server,two,no,\n", "line 2, column 'cpus'", "cpus: 'two' is not an integer"),
        ("h1,server,2,maybe,\n", "line 2, column 'vm'", "'maybe' is not a boolean"),
        ("h1,,2,no,\n", "line 2, column 'class'", "needs ciClass; the cell is empty"),
        ("h1,server,2,no,,extra\n", "line 2", "the row has 6 fields, the header has 5"),
        ('h1,server,2,no,\nh2,"server\n', "line 3", "not valid CSV: unexpected end of data"),
        (
            '"h1\nstill h1",server,1,no,\nh2,server,x,no,\n',
            "line 4, column 'cpus'",
            "not an integer",
        ),
    ],
)
def test_bad_rows_name_file_line_and_column(
    tmp_path: Path, rows: str, element: str, reason: str
) -> None:
    table = write(tmp_path, "hosts.csv", "host,class,cpus,vm,runs_on\n" + rows)
    write(tmp_path, "hosts.csv.mapping.yaml", HOSTS_MAPPING)
    with pytest.raises(ParseError) as info:
        transform(table)
    assert info.value.path == str(table)
    assert info.value.element == element
    assert reason in info.value.reason
    assert str(table) in str(info.value)


def test_header_missing_a_mapped_column_names_the_mapping_field(tmp_path: Path) -> None:
    table = write(tmp_path, "hosts.csv", "host,class,cpus,vm\nh1,server,1,no\n")
    mapping = write(tmp_path, "hosts.csv.mapping.yaml", HOSTS_MAPPING)
    with pytest.raises(ParseError) as info:
        transform(table)
    assert info.value.element == "line 1"
    assert f"no column 'runs_on' (named by {mapping}: relations[0].column)" in info.value.reason


def test_empty_file_and_duplicate_header(tmp_path: Path) -> None:
    write(tmp_path, "hosts.csv.mapping.yaml", HOSTS_MAPPING)
    empty = write(tmp_path, "hosts.csv", "")
    with pytest.raises(ParseError) as info:
        transform(empty)
    assert info.value.element == "line 1"
    assert "no header" in info.value.reason
    twice = write(tmp_path, "hosts.csv", "host,class,cpus,vm,runs_on,host\n")
    with pytest.raises(ParseError) as info:
        transform(twice)
    assert "names host twice" in info.value.reason


def test_kind_column_errors(tmp_path: Path) -> None:
    shutil.copy(DATA / "org.csv.mapping.yaml", tmp_path / "org.csv.mapping.yaml")
    header = "kind,key,name,email,parent,member_of,role\n"
    bad_kind = write(tmp_path, "org.csv", header + "Squad,s1,S,,,,\n")
    with pytest.raises(ParseError) as info:
        transform(bad_kind)
    assert info.value.element == "line 2, column 'kind'"
    assert "'Squad' is not a kind" in info.value.reason
    # a Person row with a parent: PART_OF cannot go from Person to Team
    bad_relation = write(tmp_path, "org.csv", header + "Person,p1,P,,team-it,,\n")
    with pytest.raises(ParseError) as info:
        transform(bad_relation)
    assert info.value.element == "line 2, column 'parent'"
    assert "PART_OF cannot go from Person to Team" in info.value.reason
    bad_email = write(tmp_path, "org.csv", header + "Team,t1,T,not-an-address,,,\n")
    with pytest.raises(ParseError) as info:
        transform(bad_email)
    assert info.value.element == "line 2, column 'email'"
    assert "must be an e-mail address" in info.value.reason


# -------------------------------------------------------------------- integration


async def run(engine: IngestEngine, *paths: Path, **settings: str) -> ImportReport:
    # run_import takes Importer[object]; Importer is invariant in its parsed type
    importer = cast("Importer[object]", CsvImporter())
    return await run_import(
        importer, list(paths), EngineSink(engine), source="csv", scope="sheet", settings=settings
    )


async def record_of(store: GraphStore, kind: EntityKind, key: str) -> EntityRecord:
    (entity_id,) = await store.resolve([(kind, key)])
    assert entity_id is not None, key
    (record,) = await store.entities([entity_id])
    assert record is not None
    return record


async def test_import_twice_changes_nothing_then_a_missing_row_goes_stale(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    services = tmp_path / "services.csv"
    shutil.copy(SERVICES, services)
    shutil.copy(SERVICES_MAPPING, tmp_path / "services.csv.mapping.json")
    first = await run(engine, SERVERS, ORG, services)
    assert first.summary.entities_created == 48
    assert first.summary.relations_created == 12 + 5
    assert first.warnings == ()
    second = await run(engine, SERVERS, ORG, services)
    assert second.summary.created == 0
    assert second.summary.updated == 0
    assert second.summary.marked_stale == 0

    lines = SERVICES.read_text().splitlines(keepends=True)
    services.write_text("".join(line for line in lines if not line.startswith("svc-mail,")))
    third = await run(engine, SERVERS, ORG, services)
    # the service, its OWNS, SUPPORTS and RUNS_ON
    assert third.summary.marked_stale == 4
    assert third.summary.created == 0
    assert third.summary.updated == 0
    assert (await record_of(store, SERVICE, "svc-mail")).status is Status.STALE
    assert (await record_of(store, SERVICE, "svc-sfa")).status is Status.ACTIVE
    desk = await record_of(store, TEAM, "team-service-desk")
    assert desk.status is Status.ACTIVE
    page = await store.relations(desk.id, Direction.OUT, first=10)
    statuses = sorted((r.type.value, r.status.value) for r in page.items)
    assert statuses == [
        ("OWNS", "stale"),  # svc-mail
        ("PART_OF", "active"),  # team-it
        ("SUPPORTS", "active"),  # svc-sfa
        ("SUPPORTS", "stale"),  # svc-mail
    ]
