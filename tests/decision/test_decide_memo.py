"""evaluate() memoises decide() by the verdict's identity: the same Decision as decide() gives, once per input."""

from __future__ import annotations

import itertools
from typing import Literal

import pytest

from shield.decision import evaluate as evaluate_module
from shield.decision.decide import decide
from shield.decision.evaluate import DECIDED_SIZE, evaluate
from shield.model import FactValue
from shield.rules.load import load_texts
from shield.rules.score import RuleSet
from shield.settings.schema import ChallengeSettings, RouteSettings

RULES = """
rules:
  - {id: overseas, description: d, class: crowd, when: ip.overseas, score: 40}
  - {id: failures, description: d, class: client, when: "ip.failures_10m >= 10", score: 60}
  - {id: many, description: d, class: client, when: "ip.failures_10m >= 100", action: ban}
  - {id: tor, description: d, class: client, when: ip.tor, score: 30, mode: shadow}
"""
CHALLENGE = ChallengeSettings(base_difficulty=16, max_difficulty=20)
FACTS: list[dict[str, FactValue]] = [
    {"ip.overseas": o, "ip.failures_10m": f, "ip.tor": t}
    for o, f, t in itertools.product((True, False), (0, 10, 11, 100), (True, False))
]


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_texts({"r.yaml": RULES}, lists={})


@pytest.mark.parametrize("route", ["login", "reset"])
@pytest.mark.parametrize("mode", ["enforce", "shadow"])
@pytest.mark.parametrize(("solved", "passed"), [(False, False), (True, False), (False, True)])
def test_a_memoised_decision_is_decide_s(
    ruleset: RuleSet, route: str, mode: Literal["enforce", "shadow"], solved: bool, passed: bool
) -> None:
    credit = (CHALLENGE.solve_credit if solved else 0) + (CHALLENGE.pass_credit if passed else 0)
    first = {}
    for n, facts in enumerate(FACTS * 2):
        got = evaluate(ruleset, facts, RouteSettings(name=route, path=""), challenge=CHALLENGE, mode=mode,
                       solved=solved, passed=passed)
        want = decide(ruleset.score(facts, route), route, ruleset.policy, challenge=CHALLENGE, mode=mode,
                      credit=credit, solved=solved)
        assert got == want
        if n < len(FACTS):
            first[n] = got
        else:
            assert got is first[n - len(FACTS)]  # decided once


def test_the_same_verdict_gets_the_same_decision_object(ruleset: RuleSet) -> None:
    route = RouteSettings(name="login", path="")
    first = evaluate(ruleset, {"ip.overseas": True, "ip.failures_10m": 12}, route, challenge=CHALLENGE)
    again = evaluate(ruleset, {"ip.overseas": True, "ip.failures_10m": 50}, route, challenge=CHALLENGE)
    assert again is first
    other_settings = evaluate(ruleset, {"ip.overseas": True, "ip.failures_10m": 50}, route,
                              challenge=ChallengeSettings(base_difficulty=16, max_difficulty=20))
    assert other_settings is not first  # another settings object: decided again
    assert evaluate(ruleset, {"ip.overseas": True, "ip.failures_10m": 12}, route, challenge=CHALLENGE,
                    mode="shadow") is not first


def test_the_memo_is_bounded(ruleset: RuleSet) -> None:
    route = RouteSettings(name="login", path="")
    for credit in range(DECIDED_SIZE + 10):
        d = evaluate(ruleset, {"ip.failures_10m": 12}, route, challenge=CHALLENGE, credit=credit)
        assert d.score == 60 - credit
    assert 0 < len(evaluate_module._DECIDED) <= DECIDED_SIZE
