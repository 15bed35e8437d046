"""Scoring: the compiled rule set applied to one request's facts. Pure, no I/O, no clock.

Rules are indexed by one guard each: a threshold the rule needs reached (`ip.failures_10m >= 20`:
rules on one counter are sorted by threshold and only those reached are evaluated), else a true/false
fact it needs true (`ip.overseas` in `ip.overseas and ...`), else a fact it needs present. A group of rules whose
guard fails is skipped with one dict lookup, so rules about travellers cost nothing on domestic
traffic. Equal sub-expressions share one memo slot per request (see condition.py). What matched is
a bit mask, and each mask's Verdict is built once: a few dozen recur over millions of requests.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from shield.model import (
    DEFAULT_WINDOWS,
    Action,
    BanSpec,
    EvidenceClass,
    Facts,
    FactValue,
    Policy,
    RuleHit,
    Verdict,
    Window,
)
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


# Final: compiled code reads them as constants, not as one module-dict lookup per group per request.
NO_GUARD: Final = 0
MUST_BE_TRUE: Final = 1
MUST_BE_PRESENT: Final = 2
REACH: Final = 3
# security: verdicts are cached by the set of rules that matched; facts an attacker shapes could bring
# many sets, so a plan keeps at most this many (and starts over when full).
VERDICT_CACHE_SIZE: Final = 4096


class _Group:
    """Rules that share one guard. For REACH the rules are sorted by threshold, and only those whose
    threshold is at most the fact's value are evaluated (a `> n` rule at exactly n is evaluated and
    is false, one group per fact keeps groups few)."""

    __slots__ = ("bits", "checks", "floor", "kind", "name", "thresholds", "whole")

    def __init__(self, kind: int, name: str, rules: Sequence[Rule], bits: Sequence[int]) -> None:
        self.kind = kind
        self.name = name
        self.checks: tuple[Fn, ...] = tuple(r.check for r in rules)
        self.bits: tuple[int, ...] = tuple(bits)  # each rule's bit in a plan's match mask
        self.thresholds: tuple[float, ...] = tuple(r.gate[2] if r.gate else 0.0 for r in rules)
        # the thresholds rounded up: for an int value v, v >= t exactly when v >= ceil(t) (no float per request)
        self.whole: tuple[int, ...] = tuple(math.ceil(t) for t in self.thresholds)
        self.floor: int = self.whole[0]


class _Plan:
    """The groups of one route's rules, their order for hits, and the verdicts of the match masks seen."""

    __slots__ = ("groups", "order", "verdicts")

    def __init__(self, rules: Iterable[Rule]) -> None:
        groups = _grouped(rules)
        self.groups: tuple[_Group, ...] = ()
        order: list[tuple[Rule, int]] = []  # every rule in evaluation order, with its bit
        for kind, name, members in groups:
            bits = [1 << (len(order) + i) for i in range(len(members))]
            order.extend(zip(members, bits, strict=True))
            self.groups += (_Group(kind, name, members, bits),)
        self.order: tuple[tuple[Rule, int], ...] = tuple(order)
        # the match mask (a bit per rule that matched) -> its Verdict: a few dozen masks recur in millions of requests
        self.verdicts: dict[int, Verdict] = {}

    def verdict(self, mask: int) -> Verdict:
        """The Verdict of the rules in `mask`, their hits in evaluation order; built once per mask."""
        found = self.verdicts.get(mask)
        if found is not None:
            return found
        total = 0
        hits: list[RuleHit] = []
        shadow_hits: list[RuleHit] = []
        forced: Action | None = None
        shadow_forced: Action | None = None
        for rule, bit in self.order:
            if not mask & bit:
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
        made = Verdict(total, tuple(hits), tuple(shadow_hits), forced, shadow_forced)
        if len(self.verdicts) >= VERDICT_CACHE_SIZE:
            self.verdicts = {}
        self.verdicts[mask] = made
        return made


def _grouped(rules: Iterable[Rule]) -> list[tuple[int, str, list[Rule]]]:
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
        plan.append((kind, name, members))
    return plan


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
        self._default = _Plan(r for r in self.rules if r.routes is None)
        self._plans = {route: _Plan(r for r in self.rules if r.routes is None or route in r.routes) for route in routes}

    def __len__(self) -> int:
        return len(self.rules)

    def by_id(self) -> Mapping[str, Rule]:
        return {r.id: r for r in self.rules}

    def score(self, facts: Facts, route: str) -> Verdict:
        """The Verdict of the rules that match: each group's guard first (one lookup skips the group),
        then its rules; what matched is a mask, whose Verdict is built once (_Plan.verdict)."""
        plan = self._plans.get(route, self._default)
        memo = [UNSET] * self.memo_size
        mask = 0
        # a dict, read by compiled code without a method call per lookup (explain and tests may pass any mapping)
        known: dict[str, FactValue] = facts if isinstance(facts, dict) else dict(facts)
        for group in plan.groups:
            checks = group.checks
            kind = group.kind
            if kind == REACH:  # the commonest guard first
                value = known.get(group.name)
                if isinstance(value, int):
                    if isinstance(value, bool) or value < group.floor:
                        continue  # not a number, or below every threshold (counters at zero: the common case)
                    whole = group.whole
                    n = 1
                    while n < len(whole) and whole[n] <= value:
                        n += 1
                elif isinstance(value, float):
                    thresholds = group.thresholds
                    if value < thresholds[0]:
                        continue
                    n = 1
                    while n < len(thresholds) and thresholds[n] <= value:
                        n += 1
                else:
                    continue  # absent (or not a number: the comparison would be false or an error)
                if n < len(checks):
                    checks = checks[:n]
            elif kind == MUST_BE_TRUE:
                if known.get(group.name) is not True:
                    continue
            elif kind == MUST_BE_PRESENT and group.name not in known:
                continue
            bits = group.bits
            for i, check in enumerate(checks):
                try:
                    matched = check(known, memo)
                except (TypeError, ValueError, AttributeError):
                    # security: a fact of the wrong type from a producer must not break scoring of the rest
                    matched = False
                if matched:
                    mask |= bits[i]
        return plan.verdict(mask)


def _harsher(a: Action, b: Action) -> bool:
    return a.severity > b.severity
