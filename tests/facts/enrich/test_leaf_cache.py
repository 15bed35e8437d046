"""GeoIP answers cached per leaf network: the same answer as asking the database, for every address."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path
from typing import Any

import maxminddb
import pytest
import structlog

from shield.facts.enrich import leaf_cache
from shield.facts.enrich.geo import EMPTY, GeoLookup, GeoRecord, ReloadingReader
from shield.facts.enrich.geoip_build import build_from_csv
from shield.facts.enrich.leaf_cache import LeafCache

HEADER = "network,country,continent,latitude,longitude,accuracy_radius,asn,asn_org,note\n"
# nested and neighbouring networks of many prefix lengths, more lengths than the cache keeps
NETWORKS = [
    ("198.18.0.0/15", "JP", 64500), ("198.18.7.0/24", "KR", 64501), ("198.18.7.128/25", "US", 64502),
    ("198.18.7.200/32", "DE", 64503), ("198.19.128.0/17", "VN", 64504), ("192.0.2.0/26", "BR", 64505),
    ("192.0.2.64/27", "RU", 64506), ("192.0.2.96/28", "TW", 64507), ("192.0.2.112/29", "NL", 64508),
    ("192.0.2.120/30", "SG", 64509), ("2001:db8:1000::/40", "JP", 64510), ("2001:db8:1000:5::/64", "CN", 64511),
    ("2001:db8:1000:5::8/125", "US", 64512), ("2001:db8:2000::/36", "KR", 64513),
]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("leaves")
    rows = "".join(f"{net},{cc},AS,1.5,2.5,10,{asn},Org {asn},\n" for net, cc, asn in NETWORKS)
    (folder / "world.csv").write_text(HEADER + rows)
    build_from_csv(folder / "world.csv", folder / "world.mmdb")
    return folder / "world.mmdb"


def _addresses(rng: random.Random) -> list[str]:
    out = []
    for net, _, _ in NETWORKS:
        network = ipaddress.ip_network(net)
        lo, hi = int(network.network_address), int(network.broadcast_address)
        for value in (lo - 1, lo, hi, hi + 1, *(rng.randint(lo, hi) for _ in range(40))):
            out.append(str(ipaddress.ip_address(value) if network.version == 4 else ipaddress.IPv6Address(value)))
    return out


def test_cached_answers_are_the_databases_for_every_address(database: Path) -> None:
    geo = GeoLookup(country=database, asn=database)
    addresses = _addresses(random.Random(7))
    with maxminddb.open_database(str(database)) as raw:
        for _ in range(2):  # the second pass answers from the cache
            for ip in addresses:
                record: Any = raw.get(ip)
                expected = (
                    GeoRecord(record["country"]["iso_code"], "AS", 1.5, 2.5, 10, record["autonomous_system_number"],
                              record["autonomous_system_organization"])
                    if record else EMPTY
                )
                assert geo.lookup(ip) == expected, ip


def test_a_replaced_database_is_not_answered_from_the_old_ones_cache(database: Path, tmp_path: Path) -> None:
    reader = ReloadingReader(database, structlog.get_logger())

    def convert(record: dict[str, Any]) -> GeoRecord:
        return GeoRecord(country=record["country"]["iso_code"])

    assert reader.record(4, int(ipaddress.IPv4Address("198.18.1.1")), "198.18.1.1", convert).country == "JP"
    (tmp_path / "w.csv").write_text(HEADER + "198.18.0.0/15,KR,AS,1,2,3,64501,Org,\n")
    build_from_csv(tmp_path / "w.csv", tmp_path / "w.mmdb")
    reader.path = tmp_path / "w.mmdb"
    reader.refresh()
    assert reader.refresh()  # swapped on the second sight
    assert reader.record(4, int(ipaddress.IPv4Address("198.18.2.2")), "198.18.2.2", convert).country == "KR"


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leaf_cache, "MAX_ENTRIES", 10)
    cache: LeafCache[str] = LeafCache()
    for i in range(25):
        cache.put(4, i << 8, 24, f"n{i}")
    assert cache.get(4, 24 << 8 | 7) == "n24"
    assert cache.get(4, 0) is None  # emptied when full
    cache = LeafCache[str]()
    for length in range(leaf_cache.MAX_LENGTHS + 3):
        cache.put(6, 1 << 100, 20 + length, "x")
    assert len(cache._levels[6]) == leaf_cache.MAX_LENGTHS
    cache.put(4, 5, 33, "bad")  # an impossible prefix length is not kept
    assert cache.get(4, 5) is None
