"""What a builder keeps across requests of new addresses: the GeoIP facts per pair of database records
(place, network) follow both records and the lists; subnet texts per network keep IPv4 and IPv6 apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shield.facts.build import FactBuilder
from shield.facts.enrich.geoip_build import build_from_csv
from shield.facts.enrich.lists import parse_list
from shield.facts.enrich.useragent import make_resolver
from shield.facts.identity.keyed import Keyer
from shield.settings.schema import DEFAULT_ROUTES, GeoipSettings, Settings
from tests.facts.identity import client_headers as ch

KEYER = Keyer(b"test-secret-0123456789abcdef")
HEADER = "network,country,continent,latitude,longitude,accuracy_radius,asn,asn_org,note\n"
# one country leaf over two ASN leaves, and one ASN leaf over two country leaves
COUNTRY = HEADER + "198.18.0.0/15,JP,AS,35.6,139.7,50,,,\n2001:db8:1000::/40,KR,AS,37.5,127.0,20,,,\n" \
    "2001:db8:1080::/41,US,NA,40.7,-74.0,20,,,\n"
ASN = HEADER + "198.18.0.0/16,,,,,,64510,Fiber JP,\n198.19.0.0/16,,,,,,64520,Hosting JP,\n" \
    "2001:db8:1000::/40,,,,,,64530,Carrier,\n"


@pytest.fixture(scope="module")
def resolver() -> Any:
    return make_resolver()


def builder_for(tmp_path: Path, resolver: Any, *, hosting: list[str]) -> FactBuilder:
    for name, text in (("country", COUNTRY), ("asn", ASN)):
        (tmp_path / f"{name}.csv").write_text(text)
        build_from_csv(tmp_path / f"{name}.csv", tmp_path / f"{name}.mmdb")
    settings = Settings(geoip=GeoipSettings(country=tmp_path / "country.mmdb", asn=tmp_path / "asn.mmdb"),
                        home_countries=frozenset({"JP"}))
    lists = {"hosting_asns": parse_list("hosting_asns", hosting, "test")}
    return FactBuilder.from_settings(settings, keyer=KEYER, lists=lists, ua_resolver=resolver)


def geo(builder: FactBuilder, ip: str, **kwargs: Any) -> dict[str, Any]:
    facts = builder.build(
        request_id="r", route=DEFAULT_ROUTES[0], method="POST", path="/api/login", query={},
        raw_headers=ch.curl(), body=b"{}", client_ip=ip, peer_trusted=False, **kwargs,
    ).facts
    return {k: v for k, v in facts.items() if k.startswith("ip.") and k not in ("ip.subnet", "ip.version")}


def test_separate_databases_give_each_address_its_own_pair_of_records(tmp_path: Path, resolver: Any) -> None:
    builder = builder_for(tmp_path, resolver, hosting=["64520"])
    place = {"ip.country": "JP", "ip.continent": "AS"}
    for ip, asn, org, hosting in (("198.18.0.1", 64510, "Fiber JP", False), ("198.19.0.1", 64520, "Hosting JP", True),
                                  ("198.18.9.9", 64510, "Fiber JP", False)):
        assert geo(builder, ip) == {
            "ip.private": True, **place, "ip.asn": asn, "ip.asn_org": org, "ip.lat": 35.6, "ip.lon": 139.7,
            "ip.accuracy_km": 50, "ip.overseas": False, "ip.hosting": hosting,
        }, ip
    assert geo(builder, "2001:db8:1001::1")["ip.country"] == "KR"
    assert geo(builder, "2001:db8:1081::1") | {"ip.private": None} == {
        "ip.private": None, "ip.country": "US", "ip.continent": "NA", "ip.asn": 64530, "ip.asn_org": "Carrier",
        "ip.lat": 40.7, "ip.lon": -74.0, "ip.accuracy_km": 20, "ip.overseas": True, "ip.hosting": False,
    }


def test_new_lists_recompute_the_asn_facts_of_the_next_address_in_a_known_leaf(tmp_path: Path,
                                                                              resolver: Any) -> None:
    builder = builder_for(tmp_path, resolver, hosting=["64520"])
    assert geo(builder, "198.19.0.1")["ip.hosting"] is True
    lists = {"hosting_asns": parse_list("hosting_asns", ["64510"], "test")}
    assert geo(builder, "198.19.0.2", lists=lists)["ip.hosting"] is False
    assert geo(builder, "198.18.0.2", lists=lists)["ip.hosting"] is True


def test_subnet_texts_kept_per_network_keep_ipv4_and_ipv6_apart(tmp_path: Path, resolver: Any) -> None:
    builder = builder_for(tmp_path, resolver, hosting=[])
    # 10.0.0.0/24 and 0:a::/48 are the same integer (0x0a0000) once shifted to their network bits
    for ip, subnet in (("10.0.0.1", "10.0.0.0/24"), ("0:a::1", "0:a::/48"), ("10.0.0.2", "10.0.0.0/24"),
                       ("0:a::2", "0:a::/48"), ("2001:db8:1001::1", "2001:db8:1001::/48")):
        facts = builder.build(
            request_id="r", route=DEFAULT_ROUTES[0], method="POST", path="/api/login", query={},
            raw_headers=ch.curl(), body=b"{}", client_ip=ip, peer_trusted=False,
        ).facts
        assert (facts["ip"], facts["ip.subnet"]) == (ip, subnet)
