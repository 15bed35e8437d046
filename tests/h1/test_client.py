"""shield's own HTTP/1.1 upstream client against a raw upstream that answers exactly what a test
scripts: every framing, keep-alive reuse, a stale pooled connection, interim answers, failures."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from shield.app import build_app
from shield.forwarding import make_forwarder
from shield.h1.forwarder import H1Forwarder
from shield.observe.metrics import Metrics
from shield.settings import Settings, UpstreamSettings
from tests.fixtures.upstream import free_port

Script = Callable[[bytes, bytes], bytes | None]  # (request head, body) -> raw answer (None: hang up)


@dataclasses.dataclass
class RawUpstream:
    url: str
    connections: int = 0
    requests: list[bytes] = dataclasses.field(default_factory=list)
    bodies: list[bytes] = dataclasses.field(default_factory=list)
    close_after_each: bool = False


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    if "content-length" in fields:
        body = await reader.readexactly(int(fields["content-length"]))
    elif fields.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = b""
    return head, body


@pytest.fixture
async def raw_upstream() -> AsyncIterator[Callable[[Script], Any]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> RawUpstream:
        up = RawUpstream("")

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up.connections += 1
            try:
                while (req := await _read_request(reader)) is not None:
                    head, body = req
                    up.requests.append(head)
                    up.bodies.append(body)
                    answer = script(head, body)
                    if answer is None:
                        break
                    writer.write(answer)
                    await writer.drain()
                    if up.close_after_each or b"Connection: close" in answer:
                        break
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        up.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return up

    yield start
    for server in servers:
        server.close()


@pytest.fixture
async def through() -> AsyncIterator[Callable[..., Any]]:
    """through(upstream_url, **upstream_options) -> shield's URL, with the h1 client."""
    runners: list[web.AppRunner] = []

    async def start(url: str, **options: Any) -> str:
        opts = dataclasses.replace(UpstreamSettings(), client="h1", **options)
        settings = dataclasses.replace(Settings(), upstream=url, upstream_options=opts)
        app = build_app(settings, metrics=Metrics())
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


def answer(status: str = "200 OK", headers: tuple[str, ...] = (), body: bytes = b"") -> bytes:
    return (f"HTTP/1.1 {status}\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode() + body


async def fetch(url: str, method: str = "GET", **kw: Any) -> tuple[int, str, dict[str, list[str]], bytes]:
    async with aiohttp.ClientSession() as s, s.request(method, url, **kw) as r:
        body = await r.read()
        headers: dict[str, list[str]] = {}
        for k, v in r.headers.items():
            headers.setdefault(k.lower(), []).append(v)
        return r.status, r.reason or "", headers, body


def test_the_default_client_is_h1_for_plain_http_and_aiohttp_for_tls() -> None:
    plain = dataclasses.replace(Settings(), upstream="http://127.0.0.1:8080")
    assert isinstance(make_forwarder(plain), H1Forwarder)
    assert not isinstance(make_forwarder(dataclasses.replace(plain, upstream="https://app.internal")), H1Forwarder)
    chosen = dataclasses.replace(plain, upstream_options=UpstreamSettings(client="aiohttp"))
    assert not isinstance(make_forwarder(chosen), H1Forwarder)


@pytest.mark.parametrize(
    ("raw", "status", "body"),
    [
        (answer(headers=("Content-Length: 5",), body=b"hello"), 200, b"hello"),
        (answer(headers=("Transfer-Encoding: chunked",), body=b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"), 200, b"hello"),
        (answer(headers=("Connection: close",), body=b"until the end"), 200, b"until the end"),
        (answer("204 No Content"), 204, b""),
        (answer("304 Not Modified", ("ETag: \"x\"",)), 304, b""),
        (answer("100 Continue") + answer(headers=("Content-Length: 2",), body=b"ok"), 200, b"ok"),
    ],
    ids=["content-length", "chunked", "until-close", "204", "304", "interim-100-skipped"],
)
async def test_every_response_framing_arrives_byte_for_byte(
    raw_upstream: Any, through: Any, raw: bytes, status: int, body: bytes
) -> None:
    up = await raw_upstream(lambda _h, _b: raw)
    url = await through(up.url)
    assert (await fetch(url + "/x"))[::3] == (status, body)


async def test_head_answer_has_no_body_and_its_connection_is_reused(raw_upstream: Any, through: Any) -> None:
    def script(head: bytes, _b: bytes) -> bytes:
        if head.startswith(b"HEAD"):
            return answer(headers=("Content-Length: 1000",))
        return answer(headers=("Content-Length: 3",), body=b"get")

    up = await raw_upstream(script)
    url = await through(up.url)
    status, _r, headers, body = await fetch(url + "/x", "HEAD")
    assert (status, body, headers["content-length"]) == (200, b"", ["1000"])
    await fetch(url + "/x", "HEAD")
    # the parser that waited for the HEAD answer's 1000 bytes is replaced: a GET on the same
    # connection reads its own answer, not the first 3 of those 1000
    assert (await fetch(url + "/x"))[::3] == (200, b"get")
    assert (up.connections, len(up.requests)) == (1, 3)


async def test_a_body_after_a_head_answer_is_unsolicited_and_closes_the_connection(
    raw_upstream: Any, through: Any
) -> None:
    def script(head: bytes, _b: bytes) -> bytes:
        if head.startswith(b"HEAD"):  # a broken upstream sends the body anyway
            return answer(headers=("Content-Length: 5",), body=b"ghost")
        return answer(headers=("Content-Length: 3",), body=b"get")

    up = await raw_upstream(script)
    url = await through(up.url)
    assert (await fetch(url + "/x", "HEAD"))[::3] == (200, b"")
    await asyncio.sleep(0.05)
    assert (await fetch(url + "/x"))[::3] == (200, b"get")  # never "ghost" read as an answer
    assert up.connections == 2


async def test_reason_phrase_and_repeated_headers_are_kept(raw_upstream: Any, through: Any) -> None:
    raw = answer("201 Made It", ("Set-Cookie: a=1", "Set-Cookie: b=2", "Set-Cookie: c=3", "Content-Length: 0"))
    up = await raw_upstream(lambda _h, _b: raw)
    status, reason, headers, _ = await fetch(await through(up.url) + "/x")
    assert (status, reason, headers["set-cookie"]) == (201, "Made It", ["a=1", "b=2", "c=3"])


async def test_keep_alive_connections_are_reused(raw_upstream: Any, through: Any) -> None:
    up = await raw_upstream(lambda _h, _b: answer(headers=("Content-Length: 2",), body=b"ok"))
    url = await through(up.url)
    for _ in range(5):
        assert (await fetch(url + "/x"))[3] == b"ok"
    assert (up.connections, len(up.requests)) == (1, 5)


async def test_connection_close_from_the_upstream_is_honoured(raw_upstream: Any, through: Any) -> None:
    up = await raw_upstream(lambda _h, _b: answer(headers=("Content-Length: 2", "Connection: close"), body=b"ok"))
    url = await through(up.url)
    for _ in range(3):
        assert (await fetch(url + "/x"))[3] == b"ok"
    assert up.connections == 3


async def test_a_pooled_connection_the_upstream_closed_is_retried_on_a_fresh_one(
    raw_upstream: Any, through: Any
) -> None:
    # The upstream hangs up after each answer without saying so (an idle timeout racing the reuse).
    up = await raw_upstream(lambda _h, _b: answer(headers=("Content-Length: 2",), body=b"ok"))
    up.close_after_each = True
    url = await through(up.url)
    results = [await fetch(url + "/x") for _ in range(3)]
    assert [r[0] for r in results] == [200, 200, 200]
    body = b'{"username": "a", "password": "b"}'
    status, *_ = await fetch(url + "/api/login", "POST", data=body, headers={"Content-Type": "application/json"})
    assert status == 200
    assert up.bodies[-1] == body


async def test_request_bodies_are_sent_with_their_framing(raw_upstream: Any, through: Any) -> None:
    up = await raw_upstream(lambda _h, _b: answer(headers=("Content-Length: 0",)))
    url = await through(up.url)

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"one,", b"two,", b"three"):
            yield part

    await fetch(url + "/upload", "POST", data=b"x" * 70_000)
    await fetch(url + "/upload", "POST", data=chunks())
    await fetch(url + "/nothing")
    assert up.bodies == [b"x" * 70_000, b"one,two,three", b""]
    assert b"Transfer-Encoding: chunked" in up.requests[1]
    assert b"Content-Length" not in up.requests[2]
    assert b"Transfer-Encoding" not in up.requests[2]


async def test_no_automatic_headers_are_added(raw_upstream: Any, through: Any) -> None:
    up = await raw_upstream(lambda _h, _b: answer(headers=("Content-Length: 0",)))
    url = await through(up.url)
    async with aiohttp.ClientSession(skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding")) as s:
        await (await s.get(url + "/x")).read()
    head = up.requests[0].lower()
    for name in (b"user-agent", b"accept-encoding", b"cookie"):
        assert name not in head


async def test_an_upstream_that_hangs_up_before_answering_is_502(raw_upstream: Any, through: Any) -> None:
    up = await raw_upstream(lambda _h, _b: None)
    status, _r, _h, body = await fetch(await through(up.url) + "/x")
    assert status == 502
    assert b"upstream_unreachable" in body


async def test_a_garbled_answer_is_502(raw_upstream: Any, through: Any) -> None:
    up = await raw_upstream(lambda _h, _b: b"this is not http\r\n\r\n")
    status, *_ = await fetch(await through(up.url) + "/x")
    assert status == 502


async def test_an_upstream_that_stops_mid_body_aborts_the_client_connection(raw_upstream: Any, through: Any) -> None:
    up = await raw_upstream(lambda _h, _b: answer(headers=("Content-Length: 100",), body=b"only ten b"))
    up.close_after_each = True
    url = await through(up.url)
    with pytest.raises(aiohttp.ClientPayloadError):
        await fetch(url + "/x")


async def test_a_silent_upstream_is_504_after_the_read_timeout(through: Any) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        url = await through(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", read_timeout=0.3)
        status, *_ = await fetch(url + "/x")
    finally:
        server.close()
    assert status == 504


async def test_a_refused_connection_is_502(through: Any) -> None:
    status, *_ = await fetch(await through(f"http://127.0.0.1:{free_port()}") + "/x")
    assert status == 502


async def test_close_closes_every_pooled_connection(raw_upstream: Any) -> None:
    up = await raw_upstream(lambda _h, _b: answer(headers=("Content-Length: 2",), body=b"ok"))
    fwd = H1Forwarder(dataclasses.replace(Settings(), upstream=up.url))
    pool = fwd._conns()
    conn = await pool.acquire()
    conn.begin(head_request=False)
    await conn.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await conn.head(5)
    assert await conn.read(5) == b"ok"
    assert await conn.read(5) == b""
    pool.release(conn)  # a complete keep-alive exchange: pooled, open
    assert not conn.closed
    await fwd.close()
    assert conn.closed


async def test_a_client_that_leaves_mid_download_gives_its_connection_slot_back(
    raw_upstream: Any, through: Any
) -> None:
    big = answer(headers=("Content-Length: 20000000",), body=b"x" * 20_000_000)
    up = await raw_upstream(lambda _h, _b: big)
    url = await through(up.url, pool_size=1)  # one slot: a leaked one would hang the next request
    async with aiohttp.ClientSession() as s:
        resp = await s.get(url + "/big")
        await resp.content.read(65536)
        resp.close()  # the client goes away with most of the body unsent
    async with asyncio.timeout(10):
        for _ in range(3):
            status, *_rest = await fetch(url + "/big", "HEAD")
            assert status == 200
    assert up.connections >= 2  # the abandoned connection was closed, not pooled


async def test_a_cancelled_request_closes_its_connection_and_frees_its_slot() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    fwd = H1Forwarder(dataclasses.replace(Settings(), upstream=url, upstream_options=UpstreamSettings(pool_size=1)))
    pool = fwd._conns()
    try:
        conn = await pool.acquire()
        conn.begin(head_request=False)
        await conn.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        waiter = asyncio.ensure_future(conn.head(30))
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        pool.discard(conn)  # what H1Forwarder does on any exception, cancellation included
        assert conn.closed
        async with asyncio.timeout(5):
            again = await pool.acquire()  # the one slot came back
        pool.discard(again)
    finally:
        await fwd.close()
        server.close()
