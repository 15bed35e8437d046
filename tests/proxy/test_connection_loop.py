"""The request loop of shield's listener (LimitedRequestHandler.start): aiohttp's loop with each
request handled in the connection's own task; keep-alive, pipelining order, an unread body's
lingering read and the payload closed after the handler stay aiohttp's."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from shield.proxy.listener import LimitedRunner
from shield.settings.schema import LimitsSettings
from tests.fixtures.upstream import AppServers


async def _serve(servers: AppServers, handler: web.RequestHandler) -> tuple[str, int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    url = await servers.start(app, runner_cls=LimitedRunner, limits=LimitsSettings(), name="proxy")
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def _answers(reader: asyncio.StreamReader, n: int) -> list[bytes]:
    """`n` answers' bodies, in the order they came."""
    bodies = []
    for _ in range(n):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
        bodies.append(await asyncio.wait_for(reader.readexactly(length), 5))
    return bodies


async def test_pipelined_requests_are_answered_in_order_in_the_connections_own_task() -> None:
    tasks: list[asyncio.Task[object] | None] = []

    async def handler(request: web.Request) -> web.Response:
        tasks.append(asyncio.current_task())
        await asyncio.sleep(0.01 if request.path == "/1" else 0)  # the first one takes longest
        return web.Response(text=request.path)

    async with AppServers() as servers:
        host, port = await _serve(servers, handler)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in (1, 2, 3)))
        assert await _answers(reader, 3) == [b"/1", b"/2", b"/3"]
        writer.close()
    assert len(tasks) == 3
    assert tasks[0] is tasks[1] is tasks[2]  # no task per request: the connection's one


async def test_a_body_the_handler_left_unread_is_read_past_and_the_connection_kept() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=request.path)  # the body is never read

    async with AppServers() as servers:
        host, port = await _serve(servers, handler)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345")
        assert await _answers(reader, 1) == [b"/a"]
        writer.write(b"67890GET /b HTTP/1.1\r\nHost: t\r\n\r\n")  # the body's rest, then the next request
        assert await _answers(reader, 1) == [b"/b"]
        writer.close()


async def test_a_failing_handler_gets_a_500_and_the_connection_closes() -> None:
    async def handler(request: web.Request) -> web.Response:
        raise RuntimeError("boom")

    async with AppServers() as servers:
        host, port = await _serve(servers, handler)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\nGET /y HTTP/1.1\r\nHost: t\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 500 ")
        assert await asyncio.wait_for(reader.read(), 5) is not None  # then EOF: no answer for /y
        assert reader.at_eof()
        writer.close()
