from __future__ import annotations

import os
from pathlib import Path

import pytest
import structlog

from shield.facts.enrich.geo import EMPTY, GeoLookup, GeoRecord, ReloadingReader, normalise_ip
from shield.facts.enrich.geoip_build import build_from_csv
from shield.settings.schema import DEMO_CSV

WORLD_V1 = """network,country,continent,latitude,longitude,accuracy_radius,asn,asn_org,note
198.18.0.0/16,JP,AS,35.69,139.69,20,64510,Fiber JP,
2001:db8:200::/40,JP,AS,35.69,139.69,20,64510,Fiber JP,
"""
WORLD_V2 = """network,country,continent,latitude,longitude,accuracy_radius,asn,asn_org,note
198.18.0.0/16,KR,AS,37.57,126.98,20,64535,Broadband KR,moved
"""
COUNTRY_ONLY = """network,country,continent,latitude,longitude,accuracy_radius,asn,asn_org,note
198.18.0.0/16,JP,AS,,,,,,
"""
ASN_ONLY = """network,country,continent,latitude,longitude,accuracy_radius,asn,asn_org,note
198.18.0.0/16,,,,,,64510,Fiber JP,
"""


def build(tmp_path: Path, name: str, csv_text: str) -> Path:
    src = tmp_path / f"{name}.csv"
    src.write_text(csv_text)
    out = tmp_path / f"{name}.mmdb"
    build_from_csv(src, out)
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> GeoLookup:
    out = tmp_path_factory.mktemp("geo") / "demo.mmdb"
    build_from_csv(DEMO_CSV, out)
    return GeoLookup(country=out, asn=out)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.10.1.2", "10.10.1.2"),
        (" 10.10.1.2 ", "10.10.1.2"),
        ("::ffff:10.10.1.2", "10.10.1.2"),
        ("::FFFF:a0a:102", "10.10.1.2"),
        ("2001:DB8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("10.10.1", None),
        ("", None),
        ("not-an-ip", None),
        ("10.10.1.2:443", None),
    ],
    ids=[
        "v4",
        "spaces",
        "mapped",
        "mapped-hex-upper",
        "v6-upper",
        "brackets",
        "zone-id",
        "short-v4",
        "empty",
        "word",
        "with-port",
    ],
)
def test_normalise_ip(text: str, expected: str | None) -> None:
    ip = normalise_ip(text)
    assert (str(ip) if ip is not None else None) == expected


@pytest.mark.parametrize(
    ("ip", "record"),
    [
        ("2001:db8:1003::4", GeoRecord("JP", "AS", 35.69, 139.69, 20, 64510, "Demo Hikari Fiber JP")),
        ("198.19.200.1", GeoRecord("JP", "AS", 34.69, 135.50, 50, 64501, "Demo Mobile West JP")),
        ("::ffff:198.19.200.1", GeoRecord("JP", "AS", 34.69, 135.50, 50, 64501, "Demo Mobile West JP")),
        ("2001:db8:3300::1", GeoRecord("BR", "SA", -23.55, -46.63, 50, 64533, "Demo Telecom BR")),
        (
            "2001:db8:36ff:ffff:ffff:ffff:ffff:ffff",
            GeoRecord("US", "NA", 21.31, -157.86, 20, 64536, "Demo Hotel WiFi Hawaii"),
        ),
        ("2001:db8:4200:7::1", GeoRecord("SG", "AS", 1.35, 103.82, 10, 64542, "Demo Hosting SG")),
        ("198.51.100.7", GeoRecord("US", "NA", 39.04, -77.49, 10, 64540, "Demo Hosting US")),
        ("192.0.2.77", GeoRecord("DE", "EU", 50.11, 8.68, 50, 64560, "Demo Relay DE")),
        ("192.0.3.1", EMPTY),
        ("2001:db8:1ab::7", GeoRecord("JP", "AS", 35.69, 139.69, 50, 64500, "Demo Mobile East JP")),
        ("2001:db8:300:1::1", GeoRecord("US", "NA", 39.04, -77.49, 10, 64540, "Demo Hosting US")),
        ("2001:db8:400::1", EMPTY),
        ("203.0.113.9", EMPTY),
        ("10.42.0.7", EMPTY),
        ("100.64.0.1", EMPTY),
        ("127.0.0.1", EMPTY),
        ("not-an-ip", EMPTY),
    ],
    ids=[
        "residential-v6",
        "carrier-nat",
        "mapped-v6",
        "southern-hemisphere",
        "hawaii-last-address",
        "hosting-sg",
        "hosting-v4",
        "tor-relay",
        "outside-the-/24",
        "mobile-v6",
        "hosting-v6",
        "unknown-v6",
        "unknown-v4",
        "old-demo-pod-range",
        "old-demo-carrier-nat",
        "loopback",
        "garbage",
    ],
)
def test_demo_world_lookups(demo: GeoLookup, ip: str, record: GeoRecord) -> None:
    assert demo.lookup(ip) == record


def test_separate_country_and_asn_files_are_merged(tmp_path: Path) -> None:
    geo = GeoLookup(country=build(tmp_path, "country", COUNTRY_ONLY), asn=build(tmp_path, "asn", ASN_ONLY))
    assert geo.lookup("198.18.0.1") == GeoRecord(country="JP", continent="AS", asn=64510, asn_org="Fiber JP")


def test_missing_files_mean_absent_facts_and_one_warning(tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        geo = GeoLookup(country=tmp_path / "nope.mmdb", asn=tmp_path / "nope.mmdb")
        assert geo.lookup("198.18.0.1") == EMPTY
        geo.refresh()
        geo.lookup("198.18.0.2")
    assert [e["event"] for e in logs] == ["geoip.missing"]


def test_no_databases_configured(tmp_path: Path) -> None:
    assert GeoLookup(country=None, asn=None).lookup("198.18.0.1") == EMPTY


def replace_by_rename(tmp_path: Path, target: Path, csv_text: str) -> None:
    """What geoipupdate does: write a new file beside the old one, then rename it over."""
    new = build(tmp_path, "incoming", csv_text)
    os.replace(new, target)


def test_replaced_file_is_picked_up_by_refresh(tmp_path: Path) -> None:
    live = build(tmp_path, "live", WORLD_V1)
    geo = GeoLookup(country=live, asn=live)
    assert geo.lookup("198.18.0.1").country == "JP"
    replace_by_rename(tmp_path, live, WORLD_V2)
    assert geo.lookup("198.18.0.1").country == "JP"  # the old reader serves until refresh
    assert geo.refresh() is False  # first sight of the change: wait for it to settle
    assert geo.refresh() is True
    assert geo.lookup("198.18.0.1") == GeoRecord("KR", "AS", 37.57, 126.98, 20, 64535, "Broadband KR")
    assert geo.lookup("2001:db8:200::1") == EMPTY
    assert geo.refresh() is False  # nothing changed since


def test_half_written_file_is_not_opened_until_stable(tmp_path: Path) -> None:
    live = build(tmp_path, "live", WORLD_V1)
    full = build(tmp_path, "v2", WORLD_V2).read_bytes()
    geo = GeoLookup(country=live, asn=live)
    with structlog.testing.capture_logs() as logs:
        live.write_bytes(full[: len(full) // 2])  # an in-place writer, half-way through
        assert geo.refresh() is False
        live.write_bytes(full)  # ... and done: the size changed, so the clock restarts
        assert geo.refresh() is False
        assert geo.refresh() is True
    assert "geoip.rejected" not in [e["event"] for e in logs]
    assert geo.lookup("198.18.0.1").country == "KR"


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00" * 4096, b"not a maxmind database", b"\xab\xcd\xefMaxMind.com" + b"\xff" * 64],
    ids=["empty", "zeros", "text", "bad-metadata"],
)
def test_corrupt_replacement_is_logged_and_ignored(tmp_path: Path, garbage: bytes) -> None:
    live = build(tmp_path, "live", WORLD_V1)
    geo = GeoLookup(country=live, asn=live)
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(garbage)
    os.replace(bad, live)
    with structlog.testing.capture_logs() as logs:
        geo.refresh()
        assert geo.refresh() is False
        geo.refresh()
    assert [e["event"] for e in logs] == ["geoip.rejected"]  # once, not on every refresh
    assert geo.lookup("198.18.0.1").country == "JP"  # the old reader still serves
    replace_by_rename(tmp_path, live, WORLD_V2)  # a good file later is taken
    geo.refresh()
    assert geo.refresh() is True
    assert geo.lookup("198.18.0.1").country == "KR"


def test_file_appearing_later_is_loaded(tmp_path: Path) -> None:
    target = tmp_path / "later.mmdb"
    reader = ReloadingReader(target, structlog.get_logger())
    assert reader.loaded is False
    replace_by_rename(tmp_path, target, WORLD_V1)
    reader.refresh()
    assert reader.refresh() is True
    assert reader.get("198.18.0.1") is not None
