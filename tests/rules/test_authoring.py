"""Rule authoring: `rules check|test --config`, `rules test --coverage/--strict`, the rule test file schema."""

from __future__ import annotations

import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from shield.cli import main
from shield.rules.ruletest_schema import rule_test_schema
from shield.settings.schema import BUNDLED_RULES

ONE_RULE = """rules:
  - {id: tested, description: t, class: client, when: ip.tor, score: 40}
  - {id: forgotten, description: f, class: client, when: ip.bad, score: 40}
"""
ONE_CASE = "cases:\n  - name: tor\n    facts: {ip.tor: true}\n    expect: {action: tag}\n"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def short_windows(tmp_path: Path) -> Path:
    config = tmp_path / "shield.yaml"
    config.write_text(f"windows: [5m, 1h]\nrules: {BUNDLED_RULES}\n")
    return config


@pytest.mark.parametrize("command", ["check", "test"])
def test_config_windows_make_unknown_window_facts_errors(
    command: str, short_windows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["rules", command, "-q"] if command == "test" else ["rules", command], capsys)[0] == 0
    status, _, err = run(["rules", command, "--config", str(short_windows)], capsys)
    assert status == 1
    assert "unknown fact 'ip.attempts_1m'" in err
    assert "unknown fact 'ip.failures_10m'" in err


def test_config_routes_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n  - {id: r, description: r, class: client, when: ip.tor, score: 1, routes: [reset]}\n"
    )
    config = tmp_path / "shield.yaml"
    config.write_text("rules: rules\n")  # relative to the config's folder; routes: the default `login`
    status, _, err = run(["rules", "check", "--config", str(config)], capsys)
    assert status == 1
    assert "unknown route 'reset' (configured: login)" in err


def test_a_broken_config_is_refused_with_its_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "shield.yaml"
    config.write_text("windows: [5x]\n")
    status, _, err = run(["rules", "check", "--config", str(config)], capsys)
    assert status == 2
    assert "shield.yaml:1:11: windows[0]: expected a window like 1m" in err


def _pack(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    (rules / "tests").mkdir(parents=True)
    (rules / "r.yaml").write_text(ONE_RULE)
    (rules / "tests" / "t.yaml").write_text(ONE_CASE)
    return rules


def test_coverage_lists_the_rules_no_case_matches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = _pack(tmp_path)
    status, out, _ = run(["rules", "test", "-q", "--coverage", str(rules)], capsys)
    assert status == 0
    assert out.splitlines()[-2:] == [
        "coverage: 1 of 2 rules matched by a case", f"untested: forgotten ({rules}/r.yaml:3)"]


def test_strict_fails_on_an_untested_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = _pack(tmp_path)
    assert run(["rules", "test", "-q", "--coverage", "--strict", str(rules)], capsys)[0] == 1
    (rules / "tests" / "t.yaml").write_text(ONE_CASE + "  - name: bad\n    facts: {ip.bad: true}\n    expect: {}\n")
    assert run(["rules", "test", "-q", "--strict", str(rules)], capsys)[0] == 0


def test_the_bundled_pack_has_no_untested_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["rules", "test", "-q", "--strict"], capsys)[0] == 0


@pytest.mark.parametrize("path", sorted((BUNDLED_RULES / "tests").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_rule_tests_validate_against_the_schema(path: Path) -> None:
    jsonschema.Draft202012Validator(rule_test_schema()).validate(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize(
    "case",
    [
        {"name": "typo", "facts": {"ip.torr": True}, "expect": {"action": "block"}},
        {"name": "type", "facts": {"ip.asn": "AS1"}, "expect": {"action": "block"}},
        {"name": "action", "expect": {"action": "nope"}},
        {"name": "no expect"},
        {"name": "key", "expect": {}, "fatcs": {}},
    ],
    ids=["unknown-fact", "wrong-type", "bad-action", "no-expect", "unknown-key"],
)
def test_the_schema_refuses_what_the_loader_refuses(case: dict[str, object]) -> None:
    jsonschema.Draft202012Validator.check_schema(rule_test_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(rule_test_schema()).validate({"cases": [case]})


def test_the_schema_command_prints_the_test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["rules", "schema", "--tests"], capsys)
    assert status == 0
    assert '"title": "shield rule test file"' in out


def test_copied_pack_with_config_rules_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(BUNDLED_RULES, tmp_path / "pack")
    config = tmp_path / "shield.yaml"
    config.write_text("rules: pack\n")
    status, out, _ = run(["rules", "test", "-q", "--config", str(config)], capsys)
    assert status == 0
    assert " 0 failed" in out
