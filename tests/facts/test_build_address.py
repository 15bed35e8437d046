"""The address facts of a request are what ipaddress and the GeoIP database say, for every kind of address.

The builder reads a new client address as integers (shield.facts.address); this holds it to the
ipaddress-object reading it replaced: the same ip, ip.subnet, ip.version, ip.private, geo and list facts.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import maxminddb
import pytest

from shield.facts.build import FactBuilder
from shield.facts.enrich import mmdb_fields as fields
from shield.facts.enrich.lists import load_list_folders, parse_list
from shield.facts.enrich.reserved import NO_GEO_NETWORKS
from shield.facts.enrich.useragent import make_resolver
from shield.facts.identity.keyed import Keyer
from shield.model import FactValue, NamedList
from shield.settings.schema import BUNDLED_RULES, DEFAULT_ROUTES, Settings
from shield.sim.world import NETWORKS, demo_world
from tests.facts.identity import client_headers as ch


def _reference(text: str, settings: Settings, lists: dict[str, NamedList]) -> dict[str, FactValue]:
    """The address facts as the ipaddress-object code computed them."""
    try:
        addr: Any = ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        addr = None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr is None:
        return {"ip": text}
    ip = str(addr)
    net = ipaddress.ip_network(f"{ip}/{24 if addr.version == 4 else 48}", strict=False)
    facts: dict[str, FactValue] = {
        "ip": ip,
        "ip.subnet": str(net),
        "ip.version": addr.version,
        "ip.private": bool(addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved
                           or addr.is_multicast or addr.is_unspecified),
    }
    record: Any = None
    if not any(addr.version == n.version and addr in n for n in NO_GEO_NETWORKS):
        assert settings.geoip.country is not None
        with maxminddb.open_database(str(settings.geoip.country)) as reader:
            record = reader.get(ip)
    if record:
        values = {
            "ip.country": fields.country(record), "ip.continent": fields.continent(record),
            "ip.asn": fields.asn(record), "ip.asn_org": fields.asn_org(record),
            "ip.lat": fields.typed(fields.dig(record, "location", "latitude"), float),
            "ip.lon": fields.typed(fields.dig(record, "location", "longitude"), float),
            "ip.accuracy_km": fields.typed(fields.dig(record, "location", "accuracy_radius"), int),
        }
        facts |= {k: v for k, v in values.items() if v is not None}
        if "ip.country" in facts:
            facts["ip.overseas"] = facts["ip.country"] not in settings.home_countries
        if "ip.asn" in facts:
            facts["ip.hosting"] = lists["hosting_asns"].contains(facts["ip.asn"])
            facts["ip.carrier"] = lists["carrier_nat_asns"].contains(facts["ip.asn"])
    for fact, name in (("ip.tor", "tor_exits"), ("ip.bad", "bad_cidrs"), ("ip.allowlisted", "allow_cidrs")):
        network = [ipaddress.ip_network(c) for c in LISTED[name]]
        facts[fact] = any(addr.version == n.version and addr in n for n in network)
    return facts


LISTED = {"tor_exits": ["192.0.2.0/25"], "bad_cidrs": ["2001:db8:3000::/44", "198.18.7.0/24"],
          "allow_cidrs": ["10.0.0.0/8", "2001:db8:1000:5::/64"]}


def _addresses() -> list[str]:
    rng = random.Random(11)
    out = ["127.0.0.1", "10.1.2.3", "0.0.0.0", "255.255.255.255", "::", "::1", "::ffff:198.18.1.2",
           "::FFFF:c612:102", "::c612:102", "[2001:db8:1000::1]", " 198.18.0.1 ", "fe80::1%eth0", "fec0::1",
           "192.0.0.9", "192.0.0.170", "100.64.0.1", "ff02::1", "2001:db8::", "not-an-ip", "198.18.1.1:80", ""]
    for cidr in [*NETWORKS, *(c for cidrs in LISTED.values() for c in cidrs)]:
        net = ipaddress.ip_network(cidr)
        lo, hi = int(net.network_address), int(net.broadcast_address)
        for value in (lo, hi, *(rng.randint(lo, hi) for _ in range(5))):
            addr = ipaddress.ip_address(value) if net.version == 4 else ipaddress.IPv6Address(value)
            out += [str(addr), addr.exploded]
    return out


@pytest.fixture(scope="module")
def world() -> tuple[FactBuilder, Settings, dict[str, NamedList]]:
    settings = demo_world(Settings())
    lists = load_list_folders(BUNDLED_RULES / "lists", settings.extra_lists)
    lists |= {name: parse_list(name, cidrs, "test") for name, cidrs in LISTED.items()}
    builder = FactBuilder.from_settings(settings, keyer=Keyer(b"k" * 32), lists=lists, ua_resolver=make_resolver())
    return builder, settings, lists


@pytest.mark.parametrize("text", _addresses())
def test_address_facts_are_the_ipaddress_ones(world: tuple[FactBuilder, Settings, dict[str, NamedList]],
                                               text: str) -> None:
    builder, settings, lists = world
    facts = builder.build(
        request_id="r", route=DEFAULT_ROUTES[0], method="POST", path="/api/login", query={},
        raw_headers=ch.chrome(), body=b"{}", client_ip=text, peer_trusted=False,
    ).facts
    got = {k: v for k, v in facts.items() if k == "ip" or k.startswith("ip.")}
    expected = _reference(text, settings, lists)
    if "ip.version" not in expected:  # not an address: its text, and a subnet only if it has a port
        got.pop("ip.subnet", None)
    assert got == expected
    assert list(got) == [k for k in expected if k in got]  # and in the same order
