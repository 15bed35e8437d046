"""The site baseline: ratios, and an attack level that wakes up for a wave but not for three typos."""

from __future__ import annotations

import pytest

from shield.decision.site import site_facts

DAY_NORMAL = {  # a steady site: 100 attempts per 5 minutes, 10% failures, 5% unknown accounts
    "site.attempts_24h": 28_800,
    "site.failures_24h": 2_600,
    "site.successes_24h": 23_400,
    "site.unknown_24h": 1_440,
}


def counters(*, att5: int, fail5: int, ok5: int, unk5: int = 0, day: dict[str, int] | None = None) -> dict[str, int]:
    base = dict(day if day is not None else DAY_NORMAL)
    base["site.attempts_5m"] = att5
    base["site.failures_5m"] = fail5
    base["site.successes_5m"] = ok5
    base["site.unknown_5m"] = unk5
    for k in ("attempts", "failures", "successes", "unknown"):  # the 24h window includes the last 5 minutes
        base[f"site.{k}_24h"] = base.get(f"site.{k}_24h", 0) + base[f"site.{k}_5m"]
    return base


@pytest.mark.parametrize(
    ("c", "level"),
    [
        (counters(att5=100, fail5=9, ok5=90, unk5=5), 0),
        (counters(att5=3, fail5=3, ok5=0, day={}), 0),
        (counters(att5=12, fail5=12, ok5=0, day={"site.attempts_24h": 300}), 0),
        (counters(att5=320, fail5=30, ok5=280), 1),
        (counters(att5=100, fail5=60, ok5=38), 1),
        (counters(att5=1_100, fail5=990, ok5=100, unk5=700), 3),
        (counters(att5=400, fail5=340, ok5=50, unk5=300), 3),
        (counters(att5=1_200, fail5=100, ok5=1_050), 2),
        (counters(att5=200, fail5=170, ok5=28), 2),
        (counters(att5=600, fail5=500, ok5=60, day={}), 3),
        (counters(att5=400, fail5=5, ok5=3, unk5=300), 2),
        (counters(att5=100, fail5=9, ok5=90, unk5=40), 0),
        (counters(att5=100, fail5=9, ok5=90, unk5=60, day={**DAY_NORMAL, "site.unknown_24h": 14_400}), 0),
        (counters(att5=100, fail5=9, ok5=90, unk5=80, day={**DAY_NORMAL, "site.unknown_24h": 14_400}), 1),
    ],
    ids=[
        "normal_traffic_is_calm",
        "three_typos_at_night_stay_calm",
        "a_quiet_site_below_minimum_volume_stays_calm",
        "triple_rate_is_elevated",
        "failure_ratio_jump_is_elevated",
        "7pay_wave_within_a_minute_is_under_attack",
        "quadruple_rate_and_85pct_failures_is_under_attack",
        "ten_times_rate_of_successful_logins_is_high",
        "low_and_slow_all_failures_is_high",
        "fresh_start_with_no_history_and_a_wave_is_under_attack",
        "a_wave_shield_stops_before_the_app_still_raises_the_level_through_unknown_accounts",
        "a_modest_rise_of_unknown_accounts_stays_calm",
        "a_new_deployment_where_half_the_accounts_are_unknown_stays_calm",
        "unknown_accounts_far_above_a_high_daily_share_are_elevated",
    ],
)
def test_attack_level(c: dict[str, int], level: int) -> None:
    assert site_facts(c)["site.attack_level"] == level


def test_ratios_are_computed_over_finished_logins_and_attempts() -> None:
    facts = site_facts(counters(att5=100, fail5=30, ok5=60, unk5=25))
    assert facts["site.failure_ratio_5m"] == pytest.approx(30 / 90)
    assert facts["site.unknown_ratio_5m"] == pytest.approx(0.25)
    assert facts["site.failure_ratio_24h"] == pytest.approx((2_600 + 30) / (26_000 + 90))
    assert facts["site.unknown_ratio_24h"] == pytest.approx((1_440 + 25) / (28_800 + 100))


def test_an_empty_site_has_zero_ratios_and_is_calm() -> None:
    facts = site_facts({})
    assert facts == {
        "site.failure_ratio_5m": 0.0,
        "site.failure_ratio_24h": 0.0,
        "site.unknown_ratio_5m": 0.0,
        "site.unknown_ratio_24h": 0.0,
        "site.attack_level": 0,
    }
