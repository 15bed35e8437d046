"""Client addresses that never get GeoIP facts: private, loopback, link-local, CGNAT and reserved space.

Such an address is inside somebody's network (a pod, a VPN, a carrier NAT, a load balancer),
so whatever a database says about it describes some other network: a k3s pod in 10.42.0.0/16
must not read as "Singapore hosting". Documentation (RFC 5737, RFC 3849) and benchmarking
(RFC 2544) ranges are the exception on purpose: no real network uses them inside, which is why
the demo world and the tests live there.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable

# The IANA special-purpose registries (IPv4 and IPv6) minus the documentation and benchmarking
# ranges, plus multicast. Checked per distinct address (the fact builder caches per address).
NO_GEO_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private (RFC 1918)
        "100.64.0.0/10",  # shared address space: carrier-grade NAT, k8s/tailscale overlays (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",  # private (RFC 1918)
        "192.0.0.0/24",  # IETF protocol assignments (DS-Lite, NAT64 discovery, ...)
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private (RFC 1918)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast address
        "::/128",  # unspecified
        "::1/128",  # loopback
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments (Teredo, ORCHIDv2, ...)
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
# The addresses `ip.private` calls private: what ipaddress (Python 3.11) says is private, loopback,
# link-local, reserved, multicast or unspecified, as one union. ipaddress tests up to 15 networks one
# object at a time; this is one bisect over merged integer ranges (tests/facts/enrich/test_geo_reserved.py
# checks it against ipaddress at every boundary).
PRIVATE_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        # IPv4: is_private's list, multicast (the others are in the list)
        "0.0.0.0/8", "10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/29",
        "192.0.0.170/31", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32", "224.0.0.0/4",
        # IPv6: is_private's list (IPv4-mapped addresses are unwrapped before), link-local, multicast, reserved
        "::1/128", "::/128", "100::/64", "2001::/23", "2001:2::/48", "2001:db8::/32", "2001:10::/28",
        "fc00::/7", "fe80::/10", "ff00::/8", "::/8", "100::/8", "200::/7", "400::/6", "800::/5", "1000::/4",
        "4000::/3", "6000::/3", "8000::/3", "a000::/3", "c000::/3", "e000::/4", "f000::/5", "f800::/6",
        "fe00::/9",
    )
)


class Ranges:
    """Merged inclusive integer ranges; membership is one bisect."""

    __slots__ = ("ends", "starts")

    def __init__(self, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        starts: list[int] = []
        ends: list[int] = []
        for lo, hi in sorted((int(n.network_address), int(n.broadcast_address)) for n in networks):
            if ends and lo <= ends[-1] + 1:
                ends[-1] = max(ends[-1], hi)
            else:
                starts.append(lo)
                ends.append(hi)
        self.starts, self.ends = tuple(starts), tuple(ends)

    def __contains__(self, x: int) -> bool:
        i = bisect.bisect_right(self.starts, x) - 1
        return i >= 0 and x <= self.ends[i]

    def uniform(self, lo: int, hi: int) -> bool:
        """Every integer of lo..hi is in, or every one is out."""
        i = bisect.bisect_right(self.starts, lo) - 1
        if i >= 0 and lo <= self.ends[i]:
            return hi <= self.ends[i]
        return i + 1 >= len(self.starts) or self.starts[i + 1] > hi


_NO_GEO = {v: Ranges(n for n in NO_GEO_NETWORKS if n.version == v) for v in (4, 6)}
_PRIVATE = {v: Ranges(n for n in PRIVATE_NETWORKS if n.version == v) for v in (4, 6)}


def geo_eligible_int(version: int, value: int) -> bool:
    """`geo_eligible` of an address as (version, integer), IPv4-mapped already unwrapped."""
    return value not in _NO_GEO[version]


def is_private_int(version: int, value: int) -> bool:
    """ipaddress's is_private or is_loopback or is_link_local or is_reserved or is_multicast or is_unspecified."""
    return value in _PRIVATE[version]


def reserved_uniform(version: int, lo: int, hi: int) -> bool:
    """`geo_eligible_int` and `is_private_int` are each the same for every address of lo..hi."""
    return _NO_GEO[version].uniform(lo, hi) and _PRIVATE[version].uniform(lo, hi)


def geo_eligible(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True when GeoIP may describe this address; False for private, loopback, CGNAT and reserved space.

    IPv4-mapped IPv6 addresses must already be unwrapped (`normalise_ip` does it).
    """
    return geo_eligible_int(addr.version, int(addr))
