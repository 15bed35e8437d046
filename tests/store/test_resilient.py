"""A Redis outage never takes the proxy down: kill redis-server mid-run, then bring it back."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field

from structlog.testing import capture_logs

from shield.model import FakeClock, Observation, Outcome
from shield.store.bancache import BanCache
from shield.store.base import StoreUnavailable
from shield.store.connect import open_store
from shield.store.resilient import ResilientStore
from tests.fixtures.redis import RedisServer

OBS = Observation(route="login", ip="10.30.0.7", subnet="10.30.0.0/24", account="acct-1", password="pw")


@dataclass
class Hooks:
    errors: list[str] = field(default_factory=list)
    states: list[bool] = field(default_factory=list)


def resilient(server: RedisServer, hooks: Hooks) -> ResilientStore:
    store = open_store(
        server.url + "?call_timeout=0.3&probe_interval=0.05",
        on_error=hooks.errors.append,
        on_state=hooks.states.append,
    )
    assert isinstance(store, ResilientStore)
    return store


async def wait_recovered(store: ResilientStore) -> None:
    for _ in range(400):  # the probe backs off from 0.05 s; a bound so a broken probe fails the test
        if not store.degraded:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the store did not recover")


def events(logs: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return [e for e in logs if e.get("event") == name]


async def test_killed_redis_degrades_to_local_counters_and_recovers_by_itself(restartable_redis: RedisServer) -> None:
    hooks, clock = Hooks(), FakeClock()
    store = resilient(restartable_redis, hooks)
    try:
        with capture_logs() as logs:
            assert (await store.observe(OBS, clock.now())).counters["ip.attempts_1m"] == 1
            assert store.degraded is False
            restartable_redis.stop()
            answers = [await store.observe(OBS, clock.now()) for _ in range(5)]
            assert store.degraded is True
            # Local per-process counters answer while Redis is away.
            assert [a.counters["ip.attempts_1m"] for a in answers] == [1, 2, 3, 4, 5]
            await store.record_outcome(OBS, Outcome.FAILURE, familiar=False, now=clock.now())
            restartable_redis.start()
            await wait_recovered(store)
            after = await store.observe(OBS, clock.now())
        assert store.degraded is False
        assert after.counters["ip.attempts_1m"] == 1  # counted by the restarted (empty) redis-server
        assert len(events(logs, "store.unavailable")) == 1
        assert len(events(logs, "store.recovered")) == 1
        assert hooks.states == [False, True]
        assert hooks.errors == ["unavailable"]
    finally:
        await store.close()


async def test_hung_redis_is_abandoned_after_call_timeout(restartable_redis: RedisServer) -> None:
    hooks, clock = Hooks(), FakeClock()
    store = resilient(restartable_redis, hooks)
    process = restartable_redis.process
    assert process is not None
    try:
        await store.observe(OBS, clock.now())
        os.kill(process.pid, signal.SIGSTOP)  # accepts connections, never answers
        try:
            with capture_logs() as logs:
                signals = await store.observe(OBS, clock.now())
                assert store.degraded is True
                assert signals.counters["ip.attempts_1m"] == 1  # the local fallback's first count
        finally:
            os.kill(process.pid, signal.SIGCONT)
        assert hooks.errors == ["timeout"]
        assert events(logs, "store.unavailable")[0]["kind"] == "timeout"
        await wait_recovered(store)
    finally:
        await store.close()


async def test_every_call_answers_while_redis_is_down(restartable_redis: RedisServer) -> None:
    hooks, now = Hooks(), FakeClock().now()
    store = resilient(restartable_redis, hooks)
    restartable_redis.stop()
    try:
        ban = await store.add_ban("ip", "10.30.0.7", ttl=60, reason="r", now=now)
        assert await store.find_ban({"ip": "10.30.0.7"}, now) == ban
        assert await store.bans(now) == [ban]
        assert await store.claim_once("nonce", ttl=60, now=now) is True
        assert await store.claim_once("nonce", ttl=60, now=now) is False
        assert (await store.observe(OBS, now)).ban == ban
        assert await store.remove_ban("ip", "10.30.0.7") is True
        try:
            await store.ping()
            raise AssertionError("ping must report the outage")
        except StoreUnavailable:
            pass
        assert hooks.states == [False]
    finally:
        await store.close()


async def test_close_cancels_the_probe_task(restartable_redis: RedisServer) -> None:
    store = resilient(restartable_redis, Hooks())
    restartable_redis.stop()
    await store.observe(OBS, FakeClock().now())
    probes = [t for t in asyncio.all_tasks() if t.get_name() == "shield.store.probe"]
    assert len(probes) == 1
    await store.close()
    assert probes[0].cancelled()


async def test_a_refusal_counted_while_redis_is_down_lands_in_the_fallback(restartable_redis: RedisServer) -> None:
    # count_attempt never raises nor waits: the queued batch fails in the background, which degrades
    # the store and counts it in the fallback, as an observe would have been.
    hooks, now = Hooks(), FakeClock().now()
    store = resilient(restartable_redis, hooks)
    refused = Observation(route="login", ip="10.30.0.7", subnet="10.30.0.0/24")
    restartable_redis.stop()
    try:
        store.count_attempt(refused, now)
        for _ in range(200):
            if store.degraded:
                break
            await asyncio.sleep(0.01)
        assert store.degraded
        assert hooks.errors
        store.count_attempt(refused, now)  # degraded: straight to the fallback
        counters = (await store.observe(refused, now)).counters
        assert counters["ip.attempts_1m"] == counters["subnet.attempts_1m"] == 3
    finally:
        await store.close()


async def test_the_ban_cache_unbans_no_one_across_an_outage_and_takes_the_lifts_made_meanwhile(
    restartable_redis: RedisServer,
) -> None:
    hooks, now = Hooks(), FakeClock().now()
    store = resilient(restartable_redis, hooks)
    elsewhere = open_store(restartable_redis.url)  # another host's admin, on the same Redis
    cache = BanCache(store)
    process = restartable_redis.process
    assert process is not None
    try:
        shared = await store.add_ban("ip", "10.30.0.1", ttl=600, reason="r", now=now)
        await store.add_ban("ip", "10.30.0.2", ttl=600, reason="r", now=now)
        await cache.refresh(now)
        os.kill(process.pid, signal.SIGSTOP)
        try:
            local = await store.add_ban("ip", "10.30.0.3", ttl=600, reason="r", now=now + 1)  # by the fallback
            assert store.degraded
            await cache.refresh(now + 1)
            assert [cache.find({"ip": f"10.30.0.{i}"}, now + 1) is not None for i in (1, 2, 3)] == [True] * 3
        finally:
            os.kill(process.pid, signal.SIGCONT)
        await wait_recovered(store)
        assert await elsewhere.remove_ban("ip", "10.30.0.2") is True
        await cache.refresh(now + 2)
        assert cache.find({"ip": "10.30.0.1"}, now + 2) == shared
        assert cache.find({"ip": "10.30.0.2"}, now + 2) is None
        assert cache.find({"ip": "10.30.0.3"}, now + 2) == local  # made during the outage: kept
        assert await store.remove_ban("ip", "10.30.0.3") is True  # the fallback's copy, lifted
        await cache.refresh(now + 3)
        assert (cache.find({"ip": "10.30.0.3"}, now + 3), len(cache)) == (None, 1)
        await cache.refresh(now + 4)  # a full read again (a new worker's) has it no more either
        assert [b.value for b in (await store.ban_changes(None, now + 4)).bans] == ["10.30.0.1"]
    finally:
        await elsewhere.close()
        await store.close()
