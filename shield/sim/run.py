"""Run a plan against a target (and optionally straight at a fresh demo app for the baseline)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from shield.sim.demo_app import UserDB, build_demo_app
from shield.sim.driver import DriverOptions, Result, drive
from shield.sim.events import Account
from shield.sim.plan import Plan
from shield.sim.progress import Progress
from shield.sim.report import Report, build_report


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def serve(app: web.Application, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve an aiohttp app on a real loopback socket for the duration of the block; yields its URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port or free_port(host))
    await site.start()
    try:
        server = runner.addresses[0]
        yield f"http://{host}:{server[1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def demo_app(accounts: Sequence[Account], *, now: Callable[[], float] | None = None) -> AsyncIterator[str]:
    """A fresh demo login app over these accounts on a free loopback port."""
    app = build_demo_app(UserDB(accounts), now=now) if now else build_demo_app(UserDB(accounts))
    async with serve(app) as url:
        yield url


@dataclass(slots=True, frozen=True)
class RunOptions:
    concurrency: int = 50
    speed: float | None = None
    advance_clock: Callable[[float], None] | None = None
    progress: bool = False  # force the bar even without a TTY


async def run_events(
    plan: Plan, target: str, options: RunOptions, *, label: str, history: bool = True
) -> list[Result]:
    """The plan's events through `target`, after its history (whose results are dropped) when
    `history` is set: the same clients, so devices keep the cookies shield gave them before."""
    prior = plan.history if history else ()
    bar = Progress.auto(len(prior) + len(plan.events), label, force=options.progress)
    opts = DriverOptions(target, options.concurrency, options.speed, options.advance_clock)
    try:
        return await drive(plan.events, opts, on_result=lambda r: bar.step(stopped=r.stopped), prior=prior)
    finally:
        bar.close()


async def baseline_results(plan: Plan, options: RunOptions, *, target: str | None = None) -> list[Result]:
    """The same traffic with no shield in front: against `target`, or a fresh in-process demo app."""
    fast = RunOptions(concurrency=options.concurrency, progress=options.progress)
    # The app keeps no history: without shield, what happened before the run changes nothing.
    if target:
        return await run_events(plan, target, fast, label="without shield", history=False)
    async with demo_app(plan.accounts) as url:
        return await run_events(plan, url, fast, label="without shield", history=False)


async def simulate(
    plan: Plan, target: str, options: RunOptions, *, baseline: bool = False, baseline_target: str | None = None
) -> Report:
    base = await baseline_results(plan, options, target=baseline_target) if baseline or baseline_target else None
    results = await run_events(plan, target, options, label="with shield")
    return build_report(results, plan.campaigns, duration=plan.duration, baseline=base)
