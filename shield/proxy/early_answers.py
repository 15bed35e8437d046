"""Answers written by the connection protocol itself, before aiohttp builds a request (issue 14).

`EarlyAnswers` wraps a connection's request parser (aiohttp's C parser). Each head it emits while
the connection owes no answer goes to a `Gate` (shield.proxy.ban_wire.WireBans); when the gate
returns bytes, they are written as that request's whole answer and the head never reaches
aiohttp: no Request, no handler task, no response object. From the first head the gate passes
on, that head and every later one go to aiohttp as usual, so the answers stay in request order:
an early answer is only written while aiohttp owes no answer (every request it was handed has
had its answer written, the last one kept the connection, none is queued) and the client reads
what it is sent (writing not paused: a client pipelining requests without reading them meets
aiohttp's own back-pressure, not a growing send buffer). The connection says which
(shield.proxy.client_limits.LimitedRequestHandler.idle).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aiohttp import web
from aiohttp.http_parser import RawRequestMessage
from aiohttp.web_protocol import RequestHandler

from shield.proxy.passed import Passed

Parsed = tuple[Sequence[tuple[Any, Any]], bool, bytes]  # aiohttp's feed_data: messages, upgraded, tail


class Connection(Protocol):
    """What a `Gate` knows of the connection a head came on."""

    peer: str  # the peer's address
    memo: Any  # the gate's own, from one head to the next of this connection (None at first)
    passed: Passed | None  # what the gate found out about the last head it left to aiohttp


class Gate(Protocol):
    def answer(self, conn: Connection, msg: RawRequestMessage, *, keep_alive: bool) -> bytes | None:
        """The whole answer to this head, recorded (`keep_alive`: the connection stays open after
        it), or None to leave the request to aiohttp."""


GATE_KEY: web.AppKey[Gate] = web.AppKey("shield.proxy.early_answers.gate")  # set on an app: its listener answers early


class EarlyAnswers:
    """The parser of one connection, with early answers; every other attribute is the parser's."""

    __slots__ = ("_gate", "_idle", "_max_head", "_parser", "_proto", "answered", "memo", "passed", "peer")

    def __init__(
        self, parser: Any, proto: RequestHandler, gate: Gate, *, idle: Callable[[], bool], peer: str, max_head: int
    ) -> None:
        self._parser = parser
        self._proto = proto
        self._idle = idle  # whether an answer written now comes in order (see the module docstring)
        self._gate = gate
        self.peer = peer
        self.memo: Any = None  # the gate's (Connection)
        self.passed: Passed | None = None  # the gate's (Connection)
        self._max_head = max_head
        self.answered = 0  # heads answered here (aiohttp's _request_count counts the others)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def message_consumed(self) -> None:
        self._parser.message_consumed()

    def feed_data(self, data: bytes) -> Parsed:
        parsed: Parsed = self._parser.feed_data(data)
        while parsed[0] and self._idle():
            rest = self._answer(parsed[0])
            if rest or self._proto._force_close:
                return rest, parsed[1], parsed[2]
            # the parser stops after 32 messages not yet consumed and keeps the rest: go on with it
            parsed = self._parser.feed_data(b"")
        return parsed

    def _answer(self, messages: Sequence[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
        """Answer the heads the gate answers, in order; the messages left for aiohttp."""
        out: list[bytes] = []
        rest: list[tuple[Any, Any]] = []
        keep_alive = True
        for i, (msg, payload) in enumerate(messages):
            if not isinstance(msg, RawRequestMessage) or head_size(msg) > self._max_head:
                rest = list(messages[i:])  # too large: aiohttp's path answers 431
                break
            complete = payload.is_eof()
            # security: a body still on its way is never read: the answer closes the connection
            keep_alive = complete and not msg.should_close
            wire = self._gate.answer(self, msg, keep_alive=keep_alive)
            if wire is None:
                rest = list(messages[i:])
                break
            self.answered += 1
            out.append(wire)
            if complete:
                self._parser.message_consumed()
            if not keep_alive:
                break  # the pipelined heads after it get no answer: the connection closes
        self._write(out, closing=bool(out) and not rest and not keep_alive)
        return rest

    def _write(self, out: list[bytes], *, closing: bool) -> None:
        proto = self._proto
        transport = proto.transport
        if not out or transport is None:
            return
        transport.write(b"".join(out))
        if closing:
            proto.force_close()
            transport.close()  # after what is buffered is sent; what the client sends after is dropped
            return
        # an early answer is a request served: the idle keep-alive time counts from it (as aiohttp's loop does)
        loop = proto._loop
        proto._next_keepalive_close_time = loop.time() + proto._keepalive_timeout
        if proto._keepalive_handle is None:
            proto._keepalive_handle = loop.call_at(proto._next_keepalive_close_time, proto._process_keepalive)


def head_size(msg: RawRequestMessage) -> int:
    """The bytes of a parsed head, as sent with single spaces and CRLF line ends."""
    headers = msg.raw_headers
    size = len(msg.method) + len(msg.path) + 14 + 4 * len(headers)
    for name, value in headers:  # a plain loop: 2.5x faster than sum(map(len, chain(...))) for a flood's 4 headers
        size += len(name) + len(value)
    return size
