"""`shield demo`: the 2019 attack replayed against the demo login app, without shield and with it.

    shield demo

Nothing to configure: starts the demo login app and shield in front of it (default rules, demo
GeoIP) on free loopback ports, replays the overseas-stuffing campaign over a day of real users,
shows progress, and ends with the report and how many accounts the attack took with and without shield.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import os
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import aiohttp
from aiohttp import web

from shield.clock import FakeClock
from shield.commands.simulate import write_outputs
from shield.settings import Settings
from shield.sim import scenario as scenarios
from shield.sim.plan import Plan, make_plan
from shield.sim.report import Report, build_report
from shield.sim.run import RunOptions, baseline_results, demo_app, free_port, run_events, serve
from shield.sim.table import render

# The lead's in-process wiring: `build_shield(settings, *, clock) -> web.Application` (awaitable).
# With it the demo runs on a FakeClock (deterministic, as fast as shield answers); without it,
# `shield run` in a subprocess with simulated time compressed into real time.
IN_PROCESS_BUILDER = ("shield.pipeline", "build_shield")
ShieldBuilder = Callable[..., Awaitable[web.Application]]
DEMO_DURATION = 6 * 3600.0
ATTACK_START = 3 * 3600.0
ATTACK_DURATION = 1800.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "demo",
        help="see shield stop a credential-stuffing attack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--users", type=int, default=20000, help="accounts in the demo app (default 20000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the population (default 1)")
    p.add_argument("--attempts", type=int, default=6000, help="size of the leaked list (default 6000)")
    p.add_argument("--seconds", type=float, default=45.0, help="real time to spread the run over in subprocess mode")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    p.add_argument(
        "--chart", type=Path, metavar="FILE.svg", default=Path("shield-demo.svg"), help="default shield-demo.svg"
    )
    p.set_defaults(handler=run)


def demo_plan(*, users: int, seed: int, attempts: int) -> Plan:
    attack = dataclasses.replace(
        scenarios.load("overseas-stuffing"), start=ATTACK_START, duration=ATTACK_DURATION, list_size=attempts
    )
    return make_plan(users=users, seed=seed, duration=DEMO_DURATION, scenarios=[attack])


def in_process_builder() -> ShieldBuilder | None:
    module, name = IN_PROCESS_BUILDER
    try:
        found: Any = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return cast(ShieldBuilder, found) if callable(found) else None


@asynccontextmanager
async def shield_subprocess(upstream: str) -> AsyncIterator[str]:
    """`shield run` in front of `upstream` on free ports; its log goes to a temporary file."""
    port, admin = free_port(), free_port()
    log = tempfile.NamedTemporaryFile(prefix="shield-demo-", suffix=".log", delete=False)  # noqa: SIM115
    cmd = [
        sys.executable,
        "-m",
        "shield.cli",
        "run",
        "--upstream",
        upstream,
        "--listen",
        f"127.0.0.1:{port}",
        "--admin-listen",
        f"127.0.0.1:{admin}",
        "--workers",
        "1",
    ]
    env = {**os.environ, "SHIELD_SECRET": os.environ.get("SHIELD_SECRET") or secrets.token_hex(32)}
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=log, stderr=asyncio.subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(url, proc, log.name)
        yield url
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout=10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log.close()


async def _wait_ready(url: str, proc: asyncio.subprocess.Process, log_name: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(150):
            if proc.returncode is not None:
                raise RuntimeError(f"shield exited with status {proc.returncode}; its log: {log_name}")
            try:
                async with session.get(url + "/") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"shield did not answer on {url} within 15 s; its log: {log_name}")


async def with_shield(plan: Plan, *, seconds: float) -> list[Any]:
    builder = in_process_builder()
    if builder is None:
        options = RunOptions(speed=plan.duration / seconds, progress=True)
        async with demo_app(plan.accounts) as app_url, shield_subprocess(app_url) as url:
            return await run_events(plan, url, options, label="with shield")
    clock = FakeClock()
    t0, m0 = clock.t, clock.mono

    def advance(t: float) -> None:
        clock.t, clock.mono = t0 + t, m0 + t

    async with demo_app(plan.accounts, now=clock.now) as app_url:
        settings = dataclasses.replace(Settings(), upstream=app_url, secret=secrets.token_bytes(32))
        async with serve(await builder(settings, clock=clock)) as url:
            return await run_events(plan, url, RunOptions(advance_clock=advance, progress=True), label="with shield")


async def demo(args: argparse.Namespace) -> Report:
    plan = demo_plan(users=args.users, seed=args.seed, attempts=args.attempts)
    print(
        f"demo: {args.users} accounts, {len(plan.events)} login attempts over {plan.duration / 3600:.0f} simulated "
        f"hours; overseas-stuffing ({args.attempts} leaked pairs) starts at hour {ATTACK_START / 3600:.0f}",
        file=sys.stderr,
    )
    base = await baseline_results(plan, RunOptions(progress=True))
    results = await with_shield(plan, seconds=args.seconds)
    return build_report(results, plan.campaigns, duration=plan.duration, baseline=base)


def run(args: argparse.Namespace) -> int:
    if args.users < 1 or args.attempts < 1 or args.seconds <= 0:
        print("shield demo: --users, --attempts and --seconds must be positive", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(demo(args))
    except RuntimeError as exc:
        print(f"shield demo: {exc}", file=sys.stderr)
        return 1
    print(render(report))
    for path in write_outputs(
        report, json_path=args.json, chart_path=args.chart, title="shield demo: overseas-stuffing"
    ):
        print(f"wrote {path}")
    attack = report.campaigns[0]
    print(
        f"\nWithout shield the attack took over {attack.compromised_baseline} accounts; "
        f"with shield in front it took {attack.compromised}."
    )
    return 0
