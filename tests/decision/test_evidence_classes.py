"""Evidence classes in decide: crowd, account and credential evidence challenge; a block needs the client's own."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shield.decision.decide import decide
from shield.model import Action, EvidencePolicy, Policy, RuleHit, RuleMeta, Thresholds, Verdict
from shield.settings.schema import ChallengeSettings

CHALLENGE = ChallengeSettings(base_difficulty=16, max_difficulty=20)
POLICY = Policy(
    thresholds=Thresholds(tag=30, delay=50, challenge=60, block=90, ban=150),
    rules={
        "fp_replay": RuleMeta(evidence="crowd"),
        "asn_low": RuleMeta(evidence="crowd"),
        "site_wave": RuleMeta(evidence="crowd"),
        "crowd_block": RuleMeta(evidence="crowd"),
        "spray": RuleMeta(evidence="credential"),
        "pair": RuleMeta(evidence="credential"),
        "sprayed": RuleMeta(evidence="credential"),
        "lockout": RuleMeta(evidence="account"),
        "automation": RuleMeta(evidence="client"),
        "challenge_failed": RuleMeta(evidence="client"),
        "challenge_refused": RuleMeta(evidence="client"),
        "allowlisted": RuleMeta(evidence="client"),
    },
)


def verdict(*hits: tuple[str, int] | RuleHit, shadow: tuple[RuleHit, ...] = ()) -> Verdict:
    rule_hits = tuple(h if isinstance(h, RuleHit) else RuleHit(h[0], h[1]) for h in hits)
    forced = [h.action for h in rule_hits if h.action is not None]
    return Verdict(
        sum(h.score for h in rule_hits), rule_hits, shadow,
        max(forced, key=lambda a: a.severity) if forced else None,
    )


@pytest.mark.parametrize(
    ("hits", "action", "difficulty"),
    [
        ((("fp_replay", 80), ("asn_low", 70), ("site_wave", 50)), Action.CHALLENGE, 20),
        ((("fp_replay", 80), ("asn_low", 70), ("site_wave", 50), ("automation", 50)), Action.BAN, 0),
        ((("fp_replay", 55), ("asn_low", 25), ("automation", 10)), Action.BLOCK, 0),
        ((("spray", 40), ("hand_made", 10), ("pair", 70)), Action.BLOCK, 0),  # no metadata: client
        ((("spray", 80), ("pair", 70)), Action.CHALLENGE, 20),
        ((("lockout", 100),), Action.CHALLENGE, 18),
        ((("fp_replay", 80), ("asn_low", 40), ("challenge_failed", 30)), Action.BAN, 0),
        ((("fp_replay", 80), ("asn_low", 40), ("challenge_refused", 30)), Action.BAN, 0),
        ((("fp_replay", 80), ("challenge_failed", 30)), Action.BLOCK, 0),
        ((("fp_replay", 150), ("allowlisted", -100), ("automation", 50)), Action.CHALLENGE, 18),
    ],
    ids=["crowd-200-alone-challenged-hard", "crowd-plus-automation-banned", "crowd-plus-a-little-client-blocked",
         "hits-without-metadata-count-as-client", "credential-alone-challenged", "account-alone-challenged",
         "crowd-plus-failed-challenge-banned", "crowd-plus-refused-challenge-banned", "failed-challenge-blocks",
         "net-client-score-must-be-positive"],
)
def test_a_block_needs_client_evidence(hits: tuple[tuple[str, int], ...], action: Action, difficulty: int) -> None:
    d = decide(verdict(*hits), "login", POLICY, challenge=CHALLENGE)
    assert (d.action, d.difficulty) == (action, difficulty)


def test_the_decision_says_why_it_challenged_instead() -> None:
    d = decide(verdict(("fp_replay", 120), ("spray", 40)), "login", POLICY, challenge=CHALLENGE)
    assert d.action is Action.CHALLENGE
    assert d.reasons == ("score 160 -> ban", "ban needs client evidence, none here -> challenge")
    assert d.score == 160  # the total is untouched: it sets the difficulty and is what the line logs


def test_the_score_per_class_is_on_the_decision() -> None:
    d = decide(verdict(("fp_replay", 55), ("asn_low", 25), ("spray", 40), ("automation", 50), ("allowlisted", -100)),
               "login", POLICY, challenge=CHALLENGE)
    assert d.scores_by_class == {"crowd": 80, "credential": 40, "client": -50}


def test_a_solved_challenge_lets_crowd_evidence_through_tagged() -> None:
    d = decide(verdict(("fp_replay", 150)), "login", POLICY, challenge=CHALLENGE, credit=40, solved=True)
    assert (d.action, d.score) == (Action.TAG, 110)
    assert "challenge solved" in d.reasons


def test_a_direct_block_rule_is_not_gated() -> None:
    d = decide(verdict(RuleHit("crowd_block", 0, Action.BLOCK)), "login", POLICY, challenge=CHALLENGE)
    assert d.action is Action.BLOCK


def test_a_direct_tag_survives_a_solved_challenge_below_the_tag_threshold() -> None:
    v = verdict(("spray", 80), RuleHit("sprayed", 0, Action.TAG))
    d = decide(v, "login", POLICY, challenge=CHALLENGE, credit=80, solved=True)
    assert (d.action, d.score) == (Action.TAG, 0)


@pytest.mark.parametrize(
    ("needs", "action"),
    [(frozenset({"client"}), Action.CHALLENGE), (frozenset({"client", "account"}), Action.BAN),
     (frozenset(), Action.BAN)],
    ids=["client-only", "account-may-block-too", "no-class-needed"],
)
def test_block_needs_is_the_policy_s_choice(needs: frozenset[str], action: Action) -> None:
    policy = replace(POLICY, evidence=EvidencePolicy(block_needs=needs))  # type: ignore[arg-type]
    assert decide(verdict(("lockout", 160)), "login", policy, challenge=CHALLENGE).action is action


def test_a_class_cap_limits_its_points_and_says_so() -> None:
    policy = replace(POLICY, evidence=EvidencePolicy(caps={"crowd": 80}))
    d = decide(verdict(("fp_replay", 55), ("asn_low", 50), ("automation", 50)), "login", policy, challenge=CHALLENGE)
    assert (d.action, d.score, d.scores_by_class) == (Action.BLOCK, 130, {"crowd": 80, "client": 50})
    assert "evidence caps: -25" in d.reasons


def test_without_a_challenge_threshold_the_gate_falls_to_the_next_action() -> None:
    policy = replace(POLICY, thresholds=Thresholds(tag=30, delay=50, challenge=None, block=90, ban=150))
    assert decide(verdict(("asn_low", 120)), "login", policy, challenge=CHALLENGE).action is Action.DELAY


def test_shadow_rules_are_gated_the_same_way() -> None:
    v = verdict(("fp_replay", 60), shadow=(RuleHit("asn_low", 60, None, True),))
    assert decide(v, "login", POLICY, challenge=CHALLENGE).shadow_action is Action.CHALLENGE
    v = verdict(("fp_replay", 60), shadow=(RuleHit("automation", 40, None, True),))
    assert decide(v, "login", POLICY, challenge=CHALLENGE).shadow_action is Action.BLOCK


def test_an_allow_rule_lowers_a_gated_ban_but_not_a_ban_with_client_evidence() -> None:
    gated = verdict(("fp_replay", 160), RuleHit("office", 0, Action.ALLOW))
    assert decide(gated, "login", POLICY, challenge=CHALLENGE).action is Action.ALLOW
    banned = verdict(("fp_replay", 110), ("automation", 50), RuleHit("office", 0, Action.ALLOW))
    assert decide(banned, "login", POLICY, challenge=CHALLENGE).action is Action.BAN
