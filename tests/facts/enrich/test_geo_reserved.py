"""Private, loopback, link-local, CGNAT and reserved client addresses never get geo or ASN facts.

Whatever the database says: the test database below maps every such range to "SG hosting",
as the old demo world did for 10.42.0.0/16 (k3s's default pod range).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import maxminddb
import pytest

from shield.facts.build import FactBuilder
from shield.facts.enrich.geo import EMPTY, GeoLookup, GeoRecord, normalise_ip
from shield.facts.enrich.geoip_build import build_from_csv
from shield.facts.enrich.lists import parse_list
from shield.facts.enrich.reserved import NO_GEO_NETWORKS, geo_eligible
from shield.facts.enrich.useragent import make_resolver
from shield.facts.identity.keyed import Keyer
from shield.settings.schema import DEFAULT_ROUTES, GeoipSettings, Settings
from tests.facts.identity import client_headers as ch

HEADER = "network,country,continent,latitude,longitude,accuracy_radius,asn,asn_org,note\n"
SG_HOSTING = "SG,AS,1.35,103.82,10,64542,Hosting SG,"
RESERVED_ROWS = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
    "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "100::/64", "2001::/23", "64:ff9b:1::/48",
)
ELIGIBLE_ROWS = ("1.1.1.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")

RESERVED = [
    ("10.42.0.7", "k3s-pod"),
    ("10.32.1.1", "private-10"),
    ("172.20.3.4", "docker-bridge"),
    ("192.168.1.10", "home-lan"),
    ("100.64.0.1", "cgnat-low"),
    ("100.127.255.254", "cgnat-high"),
    ("127.0.0.1", "loopback"),
    ("169.254.169.254", "cloud-metadata"),
    ("0.1.2.3", "this-network"),
    ("192.0.0.9", "ietf-assignments"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "class-e"),
    ("255.255.255.255", "broadcast"),
    ("::ffff:10.42.0.7", "mapped-private"),
    ("::1", "v6-loopback"),
    ("fd12:3456::1", "unique-local"),
    ("fe80::1%eth0", "v6-link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "v6-multicast"),
    ("100::1", "discard"),
    ("2001:0:4136:e378::1", "teredo"),
    ("64:ff9b:1::a", "local-nat64"),
]
ELIGIBLE = [
    ("1.1.1.1", "public"),
    ("192.0.2.7", "test-net-1"),
    ("198.51.100.7", "test-net-2"),
    ("203.0.113.7", "test-net-3"),
    ("198.18.0.1", "benchmark-low"),
    ("198.19.255.254", "benchmark-high"),
    ("2001:db8::7", "v6-documentation"),
    ("::ffff:192.0.2.7", "mapped-documentation"),
]


@pytest.fixture(scope="module")
def everything_is_sg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reserved")
    (folder / "world.csv").write_text(
        HEADER + "".join(f"{cidr},{SG_HOSTING}\n" for cidr in RESERVED_ROWS + ELIGIBLE_ROWS)
    )
    build_from_csv(folder / "world.csv", folder / "world.mmdb")
    return folder / "world.mmdb"


@pytest.mark.parametrize(("ip", "_id"), RESERVED, ids=[i for _, i in RESERVED])
def test_reserved_addresses_get_no_geo_whatever_the_database_says(everything_is_sg: Path, ip: str, _id: str) -> None:
    addr = normalise_ip(ip)
    assert addr is not None
    with maxminddb.open_database(str(everything_is_sg)) as raw:
        said = raw.get(str(addr))
    if str(addr) not in ("::1",):  # ::1 sits where IPv4 0.0.0.1 lives in the tree: not mappable
        assert said is not None, "the database must claim something, or the test proves nothing"
    assert GeoLookup(country=everything_is_sg, asn=everything_is_sg).lookup(str(addr)) == EMPTY


@pytest.mark.parametrize(("ip", "_id"), ELIGIBLE, ids=[i for _, i in ELIGIBLE])
def test_public_documentation_and_benchmark_addresses_are_looked_up(everything_is_sg: Path, ip: str, _id: str) -> None:
    addr = normalise_ip(ip)
    assert addr is not None
    geo = GeoLookup(country=everything_is_sg, asn=everything_is_sg)
    assert geo.lookup(str(addr)) == GeoRecord("SG", "AS", 1.35, 103.82, 10, 64542, "Hosting SG")


def test_every_listed_network_is_refused_and_its_neighbours_are_not() -> None:
    for net in NO_GEO_NETWORKS:
        assert not geo_eligible(net.network_address), net
        assert not geo_eligible(net.broadcast_address), net
    assert geo_eligible(normalise_ip("9.255.255.255"))  # type: ignore[arg-type]
    assert geo_eligible(normalise_ip("11.0.0.0"))  # type: ignore[arg-type]
    assert geo_eligible(normalise_ip("100.63.255.255"))  # type: ignore[arg-type]
    assert geo_eligible(normalise_ip("100.128.0.0"))  # type: ignore[arg-type]


def _facts(geo: Path, ip: str) -> dict[str, Any]:
    settings = Settings(geoip=GeoipSettings(country=geo, asn=geo))
    hosting = {"hosting_asns": parse_list("hosting_asns", ["64542"], "test")}
    builder = FactBuilder.from_settings(settings, keyer=Keyer(b"k" * 32), lists=hosting, ua_resolver=RESOLVER)
    return builder.build(
        request_id="r", route=DEFAULT_ROUTES[0], method="POST", path="/api/login", query={},
        raw_headers=ch.chrome(), body=b'{"username": "a", "password": "b"}', client_ip=ip, peer_trusted=False,
    ).facts


RESOLVER = make_resolver()
GEO_FACTS = ("ip.country", "ip.continent", "ip.asn", "ip.asn_org", "ip.lat", "ip.lon", "ip.accuracy_km",
             "ip.overseas", "ip.hosting")


def test_a_pod_address_in_10_42_gets_no_country_asn_or_hosting_facts(everything_is_sg: Path) -> None:
    """`shield run` on a k3s node: the client is another pod; it must not score as foreign hosting."""
    facts = _facts(everything_is_sg, "10.42.0.7")
    assert facts["ip"] == "10.42.0.7"
    assert facts["ip.subnet"] == "10.42.0.0/24"  # identity facts stay: counters still work per address
    assert [name for name in GEO_FACTS if name in facts] == []


def test_a_documentation_address_in_the_same_database_gets_every_fact(everything_is_sg: Path) -> None:
    facts = _facts(everything_is_sg, "203.0.113.7")
    assert [name for name in GEO_FACTS if name not in facts] == []
    assert facts["ip.hosting"] is True
