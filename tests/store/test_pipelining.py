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
        await store.load_scripts()  # else the turn is sent twice: refused, then the library loaded once
        signals = await asyncio.gather(*(store.observe(stuffing(1), now) for _ in range(30)))
        assert store._pipe.sent == 1
        assert sorted(s.counters["ip.attempts_1m"] for s in signals) == list(range(1, 31))
    finally:
        await store.close()


async def test_ban_calls_share_the_turns_pipeline_with_its_observes(redis_url: str) -> None:
    # A ban written on the request path (a decision to ban) rides the loop turn's pipeline, packed
    # with its observes, not a command of its own through redis-py's command machinery.
    store = _open(redis_url)
    now = FakeClock().now()
    try:
        await store.load_scripts()
        sent, calls = store._pipe.sent, store._pipe.calls
        signals, ban, claimed = await asyncio.gather(
            store.observe(stuffing(1), now),
            store.add_ban("ip", "10.60.0.2", ttl=60, reason="test", now=now),
            store.claim_once("nonce-1", ttl=60, now=now),
        )
        assert (store._pipe.sent - sent, store._pipe.calls - calls) == (1, 3)
        assert signals.counters["ip.attempts_1m"] == 1
        assert (ban.scope, ban.value, claimed) == ("ip", "10.60.0.2", True)
        bans, removed, again = await asyncio.gather(
            store.bans(now), store.remove_ban("ip", "10.60.0.9"), store.claim_once("nonce-1", ttl=60, now=now)
        )
        assert (store._pipe.sent - sent, store._pipe.calls - calls) == (2, 6)
        assert ([b.value for b in bans], removed, again) == (["10.60.0.2"], False, False)
    finally:
        await store.close()


# A merged call's reply: one flat list, per block its reply's length, then its reply's elements (here
# each block names keys: its reply is their values).
_BLOCKS = """
local out = {}
for i = 1, #ARGV, 2 do
  local n = tonumber(ARGV[i])
  out[#out + 1] = n
  for k = 1, n do out[#out + 1] = redis.call('GET', ARGV[i + 1] .. k) end
end
return out
"""


async def test_calls_sharing_a_head_go_out_as_one_command_each_caller_its_reply(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    pipe = TickPipeline(client)
    try:
        await client.mset({"a1": "1", "b1": "2", "b2": "3", "c1": "4"})
        replies = await asyncio.gather(
            pipe.call("EVAL", _BLOCKS, "0", "1", "a", head=3),
            pipe.call("INCR", "n"),
            pipe.call("EVAL", _BLOCKS, "0", "2", "b", head=3),
            pipe.call("EVAL", _BLOCKS, "0", "0", "none", head=3),
            pipe.call("EVAL", _BLOCKS, "0", "1", "c", head=3),
        )
        assert replies == [[b"1"], 1, [b"2", b"3"], [], [b"4"]]
        assert pipe.merged == 3  # one EVAL of four blocks, and INCR: one pipeline of two commands
        assert await pipe.call("EVAL", _BLOCKS, "0", "2", "b", head=3) == [b"2", b"3"]  # alone: its own too
    finally:
        await pipe.close()
        await client.aclose()


async def test_a_merged_reply_that_does_not_split_into_its_blocks_fails_every_caller(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    pipe = TickPipeline(client)
    try:
        await client.mset({"a1": "1", "a2": "2"})
        # each block's length says 2 values while it brings 1 (or none): no caller gets a wrong reply
        short = "local out = {} for i = 1, #ARGV do out[#out + 1] = 2; out[#out + 1] = 'x' end return out"
        replies = await asyncio.gather(
            *(pipe.call("EVAL", short, "0", "k", head=3) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, rexc.ResponseError) for r in replies), replies
        # one block's reply too many (a length not an integer, or past the end): likewise
        extra = "return {1, 'x', 1, 'y', 1, 'z', 7}"
        replies = await asyncio.gather(
            *(pipe.call("EVAL", extra, "0", "k", head=3) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, rexc.ResponseError) for r in replies), replies
        assert await pipe.call("EVAL", _BLOCKS, "0", "2", "a", head=3) == [b"1", b"2"]
    finally:
        await pipe.close()
        await client.aclose()


async def test_a_merged_command_that_fails_fails_every_caller(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    pipe = TickPipeline(client)
    try:
        await client.hset("h", "f", "v")
        # EXISTS's reply is one count, not one per block: every caller gets an error, none a wrong answer
        odd = await asyncio.gather(*(pipe.call("EXISTS", "h", head=1) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, rexc.ResponseError) for r in odd), odd
        bad = await asyncio.gather(*(pipe.call("GET", "h", head=1) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, rexc.ResponseError) for r in bad), bad
    finally:
        await pipe.close()
        await client.aclose()


async def test_a_merged_command_to_an_unreachable_server_fails_every_caller(unused_tcp_port: int) -> None:
    client = Redis(port=unused_tcp_port, socket_connect_timeout=1)
    pipe = TickPipeline(client)
    try:
        replies = await asyncio.gather(
            *(pipe.call("EVAL", _BLOCKS, "0", "1", "k", head=3) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, rexc.ConnectionError) for r in replies), replies
    finally:
        await pipe.close()
        await client.aclose()


@pytest.fixture
def unused_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
