"""What one Nmap XML file says, as frozen records (the importer's parsed form).

The records keep what the importer maps and where it came from (line numbers
for messages); everything else in the file (scripts, traceroute, timing) is
dropped while parsing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "NmapAddress",
    "NmapHost",
    "NmapHostname",
    "NmapOsClass",
    "NmapOsMatch",
    "NmapPort",
    "NmapScan",
    "NmapService",
]


@dataclass(frozen=True, slots=True)
class NmapAddress:
    """One ``host/address`` element.

    Attributes:
        addr: The address as written (an IPv4/IPv6 address in canonical form,
            or a MAC address as Nmap prints it).
        addrtype: ``ipv4``, ``ipv6`` or ``mac``.
        vendor: The MAC vendor Nmap looked up, when given.
    """

    addr: str
    addrtype: str
    vendor: str | None = None


@dataclass(frozen=True, slots=True)
class NmapHostname:
    """One ``host/hostnames/hostname`` element.

    Attributes:
        name: The name.
        type: ``user`` (given on the command line) or ``PTR`` (reverse DNS); ``None`` if absent.
    """

    name: str
    type: str | None = None


@dataclass(frozen=True, slots=True)
class NmapOsClass:
    """One ``osclass`` element (under ``os`` in 5.x files, under ``osmatch`` from 6.x on).

    Attributes:
        osfamily: OS family (``Linux``, ``Windows``, ``embedded`` ...).
        vendor: OS vendor.
        osgen: OS generation (``2.6.X``).
        type: Device type (``general purpose``, ``WAP`` ...).
        accuracy: Nmap's confidence in percent, ``None`` if absent.
    """

    osfamily: str | None
    vendor: str | None
    osgen: str | None
    type: str | None
    accuracy: int | None


@dataclass(frozen=True, slots=True)
class NmapOsMatch:
    """One ``os/osmatch`` element.

    Attributes:
        name: The OS guess.
        accuracy: Nmap's confidence in percent, ``None`` if absent.
        classes: Its ``osclass`` children (empty in 5.x files).
    """

    name: str
    accuracy: int | None
    classes: tuple[NmapOsClass, ...] = ()


@dataclass(frozen=True, slots=True)
class NmapService:
    """The ``service`` element of a port; empty strings are read as absent.

    Attributes:
        name: Service name (``ssh``, ``http``).
        product: Product (``OpenSSH``).
        version: Product version.
        extrainfo: Extra information (``protocol 2.0``).
        tunnel: ``ssl`` when the service is wrapped in TLS.
    """

    name: str | None = None
    product: str | None = None
    version: str | None = None
    extrainfo: str | None = None
    tunnel: str | None = None


@dataclass(frozen=True, slots=True)
class NmapPort:
    """One ``ports/port`` element.

    Attributes:
        protocol: ``tcp``, ``udp``, ``sctp`` or ``ip``.
        portid: The port number.
        state: Its ``state/@state`` (``open``, ``closed``, ``filtered``, ``open|filtered`` ...).
        service: The service Nmap identified, if any.
        line: Line of the ``port`` element in the file.
    """

    protocol: str
    portid: int
    state: str
    service: NmapService | None
    line: int


@dataclass(frozen=True, slots=True)
class NmapHost:
    """One ``host`` element.

    Attributes:
        line: Line of the ``host`` element in the file.
        state: ``status/@state`` (``up``, ``down``, ``unknown``).
        addresses: Its addresses in document order.
        hostnames: Its host names in document order.
        ports: Its ports in document order (every state).
        os_matches: ``os/osmatch`` elements in document order.
        os_classes: ``os/osclass`` elements directly under ``os`` (5.x files).
    """

    line: int
    state: str
    addresses: tuple[NmapAddress, ...] = ()
    hostnames: tuple[NmapHostname, ...] = ()
    ports: tuple[NmapPort, ...] = ()
    os_matches: tuple[NmapOsMatch, ...] = ()
    os_classes: tuple[NmapOsClass, ...] = ()


@dataclass(frozen=True, slots=True)
class NmapScan:
    """One Nmap XML file.

    Attributes:
        path: The file, for messages.
        version: ``nmaprun/@version`` (``7.91``), ``None`` if absent.
        started: ``nmaprun/@start`` as an aware UTC datetime, ``None`` if absent.
        hosts: Every ``host`` element, up or not, in document order.
    """

    path: str
    version: str | None
    started: datetime | None
    hosts: tuple[NmapHost, ...]
