"""Which successes may teach the account's history at once (shield.decision.confirm)."""

from __future__ import annotations

import pytest

from shield.decision.confirm import app_confirmed, confirmed
from shield.model import Action, Decision, RuleHit


def decision(*hits: tuple[str, int]) -> Decision:
    return Decision(action=Action.ALLOW, score=sum(s for _, s in hits), hits=tuple(RuleHit(i, s) for i, s in hits))


@pytest.mark.parametrize(
    ("hits", "expected"),
    [
        ((), True),
        ((("automation", 20),), False),
        ((("home_account", 10),), False),
        ((("fp_low_success", 25),), False),
        ((("password_spray", 40),), False),
        ((("fp_low_success", -10),), True),
    ],
    ids=["clean", "client", "account", "crowd", "credential", "negative_crowd_score"],
)
def test_any_scored_evidence_leaves_a_success_unconfirmed(
    hits: tuple[tuple[str, int], ...], expected: bool
) -> None:
    got = confirmed(decision(*hits), solved=False, passed=False, takeover=False, by_app=False)
    assert got is expected


@pytest.mark.parametrize("flag", ["solved", "passed", "takeover"])
def test_a_challenge_or_a_takeover_risk_leaves_it_unconfirmed(flag: str) -> None:
    flags = {"solved": False, "passed": False, "takeover": False, flag: True}
    assert confirmed(decision(), by_app=False, **flags) is False


def test_the_app_confirms_whatever_the_evidence() -> None:
    assert confirmed(decision(("password_spray", 40)), solved=True, passed=False, takeover=True, by_app=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"Shield-Confirm": "1"}, True), ({"shield-confirm": " 1 "}, True), ({"Shield-Confirm": "0"}, False), ({}, False)],
    ids=["set", "any_case", "zero", "absent"],
)
def test_app_confirmation_header(headers: dict[str, str], expected: bool) -> None:
    assert app_confirmed(headers, "Shield-Confirm") is expected

