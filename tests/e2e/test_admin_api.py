"""The admin listener of a whole shield: token, bans that bite on the proxy, rules, explain."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shield.model import FakeClock
from shield.service import build_service
from shield.settings.schema import AdminSettings
from tests.e2e.conftest import rules_dir, stack_settings
from tests.fixtures.upstream import AppServers, Upstream, free_port

TOKEN = "admin-token-for-tests"


@pytest.fixture
async def both(upstream: Upstream, tmp_path: Path, ua_resolver: Any) -> AsyncIterator[tuple[str, str]]:
    settings = stack_settings(upstream, rules_dir(tmp_path))
    settings = dataclasses.replace(settings, admin=AdminSettings(listen=f"127.0.0.1:{free_port()}", token=TOKEN))
    service = build_service(settings, clock=FakeClock(), ua_resolver=ua_resolver)
    assert service.admin is not None
    async with AppServers() as servers:
        proxy = await servers.start(service.proxy, settings.listen)
        yield proxy, await servers.start(service.admin, settings.admin.listen)


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def eventually_status(s: aiohttp.ClientSession, url: str, headers: dict[str, str], status: int) -> bool:
    for _ in range(40):
        async with s.get(url, headers=headers) as r:
            if r.status == status:
                return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [("GET", "/decisions", {}), ("GET", "/rules", {"Authorization": "Bearer nope"}), ("POST", "/explain", {})],
    ids=["decisions-no-token", "rules-wrong-token", "explain-no-token"],
)
async def test_admin_routes_refuse_a_missing_or_wrong_token(both: tuple[str, str], method: str, path: str,
                                                            headers: dict[str, str]) -> None:
    _proxy, admin = both
    async with aiohttp.ClientSession() as s, s.request(method, admin + path, headers=headers) as resp:
        assert resp.status == 401


async def test_an_admin_ban_bites_on_the_proxy_and_lifting_it_lets_the_client_back(both: tuple[str, str]) -> None:
    proxy, admin = both
    who = {"X-Forwarded-For": "198.51.100.9"}
    async with aiohttp.ClientSession() as s:
        async with s.post(admin + "/decisions", headers=AUTH,
                          json={"scope": "subnet", "value": "198.51.100.0/24", "ttl": "1h", "reason": "incident 42"},
                          ) as r:
            assert r.status in (200, 201)
        # the ban cache refreshes at once after an admin change (and every second anyway)
        assert await eventually_status(s, proxy + "/anything", who, 403)
        async with s.get(admin + "/decisions", headers=AUTH) as r:
            bans = await r.json()
        assert "198.51.100.0/24" in str(bans)
        async with s.get(admin + "/metrics", headers=AUTH) as r:
            exposition = await r.text()
        assert "shield_bans_active 1.0" in exposition
        assert 'shield_requests_total{route="banned",status="403"} 1.0' in exposition
        async with s.delete(admin + "/decisions/subnet/198.51.100.0/24", headers=AUTH) as r:
            assert r.status in (200, 204)
        assert await eventually_status(s, proxy + "/anything", who, 200)


async def test_rules_and_explain_over_the_admin_api(both: tuple[str, str]) -> None:
    _proxy, admin = both
    async with aiohttp.ClientSession() as s:
        async with s.get(admin + "/rules", headers=AUTH) as r:
            info = await r.json()
        async with s.post(admin + "/explain", headers=AUTH, json={
            "method": "POST", "path": "/api/login", "client_ip": "2001:db8:3100::7",
            "body": {"username": "block", "password": "x"},
        }) as r:
            explained = await r.json()
        async with s.post(admin + "/explain", headers=AUTH, json={"path": "/nope"}) as r:
            bad = await r.json()
            bad_status = r.status
    assert explained["action"] == "block"
    assert explained["rules"] == [{"id": "block_me", "score": 95, "action": None}]
    assert explained["ruleset"] == info["hash"]
    assert explained["facts"]["ip.country"] == "US"
    assert bad_status == 400
    assert "not a protected route" in bad["message"]
