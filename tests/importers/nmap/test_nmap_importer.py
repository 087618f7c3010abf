"""The Nmap importer against real scans (nmap 5.51, 6.40 and 7.91)."""

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
from graphsvc.model.validation import validate_batch
from graphsvc.model.vocabulary import Direction, EntityKind, RelationType, Status
from graphsvc.store.base import GraphStore
from importers.nmap import NmapImporter

DATA = Path(__file__).parents[2] / "data" / "nmap"
TWO_HOSTS = DATA / "libnmap-2_hosts_version.xml"
DIONAEA = DATA / "libnmap-dionaea_scan.xml"
FULLSCAN = DATA / "libnmap-fullscan.xml"
OS_SCAN = DATA / "libnmap-os_scan6.xml"
CI = EntityKind.CONFIGURATION_ITEM


def transform(*paths: Path) -> ImportResult:
    importer = NmapImporter()
    options = ImporterOptions()
    return importer.transform([(p, importer.parse(p, options)) for p in paths], options)


def entity(result: ImportResult, key: str) -> EntityItem:
    matches = [e for e in result.entities if e.key == key]
    assert len(matches) == 1, key
    return matches[0]


def triples(result: ImportResult) -> set[tuple[str, str, str]]:
    return {(r.type.value, str(r.from_.key), str(r.to.key)) for r in result.relations}


# --------------------------------------------------------------------- transform


def test_nmap_551_hosts_ports_os_and_names() -> None:
    result = transform(TWO_HOSTS)
    scanme = entity(result, "host/74.207.244.221")
    assert scanme.kind is CI
    assert scanme.name == "scanme.nmap.org"
    assert scanme.identifiers == {"fqdn": "scanme.nmap.org", "ipAddress": "74.207.244.221"}
    assert scanme.attributes == {
        "addresses": ["74.207.244.221"],
        "ciClass": "host",
        "hostnames": ["scanme.nmap.org"],
        "os": "Netgear DG834G WAP",
        "osAccuracy": 92,
        "osFamily": "embedded",  # 5.x: osclass sits under <os>, not under <osmatch>
        "scanStarted": "2013-02-24T20:28:09+00:00",
    }
    http = entity(result, "host/74.207.244.221/tcp/80")
    assert http.name == "http tcp/80 on scanme.nmap.org"
    assert http.attributes == {
        "ciClass": "network_service",
        "port": 80,
        "protocol": "tcp",
        "serviceName": "http",
    }
    # 25/tcp is filtered, not open
    assert not [e for e in result.entities if e.key == "host/74.207.244.221/tcp/25"]
    assert triples(result) == {
        ("RUNS_ON", f"host/74.207.244.221/tcp/{p}", "host/74.207.244.221") for p in (22, 80, 9929)
    } | {("RUNS_ON", f"host/127.0.0.1/tcp/{p}", "host/127.0.0.1") for p in (22, 25, 111, 631, 3306)}
    # localhost: loopback address and name identify nothing, no osmatch at all
    local = entity(result, "host/127.0.0.1")
    assert local.identifiers == {}
    assert local.name == "localhost"
    assert local.attributes["osFamily"] == "embedded"
    assert "os" not in local.attributes
    assert len(result.entities) == 2 + 8
    assert result.warnings == ()


def test_nmap_791_mac_fqdn_hostname_and_service_details() -> None:
    result = transform(DIONAEA)
    host = entity(result, "host/172.28.1.3")
    assert host.name == "dionaea.libnmap-testing_testing_net"
    assert host.identifiers == {
        "fqdn": "dionaea.libnmap-testing_testing_net",
        "hostname": "dionaea",
        "ipAddress": "172.28.1.3",
        "macAddress": "02:42:ac:1c:01:03",
    }
    assert host.attributes["os"] == "Linux 4.15 - 5.6"
    assert host.attributes["osAccuracy"] == 100
    assert host.attributes["osFamily"] == "Linux"
    assert host.attributes["hostnames"] == ["dionaea", "dionaea.libnmap-testing_testing_net"]
    assert "macVendor" not in host.attributes  # this MAC has no vendor in the file
    memcached = entity(result, "host/172.28.1.3/tcp/11211")
    assert memcached.attributes == {
        "ciClass": "network_service",
        "port": 11211,
        "protocol": "tcp",
        "serviceName": "memcached",
        "product": "Memcached",
        "version": "1.4.25",
        "extraInfo": "uptime 132 seconds",
    }
    pptp = entity(result, "host/172.28.1.3/tcp/1723")
    assert "product" not in pptp.attributes  # product="" is absent, not ""
    assert pptp.attributes["version"] == "(Firmware: 1)"
    assert entity(result, "host/172.28.1.3/tcp/443").attributes["tunnel"] == "ssl"
    ports = [e for e in result.entities if e.attributes["ciClass"] == "network_service"]
    assert len(ports) == 16
    assert len(result.relations) == 16


def test_down_hosts_are_skipped_and_counted() -> None:
    result = transform(FULLSCAN)
    hosts = sorted(e.key for e in result.entities if e.attributes["ciClass"] == "host")
    assert hosts == ["host/192.168.1.1", "host/192.168.1.4"]
    assert [w.message for w in result.warnings] == ["skipped 254 host(s) whose status is not up"]
    ssh = entity(result, "host/192.168.1.4/tcp/22")
    assert ssh.attributes["product"] == "OpenSSH"
    assert ssh.attributes["version"] == "5.9p1 Debian 5ubuntu1"
    assert ssh.attributes["extraInfo"] == "Ubuntu Linux; protocol 2.0"


def test_mac_vendor_and_best_osmatch() -> None:
    result = transform(OS_SCAN)
    router = entity(result, "host/192.168.1.1")
    assert router.identifiers == {"ipAddress": "192.168.1.1", "macAddress": "6c:2e:85:19:af:00"}
    assert router.attributes["macVendor"] == "Sagemcom"
    windows = entity(result, "host/192.168.1.5")
    # three osmatches at 100: the first one wins
    assert windows.attributes["os"] == "Microsoft Windows Server 2008 Beta 3"
    assert windows.attributes["osFamily"] == "Windows"
    assert windows.attributes["scanStarted"] == "2014-05-08T21:55:36+00:00"


def test_host_in_two_scans_is_one_entity_and_order_does_not_matter() -> None:
    forward = transform(FULLSCAN, OS_SCAN)
    backward = transform(OS_SCAN, FULLSCAN)
    assert forward.entities == backward.entities
    assert forward.relations == backward.relations
    router = entity(forward, "host/192.168.1.1")
    # the os_scan6 scan (21:55) is newer than fullscan (21:36): its values win
    assert router.attributes["scanStarted"] == "2014-05-08T21:55:36+00:00"
    assert router.identifiers["macAddress"] == "6c:2e:85:19:af:00"
    telnets = entity(forward, "host/192.168.1.1/tcp/992")
    assert telnets.attributes["serviceName"] == "telnets"  # newer scan
    assert telnets.attributes["product"] == "Sagem router telnetd"  # only the older one says
    entity(forward, "host/192.168.1.4/tcp/22")  # a port only the older scan saw


def test_output_is_sorted_and_every_batch_is_valid() -> None:
    result = transform(TWO_HOSTS, DIONAEA, FULLSCAN, OS_SCAN)
    keys = [(e.kind.value, e.key) for e in result.entities]
    assert keys == sorted(keys)
    rels = [(r.type.value, str(r.from_.key), str(r.to.key)) for r in result.relations]
    assert rels == sorted(rels)
    batches = list(batches_of(result, source="nmap", scope="lab", run_id=None, size=10))
    assert len(batches) > 2
    for batch in batches:
        assert validate_batch(batch) == []
    assert transform(TWO_HOSTS, DIONAEA, FULLSCAN, OS_SCAN) == result


# ---------------------------------------------------------------------- malformed


def parse_error(path: Path) -> ParseError:
    with pytest.raises(ParseError) as info:
        NmapImporter().parse(path, ImporterOptions())
    return info.value


def test_truncated_xml_names_file_line_and_open_elements(tmp_path: Path) -> None:
    data = DIONAEA.read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(data[: data.index(b'<port protocol="tcp" portid="80">') + 10])
    error = parse_error(cut)
    assert error.path == str(cut)
    assert error.element.startswith("line ")
    assert "inside <nmaprun>/<host>/<ports>" in error.element
    assert "not well-formed XML" in error.reason
    assert str(cut) in str(error)


def test_wrong_root_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.xml"
    other.write_text('<?xml version="1.0"?>\n<project><host/></project>\n')
    error = parse_error(other)
    assert error.element == "<project> at line 2"
    assert "not <nmaprun>" in error.reason


def test_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.xml"
    empty.write_text("")
    assert "not well-formed XML" in parse_error(empty).reason


def test_entity_declarations_are_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE nmaprun [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>\n<nmaprun>&b;</nmaprun>\n'
    )
    error = parse_error(bomb)
    assert "refused" in error.reason


def test_external_entities_are_refused(tmp_path: Path) -> None:
    probe = tmp_path / "xxe.xml"
    probe.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE nmaprun [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        '<nmaprun><host><status state="up"/><address addr="10.0.0.1"/>'
        '<hostnames><hostname name="&x;"/></hostnames></host></nmaprun>\n'
    )
    error = parse_error(probe)
    assert error.element == "line 2"
    assert "refused: entity declaration 'x'" in error.reason


def test_bad_values_name_the_element_and_host(tmp_path: Path) -> None:
    text = TWO_HOSTS.read_text()
    bad_port = tmp_path / "bad-port.xml"
    bad_port.write_text(text.replace('portid="9929"', 'portid="nine"'))
    error = parse_error(bad_port)
    assert error.element.startswith("<port> at line ")
    assert "(in <host> at line " in error.element
    assert "portid='nine' is not an integer" in error.reason
    bad_addr = tmp_path / "bad-addr.xml"
    bad_addr.write_text(text.replace('addr="74.207.244.221"', 'addr="74.207.244"'))
    error = parse_error(bad_addr)
    assert error.element.startswith("<address> at line ")
    assert "is not an ipv4 address" in error.reason


def test_missing_file_is_a_parse_error(tmp_path: Path) -> None:
    assert "cannot read" in parse_error(tmp_path / "nope.xml").reason


# -------------------------------------------------------------------- integration


async def run(engine: IngestEngine, *paths: Path) -> ImportReport:
    # run_import takes Importer[object]; Importer is invariant in its parsed type
    importer = cast("Importer[object]", NmapImporter())
    return await run_import(importer, list(paths), EngineSink(engine), source="nmap", scope="lab")


async def status_of(store: GraphStore, key: str) -> Status:
    (entity_id,) = await store.resolve([(CI, key)])
    assert entity_id is not None, key
    (record,) = await store.entities([entity_id])
    assert record is not None
    return record.status


async def test_import_twice_changes_nothing_then_a_missing_port_goes_stale(
    engine: IngestEngine, store: GraphStore, tmp_path: Path
) -> None:
    scan = tmp_path / "scan.xml"
    shutil.copy(TWO_HOSTS, scan)
    first = await run(engine, scan)
    assert first.summary.entities_created == 10
    assert first.summary.relations_created == 8
    second = await run(engine, scan)
    assert second.summary.created == 0
    assert second.summary.updated == 0
    assert second.summary.marked_stale == 0

    # the same scan without 9929/tcp on scanme
    text = TWO_HOSTS.read_text()
    start = text.index('<port protocol="tcp" portid="9929">')
    end = text.index("</port>", start) + len("</port>")
    scan.write_text(text[:start] + text[end:])
    third = await run(engine, scan)
    assert third.summary.marked_stale == 2
    assert third.summary.created == 0
    gone = "host/74.207.244.221/tcp/9929"
    assert await status_of(store, gone) is Status.STALE
    assert await status_of(store, "host/74.207.244.221") is Status.ACTIVE
    assert await status_of(store, "host/74.207.244.221/tcp/80") is Status.ACTIVE
    (gone_id,) = await store.resolve([(CI, gone)])
    assert gone_id is not None
    page = await store.relations(gone_id, Direction.OUT, first=10)
    assert [(r.type, r.status) for r in page.items] == [(RelationType.RUNS_ON, Status.STALE)]
    (http_id,) = await store.resolve([(CI, "host/74.207.244.221/tcp/80")])
    assert http_id is not None
    page = await store.relations(http_id, Direction.OUT, first=10)
    assert [r.status for r in page.items] == [Status.ACTIVE]
