"""Shield in front of a fresh demo app, for `shield demo` and the detection benchmark.

In-process on a FakeClock when the pipeline exposes its builder (deterministic: the driver moves
the clock to each event's simulated time, and events go as fast as shield answers); otherwise
`shield run` in a subprocess, with simulated time compressed into real time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import os
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import aiohttp
from aiohttp import web

from shield.clock import FakeClock
from shield.settings import Settings
from shield.sim.driver import Result
from shield.sim.plan import Plan
from shield.sim.run import RunOptions, demo_app, free_port, run_events, serve

# The lead's in-process wiring: `build_shield(settings, *, clock) -> web.Application` (awaitable).
# With it the demo runs on a FakeClock (deterministic, as fast as shield answers); without it,
# `shield run` in a subprocess with simulated time compressed into real time.
IN_PROCESS_BUILDER = ("shield.pipeline", "build_shield")
ShieldBuilder = Callable[..., Awaitable[web.Application]]


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


async def with_shield(plan: Plan, *, seconds: float, progress: bool = False) -> list[Result]:
    """Run the plan through shield in front of a fresh demo app; `seconds`: real time in subprocess mode."""
    builder = in_process_builder()
    if builder is None:
        options = RunOptions(speed=plan.duration / seconds, progress=progress)
        async with demo_app(plan.accounts) as app_url, shield_subprocess(app_url) as url:
            return await run_events(plan, url, options, label="with shield")
    clock = FakeClock()
    t0, m0 = clock.t, clock.mono

    def advance(t: float) -> None:
        clock.t, clock.mono = t0 + t, m0 + t

    async with demo_app(plan.accounts, now=clock.now) as app_url:
        settings = dataclasses.replace(Settings(), upstream=app_url, secret=secrets.token_bytes(32))
        async with serve(await builder(settings, clock=clock)) as url:
            return await run_events(
                plan, url, RunOptions(advance_clock=advance, progress=progress), label="with shield"
            )
