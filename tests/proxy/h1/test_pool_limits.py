"""The pool never makes a request wait forever: a full pool answers TimeoutError after the
acquire timeout (the app turns it into a quick 503), and a slot given back serves the next."""

from __future__ import annotations

import asyncio
import time

import pytest

from shield.proxy.h1.pool import ConnectionPool, PoolExhausted
from tests.fixtures.upstream import Upstream


async def test_a_full_pool_gives_up_after_the_acquire_timeout(upstream: Upstream) -> None:
    pool = ConnectionPool("127.0.0.1", upstream.port, size=1, connect_timeout=1.0, acquire_timeout=0.2)
    held = await pool.acquire()
    t0 = time.monotonic()
    with pytest.raises(PoolExhausted):
        await pool.acquire()
    assert 0.15 <= time.monotonic() - t0 < 1.0
    pool.discard(held)
    pool.discard(await asyncio.wait_for(pool.acquire(), 1.0))
    pool.close()


async def test_streams_leave_the_reserved_slots_to_protected_routes(upstream: Upstream) -> None:
    pool = ConnectionPool("127.0.0.1", upstream.port, size=4, connect_timeout=1.0, acquire_timeout=0.2, reserved=1)
    streams = [await pool.acquire(bulk=True) for _ in range(3)]
    with pytest.raises(PoolExhausted):
        await pool.acquire(bulk=True)  # the fourth slot is a login's
    login = await asyncio.wait_for(pool.acquire(), 0.1)
    with pytest.raises(PoolExhausted):
        await pool.acquire()
    pool.release(login)
    pool.discard(streams.pop())
    streams.append(await asyncio.wait_for(pool.acquire(bulk=True), 0.1))
    for conn in streams:
        pool.discard(conn)
    pool.close()
