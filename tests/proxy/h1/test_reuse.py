"""Keep-alive reuse counted on the upstream's side, what ends a connection's reuse, the stale
pooled connection (closed by the upstream while idle) and when a request is tried again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shield.proxy.h1.pool import ConnectionPool
from tests.proxy.h1.conftest import OK, Seen, answer, fetch, read_request


async def test_an_http_1_0_answer_without_keep_alive_is_not_reused(scripted_upstream: Any, h1_shield: Any) -> None:
    # The upstream keeps its side open: only shield can end the reuse (Connection: close is in test_client.py).
    up = await scripted_upstream(lambda _s: answer(headers=("Content-Length: 2",), body=b"ok", version="1.0"))
    url = await h1_shield(up.url)
    for _ in range(3):
        assert (await fetch(url + "/x"))[3] == b"ok"
    assert [s.connection for s in up.seen] == [1, 2, 3]


async def test_http_1_0_with_keep_alive_is_reused(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: answer(headers=("Content-Length: 2", "Connection: keep-alive"), body=b"ok",
                                              version="1.0"))
    url = await h1_shield(up.url)
    for _ in range(3):
        assert (await fetch(url + "/x"))[3] == b"ok"
    assert up.connections == 1


async def test_a_connection_the_upstream_closed_while_idle_is_not_used(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: OK)
    up.close_after_each = True  # the upstream hangs up after each answer without saying so
    url = await h1_shield(up.url)
    for n in range(1, 4):
        assert (await fetch(url + "/x"))[0] == 200
        await up.until(lambda n=n: len(up.closed) == n)  # shield has seen the FIN before the next request
    # Each request went once, on its own connection: the closed one was detected before use.
    assert [s.connection for s in up.seen] == [1, 2, 3]


def _hang_up_on_reuse(seen: Seen) -> bytes | None:
    """Answer the first request on a connection; hang up, unanswered, on the next (an idle timeout
    racing the reuse: the request was written before the close arrived)."""
    return OK if seen.nth == 0 else None


@pytest.mark.parametrize(
    ("method", "data"),
    [("GET", None), ("POST", b'{"small": "json"}'), ("DELETE", b"")],
    ids=["no-body", "buffered-body", "empty-body"],
)
async def test_a_reused_connection_that_fails_before_answering_is_retried_once(
    scripted_upstream: Any, h1_shield: Any, method: str, data: bytes | None
) -> None:
    up = await scripted_upstream(_hang_up_on_reuse)
    url = await h1_shield(up.url)
    assert (await fetch(url + "/first"))[0] == 200
    status, _r, _h, body = await fetch(url + "/second", method, data=data)
    assert (status, body) == (200, b"ok")
    # /second went on the pooled connection 1, which died, then once more on a fresh connection 2.
    assert [(s.head.split(b" ")[1], s.connection, s.nth) for s in up.seen] == [
        (b"/first", 1, 0), (b"/second", 1, 1), (b"/second", 2, 0)
    ]
    assert up.seen[1].body == up.seen[2].body == (data or b"")


async def chunks() -> AsyncIterator[bytes]:
    yield b"streamed, "
    yield b"not replayable"


@pytest.mark.parametrize("data", [chunks, lambda: b"z" * 100_000], ids=["chunked", "content-length-over-64k"])
async def test_a_streamed_body_is_never_retried(scripted_upstream: Any, h1_shield: Any, data: Any) -> None:
    up = await scripted_upstream(_hang_up_on_reuse)
    url = await h1_shield(up.url)
    assert (await fetch(url + "/first"))[0] == 200
    assert (await fetch(url + "/upload", "POST", data=data()))[0] == 502
    # Sent once, on the pooled connection that died: the upstream may have acted on it.
    assert [(s.head.split(b" ")[0], s.connection) for s in up.seen] == [(b"GET", 1), (b"POST", 1)]


async def test_a_fresh_connection_that_fails_is_not_retried(scripted_upstream: Any, h1_shield: Any) -> None:
    up = await scripted_upstream(lambda _s: None)
    assert (await fetch(await h1_shield(up.url) + "/x"))[0] == 502
    assert len(up.seen) == 1


async def test_idle_connections_past_their_age_are_closed(scripted_upstream: Any) -> None:
    up = await scripted_upstream(lambda _s: OK)
    pool = ConnectionPool("127.0.0.1", int(up.url.rsplit(":", 1)[1]), size=4, connect_timeout=5, idle_seconds=0.0)
    first, second = await pool.acquire(), await pool.acquire()
    for conn in (first, second):
        conn.begin(head_request=False)
        await conn.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 5)
        conn.request_sent()
        await conn.head(5)
        assert (await conn.read(5), await conn.read(5)) == (b"ok", b"")
    pool.release(first)
    pool.release(second)  # first has been idle longer than idle_seconds (0): closed now
    assert first.closed
    assert not second.closed
    third = await pool.acquire()  # second is too old by now as well: a new connection
    assert third is not second
    assert second.closed
    pool.discard(third)
    await up.until(lambda: len(up.closed) == 3)


# An answer no request asked for, cut short: were it parsed, the next request's answer would be read
# as the rest of its body (response desync).
JUNK = answer("404 Not Yours", ("Content-Length: 100",), body=b"junk")


async def test_an_answer_followed_by_unsolicited_bytes_is_delivered_and_its_connection_dropped(
    scripted_upstream: Any, h1_shield: Any
) -> None:
    up = await scripted_upstream(lambda s: OK + JUNK if s.connection == 1 else OK)
    url = await h1_shield(up.url)
    assert (await fetch(url + "/x"))[::3] == (200, b"ok")
    assert (await fetch(url + "/x"))[::3] == (200, b"ok")
    assert [s.connection for s in up.seen] == [1, 2]


async def test_a_connection_that_speaks_while_idle_is_dropped(raw_server: Any, h1_shield: Any) -> None:
    speak = asyncio.Event()
    closed: list[int] = []
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        number = connections
        while await read_request(reader) is not None:
            writer.write(OK)
            if number == 1:
                await speak.wait()
                writer.write(JUNK)  # while the connection sits in shield's pool
        closed.append(number)
        writer.close()

    url = await h1_shield(await raw_server(handle))
    assert (await fetch(url + "/x"))[::3] == (200, b"ok")
    speak.set()
    async with asyncio.timeout(10):
        while closed != [1]:  # noqa: ASYNC110 (the raw server's handler appends; no event to own)
            await asyncio.sleep(0.01)
    assert (await fetch(url + "/x"))[::3] == (200, b"ok")
    assert connections == 2
