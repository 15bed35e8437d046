"""Worker lifecycle failures end the process with a clear status instead of a restart loop."""

from __future__ import annotations

import dataclasses

import pytest

from shield.proxy.workers import Apps, effective_workers, serve
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
