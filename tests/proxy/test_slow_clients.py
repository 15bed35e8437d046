"""Slow and heavy clients against a real `shield run` (issue 12, items 3 and 4): a head trickled
byte by byte, a head too big, a body that never ends, more connections than a worker takes, and
downloads nobody reads, which once held every upstream connection."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.fixtures.upstream import Upstream
from tests.proxy.shield_process import closed_within, raw, running_shield, status_of


async def test_trickling_head_is_closed_at_the_deadline(upstream: Upstream, tmp_path: Path) -> None:
    async with running_shield(upstream, tmp_path, {"SHIELD_LIMITS_HEADER_READ_TIMEOUT": "1"}) as shield:
        reader, writer = await raw(shield, b"GET /echo HTTP/1.1\r\nHost: a\r\n")
        took = await closed_within(reader, 6, tick=lambda: writer.write(b"X-Pad: 1\r\n"))
        writer.close()
        assert 0.8 <= took <= 2.5


async def test_trickling_next_head_on_a_kept_alive_connection_is_closed_at_the_deadline(
    upstream: Upstream, tmp_path: Path
) -> None:
    """The deadline of a head after the first is armed at its first byte (a read that holds no whole
    head), not by the connection's start: the idle keep-alive time (75 s) must not stand in for it."""
    async with running_shield(upstream, tmp_path, {"SHIELD_LIMITS_HEADER_READ_TIMEOUT": "1"}) as shield:
        reader, writer = await raw(shield, b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        assert await status_of(reader) == 200
        await asyncio.sleep(1.5)  # past the first head's deadline: only the next head's own can cut it
        writer.write(b"GET /echo HTTP/1.1\r\nHost: a\r\n")
        took = await closed_within(reader, 6, tick=lambda: writer.write(b"X-Pad: 1\r\n"))
        writer.close()
        assert 0.8 <= took <= 2.5


async def test_silent_connection_is_closed_at_the_head_deadline(upstream: Upstream, tmp_path: Path) -> None:
    async with running_shield(upstream, tmp_path, {"SHIELD_LIMITS_HEADER_READ_TIMEOUT": "1"}) as shield:
        reader, writer = await raw(shield)
        assert await closed_within(reader, 6) <= 2.5
        writer.close()


async def test_head_over_the_total_size_is_refused_with_431(upstream: Upstream, tmp_path: Path) -> None:
    # Each header is under the per-line limit; together they pass the 32 KiB default for a head.
    pad = b"".join(b"X-Pad-%d: %b\r\n" % (i, b"a" * 8000) for i in range(8))
    async with running_shield(upstream, tmp_path, {}) as shield:
        reader, writer = await raw(shield, b"GET /echo HTTP/1.1\r\nHost: a\r\n" + pad + b"\r\n")
        assert await status_of(reader) == 431
        writer.close()
        async with aiohttp.ClientSession() as s, s.get(f"{shield.url}/echo") as r:
            assert r.status == 200  # an ordinary head still passes


async def test_stalled_body_is_cut_at_the_body_deadline(upstream: Upstream, tmp_path: Path) -> None:
    async with running_shield(upstream, tmp_path, {"SHIELD_LIMITS_BODY_READ_TIMEOUT": "1"}) as shield:
        head = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n"
        reader, writer = await raw(shield, head + b"x" * 10)
        assert await closed_within(reader, 6) <= 2.5
        writer.close()


async def test_connections_over_the_cap_get_503_while_admin_answers(upstream: Upstream, tmp_path: Path) -> None:
    env = {"SHIELD_LIMITS_MAX_CONNECTIONS": "3", "SHIELD_LIMITS_HEADER_READ_TIMEOUT": "30", "SHIELD_ADMIN_TOKEN": "t"}
    async with running_shield(upstream, tmp_path, env) as shield:
        held = [await raw(shield, b"GET /echo HTTP/1.1\r\n") for _ in range(3)]
        await asyncio.sleep(0.2)
        reader, writer = await raw(shield, b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        assert await status_of(reader) == 503
        writer.close()
        async with aiohttp.ClientSession() as s, s.get(f"{shield.admin}/healthz") as r:
            assert r.status == 200
        metrics = f"{shield.admin}/metrics"
        async with aiohttp.ClientSession() as s, s.get(metrics, headers={"Authorization": "Bearer t"}) as r:
            assert 'shield_clients_limited_total{listener="proxy",reason="over_connection_cap"} 1.0' in await r.text()
        for _, w in held:
            w.close()
        await asyncio.sleep(0.3)
        async with aiohttp.ClientSession() as s, s.get(f"{shield.url}/echo") as r:
            assert r.status == 200  # the slots came back


@pytest.mark.parametrize("client", ["h1", "aiohttp"])
async def test_slow_readers_get_a_fast_503_then_release_the_pool(
    upstream: Upstream, tmp_path: Path, client: str
) -> None:
    env = {
        "SHIELD_UPSTREAM_OPTIONS_CLIENT": client,
        "SHIELD_UPSTREAM_OPTIONS_POOL_SIZE": "2",
        "SHIELD_UPSTREAM_OPTIONS_POOL_ACQUIRE_TIMEOUT": "0.5",
        "SHIELD_LIMITS_CLIENT_WRITE_TIMEOUT": "2",
    }
    async with running_shield(upstream, tmp_path, env) as shield:
        # Two downloads nobody reads hold both upstream connections.
        slow = [await raw(shield, b"GET /big?mb=64 HTTP/1.1\r\nHost: a\r\n\r\n") for _ in range(2)]
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{shield.url}/echo", timeout=aiohttp.ClientTimeout(total=4)) as r:
                body = await r.json()
                assert r.status == 503
                assert body["request_id"] == r.headers["X-Request-ID"]
            assert time.monotonic() - t0 < 1.5
            # The slow readers are cut at the client write deadline and their connections freed
            # (reading them now would make them fast readers: wait first, read after).
            await asyncio.sleep(3)
            async with s.get(f"{shield.url}/echo", timeout=aiohttp.ClientTimeout(total=4)) as r:
                assert r.status == 200
        for reader, writer in slow:
            await closed_within(reader, 6)
            writer.close()
        lines = [orjson.loads(line) for line in shield.stdout.read_bytes().splitlines()]
        events = [line.get("event") for line in lines]
        assert "upstream.pool_exhausted" in events
        assert sum(line.get("write_timeout", 0) for line in lines if line["event"] == "clients.limited") == 2


async def test_the_connection_cap_is_kept_under_the_file_handle_limit(upstream: Upstream, tmp_path: Path) -> None:
    # 600 handles: the pool (256), the admin listener (64) and 128 spare leave room for 152 clients;
    # the default cap of 10,000 would let a flood take every handle, the admin port's included.
    async with running_shield(upstream, tmp_path, {}, fd_limit=600) as shield:
        held = [await raw(shield, b"GET /echo HTTP/1.1\r\n") for _ in range(152)]
        await asyncio.sleep(0.3)
        reader, writer = await raw(shield, b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        assert await status_of(reader) == 503
        writer.close()
        async with aiohttp.ClientSession() as s, s.get(f"{shield.admin}/healthz") as r:
            assert r.status == 200
        for _, w in held:
            w.close()
    warnings = [orjson.loads(line) for line in shield.stdout.read_bytes().splitlines() if b"limits.fd_limit" in line]
    assert "lowered to 152" in warnings[0]["message"]


async def test_idle_keepalive_connection_is_closed_at_its_timeout(upstream: Upstream, tmp_path: Path) -> None:
    async with running_shield(upstream, tmp_path, {"SHIELD_LIMITS_KEEPALIVE_TIMEOUT": "1"}) as shield:
        reader, writer = await raw(shield, b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        assert await status_of(reader) == 200
        assert await closed_within(reader, 6) <= 2.5  # the answer is read, then the idle connection goes
        writer.close()


@pytest.mark.parametrize("client", ["h1", "aiohttp"])
async def test_a_login_passes_while_slow_readers_hold_every_stream_slot(
    upstream: Upstream, tmp_path: Path, client: str
) -> None:
    env = {
        "SHIELD_UPSTREAM_OPTIONS_CLIENT": client,
        "SHIELD_UPSTREAM_OPTIONS_POOL_SIZE": "4",  # three for streams, one kept for protected routes
        "SHIELD_UPSTREAM_OPTIONS_POOL_ACQUIRE_TIMEOUT": "0.5",
        "SHIELD_MODE": "shadow",  # scored in full, never delayed: the time measured is the pool's
    }
    async with running_shield(upstream, tmp_path, env) as shield:
        # One download more than the pool has connections: the first three hold theirs, the
        # fourth may not take the logins' one (503 after the acquire timeout).
        slow = [await raw(shield, b"GET /big?mb=64 HTTP/1.1\r\nHost: a\r\n\r\n") for _ in range(4)]
        await asyncio.sleep(0.3)
        async with aiohttp.ClientSession() as s:
            t0 = time.monotonic()
            login = {"username": "ann", "password": "right"}
            async with s.post(f"{shield.url}/api/login", json=login, timeout=aiohttp.ClientTimeout(total=4)) as r:
                assert r.status == 200
            assert time.monotonic() - t0 < 0.5
        statuses = sorted([await status_of(reader) for reader, _ in slow])
        assert statuses == [200, 200, 200, 503]
        for _, writer in slow:
            writer.close()
