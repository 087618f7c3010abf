"""Reading an Nmap XML file into :class:`~importers.nmap.records.NmapScan`.

The file is untrusted: it is parsed by expat (:mod:`xml.parsers.expat`, driven
directly) with the handlers ``defusedxml`` installs: any entity declaration and
any external entity reference is refused, and parameter entities are never
parsed (a ``<!DOCTYPE nmaprun>`` without declarations, as Nmap 7 writes it, is
fine). Driving expat directly instead of through ``defusedxml.ElementTree``
(whose pure-Python ``XMLParser`` rewrites every tag and attribute name) makes
parsing about twice as fast. The parser is fed as a stream: a small target
object keeps only the elements the importer maps, so a scan of tens of
thousands of hosts is never held as a tree, and it knows the line of every
element for error messages.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.parsers import expat
from xml.parsers.expat import ErrorString, ExpatError

from graphsvc.errors import ParseError
from importers.nmap.records import (
    NmapAddress,
    NmapHost,
    NmapHostname,
    NmapOsClass,
    NmapOsMatch,
    NmapPort,
    NmapScan,
    NmapService,
)

__all__ = ["parse_nmap_xml"]

_CHUNK = 1 << 20

_MAPPED = frozenset(
    {"status", "address", "hostname", "port", "state", "service", "osmatch", "osclass"}
)
"""Elements inside ``<host>`` that :meth:`_Target._in_host` reads; others are only tracked."""


def _text(value: str | None) -> str | None:
    """Return ``value`` stripped, or ``None`` when it is absent or blank."""
    if value is None:
        return None
    value = value.strip()
    return value or None


@dataclass(slots=True)
class _PortDraft:
    protocol: str
    portid: int
    line: int
    state: str | None = None
    service: NmapService | None = None


@dataclass(slots=True)
class _OsMatchDraft:
    name: str
    accuracy: int | None
    classes: list[NmapOsClass] = field(default_factory=list)


@dataclass(slots=True)
class _HostDraft:
    line: int
    state: str | None = None
    addresses: list[NmapAddress] = field(default_factory=list)
    hostnames: list[NmapHostname] = field(default_factory=list)
    ports: list[NmapPort] = field(default_factory=list)
    os_matches: list[NmapOsMatch] = field(default_factory=list)
    os_classes: list[NmapOsClass] = field(default_factory=list)
    port: _PortDraft | None = None
    os_match: _OsMatchDraft | None = None


class _Target:
    """Parser target: turns start/end events into host records."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.expat: expat.XMLParserType | None = None
        self.stack: list[str] = []
        self.version: str | None = None
        self.started: datetime | None = None
        self.hosts: list[NmapHost] = []
        self.host: _HostDraft | None = None

    # ------------------------------------------------------------ helpers
    def _line(self) -> int:
        return self.expat.CurrentLineNumber if self.expat is not None else 0

    def _fail(self, tag: str, line: int, reason: str) -> ParseError:
        where = f"<{tag}> at line {line}"
        if self.host is not None and tag != "host":
            where += f" (in <host> at line {self.host.line})"
        return ParseError(self.path, where, reason)

    def _int(self, tag: str, line: int, attrib: dict[str, str], name: str) -> int | None:
        raw = _text(attrib.get(name))
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise self._fail(tag, line, f"{name}={raw!r} is not an integer") from None

    def _os_class(self, line: int, attrib: dict[str, str]) -> NmapOsClass:
        return NmapOsClass(
            osfamily=_text(attrib.get("osfamily")),
            vendor=_text(attrib.get("vendor")),
            osgen=_text(attrib.get("osgen")),
            type=_text(attrib.get("type")),
            accuracy=self._int("osclass", line, attrib, "accuracy"),
        )

    # ------------------------------------------------------------- events
    def start(self, tag: str, attrib: dict[str, str]) -> None:
        """Handle an element's start tag."""
        depth = len(self.stack)
        if depth == 0:
            line = self._line()
            if tag != "nmaprun":
                raise ParseError(
                    self.path,
                    f"<{tag}> at line {line}",
                    f"the root element is <{tag}>, not <nmaprun>: this is not Nmap XML output",
                )
            self._root(line, attrib)
        elif depth == 1:
            if tag == "host":
                self.host = _HostDraft(line=self._line())
        elif self.host is not None and tag in _MAPPED:
            self._in_host(tag, self._line(), attrib)
        self.stack.append(tag)

    def _root(self, line: int, attrib: dict[str, str]) -> None:
        self.version = _text(attrib.get("version"))
        start = self._int("nmaprun", line, attrib, "start")
        if start is not None:
            try:
                self.started = datetime.fromtimestamp(start, tz=UTC)
            except (OverflowError, OSError, ValueError):
                raise self._fail("nmaprun", line, f"start={start} is not a Unix time") from None

    def _in_host(self, tag: str, line: int, attrib: dict[str, str]) -> None:
        host = self.host
        assert host is not None
        parent = self.stack[-1]
        if parent == "host":
            if tag == "status":
                host.state = _text(attrib.get("state"))
            elif tag == "address":
                host.addresses.append(self._address(line, attrib))
        elif parent == "hostnames" and tag == "hostname":
            name = _text(attrib.get("name"))
            if name is None:
                raise self._fail(tag, line, "hostname without a name attribute")
            host.hostnames.append(NmapHostname(name, _text(attrib.get("type"))))
        elif parent == "ports" and tag == "port":
            host.port = self._port(line, attrib)
        elif parent == "port" and host.port is not None:
            if tag == "state":
                host.port.state = _text(attrib.get("state"))
            elif tag == "service":
                host.port.service = NmapService(
                    name=_text(attrib.get("name")),
                    product=_text(attrib.get("product")),
                    version=_text(attrib.get("version")),
                    extrainfo=_text(attrib.get("extrainfo")),
                    tunnel=_text(attrib.get("tunnel")),
                )
        elif parent == "os":
            if tag == "osmatch":
                name = _text(attrib.get("name"))
                if name is None:
                    raise self._fail(tag, line, "osmatch without a name attribute")
                host.os_match = _OsMatchDraft(name, self._int(tag, line, attrib, "accuracy"))
            elif tag == "osclass":
                host.os_classes.append(self._os_class(line, attrib))
        elif parent == "osmatch" and tag == "osclass" and host.os_match is not None:
            host.os_match.classes.append(self._os_class(line, attrib))

    def _address(self, line: int, attrib: dict[str, str]) -> NmapAddress:
        addr = _text(attrib.get("addr"))
        addrtype = _text(attrib.get("addrtype")) or "ipv4"
        if addr is None:
            raise self._fail("address", line, "address without an addr attribute")
        if addrtype in ("ipv4", "ipv6"):
            try:
                parsed = ipaddress.ip_address(addr)
            except ValueError:
                raise self._fail(
                    "address", line, f"{addr!r} is not an {addrtype} address"
                ) from None
            if parsed.version != (4 if addrtype == "ipv4" else 6):
                raise self._fail("address", line, f"{addr!r} is not an {addrtype} address")
            addr = str(parsed)
        return NmapAddress(addr, addrtype, _text(attrib.get("vendor")))

    def _port(self, line: int, attrib: dict[str, str]) -> _PortDraft:
        protocol = _text(attrib.get("protocol"))
        portid = self._int("port", line, attrib, "portid")
        if protocol is None or portid is None:
            raise self._fail("port", line, "port needs protocol and portid attributes")
        if not 0 <= portid <= 65535:
            raise self._fail("port", line, f"portid={portid} is out of range 0-65535")
        return _PortDraft(protocol.lower(), portid, line)

    def end(self, tag: str) -> None:
        """Handle an element's end tag."""
        self.stack.pop()
        host = self.host
        if host is None:
            return
        if tag == "host" and len(self.stack) == 1:
            self._finish_host(host)
            self.host = None
        elif tag == "port" and host.port is not None:
            draft = host.port
            if draft.state is None:
                raise self._fail("port", draft.line, "port without a state/@state element")
            host.ports.append(
                NmapPort(draft.protocol, draft.portid, draft.state, draft.service, draft.line)
            )
            host.port = None
        elif tag == "osmatch" and host.os_match is not None:
            match = host.os_match
            host.os_matches.append(NmapOsMatch(match.name, match.accuracy, tuple(match.classes)))
            host.os_match = None

    def _finish_host(self, host: _HostDraft) -> None:
        if host.state is None:
            raise self._fail("host", host.line, "host without a status/@state element")
        self.hosts.append(
            NmapHost(
                line=host.line,
                state=host.state,
                addresses=tuple(host.addresses),
                hostnames=tuple(host.hostnames),
                ports=tuple(host.ports),
                os_matches=tuple(host.os_matches),
                os_classes=tuple(host.os_classes),
            )
        )

    def data(self, text: str) -> None:
        """Ignore character data: everything mapped is in attributes."""

    def close(self) -> None:
        """End of document."""


class _Refused(Exception):
    """An entity declaration or external reference (raised from expat's handlers)."""


def _refuse_entity(name: str, *_rest: object) -> None:
    msg = f"entity declaration {name!r}"
    raise _Refused(msg)


def _refuse_unparsed_entity(name: str, *_rest: object) -> None:
    msg = f"unparsed entity declaration {name!r}"
    raise _Refused(msg)


def _refuse_external(
    _context: str, _base: str | None, system_id: str | None, _public_id: str | None
) -> int:
    msg = f"external entity reference {system_id!r}"
    raise _Refused(msg)


def parse_nmap_xml(path: Path) -> NmapScan:
    """Read one Nmap XML file (``nmap -oX``).

    Args:
        path: The file.

    Returns:
        The scan, with every host (up or not) in document order.

    Raises:
        ParseError: when the file cannot be read, is not well-formed XML
            (truncated, for example), declares entities, has a root element other
            than ``nmaprun``, or carries values the importer cannot read (an
            address that is not an IP address, a non-numeric port or accuracy).
            The error names the file, the line or element, and the reason.
    """
    name = str(path)
    target = _Target(name)
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_unparsed_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.StartElementHandler = target.start
    parser.EndElementHandler = target.end
    target.expat = parser
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except OSError as exc:
        raise ParseError(name, "", f"cannot read: {exc.strerror or exc}") from None
    except ExpatError as exc:
        inside = "/".join(f"<{t}>" for t in target.stack)
        where = f"line {exc.lineno}, column {exc.offset}" + (
            f" (inside {inside})" if inside else ""
        )
        raise ParseError(name, where, f"not well-formed XML: {ErrorString(exc.code)}") from None
    except _Refused as exc:
        raise ParseError(
            name,
            f"line {parser.CurrentLineNumber}",
            f"refused: {exc} (entity declarations and external references are not allowed)",
        ) from None
    return NmapScan(name, target.version, target.started, tuple(target.hosts))
