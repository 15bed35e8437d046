"""shield's own HTTP/1.1 upstream client against a raw upstream that answers exactly what a test
scripts: every framing, keep-alive reuse, a stale pooled connection, interim answers, failures."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from shield.proxy.choose import make_forwarder
from shield.proxy.forwarder import UpstreamTarget
from shield.proxy.h1.forwarder import H1Forwarder
from shield.settings.schema import Settings, UpstreamSettings
from tests.fixtures.upstream import free_port
from tests.proxy.h1.conftest import OK, Seen, answer, fetch


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
        (answer("304 Not Modified", ('ETag: "x"',)), 304, b""),
        (answer("100 Continue") + OK, 200, b"ok"),
    ],
    ids=["content-length", "chunked", "until-close", "204", "304", "interim-100-skipped"],
)
async def test_every_response_framing_arrives_byte_for_byte(
    scripted_upstream: Any, h1_shield: Any, raw: bytes, status: int, body: bytes
) -> None:
    up = await scripted_upstream(lambda _s: raw)
    url = await h1_shield(up.url)
    assert (await fetch(url + "/x"))[::3] == (status, body)


async def test_head_answer_has_no_body_and_its_connection_is_reused(scripted_upstream: Any, h1_shield: Any) -> None:
    def script(seen: Seen) -> bytes:
        if seen.head.startswith(b"HEAD"):
            return answer(headers=("Content-Length: 1000",))
        return answer(headers=("Content-Length: 3",), body=b"get")

    up = await scripted_upstream(script)
    url = await h1_shield(up.url)
    status, _r, headers, body = await fetch(url + "/x", "HEAD")
    assert (status, body, headers["content-length"]) == (200, b"", ["1000"])
    await fetch(url + "/x", "HEAD")
    # the parser that waited for the HEAD answer's 1000 bytes is replaced: a GET on the same
    # connection reads its own answer, not the first 3 of those 1000
    assert (await fetch(url + "/x"))[::3] == (200, b"get")
    assert (up.connections, len(up.seen)) == (1, 3)


async def test_a_body_after_a_head_answer_is_unsolicited_and_closes_the_connection(
    scripted_upstream: Any, h1_shield: Any
) -> None:
    def script(seen: Seen) -> bytes:
        if seen.head.startswith(b"HEAD"):  # a broken upstream sends the body anyway
            return answer(headers=("Content-Length: 5",), body=b"ghost")
        return answer(headers=("Content-Length: 3",), body=b"get")

    up = await scripted_upstream(script)
    url = await h1_shield(up.url)
    assert (await fetch(url + "/x", "HEAD"))[::3] == (200, b"")
    await asyncio.sleep(0.05)
    assert (await fetch(url + "/x"))[::3] == (200, b"get")  # never "ghost" read as an answer
    assert up.connections == 2


async def test_reason_phrase_and_repeated_headers_are_kept(scripted_upstream: Any, h1_shield: Any) -> None:
    raw = answer("201 Made It", ("Set-Cookie: a=1", "Set-Cookie: b=2", "Set-Cookie: c=3", "Content-Length: 0"))
    up = await scripted_upstream(lambda _s: raw)
    status, reason, headers, _ = await fetch(await h1_shield(up.url) + "/x")
    assert (status, reason, headers["set-cookie"]) == (201, "Made It", ["a=1", "b=2", "c=3"])


async def test_keep_alive_connections_are_reused(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: OK)
    url = await h1_shield(up.url)
    for _ in range(5):
        assert (await fetch(url + "/x"))[3] == b"ok"
    assert (up.connections, len(up.seen)) == (1, 5)


async def test_connection_close_from_the_upstream_is_honoured(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: answer(headers=("Content-Length: 2", "Connection: close"), body=b"ok"))
    url = await h1_shield(up.url)
    for _ in range(3):
        assert (await fetch(url + "/x"))[3] == b"ok"
    assert up.connections == 3


async def test_a_pooled_connection_the_upstream_closed_is_retried_on_a_fresh_one(
    scripted_upstream: Any, h1_shield: Any
) -> None:
    # The upstream hangs up after each answer without saying so (an idle timeout racing the reuse).
    up = await scripted_upstream(lambda _s: OK)
    up.close_after_each = True
    url = await h1_shield(up.url)
    results = [await fetch(url + "/x") for _ in range(3)]
    assert [r[0] for r in results] == [200, 200, 200]
    body = b'{"username": "a", "password": "b"}'
    status, *_ = await fetch(url + "/api/login", "POST", data=body, headers={"Content-Type": "application/json"})
    assert status == 200
    assert up.bodies[-1] == body


async def test_request_bodies_are_sent_with_their_framing(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: answer(headers=("Content-Length: 0",)))
    url = await h1_shield(up.url)

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"one,", b"two,", b"three"):
            yield part

    await fetch(url + "/upload", "POST", data=b"x" * 70_000)
    await fetch(url + "/upload", "POST", data=chunks())
    await fetch(url + "/nothing")
    assert up.bodies == [b"x" * 70_000, b"one,two,three", b""]
    assert b"Transfer-Encoding: chunked" in up.heads()[1]
    assert b"Content-Length" not in up.heads()[2]
    assert b"Transfer-Encoding" not in up.heads()[2]


async def test_no_automatic_headers_are_added(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: answer(headers=("Content-Length: 0",)))
    url = await h1_shield(up.url)
    async with aiohttp.ClientSession(skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding")) as s:
        await (await s.get(url + "/x")).read()
    head = up.heads()[0].lower()
    for name in (b"user-agent", b"accept-encoding", b"cookie"):
        assert name not in head


async def test_an_upstream_that_hangs_up_before_answering_is_502(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: None)
    status, _r, _h, body = await fetch(await h1_shield(up.url) + "/x")
    assert status == 502
    assert b"upstream_unreachable" in body


async def test_a_garbled_answer_is_502(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: b"this is not http\r\n\r\n")
    status, *_ = await fetch(await h1_shield(up.url) + "/x")
    assert status == 502


async def test_an_upstream_that_stops_mid_body_aborts_the_client_connection(
    scripted_upstream: Any, h1_shield: Any
) -> None:
    up = await scripted_upstream(lambda _s: answer(headers=("Content-Length: 100",), body=b"only ten b"))
    up.close_after_each = True
    url = await h1_shield(up.url)
    with pytest.raises(aiohttp.ClientPayloadError):
        await fetch(url + "/x")


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the request and never answers."""
    await reader.read(1 << 16)
    await asyncio.sleep(5)
    writer.close()


async def test_a_silent_upstream_is_504_after_the_read_timeout(raw_server: Any, h1_shield: Any) -> None:
    url = await h1_shield(await raw_server(_silent), read_timeout=0.3)
    status, *_ = await fetch(url + "/x")
    assert status == 504


async def test_a_refused_connection_is_502(h1_shield: Any) -> None:
    status, *_ = await fetch(await h1_shield(f"http://127.0.0.1:{free_port()}") + "/x")
    assert status == 502


async def test_close_closes_every_pooled_connection(scripted_upstream: Any) -> None:
    up = await scripted_upstream(lambda _s: OK)
    fwd = H1Forwarder(UpstreamTarget(up.url))
    pool = fwd._conns()
    conn = await pool.acquire()
    conn.begin(head_request=False)
    await conn.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.request_sent()
    await conn.head(5)
    assert await conn.read(5) == b"ok"
    assert await conn.read(5) == b""
    pool.release(conn)  # a complete keep-alive exchange: pooled, open
    assert not conn.closed
    await fwd.close()
    assert conn.closed


async def test_a_client_that_leaves_mid_download_gives_its_connection_slot_back(
    scripted_upstream: Any, h1_shield: Any
) -> None:
    big = answer(headers=("Content-Length: 20000000",), body=b"x" * 20_000_000)
    up = await scripted_upstream(lambda _s: big)
    url = await h1_shield(up.url, pool_size=1)  # one slot: a leaked one would hang the next request
    async with aiohttp.ClientSession() as s:
        resp = await s.get(url + "/big")
        await resp.content.read(65536)
        resp.close()  # the client goes away with most of the body unsent
    async with asyncio.timeout(10):
        for _ in range(3):
            status, *_rest = await fetch(url + "/big", "HEAD")
            assert status == 200
    assert up.connections >= 2  # the abandoned connection was closed, not pooled


async def test_a_cancelled_request_closes_its_connection_and_frees_its_slot(raw_server: Any) -> None:
    url = await raw_server(_silent)
    fwd = H1Forwarder(UpstreamTarget(url, UpstreamSettings(pool_size=1)))
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
