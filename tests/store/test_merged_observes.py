"""The observes of one loop turn: one FCALL per master carrying every attempt, answering as sequential calls.

Counted with INFO commandstats on the real servers (standalone, Sentinel's master, each Cluster master).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
import redis
from redis import exceptions as rexc

from shield.model import FakeClock, Observation, Outcome, Signals
from shield.store.connect import StoreOptions, open_redis, open_store
from shield.store.pipelining import MAX_BLOCKS
from shield.store.redis import RedisStore
from shield.store.redis_replies import HOT
from shield.store.resilient import ResilientStore
from tests.fixtures.redis import RedisClusterServers, RedisServer
from tests.store.conftest import SETTINGS
from tests.store.test_redis_cluster import stuffing


def _open(url: str, prefix: str = "shield") -> RedisStore:
    parts = urlsplit(url)
    return open_redis(parts.scheme, parts, StoreOptions(prefix=prefix), SETTINGS)


def _calls(port: int, command: str) -> int:
    stats = redis.Redis(port=port).info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def _reset(*ports: int) -> None:
    for port in ports:
        redis.Redis(port=port).config_resetstat()


async def _warm(store: RedisStore, now: float) -> None:
    """The library loaded and (Cluster) the slot table known, so a turn sends only its observes."""
    await store.load_scripts()
    await store.observe(stuffing(999), now)
    await store.flush()


async def test_observes_of_one_turn_are_one_fcall(redis_url: str, redis_server: RedisServer) -> None:
    store = _open(redis_url)
    now = FakeClock().now()
    try:
        await _warm(store, now)
        _reset(redis_server.port)
        signals = await asyncio.gather(*(store.observe(stuffing(1), now + 1) for _ in range(20)))
        assert _calls(redis_server.port, "fcall") == 1
        # the attempts of the turn see each other as sequential calls do
        assert [s.counters["ip.attempts_1m"] for s in signals] == list(range(1, 21))
    finally:
        await store.close()


async def test_observes_of_one_turn_are_one_fcall_per_cluster_master(
    redis_cluster_url: str, redis_cluster: RedisClusterServers
) -> None:
    store = _open(redis_cluster_url)
    now = FakeClock().now()
    ports = [n.port for n in redis_cluster.nodes]
    try:
        await _warm(store, now)
        _reset(*ports)
        # 16 attempts (up to 48 per-master calls: under the pool's 64, which would hold some back)
        await asyncio.gather(*(store.observe(stuffing(i), now + 1) for i in range(16)))
        per_master = [_calls(port, "fcall") for port in ports]
        assert per_master == [1, 1, 1], per_master  # the attempts reach every master
    finally:
        await store.close()


async def test_observes_of_one_turn_are_one_fcall_through_sentinel(
    redis_sentinel_url: str, redis_server: RedisServer
) -> None:
    store = _open(redis_sentinel_url)
    now = FakeClock().now()
    try:
        await _warm(store, now)
        _reset(redis_server.port)
        signals = await asyncio.gather(*(store.observe(stuffing(2), now + 1) for _ in range(10)))
        assert _calls(redis_server.port, "fcall") == 1
        assert [s.counters["account.attempts_1h"] for s in signals] == list(range(1, 11))
    finally:
        await store.close()


async def test_a_turn_larger_than_the_cap_is_split(redis_url: str, redis_server: RedisServer) -> None:
    store = _open(redis_url)
    now = FakeClock().now()
    n = 2 * MAX_BLOCKS + 3
    try:
        await _warm(store, now)
        _reset(redis_server.port)
        signals = await asyncio.gather(*(store.observe(stuffing(3), now + 1) for _ in range(n)))
        assert _calls(redis_server.port, "fcall") == 3
        assert [s.counters["ip.attempts_1m"] for s in signals] == list(range(1, n + 1))
    finally:
        await store.close()


def _traffic(seed: int, n: int) -> list[Observation]:
    """Attempts over small pools (entities come back within a turn and across turns), passwords over
    a large one (an address's distinct passwords outgrow the exact sets into HyperLogLogs)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ip = f"10.70.{rng.randrange(2)}.{rng.randrange(1, 5)}"
        out.append(
            Observation(
                route="login",
                ip=ip,
                subnet=ip.rsplit(".", 1)[0] + ".0/24",
                asn=rng.choice(["64501", "64502", None]),
                country=rng.choice(["US", "BR", None]),
                account=rng.choice([f"user-{rng.randrange(6)}", None]),
                fp=rng.choice([f"fp-{rng.randrange(3)}", None]),
                device=rng.choice([f"dev-{rng.randrange(4)}", None]),
                password=f"pw-{rng.randrange(150)}",
                pair=f"pair-{rng.randrange(40)}",
                lat=rng.choice([None, 48.1]),
                lon=11.5,
            )
        )
    return out


async def _differential(merged: RedisStore, sequential: RedisStore, seed: int) -> int:
    """The same attempts: `merged` gets each turn's all at once, `sequential` one per turn. Returns
    how many calls went out inside another's command (so the test knows it merged)."""
    rng = random.Random(seed)
    attempts = _traffic(seed, 400)
    now = FakeClock().now()
    i = 0
    while i < len(attempts):
        turn = attempts[i : i + rng.choice([1, 2, 5, 13, 40])]
        times = []
        for _ in turn:
            now += rng.choice([0.0, 0.0, 0.4, 3.0, 41.0])
            times.append(now)
        got = await asyncio.gather(*(merged.observe(obs, t) for obs, t in zip(turn, times, strict=True)))
        want: list[Signals] = [await sequential.observe(obs, t) for obs, t in zip(turn, times, strict=True)]
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            assert _scripted(merged, g) == _scripted(sequential, w), (i + k, turn[k])
        await _outcomes(rng, (merged, sequential), turn, times)
        if i == 200:
            for store in (merged, sequential):
                await store.add_ban("ip", attempts[i].ip, ttl=120, reason="r", now=now)
        i += len(turn)
    return merged._pipe.merged


def _scripted(store: RedisStore, signals: Signals) -> Signals:
    """The answer without the worker's own tallies (the site's, the countries' and ASNs' rows:
    shield.store.batched), which the scripts do not count and whose flushes follow the loop's
    clock: two stores given the same attempts one at a time differ there too."""
    tallied = {*store._site_names, *(name for d in HOT for name in store._row_names[d])}
    counters = {name: n for name, n in signals.counters.items() if name not in tallied}
    return replace(signals, counters=counters)


async def _outcomes(
    rng: random.Random, stores: Sequence[RedisStore], turn: Sequence[Observation], times: Sequence[float]
) -> None:
    for obs, t in zip(turn, times, strict=True):
        outcome = rng.choice([Outcome.FAILURE, Outcome.FAILURE, Outcome.SUCCESS, Outcome.UNKNOWN])
        familiar, confirmed = rng.random() < 0.5, rng.random() < 0.7
        for store in stores:
            await store.record_outcome(obs, outcome, familiar=familiar, now=t, confirmed=confirmed)
    for store in stores:
        await store.flush()


@pytest.mark.parametrize("seed", [1, 2])
async def test_merged_observes_answer_as_one_per_turn(redis_url: str, seed: int) -> None:
    merged, sequential = _open(redis_url, "m"), _open(redis_url, "s")
    try:
        assert await _differential(merged, sequential, seed) > 100
    finally:
        await merged.close()
        await sequential.close()


async def test_merged_observes_answer_as_one_per_turn_on_a_cluster(redis_cluster_url: str) -> None:
    merged, sequential = _open(redis_cluster_url, "m"), _open(redis_cluster_url, "s")
    try:
        assert await _differential(merged, sequential, 3) > 100
    finally:
        await merged.close()
        await sequential.close()


async def test_merged_script_calls_answer_as_one_per_turn(redis_url: str) -> None:
    """The EVALSHA scripts (a server without functions) merge and answer the same."""
    merged, sequential = _open(redis_url, "m"), _open(redis_url, "s")
    merged._functions = False
    try:
        assert await _differential(merged, sequential, 4) > 100
    finally:
        await merged.close()
        await sequential.close()


async def _each_its_own_ban(store: RedisStore, now: float) -> None:
    """A turn of attempts on some of which a ban is in force (by address, account, subnet): one
    HMGET reads the call's bans, and each attempt gets its own, as it would alone."""
    await _warm(store, now)
    await store.add_ban("ip", stuffing(2).ip, ttl=60, reason="ip", now=now)
    await store.add_ban("account", "victim-4", ttl=600, reason="account", now=now)
    await store.add_ban("subnet", stuffing(120).subnet or "", ttl=300, reason="subnet", now=now)
    turn = [1, 2, 3, 4, 5, 120, 121, 6]
    got = await asyncio.gather(*(store.observe(stuffing(i), now + 1) for i in turn))
    reasons = [s.ban.reason if s.ban else None for s in got]
    assert reasons == [None, "ip", None, "account", None, "subnet", "subnet", None]
    alone = [(await store.observe(stuffing(i), now + 2)).ban for i in turn]
    assert [b.reason if b else None for b in alone] == reasons


async def test_each_attempt_of_a_turn_gets_its_own_ban(redis_url: str) -> None:
    store = _open(redis_url)
    try:
        await _each_its_own_ban(store, FakeClock().now())
    finally:
        await store.close()


async def test_each_attempt_of_a_turn_gets_its_own_ban_on_a_cluster(redis_cluster_url: str) -> None:
    store = _open(redis_cluster_url)
    try:
        await _each_its_own_ban(store, FakeClock().now())
    finally:
        await store.close()


async def test_an_error_in_one_attempt_reaches_every_caller_of_the_turn(redis_url: str) -> None:
    store = _open(redis_url)
    now = FakeClock().now()
    bad = stuffing(7)
    try:
        await _warm(store, now)
        # a ban record that is not JSON: the script fails on this attempt alone
        await store._client.hset("{shield}:bans", f"ip:{bad.ip}", "not json")
        replies = await asyncio.gather(
            *(store.observe(stuffing(i), now + 1) for i in (1, 2, 7, 3)), return_exceptions=True
        )
        assert all(isinstance(r, rexc.ResponseError) for r in replies), replies
        assert isinstance((await asyncio.gather(store.observe(stuffing(1), now + 2)))[0], Signals)  # alone: fine
    finally:
        await store.close()


async def test_an_error_in_a_merged_call_is_counted_and_survived_by_each_caller(redis_url: str) -> None:
    errors: list[str] = []
    store = open_store(redis_url + "?probe_interval=30", SETTINGS, on_error=errors.append)
    assert isinstance(store, ResilientStore)
    assert isinstance(store.primary, RedisStore)
    now = FakeClock().now()
    try:
        await _warm(store.primary, now)
        await store.primary._client.hset("{shield}:bans", f"ip:{stuffing(7).ip}", "not json")
        answers = await asyncio.gather(*(store.observe(stuffing(i), now + 1) for i in (1, 7, 3)))
        assert [a.counters["ip.attempts_1m"] for a in answers] == [1, 1, 1]  # the local fallback's
        assert errors == ["unavailable"] * 3
        assert store.degraded
    finally:
        await store.close()


async def test_a_lost_library_is_loaded_once_for_the_whole_turn(redis_url: str, redis_server: RedisServer) -> None:
    store = _open(redis_url)
    now = FakeClock().now()
    try:
        await _warm(store, now)
        redis.Redis(port=redis_server.port).function_flush()  # what a restart without persistence does
        _reset(redis_server.port)
        signals = await asyncio.gather(*(store.observe(stuffing(4), now + 1) for _ in range(12)))
        assert [s.counters["ip.attempts_1m"] for s in signals] == list(range(1, 13))
        assert _calls(redis_server.port, "function|load") == 1
        assert _calls(redis_server.port, "fcall") == 2  # the one refused, the one retried
    finally:
        await store.close()


async def test_a_lost_script_is_loaded_once_for_the_whole_turn(redis_url: str, redis_server: RedisServer) -> None:
    store = _open(redis_url)
    store._functions = False  # a server without functions: the scripts
    now = FakeClock().now()
    try:
        await _warm(store, now)
        redis.Redis(port=redis_server.port).script_flush()
        _reset(redis_server.port)
        signals = await asyncio.gather(*(store.observe(stuffing(5), now + 1) for _ in range(12)))
        assert [s.counters["ip.attempts_1m"] for s in signals] == list(range(1, 13))
        assert _calls(redis_server.port, "script|load") == 1
        assert _calls(redis_server.port, "evalsha") == 2
    finally:
        await store.close()


async def test_a_ragged_argument_list_is_refused_whole(redis_url: str) -> None:
    store = _open(redis_url)
    now = FakeClock().now()
    try:
        await _warm(store, now)
        with pytest.raises(rexc.ResponseError, match="ragged block"):
            await store._client.fcall(f"{store._library}_observe", 1, "{shield:site:0}", repr(now), "1")
        # a whole first block, then one whose flags name two values and carry one: nothing runs
        whole = [repr(now), "1" + "0" * 8 + "00", "10.9.9.9"]
        short = [repr(now), "1" + "0" * 3 + "1" + "0" * 4 + "00", "10.9.9.8"]
        with pytest.raises(rexc.ResponseError, match="ragged block"):
            await store._client.fcall(f"{store._library}_observe", 1, "{shield:site:0}", "", *whole, *short)
        assert not await store._client.exists("{shield:ip:10.9.9.9}")
        assert await store._client.fcall(f"{store._library}_observe", 1, "{shield:site:0}", "", *whole)
        assert await store._client.exists("{shield:ip:10.9.9.9}")
    finally:
        await store.close()
