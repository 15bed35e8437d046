from __future__ import annotations

import io
import ipaddress
import subprocess
import sys
from pathlib import Path

import maxminddb
import pytest

from shield.commands.geoip import main
from shield.facts.enrich.geoip_build import CsvError, parse_csv
from shield.settings.schema import DEMO_CSV, DEMO_GEOIP

HEADER = "network,country,continent,latitude,longitude,accuracy_radius,asn,asn_org,note\n"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_cli_builds_a_readable_city_asn_database(tmp_path: Path) -> None:
    csv_path = tmp_path / "office.csv"
    csv_path.write_text(
        HEADER + "203.0.113.0/24,JP,AS,35.68,139.76,5,64999,Example Office,HQ\n"
        "2001:db8:ff::/48,JP,AS,,,,64999,Example Office,\n"
    )
    status, out, err = run("build", str(csv_path), str(tmp_path / "office.mmdb"))
    assert (status, err) == (0, "")
    assert "2 networks" in out
    with maxminddb.open_database(str(tmp_path / "office.mmdb")) as reader:
        assert reader.get("203.0.113.9") == {
            "country": {"iso_code": "JP", "names": {"en": "JP"}},
            "continent": {"code": "AS"},
            "location": {"latitude": 35.68, "longitude": 139.76, "accuracy_radius": 5},
            "autonomous_system_number": 64999,
            "autonomous_system_organization": "Example Office",
        }
        assert reader.get("::ffff:203.0.113.9") == reader.get("203.0.113.9")
        assert reader.get("2001:db8:ff:1::1") == {
            "country": {"iso_code": "JP", "names": {"en": "JP"}},
            "continent": {"code": "AS"},
            "autonomous_system_number": 64999,
            "autonomous_system_organization": "Example Office",
        }
        assert reader.get("203.0.114.1") is None
        assert reader.metadata().ip_version == 6


def test_more_specific_network_wins_whatever_the_order(tmp_path: Path) -> None:
    csv_path = tmp_path / "nested.csv"
    csv_path.write_text(HEADER + "10.0.1.0/24,KR,AS,,,,2,Inner,\n10.0.0.0/8,JP,AS,,,,1,Outer,\n")
    assert run("build", str(csv_path), str(tmp_path / "n.mmdb"))[0] == 0
    with maxminddb.open_database(str(tmp_path / "n.mmdb")) as reader:
        assert [reader.get(ip)["autonomous_system_number"] for ip in ("10.0.1.1", "10.0.2.1", "10.255.0.1")] == [
            2,
            1,
            1,
        ]


@pytest.mark.parametrize(
    ("rows", "problems"),
    [
        ("10.0.0.0/33,JP,AS,,,,,,\n", ["x.csv:2: '10.0.0.0/33' does not appear to be an IPv4 or IPv6 network"]),
        ("10.0.0.1/8,JP,AS,,,,,,\n", ["x.csv:2: 10.0.0.1/8 has host bits set"]),
        ("10.0.0.0/8,JPN,AS,,,,,,\n", ["x.csv:2: country 'JPN' is not ISO 3166-1 alpha-2"]),
        ("10.0.0.0/8,JP,AS,91,0,,,,\n", ["x.csv:2: out of range -90..90"]),
        ("10.0.0.0/8,JP,AS,1,,,,,\n", ["x.csv:2: could not convert string to float: ''"]),
        ("10.0.0.0/8,JP,AS,,,,AS1,,\n", ["x.csv:2: invalid literal for int() with base 10: 'AS1'"]),
        (
            "10.0.0.0/8,JP\n",
            [
                "x.csv:2: expected 9 columns (network,country,continent,latitude,longitude,"
                "accuracy_radius,asn,asn_org,note), got 2"
            ],
        ),
        ("10.0.0.0/8,JP,AS,,,,,,\n10.0.0.0/8,KR,AS,,,,,,\n", ["x.csv:3: 10.0.0.0/8 already defined on line 2"]),
        (
            "bad,JP,AS,,,,,,\n# comment\n\n10.0.0.0/8,JP,AS,,,,1,,\nworse,,,,,,,,\n",
            [
                "x.csv:2: 'bad' does not appear to be an IPv4 or IPv6 network",
                "x.csv:6: 'worse' does not appear to be an IPv4 or IPv6 network",
            ],
        ),
    ],
    ids=[
        "bad-prefix",
        "host-bits",
        "country-code",
        "latitude-range",
        "half-a-location",
        "asn-not-a-number",
        "too-few-columns",
        "duplicate",
        "every-error-reported",
    ],
)
def test_csv_errors_name_their_line(rows: str, problems: list[str]) -> None:
    with pytest.raises(CsvError) as info:
        parse_csv(HEADER + rows, "x.csv")
    assert info.value.problems == problems


def test_cli_exits_2_with_line_numbers_and_writes_nothing(tmp_path: Path) -> None:
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text(HEADER + "10.0.0.0/8,JP,AS,,,,,,\nnope,JP,AS,,,,,,\n")
    status, out, err = run("build", str(csv_path), str(tmp_path / "bad.mmdb"))
    assert (status, out) == (2, "")
    assert err == f"shield geoip build: {csv_path}:3: 'nope' does not appear to be an IPv4 or IPv6 network\n"
    assert list(tmp_path.iterdir()) == [csv_path]


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), (b"\xff\xfe\x00bad", "cannot read")],
    ids=["missing-file", "not-utf8"],
)
def test_cli_unreadable_csv_exits_2(tmp_path: Path, content: bytes | None, message: str) -> None:
    csv_path = tmp_path / "in.csv"
    if content is not None:
        csv_path.write_bytes(content)
    status, _, err = run("build", str(csv_path), str(tmp_path / "out.mmdb"))
    assert status == 2
    assert message in err


def test_cli_unwritable_output_exits_2(tmp_path: Path) -> None:
    csv_path = tmp_path / "in.csv"
    csv_path.write_text(HEADER + "10.0.0.0/8,JP,AS,,,,,,\n")
    status, _, err = run("build", str(csv_path), str(tmp_path / "no-such-dir" / "out.mmdb"))
    assert status == 2
    assert "cannot write" in err


def test_shipped_demo_database_is_built_from_the_shipped_csv(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "shield.cli",
            "geoip",
            "build",
            str(DEMO_CSV),
            str(tmp_path / "demo.mmdb"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with (
        maxminddb.open_database(str(tmp_path / "demo.mmdb")) as fresh,
        maxminddb.open_database(str(DEMO_GEOIP)) as shipped,
    ):
        for ip in ("2001:db8:1001::1", "198.18.1.1", "192.0.2.1", "2001:db8:300::1", "2001:db8:4209::9", "192.0.3.1"):
            assert fresh.get(ip) == shipped.get(ip)
        assert shipped.get("2001:db8:4209::9")["autonomous_system_number"] == 64542
        assert fresh.metadata().node_count == shipped.metadata().node_count


DOCUMENTATION_AND_BENCHMARKING = [
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15", "2001:db8::/32")
]


def _inside(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return any(
        net.version == r.version and net.subnet_of(r)  # type: ignore[arg-type]
        for r in DOCUMENTATION_AND_BENCHMARKING
    )


def test_the_demo_world_lives_in_documentation_and_benchmarking_ranges_only() -> None:
    """Never space real networks use inside: the old world read a k3s pod (10.42.0.0/16) as SG hosting."""
    rows = parse_csv(DEMO_CSV.read_text(), "demo.csv")
    outside = [str(row.network) for row in rows if not _inside(row.network)]
    assert rows
    assert outside == []
