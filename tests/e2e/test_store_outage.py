"""Killing redis-server mid-run loses no request, and shield recovers by itself when it returns."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from shield.store.connect import open_store

FOREIGN = {"X-Forwarded-For": "2001:db8:3100::7"}


async def login(session: aiohttp.ClientSession, url: str, account: str, password: str = "wrong") -> int:
    async with session.post(url + "/api/login", json={"username": account, "password": password},
                            headers=FOREIGN) as resp:
        await resp.read()
        return resp.status


async def test_redis_outage_is_survived_and_recovered_from(make_stack: Any, restartable_redis: Any) -> None:
    store = open_store(restartable_redis.url + "?probe_interval=0.1&call_timeout=0.2")
    stack = await make_stack(store=store)
    async with aiohttp.ClientSession() as s:
        assert await login(s, stack.url, "alice", "right") == 200
        restartable_redis.stop()
        during = [await login(s, stack.url, f"user{i}") for i in range(5)]
        assert during == [401] * 5  # every request answered by the app, none lost
        restartable_redis.start()
        for _ in range(100):
            if not store.degraded:
                break
            await asyncio.sleep(0.05)
        after = await login(s, stack.url, "alice", "right")
    assert after == 200
    degraded = [d["store_degraded"] for d in stack.decisions()]
    assert degraded[0] is False
    assert all(degraded[1:6])
    assert degraded[-1] is False
    events = [line["event"] for line in stack.lines()]
    assert events.count("store.unavailable") == 1
    assert events.count("store.recovered") == 1


async def test_route_policy_challenge_applies_while_the_store_is_down(make_stack: Any, restartable_redis: Any) -> None:

    from shield.settings.schema import FieldRef, RouteSettings

    route = RouteSettings(name="login", path="/api/login", account=FieldRef("json", "username"),
                          password=FieldRef("json", "password"), on_store_error="challenge")
    store = open_store(restartable_redis.url + "?probe_interval=5&call_timeout=0.2")
    stack = await make_stack(store=store, routes=(route,))
    restartable_redis.stop()
    async with aiohttp.ClientSession() as s:
        status = await login(s, stack.url, "alice", "right")
    assert status == 403
    line = stack.decisions()[-1]
    assert (line["action"], line["store_degraded"], line["challenge"]) == ("challenge", True, "issued")
