"""A small detection run on a draw nobody tuned on, through a real in-process shield: the machinery
(draws, the careful attacker, step-up tags echoed by the app, the targets table) works end to end, fast."""

from __future__ import annotations

import time

from shield.sim import scenario
from shield.sim.draws import apply, draw
from shield.sim.events import LEGIT
from shield.sim.harness import with_shield
from shield.sim.plan import make_plan
from shield.sim.report import build_report
from shield.sim.targets import evaluate

USERS = 400


async def test_a_small_careful_attacker_run_on_draw_1_is_reported_with_its_step_up_tags() -> None:
    started = time.monotonic()
    d = draw(1)
    attack = apply(scenario.load("careful-attacker").scaled(0.1), d.campaigns)
    plan = make_plan(users=USERS, seed=d.seed, duration=attack.start + attack.duration + 1800, scenarios=[attack],
                     shape=d.population)
    results = await with_shield(plan)
    report = build_report(results, [attack], duration=plan.duration)
    (row,) = report.campaigns
    assert row.attempts == sum(r.actor == attack.name for r in results) > 0
    assert row.compromised == row.compromised_tagged + row.compromised_untagged
    assert row.compromised > 0  # it has the passwords: without an app step-up, shield alone cannot keep them all
    # every tagged attempt reached the app; a solved challenge always comes back tagged
    mine = [r for r in results if r.actor == attack.name]
    assert all(not r.stopped for r in mine if r.tagged)
    assert all(r.tagged for r in mine if r.solved and not r.stopped)
    targets = {t.key: t for t in evaluate(report.campaigns, [r for r in results if r.actor == LEGIT])}
    assert targets[(attack.name, "accounts taken without a step-up tag")].value == row.compromised_untagged
    segments = {u.segment for u in report.users if u.logins}
    assert {"gateway", "mixed-carrier", "sprayed-password", "popular-build", "first-browser-login"} <= segments
    assert time.monotonic() - started < 30
