"""`shield run` with two workers and no app pattern: the first mobile-stack login says so, once per worker."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import orjson

from tests.fixtures.upstream import Upstream
from tests.proxy.test_run import start_shield

EVENT = "config.app_ua_pattern_missing"


async def test_a_worker_warns_once_on_its_first_mobile_stack_login(
    upstream: Upstream, procs: list[asyncio.subprocess.Process]
) -> None:
    proc, url, _admin = await start_shield(upstream, "--workers", "2", env={"SHIELD_LOG_FORMAT": "json"})
    procs.append(proc)
    for _ in range(12):  # a new connection each time: the kernel spreads them over both workers
        async with aiohttp.ClientSession() as s:
            body = {"username": "alice@example.com", "password": "right"}
            async with s.post(f"{url}/api/login", json=body, headers={"User-Agent": "okhttp/4.12.0"}) as r:
                assert r.status == 200
    proc.send_signal(signal.SIGTERM)
    stdout, _ = await asyncio.wait_for(proc.communicate(), 15)
    lines = [orjson.loads(line) for line in stdout.splitlines() if line.startswith(b"{")]
    warned = [line for line in lines if line["event"] == EVENT]
    assert 1 <= len(warned) <= 2, warned
    assert len({line["pid"] for line in warned}) == len(warned)  # never twice from one worker
    expected = ("traffic", "okhttp", "client.app_ua_pattern", "okhttp/4.12.0")
    assert {(w["trigger"], w["stack"], w["setting"], w["user_agent"]) for w in warned} == {expected}
    assert sum(line["event"] == "decision" for line in lines) == 12
