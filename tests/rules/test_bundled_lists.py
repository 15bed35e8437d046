"""The bundled lists describe the real internet only; the demo world's ASNs and networks live in
the demo's own list folder, loaded by the demo and the simulator (settings.extra_lists)."""

from __future__ import annotations

import csv
import ipaddress

import yaml

from shield.facts.enrich.lists import CidrList, IntList, load_lists
from shield.settings.schema import BUNDLED_RULES, DEMO_CSV, DEMO_LISTS

# RFC 5398 documentation ASNs and RFC 6996 private-use ASNs: never a real network's number.
RESERVED_ASNS = (range(64496, 64512), range(64512, 65535), range(65536, 65552), range(4200000000, 4294967295))


def _demo_rows() -> list[dict[str, str]]:
    lines = [line for line in DEMO_CSV.read_text().splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines))


def _inline_lists() -> dict[str, list[object]]:
    found: dict[str, list[object]] = {}
    for path in sorted(BUNDLED_RULES.glob("*.yaml")):
        for name, spec in ((yaml.safe_load(path.read_text()) or {}).get("lists") or {}).items():
            found[f"{path.name}:{name}"] = spec["items"] if isinstance(spec, dict) else spec
    return found


def test_no_bundled_asn_list_carries_a_demo_or_reserved_asn() -> None:
    demo_asns = {int(row["asn"]) for row in _demo_rows() if row["asn"]}
    numbers: dict[str, set[int]] = {
        name: set(lst.values) for name, lst in load_lists(BUNDLED_RULES / "lists").items() if isinstance(lst, IntList)
    }
    numbers |= {name: {int(str(i)) for i in items if str(i).isdigit()} for name, items in _inline_lists().items()}
    assert numbers, "the pack has ASN lists (hosting_asns, carrier_nat_asns)"
    for name, values in numbers.items():
        assert values & demo_asns == set(), name
        assert [v for v in values if any(v in r for r in RESERVED_ASNS)] == [], name


def test_no_bundled_network_list_covers_the_demo_world() -> None:
    demo_nets = [ipaddress.ip_network(row["network"]) for row in _demo_rows()]
    for name, lst in load_lists(BUNDLED_RULES / "lists").items():
        if isinstance(lst, CidrList):
            hits = [str(net) for net in demo_nets if lst.contains(str(net.network_address + 1))]
            assert hits == [], name


def test_the_demo_lists_name_the_demo_worlds_hosting_carriers_and_relays() -> None:
    demo = load_lists(DEMO_LISTS)
    rows = _demo_rows()
    hosting = {int(r["asn"]) for r in rows if "hosting" in r["note"] or "VPN" in r["note"]}
    mobile = {int(r["asn"]) for r in rows if r["note"].startswith("mobile carrier")}
    relays = [r["network"] for r in rows if r["note"].startswith("Tor")]
    assert hosting
    assert mobile
    assert relays
    assert hosting <= set(demo["hosting_asns"].values)  # type: ignore[attr-defined]
    assert mobile <= set(demo["carrier_nat_asns"].values)  # type: ignore[attr-defined]
    for net in relays:
        assert demo["tor_exits"].contains(str(ipaddress.ip_network(net).network_address + 1))

