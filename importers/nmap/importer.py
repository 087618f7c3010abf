"""The Nmap importer: parsed scans -> hosts and their open network services."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from pydantic import JsonValue

from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult, ImportWarning
from graphsvc.model.batch import EntityItem, EntityRef, RelationItem
from graphsvc.model.vocabulary import VOCABULARY, EntityKind, RelationType
from importers.nmap.parser import parse_nmap_xml
from importers.nmap.records import NmapHost, NmapOsClass, NmapPort, NmapScan

__all__ = ["HOST_CI_CLASS", "SERVICE_CI_CLASS", "NmapImporter"]

HOST_CI_CLASS = "host"
"""``ciClass`` of a scanned host."""
SERVICE_CI_CLASS = "network_service"
"""``ciClass`` of an open port."""

_CI = EntityKind.CONFIGURATION_ITEM
_LOCAL_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "localhost6",
        "localhost6.localdomain6",
        "ip6-localhost",
        "ip6-loopback",
    }
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _identifies(ip: str) -> bool:
    """Whether an address names one machine: not loopback, unspecified or link-local."""
    parsed = ipaddress.ip_address(ip)
    return not (parsed.is_loopback or parsed.is_unspecified or parsed.is_link_local)


def _best_class(classes: Sequence[NmapOsClass]) -> NmapOsClass | None:
    """The class with the highest accuracy; the first one on a tie."""
    best: NmapOsClass | None = None
    for candidate in classes:
        if best is None or (candidate.accuracy or -1) > (best.accuracy or -1):
            best = candidate
    return best


def _primary_ip(host: NmapHost) -> str | None:
    for wanted in ("ipv4", "ipv6"):
        for address in host.addresses:
            if address.addrtype == wanted:
                return address.addr
    return None


def host_key(ip: str) -> str:
    """Return the natural key of the host scanned at ``ip`` (canonical form)."""
    return f"host/{ip}"


def port_key(ip: str, port: NmapPort) -> str:
    """Return the natural key of an open port of the host at ``ip``."""
    return f"host/{ip}/{port.protocol}/{port.portid}"


@dataclass(slots=True)
class _Draft:
    """An entity being assembled from one or more scans (later scans win per field)."""

    key: str
    name: str = ""
    identifiers: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, JsonValue] = field(default_factory=dict)

    def item(self) -> EntityItem:
        return EntityItem(
            kind=_CI,
            key=self.key,
            name=self.name,
            identifiers=dict(sorted(self.identifiers.items())),
            attributes=dict(sorted(self.attributes.items())),
        )


def _host_fields(
    host: NmapHost, ip: str, scan: NmapScan
) -> tuple[str, dict[str, str], dict[str, JsonValue]]:
    identifiers: dict[str, str] = {}
    attributes: dict[str, JsonValue] = {"ciClass": HOST_CI_CLASS}
    if _identifies(ip):
        identifiers["ipAddress"] = ip
    addresses = [a.addr for a in host.addresses if a.addrtype in ("ipv4", "ipv6")]
    attributes["addresses"] = list(addresses)
    for address in host.addresses:
        if address.addrtype == "mac":
            identifiers["macAddress"] = VOCABULARY.normalize_identifier("macAddress", address.addr)
            if address.vendor:
                attributes["macVendor"] = address.vendor
            break
    names: list[str] = []
    for hostname in host.hostnames:
        if hostname.name not in names:
            names.append(hostname.name)
    attributes["hostnames"] = list(names)
    dotted = sorted(
        (h for h in host.hostnames if "." in h.name.strip(".")),
        key=lambda h: 0 if (h.type or "").upper() == "PTR" else 1,
    )
    plain = [h for h in host.hostnames if "." not in h.name.strip(".")]
    fqdn = next((h.name for h in dotted if h.name.lower() not in _LOCAL_NAMES), None)
    short = next((h.name for h in plain if h.name.lower() not in _LOCAL_NAMES), None)
    if fqdn:
        identifiers["fqdn"] = VOCABULARY.normalize_identifier("fqdn", fqdn)
    if short:
        identifiers["hostname"] = VOCABULARY.normalize_identifier("hostname", short)
    best_match = None
    for match in host.os_matches:
        if best_match is None or (match.accuracy or -1) > (best_match.accuracy or -1):
            best_match = match
    if best_match is not None:
        attributes["os"] = best_match.name
        if best_match.accuracy is not None:
            attributes["osAccuracy"] = best_match.accuracy
    os_class = _best_class(
        best_match.classes if best_match and best_match.classes else host.os_classes
    )
    if os_class is not None and os_class.osfamily:
        attributes["osFamily"] = os_class.osfamily
    if scan.started is not None:
        attributes["scanStarted"] = scan.started.isoformat()
    name = fqdn or short or (names[0] if names else ip)
    return name, identifiers, attributes


def _port_attributes(port: NmapPort) -> dict[str, JsonValue]:
    attributes: dict[str, JsonValue] = {
        "ciClass": SERVICE_CI_CLASS,
        "port": port.portid,
        "protocol": port.protocol,
    }
    service = port.service
    if service is not None:
        for attr, value in (
            ("serviceName", service.name),
            ("product", service.product),
            ("version", service.version),
            ("extraInfo", service.extrainfo),
            ("tunnel", service.tunnel),
        ):
            if value:
                attributes[attr] = value
    return attributes


class NmapImporter(Importer[NmapScan]):
    """Nmap XML output (``nmap -oX``, 5.x to 7.x) -> hosts and open network services.

    See the package docstring for the mapping and its edge cases.
    """

    name: ClassVar[str] = "nmap"
    default_source: ClassVar[str] = "nmap"
    description: ClassVar[str] = "Nmap XML scans: hosts that are up and their open ports"

    def parse(self, path: Path, options: ImporterOptions) -> NmapScan:
        """Read one Nmap XML file.

        Raises:
            ParseError: naming the file, the line or element and the reason, when
                the file is not well-formed XML (truncated), declares entities,
                is not rooted at ``nmaprun``, or holds unreadable values.
        """
        del options  # no settings
        return parse_nmap_xml(path)

    def transform(
        self, parsed: Sequence[tuple[Path, NmapScan]], options: ImporterOptions
    ) -> ImportResult:
        """Map every scan of the run to entities and relations.

        Hosts that are not ``up`` are skipped (one warning per file with the
        count). A host seen in several scans (or twice in one) is one entity:
        scans are applied oldest first (by ``nmaprun/@start``, then file order,
        then document order), so for every attribute and identifier type the
        most recent scan that states it wins; the ports are the union.
        """
        del options  # no settings
        order: list[tuple[datetime, int, int, NmapScan, NmapHost]] = []
        warnings: list[ImportWarning] = []
        for file_index, (_path, scan) in enumerate(parsed):
            down = 0
            for host_index, host in enumerate(scan.hosts):
                if host.state != "up":
                    down += 1
                    continue
                order.append((scan.started or _EPOCH, file_index, host_index, scan, host))
            if down:
                warnings.append(
                    ImportWarning(scan.path, "", f"skipped {down} host(s) whose status is not up")
                )
        order.sort(key=lambda entry: entry[:3])
        hosts: dict[str, _Draft] = {}
        ports: dict[str, _Draft] = {}
        relations: dict[tuple[str, str], RelationItem] = {}
        for _started, _file, _index, scan, host in order:
            ip = _primary_ip(host)
            if ip is None:
                warnings.append(
                    ImportWarning(
                        scan.path, f"<host> at line {host.line}", "skipped: host has no IP address"
                    )
                )
                continue
            key = host_key(ip)
            draft = hosts.setdefault(key, _Draft(key))
            name, identifiers, attributes = _host_fields(host, ip, scan)
            draft.name = name
            draft.identifiers.update(identifiers)
            draft.attributes.update(attributes)
            for port in host.ports:
                if port.state != "open":
                    continue
                pkey = port_key(ip, port)
                pdraft = ports.setdefault(pkey, _Draft(pkey))
                service = port.service.name if port.service and port.service.name else "port"
                pdraft.name = f"{service} {port.protocol}/{port.portid} on {name}"
                pdraft.attributes.update(_port_attributes(port))
                relations[(pkey, key)] = RelationItem.model_validate(
                    {
                        "type": RelationType.RUNS_ON,
                        "from": EntityRef(kind=_CI, key=pkey),
                        "to": EntityRef(kind=_CI, key=key),
                    }
                )
        entities = [d.item() for d in (*hosts.values(), *ports.values())]
        entities.sort(key=lambda e: (e.kind.value, e.key))
        return ImportResult(
            entities=tuple(entities),
            relations=tuple(relations[k] for k in sorted(relations)),
            warnings=tuple(warnings),
        )
