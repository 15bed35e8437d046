"""GeoIP databases from MaxMind, DB-IP and IPinfo all give the same facts.

The layouts are in shield.facts.enrich.mmdb_fields.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MmdbU32

from shield.facts.enrich import mmdb_fields as fields
from shield.facts.enrich.geo import GeoLookup, GeoRecord
from shield.facts.enrich.geoip_build import GeoRow, build_mmdb

MAXMIND_OR_DBIP = {
    "country": {"iso_code": "US", "names": {"en": "United States"}},
    "continent": {"code": "NA"},
    "autonomous_system_number": 15169,
    "autonomous_system_organization": "Google LLC",
}
IPINFO_LITE = {
    "country": "United States", "country_code": "US", "continent": "North America", "continent_code": "NA",
    "asn": "AS15169", "as_name": "Google LLC", "as_domain": "google.com",
}
IPINFO_COUNTRY_ASN = {
    "country": "US", "country_name": "United States", "continent": "NA", "continent_name": "North America",
    "asn": "AS15169", "as_name": "Google LLC", "as_domain": "google.com",
}
EXPECTED = ("US", "NA", 15169, "Google LLC")


@pytest.mark.parametrize(
    "record",
    [MAXMIND_OR_DBIP, IPINFO_LITE, IPINFO_COUNTRY_ASN],
    ids=["maxmind-dbip", "ipinfo-lite", "ipinfo-country-asn"],
)
def test_every_layout_reads_the_same(record: dict[str, Any]) -> None:
    got = (fields.country(record), fields.continent(record), fields.asn(record), fields.asn_org(record))
    assert got == EXPECTED


@pytest.mark.parametrize(
    "record",
    [
        {"country": {"iso_code": 7}, "continent": ["NA"], "autonomous_system_number": True, "asn": "AS"},
        {"country": "United States", "asn": "15169x", "as_name": 3},
        {"asn": "ASx15169"},
        {"asn": "AS\u0661\u0665"},  # Arabic-Indic digits: isdigit() but not ASCII
        {},
    ],
    ids=["wrong-types", "name-not-code", "garbage-asn", "unicode-digits", "empty"],
)
def test_odd_values_are_absent_not_errors(record: dict[str, Any]) -> None:
    got = (fields.country(record), fields.continent(record), fields.asn(record), fields.asn_org(record))
    assert got == (None, None, None, None)


def test_an_ipinfo_lite_database_gives_country_and_asn_facts(tmp_path: Path) -> None:
    record = {**IPINFO_LITE, "asn": "AS15169"}
    out = tmp_path / "ipinfo_lite.mmdb"
    build_mmdb([GeoRow(1, ipaddress.ip_network("8.8.8.0/24"), record)], out)
    geo = GeoLookup(country=out, asn=out)
    assert geo.lookup("8.8.8.8") == GeoRecord(country="US", continent="NA", asn=15169, asn_org="Google LLC")


def test_a_maxmind_asn_file_beside_an_ipinfo_country_file(tmp_path: Path) -> None:
    net = ipaddress.ip_network("8.8.8.0/24")
    build_mmdb([GeoRow(1, net, IPINFO_COUNTRY_ASN)], tmp_path / "country_asn.mmdb")
    asn_only = {"autonomous_system_number": MmdbU32(15169), "autonomous_system_organization": "GOOGLE"}
    build_mmdb([GeoRow(1, net, asn_only)], tmp_path / "asn.mmdb")
    geo = GeoLookup(country=tmp_path / "country_asn.mmdb", asn=tmp_path / "asn.mmdb")
    assert geo.lookup("8.8.8.8") == GeoRecord(country="US", continent="NA", asn=15169, asn_org="GOOGLE")
