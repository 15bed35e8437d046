"""Replay: score recorded `decision` lines again against a candidate rule set and config.

Each line's facts on record (shield.observe.fact_record) go through evaluate(), the very path the
pipeline decides with, and the new action is compared with the recorded one. Pure apart from
the caller feeding lines: no clock, no I/O, so a replay of the same logs gives the same diff.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

import orjson

from shield.decision.decide import decide
from shield.decision.evaluate import Decider, evaluate
from shield.facts.catalog import catalog, counter_names
from shield.model import Decision, FactValue, Policy, Verdict
from shield.observe.fact_record import FACTS_SCHEMA
from shield.rules.score import RuleSet
from shield.settings.schema import ChallengeSettings, RouteSettings, Settings

POLICY = "(policy)"  # a change no rule's hit explains: thresholds, credits, on_store_error
_MARK = b'"decision"'


@dataclass(slots=True, frozen=True)
class Change:
    """One recorded decision whose action the candidate changes."""

    log: str
    line: int
    request_id: str
    ts: str | None
    route: str
    client_ip: str | None
    account_id: str | None
    before: str
    after: str
    score_before: int
    score_after: int
    rules: tuple[str, ...]  # the rules whose effect differs (matched, no longer matched, rescored)

    @property
    def where(self) -> str:
        return f"{self.log}:{self.line}"

    @property
    def transition(self) -> str:
        return f"{self.before}->{self.after}"


@dataclass(slots=True)
class ReplayDiff:
    """What the candidate would have done differently, counted and with every change."""

    ruleset: str
    lines: int = 0
    decisions: int = 0
    replayed: int = 0
    rescored: int = 0  # same action, another score
    skipped: Counter[str] = field(default_factory=Counter)
    recorded_rulesets: Counter[str] = field(default_factory=Counter)
    transitions: Counter[str] = field(default_factory=Counter)
    by_rule: dict[str, Counter[str]] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    on_record: set[str] = field(default_factory=set)  # fact names seen in `rules`-scope records
    rules_scope: int = 0

    def merge(self, other: ReplayDiff, *, line_offset: int = 0) -> None:
        """Add a later part's counts and changes (its line numbers moved down by `line_offset`)."""
        self.lines += other.lines
        self.decisions += other.decisions
        self.replayed += other.replayed
        self.rescored += other.rescored
        self.rules_scope += other.rules_scope
        for mine, theirs in ((self.skipped, other.skipped), (self.recorded_rulesets, other.recorded_rulesets),
                             (self.transitions, other.transitions)):
            mine.update(theirs)
        for rule, counts in other.by_rule.items():
            self.by_rule.setdefault(rule, Counter()).update(counts)
        self.changes += [replace(c, line=c.line + line_offset) for c in other.changes]
        self.on_record |= other.on_record

    def unrecorded(self, reads: frozenset[str]) -> list[str]:
        """Facts the candidate reads that no `rules`-scope record carried (replayed as absent)."""
        return sorted(reads - self.on_record) if self.rules_scope else []

    def as_json(self) -> dict[str, Any]:
        return {
            "ruleset": self.ruleset, "lines": self.lines, "decisions": self.decisions, "replayed": self.replayed,
            "changed": len(self.changes), "rescored": self.rescored, "skipped": dict(self.skipped),
            "recorded_rulesets": dict(self.recorded_rulesets), "transitions": dict(self.transitions),
            "by_rule": {rule: dict(c) for rule, c in sorted(self.by_rule.items())},
            "changes": [
                {"where": c.where, "request_id": c.request_id, "ts": c.ts, "route": c.route, "client_ip": c.client_ip,
                 "account_id": c.account_id, "before": c.before, "after": c.after, "score_before": c.score_before,
                 "score_after": c.score_after, "rules": list(c.rules)}
                for c in self.changes
            ],
        }


def _memoised_decide(policy: Policy) -> Decider:
    """decide() for one policy, memoised on what varies (pure, so a cached Decision is the same Decision)."""

    @lru_cache(maxsize=1 << 16)
    def cached(verdict: Verdict, route: str, challenge: ChallengeSettings, mode: Literal["enforce", "shadow"],
               credit: int, solved: bool) -> Decision:
        return decide(verdict, route, policy, challenge=challenge, mode=mode, credit=credit, solved=solved)

    def decider(verdict: Verdict, route: str, policy: Policy, *, challenge: ChallengeSettings,
                mode: Literal["enforce", "shadow"], credit: int, solved: bool) -> Decision:
        return cached(verdict, route, challenge, mode, credit, solved)

    return decider


class Replayer:
    """Feed it log lines; it keeps the diff. Non-decision lines are counted and passed over."""

    def __init__(self, ruleset: RuleSet, settings: Settings) -> None:
        self.ruleset = ruleset
        self.settings = settings
        self.routes: dict[str, RouteSettings] = {r.name: r for r in settings.routes}
        self.zeros: dict[str, FactValue] = dict.fromkeys(counter_names(settings.windows), 0)
        self.strsets = tuple(s.name for s in catalog(settings.windows).values() if s.type == "strset")
        self.diff = ReplayDiff(ruleset.hash)
        self.mode: Literal["enforce", "shadow"] = "enforce"  # the action does not depend on it
        self._decide = _memoised_decide(ruleset.policy)

    def feed(self, raw: bytes, log: str, line: int) -> None:
        diff = self.diff
        diff.lines += 1
        if _MARK not in raw:
            return
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            diff.skipped["not JSON"] += 1
            return
        if not isinstance(doc, dict) or doc.get("event") != "decision":
            return
        diff.decisions += 1
        record = doc.get("facts")
        if not isinstance(record, dict):
            diff.skipped["no facts on record"] += 1
            return
        if record.get("v") != FACTS_SCHEMA:
            diff.skipped[f"facts schema {record.get('v')!r}"] += 1
            return
        try:
            self._replay(doc, record, (log, line))
        except (KeyError, TypeError, ValueError, AttributeError):
            diff.skipped["malformed line"] += 1

    def _replay(self, line: dict[str, Any], record: dict[str, Any], where: tuple[str, int]) -> None:
        values = record["values"]
        name = line["route"]
        if not (isinstance(values, dict) and isinstance(name, str) and isinstance(line["action"], str)):
            raise ValueError("not a decision line shield wrote")
        for fact in self.strsets:
            if fact in values:
                values[fact] = frozenset(values[fact])
        if record.get("scope") == "catalog":
            facts: Mapping[str, Any] = {**self.zeros, **values}
        else:
            self.diff.on_record.update(values)
            self.diff.rules_scope += 1
            facts = values
        route = self.routes.get(name) or RouteSettings(name=name, path="")
        decision = evaluate(
            self.ruleset, facts, route, challenge=self.settings.challenge, mode=self.mode, banned=record.get("ban"),
            solved=values.get("challenge.solved") is True, passed=values.get("challenge.passed") is True,
            degraded=line.get("store_degraded") is True, decider=self._decide,
        )
        self.diff.replayed += 1
        self.diff.recorded_rulesets[str(line.get("ruleset"))] += 1
        self._compare(line, decision, where)

    def _compare(self, line: dict[str, Any], d: Decision, where: tuple[str, int]) -> None:
        before, after = line["action"], d.action.value
        if before == after:
            if line.get("score") != d.score:
                self.diff.rescored += 1
            return
        recorded = {(r["id"], r["score"]) for r in line.get("rules") or ()}
        now = {(h.id, h.score) for h in d.hits}
        rules = tuple(sorted({rid for rid, _ in recorded ^ now})) or (POLICY,)
        change = Change(
            log=where[0], line=where[1], request_id=str(line.get("request_id")), ts=line.get("ts"), route=line["route"],
            client_ip=line.get("client_ip"), account_id=line.get("account_id"), before=before, after=after,
            score_before=int(line.get("score") or 0), score_after=d.score, rules=rules,
        )
        self.diff.changes.append(change)
        self.diff.transitions[change.transition] += 1
        for rule in rules:
            self.diff.by_rule.setdefault(rule, Counter())[change.transition] += 1
