"""The bundled pack compiles, every rule has a description and a test case, and every case passes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shield.decision.ruletest import Case, describe, load_cases, run_case
from shield.facts.enrich.lists import load_lists
from shield.model import EVIDENCE_CLASSES, Action
from shield.rules.load import load_rules
from shield.rules.score import RuleSet
from shield.settings.schema import BUNDLED_RULES, DEFAULT_ROUTES, ChallengeSettings

CASES = load_cases(BUNDLED_RULES / "tests")


@pytest.fixture(scope="module")
def pack() -> RuleSet:
    return load_rules(
        BUNDLED_RULES, lists=load_lists(BUNDLED_RULES / "lists"), routes=[r.name for r in DEFAULT_ROUTES]
    )


@pytest.mark.parametrize("case", CASES, ids=[f"{Path(c.where).stem}:{c.name}" for c in CASES])
def test_bundled_case(pack: RuleSet, case: Case) -> None:
    result = run_case(pack, case)
    assert result.passed, describe(result)


def test_every_rule_has_a_description_and_a_case_that_matches_it(pack: RuleSet) -> None:
    matched = {h.id for case in CASES for h in run_case(pack, case).decision.hits}
    assert {r.id for r in pack.rules if not r.description.strip()} == set()
    assert {r.id for r in pack.rules} - matched == set()


def test_the_7pay_pattern_is_challenged_hard_and_blocked_once_it_shows_client_evidence(pack: RuleSet) -> None:
    """Mid-wave a 7pay request is crowd and account evidence only: challenged with a puzzle well above
    the base difficulty; the cases that block or ban have client evidence, and stay blocked after the solve credit."""
    challenge = ChallengeSettings()
    seven_pay = [c for c in CASES if Path(c.where).stem == "7pay" and c.facts["site.attack_level"] >= 2]
    stopped = [c for c in seven_pay if c.expect["action"] in ("block", "ban")]
    assert stopped
    for case in stopped:
        d = run_case(pack, case).decision
        assert d.scores_by_class.get("client", 0) > 0, case.name
        assert pack.policy.thresholds.block is not None
        assert d.score - challenge.solve_credit >= pack.policy.thresholds.block, case.name
    challenged = [d for c in seven_pay if c.expect["action"] == "challenge" and c.credit == 0
                  if (d := run_case(pack, c).decision).score >= pack.policy.thresholds.block]
    assert challenged  # a block by score, challenged for want of client evidence
    for d in challenged:
        assert d.scores_by_class.get("client", 0) <= 0
        assert d.difficulty >= challenge.base_difficulty + 3


def test_every_bundled_rule_declares_its_class() -> None:
    for path in sorted(BUNDLED_RULES.glob("*.yaml")):
        for rule in (yaml.safe_load(path.read_text()) or {}).get("rules", []):
            assert rule.get("class") in EVIDENCE_CLASSES, f"{path.name}: {rule['id']}"


@pytest.mark.parametrize("solved", [False, True], ids=["first-request", "solved"])
def test_password_and_pair_counters_alone_never_block(pack: RuleSet, solved: bool) -> None:
    """Every credential rule at once (a real user whose password is sprayed and whose pair leaked): never a block."""
    facts = dict(next(c for c in CASES if Path(c.where).stem == "spray").facts)
    huge = {f"{dim}.{measure}_{w}": 10_000 for dim in ("password", "pair")
            for measure in ("attempts", "failures", "distinct_accounts", "distinct_ips") for w in ("1h", "24h")}
    facts.update(huge)
    facts.update({"password.distinct_accounts_1h": 20, "account.familiar": True, "account.known": True})
    case = Case(name="credential only", where="-", facts=facts, credit=40 if solved else 0, solved=solved)
    d = run_case(pack, case).decision
    assert set(d.scores_by_class) == {"credential"}
    assert d.scores_by_class["credential"] >= 150
    assert d.action is (Action.TAG if solved else Action.CHALLENGE)


def test_a_case_can_expect_the_score_per_class_exactly(pack: RuleSet) -> None:
    case = next(c for c in CASES if "evidence" in c.expect)
    assert run_case(pack, case).passed
    wrong = Case(case.name, case.where, case.facts, expect={**case.expect, "evidence": {"crowd": 1}})
    assert run_case(pack, wrong).problems == (f"expected evidence {{'crowd': 1}}, got {case.expect['evidence']}",)
