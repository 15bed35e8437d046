"""Scenario files: the bundled ones load, a bad one is reported with file:line, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from shield.sim import scenario
from shield.sim.scenario import ScenarioError, parse_duration

GOOD = """\
name: mine
seed: 3
start: 2h
duration: 30m
list:
  size: 100
  valid_share: 0.01
addresses:
  pools: {foreign-hosting: 1}
"""


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "campaign.yaml"
    path.write_text(text)
    return str(path)


def test_every_bundled_scenario_loads() -> None:
    names = scenario.bundled_names()
    assert set(names) == {
        "overseas-stuffing",
        "password-spray",
        "domestic-proxies",
        "low-and-slow",
        "perfect-bot",
        "naive",
        "careful-attacker",
    }
    for name in names:
        assert scenario.load(name).name == name


def test_a_copied_file_loads_by_path(tmp_path: Path) -> None:
    s = scenario.load(_write(tmp_path, GOOD))
    assert (s.name, s.seed, s.start, s.duration, s.list_size) == ("mine", 3, 7200.0, 1800.0, 100)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("size: 100", "size: lots"), ":6:3: list.size: expected int, got 'lots'"),
        (GOOD.replace("duration: 30m", "duration: soon"), ":4:1: duration: 'soon' is not a duration"),
        (GOOD.replace("valid_share: 0.01", "valid_share: 3"), ":7:3: list.valid_share: must be between 0 and 1"),
        (GOOD.replace("foreign-hosting", "moon-base"), ":9:11: addresses.pools.moon-base: unknown address pool"),
        (GOOD.replace("foreign-hosting", "100.64.0.0/24"), "addresses.pools.100.64.0.0/24: unknown address pool"),
        (GOOD + "agents:\n  kinds: {lynx: 1}\n", ":11:11: agents.kinds.lynx: unknown agent kind"),
        (GOOD + "agents:\n  rotate: hourly\n", ":11:3: agents.rotate: expected one of per_request"),
        (GOOD + "speed: 9\n", ":10:1: unknown key 'speed' in a scenario (did you mean 'seed'?)"),
        (GOOD + "mode: spray\n", "passwords: mode spray needs a list of passwords"),
        (GOOD + "targets:\n  attempts_per_day: [3, 1]\n", ":11:3: targets.attempts_per_day: expected [low, high]"),
        (GOOD + "pow_solve:\n  enabled: yes please\n", ":11:3: pow_solve.enabled: expected bool"),
        ("name: [unclosed\n", ":2:1: not valid YAML: "),
        ("- just\n- a list\n", ":1:1: a scenario is a mapping"),
    ],
    ids=[
        "size-not-a-number",
        "bad-duration",
        "share-out-of-range",
        "unknown-pool",
        "cidr-outside-the-world",
        "unknown-agent-kind",
        "unknown-rotation",
        "unknown-key",
        "spray-without-passwords",
        "inverted-span",
        "pow-enabled-not-bool",
        "yaml-syntax-error",
        "not-a-mapping",
    ],
)
def test_bad_scenario_is_reported_with_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        scenario.load(path)
    assert str(info.value).startswith(path)
    assert expected in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("size: 100", "size: -1").replace("duration: 30m", "duration: x") + "colour: red\n"
    with pytest.raises(ScenarioError) as info:
        scenario.load(_write(tmp_path, text))
    assert len(str(info.value).splitlines()) == 3


def test_unknown_scenario_name_lists_the_bundled_ones() -> None:
    with pytest.raises(ScenarioError, match="bundled: careful-attacker, domestic-proxies, low-and-slow"):
        scenario.load("no-such-campaign")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90.0), ("90s", 90.0), ("10m", 600.0), ("2h", 7200.0), ("1.5d", 129600.0), ("45", 45.0)],
    ids=["int", "seconds", "minutes", "hours", "fractional-days", "bare-string"],
)
def test_durations_parse(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["2 weeks", "", True, "-5m"], ids=["unit", "empty", "bool", "negative"])
def test_bad_durations_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)
