"""Worker lifecycle failures end the process with a clear status instead of a restart loop."""

from __future__ import annotations

import dataclasses
import gc
import weakref
from collections.abc import Iterator

import pytest

from shield.proxy.workers import Apps, effective_workers, serve, settle_heap
from shield.settings.schema import Settings
from tests.fixtures.upstream import free_port


async def broken_factory(settings: Settings, with_admin: bool) -> Apps:
    raise RuntimeError("rules did not compile")


@pytest.mark.parametrize("workers", [1, 2], ids=["in_process", "two_workers"])
def test_a_factory_that_fails_exits_1_without_restarting(workers: int, capfd: pytest.CaptureFixture[str]) -> None:
    settings = dataclasses.replace(Settings(), workers=workers, listen=f"127.0.0.1:{free_port()}", shutdown_grace=1.0)
    assert serve(settings, broken_factory) == 1
    out = capfd.readouterr().out
    assert "shield.start_failed" in out
    assert "worker.died" not in out


@pytest.mark.parametrize(("configured", "expected_min"), [(0, 1), (3, 3)], ids=["cpu_count", "explicit"])
def test_effective_workers(configured: int, expected_min: int) -> None:
    n = effective_workers(dataclasses.replace(Settings(), workers=configured))
    assert n >= expected_min
    if configured:
        assert n == configured


@pytest.fixture
def settled() -> Iterator[None]:
    """settle_heap in this process, undone afterwards (the test session's collector as it was)."""
    before = gc.get_threshold()
    settle_heap()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_settle_heap_freezes_start_up_and_keeps_the_thresholds() -> None:
    before = gc.get_threshold()
    settle_heap()
    try:
        assert gc.isenabled()
        assert gc.get_threshold() == before  # a raised young threshold bloated RSS under slow clients
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_cycles_made_after_settle_heap_are_still_collected_without_an_explicit_collect(settled: None) -> None:
    """Freezing start-up never stops the collection of what comes after: a request's cyclic garbage
    (aiohttp makes some) must not pile up in a worker for good."""
    freed = [0]

    def count() -> None:
        freed[0] += 1

    young = gc.get_threshold()[0]
    made = 3 * young
    for _ in range(made):
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: reference counting alone never frees it
        weakref.finalize(a, count)
        del a, b
    assert freed[0] >= young  # at least one young collection ran on its own
