"""Build a MaxMind DB (GeoIP2 City + ASN schema merged) from a small CSV.

For tests, demos and private ranges (office, VPN egress). CSV columns:
`network,country,continent,latitude,longitude,accuracy_radius,asn,asn_org,note`; an empty
cell omits that field and `note` is ignored. The database is IPv6 with IPv4 under ::/96 and
aliased at ::ffff:0:0/96, as MaxMind's own files are, so every reader finds IPv4 addresses.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmdb_writer import MmdbF64, MmdbU16, MmdbU32, MMDBWriter
from netaddr import IPSet

COLUMNS = ("network", "country", "continent", "latitude", "longitude", "accuracy_radius", "asn", "asn_org", "note")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class CsvError(ValueError):
    """Every problem of a CSV file, each with its line number."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(slots=True, frozen=True)
class GeoRow:
    line: int
    network: Network
    record: dict[str, Any]


def _number(kind: type, text: str, lo: float, hi: float) -> Any:
    value = kind(text)
    if not lo <= value <= hi:
        raise ValueError(f"out of range {lo}..{hi}")
    return value


def _record(cells: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if country := cells["country"].upper():
        if len(country) != 2 or not country.isalpha():
            raise ValueError(f"country {country!r} is not ISO 3166-1 alpha-2")
        record["country"] = {"iso_code": country, "names": {"en": country}}
    if continent := cells["continent"].upper():
        record["continent"] = {"code": continent}
    location: dict[str, Any] = {}
    if cells["latitude"] or cells["longitude"]:
        location["latitude"] = MmdbF64(_number(float, cells["latitude"], -90, 90))
        location["longitude"] = MmdbF64(_number(float, cells["longitude"], -180, 180))
    if cells["accuracy_radius"]:
        location["accuracy_radius"] = MmdbU16(_number(int, cells["accuracy_radius"], 0, 65535))
    if location:
        record["location"] = location
    if cells["asn"]:
        record["autonomous_system_number"] = MmdbU32(_number(int, cells["asn"], 0, 2**32 - 1))
    if cells["asn_org"]:
        record["autonomous_system_organization"] = cells["asn_org"]
    return record


def parse_csv(text: str, source: str = "<csv>") -> list[GeoRow]:
    """Rows of a GeoIP CSV; raises CsvError listing every bad line."""
    rows: list[GeoRow] = []
    problems: list[str] = []
    seen: dict[Network, int] = {}
    reader = csv.reader(io.StringIO(text))
    for values in reader:
        line = reader.line_num
        if not values or not "".join(values).strip() or values[0].lstrip().startswith("#"):
            continue
        if line == 1 and values[0].strip() == "network":
            continue  # the header
        if len(values) < len(COLUMNS) - 1 or len(values) > len(COLUMNS):
            expected = f"expected {len(COLUMNS)} columns ({','.join(COLUMNS)})"
            problems.append(f"{source}:{line}: {expected}, got {len(values)}")
            continue
        cells = dict(zip(COLUMNS, (v.strip() for v in [*values, ""]), strict=False))
        try:
            network = ipaddress.ip_network(cells["network"], strict=True)
            record = _record(cells)
        except ValueError as exc:
            problems.append(f"{source}:{line}: {exc}")
            continue
        if network in seen:
            problems.append(f"{source}:{line}: {network} already defined on line {seen[network]}")
            continue
        seen[network] = line
        rows.append(GeoRow(line, network, record))
    if problems:
        raise CsvError(problems)
    return rows


def _networks(net: Network) -> Iterable[str]:
    yield str(net)
    if isinstance(net, ipaddress.IPv4Network):
        mapped = ipaddress.ip_network(f"::ffff:{net.network_address}/{96 + net.prefixlen}")
        yield str(mapped)


def build_mmdb(rows: Iterable[GeoRow], out: Path, *, description: str = "shield GeoIP (City + ASN)") -> int:
    """Write the database atomically (temp file + rename, so a running shield never reads half of it)."""
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="Shield-City-ASN",
        languages=["en"],
        description=description,
    )
    # Wider networks first: a more specific row then overrides its part of the wider one.
    ordered = sorted(rows, key=lambda r: (r.network.prefixlen + (96 if r.network.version == 4 else 0), r.line))
    count = 0
    for row in ordered:
        for net in _networks(row.network):
            writer.insert_network(IPSet([net]), row.record)
        count += 1
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        writer.to_db_file(str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def build_from_csv(csv_path: Path, out: Path) -> int:
    """`shield geoip build CSV OUT`: the number of networks written; CsvError on bad input."""
    try:
        text = csv_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CsvError([f"{csv_path}: cannot read ({exc})"]) from exc
    return build_mmdb(parse_csv(text, str(csv_path)), out)
