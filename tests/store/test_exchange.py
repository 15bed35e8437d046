"""exchange: a turn's commands packed in C and sent on a pooled connection, read back in order,
with redis-py's connection semantics (errors mapped, a broken connection never reused)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
from redis import exceptions as rexc
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from shield.model import FakeClock
from shield.store.base import StoreUnavailable
from shield.store.exchange import KEPT, Lanes, exchange, pack, pool_of
from shield.store.pipelining import TickPipeline
from tests.fixtures.redis import RedisServer
from tests.store.test_redis_calls import _open
from tests.store.test_resilient import OBS


def _pool(url: str, **options: object) -> BlockingConnectionPool:
    return BlockingConnectionPool.from_url(url, max_connections=1, timeout=2, **options)


def test_pack_is_the_resp_redis_py_sends() -> None:
    words: list[str | bytes] = ["FCALL", "f_observe", "1", "{k}", b"\x00\xff", "acct-\u00e9", b"", b"a b"]
    assert pack(words) == b"".join(Connection().pack_command(*words))


async def test_replies_come_in_order_a_command_error_as_its_reply(redis_url: str) -> None:
    pool = _pool(redis_url)
    try:
        await Redis(connection_pool=pool).hset("h", "f", "v")
        replies = await exchange(pool, [pack(["INCR", "n"]), pack(["INCR", "h"]), pack(["GET", "n"])])
        assert replies[0] == 1
        assert isinstance(replies[1], rexc.ResponseError)
        assert replies[2] == b"1"
        missing = await exchange(pool, [pack(["EVALSHA", "0" * 40, "0"])])
        assert isinstance(missing[0], rexc.NoScriptError)  # redis-py's mapping, as the store's reload needs
    finally:
        await pool.aclose()


async def test_a_connection_killed_by_the_server_fails_once_then_is_replaced(
    redis_url: str, redis_server: RedisServer
) -> None:
    pool = _pool(redis_url)  # shield's pools have no retry (connect.py): the failure is reported
    try:
        assert await exchange(pool, [pack(["ECHO", "a"])]) == [b"a"]
        assert redis.Redis(port=redis_server.port).client_kill_filter(_type="normal", skipme=True) >= 1
        with pytest.raises(rexc.ConnectionError):
            await exchange(pool, [pack(["ECHO", "b"])])
        assert await exchange(pool, [pack(["ECHO", "c"]), pack(["ECHO", "d"])]) == [b"c", b"d"]
    finally:
        await pool.aclose()


async def test_the_connections_retry_sends_again_on_a_fresh_connection(
    redis_url: str, redis_server: RedisServer
) -> None:
    pool = _pool(redis_url, retry=Retry(NoBackoff(), 1))
    try:
        assert await exchange(pool, [pack(["ECHO", "a"])]) == [b"a"]
        assert redis.Redis(port=redis_server.port).client_kill_filter(_type="normal", skipme=True) >= 1
        assert await exchange(pool, [pack(["ECHO", "b"]), pack(["ECHO", "c"])]) == [b"b", b"c"]
    finally:
        await pool.aclose()


async def test_a_cancelled_exchange_leaves_no_reply_for_the_next_caller(redis_url: str) -> None:
    pool = _pool(redis_url)  # one connection: the next exchange gets the same one, or a fresh one
    try:
        first = asyncio.create_task(exchange(pool, [pack(["BLPOP", "empty-list", "0.3"]), pack(["ECHO", "late"])]))
        await asyncio.sleep(0.05)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await exchange(pool, [pack(["ECHO", "mine"])]) == [b"mine"]
    finally:
        await pool.aclose()


async def test_a_hung_server_times_out_as_redis_py_does(restartable_redis: RedisServer) -> None:
    pool = _pool(restartable_redis.url, socket_timeout=0.2, retry=None)
    process = restartable_redis.process
    assert process is not None
    try:
        assert await exchange(pool, [pack(["PING"])]) == [b"PONG"]  # as sent: no response callback
        process.send_signal(19)  # SIGSTOP: accepts connections, never answers
        try:
            with pytest.raises(rexc.TimeoutError):
                await exchange(pool, [pack(["PING"])])
        finally:
            process.send_signal(18)  # SIGCONT
        assert await exchange(pool, [pack(["ECHO", "back"])]) == [b"back"]  # a fresh connection, in sync
    finally:
        await pool.aclose()


async def test_the_turns_keep_their_connections_out_of_the_pool_until_closed(redis_url: str) -> None:
    pool = BlockingConnectionPool.from_url(redis_url, max_connections=8, timeout=2)
    lanes = Lanes(pool)
    try:
        for i in range(5):  # one after the other: one connection, taken from the pool once
            assert await lanes.exchange([pack(["ECHO", str(i)])]) == [str(i).encode()]
        assert (len(pool._in_use_connections), len(pool._available_connections)) == (1, 0)
        many = [lanes.exchange([pack(["ECHO", str(i)])]) for i in range(KEPT + 2)]  # at once
        assert await asyncio.gather(*many) == [[str(i).encode()] for i in range(KEPT + 2)]
        assert (len(pool._in_use_connections), len(pool._available_connections)) == (KEPT, 2)
        await lanes.close()
        assert (len(pool._in_use_connections), len(pool._available_connections)) == (0, KEPT + 2)
    finally:
        await lanes.close()
        await pool.aclose()


async def test_a_kept_connection_killed_by_the_server_fails_once_then_is_replaced(
    redis_url: str, redis_server: RedisServer
) -> None:
    pool = _pool(redis_url)
    lanes = Lanes(pool)
    try:
        assert await lanes.exchange([pack(["ECHO", "a"])]) == [b"a"]
        assert redis.Redis(port=redis_server.port).client_kill_filter(_type="normal", skipme=True) >= 1
        with pytest.raises(rexc.ConnectionError):
            await lanes.exchange([pack(["ECHO", "b"])])
        assert await lanes.exchange([pack(["ECHO", "c"]), pack(["ECHO", "d"])]) == [b"c", b"d"]
    finally:
        await lanes.close()
        await pool.aclose()


async def test_a_cancelled_turn_leaves_no_reply_on_a_kept_connection(redis_url: str) -> None:
    pool = _pool(redis_url)  # one connection: the next exchange gets the same one, or a fresh one
    lanes = Lanes(pool)
    try:
        assert await lanes.exchange([pack(["ECHO", "kept"])]) == [b"kept"]
        first = asyncio.create_task(lanes.exchange([pack(["BLPOP", "empty-list", "0.3"]), pack(["ECHO", "late"])]))
        await asyncio.sleep(0.05)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await lanes.exchange([pack(["ECHO", "mine"])]) == [b"mine"]
    finally:
        await lanes.close()
        await pool.aclose()


async def test_a_hung_server_times_out_the_whole_turn_once(restartable_redis: RedisServer) -> None:
    # One deadline for the turn's replies: the socket timeout, not one per reply.
    pool = _pool(restartable_redis.url, socket_timeout=0.3, retry=None)
    lanes = Lanes(pool)
    process = restartable_redis.process
    assert process is not None
    try:
        assert await lanes.exchange([pack(["PING"])]) == [b"PONG"]
        process.send_signal(19)  # SIGSTOP
        try:
            started = asyncio.get_running_loop().time()
            with pytest.raises(rexc.TimeoutError):
                await lanes.exchange([pack(["PING"]), pack(["PING"]), pack(["PING"])])
            assert 0.25 < asyncio.get_running_loop().time() - started < 0.6
        finally:
            process.send_signal(18)  # SIGCONT
        assert await lanes.exchange([pack(["ECHO", "back"])]) == [b"back"]  # a fresh connection, in sync
    finally:
        await lanes.close()
        await pool.aclose()


async def test_a_cluster_keeps_redis_pys_pipeline(redis_cluster_url: str) -> None:
    cluster = RedisCluster.from_url(redis_cluster_url.replace("redis+cluster", "redis").split(",")[0])
    try:
        assert pool_of(cluster) is None
        assert pool_of(Redis(single_connection_client=True)) is None
        assert TickPipeline(cluster)._pool is None
    finally:
        await cluster.aclose()


async def test_a_replica_refusing_the_write_is_an_outage_not_an_answer(
    redis_url: str, redis_server: RedisServer, restartable_redis: RedisServer
) -> None:
    master = _open(redis_url)
    await master.load_scripts()  # the library replicates to the replica
    await master.close()
    replica = redis.Redis(port=restartable_redis.port)
    replica.replicaof("127.0.0.1", redis_server.port)
    for _ in range(200):
        if replica.info("replication").get("master_link_status") == "up":
            break
        await asyncio.sleep(0.025)
    store = _open(restartable_redis.url)  # a demoted master, as a failover leaves a stale client
    try:
        with pytest.raises(StoreUnavailable, match="read only replica"):
            await store.observe(OBS, FakeClock().now())
    finally:
        await store.close()
        replica.replicaof("NO", "ONE")


def test_pack_heads_long_arguments_and_many_of_them() -> None:
    words: list[str | bytes] = ["RPUSH", "l", b"x" * 511, b"y" * 512, "z" * 70_000, *[str(i) for i in range(600)]]
    assert pack(words) == b"".join(Connection().pack_command(*words))


async def test_an_exchange_on_a_connected_connection_starts_no_task(redis_url: str) -> None:
    # redis-py's send runs its write under asyncio.wait_for: a task (and a timer) per exchange
    pool = _pool(redis_url, socket_timeout=1.0)
    lanes = Lanes(pool)
    loop = asyncio.get_running_loop()
    started: list[object] = []
    factory = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        started.append(coro)
        return factory(loop, coro, **kwargs) if factory else asyncio.Task(coro, loop=loop, **kwargs)

    try:
        assert await lanes.exchange([pack(["ECHO", "connect"])]) == [b"connect"]
        loop.set_task_factory(counting)
        try:
            replies = await lanes.exchange([pack(["ECHO", "a"]), pack(["INCR", "e"]), pack(["SET", "e", "x"])])
            replies += await lanes.exchange([pack(["INCR", "e"]), pack(["ECHO", "b" * 100_000])])
        finally:
            loop.set_task_factory(factory)
        assert replies[:3] == [b"a", 1, True] or replies[:3] == [b"a", 1, b"OK"]
        assert isinstance(replies[3], rexc.ResponseError)
        assert replies[4] == b"b" * 100_000
        assert started == []
    finally:
        await lanes.close()
        await pool.aclose()


async def test_an_error_reply_meaning_the_server_cannot_answer_is_raised_not_returned(redis_url: str) -> None:
    """A LOADING (or MASTERDOWN...) reply is not a command's answer: redis-py's read raises it as a
    ConnectionError, and so does the exchange's own read (a Lua error reply stands in for it here)."""
    pool = _pool(redis_url)
    try:
        loading = pack(["EVAL", "return redis.error_reply('LOADING Redis is loading the dataset in memory')", "0"])
        assert await exchange(pool, [pack(["PING"])]) == [b"PONG"]  # connected: the exchange's own reads
        with pytest.raises(rexc.BusyLoadingError):
            await exchange(pool, [pack(["PING"]), loading])
        assert await exchange(pool, [pack(["PING"])]) == [b"PONG"]  # and the next exchange goes on
    finally:
        await pool.disconnect()
