"""An address's text forms: parsed, normalised, and grouped into its subnet.

Pure functions, no I/O. The proxy reads the client address with them (shield.proxy.client_ip)
and enrichment keys GeoIP, lists and the `ip.subnet` fact on the same normal form, so they sit
here, below both.

Two shapes: `ipaddress` objects (parse_ip, parse_bare_ip) for the proxy and configuration, and
`(version, integer)` pairs (bare_ip_int, ip_text, subnet_text) for the per-request path of every
new client address, where building and printing ipaddress objects cost ~30 us per IPv6 address.
Both accept exactly the same texts and print exactly the same normal forms (tests/facts/test_address.py).
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInt = tuple[int, int]  # (4 or 6, the address as an integer)

_AF_INET, _AF_INET6 = socket.AF_INET, socket.AF_INET6
_inet_pton, _inet_ntop = socket.inet_pton, socket.inet_ntop
_MAPPED = 0xFFFF  # ::ffff:0:0/96, as the address >> 32
_V6_SUBNET_MASK = ~((1 << 80) - 1)  # /48


def parse_ip(text: str) -> IPAddress | None:
    """One address as written in a header or a peer name, normalised; None for garbage.

    Accepts `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]`, `[2001:db8::1]:443`, `::ffff:1.2.3.4`.
    """
    bare = _unwrapped(text)
    return None if bare is None else parse_bare_ip(bare)


def parse_ip_int(text: str) -> IPInt | None:
    """`parse_ip` as (version, integer): the same texts (ports, brackets, zones, quotes) accepted."""
    bare = _unwrapped(text)
    return None if bare is None else bare_ip_int(bare)


def _unwrapped(text: str) -> str | None:
    """The bare address in an address as written (quotes, brackets, a port and a zone id taken off)."""
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
    return s.split("%", 1)[0]  # zone ids are local to the sender


def parse_bare_ip(text: str) -> IPAddress | None:
    """An address written bare (no port, brackets or zone), IPv4-mapped IPv6 made IPv4; None otherwise."""
    if ":" not in text:  # an IPv6 text has one; skipping the IPv4 attempt spares raising its error
        try:  # a dotted quad: inet_pton is ~20x faster than ipaddress's parser, and as strict
            return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
        except (OSError, ValueError):  # ValueError: an embedded NUL
            pass
    try:  # the same for IPv6 (it refuses zone ids, which ipaddress keeps: those go the slow way)
        value = int.from_bytes(_inet_pton(_AF_INET6, text), "big")
    except (OSError, ValueError):
        pass
    else:
        if value >> 32 == _MAPPED:
            return ipaddress.IPv4Address(value & 0xFFFFFFFF)
        return ipaddress.IPv6Address(value)
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def bare_ip_int(text: str) -> IPInt | None:
    """`parse_bare_ip` as (version, integer): the same texts accepted, IPv4-mapped IPv6 made IPv4."""
    if ":" not in text:  # an IPv6 text has one; skipping the IPv4 attempt spares raising its error
        try:
            return 4, int.from_bytes(_inet_pton(_AF_INET, text), "big")
        except (OSError, ValueError):  # ValueError: an embedded NUL
            pass
    try:  # inet_pton accepts exactly the IPv6 texts ipaddress does (checked on 2M random strings); 10x faster
        value = int.from_bytes(_inet_pton(_AF_INET6, text), "big")
    except (OSError, ValueError):
        ip = parse_bare_ip(text)  # whatever inet_pton refuses, ipaddress decides: one parser is the rule
        return None if ip is None else (ip.version, int(ip))
    if value >> 32 == _MAPPED:
        return 4, value & 0xFFFFFFFF
    return 6, value


def ip_text(version: int, value: int) -> str:
    """The normal text form of an address, exactly as `str(ipaddress.ip_address(...))` prints it."""
    if version == 4:
        return _inet_ntop(_AF_INET, value.to_bytes(4, "big"))
    if value >> 32 in (0, _MAPPED) and value > 1:
        # inet_ntop may write ::a.b.c.d and ::ffff:a.b.c.d (IPv4-compatible and mapped); ipaddress never does
        return str(ipaddress.IPv6Address(value))
    return _inet_ntop(_AF_INET6, value.to_bytes(16, "big"))


def subnet_text(version: int, value: int) -> str:
    """`subnet_of` from the integer: the /24 or /48 the address belongs to."""
    if version == 4:
        return _inet_ntop(_AF_INET, (value & 0xFFFFFF00).to_bytes(4, "big")) + "/24"
    return ip_text(6, value & _V6_SUBNET_MASK) + "/48"


def subnet_of(ip: str) -> str:
    """The network an address belongs to for grouping: /24 for IPv4, /48 for IPv6."""
    addr = parse_ip(ip)
    if addr is None:
        return ip
    return subnet_text(addr.version, int(addr))
