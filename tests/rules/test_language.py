"""The condition language: every operator, function and literal, and the absent-fact semantics."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

import pytest

from shield.facts.catalog import catalog
from shield.model import FactValue
from shield.rules.condition import Compiler
from shield.rules.expr import ExprError, parse
from shield.rules.inline_lists import InlineList
from shield.rules.values import UNSET


@dataclass(frozen=True)
class TextList:
    name: str
    kind: Literal["int", "cidr", "str"]
    items: frozenset[str | int]

    def contains(self, value: FactValue) -> bool:
        return value in self.items

    def __len__(self) -> int:
        return len(self.items)


LISTS = {
    "hosting_asns": TextList("hosting_asns", "int", frozenset({64520, 64540})),
    "vips": TextList("vips", "str", frozenset({"alice"})),
    "office": InlineList("office", "cidr", frozenset({"192.0.2.0/24"}), (ipaddress.ip_network("192.0.2.0/24"),)),
}

FACTS: dict[str, FactValue] = {
    "ip": "10.1.2.3",
    "ip.country": "CN",
    "ip.asn": 64540,
    "ip.overseas": True,
    "ip.tor": False,
    "ip.failures_10m": 25,
    "ip.attempts_10m": 30,
    "asn.failures_1h": 90,
    "asn.attempts_1h": 100,
    "account": "alice",
    "account.known": True,
    "account.travel_kmh": 1200.5,
    "ua": "python-requests/2.31",
    "ua.family": "Python Requests",
    "ua.app": False,
    "request.path": "/api/v2/login",
    "fp.reasons": frozenset({"chrome_without_sec_ch_ua"}),
    "ip.failures_1h": 0,
}


def evaluate(text: str, facts: dict[str, FactValue] = FACTS) -> bool:
    compiler = Compiler(catalog(), LISTS)
    compiled = compiler.condition(parse(text))
    return bool(compiled.fn(facts, [UNSET] * compiler.slots))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ip.overseas and account.known", True),
        ("ip.overseas and ip.tor", False),
        ("ip.tor or ip.overseas", True),
        ("not ip.tor", True),
        ("ip.failures_10m >= 25", True),
        ("ip.failures_10m > 25", False),
        ("ip.failures_10m < 26 and ip.failures_10m <= 25", True),
        ("ip.failures_10m == 25 and ip.failures_10m != 24", True),
        ("ip.country == 'CN'", True),
        ('ip.country != "CN"', False),
        ("ip.overseas == true", True),
        ("ip.tor == false", True),
        ("asn.failures_1h > 0.8 * asn.attempts_1h", True),
        ("ip.failures_10m / ip.attempts_10m > 0.8", True),
        ("ip.failures_10m - 5 == 20 and ip.failures_10m + 5 == 30", True),
        ("ip.failures_10m / ip.failures_1h == 0", True),
        ("-ip.failures_10m < 0", True),
        ("2 + 3 * 4 == 14", True),
        ("(2 + 3) * 4 == 20", True),
        ("account.travel_kmh > 900", True),
        ("ip.asn in lists.hosting_asns", True),
        ("ip.asn not in lists.hosting_asns", False),
        ("account in lists.vips", True),
        ("ip.country in ['CN', 'RU']", True),
        ("ip.country not in ['CN', 'RU']", False),
        ("ip.asn in [64540, 1]", True),
        ("ip.country in []", False),
        ('ip in cidr("10.0.0.0/8", "192.168.0.0/16")', True),
        ('ip in cidr("192.168.0.0/16")', False),
        ("ip in lists.office", False),
        ('ip == "10.1.2.3"', True),
        ('ua matches "(?i)PYTHON"', True),
        ('ua matches "^curl"', False),
        ('matches(ua, "requests")', True),
        ('request.path glob "/api/*/login"', True),
        ('glob(request.path, "/api/*/reset")', False),
        ('"chrome_without_sec_ch_ua" in fp.reasons', True),
        ('"no_user_agent" in fp.reasons', False),
        ("not ip.tor and ip.overseas or ip.tor", True),
        ("not (ip.overseas and account.known)", False),
        ("true", True),
        ("not false and true", True),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_operators_functions_and_literals(text: str, expected: bool) -> None:
    assert evaluate(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("account.new_country", False),
        ("not account.new_country", True),
        ("ip.lat > 0", False),
        ("ip.lat <= 0", False),
        ("not ip.lat > 0", True),
        ("ip.lat == 1.5", False),
        ("ip.lat != 1.5", False),
        ("ip.lat + 1 > 0", False),
        ("fp.ja3 in ['abc']", False),
        ("fp.ja3 not in ['abc']", False),
        ("not fp.ja3 in ['abc']", True),
        ('fp.ja3 matches "."', False),
        ("device.present == false", False),
        ('"x" in fp.reasons', False),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_comparison_with_an_absent_fact_is_false(text: str, expected: bool) -> None:
    assert evaluate(text, {"ip.failures_10m": 3}) is expected


@pytest.mark.parametrize(
    ("text", "message", "pos"),
    [
        ("ip.failure_10m > 3", "unknown fact 'ip.failure_10m' (did you mean 'ip.failures_10m'?)", 0),
        ("ua.family > 3", "'>' compares numbers, but ua.family is a string", 0),
        ("ip.country in lists.hosting_asns", "'in': ip.country is a string, which cannot be in a named list of int", 0),
        ("ip.asn in lists.nope", "unknown list 'lists.nope'", 10),
        ("ip.tor and 3", "'and' needs true/false on both sides, but this is a number", 11),
        ("not ip.asn", "'not' needs true/false, but this is a number", 4),
        ("-ip.country == 'x'", "'-' needs a number, but this is a string", 1),
        ("ip.country == 3", "'==' compares a string with a number", 14),
        ("ip.asn matches 'x'", "'matches' needs a text value on its left, not a number", 7),
        ("ua matches ua", "'matches' needs a string literal pattern", 11),
        ("ua matches '['", "bad regular expression: unterminated character set", 12),
        ("ip in cidr('nope')", "bad network 'nope' in cidr()", 11),
        ("ip in cidr()", "cidr() needs at least one network", 6),
        (
            "ip.country in cidr('10.0.0.0/8')",
            "'in': ip.country is a string, which cannot be in a cidr() network set",
            0,
        ),
        ("glob(request.path)", "glob() takes a value and a pattern string", 0),
        ("ip.asn", "a condition must be true or false, but this is a number", 0),
        ("ip.tor and", "expected a value but found end of expression", 10),
        ("ip.tor ip.bad", "unexpected 'ip.bad' (missing 'and' / 'or'?)", 7),
        ("(ip.tor", "expected ')' but found end of expression", 7),
        ("[1, 'a'] == 1", "a list holds either numbers or strings, not a mix (and no true/false)", 0),
        ("ip.tor & ip.bad", "unexpected character '&'", 7),
        ("'abc", "unterminated string", 0),
        ("'a\\qb' == ua", "unknown escape \\q (use \\\\ for a backslash)", 2),
        ("[ip.asn] == 1", "a list holds only literals (numbers or strings)", 1),
        ("lists.hosting_asns", "a condition must be true or false, but this is a named list of int", 0),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_mistakes_are_errors_with_their_offset(text: str, message: str, pos: int) -> None:
    with pytest.raises(ExprError) as caught:
        evaluate(text)
    assert (caught.value.message, caught.value.pos) == (message, pos)


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(ExprError, match="nested deeper"):
        parse("(" * 200 + "ip.tor" + ")" * 200)


def test_overlong_expression_is_refused() -> None:
    with pytest.raises(ExprError, match="longer than"):
        parse("ip.tor or " * 1000 + "ip.tor")


def test_equal_sub_expressions_share_one_memo_slot() -> None:
    compiler = Compiler(catalog(), LISTS)
    texts = ["ip.overseas and ip.failures_10m > 3", "ip.failures_10m > 3 and not ip.tor", "ip.failures_10m > 3"]
    trees = [parse(t) for t in texts]
    for tree in trees:
        compiler.count(tree)
    compiled = [compiler.condition(t) for t in trees]
    assert compiler.slots == 1
    memo = [UNSET]
    assert [c.fn(FACTS, memo) for c in compiled] == [True, True, True]
    assert memo == [True]


@pytest.mark.parametrize(
    ("text", "required"),
    [
        ("ip.overseas and account.known", {"ip.overseas", "account.known"}),
        ("ip.overseas or account.known", set()),
        ("ip.overseas and (account.known or ip.tor)", {"ip.overseas"}),
        ("not ip.tor", set()),
        ("ip.failures_10m > 0.8 * ip.attempts_10m", {"ip.failures_10m", "ip.attempts_10m"}),
        ("ip.tor and not ip.bad", {"ip.tor"}),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_required_facts_are_those_whose_absence_makes_the_rule_false(text: str, required: set[str]) -> None:
    assert Compiler(catalog(), LISTS).condition(parse(text)).required == required
