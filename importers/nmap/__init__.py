"""Nmap XML importer (``graphsvc import nmap scan.xml …``).

Reads the XML that ``nmap -oX`` writes (5.x to 7.x: ``xmloutputversion`` 1.03
to 1.05) with ``defusedxml`` (untrusted input: entity declarations and external
references are refused) and maps it as follows.

Hosts (``host`` elements whose ``status/@state`` is ``up``; other hosts are
skipped, counted in one warning per file) become ``ConfigurationItem`` with
``ciClass`` ``host`` and key ``host/<ip>``: the first IPv4 address, else the
first IPv6 address, in canonical form. A host without an IP address is skipped
with a warning.

========================  ==================================================
identifier / attribute    from
========================  ==================================================
``ipAddress``             the key's address
``macAddress``            ``address[@addrtype=mac]`` (normalised ``aa:bb:…``)
``fqdn``                  the first host name containing a dot (PTR names first)
``hostname``              the first host name without a dot
``attributes.macVendor``  ``address[@addrtype=mac]/@vendor``
``attributes.addresses``  every IPv4/IPv6 address of the host, document order
``attributes.hostnames``  every host name (PTR and user), duplicates removed
``attributes.os``         name of the ``os/osmatch`` with the highest accuracy
``attributes.osAccuracy`` its accuracy (a number, percent)
``attributes.osFamily``   ``osfamily`` of the best ``osclass`` of that match, or
                          of the best ``os/osclass`` (5.x files, no osmatch)
``attributes.scanStarted`` ``nmaprun/@start`` as ISO 8601 UTC (``+00:00``)
========================  ==================================================

Addresses and names that identify nothing beyond the scanning machine are not
used as identifiers, because the ingest engine merges entities that share an
identifier value: loopback, unspecified and link-local addresses, and
``localhost``-style names. They still appear in ``addresses``/``hostnames``
(and a loopback address still makes the key). Identifier values are sent
normalised the way :data:`graphsvc.model.vocabulary.IDENTIFIERS` compares them,
so a host from Nmap and the same host from ServiceNow (same IP address or FQDN)
become one entity.

Open ports (``ports/port`` whose ``state/@state`` is exactly ``open``) become
``ConfigurationItem`` with ``ciClass`` ``network_service`` and key
``host/<ip>/<protocol>/<port>``; attributes ``port`` (integer), ``protocol``,
``serviceName``, ``product``, ``version``, ``extraInfo`` and ``tunnel`` (from
``service``). Each one ``RUNS_ON`` its host.

Edge cases:

* Empty attribute values (``product=""``) are omitted, never sent as ``null``:
  an importer that does not know a value must not erase what another source
  says.
* A host in several files of one run (or twice in one file) is one entity;
  files are applied oldest scan first, so per attribute the most recent scan
  wins, and its open ports are the union.
* Traceroute hops, scripts and closed/filtered ports are not mapped.
* A file that is not well-formed XML (for example truncated), declares
  entities, or whose root is not ``nmaprun`` raises
  :class:`~graphsvc.errors.ParseError` naming the file, the line (and the
  enclosing elements) and the reason; so does an address that is not an IP
  address or a port number that is not an integer.
"""

from importers.nmap.importer import NmapImporter

__all__ = ["NmapImporter"]
