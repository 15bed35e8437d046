"""A pooled connection goes back to the pool only after a complete request was written and a
complete answer read; any doubt closes it (issue 12: "any doubt closes it")."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from tests.proxy.h1.conftest import OK, fetch, read_request


async def test_an_answer_that_starts_before_the_request_is_written_ends_the_reuse(
    raw_server: Any, h1_shield: Any
) -> None:
    # The upstream answers after the head, while shield is still streaming the body: it stopped
    # reading the request, and what it makes of the rest is unknown (on a reused connection, the
    # rest of the body would be read as the next request).
    answered = asyncio.Event()
    connections: list[int] = []

    async def answers_early(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = len(connections) + 1
        connections.append(number)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(OK)
            await writer.drain()
            answered.set()
            await reader.readuntil(b"0\r\n\r\n")  # the rest of the chunked body, read for good measure
            while await read_request(reader) is not None:  # later requests: answered normally
                writer.write(OK)
                await writer.drain()
        writer.close()

    url = await h1_shield(await raw_server(answers_early))
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    await writer.drain()
    async with asyncio.timeout(5):
        await answered.wait()
    await asyncio.sleep(0.05)  # the early answer reaches shield while the body is still coming
    writer.write(b"0\r\n\r\n")
    async with asyncio.timeout(5):
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    writer.close()
    assert (await fetch(url + "/next"))[0] == 200
    assert connections == [1, 2]  # the second request did not go on the doubtful connection


async def test_a_complete_exchange_is_reused(raw_server: Any, h1_shield: Any) -> None:
    # The control for the test above: the same upstream, answering after the whole request.
    connections: list[int] = []

    async def answers_after_the_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections) + 1)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while await read_request(reader) is not None:
                writer.write(OK)
                await writer.drain()
        writer.close()

    url = await h1_shield(await raw_server(answers_after_the_body))

    async def chunks() -> Any:
        yield b"hello"

    assert (await fetch(url + "/upload", "POST", data=chunks()))[0] == 200
    assert (await fetch(url + "/next"))[0] == 200
    assert connections == [1]
