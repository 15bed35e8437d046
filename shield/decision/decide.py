"""decide: a Verdict and the route's policy -> the Decision. Pure: no I/O, no clock, no logging.

Order of precedence, harshest first: a ban (rule or score) > a direct `block`/`challenge`/...
rule > an explicit `allow` rule > the score thresholds. Direct actions only ever raise the
score-based action, except `allow`, which lowers anything short of a ban (an allowlist).
"""

from __future__ import annotations

from typing import Literal

from shield.model import Action, BanScope, Decision, Policy, RuleHit, Thresholds, Verdict
from shield.settings.schema import ChallengeSettings

RATE_TAG = "rate"
AGGREGATE_TAG = "aggregate"


def decide(
    verdict: Verdict,
    route: str,
    policy: Policy,
    *,
    challenge: ChallengeSettings,
    mode: Literal["enforce", "shadow"] = "enforce",
    credit: int = 0,
    solved: bool = False,
) -> Decision:
    """`credit` is the score removed for a valid pass or a solution; `solved`: this request carries one."""
    limits = policy.for_route(route)
    over = _over_aggregate_cap(verdict.hits, policy)
    total = verdict.score - credit - over
    action, reasons = _action(total, verdict.forced_action, verdict.hits, limits, solved=solved)
    if over:
        reasons = (*reasons, f"aggregate rules capped at {policy.aggregate_cap} (-{over})")
    shadow_action = None
    if verdict.shadow_hits:
        all_hits = verdict.hits + verdict.shadow_hits
        shadow_total = verdict.score - credit + sum(h.score for h in verdict.shadow_hits)
        shadow_total -= _over_aggregate_cap(all_hits, policy)
        forced = _harshest(verdict.forced_action, verdict.shadow_forced_action)
        shadow_action, _ = _action(shadow_total, forced, verdict.hits + verdict.shadow_hits, limits, solved=solved)
    scope, ttl = _ban(action, verdict.hits, policy)
    rate = action is Action.BLOCK and _rate_caused(total, verdict.hits, limits, policy)
    return Decision(
        action=action,
        score=total,
        hits=verdict.hits,
        shadow_hits=verdict.shadow_hits,
        shadow_action=shadow_action,
        ruleset=policy.ruleset,
        ban_scope=scope,
        ban_ttl=ttl,
        delay_s=policy.delay_seconds if action is Action.DELAY else 0.0,
        difficulty=difficulty(total, limits, policy, challenge) if action is Action.CHALLENGE else 0,
        rate_limited=rate,
        retry_after_s=policy.retry_after if rate else 0,
        enforced=mode == "enforce",
        reasons=reasons,
    )


def _action(
    total: int, forced: Action | None, hits: tuple[RuleHit, ...], limits: Thresholds, *, solved: bool
) -> tuple[Action, tuple[str, ...]]:
    by_score = limits.action_for(total)
    reasons = [f"score {total} -> {by_score.value}"]
    action = by_score
    if forced is Action.ALLOW:
        if by_score is not Action.BAN:
            action = Action.ALLOW
            reasons.append("allow rule: " + ",".join(h.id for h in hits if h.action is Action.ALLOW))
    elif forced is not None and forced.severity > by_score.severity:
        action = forced
        reasons.append(f"{forced.value} rule: " + ",".join(h.id for h in hits if h.action is forced))
    if solved and action is Action.CHALLENGE:
        # a solved puzzle is never answered with another one: what is left is allow or tag
        action = Action.TAG if limits.tag is not None and total >= limits.tag else Action.ALLOW
        reasons.append("challenge solved")
    return action, tuple(reasons)


def _over_aggregate_cap(hits: tuple[RuleHit, ...], policy: Policy) -> int:
    """Points of `aggregate`-tagged rules above policy.aggregate_cap (0 without a cap)."""
    if policy.aggregate_cap is None:
        return 0
    crowd = 0
    for h in hits:
        meta = policy.rules.get(h.id)
        if h.score > 0 and meta is not None and AGGREGATE_TAG in meta.tags:
            crowd += h.score
    return max(0, crowd - policy.aggregate_cap)


def _harshest(a: Action | None, b: Action | None) -> Action | None:
    if a is None or b is None:
        return a or b
    return a if a.severity >= b.severity else b


def _ban(action: Action, hits: tuple[RuleHit, ...], policy: Policy) -> tuple[BanScope | None, float]:
    if action is not Action.BAN:
        return None, 0.0
    specs = [m.ban for h in hits if h.action is Action.BAN and (m := policy.rules.get(h.id)) and m.ban]
    if specs:
        longest = max(specs, key=lambda s: s.ttl)
        return longest.scope, longest.ttl
    return policy.ban.scope, policy.ban.ttl


def _rate_caused(total: int, hits: tuple[RuleHit, ...], limits: Thresholds, policy: Policy) -> bool:
    """A block is a rate limit when rate-tagged rules caused it: forced by one, or needed to reach the threshold."""

    def is_rate(h: RuleHit) -> bool:
        meta = policy.rules.get(h.id)
        return meta is not None and RATE_TAG in meta.tags

    if any(h.action is Action.BLOCK and is_rate(h) for h in hits):
        return True
    rate_score = sum(h.score for h in hits if is_rate(h) and h.score > 0)
    return rate_score > 0 and limits.block is not None and total - rate_score < limits.block <= total


def difficulty(total: int, limits: Thresholds, policy: Policy, challenge: ChallengeSettings) -> int:
    """base_difficulty at the challenge threshold, one more bit per `difficulty_step` points, capped."""
    start = limits.challenge if limits.challenge is not None else total
    extra = max(0, total - start) // policy.difficulty_step
    return min(challenge.base_difficulty + extra, challenge.max_difficulty)
