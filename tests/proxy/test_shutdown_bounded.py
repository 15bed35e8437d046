"""SIGTERM ends `shield run` within `shutdown_grace`, whatever the open connections do (issue 12,
item 10: 23 s with a grace of 10, every slow connection waited for twice)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import orjson
import pytest

from tests.fixtures.upstream import Upstream
from tests.proxy.shield_process import raw, running_shield


@pytest.mark.parametrize("workers", [1, 2], ids=["in_process", "two_workers"])
async def test_sigterm_exits_within_the_grace_with_slow_connections_open(
    upstream: Upstream, tmp_path: Path, workers: int
) -> None:
    env = {"SHIELD_SHUTDOWN_GRACE": "2", "SHIELD_LIMITS_CLIENT_WRITE_TIMEOUT": "60"}
    async with running_shield(upstream, tmp_path, env, workers=workers) as shield:
        held = [
            await raw(shield, b"GET /slow?s=8 HTTP/1.1\r\nHost: a\r\n\r\n"),  # in flight at the upstream
            await raw(shield, b"GET /big?mb=64 HTTP/1.1\r\nHost: a\r\n\r\n"),  # a download nobody reads
            await raw(shield, b"GET /echo HTTP/1.1\r\nHost: a\r\n"),  # a head not finished
            await raw(shield, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99\r\n\r\nx"),  # a body
        ]
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        shield.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(shield.proc.wait(), 20)
        took = time.monotonic() - t0
        for _, writer in held:
            writer.close()
    assert shield.proc.returncode == 0
    assert took < 2 + 1.0, f"took {took:.1f} s with a grace of 2 s"
    events = [orjson.loads(line).get("event") for line in shield.stdout.read_bytes().splitlines()]
    assert events.count("shield.stopped") == workers
