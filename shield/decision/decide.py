"""decide: a Verdict and the route's policy -> the Decision. Pure: no I/O, no clock, no logging.

Order of precedence, harshest first: a ban (rule or score) > a direct `block`/`challenge`/...
rule > an explicit `allow` rule > the score thresholds. Direct actions only ever raise the
score-based action, except `allow`, which lowers anything short of a ban (an allowlist).

Evidence classes (policy.evidence): a score-based block or ban needs a positive score from a class
of `block_needs` (client, by default); without it the request is challenged instead, its puzzle as
hard as its total asks. A direct `action: block|ban` rule is the operator's explicit word and is
not gated. `caps` limit what one class adds to the total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shield.facts.frozen_init import slot_setters
from shield.model import (
    THRESHOLD_ACTIONS,
    Action,
    BanScope,
    Decision,
    EvidenceClass,
    Policy,
    RuleHit,
    Thresholds,
    Verdict,
)
from shield.settings.schema import ChallengeSettings

RATE_TAG = "rate"


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
    by_class, over = _by_class(verdict.hits, policy)
    total = verdict.score - credit - over
    gate = _may_block(by_class, policy)
    action, reasons = _action(total, verdict.forced_action, verdict.hits, limits, solved=solved, gate=gate)
    if over:
        reasons = (*reasons, f"evidence caps: -{over}")
    shadow_action = None
    if verdict.shadow_hits:
        all_hits = verdict.hits + verdict.shadow_hits
        shadow_classes, shadow_over = _by_class(all_hits, policy)
        shadow_total = verdict.score - credit + sum(h.score for h in verdict.shadow_hits) - shadow_over
        forced = _harshest(verdict.forced_action, verdict.shadow_forced_action)
        shadow_action, _ = _action(
            shadow_total, forced, all_hits, limits, solved=solved, gate=_may_block(shadow_classes, policy),
        )
    scope, ttl = _ban(action, verdict.hits, policy)
    rate = action is Action.BLOCK and _rate_caused(total, verdict.hits, limits, policy)
    return _new_decision(
        action,
        total,
        verdict.hits,
        verdict.shadow_hits,
        shadow_action,
        policy.ruleset,
        scope,
        ttl,
        policy.delay_seconds if action is Action.DELAY else 0.0,
        difficulty(total, limits, policy, challenge) if action is Action.CHALLENGE else 0,
        rate,
        policy.retry_after if rate else 0,
        mode == "enforce",
        reasons,
        by_class,
    )


# Decision(...) by keyword from compiled code runs the frozen dataclass's interpreted __init__, one
# object.__setattr__ per field: ~25k of decide's ~60k instructions per protected request (callgrind). The same
# object, built as shield.facts.frozen_init builds an Attempt: one slot store per field (checked at import).
(
    _d_action, _d_score, _d_hits, _d_shadow_hits, _d_shadow_action, _d_ruleset, _d_ban_scope, _d_ban_ttl, _d_delay_s,
    _d_difficulty, _d_rate_limited, _d_retry_after_s, _d_enforced, _d_reasons, _d_scores_by_class,
) = slot_setters(Decision, (
    "action", "score", "hits", "shadow_hits", "shadow_action", "ruleset", "ban_scope", "ban_ttl", "delay_s",
    "difficulty", "rate_limited", "retry_after_s", "enforced", "reasons", "scores_by_class",
))
_new = object.__new__


def _new_decision(
    action: Action, score: int, hits: tuple[RuleHit, ...], shadow_hits: tuple[RuleHit, ...],
    shadow_action: Action | None, ruleset: str, ban_scope: BanScope | None, ban_ttl: float, delay_s: float,
    difficulty: int, rate_limited: bool, retry_after_s: int, enforced: bool, reasons: tuple[str, ...],
    scores_by_class: dict[str, int],
) -> Decision:
    """Decision(action, score, ...) in field order, every field given."""
    d: Decision = _new(Decision)
    _d_action(d, action)
    _d_score(d, score)
    _d_hits(d, hits)
    _d_shadow_hits(d, shadow_hits)
    _d_shadow_action(d, shadow_action)
    _d_ruleset(d, ruleset)
    _d_ban_scope(d, ban_scope)
    _d_ban_ttl(d, ban_ttl)
    _d_delay_s(d, delay_s)
    _d_difficulty(d, difficulty)
    _d_rate_limited(d, rate_limited)
    _d_retry_after_s(d, retry_after_s)
    _d_enforced(d, enforced)
    _d_reasons(d, reasons)
    _d_scores_by_class(d, scores_by_class)
    return d


def _action(
    total: int, forced: Action | None, hits: tuple[RuleHit, ...], limits: Thresholds, *, solved: bool,
    gate: str | None,
) -> tuple[Action, tuple[str, ...]]:
    """`gate`: None when a score-based block/ban is allowed, else why not (challenge before block)."""
    by_score = _action_for(limits, total, _ALL_THRESHOLDS)
    reasons = [f"score {total} -> {_VALUE[by_score]}"]
    if gate is not None and _SEVERITY[by_score] >= _BLOCK_SEVERITY:
        # Challenge before block: evidence about a crowd, a password or an account is also true of
        # the real users who share it; only this client's own behaviour may shut it out. Its own
        # refusal or failure of the puzzle is such evidence (challenge_refused, challenge_failed).
        gated = _action_for(limits, total, _BELOW_BLOCK)
        reasons.append(f"{_VALUE[by_score]} needs {gate} evidence, none here -> {_VALUE[gated]}")
        by_score = gated
    action = by_score
    if forced is Action.ALLOW:
        if by_score is not Action.BAN:
            action = Action.ALLOW
            reasons.append("allow rule: " + ",".join(h.id for h in hits if h.action is Action.ALLOW))
    elif forced is not None and _SEVERITY[forced] > _SEVERITY[by_score]:
        action = forced
        reasons.append(f"{_VALUE[forced]} rule: " + ",".join(h.id for h in hits if h.action is forced))
    if solved and action is Action.CHALLENGE:
        # a solved puzzle is never answered with another one: what is left is allow or tag
        tagged = (limits.tag is not None and total >= limits.tag) or forced is Action.TAG
        action = Action.TAG if tagged else Action.ALLOW
        reasons.append("challenge solved")
    return action, tuple(reasons)


# Thresholds.action_for without the enum's `.value` property per step (on every protected request):
# (action, its Thresholds field), harshest first; _BELOW_BLOCK is the same with block and ban off.
_ALL_THRESHOLDS = tuple((a, a.value) for a in reversed(THRESHOLD_ACTIONS))
_BELOW_BLOCK = tuple((a, name) for a, name in _ALL_THRESHOLDS if a not in (Action.BLOCK, Action.BAN))
_VALUE = {a: a.value for a in Action}
_SEVERITY = {a: a.severity for a in Action}
_BLOCK_SEVERITY = Action.BLOCK.severity


def _action_for(limits: Thresholds, score: int, order: tuple[tuple[Action, str], ...]) -> Action:
    """The harshest action of `order` whose threshold the score reaches, else allow (as Thresholds.action_for)."""
    for action, name in order:
        limit = getattr(limits, name)
        if limit is not None and score >= limit:
            return action
    return Action.ALLOW


def _by_class(hits: tuple[RuleHit, ...], policy: Policy) -> tuple[dict[str, int], int]:
    """The score of each evidence class that matched (after its cap), and the points the caps removed.

    A hit whose rule has no metadata (a policy built by hand) counts as client, as before classes.
    """
    if not hits:
        return {}, 0
    scores: dict[str, int] = {}
    caps = policy.evidence.caps
    positive: dict[EvidenceClass, int] = {}  # of the capped classes only
    class_of = _index(policy).classes
    for h in hits:
        cls = class_of.get(h.id, "client")
        score = h.score
        scores[cls] = scores.get(cls, 0) + score
        if score > 0 and cls in caps:
            positive[cls] = positive.get(cls, 0) + score
    over = 0
    for capped, points in positive.items():
        extra = points - caps[capped]
        if extra > 0:
            scores[capped] -= extra
            over += extra
    return scores, over


# policy object id -> (the policy, kept so the id stays its own; what decide reads of its rules). A rule
# set's policy is one object for its life: an identity lookup instead of rule metadata on every hit.
_INDEX: dict[int, tuple[Policy, _RuleIndex]] = {}


@dataclass(slots=True, frozen=True)
class _RuleIndex:
    classes: dict[str, EvidenceClass]  # rule id -> its evidence class
    rate: frozenset[str]  # the ids of the rules tagged `rate`


def _index(policy: Policy) -> _RuleIndex:
    hit = _INDEX.get(id(policy))
    if hit is not None and hit[0] is policy:
        return hit[1]
    index = _RuleIndex(
        classes={rule_id: meta.evidence for rule_id, meta in policy.rules.items()},
        rate=frozenset(rule_id for rule_id, meta in policy.rules.items() if RATE_TAG in meta.tags),
    )
    if len(_INDEX) >= 16:
        _INDEX.clear()  # a few reloads' worth; policies built per call (tests, tools) must not pile up
    _INDEX[id(policy)] = (policy, index)
    return index


def _may_block(by_class: dict[str, int], policy: Policy) -> str | None:
    """None when the classes allow a score-based block (a positive score from one of block_needs), else their names."""
    needs = policy.evidence.block_needs
    if not needs:
        return None
    for cls in needs:
        if by_class.get(cls, 0) > 0:
            return None
    return " or ".join(sorted(needs))


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
    rate = _index(policy).rate
    rate_score = 0
    for h in hits:
        if h.id in rate:
            if h.action is Action.BLOCK:
                return True
            if h.score > 0:
                rate_score += h.score
    return rate_score > 0 and limits.block is not None and total - rate_score < limits.block <= total


def difficulty(total: int, limits: Thresholds, policy: Policy, challenge: ChallengeSettings) -> int:
    """base_difficulty at the challenge threshold, one more bit per `difficulty_step` points, capped."""
    start = limits.challenge if limits.challenge is not None else total
    extra = max(0, total - start) // policy.difficulty_step
    return min(challenge.base_difficulty + extra, challenge.max_difficulty)
