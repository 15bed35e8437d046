"""Client addresses that never get GeoIP facts: private, loopback, link-local, CGNAT and reserved space.

Such an address is inside somebody's network (a pod, a VPN, a carrier NAT, a load balancer),
so whatever a database says about it describes some other network: a k3s pod in 10.42.0.0/16
must not read as "Singapore hosting". Documentation (RFC 5737, RFC 3849) and benchmarking
(RFC 2544) ranges are the exception on purpose: no real network uses them inside, which is why
the demo world and the tests live there.
"""

from __future__ import annotations

import ipaddress

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
# As integer ranges: `addr in network` costs ~0.7 us each in ipaddress (version checks, objects);
# two integer comparisons do the same on the per-request path of every new address.
_V4 = tuple((int(n.network_address), int(n.broadcast_address)) for n in NO_GEO_NETWORKS if n.version == 4)
_V6 = tuple((int(n.network_address), int(n.broadcast_address)) for n in NO_GEO_NETWORKS if n.version == 6)


def geo_eligible(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True when GeoIP may describe this address; False for private, loopback, CGNAT and reserved space.

    IPv4-mapped IPv6 addresses must already be unwrapped (`normalise_ip` does it).
    """
    n = int(addr)
    ranges = _V4 if isinstance(addr, ipaddress.IPv4Address) else _V6
    return not any(lo <= n <= hi for lo, hi in ranges)
