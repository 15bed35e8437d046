"""The tarpit: a bounded number of requests held on timers, freed on cancellation."""

from __future__ import annotations

import asyncio

import pytest

from shield.proxy.delay import Tarpit


async def test_hold_returns_true_after_the_delay() -> None:
    tarpit = Tarpit(2)
    assert await tarpit.hold(0.01) is True
    assert tarpit.inflight == 0


async def test_full_tarpit_refuses_at_once() -> None:
    tarpit = Tarpit(2)
    held = [asyncio.create_task(tarpit.hold(30)) for _ in range(2)]
    await asyncio.sleep(0)
    assert tarpit.inflight == 2
    assert await tarpit.hold(30) is False
    for task in held:
        task.cancel()
    await asyncio.gather(*held, return_exceptions=True)
    assert tarpit.inflight == 0


async def test_cancelled_hold_frees_its_slot() -> None:
    tarpit = Tarpit(1)
    task = asyncio.create_task(tarpit.hold(30))
    await asyncio.sleep(0)
    assert tarpit.inflight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tarpit.inflight == 0
    assert await tarpit.hold(0) is True


async def test_delay_is_capped_at_max_seconds() -> None:
    tarpit = Tarpit(1, max_seconds=0.0)
    # A 1-hour delay with a 0 s cap returns on the next loop iteration; wait_for fails the test otherwise.
    assert await asyncio.wait_for(tarpit.hold(3600), timeout=5) is True


@pytest.mark.parametrize("seconds", [-1.0, 0.0], ids=["negative", "zero"])
async def test_non_positive_delay_forwards_at_once(seconds: float) -> None:
    assert await asyncio.wait_for(Tarpit(1).hold(seconds), timeout=5) is True


def test_zero_capacity_refuses_everything() -> None:
    assert asyncio.run(Tarpit(0).hold(0)) is False


def test_negative_capacity_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="max_concurrent"):
        Tarpit(-1)
