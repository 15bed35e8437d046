"""Scoring: the compiled rule set applied to one request's facts. Pure, no I/O, no clock.

Rules are grouped by the facts they require (facts whose absence makes the rule false), so a
group whose facts are missing is skipped with one lookup per fact; equal sub-expressions share
one memo slot per request (see condition.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from shield.model import Action, Facts, RuleHit, Verdict
from shield.rules.policy import BanSpec, Policy
from shield.rules.values import UNSET, Fn


@dataclass(slots=True, frozen=True)
class Rule:
    id: str
    description: str
    when: str
    check: Fn
    score: int = 0
    action: Action | None = None
    ban: BanSpec | None = None
    routes: frozenset[str] | None = None  # None: every protected route
    tags: frozenset[str] = frozenset()
    shadow: bool = False
    reads: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    path: str = ""
    line: int = 0
    hit: RuleHit = field(init=False)

    def __post_init__(self) -> None:
        # one immutable hit per rule, built once: scoring then allocates nothing per match
        object.__setattr__(self, "hit", RuleHit(self.id, self.score, self.action, self.shadow))


Plan = tuple[tuple[tuple[str, ...], tuple[Rule, ...]], ...]


def _plan(rules: Iterable[Rule]) -> Plan:
    groups: dict[tuple[str, ...], list[Rule]] = {}
    for rule in rules:
        groups.setdefault(tuple(sorted(rule.required)), []).append(rule)
    return tuple((req, tuple(rs)) for req, rs in groups.items())


class RuleSet:
    """An immutable, compiled set of rules and its policy, identified by a short hash."""

    __slots__ = ("_default", "_plans", "hash", "lists", "memo_size", "policy", "rules")

    def __init__(
        self,
        rules: Sequence[Rule],
        policy: Policy,
        *,
        hash: str,
        memo_size: int = 0,
        lists: Sequence[str] = (),
    ) -> None:
        self.rules = tuple(rules)
        self.policy = policy
        self.hash = hash
        self.memo_size = memo_size
        self.lists = tuple(lists)
        routes = {r for rule in self.rules for r in (rule.routes or ())}
        self._default = _plan(r for r in self.rules if r.routes is None)
        self._plans = {route: _plan(r for r in self.rules if r.routes is None or route in r.routes) for route in routes}

    def __len__(self) -> int:
        return len(self.rules)

    def by_id(self) -> Mapping[str, Rule]:
        return {r.id: r for r in self.rules}

    def score(self, facts: Facts, route: str) -> Verdict:
        plan = self._plans.get(route, self._default)
        memo = [UNSET] * self.memo_size
        total = 0
        hits: list[RuleHit] = []
        shadow_hits: list[RuleHit] = []
        forced: Action | None = None
        shadow_forced: Action | None = None
        for required, rules in plan:
            if any(name not in facts for name in required):
                continue
            for rule in rules:
                try:
                    matched = rule.check(facts, memo)
                except (TypeError, ValueError, AttributeError):
                    # security: a fact of the wrong type from a producer must not break scoring of the rest
                    matched = False
                if not matched:
                    continue
                if rule.shadow:
                    shadow_hits.append(rule.hit)
                    if rule.action is not None and (shadow_forced is None or _harsher(rule.action, shadow_forced)):
                        shadow_forced = rule.action
                    continue
                hits.append(rule.hit)
                total += rule.score
                if rule.action is not None and (forced is None or _harsher(rule.action, forced)):
                    forced = rule.action
        return Verdict(total, tuple(hits), tuple(shadow_hits), forced, shadow_forced)


def _harsher(a: Action, b: Action) -> bool:
    return a.severity > b.severity
