"""The small detection benchmark CI runs: overseas-stuffing, low-and-slow and the real-user targets,
through shield, so a rule change that breaks them fails the build."""

from __future__ import annotations

import pytest

from shield.sim import scenario
from shield.sim.events import LEGIT
from shield.sim.harness import with_shield
from shield.sim.plan import make_plan
from shield.sim.report import build_report
from shield.sim.run import RunOptions, baseline_results
from shield.sim.targets import evaluate, targets_table

USERS = 5000  # the detection benchmark's population: a smaller one makes the same wave a larger share of all logins
SCALE = 0.25  # 5000 attempts (the detection benchmark's size), about 50 of them valid pairs


async def _measure(name: str, scale: float) -> None:
    attack = scenario.load(name).scaled(scale)
    plan = make_plan(users=USERS, seed=1, duration=attack.start + attack.duration + 1800, scenarios=[attack])
    baseline = await baseline_results(plan, RunOptions())
    results = await with_shield(plan)
    report = build_report(results, [attack], duration=plan.duration, baseline=baseline)
    targets = evaluate(report.campaigns, [r for r in results if r.actor == LEGIT])
    assert report.campaigns[0].compromised_baseline, "the attack must be able to take accounts without shield"
    assert all(t.met is not False for t in targets), "\n" + targets_table(targets)


@pytest.mark.slow
async def test_overseas_stuffing_is_stopped_and_real_users_pass() -> None:
    await _measure("overseas-stuffing", SCALE)


@pytest.mark.slow
async def test_low_and_slow_is_challenged_and_real_users_pass() -> None:
    await _measure("low-and-slow", 1.0)  # 60 targeted accounts, about 180 guesses over two days
