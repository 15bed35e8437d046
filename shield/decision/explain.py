"""explain: every fact, every rule that matched with its score, the total and the action, for one request.

Pure. `shield explain` (CLI and admin) turns a request description into a DescribedRequest and
calls `explain`, which decides through evaluate_request, the pipeline's own path: bans, challenge
credits and forced facts count as they would live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from shield.decision.evaluate import evaluate_request
from shield.decision.explain_request import DescribedRequest
from shield.model import EVIDENCE_CLASSES, Decision, Facts, FactValue
from shield.rules.score import Rule, RuleSet
from shield.settings.schema import ChallengeSettings


@dataclass(slots=True, frozen=True)
class Explanation:
    route: str
    facts: tuple[tuple[str, FactValue], ...]  # sorted by name
    matched: tuple[Rule, ...]  # enforcing rules that matched, in file order
    shadow: tuple[Rule, ...]
    decision: Decision
    ruleset: str


def explain(
    ruleset: RuleSet,
    described: DescribedRequest,
    *,
    challenge: ChallengeSettings,
    now: float,
    mode: Literal["enforce", "shadow"] = "enforce",
    degraded: bool = False,
) -> Explanation:
    """A described request decided as the pipeline decides it (evaluate_request), explained."""
    d = described
    e = evaluate_request(
        ruleset, d.rf.facts, d.route, d.signals, challenge=challenge, now=now, mode=mode, solved=d.solved,
        passed=d.passed, failed=d.failed, degraded=degraded, forced=d.forced,
    )
    return explanation(ruleset, d.route.name, e.facts, e.decision)


def explanation(ruleset: RuleSet, route: str, facts: Facts, decision: Decision) -> Explanation:
    """The report of a decision already made: the rules behind its hits, with their places."""
    by_id: Mapping[str, Rule] = ruleset.by_id()
    return Explanation(
        route=route,
        facts=tuple(sorted(facts.items())),
        matched=tuple(by_id[h.id] for h in decision.hits),
        shadow=tuple(by_id[h.id] for h in decision.shadow_hits),
        decision=decision,
        ruleset=ruleset.hash,
    )


def _show(value: FactValue) -> str:
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(value)) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def _zero(value: FactValue) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and value == 0


def _effect(rule: Rule) -> str:
    return f"{rule.score:+d}" if rule.action is None else rule.action.value


def render(e: Explanation, *, all_facts: bool = True) -> str:
    """The text report. all_facts=False leaves out counters that are zero."""
    d = e.decision
    lines = [f"route {e.route}  rule set {e.ruleset}", "", "facts:"]
    shown = [(k, v) for k, v in e.facts if all_facts or not _zero(v)]
    width = max((len(k) for k, _ in shown), default=0)
    lines += [f"  {k.ljust(width)}  {_show(v)}" for k, v in shown]
    lines += ["", "rules matched:" if e.matched else "rules matched: none"]
    lines += [f"  {_effect(r).rjust(6)}  {r.id}  ({r.path}:{r.line})  {r.description}" for r in e.matched]
    if e.shadow:
        lines += ["", "shadow rules matched (not enforced):"]
        lines += [f"  {_effect(r).rjust(6)}  {r.id}  ({r.path}:{r.line})" for r in e.shadow]
    lines += ["", f"total score {d.score} -> {d.action.value}"]
    if d.scores_by_class:
        by_class = d.scores_by_class
        lines.append("evidence: " + ", ".join(f"{c} {by_class[c]:+d}" for c in EVIDENCE_CLASSES if c in by_class))
    if d.shadow_action is not None:
        lines.append(f"with shadow rules: {d.shadow_action.value}")
    details = {"delay_s": d.delay_s, "difficulty": d.difficulty, "retry_after_s": d.retry_after_s, "ban_ttl": d.ban_ttl}
    extra = [f"{k}={v:g}" for k, v in details.items() if v]
    if d.ban_scope:
        extra.insert(0, f"ban_scope={d.ban_scope}")
    if extra:
        lines.append("  " + " ".join(extra))
    lines += [f"  because: {r}" for r in d.reasons]
    return "\n".join(lines) + "\n"
