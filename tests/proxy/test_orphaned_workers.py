"""A supervisor killed outright (SIGKILL: the OOM killer, `kill -9`, a runtime that skips SIGTERM) takes
its workers with it: they drain and exit instead of holding the port with nobody to stop them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import pytest

from tests.fixtures.upstream import Upstream
from tests.proxy.test_run import start_shield


def _children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever adopted it to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


@pytest.mark.slow
async def test_workers_of_a_killed_supervisor_exit_and_free_the_port(upstream: Upstream) -> None:
    proc, url, _admin = await start_shield(upstream, "--workers", "2")
    workers = _children(proc.pid)
    assert len(workers) == 2
    port = int(url.rsplit(":", 1)[1])
    try:
        proc.kill()
        with contextlib.suppress(TimeoutError):  # its stdout and stderr pipes close with the last worker
            await asyncio.wait_for(proc.wait(), 10)
        for _ in range(100):  # the grace is 5 s; an idle worker drains at once
            if not any(_running(w) for w in workers) and await _refused(port):
                break
            await asyncio.sleep(0.1)
        assert not [w for w in workers if _running(w)], "workers outlived their supervisor"
        assert await _refused(port), "the port still answers with no supervisor"
    finally:
        for w in workers:
            if _running(w):
                os.kill(w, signal.SIGKILL)
