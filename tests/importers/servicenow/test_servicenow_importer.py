"""The ServiceNow importer against real Table API exports and documented table shapes.

Change requests and affected CIs: ``test_servicenow_changes.py``.
"""

from __future__ import annotations

import json
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
from importers.nmap import NmapImporter
from importers.servicenow import ServiceNowImporter

DATA = Path(__file__).parents[2] / "data" / "servicenow"
SERVERS = DATA / "table-api-cmdb_ci_server-response.json"
GROUPS = DATA / "table-api-sys_user_group-response.json"
CHANGE = DATA / "table-api-change_request-CHG0000001.json"
MIXED = DATA / "cmdb_ci-crafted-mixed-classes.json"
RELS = DATA / "cmdb_rel_ci-crafted.json"
REL_TYPES = DATA / "cmdb_rel_type-crafted.json"
MERGE_SNOW = DATA / "merge-cmdb_ci_linux_server-db01.json"
MERGE_NMAP = DATA / "merge-nmap-db01.xml"

CI, SERVICE, TEAM = EntityKind.CONFIGURATION_ITEM, EntityKind.SERVICE, EntityKind.TEAM
HELPDESK = "snow/b0ccabf1c0a80009001f14fd151d8df0"  # ApplicationServerHelpdesk
SFA = "snow/a9c0c8d2c6112276018f7705562f9cb0"  # Sales Force Automation (crafted service)
DB_HOSTING = "snow/f00dcafe00000000000000000000a001"
CLUSTER = "snow/f00dcafe00000000000000000000a002"
PEOPLESOFT = "snow/f00dcafe00000000000000000000a003"


def transform(*paths: Path, **settings: str) -> ImportResult:
    importer = ServiceNowImporter()
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


def test_cmdb_ci_server_export() -> None:
    result = transform(SERVERS)
    assert len(result.entities) == 40
    assert {e.kind for e in result.entities} == {CI}
    classes = {e.attributes["ciClass"] for e in result.entities}
    assert classes == {
        "cmdb_ci_server",
        "cmdb_ci_win_server",
        "cmdb_ci_unix_server",
        "cmdb_ci_linux_server",
        "cmdb_ci_aix_server",
    }
    helpdesk = entity(result, CI, HELPDESK)
    assert helpdesk.name == "ApplicationServerHelpdesk"
    assert helpdesk.status is None
    assert helpdesk.identifiers == {"servicenowSysId": "b0ccabf1c0a80009001f14fd151d8df0"}
    assert helpdesk.attributes == {
        "assetTag": "P1000027",
        "assignedTo": "dcd18e334757021043b9224f316d43e2",
        "category": "Do not migrate to asset",
        "ciClass": "cmdb_ci_server",
        "cpuCount": 1,
        "cpuSpeedMhz": 633,
        "installStatus": "Installed",
        "managedBy": "f298d2d2c611227b0106c6be7f154bc8",
        "operationalStatus": "Operational",
        "os": "Windows XP",
        "ownedBy": "62826bf03710200044e0bfc8bcbe5df1",  # owned_by links to sys_user
        "shortDescription": "HelpDesk App Server",
        "virtual": False,
    }
    car = entity(result, CI, "snow/6cabe993c611222500bb025775ec8732")
    assert car.identifiers == {
        "serial": "478933-e78-8823",
        "servicenowSysId": "6cabe993c611222500bb025775ec8732",
    }
    assert car.attributes["diskSpaceGb"] == 101.5
    # ram "-1" means unknown in ServiceNow
    sacramento = entity(result, CI, "snow/106c5c13c61122750194a1e96cfde951")
    assert "ramMb" not in sacramento.attributes
    assert "environment" not in sacramento.attributes  # used_for ""
    vmware = entity(result, CI, "snow/27e52cc8c0a8000b0067d0b66b8a66de")
    assert vmware.attributes["environment"] == "prod"  # used_for "Production"
    assert entity(result, CI, "snow/3a63d606c611222500487ae00a5bf3b8").attributes["ramMb"] == 10000
    # managed_by_group is the only group reference in the export
    assert triples(result) == {
        ("OWNS", "Team", "snow/019ad92ec7230010393d265c95c260dd", "ConfigurationItem", HELPDESK)
    }
    assert result.warnings == ()


def test_sys_user_group_export_found_by_file_name() -> None:
    result = transform(GROUPS)
    assert len(result.entities) == 46
    assert {e.kind for e in result.entities} == {TEAM}
    desk = entity(result, TEAM, "snow/d625dccec0a8016700a222a0f7900d06")
    assert desk.name == "Service Desk"
    assert desk.attributes["email"] == "service.desk@yourcompany.com"
    assert desk.attributes["manager"] == "46d44a23a9fe19810012d100cca80666"
    assert desk.identifiers == {"servicenowSysId": "d625dccec0a8016700a222a0f7900d06"}
    analytics = entity(result, TEAM, "snow/019ad92ec7230010393d265c95c260dd")
    assert analytics.attributes == {
        "description": "Group for all people who have the Analytics Admin role"
    }
    database = "snow/287ee6fea9fe198100ada7950d0b1b73"
    assert triples(result) == {
        ("PART_OF", "Team", f"snow/{child}", "Team", database)
        for child in (
            "5f74727dc0a8010e01efe33a251993f9",
            "db53580b0a0a0a6501aa37c294a2ba6b",
            "db53a9290a0a0a650091abebccf833c6",
        )
    }


def test_mixed_cmdb_ci_classes_services_and_ownership() -> None:
    result = transform(MIXED)
    sfa = entity(result, SERVICE, SFA)
    assert sfa.name == "Sales Force Automation"
    assert sfa.attributes == {
        "environment": "prod",
        "installStatus": "Installed",
        "lifecycle": "live",
        "operationalStatus": "Operational",
        "ownedBy": "62826bf03710200044e0bfc8bcbe5df1",
        "serviceType": "business",
        "shortDescription": "Siebel SFA for the sales team",
        "sysClassName": "cmdb_ci_service",
        "tier": 1,
    }
    hosting = entity(result, SERVICE, DB_HOSTING)
    assert hosting.attributes["tier"] == 2
    assert hosting.attributes["serviceType"] == "technical"  # from the class
    assert entity(result, CI, CLUSTER).attributes["ciClass"] == "cmdb_ci_cluster"
    legacy = entity(result, CI, "snow/f00dcafe00000000000000000000a004")
    assert legacy.status == "retired"
    assert legacy.attributes["installStatus"] == "Retired"
    assert triples(result) == {
        ("SUPPORTS", "Team", "snow/d625dccec0a8016700a222a0f7900d06", "Service", SFA),
        ("OWNS", "Team", "snow/0a52d3dcd7011200f2d224837e6103f2", "Service", SFA),
        ("SUPPORTS", "Team", "snow/287ee6fea9fe198100ada7950d0b1b73", "Service", DB_HOSTING),
        ("SUPPORTS", "Team", "snow/5f74727dc0a8010e01efe33a251993f9", "ConfigurationItem", CLUSTER),
        # owned_by links to sys_user_group: the group owns the application
        ("OWNS", "Team", "snow/c38f00f4530360100999ddeeff7b1298", "ConfigurationItem", PEOPLESOFT),
    }


def rel(result: ImportResult, type_: str, from_: str, to: str) -> dict[str, object]:
    for r in result.relations:
        if (r.type.value, r.from_.key, r.to.key) == (type_, from_, to):
            return dict(r.attributes)
    raise AssertionError(f"no {type_} {from_} -> {to}")


def test_cmdb_rel_ci_types_directions_and_reference_forms() -> None:
    result = transform(MIXED, RELS, REL_TYPES)
    rels = {t for t in triples(result) if t[0] not in ("OWNS", "SUPPORTS")}
    srv = "ConfigurationItem"
    assert rels == {
        # Depends on::Used by, type as an out-of-box sys_id
        ("DEPENDS_ON", "Service", SFA, "Service", DB_HOSTING),
        # Depends on::Used by, display_value=all references
        ("DEPENDS_ON", "Service", DB_HOSTING, srv, "snow/b0cbf176c0a80009002b452bc33e2fc3"),
        # Runs on::Runs
        ("RUNS_ON", srv, PEOPLESOFT, srv, "snow/b0cb50c3c0a8000900893e69d3c5885e"),
        # Hosted on::Hosts, display_value=true references (sys_id from the link)
        (
            "RUNS_ON",
            srv,
            "snow/3a70f789c0a8ce010091b0ea635b982a",
            srv,
            "snow/27e52cc8c0a8000b0067d0b66b8a66de",
        ),
        # Members::Member of and Cluster of::Cluster: the cluster needs its nodes
        ("DEPENDS_ON", srv, CLUSTER, srv, "snow/5f7dfd9cc0a8010e00ab58006f14bdc5"),
        ("DEPENDS_ON", srv, CLUSTER, srv, "snow/5f9b83bfc0a8010e005a2b3212c9dc07"),
        ("DEPENDS_ON", srv, CLUSTER, srv, "snow/5f9ba346c0a8010e00158183aaa1eb24"),
        # Contains::Contained by: the child is part of the parent
        ("PART_OF", "Service", DB_HOSTING, "Service", SFA),
        # a custom type named by the cmdb_rel_type export: the stored-on CI depends on storage
        (
            "DEPENDS_ON",
            srv,
            "snow/b0c4030ac0a800090152e7a4564ca36c",
            srv,
            "snow/b0c3437ac0a8000900433b8a412966aa",
        ),
        # Used by::Depends on is Depends on::Used by reversed
        (
            "DEPENDS_ON",
            srv,
            "snow/60cbab5ec0a8010e00b68ab75d1caa93",
            srv,
            "snow/14a9e27bc61122750037b90c4d34da38",
        ),
    }
    group = {"redundancyGroup": f"cluster:{CLUSTER}"}
    assert rel(result, "DEPENDS_ON", CLUSTER, "snow/5f7dfd9cc0a8010e00ab58006f14bdc5") == group
    assert rel(result, "DEPENDS_ON", CLUSTER, "snow/5f9ba346c0a8010e00158183aaa1eb24") == group
    assert rel(result, "DEPENDS_ON", SFA, DB_HOSTING) == {}
    messages = [(w.element, w.message) for w in result.warnings]
    assert messages == [
        (
            "/result/10",
            "skipped 'Runs on::Runs': RUNS_ON cannot go from ConfigurationItem to Service",
        ),
        (
            "/result/8",
            "skipped 1 cmdb_rel_ci record(s) of type 'Connects to::Connected by': no graph relation",
        ),
    ]


def test_a_bare_type_sys_id_without_its_type_record_is_a_warning() -> None:
    result = transform(RELS)
    unknown = [w for w in result.warnings if "unknown type" in w.message]
    assert len(unknown) == 1
    assert unknown[0].element == "/result/9"
    assert "f00dcafe00000000000000000000b001" in unknown[0].message


def test_every_batch_is_valid_and_output_is_sorted_and_deterministic() -> None:
    paths = (SERVERS, GROUPS, CHANGE, MIXED, RELS, REL_TYPES, MERGE_SNOW)
    result = transform(*paths)
    keys = [(e.kind.value, e.key) for e in result.entities]
    assert keys == sorted(keys)
    for batch in batches_of(result, source="servicenow", scope="dev", run_id=None, size=25):
        assert validate_batch(batch) == []
    assert transform(*paths) == result


def test_identifiers_use_the_shared_normalisation() -> None:
    result = transform(MERGE_SNOW)
    (db01,) = result.entities
    assert db01.identifiers == {
        "fqdn": "db01.example.org",  # "DB01.Example.org." normalised
        "hostname": "db01",
        "ipAddress": "10.20.30.40",
        "serial": "VMware-42 1a 2b 3c",
        "servicenowSysId": "f00dcafe00000000000000000000d001",
    }
    assert db01.attributes["ramMb"] == 16384
    assert db01.attributes["virtual"] is True


def write(tmp_path: Path, name: str, document: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def test_placeholder_identifiers_are_not_used(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cmdb_ci_server.json",
        {
            "result": [
                {
                    "sys_id": "f00dcafe00000000000000000000e001",
                    "name": "junk",
                    "serial_number": "To be filled by O.E.M.",
                    "ip_address": "127.0.0.1",
                    "mac_address": "not a mac",
                    "host_name": "localhost",
                }
            ]
        },
    )
    result = transform(path)
    (junk,) = result.entities
    assert junk.identifiers == {"servicenowSysId": "f00dcafe00000000000000000000e001"}
    assert junk.attributes["ciClass"] == "cmdb_ci_server"  # from the file name
    assert [w.element for w in result.warnings] == ["/result/0/mac_address"]


def test_cmdb_instance_api_response(tmp_path: Path) -> None:
    one = "f00dcafe00000000000000000000f001"
    db = "f00dcafe00000000000000000000f002"
    app = "f00dcafe00000000000000000000f003"
    link = "https://x.service-now.com/api/now/table/cmdb_rel_type/1a9cb166f1571100a92eb60da2bce5c5"
    path = write(
        tmp_path,
        "instance.json",
        {
            "result": {
                "attributes": {"sys_id": one, "sys_class_name": "cmdb_ci_appl", "name": "PS App"},
                "outbound_relations": [
                    {
                        "sys_id": "f00dcafe00000000000000000000f101",
                        "type": {
                            "display_value": "Depends on::Used by",
                            "value": "x",
                            "link": link,
                        },
                        "target": {"display_value": "PS DB", "value": db},
                    }
                ],
                "inbound_relations": [
                    {
                        "sys_id": "f00dcafe00000000000000000000f102",
                        "type": {"display_value": "Depends on::Used by", "value": "x"},
                        "target": {"display_value": "Portal", "value": app},
                    }
                ],
            }
        },
    )
    result = transform(path)
    assert [e.key for e in result.entities] == [f"snow/{one}"]
    assert triples(result) == {
        ("DEPENDS_ON", "ConfigurationItem", f"snow/{one}", "ConfigurationItem", f"snow/{db}"),
        ("DEPENDS_ON", "ConfigurationItem", f"snow/{app}", "ConfigurationItem", f"snow/{one}"),
    }


def test_unmapped_tables_are_skipped_with_one_warning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "export.json",
        {
            "result": [
                {"sys_id": "a", "sys_class_name": "incident", "number": "INC1"},
                {"sys_id": "b", "sys_class_name": "incident", "number": "INC2"},
            ]
        },
    )
    result = transform(path)
    assert result.entities == ()
    assert [w.message for w in result.warnings] == [
        "skipped 2 record(s) of table incident: not mapped"
    ]


def test_table_setting_overrides_detection(tmp_path: Path) -> None:
    groups = tmp_path / "export.json"
    shutil.copy(GROUPS, groups)
    with pytest.raises(ParseError) as info:
        transform(groups)
    assert info.value.element == "/result/0"
    assert "cannot tell which table" in info.value.reason
    result = transform(groups, table="sys_user_group")
    assert len(result.entities) == 46


def test_extra_service_classes_setting(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "x.json",
        {"result": [{"sys_id": "s1", "sys_class_name": "u_cmdb_ci_my_service", "name": "Mine"}]},
    )
    assert transform(path).entities == ()  # u_… is not a cmdb_ci table
    result = transform(path, table="cmdb_ci_my_service", serviceClasses="cmdb_ci_my_service")
    assert [(e.kind, e.key) for e in result.entities] == [(SERVICE, "snow/s1")]


# ---------------------------------------------------------------------- malformed


def parse_error(path: Path) -> ParseError:
    with pytest.raises(ParseError) as info:
        ServiceNowImporter().parse(path, ImporterOptions())
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    return info.value


def test_truncated_json_names_line_and_column(tmp_path: Path) -> None:
    cut = tmp_path / "cmdb_ci_server.json"
    cut.write_bytes(SERVERS.read_bytes()[:5000])
    error = parse_error(cut)
    assert error.element.startswith("line 1, column ")
    assert "not valid JSON" in error.reason


@pytest.mark.parametrize(
    ("document", "element", "reason"),
    [
        ({"records_": []}, "/", "not a ServiceNow Table API response"),
        ({"result": "nope"}, "/result", "must be a JSON array"),
        ({"result": [1]}, "/result/0", "must be a JSON object"),
        ({"result": [{"sys_class_name": "cmdb_ci_server"}]}, "/result/0/sys_id", "needs a sys_id"),
        ({"error": {"message": "User Not Authenticated"}}, "/error", "User Not Authenticated"),
        ("just a string", "/", "got a JSON str"),
    ],
)
def test_wrong_shapes_are_refused(
    tmp_path: Path, document: object, element: str, reason: str
) -> None:
    error = parse_error(write(tmp_path, "export.json", document))
    assert error.element == element
    assert reason in error.reason


# -------------------------------------------------------------------- integration


def as_importer(importer: object) -> Importer[object]:
    # run_import takes Importer[object]; Importer is invariant in its parsed type
    return cast("Importer[object]", importer)


async def run(engine: IngestEngine, *paths: Path, source: str = "servicenow") -> ImportReport:
    return await run_import(
        as_importer(ServiceNowImporter()),
        list(paths),
        EngineSink(engine),
        source=source,
        scope="dev",
    )


async def record_of(store: GraphStore, kind: EntityKind, key: str) -> EntityRecord:
    (entity_id,) = await store.resolve([(kind, key)])
    assert entity_id is not None, key
    (record,) = await store.entities([entity_id])
    assert record is not None
    return record


async def test_import_twice_changes_nothing_then_a_missing_ci_goes_stale(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    servers = tmp_path / "cmdb_ci_server.json"
    shutil.copy(SERVERS, servers)
    first = await run(engine, servers, GROUPS)
    assert first.summary.entities_created == 86
    assert first.summary.relations_created == 4  # OWNS + 3 PART_OF
    second = await run(engine, servers, GROUPS)
    assert second.summary.created == 0
    assert second.summary.updated == 0
    assert second.summary.marked_stale == 0

    document = json.loads(SERVERS.read_text())
    document["result"] = [r for r in document["result"] if r["name"] != "ApplicationServerHelpdesk"]
    servers.write_text(json.dumps(document))
    third = await run(engine, servers, GROUPS)
    assert third.summary.marked_stale == 2  # the CI and the OWNS relation
    assert third.summary.created == 0
    assert third.summary.updated == 0
    helpdesk = await record_of(store, CI, HELPDESK)
    assert helpdesk.status is Status.STALE
    owner = await record_of(store, TEAM, "snow/019ad92ec7230010393d265c95c260dd")
    assert owner.status is Status.ACTIVE
    page = await store.relations(owner.id, Direction.OUT, first=10)
    assert [r.status for r in page.items] == [Status.STALE]
    car = await record_of(store, CI, "snow/6cabe993c611222500bb025775ec8732")
    assert car.status is Status.ACTIVE


async def test_nmap_and_servicenow_describe_one_host(
    engine: IngestEngine, store: GraphStore
) -> None:
    scan = await run_import(
        as_importer(NmapImporter()), [MERGE_NMAP], EngineSink(engine), source="nmap", scope="dc1"
    )
    assert scan.summary.entities_created == 3  # the host and two open ports
    snow = await run(engine, MERGE_SNOW, GROUPS)
    assert snow.summary.merged == 1
    nmap_key, snow_key = "host/10.20.30.40", "snow/f00dcafe00000000000000000000d001"
    ids = await store.resolve([(CI, nmap_key), (CI, snow_key)])
    assert ids[0] is not None
    assert ids[0] == ids[1]
    host = await record_of(store, CI, snow_key)
    assert host.key == nmap_key
    assert host.aliases == (snow_key,)
    # both sources' identifiers and attributes on one entity
    assert host.identifiers == {
        "fqdn": "db01.example.org",
        "hostname": "db01",
        "ipAddress": "10.20.30.40",
        "macAddress": "00:50:56:ab:cd:ef",
        "serial": "VMware-42 1a 2b 3c",
        "servicenowSysId": "f00dcafe00000000000000000000d001",
    }
    assert host.attributes["osAccuracy"] == 98  # Nmap
    assert host.attributes["macVendor"] == "VMware"  # Nmap
    assert host.attributes["assetTag"] == "P2000001"  # ServiceNow
    assert host.attributes["ramMb"] == 16384  # ServiceNow
    assert host.attributes["os"] == "Linux Red Hat"  # both say; equal priority, later wins
    assert host.provenance["attributes.osAccuracy"].source == "nmap"
    assert host.provenance["attributes.assetTag"].source == "servicenow"
    # ServiceNow's ownership reaches the merged entity, and so do Nmap's services
    incoming = await store.relations(host.id, Direction.IN, first=10)
    assert sorted(r.type.value for r in incoming.items) == [
        "OWNS",
        "RUNS_ON",
        "RUNS_ON",
        "SUPPORTS",
    ]
    # importing both again changes nothing
    again = await run(engine, MERGE_SNOW, GROUPS)
    assert again.summary.created == 0
    assert again.summary.updated == 0
    assert again.summary.marked_stale == 0
    assert (await record_of(store, CI, nmap_key)).id == host.id
