"""One keep-alive HTTP/1.1 connection to the upstream: an asyncio protocol fed to httptools.

The response side is a small state machine driven by the C parser's callbacks: the head (status,
reason, raw headers) resolves `head()`, body chunks queue up for `read()`, and the reading side is
paused while more than HIGH_WATER bytes wait to be sent on, so a slow client never makes shield
buffer a fast upstream's download. The writing side honours the transport's own flow control.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

import httptools

HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


class ConnectionClosed(Exception):
    """The upstream closed or reset the connection before the response was complete."""

    def __init__(self, detail: str, *, before_response: bool) -> None:
        super().__init__(detail)
        self.before_response = before_response  # nothing of the answer arrived: safe to retry


class UpstreamConnection(asyncio.Protocol):
    """Sends one request at a time; `reusable` tells the pool whether another may follow."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = False  # served a request before: a failure on it may be a stale keep-alive
        self._expecting = False  # a request was sent and its answer is not complete yet
        self._request_done = False  # the whole request (head and body) was handed to the transport
        self._early = False  # the answer began before the request was all written
        self._parser = httptools.HttpResponseParser(self)
        self._stale_parser = False  # it still waits for a HEAD answer's declared body
        self._loop = asyncio.get_running_loop()
        self._can_write: asyncio.Future[None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.keep_alive = True
        self.complete = False
        self._got_bytes = False
        self._head_done = False
        self._framed = False  # Content-Length or chunked; otherwise the body ends at EOF
        self._head_waiter: asyncio.Future[None] | None = None
        self._body_waiter: asyncio.Future[None] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._error: BaseException | None = None
        self._no_body = False

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport, so no isinstance).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._expecting:
            # security: bytes nobody asked for would be read as the next request's answer
            # (response desync); a connection that sends them is not trusted with another request.
            self.close()
            return
        if not self._request_done:
            # security: an answer that starts while the request is still being written means the
            # upstream stopped reading it; what it does with the rest is unknown: never reuse.
            self._early = True
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ConnectionClosed("unexpected protocol upgrade", before_response=False))
        except httptools.HttpParserError as exc:
            if self.complete:  # the answer is whole; what followed it in the same read is not ours
                self.close()
                return
            self._fail(ConnectionClosed(f"malformed response: {exc}", before_response=not self._head_done))

    def eof_received(self) -> bool | None:
        if self._head_done and not self._framed and not self.complete:
            self.on_message_complete()  # a body delimited by the end of the connection
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._can_write is not None and not self._can_write.done():
            self._can_write.set_result(None)
        if not self.complete:
            detail = f"connection lost: {type(exc).__name__}" if exc else "connection closed by the upstream"
            self._fail(ConnectionClosed(detail, before_response=not self._got_bytes))

    def pause_writing(self) -> None:
        if self._can_write is None or self._can_write.done():
            self._can_write = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._can_write is not None and not self._can_write.done():
            self._can_write.set_result(None)

    # -- httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if not self._expecting:
            raise _Unsolicited  # a second answer after the complete one (see data_received)

    def on_status(self, status: bytes) -> None:
        self.reason = status.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue, 103 Early Hints): not the response
            self.headers, self.reason = [], ""
            return
        self.status = status
        self.keep_alive = self._parser.should_keep_alive()
        self._framed = any(
            n.lower() == "content-length" or (n.lower() == "transfer-encoding" and "chunked" in v.lower())
            for n, v in self.headers
        )
        self._head_done = True
        _wake(self._head_waiter)
        if self._no_body or status in (204, 304):
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            # a HEAD answer's declared body never comes: bytes here are an upstream that sent it
            # anyway; they are dropped, and a connection that does that is not trusted again
            self.keep_alive = False
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        _wake(self._body_waiter)

    def on_message_complete(self) -> None:
        if self.complete or not self._head_done:
            return
        self.complete = True
        self._expecting = False
        if self._no_body:
            self._stale_parser = True  # it still expects the declared body: the next exchange
            # gets a fresh parser, and the connection stays pooled (bytes arriving before that
            # next request are unsolicited and close it, see data_received)
        _wake(self._body_waiter)

    # -- the request's side --------------------------------------------------------------------

    def begin(self, *, head_request: bool) -> None:
        """Prepare for a new exchange on this connection."""
        self._reset()
        if self._stale_parser:
            self._parser = httptools.HttpResponseParser(self)
            self._stale_parser = False
        self._no_body = head_request
        self._expecting = True
        self._request_done = False
        self._early = False

    def request_sent(self) -> None:
        """The whole request is written: only now may a complete answer make the connection reusable."""
        self._request_done = True

    async def write(self, data: bytes, idle_s: float | None = None) -> None:
        """Send bytes, waiting while the transport's buffer is full; TimeoutError when the upstream
        has taken none of it for `idle_s` (it stopped reading the request), None: no limit."""
        if self.closed or self.transport is None:
            raise ConnectionClosed("connection closed", before_response=not self._got_bytes)
        self.transport.write(data)
        if self._can_write is not None and not self._can_write.done():
            if idle_s is None:
                await self._can_write
            else:
                await self._wait(self._can_write, idle_s)

    async def head(self, idle_s: float) -> None:
        """Wait for the response head; TimeoutError after `idle_s` without it."""
        if not self._head_done and self._error is None:
            self._head_waiter = self._loop.create_future()
            await self._wait(self._head_waiter, idle_s)
        if self._error is not None and not self._head_done:
            raise self._error

    async def read(self, idle_s: float) -> bytes:
        """The next body chunk, b"" at the end of the body; TimeoutError after `idle_s` idle."""
        while not self._chunks:
            if self.complete:
                return b""
            if self._error is not None:
                raise self._error
            self._body_waiter = self._loop.create_future()
            await self._wait(self._body_waiter, idle_s)
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered < LOW_WATER and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    async def _wait(self, waiter: asyncio.Future[None], idle_s: float) -> None:
        # A timer on the future, not asyncio.timeout(): this runs once or twice per request and a
        # timeout context (task uncancel bookkeeping, a reschedulable handle) measured ~5 us more.
        timer = self._loop.call_later(idle_s, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()

    def unread(self, data: bytes) -> None:
        """Put the end of a chunk back in front of the queue."""
        self._chunks.appendleft(data)
        self._buffered += len(data)

    @property
    def ready(self) -> bool:
        """`read` would return at once: a chunk is queued, or the body is over."""
        return bool(self._chunks) or self.complete or self._error is not None

    @property
    def drained(self) -> bool:
        """The whole answer arrived and was read."""
        return self.complete and not self._chunks

    @property
    def reusable(self) -> bool:
        return (
            self.complete and self.keep_alive and self._request_done and not self._early
            and not self.closed and not self._chunks
        )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        _wake(self._head_waiter)
        _wake(self._body_waiter)
        self.close()


class _Unsolicited(Exception):
    """Raised from the parser's callback to stop it at an answer no request is waiting for."""


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
