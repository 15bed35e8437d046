"""A raw upstream that answers exactly what a test scripts, and shield (h1 client) in front of it.

The scripted upstream is a plain asyncio server, so it can misbehave in ways a web framework
would not let it: hang up before answering, stop mid-body, omit framing, close while idle.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from shield.observe.metrics import Metrics
from shield.proxy.app import build_app
from shield.settings.schema import Settings, UpstreamSettings
from tests.fixtures.upstream import AppServers


@dataclasses.dataclass(frozen=True)
class Seen:
    """One request as the upstream read it; `nth` counts requests on its connection from 0."""

    head: bytes
    body: bytes
    nth: int
    connection: int


Script = Callable[[Seen], bytes | None]  # -> the raw answer, or None to hang up without one


@dataclasses.dataclass
class RawUpstream:
    url: str = ""
    connections: int = 0
    seen: list[Seen] = dataclasses.field(default_factory=list)
    closed: list[int] = dataclasses.field(default_factory=list)  # connections shield closed or lost
    close_after_each: bool = False
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    @property
    def bodies(self) -> list[bytes]:
        return [s.body for s in self.seen]

    def heads(self) -> list[bytes]:
        return [s.head for s in self.seen]

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait for the upstream to observe something; a hang fails the test instead of blocking it."""
        async with asyncio.timeout(10):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    def _note(self) -> None:
        self.changed.set()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """One request (head, body) as the wire carries it, or None at the end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    if "content-length" in fields:
        return head, await reader.readexactly(int(fields["content-length"]))
    if fields.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return head, body
            body += chunk[:-2]
    return head, b""


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Handler], Any]]:
    """raw_server(handler) -> the URL of a plain asyncio server running `handler` per connection."""
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()


@pytest.fixture
async def scripted_upstream(raw_server: Callable[[Handler], Any]) -> Callable[[Script], Any]:
    """scripted_upstream(script) -> a RawUpstream answering each request with script(seen)."""

    async def start(script: Script) -> RawUpstream:
        up = RawUpstream()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up.connections += 1
            number, nth = up.connections, 0
            up._note()
            try:
                while (req := await read_request(reader)) is not None:
                    seen = Seen(req[0], req[1], nth, number)
                    up.seen.append(seen)
                    up._note()
                    nth += 1
                    answer = script(seen)
                    if answer is None:
                        break
                    writer.write(answer)
                    await writer.drain()
                    if up.close_after_each or b"Connection: close" in answer:
                        break
            finally:
                writer.close()
                up.closed.append(number)
                up._note()

        up.url = await raw_server(handle)
        return up

    return start


@pytest.fixture
async def h1_shield() -> AsyncIterator[Callable[..., Any]]:
    """h1_shield(upstream_url, *, cancel_on_disconnect=False, **upstream_options) -> shield's URL (h1 client)."""
    async with AppServers() as servers:

        async def start(url: str, *, cancel_on_disconnect: bool = False, **options: Any) -> str:
            opts = dataclasses.replace(UpstreamSettings(), client="h1", **options)
            settings = dataclasses.replace(Settings(), upstream=url, upstream_options=opts)
            # handler_cancellation: a client that goes away cancels its handler, mid-await.
            return await servers.start(
                build_app(settings, metrics=Metrics()), handler_cancellation=cancel_on_disconnect
            )

        yield start


def answer(status: str = "200 OK", headers: tuple[str, ...] = (), body: bytes = b"", version: str = "1.1") -> bytes:
    return (f"HTTP/{version} {status}\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode() + body


OK = answer(headers=("Content-Length: 2",), body=b"ok")


async def fetch(url: str, method: str = "GET", **kw: Any) -> tuple[int, str, dict[str, list[str]], bytes]:
    """(status, reason, headers as lists by lower-case name, body) over a fresh client connection."""
    async with aiohttp.ClientSession() as s, s.request(method, url, **kw) as r:
        body = await r.read()
        headers: dict[str, list[str]] = {}
        for k, v in r.headers.items():
            headers.setdefault(k.lower(), []).append(v)
        return r.status, r.reason or "", headers, body
