"""Framing is shield's, never the client's: what the upstream reads (parsed by h11, see
tests/fixtures/recorder.py) is exactly the requests shield accepted, byte for byte."""

from __future__ import annotations

import asyncio
import gzip

import h11
import pytest

from tests.fixtures.recorder import RecordingUpstream
from tests.proxy.conftest import LogLines, StartProxy


@pytest.fixture(params=["h1", "aiohttp"])
def proxy_client(request: pytest.FixtureRequest) -> str:
    client: str = request.param
    return client


async def exchange(url: str, data: bytes, *, answers: int = 1) -> list[h11.Response]:
    """Send raw bytes on a fresh connection; the answers h11 reads back (until `answers` or EOF)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    client = h11.Connection(h11.CLIENT)
    got: list[h11.Response] = []
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            while len(got) < answers:
                event = client.next_event()
                if event is h11.NEED_DATA:
                    client.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Response):
                    got.append(event)
                elif isinstance(event, h11.EndOfMessage):
                    if client.our_state is h11.MUST_CLOSE or client.their_state is h11.MUST_CLOSE:
                        break
                    client.start_next_cycle()
                    # h11 needs a request of ours before it reads the next answer
                    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
                    client.send(h11.EndOfMessage())
                elif isinstance(event, h11.ConnectionClosed):
                    break
    finally:
        writer.close()
    return got


LOGIN = b'{"username": "victim@example.com", "password": "guess"}'
SMUGGLED = (
    b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"X-Forwarded-For: 203.0.113.7\r\nShield-Challenge: solved\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(LOGIN), LOGIN)
)


@pytest.mark.parametrize(
    "connection",
    [b"keep-alive, Content-Length", b"Content-Length", b"close, content-length", b"Transfer-Encoding",
     b"keep-alive,Host", b"x-a, CONTENT-LENGTH , x-b"],
)
async def test_connection_naming_a_framing_header_is_refused(
    start_proxy: StartProxy, recorder: RecordingUpstream, log_lines: LogLines, connection: bytes
) -> None:
    # The repro: h1/head.py dropped the Content-Length Connection names but wrote the
    # body, so the upstream read the body as a second, unscored login.
    p = await start_proxy(upstream=recorder.url)
    raw = b"POST /anything HTTP/1.1\r\nHost: x\r\nConnection: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        connection, len(SMUGGLED), SMUGGLED)
    answers = await exchange(p.url, raw)
    assert [a.status_code for a in answers] == [400]
    await asyncio.sleep(0.05)
    assert recorder.requests == []
    assert recorder.errors == []
    lines = [ln for ln in log_lines() if ln.get("event") == "request"]
    assert [(ln["status"], ln["reason"]) for ln in lines] == [(400, "connection_names_framing_header")]


async def test_connection_naming_ordinary_headers_still_drops_them(
    start_proxy: StartProxy, recorder: RecordingUpstream
) -> None:
    p = await start_proxy(upstream=recorder.url)
    raw = b"POST /anything HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
    raw += b"Content-Length: 3\r\n\r\nabc"
    answers = await exchange(p.url, raw)
    assert [a.status_code for a in answers] == [200]
    (seen,) = recorder.requests
    assert (seen.method, seen.target, seen.body, seen.header(b"x-hop")) == (b"POST", b"/anything", b"abc", [])


@pytest.mark.parametrize("path", [b"/upload", b"/api/login"], ids=["passthrough", "protected"])
async def test_gzip_request_body_reaches_upstream_byte_identical(
    start_proxy: StartProxy, recorder: RecordingUpstream, path: bytes
) -> None:
    # aiohttp used to inflate the body and shield sent the inflated bytes under the compressed
    # length: a body inflating to padding + a second request was smuggling, an honest one was cut.
    inner = b"x" * 40 + SMUGGLED
    body = gzip.compress(inner)
    p = await start_proxy(upstream=recorder.url)
    raw = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (
        path, len(body), body)
    answers = await exchange(p.url, raw)
    assert [a.status_code for a in answers] == [200]
    await asyncio.sleep(0.05)
    (seen,) = recorder.requests
    assert seen.body == body
    assert seen.header(b"content-encoding") == [b"gzip"]
    assert seen.header(b"content-length") == [str(len(body)).encode()]
    assert recorder.errors == []


@pytest.mark.parametrize("te", [b"gzip, chunked", b"deflate,chunked", b"identity, chunked"])
async def test_a_transfer_coding_other_than_chunked_is_refused(
    start_proxy: StartProxy, recorder: RecordingUpstream, log_lines: LogLines, te: bytes
) -> None:
    # Found by the differential test: the client's Transfer-Encoding is hop-by-hop, so shield
    # re-framed the body as plain chunked and the upstream got gzip bytes with no word of it.
    p = await start_proxy(upstream=recorder.url)
    raw = b"POST /anything HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: %s\r\n\r\n5\r\nhello\r\n0\r\n\r\n" % te
    answers = await exchange(p.url, raw)
    assert [a.status_code for a in answers] == [400]
    await asyncio.sleep(0.05)
    assert recorder.requests == []
    lines = [ln for ln in log_lines() if ln.get("event") == "request"]
    assert [(ln["status"], ln["reason"]) for ln in lines] == [(400, "transfer_coding_not_chunked")]
