"""The client side of one connection, with deadlines and caps: aiohttp's request protocol plus
what it lacks (issue 12, item 4).

aiohttp bounds a header line and the idle keep-alive time, not the time to send a head, its
total size, a stalled upload or a client that takes no part of the answer; uvicorn and nginx
bound them with timers on the connection (timeout_keep_alive, client_header_timeout,
send_timeout), which is what this does, one timer at a time and none per chunk:

- head: from connect (or the first byte of the next head) to a whole head, else 408 and close;
  more than `max_head_bytes` of head, else 431 and close;
- body: no byte of an upload for `body_read_timeout` while shield is reading, else the body
  fails (the handler answers 408) and the connection closes;
- answer: the client leaves the send buffer full for `client_write_timeout`, else the connection
  is aborted, which fails the handler's write and releases its upstream connection.

A bad request is answered with a short JSON body and logged as one `http.bad_request` line with
the error's class: never its message, which quotes the raw bytes (a Cookie, a password).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any, Protocol

import orjson
import structlog
from aiohttp import web
from aiohttp.helpers import ceil_timeout
from aiohttp.http_exceptions import LineTooLong
from aiohttp.http_parser import RawRequestMessage
from aiohttp.http_writer import StreamWriter
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.web_protocol import _PAYLOAD_ACCESS_ERROR, ERROR, RequestHandler, _ErrInfo
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from shield.proxy.early_answers import EarlyAnswers, Gate, head_size
from shield.proxy.passed import Passed
from shield.settings.schema import LimitsSettings


class BodyTimeout(TimeoutError):
    """The client sent no byte of its request body for `body_read_timeout` seconds."""


class HeadTooLarge(Exception):
    """The request line and headers passed `max_head_bytes`."""


def canned(status: int, reason: str, error: str) -> bytes:
    """A whole short answer written straight to the transport (no request object exists yet)."""
    rid = secrets.token_hex(12)
    body = orjson.dumps({"error": error, "request_id": rid})
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-Request-ID: {rid}\r\nConnection: close\r\n\r\n"
    ).encode() + body


class Tally(Protocol):
    """Where cut connections are counted (shield.proxy.listener.Tally logs them once a second)."""

    def add(self, reason: str) -> None: ...


class LimitedRequestHandler(RequestHandler):
    __slots__ = (
        "_answered",
        "_body",
        "_body_seen",
        "_body_timer",
        "_early",
        "_gate",
        "_head_bytes",
        "_head_timer",
        "_held",
        "_last_closes",
        "_limits",
        "_tally",
        "_write_timer",
    )

    def __init__(
        self, manager: Server, *, limits: LimitsSettings, tally: Tally, gate: Gate | None = None, **kwargs: Any
    ) -> None:
        super().__init__(manager, **kwargs)
        self._limits = limits
        self._tally = tally
        self._gate = gate
        self._early: EarlyAnswers | None = None
        self._answered = 0  # requests aiohttp was handed whose answer is written
        self._last_closes = False  # the last of them closes the connection
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._held = False  # a body arrived after its head was taken: aiohttp's parser may hold requests
        self._body: StreamReader | None = None
        self._body_seen = 0.0
        self._body_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None

    # -- connection ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._head_timer = self._loop.call_later(self._limits.header_read_timeout, self._head_deadline)
        peer = transport.get_extra_info("peername")
        if self._gate is not None and isinstance(peer, tuple) and isinstance(peer[0], str):
            # a banned client's heads are answered as they are parsed (shield.proxy.ban_wire)
            self._early = EarlyAnswers(self._parser, self, self._gate, idle=self.idle, peer=peer[0],
                                       max_head=self._limits.max_head_bytes)
            self._parser = self._early  # type: ignore[assignment]  # the parser's duck: feed_data and the rest

    def connection_lost(self, exc: BaseException | None) -> None:
        for timer in (self._head_timer, self._body_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def passed(self, msg: RawRequestMessage) -> Passed | None:
        """What the gate found out about this head when it left it to aiohttp, if it did."""
        early = self._early
        if early is None:
            return None
        passed = early.passed
        return passed if passed is not None and passed.msg is msg else None

    def idle(self) -> bool:
        """Whether an answer written now comes in order: aiohttp has written the answer of every
        request it was handed (its loop may not have come back for the next one yet), none is
        queued, the connection stays, and the client reads what it is sent."""
        return (
            self._answered == self._request_count and not self._messages and not self._last_closes
            and not (self._force_close or self._close) and self.transport is not None and not self.writing_paused
        )

    def _answered_one(self, resp: web.StreamResponse, reset: bool) -> None:
        """A request aiohttp was handed has its answer written (or the client left: `reset`)."""
        self._last_closes = reset or not resp.keep_alive
        ends = self._last_closes or self._close or self._force_close or self._upgraded
        if self._held and not (ends or self._messages) and self._payload_parser is None:
            # aiohttp 3.14's parser may hold pipelined requests it stopped short of (a body that
            # arrived after its head was taken keeps a queue slot for the connection's life) without
            # the server having paused to ask for them again: with the queue empty, ask. Nothing
            # held: a no-op. Connections whose bodies came with their heads never pay for it.
            # security: only on a connection that stays open, never after a refusal or an error
            # (the bytes after a bad request are never parsed: a kick there smuggled them).
            self.data_received(b"")

    async def start(self) -> None:
        """aiohttp 3.14's RequestHandler.start, with each request's handler awaited in this
        connection's task instead of a new task per request: on Python 3.11 (no eager tasks) a task
        per request costs its creation, a loop turn to start it and one to wake this loop after it
        (~2.7 % of a refused protected login's instructions, bench/worker_instructions.py --load
        banning). aiohttp makes one to give each request a copy of the context variables; shield's
        handlers set none (structlog only reads them). A request's task (request.task, what a
        disconnect cancels) was already the connection's. The rest is aiohttp's loop as it is:
        keep-alive, lingering close, the payload closed after the handler.
        """
        loop = self._loop
        manager = self._manager
        assert manager is not None
        keepalive_timeout = self._keepalive_timeout
        resp = None
        assert self._request_factory is not None
        assert self._request_handler is not None

        while not self._force_close:
            if not self._messages:
                try:
                    self._waiter = loop.create_future()  # wait for the next request
                    await self._waiter
                finally:
                    self._waiter = None
            message, payload = self._messages.popleft()
            if self._parser is not None:
                self._parser.message_consumed()
            if self._buffer_paused and len(self._messages) <= self._msg_queue_resume_size:
                self._resume_reading_if_drained()
            started = loop.time() if self._logging_enabled else None
            manager.requests_count += 1
            writer = StreamWriter(self, loop)
            if isinstance(message, _ErrInfo):
                request_handler = self._make_error_handler(message)  # make request_factory work
                message = ERROR
            else:
                request_handler = self._request_handler
            request = self._request_factory(
                message, payload, self, writer,
                self._task_handler or asyncio.current_task(loop),  # type: ignore[arg-type]
            )
            try:
                try:
                    try:
                        resp, reset = await RequestHandler._handle_request(self, request, started, request_handler)
                    finally:
                        self._answered += 1
                except ConnectionError:
                    break
                self._answered_one(resp, reset)
                if reset:
                    break
                self._keepalive = bool(resp.keep_alive)  # notify server about keep-alive
                if not payload.is_eof():
                    await self._linger(payload)
                payload.set_exception(_PAYLOAD_ACCESS_ERROR)
            except asyncio.CancelledError:
                self.force_close()
                raise
            except Exception as exc:
                self.log_exception("Unhandled exception", exc_info=exc)
                self.force_close()
            except BaseException:
                self.force_close()
                raise
            finally:
                request._task = None  # type: ignore[assignment]  # break a reference cycle on an exception
            if self._keepalive and not self._close and not self._force_close:
                close_time = loop.time() + keepalive_timeout  # start the keep-alive timer
                self._next_keepalive_close_time = close_time
                if self._keepalive_handle is None:
                    self._keepalive_handle = loop.call_at(close_time, self._process_keepalive)
            else:
                break
        if not self._force_close:  # remove the handler, close the transport if no handlers are left
            self._task_handler = None
            if self.transport is not None:
                self.transport.close()

    async def _linger(self, payload: StreamReader) -> None:
        """aiohttp's lingering close: read and drop what is left of an unread body for a while."""
        loop = self._loop
        lingering_time = self._lingering_time
        if not self._force_close and lingering_time:
            now = loop.time()
            end_t = now + lingering_time
            try:
                while not payload.is_eof() and now < end_t:
                    async with ceil_timeout(end_t - now):
                        await payload.readany()  # read and ignore
                    now = loop.time()
            except (asyncio.CancelledError, TimeoutError):
                if (t := asyncio.current_task()) and t.cancelling():
                    raise
        if not payload.is_eof() and not self._force_close:
            self.close()  # the payload is still uncompleted

    def resume_reading(self, resume_parser: bool = True) -> None:
        # A request body's StreamReader calls this every time its buffer drains below the low-water
        # mark, paused or not: each protected body read re-fed the parser an empty read (~1% of a
        # protected login's CPU). With nothing paused (flow control or the message queue) and no late
        # body that may have left the parser holding requests (`_held`), the parser holds nothing back
        # and the transport is reading: there is nothing to resume.
        if not (self._reading_paused or self._buffer_paused or self._held):
            return
        super().resume_reading(resume_parser)

    def data_received(self, data: bytes) -> None:
        if self._force_close or self._close:
            return
        if self._upgraded or self._payload_parser is not None:  # a WebSocket's frames: not a head
            super().data_received(data)
            return
        body = self._body
        in_head = body is None or body.is_eof()
        if in_head:
            self._body = None
            self._head_bytes += len(data)
        else:
            self._body_seen = self._loop.time()
            self._held = True
        early = self._early
        queued, count = len(self._messages), self._request_count + (early.answered if early else 0)
        super().data_received(data)
        if self._request_count + (early.answered if early else 0) != count:
            self._heads_parsed(queued)
        elif in_head and data:  # b"": a re-parse of what aiohttp held, not a byte of a new head
            if self._head_timer is None:  # the first byte of the next head on a kept-alive connection
                # armed once the read proved no whole head: a timer per request was ~4% of a ban refusal
                self._head_timer = self._loop.call_later(self._limits.header_read_timeout, self._head_deadline)
            if self._head_bytes > self._limits.max_head_bytes:
                # security: an unfinished head past the cap is not buffered further
                self._cut("head_too_large", canned(431, "Request Header Fields Too Large", "head_too_large"))

    def _heads_parsed(self, queued: int) -> None:
        """One or more heads were parsed in this read: check their size, watch the last body."""
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        msgs = self._messages
        for i in range(min(queued, len(msgs)), len(msgs)):
            msg, _payload = msgs[i]
            if isinstance(msg, RawRequestMessage) and head_size(msg) > self._limits.max_head_bytes:
                # security: a whole head read in one go is refused the same as a trickled one
                self._tally.add("head_too_large")
                msgs[i] = (_ErrInfo(status=431, exc=HeadTooLarge(), message=""), EMPTY_PAYLOAD)
        last = msgs[-1][1] if msgs else None
        if last is not None and not last.is_eof():
            self._body, self._body_seen = last, self._loop.time()
            if self._body_timer is None:
                self._body_timer = self._loop.call_later(self._limits.body_read_timeout, self._body_deadline)

    # -- deadlines -----------------------------------------------------------------------------

    def _head_deadline(self) -> None:
        self._head_timer = None
        if self.transport is None:
            return
        if self._request_in_progress or self._messages:  # a pipelined head: counted from its turn on
            self._head_timer = self._loop.call_later(self._limits.header_read_timeout, self._head_deadline)
            return
        if self._body is not None and not self._body.is_eof():
            return
        self._cut("head_timeout", canned(408, "Request Timeout", "head_timeout") if self._head_bytes else b"")

    def _body_deadline(self) -> None:
        self._body_timer = None
        body = self._body
        if body is None or body.is_eof() or self.transport is None:
            return
        now = self._loop.time()
        if self._reading_paused:  # shield is not reading (its buffer is full): not the client's delay
            self._body_seen = now
        wait = self._body_seen + self._limits.body_read_timeout - now
        if wait > 0:
            self._body_timer = self._loop.call_later(wait, self._body_deadline)
            return
        self._tally.add("body_timeout")
        body.set_exception(BodyTimeout())
        self._body = None
        self.close()  # the handler answers 408; no further request on this connection

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self._loop.call_later(self._limits.client_write_timeout, self._write_deadline)

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        super().resume_writing()

    def _write_deadline(self) -> None:
        self._write_timer = None
        # security: a client that takes nothing would hold its handler and upstream connection
        # forever; abort (close() would wait to flush the very buffer it does not read).
        self._tally.add("write_timeout")
        if self.transport is not None:
            self.transport.abort()
        self.force_close()

    def _cut(self, reason: str, answer: bytes) -> None:
        self._tally.add(reason)
        if self.transport is not None and answer and not self._request_in_progress:
            self.transport.write(answer)
        self.force_close()

    # -- errors: one JSON line, no raw bytes ---------------------------------------------------

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        rid = secrets.token_hex(12)
        if isinstance(exc, LineTooLong):  # a header (or request) line past limits.max_header_bytes
            status = 431
        error = "head_too_large" if status == 431 else "bad_request" if status < 500 else "internal"
        fields = {"request_id": rid, "status": status, "error": type(exc).__name__ if exc else None,
                  "peer": request.remote}
        if status >= 500:
            structlog.get_logger().error("http.server_error", **fields)
        else:
            structlog.get_logger().info("http.bad_request", **fields)
        if request.writer.output_size > 0:  # the answer had started: the connection is broken
            raise ConnectionError("answer already started")
        resp = web.json_response({"error": error, "request_id": rid}, status=status)
        resp.headers["X-Request-ID"] = rid
        resp.force_close()
        return resp

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        structlog.get_logger().error("http.server_error", error=type(exc).__name__ if exc else None)
