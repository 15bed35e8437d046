"""A mixed attack through shield: every protected request leaves exactly one decision line.

The oracle counts the requests the proxy app receives on the protected path (a middleware in front
of shield's own handler), independently of shield's logging; bans, blocks, challenges and
forwarded logins must add up to it. Folding is off so each line can be counted.
"""

from __future__ import annotations

import dataclasses
import io
import secrets
from collections.abc import Awaitable, Callable

import orjson
import pytest
from aiohttp import web

from shield.model import FakeClock
from shield.observe.logs import configure_logging
from shield.service import build_service
from shield.settings.schema import DelaySettings, LogSettings, Settings
from shield.sim import scenario
from shield.sim.plan import make_plan
from shield.sim.run import RunOptions, demo_app, run_events, serve

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.mark.slow
async def test_every_protected_request_of_a_mixed_attack_is_on_record() -> None:
    attacks = [scenario.load("overseas-stuffing").scaled(0.02), scenario.load("naive").scaled(0.2)]
    plan = make_plan(users=200, seed=3, duration=max(a.start + a.duration for a in attacks) + 600, scenarios=attacks)
    logs = io.BytesIO()
    configure_logging(LogSettings(format="json"), stream=logs)  # type: ignore[arg-type]
    clock = FakeClock()
    t0, m0 = clock.t, clock.mono
    seen = {"protected": 0}

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/api/login":
            seen["protected"] += 1
        return await handler(request)

    def advance(t: float) -> None:
        clock.t, clock.mono = t0 + t, m0 + t

    async with demo_app(plan.accounts, now=clock.now) as app_url:
        settings = dataclasses.replace(
            Settings(), upstream=app_url, secret=secrets.token_bytes(32), reload_rules=False,
            delay=DelaySettings(max_seconds=0.01), log=LogSettings(format="json", ban_lines_per_second=0),
        )
        service = build_service(settings, clock=clock, with_admin=False)
        service.proxy.middlewares.append(count)
        async with serve(service.proxy) as url:
            await run_events(plan, url, RunOptions(advance_clock=advance), label="mixed", history=False)
    lines = [orjson.loads(x) for x in logs.getvalue().splitlines() if x.startswith(b"{")]
    decisions = [x for x in lines if x.get("event") == "decision"]
    actions = {x["action"] for x in decisions}
    assert "ban" in actions, f"the attack must be banned for this test to mean something: {actions}"
    assert len(decisions) == seen["protected"]
    assert len({x["request_id"] for x in decisions}) == len(decisions)
