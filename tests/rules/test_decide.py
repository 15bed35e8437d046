"""decide: thresholds, direct actions, allow rules, solved challenges, difficulty, rate limits, shadow."""

from __future__ import annotations

import pytest

from shield.decision.decide import decide
from shield.model import Action, BanPolicy, BanSpec, Policy, RuleHit, RuleMeta, Thresholds, Verdict
from shield.settings.schema import ChallengeSettings

CHALLENGE = ChallengeSettings(base_difficulty=16, max_difficulty=20)
POLICY = Policy(
    thresholds=Thresholds(tag=30, delay=50, challenge=60, block=90, ban=150),
    routes={"reset": Thresholds(tag=20, delay=40, challenge=50, block=80, ban=None)},
    delay_seconds=2.5,
    difficulty_step=20,
    retry_after=45,
    ban=BanPolicy(scope="ip", ttl=3600.0),
    rules={
        "velocity": RuleMeta(tags=frozenset({"rate"})),
        "rate_block": RuleMeta(tags=frozenset({"rate"})),
        "tor_ban": RuleMeta(ban=BanSpec("subnet", 7200.0)),
        "long_ban": RuleMeta(ban=BanSpec("asn", 86400.0)),
    },
    ruleset="abc123",
)


def hit(rule: str, score: int = 0, action: Action | None = None, shadow: bool = False) -> RuleHit:
    return RuleHit(rule, score, action, shadow)


def verdict(*hits: RuleHit, shadow: tuple[RuleHit, ...] = ()) -> Verdict:
    forced = [h.action for h in hits if h.action]
    shadow_forced = [h.action for h in shadow if h.action]
    return Verdict(
        score=sum(h.score for h in hits),
        hits=hits,
        shadow_hits=shadow,
        forced_action=max(forced, key=lambda a: a.severity) if forced else None,
        shadow_forced_action=max(shadow_forced, key=lambda a: a.severity) if shadow_forced else None,
    )


@pytest.mark.parametrize(
    ("v", "route", "credit", "solved", "action", "score"),
    [
        (verdict(), "login", 0, False, Action.ALLOW, 0),
        (verdict(hit("a", 29)), "login", 0, False, Action.ALLOW, 29),
        (verdict(hit("a", 30)), "login", 0, False, Action.TAG, 30),
        (verdict(hit("a", 50)), "login", 0, False, Action.DELAY, 50),
        (verdict(hit("a", 60)), "login", 0, False, Action.CHALLENGE, 60),
        (verdict(hit("a", 90)), "login", 0, False, Action.BLOCK, 90),
        (verdict(hit("a", 150)), "login", 0, False, Action.BAN, 150),
        (verdict(hit("a", 50)), "reset", 0, False, Action.CHALLENGE, 50),
        (verdict(hit("a", 500)), "reset", 0, False, Action.BLOCK, 500),
        (verdict(hit("a", 70)), "login", 40, False, Action.TAG, 30),
        (verdict(hit("a", 70)), "login", 0, True, Action.TAG, 70),
        (verdict(hit("a", 70)), "login", 40, True, Action.TAG, 30),
        (verdict(hit("a", 65)), "login", 40, True, Action.ALLOW, 25),
        (verdict(hit("a", 135)), "login", 40, True, Action.BLOCK, 95),
        (verdict(hit("a", 10), hit("c", 0, Action.CHALLENGE)), "login", 0, True, Action.ALLOW, 10),
        (verdict(hit("a", 10), hit("b", 0, Action.BLOCK)), "login", 0, False, Action.BLOCK, 10),
        (verdict(hit("a", 100), hit("t", 0, Action.TAG)), "login", 0, False, Action.BLOCK, 100),
        (verdict(hit("a", 100), hit("ok", 0, Action.ALLOW)), "login", 0, False, Action.ALLOW, 100),
        (verdict(hit("a", 200), hit("ok", 0, Action.ALLOW)), "login", 0, False, Action.BAN, 200),
        (verdict(hit("ok", 0, Action.ALLOW), hit("tor_ban", 0, Action.BAN)), "login", 0, False, Action.BAN, 0),
        (verdict(hit("ok", 0, Action.ALLOW), hit("b", 0, Action.BLOCK)), "login", 0, False, Action.BLOCK, 0),
        (verdict(hit("neg", -100), hit("a", 120)), "login", 0, False, Action.ALLOW, 20),
    ],
    ids=["nothing", "below-tag", "tag", "delay", "challenge", "block", "ban", "route-threshold",
         "route-without-ban", "pass-credit", "solved-without-credit", "solved-with-credit", "solved-low-score",
         "solved-still-blocked", "solved-forced-challenge", "forced-block-raises", "forced-tag-never-lowers",
         "allow-rule-beats-score", "allow-rule-loses-to-score-ban", "allow-rule-loses-to-ban-rule",
         "harshest-forced-wins-over-allow", "negative-score"],
)
def test_action(v: Verdict, route: str, credit: int, solved: bool, action: Action, score: int) -> None:
    d = decide(v, route, POLICY, challenge=CHALLENGE, credit=credit, solved=solved)
    assert (d.action, d.score) == (action, score)


@pytest.mark.parametrize(
    ("score", "route", "difficulty"),
    [(60, "login", 16), (79, "login", 16), (80, "login", 17), (89, "login", 17), (50, "reset", 16), (79, "reset", 17)],
    ids=["at-threshold", "just-below-step", "one-step", "top-of-band", "route-threshold", "route-one-step"],
)
def test_difficulty_grows_with_the_score(score: int, route: str, difficulty: int) -> None:
    d = decide(verdict(hit("a", score)), route, POLICY, challenge=CHALLENGE)
    assert (d.action, d.difficulty) == (Action.CHALLENGE, difficulty)


def test_difficulty_is_capped() -> None:
    policy = Policy(thresholds=Thresholds(challenge=60, block=None, ban=None), difficulty_step=5)
    d = decide(verdict(hit("a", 200)), "login", policy, challenge=CHALLENGE)
    assert (d.action, d.difficulty) == (Action.CHALLENGE, 20)


@pytest.mark.parametrize(
    ("v", "rate", "retry"),
    [
        (verdict(hit("velocity", 60), hit("other", 40)), True, 45),
        (verdict(hit("velocity", 10), hit("other", 90)), False, 0),
        (verdict(hit("rate_block", 0, Action.BLOCK)), True, 45),
        (verdict(hit("b", 0, Action.BLOCK), hit("velocity", 10)), False, 0),
        (verdict(hit("velocity", 70)), False, 0),
    ],
    ids=["rate-rules-needed-to-block", "block-without-them", "rate-tagged-block-rule", "other-block-rule",
         "rate-score-below-block"],
)
def test_a_block_caused_by_rate_rules_is_a_rate_limit(v: Verdict, rate: bool, retry: int) -> None:
    d = decide(v, "login", POLICY, challenge=CHALLENGE)
    assert (d.rate_limited, d.retry_after_s) == (rate, retry)


@pytest.mark.parametrize(
    ("v", "scope", "ttl"),
    [
        (verdict(hit("a", 150)), "ip", 3600.0),
        (verdict(hit("tor_ban", 0, Action.BAN)), "subnet", 7200.0),
        (verdict(hit("tor_ban", 0, Action.BAN), hit("long_ban", 0, Action.BAN)), "asn", 86400.0),
        (verdict(hit("a", 100)), None, 0.0),
    ],
    ids=["score-ban-uses-policy", "ban-rule-uses-its-own", "longest-ban-rule-wins", "no-ban"],
)
def test_ban_scope_and_ttl(v: Verdict, scope: str | None, ttl: float) -> None:
    d = decide(v, "login", POLICY, challenge=CHALLENGE)
    assert (d.ban_scope, d.ban_ttl) == (scope, ttl)


def test_delay_seconds_come_from_the_policy() -> None:
    assert decide(verdict(hit("a", 55)), "login", POLICY, challenge=CHALLENGE).delay_s == 2.5
    assert decide(verdict(hit("a", 65)), "login", POLICY, challenge=CHALLENGE).delay_s == 0.0


@pytest.mark.parametrize(
    ("v", "action", "shadow_action"),
    [
        (verdict(hit("a", 40)), Action.TAG, None),
        (verdict(hit("a", 40), shadow=(hit("s", 60, shadow=True),)), Action.TAG, Action.BLOCK),
        (verdict(hit("a", 40), shadow=(hit("s", 0, Action.BAN, shadow=True),)), Action.TAG, Action.BAN),
        (verdict(hit("a", 95), shadow=(hit("s", -50, shadow=True),)), Action.BLOCK, Action.TAG),
    ],
    ids=["no-shadow-rules", "shadow-score", "shadow-forced", "shadow-allowlist"],
)
def test_shadow_rules_report_an_action_but_never_change_it(
    v: Verdict, action: Action, shadow_action: Action | None
) -> None:
    d = decide(v, "login", POLICY, challenge=CHALLENGE)
    assert (d.action, d.shadow_action) == (action, shadow_action)


def test_global_shadow_mode_reports_the_action_unenforced() -> None:
    d = decide(verdict(hit("a", 200)), "login", POLICY, challenge=CHALLENGE, mode="shadow")
    assert (d.action, d.enforced, d.ruleset) == (Action.BAN, False, "abc123")


def test_reasons_say_why() -> None:
    d = decide(verdict(hit("a", 10), hit("b", 0, Action.BLOCK)), "login", POLICY, challenge=CHALLENGE)
    assert d.reasons == ("score 10 -> allow", "block rule: b")
