"""The driver over real sockets: the baseline against the demo app, and the challenge protocol
against a small gate built on shield's own challenge module (puzzles, passes, 429)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from shield.challenge import pow
from shield.challenge.passes import PASS_HEADER, check_pass, issue_pass
from shield.sim import scenario
from shield.sim.agents import app_headers, library_headers
from shield.sim.demo_app import UserDB
from shield.sim.driver import DriverOptions, drive
from shield.sim.events import LEGIT, NEVER_SOLVES, Account, Event
from shield.sim.plan import make_plan
from shield.sim.run import RunOptions, baseline_results, demo_app, serve

SECRET = b"k" * 32
USER = Account("carol@demo.example", "s3cret-pass")
DIFFICULTY = 8


def _binding(request: web.Request) -> pow.Binding:
    return pow.Binding(client=request.headers["X-Forwarded-For"], route="login", fingerprint="")


def gate_app(upstream: UserDB) -> web.Application:
    """Challenges every login that carries neither a solution nor a pass; 429 once for 10.0.0.99."""
    limited_once: set[str] = set()

    async def login(request: web.Request) -> web.Response:
        ip = request.headers["X-Forwarded-For"]
        if ip == "10.0.0.99" and ip not in limited_once:
            limited_once.add(ip)
            return web.json_response(
                {"error": "rate_limited"}, status=429, headers={"Retry-After": "30", "Shield-Mitigated": "block"}
            )
        solution = request.headers.get(pow.RESPONSE_HEADER)
        solved = solution is not None and pow.verify(SECRET, solution, binding=_binding(request), now=1000).ok
        passed = check_pass(SECRET, request.headers.get(PASS_HEADER), binding=_binding(request), now=1000)
        if not (solved or passed):
            ch = pow.issue(SECRET, binding=_binding(request), difficulty=DIFFICULTY, now=1000, ttl=300)
            return web.json_response(
                {"error": "challenge_required", "challenge": ch.as_json()},
                status=403,
                headers={"Shield-Mitigated": "challenge"},
            )
        body = await request.json()
        ok = upstream.check(body["username"], body["password"])
        headers = {PASS_HEADER: issue_pass(SECRET, binding=_binding(request), now=1000, ttl=3600)} if solved else {}
        return web.json_response({"session": "s"} if ok else {"error": "x"}, status=200 if ok else 401, headers=headers)

    app = web.Application()
    app.router.add_post("/api/login", login)
    return app


@pytest.fixture
async def gate_url() -> AsyncIterator[str]:
    async with serve(gate_app(UserDB([USER]))) as url:
        yield url


def _event(t: float, ip: str, *, max_difficulty: int, device: str = "", actor: str = LEGIT) -> Event:
    headers = app_headers("5.2.1", "android", "Pixel 8", "dev-1") if device else library_headers("curl/8.5.0")
    return Event(
        t=t,
        actor=actor,
        client_ip=ip,
        headers=headers,
        username=USER.username,
        password=USER.password,
        device=device,
        max_difficulty=max_difficulty,
        retries_after_429=actor == LEGIT,
    )


async def test_client_that_solves_reaches_the_app_and_then_rides_its_pass(gate_url: str) -> None:
    events = [
        _event(1, "10.10.0.5", max_difficulty=20, device="d1"),
        _event(2, "10.10.0.5", max_difficulty=20, device="d1"),
    ]
    first, second = await drive(events, DriverOptions(gate_url, concurrency=1))
    assert (first.challenged, first.solved, first.stopped, first.success) == (True, True, False, True)
    assert (second.challenged, second.stopped, second.success) == (False, False, True)


@pytest.mark.parametrize(
    "max_difficulty", [NEVER_SOLVES, DIFFICULTY - 1], ids=["never-solves", "puzzle-harder-than-it-pays"]
)
async def test_attacker_that_does_not_pay_is_stopped(gate_url: str, max_difficulty: int) -> None:
    (result,) = await drive([_event(1, "10.40.0.5", max_difficulty=max_difficulty, actor="x")], DriverOptions(gate_url))
    assert (result.first_mitigation, result.challenged, result.solved, result.stopped, result.success) == (
        "challenge",
        True,
        False,
        True,
        False,
    )


async def test_real_user_retries_once_after_429(gate_url: str) -> None:
    (result,) = await drive([_event(1, "10.0.0.99", max_difficulty=20, device="d2")], DriverOptions(gate_url))
    assert result.rate_limited
    assert result.first_mitigation == "block"
    assert result.success  # the retry was challenged, solved and logged in


async def test_advance_clock_sees_every_event_time_in_order(gate_url: str) -> None:
    seen: list[float] = []
    events = [_event(t, f"10.10.0.{t}", max_difficulty=20) for t in (5, 7, 7, 30)]
    await drive(events, DriverOptions(gate_url, concurrency=2, advance_clock=seen.append))
    assert seen == [5, 7, 7, 30]


async def test_baseline_counts_every_valid_pair_as_compromised_on_both_sides() -> None:
    attack = dataclasses.replace(
        scenario.load("overseas-stuffing"), start=600, duration=600, list_size=400, valid_share=0.05
    )
    plan = make_plan(users=500, seed=3, duration=1800, scenarios=[attack])
    accounts = {a.username: a.password for a in plan.accounts}
    valid = {e.username for e in plan.events if e.actor == attack.name and accounts.get(e.username) == e.password}
    assert len(valid) == 20
    results = await baseline_results(plan, RunOptions())
    taken = {r.username for r in results if r.actor == attack.name and r.success}
    assert taken == valid
    assert sum(r.transferred for r in results if r.actor == attack.name) == 20
    assert not any(r.stopped or r.challenged for r in results)


async def test_app_side_ledger_agrees_with_the_driver() -> None:
    attack = dataclasses.replace(scenario.load("naive"), start=60, duration=60, list_size=300, valid_share=0.02)
    plan = make_plan(users=200, seed=4, duration=600, scenarios=[attack])
    async with demo_app(plan.accounts) as url:
        results = await drive(plan.events, DriverOptions(url))
        async with aiohttp.ClientSession() as http, http.get(f"{url}/_demo/stats", params={"detail": "1"}) as resp:
            stats = await resp.json()
    attack_ips = {e.client_ip for e in plan.events if e.actor == attack.name}
    app_side = {s["account"] for s in stats["successful_logins"] if s["client"] in attack_ips}
    driver_side = {r.username for r in results if r.actor == attack.name and r.success}
    assert app_side == driver_side
    assert len(driver_side) == 6
    assert stats["attempts"] == len(plan.events)


async def test_prior_events_teach_the_clients_and_leave_no_results(gate_url: str) -> None:
    prior = [_event(-3600, "10.10.0.5", max_difficulty=20, device="d1")]
    event = _event(1, "10.10.0.5", max_difficulty=20, device="d1")
    (result,) = await drive([event], DriverOptions(gate_url), prior=prior)
    # the pass earned before the run rides along: the same device is not asked again
    assert (result.t, result.challenged, result.success) == (1, False, True)


async def test_prior_events_are_not_paced_by_speed(gate_url: str) -> None:
    # 30 days before the run at real-time speed: paced, the history alone would take 30 days.
    prior = [_event(-30 * 86400, "10.10.0.5", max_difficulty=20, device="d1")]
    options = DriverOptions(gate_url, speed=1.0)
    async with asyncio.timeout(10):
        (result,) = await drive([_event(0, "10.10.0.5", max_difficulty=20, device="d1")], options, prior=prior)
    assert result.success
