"""Metrics of `shield run --workers 2` as real processes: totals never go backwards when a worker restarts."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.fixtures.upstream import Upstream
from tests.proxy.test_run import start_shield

TOKEN = "t0ken"
PASSTHROUGH_OK = re.compile(r'^shield_requests_total\{route="passthrough",status="200"\} (\S+)$', re.MULTILINE)


def _children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


async def _wait_for(predicate: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(150):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _glob(folder: Path, pattern: str) -> list[Path]:
    return list(folder.glob(pattern))


async def _scrape(admin: str) -> str:
    async with aiohttp.ClientSession() as s, s.get(
        f"{admin}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as r:
        text = await r.text()
        assert r.status == 200, text
        return text


async def _served(admin: str) -> float:
    found = PASSTHROUGH_OK.search(await _scrape(admin))
    return float(found.group(1)) if found else 0.0


async def _send(url: str, n: int) -> None:
    for _ in range(n):  # a fresh connection each, so SO_REUSEPORT spreads them over both workers
        async with aiohttp.ClientSession() as s, s.get(f"{url}/echo") as r:
            assert r.status == 200


def _counted(admin: str, n: float) -> Callable[[], Awaitable[bool]]:
    """The other worker hands its counts to the shared files every second (shield.observe.metrics)."""

    async def counted() -> bool:
        return await _served(admin) == n

    return counted


async def _admin_up(admin: str) -> bool:
    try:
        async with aiohttp.ClientSession() as s, s.get(f"{admin}/healthz") as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


@pytest.fixture
async def shield_2_workers(
    upstream: Upstream, tmp_path: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str, str]]:
    env = {"SHIELD_ADMIN_TOKEN": TOKEN, "TMPDIR": str(tmp_path)}
    proc, url, admin = await start_shield(upstream, "--workers", "2", env=env)
    yield proc, url, admin
    if proc.returncode is None:
        for child in _children(proc.pid):  # at once: a killed supervisor's workers would drain first
            os.kill(child, signal.SIGKILL)
        proc.kill()
        await proc.wait()


@pytest.mark.slow
async def test_a_restarted_worker_does_not_make_totals_go_backwards(
    shield_2_workers: tuple[asyncio.subprocess.Process, str, str],
) -> None:
    proc, url, admin = shield_2_workers
    await _send(url, 20)
    await _wait_for(_counted(admin, 20.0), "20 requests counted")
    for victim in sorted(_children(proc.pid)):  # every worker dies once, worker 0 (the admin one) too
        before = _children(proc.pid)
        os.kill(victim, signal.SIGKILL)

        async def respawned(before: set[int] = before, victim: int = victim) -> bool:
            now = _children(proc.pid)
            return victim not in now and len(now) == len(before)

        await _wait_for(respawned, f"worker {victim} to be replaced")
        await _wait_for(lambda: _admin_up(admin), "the admin listener")
    assert await _served(admin) == 20.0  # the dead workers' counts are kept
    await _send(url, 10)
    await _wait_for(_counted(admin, 30.0), "30 requests counted")


@pytest.mark.slow
async def test_the_per_run_metrics_folder_is_under_tmpdir_and_removed_on_exit(
    shield_2_workers: tuple[asyncio.subprocess.Process, str, str], tmp_path: Path
) -> None:
    proc, url, admin = shield_2_workers
    await _send(url, 2)
    folders = _glob(tmp_path, "shield-metrics-*")
    assert len(folders) == 1
    assert _glob(folders[0], "*.db")
    text = await _scrape(admin)
    assert "process_resident_memory_bytes" in text
    assert "python_info" in text
    assert 'shield_build_info{' in text
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.wait(), 15)
    assert proc.returncode == 0
    assert _glob(tmp_path, "shield-*") == []
