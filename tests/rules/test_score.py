"""Scoring a request: enforcing and shadow rules, routes, direct actions, skipped groups, bad fact types."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shield.model import Action, BanSpec, FactValue
from shield.rules.load import load_texts
from shield.rules.score import VERDICT_CACHE_SIZE, RuleSet
from shield.rules.values import UNSET

RULES = """
rules:
  - id: overseas
    description: d
    class: client
    when: ip.overseas
    score: 30
  - id: failures
    description: d
    class: client
    when: ip.failures_10m >= 10
    score: 40
  - id: failures_shadow
    description: a stricter threshold being tried out
    class: client
    when: ip.failures_10m >= 5
    score: 50
    mode: shadow
  - id: tor_ban
    description: d
    class: client
    when: ip.tor
    action: ban
    ban: {scope: subnet, ttl: 2h}
  - id: tor_shadow_block
    description: d
    class: client
    when: ip.tor and ip.overseas
    action: block
    mode: shadow
  - id: reset_only
    description: d
    class: client
    when: ip.overseas
    score: 20
    routes: [reset]
  - id: office
    description: d
    class: client
    when: account == "ops"
    action: allow
  - id: off
    description: d
    class: client
    when: ip.overseas
    score: 1000
    enabled: false
"""


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_texts({"r.yaml": RULES}, lists={})


@pytest.mark.parametrize(
    ("facts", "route", "score", "hits", "shadow", "forced", "shadow_forced"),
    [
        ({}, "login", 0, [], [], None, None),
        ({"ip.overseas": True}, "login", 30, ["overseas"], [], None, None),
        ({"ip.overseas": True}, "reset", 50, ["overseas", "reset_only"], [], None, None),
        ({"ip.failures_10m": 7}, "login", 0, [], ["failures_shadow"], None, None),
        ({"ip.failures_10m": 12}, "login", 40, ["failures"], ["failures_shadow"], None, None),
        ({"ip.tor": True, "ip.overseas": True}, "login", 30, ["overseas", "tor_ban"], ["tor_shadow_block"],
         Action.BAN, Action.BLOCK),
        ({"account": "ops", "ip.tor": True}, "login", 0, ["tor_ban", "office"], [], Action.BAN, None),
        ({"account": "ops"}, "login", 0, ["office"], [], Action.ALLOW, None),
    ],
    ids=["nothing", "overseas", "route-rule", "shadow-only", "shadow-beside-enforced", "forced-ban-and-shadow-block",
         "harshest-forced-wins", "allow-rule"],
)
def test_verdict(ruleset: RuleSet, facts: dict[str, FactValue], route: str, score: int, hits: list[str],
                 shadow: list[str], forced: Action | None, shadow_forced: Action | None) -> None:
    v = ruleset.score(facts, route)
    assert (v.score, sorted(h.id for h in v.hits), [h.id for h in v.shadow_hits], v.forced_action,
            v.shadow_forced_action) == (score, sorted(hits), shadow, forced, shadow_forced)


def test_disabled_rules_are_checked_but_not_loaded(ruleset: RuleSet) -> None:
    assert "off" not in ruleset.by_id()
    assert len(ruleset) == 7


def test_a_fact_of_the_wrong_type_does_not_break_scoring(ruleset: RuleSet) -> None:
    v = ruleset.score({"ip.failures_10m": "many", "ip.overseas": True}, "login")
    assert [h.id for h in v.hits] == ["overseas"]


def test_the_ban_and_tags_of_rules_reach_the_policy(ruleset: RuleSet) -> None:
    meta = ruleset.policy.rules["tor_ban"]
    assert meta.ban == BanSpec("subnet", 7200.0)
    assert ruleset.policy.ruleset == ruleset.hash


def test_hash_ignores_comments_and_layout_but_not_content() -> None:
    a = load_texts({"r.yaml": RULES}, lists={}).hash
    b = load_texts({"r.yaml": "# a comment\n" + RULES.replace("score: 30", "score:   30")}, lists={}).hash
    c = load_texts({"r.yaml": RULES.replace("score: 30", "score: 31")}, lists={}).hash
    assert a == b != c
    assert len(a) == 12


def test_shared_sub_expression_is_computed_once_per_request() -> None:
    compared: list[str] = []

    class Counted(int):
        """A fact value that notes each comparison made with it (the memo is about computing, not reading)."""

        def __gt__(self, other: object) -> bool:
            compared.append(">")
            return int(self) > other  # type: ignore[operator]

        def __eq__(self, other: object) -> bool:
            compared.append("==")
            return int(self) == other

        __hash__ = int.__hash__

    body = "rules:\n" + "".join(
        f"  - id: r{i}\n    description: d\n    class: client\n"
        f"    when: ip.failures_10m > 0.5 * ip.attempts_10m and ip.asn == {i}\n"
        f"    score: 1\n"
        for i in range(5)
    )
    rs = load_texts({"r.yaml": body}, lists={})
    v = rs.score({"ip.failures_10m": Counted(9), "ip.attempts_10m": 10, "ip.asn": Counted(3)}, "login")
    assert [h.id for h in v.hits] == ["r3"]
    assert compared.count(">") == 1
    assert compared.count("==") == 5


INDEXED = """
rules:
  - {id: ge20, description: d, class: client, when: "ip.failures_10m >= 20", score: 1}
  - {id: ge5, description: d, class: client, when: "ip.failures_10m >= 5 and ip.overseas", score: 2}
  - {id: gt20, description: d, class: client, when: "ip.failures_10m > 20", score: 4}
  - {id: gt0, description: d, class: client, when: "ip.failures_10m > 0 and not ip.tor", score: 8}
  - {id: ratio, description: d, class: client,
     when: "ip.failures_10m > 0.5 * ip.attempts_10m and ip.attempts_10m >= 10", score: 16}
  - {id: either, description: d, class: client, when: "ip.overseas or ip.failures_10m >= 100", score: 32}
  - {id: notover, description: d, class: client, when: "not ip.overseas", score: 64}
  - {id: frac, description: d, class: client, when: "account.travel_kmh > 900.5", score: 128}
"""


@given(
    failures=st.one_of(st.none(), st.integers(min_value=-1, max_value=120)),
    attempts=st.one_of(st.none(), st.integers(min_value=0, max_value=50)),
    overseas=st.one_of(st.none(), st.booleans()),
    tor=st.one_of(st.none(), st.booleans()),
    kmh=st.one_of(st.none(), st.floats(min_value=0, max_value=2000)),
)
def test_the_index_skips_exactly_the_rules_that_cannot_match(
    failures: int | None, attempts: int | None, overseas: bool | None, tor: bool | None, kmh: float | None
) -> None:
    rs = _indexed()
    values = {"ip.failures_10m": failures, "ip.attempts_10m": attempts, "ip.overseas": overseas, "ip.tor": tor,
              "account.travel_kmh": kmh}
    facts = {k: v for k, v in values.items() if v is not None}
    expected = {r.id for r in rs.rules if r.check(facts, [UNSET] * rs.memo_size)}
    assert {h.id for h in rs.score(facts, "login").hits} == expected


def _indexed(cache: dict[str, RuleSet] = {}) -> RuleSet:  # noqa: B006 - compiled once for all examples
    if "rs" not in cache:
        cache["rs"] = load_texts({"r.yaml": INDEXED}, lists={})
    return cache["rs"]


def test_one_verdict_object_per_set_of_matched_rules(ruleset: RuleSet) -> None:
    """Each set of matched rules has one Verdict, built once: the decision core memoises decide() on it."""
    first = ruleset.score({"ip.overseas": True, "ip.failures_10m": 3}, "login")
    again = ruleset.score({"ip.overseas": True, "ip.failures_10m": 4, "ip.asn": 7}, "login")
    other = ruleset.score({"ip.overseas": False}, "login")
    assert first is again
    assert other is not first
    assert other != first


def test_the_verdict_cache_is_bounded_and_stays_right() -> None:
    """4225 sets of matched rules (65 x 65 thresholds passed) against a cache of 4096: each verdict still right."""
    body = "rules:\n" + "".join(
        f"  - {{id: {name}{k}, description: d, class: client, when: '{fact} >= {k}', score: {weight}}}\n"
        for name, fact, weight in (("f", "ip.failures_10m", 1), ("a", "ip.attempts_10m", 100))
        for k in range(1, 65)
    )
    rs = load_texts({"r.yaml": body}, lists={})
    for failures in range(65):
        for attempts in range(65):
            v = rs.score({"ip.failures_10m": failures, "ip.attempts_10m": attempts}, "login")
            assert v.score == failures + 100 * attempts
            assert [h.id for h in v.hits] == [f"f{k}" for k in range(1, failures + 1)] + [
                f"a{k}" for k in range(1, attempts + 1)
            ]
    assert 0 < len(rs._default.verdicts) <= VERDICT_CACHE_SIZE  # type: ignore[attr-defined]
