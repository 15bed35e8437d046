"""What goes on the wire both ways: every response framing, the request body's framing, the head
shield writes (nothing added), and what comes back (status, reason, repeated headers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

from tests.proxy.h1.conftest import answer, fetch, read_request

# The common framings (Content-Length, chunked, until close, 204, 304, 100) are in test_client.py.
FRAMINGS = [
    ("http-1.0-until-close", answer(body=b"old style", version="1.0"), 200, b"old style"),
    ("304-with-a-length-but-no-body", answer("304 Not Modified", ('ETag: "x"', "Content-Length: 7")), 304, b""),
    ("interim-103-skipped", answer("103 Early Hints", ("Link: </a.css>",)) + answer(headers=("Content-Length: 0",)),
     200, b""),
]


@pytest.mark.parametrize(("raw", "status", "body"), [f[1:] for f in FRAMINGS], ids=[f[0] for f in FRAMINGS])
async def test_older_and_rarer_framings_arrive_byte_for_byte(
    scripted_upstream: Any, h1_shield: Any, raw: bytes, status: int, body: bytes
) -> None:
    up = await scripted_upstream(lambda _s: raw)
    url = await h1_shield(up.url)
    got_status, _reason, _headers, got_body = await fetch(url + "/x")
    assert (got_status, got_body) == (status, body)


async def test_compressed_bodies_pass_byte_for_byte(scripted_upstream: Any, h1_shield: Any) -> None:
    gz = b"\x1f\x8b\x08\x00not-really-gzip"
    up = await scripted_upstream(lambda _s: answer(headers=("Content-Encoding: gzip", f"Content-Length: {len(gz)}"),
                                              body=gz))
    async with aiohttp.ClientSession(auto_decompress=False) as s, s.get(await h1_shield(up.url) + "/x") as r:
        assert (r.headers["Content-Encoding"], await r.read()) == ("gzip", gz)


async def test_request_bodies_keep_their_framing(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: answer(headers=("Content-Length: 0",)))
    url = await h1_shield(up.url)

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"one,", b"two,", b"three"):
            yield part

    await fetch(url + "/upload", "POST", data=b"x" * 200_000)  # streamed, past the one-write size
    await fetch(url + "/upload", "POST", data=b"small")
    await fetch(url + "/upload", "POST", data=chunks())  # chunked from the client: length unknown
    await fetch(url + "/nothing")
    assert up.bodies == [b"x" * 200_000, b"small", b"one,two,three", b""]
    heads = up.heads()
    assert b"Content-Length: 200000\r\n" in heads[0]
    assert b"Content-Length: 5\r\n" in heads[1]
    assert b"Transfer-Encoding: chunked\r\n" in heads[2]
    assert b"Content-Length" not in heads[2]
    assert b"Content-Length" not in heads[3]
    assert b"Transfer-Encoding" not in heads[3]


async def test_a_protected_body_is_sent_with_its_exact_length(scripted_upstream: Any, h1_shield: Any) -> None:
    # The default config protects POST /api/login: shield buffers the body, then replays it.
    up = await scripted_upstream(lambda _s: answer(headers=("Content-Length: 0",)))
    url = await h1_shield(up.url)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"username": "a", '
        yield b'"password": "b"}'

    await fetch(url + "/api/login", "POST", data=chunks(), headers={"Content-Type": "application/json"})
    head = up.seen[0].head
    assert up.bodies == [b'{"username": "a", "password": "b"}']
    assert b"Content-Length: 34\r\n" in head
    assert b"Transfer-Encoding" not in head


async def test_only_the_clients_and_shields_headers_reach_the_upstream(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: answer(headers=("Content-Length: 0", "Set-Cookie: sid=one")))
    url = await h1_shield(up.url)
    skip = ("User-Agent", "Accept", "Accept-Encoding")
    # The client keeps no cookies either: a "cookie" line upstream could only come from shield.
    async with aiohttp.ClientSession(skip_auto_headers=skip, cookie_jar=aiohttp.DummyCookieJar()) as s:
        for _ in range(2):
            async with s.get(url + "/x") as r:
                await r.read()
    for head in up.heads():
        names = [line.split(b":")[0].lower() for line in head.split(b"\r\n")[1:] if line]
        assert sorted(names) == [b"host", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto",
                                 b"x-request-id"]


async def test_the_request_target_is_sent_as_the_client_wrote_it(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: answer(headers=("Content-Length: 0",)))
    url = await h1_shield(up.url)
    target = URL(url + "/a%2Fb/%7Ec?q=1&q=%20", encoded=True)
    async with aiohttp.ClientSession() as s, s.get(target, allow_redirects=False) as r:
        await r.read()
    assert up.seen[0].head.startswith(b"GET /a%2Fb/%7Ec?q=1&q=%20 HTTP/1.1\r\n")


async def test_a_streaming_answers_head_reaches_the_client_before_its_body(raw_server: Any, h1_shield: Any) -> None:
    """The head of a small answer is held back to leave with its body in one send; one whose body
    is not there yet (a stream, a long poll) must not wait for it."""
    go_on = asyncio.Event()

    async def streams(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(headers=("Transfer-Encoding: chunked", "X-Stream: yes")))
        await go_on.wait()  # the body only after the client has seen the head
        writer.write(b"5\r\nlater\r\n0\r\n\r\n")
        await writer.drain()
        writer.close()

    url = await h1_shield(await raw_server(streams))
    async with aiohttp.ClientSession() as s:
        async with asyncio.timeout(10):
            r = await s.get(url + "/events")
        go_on.set()
        assert (r.status, r.headers["X-Stream"], await r.read()) == (200, "yes", b"later")
