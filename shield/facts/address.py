"""An address's text forms: parsed, normalised, and grouped into its subnet.

Pure functions, no I/O. The proxy reads the client address with them (shield.proxy.client_ip)
and enrichment keys GeoIP, lists and the `ip.subnet` fact on the same normal form, so they sit
here, below both.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> IPAddress | None:
    """One address as written in a header or a peer name, normalised; None for garbage.

    Accepts `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]`, `[2001:db8::1]:443`, `::ffff:1.2.3.4`.
    """
    s = text.strip().strip('"')
    if not s or len(s) > 64:  # security: no unbounded parsing of attacker-controlled text
        return None
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            return None
        s = s[1:end]
    elif s.count(":") == 1:
        s = s.split(":", 1)[0]
    return parse_bare_ip(s.split("%", 1)[0])  # zone ids are local to the sender


def parse_bare_ip(text: str) -> IPAddress | None:
    """An address written bare (no port, brackets or zone), IPv4-mapped IPv6 made IPv4; None otherwise."""
    try:  # a dotted quad: inet_pton is ~20x faster than ipaddress's parser, and as strict
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):  # ValueError: an embedded NUL
        pass
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def subnet_of(ip: str) -> str:
    """The network an address belongs to for grouping: /24 for IPv4, /48 for IPv6."""
    addr = parse_ip(ip)
    if addr is None:
        return ip
    if addr.version == 4:
        return f"{ipaddress.IPv4Address(int(addr) & 0xFFFFFF00)}/24"
    return f"{ipaddress.IPv6Address(int(addr) & ~((1 << 80) - 1))}/48"
