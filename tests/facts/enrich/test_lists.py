from __future__ import annotations

from pathlib import Path

import pytest

from shield.facts.enrich.lists import CidrList, ListError, load_list_folders, load_lists, parse_list
from shield.model import FactValue
from shield.settings.schema import BUNDLED_RULES, DEMO_LISTS


def one(text: str, name: str = "l") -> object:
    return parse_list(name, text.splitlines(), f"{name}.txt")


@pytest.mark.parametrize(
    ("text", "kind", "size"),
    [
        ("16509\n14618  # AWS\n\n# comment\n", "int", 2),
        ("10.0.0.0/8\n2001:db8::/32\n192.0.2.1\n", "cidr", 3),
        ("evil.example\nBAD.example\n", "str", 2),
        ("16509\n10.0.0.0/8\n", "str", 2),
        ("", "str", 0),
        ("# kind: cidr\n# nothing yet\n", "cidr", 0),
        ("# kind: int\n", "int", 0),
        ("# kind: str\n12345\n", "str", 1),
    ],
    ids=[
        "asns",
        "cidrs",
        "strings",
        "mixed-is-str",
        "empty",
        "declared-empty-cidr",
        "declared-int",
        "declared-str-with-number",
    ],
)
def test_kind_is_inferred_or_declared(text: str, kind: str, size: int) -> None:
    named = one(text)
    assert (named.kind, len(named)) == (kind, size)  # type: ignore[attr-defined, arg-type]


CIDRS = """10.0.0.0/8
10.1.0.0/16
192.0.2.7
198.51.100.0/24
198.51.101.0/24
2001:db8::/48
::ffff:203.0.113.0/120
"""


@pytest.mark.parametrize(
    ("value", "inside"),
    [
        ("10.255.255.255", True),
        ("11.0.0.0", False),
        ("9.255.255.255", False),
        ("192.0.2.7", True),
        ("192.0.2.8", False),
        ("198.51.100.255", True),
        ("198.51.101.0", True),
        ("198.51.102.0", False),
        ("::ffff:10.1.2.3", True),
        ("203.0.113.5", True),
        ("2001:db8:0:ffff::1", True),
        ("2001:db8:1::1", False),
        ("::a00:1", False),
        ("not an ip", False),
        (167772161, False),
        (True, False),
    ],
    ids=[
        "last-of-/8",
        "after",
        "before",
        "single-host",
        "next-host",
        "end-of-/24",
        "adjacent-merged",
        "after-merged",
        "mapped-v6-query",
        "mapped-v6-entry",
        "v6-inside",
        "v6-outside",
        "v4-compatible-is-not-v4",
        "garbage",
        "int-value",
        "bool-value",
    ],
)
def test_cidr_membership(value: FactValue, inside: bool) -> None:
    assert one(CIDRS).contains(value) is inside  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "inside"),
    [(16509, True), ("16509", True), (16510, False), (True, False), ("AS16509", False), (16509.0, False)],
    ids=["int", "digit-string", "other", "bool", "prefixed", "float"],
)
def test_int_membership(value: FactValue, inside: bool) -> None:
    assert one("16509\n1\n").contains(value) is inside  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "inside"),
    [("bad.example", True), ("BAD.Example", True), ("good.example", False), (1, False)],
    ids=["same", "case-folded", "other", "int"],
)
def test_str_membership(value: FactValue, inside: bool) -> None:
    assert one("Bad.Example\n").contains(value) is inside  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# kind: int\n123\nAS123\n45x\n", "l.txt:3: 'AS123' is not an integer\nl.txt:4: '45x' is not an integer"),
        ("# kind: cidr\n10.0.0.0/8\n10.0.0.0/33\n", "l.txt:3: '10.0.0.0/33' is not an IP address or network"),
        ("# kind: cidr\n999.1.1.1\n", "l.txt:2: '999.1.1.1' is not an IP address or network"),
        ("# kind: float\n", "l.txt:1: unknown kind 'float' (int, cidr or str)"),
        ("# kind: int\n²\n", "l.txt:2: '²' is not an integer"),
    ],
    ids=["bad-ints", "bad-prefix", "bad-address", "unknown-kind", "unicode-digit"],
)
def test_errors_carry_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ListError) as info:
        one(text)
    assert str(info.value) == message


def test_load_lists_reports_every_file_at_once(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("1\n")
    (tmp_path / "a.txt").write_text("# kind: int\nx\n")
    (tmp_path / "b.txt").write_text("# kind: cidr\ny\n")
    (tmp_path / "Bad-Name.txt").write_text("1\n")
    (tmp_path / "c.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(ListError) as info:
        load_lists(tmp_path)
    assert len(info.value.problems) == 4
    assert [p.split(":")[0].rsplit("/", 1)[-1] for p in info.value.problems] == [
        "Bad-Name.txt",
        "a.txt",
        "b.txt",
        "c.txt",
    ]


def test_missing_folder_means_no_lists(tmp_path: Path) -> None:
    assert load_lists(tmp_path / "nope") == {}


def test_bundled_lists_load_without_the_demo_world() -> None:
    lists = load_lists(BUNDLED_RULES / "lists")
    assert {name: named.kind for name, named in lists.items()} == {
        "allow_cidrs": "cidr",
        "bad_cidrs": "cidr",
        "carrier_nat_asns": "int",
        "hosting_asns": "int",
        "tor_exits": "cidr",
    }
    assert lists["hosting_asns"].contains(16509)
    assert not any(lists["hosting_asns"].contains(asn) for asn in (64520, 64540, 64541, 64542, 64550, 64551))
    assert lists["carrier_nat_asns"].contains(9605)
    assert not lists["carrier_nat_asns"].contains(64500)
    assert not lists["tor_exits"].contains("192.0.2.200")


def test_the_demo_lists_add_to_the_bundled_ones() -> None:
    lists = load_list_folders(BUNDLED_RULES / "lists", [DEMO_LISTS])
    assert all(lists["hosting_asns"].contains(asn) for asn in (16509, 64520, 64540, 64541, 64542, 64550, 64551))
    assert not lists["hosting_asns"].contains(64510)
    assert lists["carrier_nat_asns"].contains(9605)
    assert lists["carrier_nat_asns"].contains(64500)
    assert lists["tor_exits"].contains("192.0.2.200")
    assert not lists["tor_exits"].contains("192.0.3.1")
    assert lists["bad_cidrs"].kind == "cidr"


def test_extra_folders_add_entries_of_every_kind(tmp_path: Path) -> None:
    base, extra = tmp_path / "base", tmp_path / "extra"
    base.mkdir()
    extra.mkdir()
    (base / "nets.txt").write_text("198.51.100.0/25\n2001:db8::/48\n")
    (extra / "nets.txt").write_text("198.51.100.128/25\n203.0.113.0/24\n")
    (base / "vip.txt").write_text("alice\n")
    (extra / "vip.txt").write_text("Bob\n")
    (extra / "only_here.txt").write_text("64500\n")
    lists = load_list_folders(base, [extra])
    assert [lists["nets"].contains(ip) for ip in ("198.51.100.1", "198.51.100.200", "203.0.113.9", "2001:db8::1")] == [
        True, True, True, True,
    ]
    assert not lists["nets"].contains("192.0.2.1")
    assert isinstance(lists["nets"], CidrList)
    assert len(lists["nets"].v4.starts) == 2  # the two halves of 198.51.100.0/24 merged into one range
    assert lists["vip"].contains("alice")
    assert lists["vip"].contains("bob")
    assert lists["only_here"].contains(64500)


def test_extra_folders_refuse_a_kind_change_and_a_missing_folder(tmp_path: Path) -> None:
    base, extra = tmp_path / "base", tmp_path / "extra"
    base.mkdir()
    extra.mkdir()
    (base / "hosting_asns.txt").write_text("16509\n")
    (extra / "hosting_asns.txt").write_text("# kind: cidr\n198.51.100.0/24\n")
    with pytest.raises(ListError) as err:
        load_list_folders(base, [extra, tmp_path / "nope"])
    assert err.value.problems == [
        f"{extra / 'hosting_asns.txt'}:0: list 'hosting_asns' adds to a list of another kind (cidr here, int before)",
        f"{tmp_path / 'nope'}:0: extra_lists: not a folder",
    ]


def test_large_cidr_list_is_merged(tmp_path: Path) -> None:
    lines = [f"10.{i // 256}.{i % 256}.0/24" for i in range(20_000)]
    named = parse_list("big", lines, "big.txt")
    assert len(named) == 20_000
    assert named.contains("10.78.31.9")  # entry 19_999, the last one
    assert not named.contains("10.78.32.0")
    assert isinstance(named, CidrList)
    assert len(named.v4.starts) == 1  # 20_000 adjacent /24s are one range
