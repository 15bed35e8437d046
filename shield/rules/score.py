"""Scoring: the compiled rule set applied to one request's facts. Pure, no I/O, no clock.

Rules are indexed by one guard each: a threshold the rule needs reached (`ip.failures_10m >= 20`:
rules on one counter are sorted by threshold and found by binary search), else a true/false
fact it needs true (`ip.overseas` in `ip.overseas and ...`), else a fact it needs present. A group of rules whose
guard fails is skipped with one dict lookup, so rules about travellers cost nothing on domestic
traffic. Equal sub-expressions share one memo slot per request (see condition.py).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from shield.model import DEFAULT_WINDOWS, Action, BanSpec, EvidenceClass, Facts, Policy, RuleHit, Verdict, Window
from shield.rules.values import UNSET, Fn, Gate


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
    evidence: EvidenceClass = "client"  # what the rule is evidence about (policy.evidence)
    reads: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    truthy: frozenset[str] = frozenset()
    gate: Gate | None = None
    path: str = ""
    line: int = 0
    hit: RuleHit = field(init=False)

    def __post_init__(self) -> None:
        # one immutable hit per rule, built once: scoring then allocates nothing per match
        object.__setattr__(self, "hit", RuleHit(self.id, self.score, self.action, self.shadow))


NO_GUARD, MUST_BE_TRUE, MUST_BE_PRESENT, REACH = 0, 1, 2, 3
# (guard kind, fact, rules, thresholds): for REACH the rules are sorted by threshold, and only
# those whose threshold is at most the fact's value are evaluated (found by binary search; a
# `> n` rule at exactly n is evaluated and is false, one group per fact keeps groups few).
Plan = tuple[tuple[int, str, tuple[Rule, ...], tuple[float, ...]], ...]


def _plan(rules: Iterable[Rule]) -> Plan:
    """Group rules by one guard each; the most popular candidate guard wins, so groups stay few."""
    rules = list(rules)
    truthy = Counter(f for r in rules for f in r.truthy)
    present = Counter(f for r in rules for f in r.required)
    groups: dict[tuple[int, str], list[Rule]] = {}
    for rule in rules:
        if rule.gate is not None:
            key = (REACH, rule.gate[0])
        elif rule.truthy:
            key = (MUST_BE_TRUE, max(sorted(rule.truthy), key=truthy.__getitem__))
        elif rule.required:
            key = (MUST_BE_PRESENT, max(sorted(rule.required), key=present.__getitem__))
        else:
            key = (NO_GUARD, "")
        groups.setdefault(key, []).append(rule)
    plan = []
    for (kind, name), members in groups.items():
        if kind == REACH:
            members.sort(key=lambda r: r.gate[2] if r.gate else 0.0)
        thresholds = tuple(r.gate[2] if r.gate else 0.0 for r in members)
        plan.append((kind, name, tuple(members), thresholds))
    return tuple(plan)


class RuleSet:
    """An immutable, compiled set of rules and its policy, identified by a short hash."""

    __slots__ = ("_default", "_plans", "hash", "lists", "memo_size", "policy", "reads", "rules", "windows")

    def __init__(
        self,
        rules: Sequence[Rule],
        policy: Policy,
        *,
        hash: str,
        memo_size: int = 0,
        lists: Sequence[str] = (),
        windows: Sequence[Window] = DEFAULT_WINDOWS,
    ) -> None:
        self.rules = tuple(rules)
        self.windows = tuple(windows)  # the counter windows the rules were compiled against
        self.policy = policy
        self.hash = hash
        self.memo_size = memo_size
        self.lists = tuple(lists)
        self.reads: frozenset[str] = frozenset().union(*(r.reads for r in self.rules))  # every fact any rule reads
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
        get = facts.get
        for kind, name, rules, thresholds in plan:
            if kind == REACH:  # the commonest guard first
                value = get(name)
                if value.__class__ is not int and value.__class__ is not float:
                    continue  # absent (or not a number: the comparison would be false or an error)
                if value < thresholds[0]:
                    continue  # below every threshold (counters at zero: the common case)
                if len(thresholds) > 1:
                    rules = rules[: bisect_right(thresholds, value)]
            elif kind == MUST_BE_TRUE:
                if get(name) is not True:
                    continue
            elif kind == MUST_BE_PRESENT and name not in facts:
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
