"""Crowd evidence (rules tagged `aggregate`) alone can challenge but never block."""

from __future__ import annotations

import pytest

from shield.decision.decide import decide
from shield.model import Action, Policy, RuleHit, RuleMeta, Thresholds, Verdict
from shield.settings.schema import ChallengeSettings

CROWD = RuleMeta(tags=frozenset({"aggregate"}))
POLICY = Policy(
    thresholds=Thresholds(tag=30, delay=50, challenge=60, block=90, ban=150),
    aggregate_cap=80,
    rules={"fp_replay": CROWD, "asn_low": CROWD, "site_wave": CROWD},
)


def verdict(*hits: tuple[str, int]) -> Verdict:
    rule_hits = tuple(RuleHit(rule, score) for rule, score in hits)
    return Verdict(sum(s for _, s in hits), rule_hits, (), None)


@pytest.mark.parametrize(
    ("hits", "action", "score"),
    [
        ((("fp_replay", 55), ("asn_low", 25), ("site_wave", 20)), Action.CHALLENGE, 80),
        ((("fp_replay", 55), ("asn_low", 25), ("site_wave", 20), ("automation", 50)), Action.BLOCK, 130),
        ((("fp_replay", 55), ("overseas_new_device", 25)), Action.CHALLENGE, 80),
        ((("fp_replay", 40),), Action.TAG, 40),
    ],
    ids=["crowd-only-challenged", "crowd-plus-own-evidence-blocked", "under-the-cap-untouched", "small"],
)
def test_aggregate_rules_add_at_most_the_cap(hits: tuple[tuple[str, int], ...], action: Action, score: int) -> None:
    d = decide(verdict(*hits), "login", POLICY, challenge=ChallengeSettings())
    assert (d.action, d.score) == (action, score)


def test_no_cap_means_plain_sums() -> None:
    policy = Policy(thresholds=POLICY.thresholds, rules=POLICY.rules)
    d = decide(verdict(("fp_replay", 55), ("asn_low", 25), ("site_wave", 20)), "login", policy,
               challenge=ChallengeSettings())
    assert (d.action, d.score) == (Action.BLOCK, 100)


def test_the_cap_is_said_in_the_reasons() -> None:
    d = decide(verdict(("fp_replay", 55), ("asn_low", 50)), "login", POLICY, challenge=ChallengeSettings())
    assert "aggregate rules capped at 80 (-25)" in d.reasons
