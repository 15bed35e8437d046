"""The simulated world: the address ranges of the demo GeoIP database, by what they stand for.

Addresses only ever travel in X-Forwarded-For from 127.0.0.1; nothing is contacted at them.
The table mirrors geoip/demo.csv exactly, so the simulator and the demo database agree.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from typing import Literal

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Kind = Literal["mobile", "residential", "hosting", "vpn", "tor"]


@dataclass(slots=True, frozen=True)
class Network:
    cidr: str
    country: str
    asn: int
    org: str
    kind: Kind

    def address(self, rng: random.Random) -> str:
        return address_in(ipaddress.ip_network(self.cidr), rng)


NETWORKS: dict[str, Network] = {
    n.cidr: n
    for n in (
        Network("100.64.0.0/16", "JP", 64500, "Demo Mobile East JP", "mobile"),
        Network("100.65.0.0/16", "JP", 64501, "Demo Mobile West JP", "mobile"),
        Network("10.10.0.0/16", "JP", 64510, "Demo Hikari Fiber JP", "residential"),
        Network("10.11.0.0/16", "JP", 64511, "Demo Cable Osaka JP", "residential"),
        Network("10.12.0.0/16", "JP", 64512, "Demo Net Sapporo JP", "residential"),
        Network("10.20.0.0/16", "JP", 64520, "Demo Cloud Tokyo", "hosting"),
        Network("10.30.0.0/16", "CN", 64530, "Demo Telecom CN", "residential"),
        Network("10.31.0.0/16", "US", 64531, "Demo Cable US", "residential"),
        Network("10.32.0.0/16", "VN", 64532, "Demo Broadband VN", "residential"),
        Network("10.33.0.0/16", "BR", 64533, "Demo Telecom BR", "residential"),
        Network("10.34.0.0/16", "RU", 64534, "Demo Net RU", "residential"),
        Network("10.35.0.0/16", "KR", 64535, "Demo Broadband KR", "residential"),
        Network("10.36.0.0/16", "US", 64536, "Demo Hotel WiFi Hawaii", "residential"),
        Network("10.37.0.0/16", "TW", 64537, "Demo Net TW", "residential"),
        Network("10.40.0.0/16", "US", 64540, "Demo Hosting US", "hosting"),
        Network("10.41.0.0/16", "NL", 64541, "Demo Hosting NL", "hosting"),
        Network("10.42.0.0/16", "SG", 64542, "Demo Hosting SG", "hosting"),
        Network("10.50.0.0/16", "JP", 64550, "Demo VPN JP", "vpn"),
        Network("10.51.0.0/16", "US", 64551, "Demo VPN US", "vpn"),
        Network("10.60.0.0/24", "DE", 64560, "Demo Relay DE", "tor"),
        Network("2001:db8:100::/40", "JP", 64500, "Demo Mobile East JP", "mobile"),
        Network("2001:db8:200::/40", "JP", 64510, "Demo Hikari Fiber JP", "residential"),
        Network("2001:db8:300::/40", "US", 64540, "Demo Hosting US", "hosting"),
    )
}

# Named pools scenario files may use instead of raw CIDRs.
POOLS: dict[str, tuple[str, ...]] = {
    "jp-mobile": ("100.64.0.0/16", "100.65.0.0/16"),
    "jp-residential": ("10.10.0.0/16", "10.11.0.0/16", "10.12.0.0/16"),
    "jp-hosting": ("10.20.0.0/16",),
    "foreign-residential": ("10.30.0.0/16", "10.31.0.0/16", "10.32.0.0/16", "10.33.0.0/16", "10.34.0.0/16"),
    "foreign-hosting": ("10.40.0.0/16", "10.41.0.0/16", "10.42.0.0/16"),
    "travel": ("10.35.0.0/16", "10.36.0.0/16", "10.37.0.0/16"),
    "vpn": ("10.50.0.0/16", "10.51.0.0/16"),
    "tor": ("10.60.0.0/24",),
}

# Carrier NAT: the mobile carriers put many subscribers behind a few shared addresses.
CARRIER_NAT_ADDRESSES_PER_CARRIER = 64


def carrier_nat_addresses(rng: random.Random) -> dict[str, tuple[str, ...]]:
    """The shared egress addresses of each mobile carrier (a small, fixed set per run)."""
    return {
        cidr: tuple(NETWORKS[cidr].address(rng) for _ in range(CARRIER_NAT_ADDRESSES_PER_CARRIER))
        for cidr in POOLS["jp-mobile"]
    }


def resolve_subnet(name: str) -> tuple[IPNetwork, ...]:
    """A pool name, a CIDR of the world table, or a CIDR inside one -> networks; KeyError if none."""
    if name in POOLS:
        return tuple(ipaddress.ip_network(c) for c in POOLS[name])
    try:
        net = ipaddress.ip_network(name, strict=False)
    except ValueError:
        raise KeyError(name) from None
    for cidr in NETWORKS:
        world = ipaddress.ip_network(cidr)
        if net.version == world.version and net.subnet_of(world):  # type: ignore[arg-type]
            return (net,)
    raise KeyError(name)


def address_in(net: IPNetwork, rng: random.Random) -> str:
    """A random host address inside the network (never the network or broadcast address)."""
    span = max(1, min(net.num_addresses - 2, 2**32))
    return str(net.network_address + 1 + rng.randrange(span))
