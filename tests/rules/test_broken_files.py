"""Every broken file under tests/rules/broken/ gives its exact message, all at once, with its place."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from shield.commands.rules import Target, check
from shield.rules.load import load_rules
from shield.rules.source import RuleErrors

BROKEN = Path(__file__).parent / "broken"

EXPECTED = [
    "tests/rules/broken/classes.yaml:2:5: rule is missing 'class'"
    " (what it is evidence about: client, account, credential, crowd)",
    "tests/rules/broken/classes.yaml:9:12: class must be one of client, account, credential, crowd, not 'network'",
    "tests/rules/broken/classes.yaml:18:18: tag 'aggregate' was replaced by 'class: crowd'"
    " (policy.evidence says what a class may do)",
    "tests/rules/broken/facts.yaml:4:11: unknown fact 'ip.failure_10m' (did you mean 'ip.failures_10m'?)",
    "tests/rules/broken/facts.yaml:9:21: unknown list 'lists.hosting_asn' (did you mean 'lists.hosting_asns'?)",
    "tests/rules/broken/facts.yaml:16:7: unknown fact 'account.knwn' (did you mean 'account.known'?)",
    "tests/rules/broken/facts.yaml:21:19: unknown fact 'fp.reason' (did you mean 'fp.reasons'?)",
    "tests/rules/broken/patterns.yaml:4:33: bad regular expression: missing ), unterminated subpattern",
    "tests/rules/broken/patterns.yaml:9:36: bad network '10.0.0.0/33' in cidr()",
    "tests/rules/broken/patterns.yaml:14:11: unknown function 'cidr_match'",
    "tests/rules/broken/patterns.yaml:19:24: cannot run in linear time (RE2): lookaround (?!",
    "tests/rules/broken/policy.yaml:2:15: thresholds must grow with the action: challenge (40) <= delay (50)",
    "tests/rules/broken/policy.yaml:2:62: unknown key 'bann' in thresholds (did you mean 'ban'?)",
    "tests/rules/broken/policy.yaml:3:16: policy.retry_after must be positive",
    "tests/rules/broken/policy.yaml:4:3: policy.aggregate_cap was replaced by evidence classes: give each rule a"
    " 'class:' and cap a class with policy.evidence.caps (aggregate_cap: 80 is about evidence: {caps: {crowd: 80}})",
    "tests/rules/broken/policy.yaml:5:36: policy.evidence.block_needs: a class is one of client, account, credential,"
    " crowd, not 'network'",
    "tests/rules/broken/policy.yaml:5:60: policy.evidence.caps.crowd must be >= 0",
    "tests/rules/broken/policy.yaml:5:64: policy.evidence.caps: a class is one of client, account, credential, crowd,"
    " not 'everyone'",
    "tests/rules/broken/second_policy.yaml:1:1: a second policy section"
    " (the first is in tests/rules/broken/policy.yaml)",
    "tests/rules/broken/several.yaml:4:11: unknown fact 'ip.failure_10m' (did you mean 'ip.failures_10m'?)",
    "tests/rules/broken/several.yaml:4:35: unknown fact 'account.knwn' (did you mean 'account.known'?)",
    "tests/rules/broken/several.yaml:9:11: unknown list 'lists.hosting_asn' (did you mean 'lists.hosting_asns'?)",
    "tests/rules/broken/several.yaml:9:32: '>' compares numbers, but ua.family is a string",
    "tests/rules/broken/several.yaml:9:49: unknown function 'cidr_match'",
    "tests/rules/broken/several.yaml:14:18: unexpected 'ip.bad' (missing 'and' / 'or'?)",
    "tests/rules/broken/several.yaml:14:38: expected a value but found 'or'",
    "tests/rules/broken/several.yaml:14:41: unknown fact 'ip.tr' (did you mean 'ip.tor'?)",
    "tests/rules/broken/several.yaml:19:27: unexpected character '$'",
    "tests/rules/broken/several.yaml:19:42: unexpected character '&'",
    "tests/rules/broken/structure.yaml:2:5: rule is missing 'description'",
    "tests/rules/broken/structure.yaml:6:5: rule needs either 'score' or 'action' (not both)",
    "tests/rules/broken/structure.yaml:12:5: rule needs either 'score' or 'action' (not both)",
    "tests/rules/broken/structure.yaml:15:5: unknown key 'scroe' in a rule (did you mean 'score'?)",
    "tests/rules/broken/structure.yaml:20:13: action must be one of allow, tag, delay, challenge, block, ban,"
    " not 'destroy'",
    "tests/rules/broken/structure.yaml:26:11: mode must be enforce or shadow, not 'dry-run'",
    "tests/rules/broken/structure.yaml:32:5: 'ban' belongs to rules with 'action: ban'",
    "tests/rules/broken/structure.yaml:38:18: ban.scope must be one of ip, subnet, asn, account, fp, not 'planet'",
    "tests/rules/broken/structure.yaml:38:31: ban.ttl must be a duration such as 30s, 10m, 1h or 7d, not 'soon'",
    "tests/rules/broken/structure.yaml:40:9: duplicate rule id 'typo_fact' (first at tests/rules/broken/facts.yaml:2)",
    "tests/rules/broken/syntax.yaml:4:29: expected a value but found end of expression",
    "tests/rules/broken/syntax.yaml:9:28: expected ')' but found end of expression",
    "tests/rules/broken/syntax.yaml:14:18: unexpected 'ip.bad' (missing 'and' / 'or'?)",
    "tests/rules/broken/syntax.yaml:19:27: unexpected character '$'",
    "tests/rules/broken/types.yaml:6:11: '>' compares numbers, but ua.family is a string",
    "tests/rules/broken/types.yaml:11:11: 'in': ip.country is a string, which cannot be in a named list of int",
    "tests/rules/broken/types.yaml:16:11: a condition must be true or false, but this is a number",
    "tests/rules/broken/types.yaml:21:38: 'and' needs true/false on both sides, but this is a number",
    "tests/rules/broken/types.yaml:26:25: a list holds either numbers or strings, not a mix (and no true/false)",
    "tests/rules/broken/yaml_syntax.yaml:6:10: not valid YAML: did not find expected ',' or '}'",
]


def test_every_error_of_every_file_is_reported_with_its_place() -> None:
    with pytest.raises(RuleErrors) as caught:
        load_rules(BROKEN)
    root = str(BROKEN.parent.parent.parent) + "/"
    assert [str(e).replace(root, "") for e in caught.value.errors] == EXPECTED


def test_rules_check_exits_1_and_prints_every_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BROKEN.parent.parent.parent)
    out, err = io.StringIO(), io.StringIO()
    status = check(Target(Path("tests/rules/broken")), out, err)
    assert status == 1
    assert err.getvalue().splitlines() == [*EXPECTED, f"{len(EXPECTED)} errors"]
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no rule files (*.yaml) in the folder"),
        ({"a.yaml": "rules: 3\n"}, "rules must be a list"),
        ({"a.yaml": "- just\n- a list\n"}, "a rule file must be a mapping"),
        ({"a.yaml": "rulez: []\n"}, "unknown key 'rulez' in a rule file (did you mean 'rules'?)"),
    ],
    ids=["empty-folder", "rules-not-a-list", "top-level-list", "misspelt-section"],
)
def test_file_level_mistakes_are_explained(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    with pytest.raises(RuleErrors) as caught:
        load_rules(tmp_path)
    assert [e.message for e in caught.value.errors] == [message]


def test_missing_folder_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(RuleErrors) as caught:
        load_rules(tmp_path / "nope")
    assert caught.value.errors[0].message == "rules folder not found"


def test_unknown_route_is_reported_when_routes_are_known(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - id: r\n    description: d\n    class: client\n    when: ip.tor\n    score: 1\n"
        "    routes: [login, pay]\n"
    )
    with pytest.raises(RuleErrors) as caught:
        load_rules(tmp_path, routes=["login", "reset"])
    assert [str(e).split(": ", 1)[1] for e in caught.value.errors] == ["unknown route 'pay' (configured: login, reset)"]
