"""Who is really on the other end: the socket peer, or what trusted proxies say about it.

Pure functions, no I/O. The walk goes right to left through X-Forwarded-For (and RFC 7239
Forwarded) and stops at the first address that is not a trusted proxy: everything left of it
was written by the client and may be forged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from shield.facts.address import IPAddress, parse_ip
from shield.settings.schema import IPNetwork

# Header lookup must work with aiohttp's CIMultiDictProxy (getall) and plain dicts in tests.
Headers = Mapping[str, str]


def _trusted(ip: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in trusted)


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


def client_ip(peer: str, headers: Headers, trusted: Sequence[IPNetwork]) -> str:
    """The client's address as a normalised string.

    X-Forwarded-For wins over Forwarded when both are present (proxies in front of shield
    usually append XFF). A hop that is not an address stops the walk at the last good one.
    """
    peer_ip = parse_ip(peer)
    if peer_ip is None:
        return peer
    # security: forwarded headers from an untrusted peer are ignored, so an attacker rotating
    # X-Forwarded-For cannot rotate his identity.
    if not trusted or not _trusted(peer_ip, trusted):
        return str(peer_ip)
    hops = _xff_hops(_header_values(headers, "X-Forwarded-For"))
    if not hops:
        hops = _forwarded_hops(_header_values(headers, "Forwarded"))
    current = peer_ip
    for raw in reversed(hops):
        hop = parse_ip(raw)
        if hop is None:
            break
        current = hop
        if not _trusted(hop, trusted):
            break
    return str(current)
