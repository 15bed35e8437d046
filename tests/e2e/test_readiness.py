"""Ready means able to serve: a degraded store keeps /readyz at 200 (body and metric say degraded)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shield.model import FakeClock
from shield.service import build_service
from shield.settings.schema import AdminSettings
from shield.store.connect import open_store
from tests.e2e.conftest import rules_dir, stack_settings
from tests.fixtures.upstream import AppServers, Upstream, free_port

TOKEN = "admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def start(upstream: Upstream, tmp_path: Path, ua_resolver: Any) -> AsyncIterator[Callable[..., Any]]:
    """start(store=None, **settings) -> (proxy url, admin url) of a whole shield with its admin listener."""
    async with AppServers() as servers:

        async def run(*, store: Any = None, **changes: Any) -> tuple[str, str]:
            settings = stack_settings(upstream, rules_dir(tmp_path), **changes)
            settings = dataclasses.replace(settings, admin=AdminSettings(listen=f"127.0.0.1:{free_port()}",
                                                                          token=TOKEN))
            service = build_service(settings, clock=FakeClock(), store=store, ua_resolver=ua_resolver)
            assert service.admin is not None
            proxy = await servers.start(service.proxy, settings.listen)
            return proxy, await servers.start(service.admin, settings.admin.listen)

        yield run


async def readyz(s: aiohttp.ClientSession, admin: str) -> tuple[int, dict[str, Any]]:
    async with s.get(admin + "/readyz") as r:
        return r.status, await r.json()


async def test_readyz_stays_200_while_redis_is_down_and_says_degraded(
    start: Callable[..., Any], restartable_redis: Any
) -> None:
    store = open_store(restartable_redis.url + "?probe_interval=5&call_timeout=0.2")
    proxy, admin = await start(store=store)
    async with aiohttp.ClientSession() as s:
        assert await readyz(s, admin) == (200, {"status": "ready", "degraded": False, "notes": []})
        restartable_redis.stop()
        async with s.post(proxy + "/api/login", json={"username": "alice", "password": "right"}) as r:
            served = r.status
        status, body = await readyz(s, admin)
        async with s.get(admin + "/metrics", headers=AUTH) as r:
            exposition = await r.text()
    assert served == 200  # shield serves from local counters: it is ready
    assert (status, body["status"], body["degraded"]) == (200, "ready", True)
    assert any(note.startswith("store:") for note in body["notes"])
    assert "shield_store_degraded 1.0" in exposition


async def test_readyz_is_503_when_the_upstream_is_unreachable(start: Callable[..., Any]) -> None:
    _proxy, admin = await start(upstream=f"http://127.0.0.1:{free_port()}")
    async with aiohttp.ClientSession() as s:
        status, body = await readyz(s, admin)
    assert (status, body["status"]) == (503, "not_ready")
    assert any("upstream" in p for p in body["problems"])


async def test_store_degraded_gauge_is_zero_while_redis_answers(start: Callable[..., Any], redis_url: str) -> None:
    _proxy, admin = await start(store=open_store(redis_url))
    async with aiohttp.ClientSession() as s, s.get(admin + "/metrics", headers=AUTH) as r:
        assert "shield_store_degraded 0.0" in await r.text()
