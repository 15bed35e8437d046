"""explain: every fact, every matched rule with its score and place, the total and the action."""

from __future__ import annotations

from shield.decision.evaluate import evaluate
from shield.decision.explain import Explanation, explanation, render
from shield.model import Action, Facts
from shield.rules.load import load_texts
from shield.rules.score import RuleSet
from shield.settings.schema import ChallengeSettings, RouteSettings

RULES = """
policy:
  thresholds: {tag: 30, delay: 50, challenge: 60, block: 90, ban: 150}
rules:
  - id: overseas
    description: from abroad
    class: client
    when: ip.overseas
    score: 40
  - id: tor
    description: a tor exit
    class: crowd
    when: ip.tor
    score: 30
  - id: new_rule
    description: being tried
    class: client
    when: ip.failures_10m >= 1
    score: 50
    mode: shadow
"""


def explain(rs: RuleSet, facts: Facts, route: str) -> Explanation:
    decision = evaluate(rs, facts, RouteSettings(name=route, path=""), challenge=ChallengeSettings())
    return explanation(rs, route, facts, decision)


def test_explanation_lists_facts_rules_total_and_action() -> None:
    rs = load_texts({"rules/r.yaml": RULES}, lists={})
    facts = {"ip.overseas": True, "ip.tor": True, "ip.failures_10m": 2, "ip.country": "DE"}
    e = explain(rs, facts, "login")
    assert [r.id for r in e.matched] == ["overseas", "tor"]
    assert [r.id for r in e.shadow] == ["new_rule"]
    assert (e.decision.action, e.decision.score, e.decision.shadow_action) == (Action.CHALLENGE, 70, Action.BLOCK)
    assert render(e).splitlines() == [
        f"route login  rule set {rs.hash}",
        "",
        "facts:",
        "  ip.country       'DE'",
        "  ip.failures_10m  2",
        "  ip.overseas      true",
        "  ip.tor           true",
        "",
        "rules matched:",
        "     +40  overseas  (rules/r.yaml:5)  from abroad",
        "     +30  tor  (rules/r.yaml:10)  a tor exit",
        "",
        "shadow rules matched (not enforced):",
        "     +50  new_rule  (rules/r.yaml:15)",
        "",
        "total score 70 -> challenge",
        "evidence: client +40, crowd +30",
        "with shadow rules: block",
        "  difficulty=16",
        "  because: score 70 -> challenge",
    ]


def test_zero_counters_can_be_left_out() -> None:
    rs = load_texts({"r.yaml": RULES}, lists={})
    text = render(explain(rs, {"ip.failures_10m": 0, "ip.tor": False}, "login"), all_facts=False)
    assert "ip.failures_10m" not in text
    assert "  ip.tor  false" in text
    assert "rules matched: none" in text
