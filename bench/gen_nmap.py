"""Generate a large, realistic Nmap XML file for importer benchmarks.

Usage::

    python bench/gen_nmap.py OUT.xml [--hosts 50000] [--seed 7] [--down 0.1]

The output is seeded (same arguments, same bytes) and shaped like ``nmap -sV -O
-oX`` 7.x output: a ``<!DOCTYPE nmaprun>``, ``scaninfo``, then one ``host`` per
address of 10.0.0.0/8 in order. About ``--down`` of them are down (only status
and address, as Nmap writes them); the others carry an IPv4 address, a MAC
address with vendor, a PTR and sometimes a user host name, one to three OS
matches with osclass children, a few open ports with service details, an
``extraports`` summary, sometimes a closed or filtered port, and a short
traceroute.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import sys
from pathlib import Path
from xml.sax.saxutils import quoteattr

START = 1_700_000_000

VENDORS = ("Dell", "Hewlett Packard", "VMware", "Intel Corporate", "Cisco Systems", "Super Micro")
OSES = (
    ("Linux 4.15 - 5.6", "Linux", "Linux", "5.X", "general purpose"),
    ("Linux 3.2 - 4.9", "Linux", "Linux", "4.X", "general purpose"),
    ("Microsoft Windows Server 2016", "Microsoft", "Windows", "2016", "general purpose"),
    ("Microsoft Windows Server 2019", "Microsoft", "Windows", "2019", "general purpose"),
    ("FreeBSD 12.0-RELEASE", "FreeBSD", "FreeBSD", "12.X", "general purpose"),
    ("Cisco IOS 15.2", "Cisco", "IOS", "15.X", "switch"),
)
SERVICES = (
    (22, "ssh", "OpenSSH", "8.2p1 Ubuntu 4ubuntu0.5", "Ubuntu Linux; protocol 2.0"),
    (80, "http", "nginx", "1.18.0", ""),
    (443, "https", "nginx", "1.18.0", ""),
    (3306, "mysql", "MySQL", "8.0.33", ""),
    (5432, "postgresql", "PostgreSQL DB", "12.9 - 12.13", ""),
    (6379, "redis", "Redis key-value store", "6.0.16", ""),
    (8080, "http-proxy", "Apache Tomcat", "9.0.58", ""),
    (3389, "ms-wbt-server", "Microsoft Terminal Services", "", ""),
    (445, "microsoft-ds", "", "", ""),
    (161, "snmp", "net-snmp", "", "SNMPv3 server"),
)
DOMAINS = ("corp.example.org", "dc1.example.org", "lab.example.net")


def _mac(rng: random.Random) -> str:
    first = (rng.randrange(256) & 0xFC) | 0x02  # unicast, locally administered
    return ":".join(f"{b:02X}" for b in (first, *(rng.randrange(256) for _ in range(5))))


def write_scan(out: Path, hosts: int, seed: int, down: float) -> None:
    rng = random.Random(seed)
    base = int(ipaddress.IPv4Address("10.0.0.1"))
    with out.open("w", encoding="utf-8", newline="\n") as f:
        w = f.write
        w('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n')
        args = f"nmap -sV -O -oX {out.name} 10.0.0.0/8"
        w(
            f'<nmaprun scanner="nmap" args={quoteattr(args)} start="{START}" '
            f'startstr="Tue Nov 14 22:13:20 2023" version="7.94" xmloutputversion="1.05">\n'
        )
        w('<scaninfo type="syn" protocol="tcp" numservices="1000" services="1-1000"/>\n')
        w('<verbose level="0"/>\n<debugging level="0"/>\n')
        up = 0
        for index in range(hosts):
            ip = str(ipaddress.IPv4Address(base + index))
            t0 = START + index // 50
            if rng.random() < down:
                w(
                    f'<host><status state="down" reason="no-response" reason_ttl="0"/>\n'
                    f'<address addr="{ip}" addrtype="ipv4"/>\n</host>\n'
                )
                continue
            up += 1
            w(f'<host starttime="{t0}" endtime="{t0 + 30}">')
            w('<status state="up" reason="arp-response" reason_ttl="0"/>\n')
            w(f'<address addr="{ip}" addrtype="ipv4"/>\n')
            vendor_attr = quoteattr(rng.choice(VENDORS))
            w(f'<address addr="{_mac(rng)}" addrtype="mac" vendor={vendor_attr}/>\n')
            name = f"host-{index:06d}"
            domain = rng.choice(DOMAINS)
            w("<hostnames>\n")
            if rng.random() < 0.3:
                w(f'<hostname name="{name}" type="user"/>\n')
            w(f'<hostname name="{name}.{domain}" type="PTR"/>\n</hostnames>\n')
            services = rng.sample(SERVICES, rng.randint(1, 4))
            w("<ports>")
            w(f'<extraports state="closed" count="{1000 - len(services) - 1}">')
            w('<extrareasons reason="resets" count="995"/></extraports>\n')
            for port, svc, product, version, extra in sorted(services):
                attrs = f'name="{svc}"'
                if product:
                    attrs += f" product={quoteattr(product)}"
                if version:
                    attrs += f" version={quoteattr(version)}"
                if extra:
                    attrs += f" extrainfo={quoteattr(extra)}"
                w(
                    f'<port protocol="tcp" portid="{port}">'
                    '<state state="open" reason="syn-ack" reason_ttl="64"/>'
                    f'<service {attrs} method="probed" conf="10"/></port>\n'
                )
            if rng.random() < 0.5:
                w(
                    '<port protocol="tcp" portid="25"><state state="filtered" '
                    'reason="no-response" reason_ttl="0"/>'
                    '<service name="smtp" method="table" conf="3"/></port>\n'
                )
            w("</ports>\n<os>")
            w('<portused state="open" proto="tcp" portid="22"/>\n')
            for rank, (os_name, vendor, family, gen, dtype) in enumerate(
                rng.sample(OSES, rng.randint(1, 3))
            ):
                accuracy = 100 - rank * rng.randint(1, 5)
                w(
                    f"<osmatch name={quoteattr(os_name)} "
                    f'accuracy="{accuracy}" line="{1000 + rank}">'
                    f"<osclass type={quoteattr(dtype)} vendor={quoteattr(vendor)} "
                    f'osfamily={quoteattr(family)} osgen="{gen}" accuracy="{accuracy}">'
                    f"<cpe>cpe:/o:{vendor.lower().replace(' ', '_')}:{family.lower()}</cpe>"
                    "</osclass></osmatch>\n"
                )
            w("</os>\n")
            w(f'<uptime seconds="{rng.randrange(10**6)}" lastboot="Mon Nov 13 10:00:00 2023"/>\n')
            w('<trace port="22" proto="tcp">')
            w('<hop ttl="1" ipaddr="10.0.0.254" rtt="0.30" host="gw.example.org"/>')
            w(f'<hop ttl="2" ipaddr="{ip}" rtt="0.52" host="{name}.{domain}"/></trace>\n')
            w('<times srtt="520" rttvar="150" to="100000"/>\n</host>\n')
        w(
            f'<runstats><finished time="{START + hosts // 50 + 60}" elapsed="{hosts // 50 + 60}" '
            f'exit="success"/><hosts up="{up}" down="{hosts - up}" total="{hosts}"/></runstats>\n'
        )
        w("</nmaprun>\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the XML")
    parser.add_argument("--hosts", type=int, default=50_000, help="host elements (default 50000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--down", type=float, default=0.1, help="share of down hosts (default 0.1)")
    args = parser.parse_args(argv)
    if args.hosts < 0 or args.hosts >= 2**24 - 2:
        parser.error("--hosts must be between 0 and 16777213")
    if not 0 <= args.down <= 1:
        parser.error("--down must be between 0 and 1")
    write_scan(args.out, args.hosts, args.seed, args.down)
    return 0


if __name__ == "__main__":
    sys.exit(main())
