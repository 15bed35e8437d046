"""Request shapes for the differential test of the forwarding leg, and the two h11 readers:
what the client sent (the oracle's list of requests) and what shield answered.

A shape is bytes on one connection: one to three requests back to back (pipelined), each with
a framing (none, Content-Length, chunked, and the conflicting or odd forms smugglers use), a
Content-Encoding, a Connection header naming any tokens, odd but legal header names and values;
the last one may be cut short and the connection half-closed (an early close).
"""

from __future__ import annotations

import gzip
import itertools
import socket
import time
import zlib
from dataclasses import dataclass

import h11
from hypothesis import strategies as st

TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VCHAR = "".join(chr(c) for c in range(0x21, 0x7F))
CONNECTION_TOKENS = ["keep-alive", "close", "x-hop", "content-length", "Transfer-Encoding", "host", "te",
                     "X-Forwarded-For", "shield-score", "cookie"]
FRAMINGS = ["none", "cl", "cl-dup-same", "cl-list-same", "cl-conflict", "cl-short", "cl-plus", "chunked",
            "chunked-ext", "chunked-trailer", "te-cl", "te-cl-reversed", "te-gzip-chunked", "te-chunked-case",
            "te-twice", "te-identity", "cl-space-colon"]
METHODS = (b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS", b"HEAD")
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\nShield-Challenge: solved\r\n\r\n"


@dataclass(frozen=True)
class Sent:
    """One request as the client meant it (what the oracle must also find)."""

    method: bytes
    target: bytes
    body: bytes
    wire: bytes


@st.composite
def header_lines(draw: st.DrawFn) -> list[bytes]:
    names = st.text(TCHAR, min_size=1, max_size=12).filter(lambda n: n.lower() not in (
        "content-length", "transfer-encoding", "host", "connection", "expect", "upgrade", "content-encoding"))
    values = st.text(VCHAR + " \t", max_size=24).map(str.strip)
    out = [f"{n}: {v}".encode() for n, v in draw(st.lists(st.tuples(names, values), max_size=4))]
    out += [b"X-Odd: " + bytes(draw(st.lists(st.integers(0x80, 0xFF), max_size=3)))] if draw(st.booleans()) else []
    return out


def _chunked(body: bytes, cuts: list[int], *, ext: bool = False, trailer: bool = False) -> bytes:
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    parts = [body[a:b] for a, b in itertools.pairwise(points) if b > a]
    out = b"".join(b"%x%s\r\n%s\r\n" % (len(p), b";ext=1" if ext else b"", p) for p in parts)
    return out + b"0\r\n" + (b"X-Trailer: t\r\n" if trailer else b"") + b"\r\n"


def _framed(framing: str, body: bytes, cuts: list[int]) -> tuple[list[bytes], bytes]:
    n = len(body)
    cl = b"Content-Length: %d" % n
    chunked = b"Transfer-Encoding: chunked"
    table: dict[str, tuple[list[bytes], bytes]] = {
        "none": ([], b""),
        "cl": ([cl], body),
        "cl-dup-same": ([cl, cl], body),
        "cl-list-same": ([b"Content-Length: %d, %d" % (n, n)], body),
        "cl-conflict": ([cl, b"Content-Length: %d" % (n + 1)], body + b"x"),
        "cl-short": ([b"Content-Length: %d" % (n // 2)], body),  # the rest is the next request's bytes
        "cl-plus": ([b"Content-Length: +%d" % n], body),
        "chunked": ([chunked], _chunked(body, cuts)),
        "chunked-ext": ([chunked], _chunked(body, cuts, ext=True)),
        "chunked-trailer": ([chunked], _chunked(body, cuts, trailer=True)),
        "te-cl": ([cl, chunked], _chunked(body, cuts)),
        "te-cl-reversed": ([chunked, b"Content-Length: 0"], _chunked(body, cuts)),
        "te-gzip-chunked": ([b"Transfer-Encoding: gzip, chunked"], _chunked(body, cuts)),
        "te-chunked-case": ([b"Transfer-Encoding: ChUnKeD"], _chunked(body, cuts)),
        "te-twice": ([chunked, chunked], _chunked(body, cuts)),
        "te-identity": ([b"Transfer-Encoding: identity", cl], body),
        "cl-space-colon": ([b"Content-Length : %d" % n], body),
    }
    return table[framing]


@st.composite
def requests(draw: st.DrawFn) -> Sent:
    method = draw(st.sampled_from(METHODS))
    path = draw(st.sampled_from([b"/api/login", b"/anything", b"/a/b;c=d", b"/%7Ex/%2F?q=1&r=%20", b"/"]))
    framing = draw(st.sampled_from(FRAMINGS))
    inner = draw(st.one_of(st.binary(max_size=200), st.just(SMUGGLED), st.just(b'{"username": "u", "password": "p"}')))
    if draw(st.integers(0, 30)) == 0:
        inner = inner * (70_000 // max(len(inner), 1) + 1)  # past the h1 client's one-write size: streamed
    encoding = draw(st.sampled_from([None, b"gzip", b"deflate", b"br", b"gzip, identity"]))
    body = {b"gzip": gzip.compress, b"deflate": zlib.compress}.get(encoding or b"", lambda b: b)(inner)
    framing_lines, payload = _framed(framing, body, draw(st.lists(st.integers(0, 1 << 16), max_size=3)))
    lines = [b"Host: " + draw(st.sampled_from([b"x", b"app.example:8080", b"[::1]"]))]
    lines += draw(header_lines()) + framing_lines
    if encoding:
        lines.append(b"Content-Encoding: " + encoding)
    if framing != "none" and draw(st.integers(0, 8)) == 0:
        lines.append(b"Expect: 100-continue")  # shield's server leg answers the 100 itself
    tokens = draw(st.lists(st.sampled_from(CONNECTION_TOKENS), max_size=3))
    if tokens:
        lines.append(b"Connection: " + ", ".join(tokens).encode())
    lines = draw(st.permutations(lines))
    wire = method + b" " + path + b" HTTP/1.1\r\n" + b"".join(ln + b"\r\n" for ln in lines) + b"\r\n" + payload
    return Sent(method, path, body, wire)


@dataclass(frozen=True)
class Shape:
    wire: bytes
    close_at: int | None  # cut the bytes here and half-close: an early close
    pause_at: int | None = None  # send the bytes in two writes, this far apart in the stream


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    sent = draw(st.lists(requests(), min_size=1, max_size=3))
    wire = b"".join(s.wire for s in sent)
    close_at = None
    if draw(st.integers(0, 5)) == 0:
        last = len(sent[-1].wire)
        close_at = len(wire) - last + draw(st.integers(1, max(1, last - 1)))
    wire = wire[:close_at] if close_at else wire
    pause_at = draw(st.integers(1, len(wire))) if draw(st.integers(0, 3)) == 0 else None
    return Shape(wire, close_at, pause_at)


@dataclass(frozen=True)
class Parsed:
    method: bytes
    target: bytes
    body: bytes


def next_method(rest: bytes) -> bytes:
    """The method of the request `rest` starts with (GET when it is not one): a refused
    request's answer is read as the answer to that method (HEAD: no body)."""
    method = rest.split(b" ", 1)[0]
    return method if method in METHODS else b"GET"


def oracle(wire: bytes) -> tuple[list[Parsed], str, bytes]:
    """The requests h11 reads in `wire`, and how the bytes end: "clean", "cut" (an incomplete
    request at the end) or "invalid" (h11 refuses what follows the complete ones), and the bytes
    after the last complete request."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(wire)
    out: list[Parsed] = []
    rest = wire
    head: h11.Request | None = None
    body: list[bytes] = []
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Request):
                head, body = event, []
            elif isinstance(event, h11.Data):
                body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                out.append(Parsed(bytes(head.method), bytes(head.target), b"".join(body)))
                head = None
                conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                conn.send(h11.EndOfMessage())
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
                    return out, "clean", b""  # Connection: close: what follows is never read
                conn.start_next_cycle()
                rest = bytes(conn.trailing_data[0])
            elif event is h11.NEED_DATA:
                return out, "cut" if head is not None or conn.trailing_data[0] else "clean", rest
    except h11.RemoteProtocolError:
        return out, "invalid", rest


@dataclass(frozen=True)
class Answer:
    status: int
    seen: int | None  # the upstream's X-Seen: the answer came from the upstream


def talk(url: str, shape: Shape, methods: list[bytes], *, half_close: bool, timeout: float = 2.0) -> list[Answer]:
    """Send the shape on a fresh connection; shield's answers as h11 reads them, one per method
    at most (a parse error raises: shield's answers must be valid HTTP/1.1). `half_close`: the
    client is done sending (an early close) and says so."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        try:
            if shape.pause_at is not None:  # shield gets part of a head or body, then the rest
                sock.sendall(shape.wire[: shape.pause_at])
                time.sleep(0.005)
            sock.sendall(shape.wire[shape.pause_at or 0 :])
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # shield refused and closed before the rest was sent: its answer is still there to read
        return _answers(sock, methods)


def _answers(sock: socket.socket, methods: list[bytes]) -> list[Answer]:
    client = h11.Connection(h11.CLIENT)
    got: list[Answer] = []
    for method in methods:
        client.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        client.send(h11.EndOfMessage())
        started = False
        while True:
            try:
                event = client.next_event()
            except h11.RemoteProtocolError:
                if started or client.trailing_data[0]:
                    raise  # an answer cut short or not HTTP/1.1: shield's answers must be whole
                return got  # closed with no answer to this request (after a refusal, an early close)
            if event is h11.NEED_DATA:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                except TimeoutError:
                    return got  # shield is waiting for bytes h11 did not need: the caller judges
                client.receive_data(data)
            elif isinstance(event, h11.Response):
                started = True
                seen = dict(event.headers).get(b"x-seen")
                got.append(Answer(event.status_code, int(seen) if seen else None))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                return got
        if client.their_state is h11.MUST_CLOSE:
            return got
        client.start_next_cycle()
    return got
