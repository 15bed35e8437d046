"""Deadlines: the calls ending about the same time share a timer, and behave as asyncio.timeout."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from shield.model import FakeClock
from shield.store.connect import open_store
from shield.store.deadlines import Deadlines
from shield.store.resilient import ResilientStore
from tests.fixtures.redis import RedisServer
from tests.store.test_resilient import OBS


async def bounded(deadlines: Deadlines, seconds: float) -> str:
    """A call of `seconds` under a deadline, as ResilientStore makes one: 'done', 'timeout'."""
    guard = deadlines.arm()
    timed_out = False
    try:
        try:
            await asyncio.sleep(seconds)
            return "done"
        finally:
            timed_out = deadlines.disarm(guard)
    except asyncio.CancelledError:
        if not timed_out:
            raise
        return "timeout"


async def test_a_hung_call_is_cut_within_a_grain_after_its_timeout() -> None:
    deadlines = Deadlines(0.1, grain=0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bounded(deadlines, 5) == "timeout"
    assert 0.1 <= loop.time() - started < 0.1 + 0.01 + 0.05  # + the loop's own lateness
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_calls_started_together_share_one_timer() -> None:
    # A grain of 0.1 s: the 64 arms take well under it even on a loaded machine (with 0.01 s, a
    # loaded machine once failed this test: the arms fell in three slices, or the short call timed out).
    deadlines = Deadlines(0.5, grain=0.1)
    answers = await asyncio.gather(*(bounded(deadlines, 0.001) for _ in range(64)))
    assert answers == ["done"] * 64
    assert deadlines.timers <= 2  # one slice, or two when the arms straddle a slice's edge
    assert sorted(await asyncio.gather(bounded(deadlines, 0.001), bounded(deadlines, 2))) == ["done", "timeout"]


async def test_a_call_ended_in_time_is_never_cancelled_later() -> None:
    deadlines = Deadlines(0.03, grain=0.01)
    assert await bounded(deadlines, 0) == "done"
    await asyncio.sleep(0.08)  # past the shared timer: this task is not cancelled by it
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_a_cancellation_from_elsewhere_propagates() -> None:
    deadlines = Deadlines(5)
    call = asyncio.create_task(bounded(deadlines, 10))
    await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_a_cancellation_racing_the_deadline_still_propagates() -> None:
    deadlines = Deadlines(0.02, grain=0.01)

    async def cancelled_at_the_deadline() -> str:
        task = asyncio.current_task()
        assert task is not None
        # At the deadline or just after it: either way the outside cancellation is never swallowed.
        asyncio.get_running_loop().call_later(0.03, task.cancel)
        return await bounded(deadlines, 0.05) + await bounded(deadlines, 0.05)

    with pytest.raises(asyncio.CancelledError):
        await cancelled_at_the_deadline()


async def test_a_cancelled_request_on_a_hung_redis_is_not_answered_locally(restartable_redis: RedisServer) -> None:
    store = open_store(restartable_redis.url + "?call_timeout=5&probe_interval=0.05")
    assert isinstance(store, ResilientStore)
    process = restartable_redis.process
    assert process is not None
    try:
        await store.observe(OBS, FakeClock().now())
        os.kill(process.pid, signal.SIGSTOP)  # accepts connections, never answers
        try:
            call = asyncio.create_task(store.observe(OBS, FakeClock().now()))
            await asyncio.sleep(0.1)
            call.cancel()  # the client went away: the request ends, it is no outage
            with pytest.raises(asyncio.CancelledError):
                await call
            assert store.degraded is False
        finally:
            os.kill(process.pid, signal.SIGCONT)
    finally:
        await store.close()
