"""Settings, rules, rule tests and campaigns report the same mistake in the same format.

Every reader goes through shield.settings.yaml_reader, so a misspelt key, a syntax error and an alias
read `file:line:col: message (did you mean ...)` whichever kind of file they are in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from shield.decision.ruletest import load_cases
from shield.rules.load import load_rules
from shield.rules.source import RuleErrors
from shield.settings.load import SettingsError, load_settings
from shield.settings.yaml_reader import ALIASES_REFUSED
from shield.sim import scenario


def _settings(folder: Path) -> list[str]:
    with pytest.raises(SettingsError) as err:
        load_settings(folder / "shield.yaml", env={})
    return err.value.problems


def _rules(folder: Path) -> list[str]:
    with pytest.raises(RuleErrors) as err:
        load_rules(folder)
    return [str(e) for e in err.value.errors]


def _rule_tests(folder: Path) -> list[str]:
    with pytest.raises(RuleErrors) as err:
        load_cases(folder)
    return [str(e) for e in err.value.errors]


def _campaign(folder: Path) -> list[str]:
    with pytest.raises(scenario.ScenarioError) as err:
        scenario.load(str(folder / "campaign.yaml"))
    return str(err.value).splitlines()


# kind -> (file name, a top-level key it reads, the same key misspelt, where the message says it was, reader)
KINDS: dict[str, tuple[str, str, str, str, Callable[[Path], list[str]]]] = {
    "settings": ("shield.yaml", "upstream", "upstrem", "the settings", _settings),
    "rules": ("login.yaml", "rules", "rulez", "a rule file", _rules),
    "rule_tests": ("cases.yaml", "cases", "casez", "a rule test file", _rule_tests),
    "campaign": ("campaign.yaml", "duration", "duraton", "a scenario", _campaign),
}


def _problems(tmp_path: Path, kind: str, text: str) -> tuple[str, list[str]]:
    name, *_, read = KINDS[kind]
    (tmp_path / name).write_text(text)
    return str(tmp_path / name), read(tmp_path)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_misspelt_key_is_placed_and_gets_a_suggestion(tmp_path: Path, kind: str) -> None:
    _, key, typo, where, _ = KINDS[kind]
    file, problems = _problems(tmp_path, kind, f"{typo}: 1\n")
    assert f"{file}:1:1: unknown key '{typo}' in {where} (did you mean '{key}'?)" in problems, problems


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_syntax_error_reads_the_same_everywhere(tmp_path: Path, kind: str) -> None:
    file, problems = _problems(tmp_path, kind, "a: [1, 2\nb: 3\n")
    assert problems == [f"{file}:2:2: not valid YAML: did not find expected ',' or ']'"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_alias_is_refused_the_same_everywhere(tmp_path: Path, kind: str) -> None:
    file, problems = _problems(tmp_path, kind, "a: &x 1\nb: *x\n")
    assert problems == [f"{file}:2:4: {ALIASES_REFUSED}: *x"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_line_has_the_one_shape(tmp_path: Path, kind: str) -> None:
    _, _, typo, _, _ = KINDS[kind]
    file, problems = _problems(tmp_path, kind, f"{typo}: 1\n")
    shape = re.compile(rf"^{re.escape(file)}:\d+:\d+: \S.*$")
    assert problems
    assert all(shape.match(p) for p in problems), problems


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_duplicate_key_is_refused_the_same_everywhere(tmp_path: Path, kind: str) -> None:
    # a YAML loader keeps the last of two equal keys without a word: the first value is silently lost
    _, key, _, where, _ = KINDS[kind]
    file, problems = _problems(tmp_path, kind, f"{key}: []\n{key}: []\n")
    assert f"{file}:2:1: duplicate key '{key}' in {where} (the first is at line 1)" in problems, problems
