"""Shield in front of a fresh demo app, for `shield demo`, the detection benchmark and its CI test."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal, TextIO

import aiohttp

from shield.model import FakeClock
from shield.observe.logs import configure_logging
from shield.service import build_service
from shield.settings.schema import DelaySettings, LogSettings, Settings
from shield.sim.driver import Result
from shield.sim.plan import Plan
from shield.sim.run import RunOptions, demo_app, free_port, run_events, serve
from shield.sim.world import DEMO_ENV, demo_world

SIM_MAX_DELAY_S = 0.01


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
    env = {**os.environ, **DEMO_ENV, "SHIELD_SECRET": os.environ.get("SHIELD_SECRET") or secrets.token_hex(32)}
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


async def with_shield(
    plan: Plan, *, in_process: bool = True, seconds: float = 60.0, progress: bool = False,
    log: TextIO | None = None,
) -> list[Result]:
    """Run the plan through shield (default settings and rules, the demo world) in front of a fresh demo app.

    In-process (default): shield.service on a FakeClock that the driver moves to each event's
    simulated time; deterministic, as fast as shield answers. Otherwise `shield run` in a
    subprocess with the simulated run compressed into `seconds` of real time; that shield runs on
    the real clock, so the plan's history (days before the run) cannot be replayed into it: it is
    a shield deployed today, with no account history.
    """
    if not in_process:
        options = RunOptions(speed=plan.duration / seconds, progress=progress)
        async with demo_app(plan.accounts) as app_url, shield_subprocess(app_url) as url:
            return await run_events(plan, url, options, label="with shield", history=False)
    # The in-process shield logs errors only, to stderr, so the report is not buried under one
    # decision line per simulated login; with `log` every line goes there (for `shield replay`).
    configure_logging(LogSettings(level="info" if log else "error", format="json"), stream=log or sys.stderr)
    clock = FakeClock()
    t0, m0 = clock.t, clock.mono

    def advance(t: float) -> None:
        clock.t, clock.mono = t0 + t, m0 + t

    def mode() -> Literal["enforce", "shadow"]:
        # The plan's history (t < 0) is a shield that ran in shadow mode for weeks, learning the
        # accounts' devices and networks without stopping anyone; the measured run enforces.
        return "shadow" if clock.t < t0 else "enforce"

    async with demo_app(plan.accounts, now=clock.now) as app_url:
        # The tarpit sleeps in real time; on simulated time a hold costs the attacker nothing we
        # measure, so it is shortened to keep the run fast.
        delay = dataclasses.replace(DelaySettings(), max_seconds=SIM_MAX_DELAY_S)
        settings = dataclasses.replace(
            demo_world(Settings()), upstream=app_url, secret=secrets.token_bytes(32), delay=delay
        )
        service = build_service(settings, clock=clock, with_admin=False, mode=mode)
        async with serve(service.proxy) as url:
            options = RunOptions(advance_clock=advance, progress=progress)
            return await run_events(plan, url, options, label="with shield")
