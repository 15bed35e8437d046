"""Coalescer: writes queued behind a flush share the next one; errors reach every writer of the batch."""

from __future__ import annotations

import asyncio

import pytest

from shield.store.coalesce import Coalescer


async def test_writes_behind_a_flush_in_flight_share_the_next_flush() -> None:
    batches: list[list[int]] = []

    async def flush(items: list[int]) -> None:
        batches.append(items)
        await asyncio.sleep(0.01)

    c = Coalescer(flush, name="test.flush")
    first = asyncio.create_task(c.submit(0))
    await asyncio.sleep(0.001)  # its flush is in flight
    await asyncio.gather(first, *(c.submit(i) for i in range(1, 10)))
    assert batches == [[0], list(range(1, 10))]


async def test_a_failed_flush_fails_each_of_its_writes() -> None:
    async def flush(items: list[int]) -> None:
        raise ConnectionError("down")

    c = Coalescer(flush, name="test.flush")
    results = await asyncio.gather(*(c.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_close_lets_queued_writes_go_out() -> None:
    done: list[int] = []

    async def flush(items: list[int]) -> None:
        await asyncio.sleep(0.01)
        done.extend(items)

    c = Coalescer(flush, name="test.flush")
    writers = [asyncio.create_task(c.submit(i)) for i in range(5)]
    await asyncio.sleep(0)
    await c.close()
    assert sorted(done) == list(range(5))
    await asyncio.gather(*writers)


async def test_close_cancels_what_the_grace_does_not_cover() -> None:
    async def flush(items: list[int]) -> None:
        await asyncio.sleep(10)

    c = Coalescer(flush, name="test.flush")
    writer = asyncio.create_task(c.submit(1))
    await asyncio.sleep(0)
    await c.close(grace=0.01)
    with pytest.raises(asyncio.CancelledError):
        await writer
