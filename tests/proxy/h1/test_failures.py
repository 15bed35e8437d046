"""Failures on either side: 502/504 before the answer starts (the same kinds as aiohttp's client),
an aborted stream after it started, a client that leaves, a cancelled handler. Whatever happens,
the upstream connection involved is closed, never pooled, and its pool slot is given back."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.proxy.h1.conftest import OK, answer, fetch, read_request


async def test_a_protocol_switch_nobody_asked_for_is_502(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: answer("101 Switching Protocols", ("Upgrade: h2c", "Connection: Upgrade")))
    assert (await fetch(await h1_shield(up.url) + "/x"))[0] == 502


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    """A port whose accept queue is full: the kernel drops further SYNs, so a connect never completes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(2):  # a backlog of 0 still queues one; the second waits in the SYN queue
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    yield port
    for s in (*fillers, server):
        s.close()


async def test_a_connect_that_never_completes_is_504(h1_shield: Any, unaccepting_port: int) -> None:
    url = await h1_shield(f"http://127.0.0.1:{unaccepting_port}", connect_timeout=0.3)
    status, _r, _h, body = await fetch(url + "/x")
    assert (status, b"upstream_timeout" in body) == (504, True)


async def test_an_upstream_silent_mid_body_aborts_and_its_connection_is_closed(
    raw_server: Any, h1_shield: Any
) -> None:
    """read_timeout applies between reads: an answer that stalls half-way is cut, not waited on."""
    closed = asyncio.Event()
    connections = 0

    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        if await read_request(reader) is None:
            return
        writer.write(answer(headers=("Content-Length: 100",), body=b"only ten b"))
        await reader.read()  # keeps the connection open; returns when shield closes it
        closed.set()
        writer.close()

    url = await h1_shield(await raw_server(stalls), read_timeout=0.3)
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientPayloadError):
            async with s.get(url + "/x") as r:
                await r.read()
        async with asyncio.timeout(10):
            await closed.wait()
        with pytest.raises(aiohttp.ClientPayloadError):
            async with s.get(url + "/x") as r:
                await r.read()
    assert connections == 2  # the half-read connection was never handed to the next request


async def test_a_client_that_leaves_mid_upload_closes_the_upstream_connection(
    raw_server: Any, h1_shield: Any
) -> None:
    got_some, closed = asyncio.Event(), asyncio.Event()

    async def reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1 << 16):
            if b"partial" in data:
                got_some.set()
        closed.set()
        writer.close()

    url = await h1_shield(await raw_server(reads))
    host, port = url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"partial" * 1000)
    async with asyncio.timeout(10):
        await got_some.wait()
        writer.close()  # 7 kB of a declared 1 MB: the client is gone mid-body
        await closed.wait()


async def test_a_cancelled_request_closes_its_connection_and_frees_its_slot(
    scripted_upstream: Any, h1_shield: Any
) -> None:
    # The first request is read and never answered; the client gives up, which cancels the
    # handler mid-await. With a pool of one, the second request only gets through if the slot
    # came back and the connection in an unknown state was closed, not pooled.
    up = await scripted_upstream(lambda s: None if s.head.startswith(b"GET /hang") else OK)
    url = await h1_shield(up.url, cancel_on_disconnect=True, pool_size=1)
    host, port = url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
    await up.until(lambda: len(up.seen) == 1)
    writer.close()
    await up.until(lambda: up.closed == [1])
    status, _r, _h, body = await fetch(url + "/next")
    assert (status, body) == (200, b"ok")
    assert up.seen[-1].connection == 2


async def test_a_cancelled_streamed_upload_is_not_retried_or_pooled(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: OK)
    url = await h1_shield(up.url, cancel_on_disconnect=True, pool_size=1)
    assert (await fetch(url + "/warm"))[0] == 200  # connection 1 now pooled
    host, port = url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    await up.until(lambda: up.closed == [] and up.connections == 1)
    writer.close()  # mid-body, while shield streams it on the pooled connection
    await up.until(lambda: up.closed == [1])

    async def body() -> AsyncIterator[bytes]:
        yield b"after"

    assert (await fetch(url + "/next", "POST", data=body()))[0] == 200
    assert [s.connection for s in up.seen] == [1, 2]


async def test_an_upstream_that_stops_reading_the_request_body_is_504(raw_server: Any, h1_shield: Any) -> None:
    """read_timeout also bounds a write the upstream takes nothing of: an upload is not held forever."""
    done = asyncio.Event()

    async def reads_only_the_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await done.wait()  # never reads the body: shield's socket buffers fill up
        writer.close()

    url = await h1_shield(await raw_server(reads_only_the_head), read_timeout=0.3)
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 268435456\r\n\r\n")

    async def feed() -> None:
        with contextlib.suppress(ConnectionError):
            for _ in range(4096):  # 256 MiB, far past what the socket buffers hold
                writer.write(b"u" * 65536)
                await writer.drain()

    feeder = asyncio.create_task(feed())
    try:
        async with asyncio.timeout(20):
            status_line = await reader.readline()
    finally:
        done.set()
        feeder.cancel()
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 504")
