"""shield.decision.takeover: the pure risk test, as a table."""

from __future__ import annotations

import pytest

from shield.decision.takeover import suspected, takeover_risk, with_risk_tag
from shield.model import Action, Decision, FactValue, Outcome, TakeoverPolicy
from shield.rules.load import load_texts
from shield.rules.source import RuleErrors

P = TakeoverPolicy(failures=5, addresses=3, window="1h", wave_level=2)
MANY = {"account.failures_1h": 5, "account.distinct_ips_1h": 3}
WAVE = {"account.new_device": True, "account.new_country": True, "site.attack_level": 2}


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (MANY, "failures_from_many_addresses"),
        ({**MANY, "account.distinct_ips_1h": 2}, None),
        ({**MANY, "account.failures_1h": 4}, None),
        ({}, None),
        (WAVE, "new_device_new_country_in_wave"),
        ({**WAVE, "site.attack_level": 1}, None),
        ({**WAVE, "account.new_country": False}, None),
        ({**WAVE, "account.new_device": False}, None),
    ],
    ids=[
        "many", "one-address-short", "failures-short", "nothing", "wave", "calm-site", "known-country", "known-device",
    ],
)
def test_takeover_risk(facts: dict[str, FactValue], reason: str | None) -> None:
    assert takeover_risk(facts, P) == reason


def test_wave_level_zero_switches_the_wave_shape_off() -> None:
    assert takeover_risk({**WAVE, "site.attack_level": 3}, TakeoverPolicy(wave_level=0)) is None


def test_only_a_success_is_suspected() -> None:
    assert suspected("x", Outcome.SUCCESS)
    assert not suspected("x", Outcome.FAILURE)
    assert not suspected("x", Outcome.UNKNOWN)
    assert not suspected(None, Outcome.SUCCESS)


def test_risk_tag_on_an_allowed_request_makes_the_headers() -> None:
    assert with_risk_tag(None, Decision(action=Action.ALLOW, score=10)) == {
        "Shield-Score": "10", "Shield-Action": "allow", "Shield-Reasons": "takeover_risk",
    }


def test_policy_keys_are_read_and_checked() -> None:
    pack = "policy:\n  takeover: {failures: 8, addresses: 4, window: 10m, wave_level: 0}\nrules: []\n"
    assert load_texts({"p.yaml": pack}, lists={}).policy.takeover == TakeoverPolicy(8, 4, "10m", 0)
    bad = "policy:\n  takeover: {failures: 0, window: 5m, adresses: 3}\nrules: []\n"
    with pytest.raises(RuleErrors) as err:
        load_texts({"p.yaml": bad}, lists={})
    text = str(err.value)
    assert "policy.takeover.failures must be >= 1" in text
    assert "policy.takeover.window '5m' is not a counter window" in text
    assert "adresses" in text
    assert "addresses" in text


def test_default_takeover_window_follows_the_configured_windows() -> None:
    from shield.model import Window

    pack = "policy:\n  retry_after: 30\nrules: []\n"
    windows = (Window("5m", 300), Window("2h", 7200))
    assert load_texts({"p.yaml": pack}, lists={}, windows=windows).policy.takeover.window == "2h"
