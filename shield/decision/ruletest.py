"""Rule tests: YAML cases next to the rules (rules/tests/*.yaml), run by `shield rules test` and pytest.

    defaults:                        # facts shared by every case of the file (optional)
      ip.country: JP
    cases:
      - name: carrier NAT user mistyping twice
        route: login                 # default: login
        facts: {ip.asn: 64500, account.known: true, account.familiar: true}
        counters: {ip.distinct_accounts_1h: 300, account.failures_familiar_1h: 2}
        credit: 0                    # optional; solved: true re-scores a solved challenge
        expect:
          action: allow
          rules: []                  # exact set of enforcing rules that matched (optional)
          includes: [some_rule]      # or: these matched (optional), excludes: these did not
          rate_limited: false        # optional
          evidence: {client: 0}      # optional: the score per evidence class, exactly

Counters missing from a case are 0 (ip/device.stopped_<w> are derived from the case's counters
unless given) and the site is calm (attack level 0); every other fact
missing from a case is absent, as it is in production when nothing could be known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shield.decision.evaluate import evaluate
from shield.decision.stopped import stopped_facts
from shield.facts.catalog import FactSpec, catalog, counter_names
from shield.model import DEFAULT_WINDOWS, Action, Decision, FactValue, Window
from shield.rules.ruletest_schema import CASE_KEYS, EXPECT_KEYS
from shield.rules.score import Rule, RuleSet
from shield.rules.source import RuleErrors, Source, boolean, check_keys, integer, mapping, scalar, sequence
from shield.settings import yaml_reader
from shield.settings.schema import ChallengeSettings, RouteSettings

_TYPE_WORDS = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "str": "a string",
    "ip": "an IP address",
    "strset": "a list of strings",
}
CALM_SITE: Mapping[str, FactValue] = {
    "site.attack_level": 0,
    "site.failure_ratio_5m": 0.0,
    "site.failure_ratio_24h": 0.0,
    "site.unknown_ratio_5m": 0.0,
    "site.unknown_ratio_24h": 0.0,
}


@dataclass(slots=True, frozen=True)
class Case:
    name: str
    where: str  # path:line
    facts: Mapping[str, FactValue]
    route: str = "login"
    credit: int = 0
    solved: bool = False
    expect: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class CaseResult:
    case: Case
    decision: Decision
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def load_cases(folder: Path, windows: Sequence[Window] = DEFAULT_WINDOWS) -> list[Case]:
    """Every case of folder/*.yaml; raises RuleErrors with every problem of every file."""
    specs = catalog(windows)
    zeros: dict[str, FactValue] = {**dict.fromkeys(counter_names(windows), 0), **CALM_SITE}
    cases: list[Case] = []
    errors = []
    files = sorted(p for p in folder.glob("*.y*ml") if p.is_file()) if folder.is_dir() else []
    for path in files:
        src = Source(str(path), path.read_text(encoding="utf-8"))
        cases += _read_file(src, specs, zeros, windows)
        errors += src.errors
    if errors:
        raise RuleErrors(errors)
    return cases


def _read_file(
    src: Source, specs: Mapping[str, FactSpec], zeros: Mapping[str, FactValue], windows: Sequence[Window],
) -> list[Case]:
    root = src.compose()
    top = mapping(src, root, "a rule test file") if root is not None else None
    if top is None:
        return []
    check_keys(src, top, ("defaults", "cases"), "a rule test file")
    defaults = _facts(src, top["defaults"][1], specs) if "defaults" in top else {}
    out = []
    for node in sequence(src, top["cases"][1], "cases") if "cases" in top else ():
        items = mapping(src, node, "a case")
        if items is None:
            continue
        check_keys(src, items, CASE_KEYS, "a case")
        given = dict(defaults)
        for key in ("counters", "facts"):
            if key in items:
                given.update(_facts(src, items[key][1], specs))
        facts = {**zeros, **given}
        # derived from the counters as the pipeline derives them, unless the case gives them
        counts = {k: v for k, v in facts.items() if isinstance(v, int) and not isinstance(v, bool)}
        facts.update({k: v for k, v in stopped_facts(counts, windows).items() if k not in given})
        name = scalar(src, items["name"][1], "name") if "name" in items else None
        if name is None or "expect" not in items:
            src.error(node, "a case needs a name and an expect")
            continue
        out.append(Case(
            name=name,
            where=f"{src.path}:{node.start_mark.line + 1}",
            facts=facts,
            route=(scalar(src, items["route"][1], "route") or "login") if "route" in items else "login",
            credit=(integer(src, items["credit"][1], "credit") or 0) if "credit" in items else 0,
            solved=bool(boolean(src, items["solved"][1], "solved")) if "solved" in items else False,
            expect=_expect(src, items["expect"][1]),
        ))
    return out


def _facts(src: Source, node: yaml.Node, specs: Mapping[str, FactSpec]) -> dict[str, FactValue]:
    out: dict[str, FactValue] = {}
    for name, (knode, vnode) in (mapping(src, node, "facts") or {}).items():
        spec = specs.get(name)
        if spec is None:
            src.error(knode, f"unknown fact '{name}'")
            continue
        value = yaml_reader.construct(vnode, file=src.path)
        checked = _typed(value, spec.type)
        if checked is None:
            src.error(vnode, f"{name} must be {_TYPE_WORDS[spec.type]}, not {value!r}")
            continue
        out[name] = checked
    return out


def _typed(value: Any, typ: str) -> FactValue | None:
    if typ == "bool":
        return value if isinstance(value, bool) else None
    if typ in ("int", "float"):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return value if number and (typ == "float" or isinstance(value, int)) else None
    if typ == "strset":
        return frozenset(str(v) for v in value) if isinstance(value, list) else None
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _expect(src: Source, node: yaml.Node) -> dict[str, Any]:
    items = mapping(src, node, "expect") or {}
    check_keys(src, items, EXPECT_KEYS, "expect")
    out: dict[str, Any] = {}
    for key, (_, vnode) in items.items():
        value = yaml_reader.construct(vnode, file=src.path)
        if key == "action" and value not in {a.value for a in Action}:
            src.error(vnode, f"expect.action must be one of {', '.join(a.value for a in Action)}")
        elif key == "evidence" and not (
            isinstance(value, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values())
        ):
            src.error(vnode, "expect.evidence must map classes to whole numbers, e.g. {client: 50, crowd: 80}")
        elif key in ("rules", "includes", "excludes", "shadow_rules") and not isinstance(value, list):
            src.error(vnode, f"expect.{key} must be a list of rule ids")
        out[key] = value
    return out


def run_case(ruleset: RuleSet, case: Case, *, challenge: ChallengeSettings | None = None) -> CaseResult:
    """Decide the case through evaluate(), the pipeline's path; its `credit` is the case's own (no pass)."""
    decision = evaluate(ruleset, case.facts, RouteSettings(name=case.route, path=""),
                        challenge=challenge or ChallengeSettings(), credit=case.credit, solved=case.solved)
    return CaseResult(case, decision, tuple(_check(case.expect, decision, set(ruleset.by_id()))))


def untested(ruleset: RuleSet, results: Sequence[CaseResult]) -> list[Rule]:
    """The rules no case matched (enforcing or shadow), in file order."""
    matched = {h.id for r in results for h in (*r.decision.hits, *r.decision.shadow_hits)}
    return [rule for rule in ruleset.rules if rule.id not in matched]


def _check(expect: Mapping[str, Any], d: Decision, known: set[str]) -> list[str]:
    problems = []
    hit = {h.id for h in d.hits}
    listed = {r for k in ("rules", "includes", "excludes", "shadow_rules") for r in expect.get(k) or ()}
    problems += [f"no rule named '{r}'" for r in sorted(listed - known)]
    if "action" in expect and d.action.value != expect["action"]:
        problems.append(f"expected {expect['action']}, got {d.action.value}")
    if "rules" in expect and hit != set(expect["rules"] or ()):
        problems.append(f"expected rules {sorted(expect['rules'] or ())}, got {sorted(hit)}")
    if missing := set(expect.get("includes") or ()) - hit:
        problems.append(f"expected to include {sorted(missing)}")
    if extra := set(expect.get("excludes") or ()) & hit:
        problems.append(f"expected not to match {sorted(extra)}")
    shadow = sorted(h.id for h in d.shadow_hits)
    if "shadow_rules" in expect and set(shadow) != set(expect["shadow_rules"] or ()):
        problems.append(f"expected shadow rules {sorted(expect['shadow_rules'] or ())}, got {shadow}")
    if "rate_limited" in expect and d.rate_limited != expect["rate_limited"]:
        problems.append(f"expected rate_limited {expect['rate_limited']}, got {d.rate_limited}")
    if "score" in expect and d.score != expect["score"]:
        problems.append(f"expected score {expect['score']}, got {d.score}")
    if "evidence" in expect and dict(d.scores_by_class) != expect["evidence"]:
        problems.append(f"expected evidence {expect['evidence']}, got {dict(d.scores_by_class)}")
    return problems


def describe(result: CaseResult) -> str:
    """One line per case: PASS/FAIL, where, name, and on failure what differed and why."""
    d = result.decision
    status = "PASS" if result.passed else "FAIL"
    line = f"{status} {result.case.where} {result.case.name}: {d.action.value} (score {d.score})"
    if not result.passed:
        rules = ", ".join(f"{h.id} {h.score:+d}" if h.action is None else f"{h.id} {h.action.value}" for h in d.hits)
        line += f" -- {'; '.join(result.problems)} [matched: {rules or 'none'}]"
    return line
