"""Who is really on the other end: the socket peer, or what trusted proxies say about it.

Pure functions, no I/O. The walk goes right to left through X-Forwarded-For (and RFC 7239
Forwarded) and stops at the first address that is not a trusted proxy: everything left of it
was written by the client and may be forged.

Every protected request walks this, and during a wave every request names another address, so
nothing here is cached: a dotted quad is read with inet_pton and tested against the trusted
networks as integers; only other spellings (a port, brackets, IPv6) build ipaddress objects.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping, Sequence

from shield.facts.address import parse_ip
from shield.settings.schema import IPNetwork

# Header lookup must work with aiohttp's CIMultiDictProxy (getall) and plain dicts in tests.
Headers = Mapping[str, str]

_AF_INET = socket.AF_INET
_pton = socket.inet_pton


class TrustedProxies:
    """The trusted_proxies setting, compiled once into (network, mask) integers per family."""

    __slots__ = ("_v4", "_v6", "networks")

    def __init__(self, networks: Sequence[IPNetwork]) -> None:
        self.networks = tuple(networks)
        self._v4 = tuple((int(n.network_address), int(n.netmask)) for n in networks if n.version == 4)
        self._v6 = tuple((int(n.network_address), int(n.netmask)) for n in networks if n.version == 6)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def holds(self, value: int, version: int) -> bool:
        """Whether the address (as an integer of its family) is in a trusted network."""
        for net, mask in self._v4 if version == 4 else self._v6:  # noqa: SIM110 (a loop: no generator per request)
            if value & mask == net:
                return True
        return False


Address = tuple[str, int, int]  # an address as `address` gives it: normalised text, integer, version


def address(text: str) -> Address | None:
    """An address as written in a header or a peer name: (normalised text, integer, version), or None.

    Same answers as shield.facts.address.parse_ip (ports, brackets, zone ids, IPv4-mapped IPv6),
    without its objects for the common bare dotted quad.
    """
    s = text.strip()
    try:
        packed = _pton(_AF_INET, s)
    except (OSError, ValueError):  # ValueError: an embedded NUL
        ip = parse_ip(text)
        return None if ip is None else (str(ip), int(ip), ip.version)
    return s, int.from_bytes(packed, "big"), 4  # inet_pton takes only the canonical dotted quad


def _header_values(headers: Headers, name: str) -> list[str]:
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall(name, ()))
    value = headers.get(name)
    return [value] if value is not None else []


def _xff_hops(values: Iterable[str]) -> list[str]:
    return [part for value in values for part in value.split(",")]


def _forwarded_hops(values: Iterable[str]) -> list[str]:
    """The `for=` parameter of each RFC 7239 element, in order ("unknown" and obfuscated kept as-is)."""
    hops: list[str] = []
    for value in values:
        for element in value.split(","):
            for pair in element.split(";"):
                key, _, val = pair.partition("=")
                if key.strip().lower() == "for":
                    hops.append(val.strip())
    return hops


def client_ip(peer: str, headers: Headers, trusted: TrustedProxies | Sequence[IPNetwork]) -> str:
    """The client's address as a normalised string.

    X-Forwarded-For wins over Forwarded when both are present (proxies in front of shield
    usually append XFF). A hop that is not an address stops the walk at the last good one.
    """
    nets = trusted if isinstance(trusted, TrustedProxies) else TrustedProxies(trusted)
    peer_addr = address(peer)
    if peer_addr is None:
        return peer
    current, value, version = peer_addr
    # security: forwarded headers from an untrusted peer are ignored, so an attacker rotating
    # X-Forwarded-For cannot rotate his identity.
    if not nets or not nets.holds(value, version):
        return current
    return forwarded_client(peer_addr, headers, nets)[0]


def forwarded_client(peer: Address, headers: Headers, nets: TrustedProxies) -> Address:
    """`client_ip` for a peer already known to be a trusted proxy (`peer`: its address as `address`
    gives it), as `address` gives it: the walk through the forwarded headers, without parsing the
    peer again."""
    current = peer
    hops = _xff_hops(_header_values(headers, "X-Forwarded-For"))
    if not hops:
        hops = _forwarded_hops(_header_values(headers, "Forwarded"))
    for raw in reversed(hops):
        hop = address(raw)
        if hop is None:
            break
        current = hop
        if not nets.holds(hop[1], hop[2]):
            break
    return current
