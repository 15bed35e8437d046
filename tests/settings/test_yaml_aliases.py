"""Every YAML reader refuses aliases at their place, fast: a "billion laughs" file never hangs a start.

Settings have their own test (tests/settings/test_load.py); here the rules, the rule tests and the
simulator's campaigns. Each bomb sits where its reader walks the values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shield.decision.ruletest import load_cases
from shield.rules.load import load_rules
from shield.settings.yaml_reader import ALIASES_REFUSED
from shield.sim.scenario import load as load_scenario
from tests.settings.yaml_bombs import billion_laughs


def rules_with_bomb(tmp_path: Path) -> tuple[Path, Callable[[], Any]]:
    folder = tmp_path / "rules"
    (folder / "lists").mkdir(parents=True)
    text = "lists:\n" + billion_laughs("  ") + "rules: []\n"
    (folder / "bomb.yaml").write_text(text)
    return folder / "bomb.yaml", lambda: load_rules(folder)


def rule_tests_with_bomb(tmp_path: Path) -> tuple[Path, Callable[[], Any]]:
    folder = tmp_path / "tests"
    folder.mkdir()
    text = "defaults:\n" + billion_laughs("  ") + "cases: []\n"
    (folder / "bomb.yaml").write_text(text)
    return folder / "bomb.yaml", lambda: load_cases(folder)


def campaign_with_bomb(tmp_path: Path) -> tuple[Path, Callable[[], Any]]:
    path = tmp_path / "bomb.yaml"
    path.write_text("attack:\n" + billion_laughs("  "))
    return path, lambda: load_scenario(str(path))


@pytest.mark.parametrize(
    "make", [rules_with_bomb, rule_tests_with_bomb, campaign_with_bomb], ids=["rules", "rule-tests", "campaign"]
)
def test_an_alias_bomb_is_refused_fast_with_file_line_col(tmp_path: Path, make: Callable[..., Any]) -> None:
    path, load = make(tmp_path)
    t0 = time.monotonic()
    with pytest.raises(Exception) as caught:  # each reader has its own error type
        load()
    assert time.monotonic() - t0 < 1.0
    # the first alias: line 3 of the file (the bomb's second line), after "l1: &l1 [" at column 12
    assert f"{path}:3:12: {ALIASES_REFUSED}: *l0" in str(caught.value)
