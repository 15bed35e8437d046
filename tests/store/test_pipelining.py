"""TickPipeline: the commands of one loop turn share one pipeline; each caller gets its own answer."""

from __future__ import annotations

import asyncio
import socket

import pytest
from redis import exceptions as rexc
from redis.asyncio import Redis

from shield.model import FakeClock
from shield.store.pipelining import TickPipeline
from tests.store.test_redis_calls import _open
from tests.store.test_redis_cluster import stuffing


async def test_commands_of_one_loop_turn_go_out_as_one_pipeline(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    pipe = TickPipeline(client)
    try:
        replies = await asyncio.gather(*(pipe.call("INCR", "n") for _ in range(20)))
        assert sorted(replies) == list(range(1, 21))
        assert pipe.sent == 1
        assert await pipe.call("GET", "n") == b"20"  # a lone call goes out at once, on its own
        assert pipe.sent == 2
    finally:
        await pipe.close()
        await client.aclose()


async def test_an_error_reaches_only_its_caller(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    pipe = TickPipeline(client)
    try:
        await client.hset("h", "f", "v")
        ok, bad = await asyncio.gather(pipe.call("INCR", "n"), pipe.call("INCR", "h"), return_exceptions=True)
        assert ok == 1
        assert isinstance(bad, rexc.ResponseError)
    finally:
        await pipe.close()
        await client.aclose()


async def test_an_unreachable_server_fails_every_caller(unused_tcp_port: int) -> None:
    client = Redis(port=unused_tcp_port, socket_connect_timeout=1)
    pipe = TickPipeline(client)
    try:
        replies = await asyncio.gather(*(pipe.call("PING") for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, rexc.ConnectionError) for r in replies), replies
    finally:
        await pipe.close()
        await client.aclose()


async def test_concurrent_observes_share_pipelines_and_count_alike(redis_url: str) -> None:
    store = _open(redis_url)
    now = FakeClock().now()
    try:
        signals = await asyncio.gather(*(store.observe(stuffing(1), now) for _ in range(30)))
        assert store._pipe.sent == 1
        assert sorted(s.counters["ip.attempts_1m"] for s in signals) == list(range(1, 31))
    finally:
        await store.close()


@pytest.fixture
def unused_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
