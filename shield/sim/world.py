"""The simulated world: the address ranges of the demo GeoIP database, by what they stand for.

Addresses only ever travel in X-Forwarded-For from 127.0.0.1; nothing is contacted at them.
The table mirrors shield/sim/data/demo.csv exactly, so the simulator and the demo database agree. It lives
in documentation and benchmarking space only (198.18.0.0/15, 192.0.2.0/24, 198.51.100.0/24,
2001:db8::/32): never in ranges real networks use inside. IPv4 runs out there, so most networks
are IPv6 /40s: 256 /48s each, shield's IPv6 subnet, as a /16 holds 256 of its IPv4 /24s.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random
from dataclasses import dataclass
from typing import Literal

from shield.settings.schema import DEMO_GEOIP, DEMO_LISTS, GeoipSettings, Settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Kind = Literal["mobile", "residential", "hosting", "vpn", "tor", "business", "education"]


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
        Network("198.18.0.0/16", "JP", 64500, "Demo Mobile East JP", "mobile"),
        Network("198.19.0.0/16", "JP", 64501, "Demo Mobile West JP", "mobile"),
        Network("2001:db8:1000::/40", "JP", 64510, "Demo Hikari Fiber JP", "residential"),
        Network("2001:db8:1100::/40", "JP", 64511, "Demo Cable Osaka JP", "residential"),
        Network("2001:db8:1200::/40", "JP", 64512, "Demo Net Sapporo JP", "residential"),
        Network("2001:db8:2000::/40", "JP", 64520, "Demo Cloud Tokyo", "hosting"),
        Network("2001:db8:3000::/40", "CN", 64530, "Demo Telecom CN", "residential"),
        Network("2001:db8:3100::/40", "US", 64531, "Demo Cable US", "residential"),
        Network("2001:db8:3200::/40", "VN", 64532, "Demo Broadband VN", "residential"),
        Network("2001:db8:3300::/40", "BR", 64533, "Demo Telecom BR", "residential"),
        Network("2001:db8:3400::/40", "RU", 64534, "Demo Net RU", "residential"),
        Network("2001:db8:3500::/40", "KR", 64535, "Demo Broadband KR", "residential"),
        Network("2001:db8:3600::/40", "US", 64536, "Demo Hotel WiFi Hawaii", "residential"),
        Network("2001:db8:3700::/40", "TW", 64537, "Demo Net TW", "residential"),
        Network("2001:db8:4000::/40", "US", 64540, "Demo Hosting US", "hosting"),
        Network("2001:db8:4100::/40", "NL", 64541, "Demo Hosting NL", "hosting"),
        Network("2001:db8:4200::/40", "SG", 64542, "Demo Hosting SG", "hosting"),
        Network("198.51.100.0/24", "US", 64540, "Demo Hosting US", "hosting"),
        Network("2001:db8:5000::/40", "JP", 64550, "Demo VPN JP", "vpn"),
        Network("2001:db8:5100::/40", "US", 64551, "Demo VPN US", "vpn"),
        Network("192.0.2.0/24", "DE", 64560, "Demo Relay DE", "tor"),
        Network("2001:db8:100::/40", "JP", 64500, "Demo Mobile East JP", "mobile"),
        Network("2001:db8:200::/40", "JP", 64510, "Demo Hikari Fiber JP", "residential"),
        Network("2001:db8:300::/40", "US", 64540, "Demo Hosting US", "hosting"),
        # A big carrier serves fixed-line homes and mobile NAT from one ASN (the listed 64500), and a
        # regional carrier that no bundled or demo list names: the pack must cope with networks it never saw.
        Network("2001:db8:1300::/40", "JP", 64500, "Demo Mobile East JP", "residential"),
        Network("2001:db8:1400::/40", "JP", 64502, "Demo Mobile Kyushu JP", "mobile"),
        Network("2001:db8:1500::/40", "JP", 64502, "Demo Mobile Kyushu JP", "residential"),
        # Corporate and university egress gateways, on ASNs in no list.
        Network("2001:db8:6000::/40", "JP", 64580, "Demo Corporate Networks JP", "business"),
        Network("2001:db8:6100::/40", "JP", 64581, "Demo Academic Net JP", "education"),
        Network("2001:db8:6200::/40", "JP", 64582, "Demo Office Osaka JP", "business"),
    )
}

# Named pools scenario files may use instead of raw CIDRs.
POOLS: dict[str, tuple[str, ...]] = {
    "jp-mobile": ("198.18.0.0/16", "198.19.0.0/16"),
    "jp-residential": ("2001:db8:1000::/40", "2001:db8:1100::/40", "2001:db8:1200::/40"),
    "jp-hosting": ("2001:db8:2000::/40",),
    "foreign-residential": (
        "2001:db8:3000::/40", "2001:db8:3100::/40", "2001:db8:3200::/40", "2001:db8:3300::/40", "2001:db8:3400::/40",
    ),
    "foreign-hosting": ("2001:db8:4000::/40", "2001:db8:4100::/40", "2001:db8:4200::/40"),
    "travel": ("2001:db8:3500::/40", "2001:db8:3600::/40", "2001:db8:3700::/40"),
    "vpn": ("2001:db8:5000::/40", "2001:db8:5100::/40"),
    "tor": ("192.0.2.0/24",),
    # the newer networks, by what they stand for
    "jp-mixed-fixed": ("2001:db8:1300::/40",),  # fixed-line homes on the listed mobile carrier's ASN
    "jp-mobile-unlisted": ("2001:db8:1400::/40",),  # a mobile carrier in no carrier list
    "jp-unlisted-fixed": ("2001:db8:1500::/40",),
    "gateways": ("2001:db8:6000::/40", "2001:db8:6100::/40", "2001:db8:6200::/40"),
}

# Carrier NAT: the mobile carriers put many subscribers behind a few shared addresses.
CARRIER_NAT_ADDRESSES_PER_CARRIER = 64


MOBILE_CARRIERS = (*POOLS["jp-mobile"], *POOLS["jp-mobile-unlisted"])


def carrier_nat_addresses(rng: random.Random) -> dict[str, tuple[str, ...]]:
    """The shared egress addresses of each mobile carrier (a small, fixed set per run)."""
    return {
        cidr: tuple(NETWORKS[cidr].address(rng) for _ in range(CARRIER_NAT_ADDRESSES_PER_CARRIER))
        for cidr in MOBILE_CARRIERS
    }


def gateway_addresses(count: int, rng: random.Random) -> tuple[tuple[str, ...], ...]:
    """`count` egress gateways, each one to four addresses inside one subnet (shield's /48, or /24 on
    IPv4), as a corporate or campus NAT hands them out."""
    gateways = []
    for _ in range(count):
        net = ipaddress.ip_network(rng.choice(POOLS["gateways"]))
        prefix = 24 if net.version == 4 else 48
        subnet = address_in(net, rng)
        block = ipaddress.ip_network(f"{subnet}/{prefix}", strict=False)
        gateways.append(tuple(address_in(block, rng) for _ in range(rng.randint(1, 4))))
    return tuple(gateways)


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
    """A random host address anywhere inside the network (never its first or last address)."""
    span = max(1, net.num_addresses - 2)
    return str(net.network_address + 1 + rng.randrange(span))


# The same for a `shield run` subprocess (and ./dev run): SHIELD_* variables override the defaults.
DEMO_ENV: dict[str, str] = {
    "SHIELD_GEOIP_COUNTRY": str(DEMO_GEOIP),
    "SHIELD_GEOIP_ASN": str(DEMO_GEOIP),
    "SHIELD_EXTRA_LISTS": str(DEMO_LISTS),
}


def demo_world(settings: Settings) -> Settings:
    """The settings with the demo world loaded: its GeoIP database and its lists (hosting ASNs, carriers, relays)."""
    geoip = GeoipSettings(country=DEMO_GEOIP, asn=DEMO_GEOIP)
    return dataclasses.replace(settings, geoip=geoip, extra_lists=(*settings.extra_lists, DEMO_LISTS))
