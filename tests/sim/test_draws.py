"""Draws: every value from its documented range, reproducible per draw number, different between draws."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from shield.sim import scenario
from shield.sim.draws import (
    NO_KNOBS,
    RANGES,
    TUNING_SEED,
    TUNING_SHAPE,
    CampaignKnobs,
    PopulationShape,
    apply,
    draw,
    parse_draws,
    ranges_markdown,
)
from shield.sim.plan import plan_for_draw

DOCS = Path(__file__).resolve().parents[2] / "docs" / "simulate.md"
DAY = 86400.0


def test_draw_zero_is_the_tuning_draw() -> None:
    d = draw(0)
    assert (d.seed, d.population, d.campaigns) == (TUNING_SEED, TUNING_SHAPE, NO_KNOBS)


def test_a_draw_is_reproducible() -> None:
    assert draw(3) == draw(3)
    chosen = [scenario.load("overseas-stuffing").scaled(0.01)]
    a = plan_for_draw(draw(3), users=200, duration=DAY, scenarios=chosen)
    b = plan_for_draw(draw(3), users=200, duration=DAY, scenarios=chosen)
    assert a.events == b.events
    assert a.history == b.history
    assert a.accounts == b.accounts


def test_draws_differ_from_each_other_and_from_the_tuning_draw() -> None:
    draws = [draw(n) for n in range(6)]
    assert len({d.seed for d in draws}) == 6
    assert len({d.population for d in draws}) == 6
    assert len({d.campaigns for d in draws}) == 6


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5, 17])
def test_every_drawn_value_is_inside_its_documented_range(number: int) -> None:
    d = draw(number)
    for f in fields(PopulationShape):
        low, high = getattr(RANGES, f.name)
        assert low <= getattr(d.population, f.name) <= high, f.name
    for f in fields(CampaignKnobs):
        if f.name != "seed_offset":
            low, high = getattr(RANGES, f.name)
            assert low <= getattr(d.campaigns, f.name) <= high, f.name


def test_the_tuning_values_lie_inside_the_ranges() -> None:
    for f in fields(PopulationShape):
        low, high = getattr(RANGES, f.name)
        assert low <= getattr(TUNING_SHAPE, f.name) <= high, f.name


def test_apply_changes_list_rate_budgets_and_puzzles_and_nothing_on_the_tuning_draw() -> None:
    s = scenario.load("domestic-proxies")
    assert apply(s, NO_KNOBS) is s
    knobs = CampaignKnobs(list_factor=2.0, valid_factor=100.0, duration_factor=0.5, per_address_factor=2.0,
                          foreign_weight=3.0, difficulty_delta=2, seed_offset=7)
    t = apply(s, knobs)
    assert t.list_size == 2 * s.list_size
    assert t.duration == s.duration / 2
    assert t.seed == s.seed + 7
    assert t.valid_share == s.known_share  # capped: a valid pair is a known account
    assert t.attempts_per_address == (2, 6)
    assert t.pow_solve.max_difficulty == s.pow_solve.max_difficulty + 2
    assert dict(t.pools) == dict(s.pools)  # home-country pools keep their weight
    foreign = apply(scenario.load("password-spray"), knobs)
    assert dict(foreign.pools)["foreign-hosting"] == 3.0


@pytest.mark.parametrize(
    ("text", "numbers"), [("3", [3]), ("1-5", [1, 2, 3, 4, 5]), ("0,2-3", [0, 2, 3])], ids=["one", "range", "list"]
)
def test_parse_draws(text: str, numbers: list[int]) -> None:
    assert parse_draws(text) == numbers


@pytest.mark.parametrize("text", ["", "5-1", "-2", "x"])
def test_parse_draws_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_draws(text)


def test_the_documented_ranges_table_is_the_code() -> None:
    assert ranges_markdown() in DOCS.read_text(encoding="utf-8"), "paste shield.sim.draws.ranges_markdown() into docs"
