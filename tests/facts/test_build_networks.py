"""A builder shares one network's address facts between its addresses only when they are the same for all of
them: every address's facts, in their order, are what a builder that never saw another address gives, for
addresses on either side of a GeoIP leaf, an address list entry or a reserved range inside one /24 or /48."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shield.facts.build import FactBuilder
from shield.facts.enrich.geoip_build import build_from_csv
from shield.facts.enrich.lists import parse_list
from shield.facts.enrich.useragent import make_resolver
from shield.facts.identity.keyed import Keyer
from shield.model import FactValue, NamedList
from shield.settings.schema import DEFAULT_ROUTES, GeoipSettings, Settings
from tests.facts.identity import client_headers as ch

HEADER = "network,country,continent,latitude,longitude,accuracy_radius,asn,asn_org,note\n"
# leaves narrower than a /24 or a /48 inside the networks the addresses come from
COUNTRY = HEADER + "198.18.0.0/15,JP,AS,35.6,139.7,50,,,\n198.18.5.128/25,US,NA,40.7,-74.0,20,,,\n" \
    "2001:db8:1000::/40,KR,AS,37.5,127.0,20,,,\n2001:db8:1000:100::/56,US,NA,40.7,-74.0,20,,,\n"
ASN = HEADER + "198.18.0.0/16,,,,,,64510,Fiber JP,\n198.18.6.64/26,,,,,,64520,Hosting JP,\n" \
    "198.19.0.0/16,,,,,,64520,Hosting JP,\n2001:db8:1000::/40,,,,,,64530,Carrier,\n"
LISTED = {"tor_exits": ["198.18.7.5/32", "2001:db8:1001:1:ff::/80"], "bad_cidrs": ["198.18.9.0/25"],
          "allow_cidrs": ["198.18.10.0/24", "2001:db8:1002::/47"], "hosting_asns": ["64520"]}
# /24s and /48s: wholly one leaf and list state, split by a leaf, by a list entry, by a reserved range
NETWORKS = ["198.18.1.0/24", "198.18.5.0/24", "198.18.6.0/24", "198.18.7.0/24", "198.18.9.0/24", "198.18.10.0/24",
            "198.19.3.0/24", "192.0.0.0/24", "192.0.2.0/24", "100.64.0.0/24", "10.9.9.0/24",
            "2001:db8:1000::/48", "2001:db8:1001::/48", "2001:db8:1002::/48", "2001:db8:1003::/48", "fe80::/48"]
# hosts on either side of every boundary above (IPv6: the /56 leaf, the /80 list entry)
HOSTS = {4: [0, 1, 5, 6, 7, 8, 63, 64, 127, 128, 129, 170, 171, 255],
         6: [0, 1, 0x100 << 64 | 1, 0x1FF << 64, 1 << 64 | 0xFF << 48 | 5, 1 << 64 | 0xFE << 48, 0xFFFF << 64 | 0xFF]}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, NamedList], Any]:
    tmp: Path = tmp_path_factory.mktemp("networks")
    for name, text in (("country", COUNTRY), ("asn", ASN)):
        (tmp / f"{name}.csv").write_text(text)
        build_from_csv(tmp / f"{name}.csv", tmp / f"{name}.mmdb")
    settings_ = Settings(geoip=GeoipSettings(country=tmp / "country.mmdb", asn=tmp / "asn.mmdb"),
                         home_countries=frozenset({"JP"}))
    lists = {name: parse_list(name, entries, "test") for name, entries in LISTED.items()}
    return settings_, lists, make_resolver()


def address(network: str, pick: int) -> str:
    net = ipaddress.ip_network(network)
    hosts = HOSTS[net.version]
    return str(net.network_address + hosts[pick % len(hosts)])


def facts_of(builder: FactBuilder, ip: str, lists: dict[str, NamedList]) -> list[tuple[str, FactValue]]:
    facts = builder.build(
        request_id="r", route=DEFAULT_ROUTES[0], method="POST", path="/api/login", query={},
        raw_headers=ch.curl(), body=b"{}", client_ip=ip, peer_trusted=False, lists=lists,
    ).facts
    return [(k, v) for k, v in facts.items() if k == "ip" or k.startswith("ip.")]


def same_as_fresh(world: tuple[Settings, dict[str, NamedList], Any], ips: list[str]) -> None:
    settings_, lists, resolver = world
    keyer = Keyer(b"k" * 32)
    seen = FactBuilder.from_settings(settings_, keyer=keyer, lists=lists, ua_resolver=resolver)
    fresh = FactBuilder.from_settings(settings_, keyer=keyer, lists=lists, ua_resolver=resolver)
    for ip in ips:
        # a new lists mapping (the same lists) makes `fresh` forget every address and network it knew
        assert facts_of(seen, ip, lists) == facts_of(fresh, ip, dict(lists)), ip


@pytest.mark.parametrize("network", NETWORKS)
def test_every_host_of_a_network_in_either_order(world: tuple[Settings, dict[str, NamedList], Any],
                                                 network: str) -> None:
    ips = [address(network, pick) for pick in range(len(HOSTS[ipaddress.ip_network(network).version]))]
    same_as_fresh(world, ips)
    same_as_fresh(world, ips[::-1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(NETWORKS), st.integers(0, 20)), min_size=1, max_size=40))
def test_any_sequence_of_addresses(world: tuple[Settings, dict[str, NamedList], Any],
                                   picks: list[tuple[str, int]]) -> None:
    same_as_fresh(world, [address(network, pick) for network, pick in picks])
