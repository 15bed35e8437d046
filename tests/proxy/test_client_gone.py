"""A client that leaves before its answer is written is a 499 on record, never a 500 (found by
./dev fuzz on the aiohttp client: `prepare` on a closed transport escaped as an internal error)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.proxy.conftest import LogLines, StartProxy


@pytest.fixture(params=["h1", "aiohttp"])
def proxy_client(request: pytest.FixtureRequest) -> str:
    client: str = request.param
    return client


@pytest.fixture
async def held_upstream() -> AsyncIterator[tuple[str, asyncio.Event, asyncio.Event]]:
    """An upstream that reads a request, then answers only when told to."""
    arrived, release = asyncio.Event(), asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            arrived.set()
            await release.wait()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", arrived, release
    server.close()


@pytest.mark.parametrize("path", [b"/anything", b"/api/login"], ids=["passthrough", "protected"])
async def test_a_client_gone_before_its_answer_is_logged_not_an_internal_error(
    start_proxy: StartProxy, held_upstream: tuple[str, asyncio.Event, asyncio.Event], log_lines: LogLines,
    path: bytes,
) -> None:
    url, arrived, release = held_upstream
    p = await start_proxy(upstream=url)
    host, port = p.url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}" % path)
    await writer.drain()
    async with asyncio.timeout(5):
        await arrived.wait()
    writer.close()  # gone before the answer
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.sleep(0.2)
    events = [line["event"] for line in log_lines()]
    assert "request.failed" not in events
    assert [line["status"] for line in log_lines() if line["event"] == "request"] in ([], [499], [200])
