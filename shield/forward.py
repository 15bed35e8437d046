"""Forwarding to the upstream behind one small interface, so a leaner client can replace aiohttp's.

`stream` passes a request through with both bodies streamed; `exchange` replays a buffered
protected body and reads the start of the answer so the caller can classify it before `send`.
Failures raise `UpstreamError` ("unreachable" -> 502, "timeout" -> 504); the app answers them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from shield.settings import Settings

# RFC 9110 7.6.1 plus the legacy names proxies still meet.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    }
)
# Set by shield from what it knows; a client's own copies are replaced (from untrusted peers dropped).
_FORWARDING = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id"})
_CHUNK = 64 * 1024
# The client leg negotiates its own handshake with the upstream.
_WS_HANDSHAKE = ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol")
UpstreamErrorKind = Literal["unreachable", "timeout"]


class StreamAborted(Exception):
    """The answer had started when the upstream or the client went away; the connection is closed."""

    def __init__(self, forwarded: Forwarded, cause: BaseException) -> None:
        super().__init__(f"stream aborted: {type(cause).__name__}")
        self.forwarded = forwarded
        self.cause = cause


class UpstreamError(Exception):
    def __init__(self, kind: UpstreamErrorKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind: UpstreamErrorKind = kind
        self.detail = detail


@dataclass(slots=True)
class RequestContext:
    """What shield knows about one request before any rule runs."""

    request_id: str
    client_ip: str
    peer: str
    peer_trusted: bool
    started: float  # time.monotonic() at arrival
    route: str = "-"


@dataclass(slots=True)
class Forwarded:
    """What `stream`/`send` did, for the request log line and metrics."""

    response: web.StreamResponse
    upstream_status: int
    bytes_sent: int
    upstream_seconds: float  # until the upstream's response headers


class PendingBody(Protocol):
    """The unread rest of an upstream answer, owned by the forwarder that read its start."""

    def close(self) -> None: ...


@dataclass(slots=True)
class UpstreamReply:
    """An upstream answer whose head and first `max_response_inspect` bytes are read."""

    status: int
    headers: CIMultiDict[str]  # already stripped of hop-by-hop headers
    body: bytes
    complete: bool  # False: more body follows on `_response`
    upstream_seconds: float
    _response: PendingBody | None = field(default=None, repr=False)

    def release(self) -> None:
        """Drop the upstream response when the client gets another answer."""
        if self._response is not None:
            self._response.close()
            self._response = None


class Forwarder(Protocol):
    async def stream(self, request: web.Request, ctx: RequestContext) -> Forwarded: ...

    async def exchange(
        self, request: web.Request, body: bytes, ctx: RequestContext, extra_headers: Mapping[str, str] | None = None
    ) -> UpstreamReply: ...

    async def send(
        self, request: web.Request, reply: UpstreamReply, extra_headers: Mapping[str, str] | None = None
    ) -> Forwarded: ...

    async def close(self) -> None: ...


@runtime_checkable
class WebSocketForwarder(Protocol):
    """A forwarder that can also relay a WebSocket session."""

    async def websocket(self, request: web.Request, ctx: RequestContext) -> Forwarded: ...


def connection_tokens(headers: Mapping[str, str]) -> frozenset[str]:
    """Header names listed in Connection, which are hop-by-hop for this message only."""
    value = headers.get("Connection")
    if not value:
        return frozenset()
    return frozenset(t.strip().lower() for t in value.split(",") if t.strip())


def upstream_request_headers(request: web.Request, ctx: RequestContext) -> CIMultiDict[str]:
    """The client's headers minus hop-by-hop and Shield-*, plus the X-Forwarded-* and X-Request-ID shield sets."""
    src = request.headers
    extra = connection_tokens(src)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in src.items():
        low = name.lower()
        # security: Shield-* headers are shield's own (tags, challenge solutions, passes); a client
        # must not pre-tag itself or hand its pass to the app.
        if low in HOP_BY_HOP or low in _FORWARDING or low in extra or low.startswith("shield-"):
            continue
        out.add(name, value)
    prior_xff = ", ".join(src.getall("X-Forwarded-For", ())) if ctx.peer_trusted else ""
    out["X-Forwarded-For"] = f"{prior_xff}, {ctx.peer}" if prior_xff else ctx.peer
    # security: only a trusted proxy may tell the upstream which scheme/host the client used.
    proto = src.get("X-Forwarded-Proto") if ctx.peer_trusted else None
    out["X-Forwarded-Proto"] = proto or request.scheme
    host = (src.get("X-Forwarded-Host") if ctx.peer_trusted else None) or src.get("Host")
    if host:
        out["X-Forwarded-Host"] = host
    out["X-Request-ID"] = ctx.request_id
    return out


def client_response_headers(headers: Mapping[str, str], out: CIMultiDict[str]) -> CIMultiDict[str]:
    return response_header_pairs(headers.items(), out)


def response_header_pairs(pairs: Iterable[tuple[str, str]], out: CIMultiDict[str]) -> CIMultiDict[str]:
    """The upstream's response headers minus hop-by-hop ones (and those its Connection names)."""
    pairs = pairs if isinstance(pairs, list) else list(pairs)
    extra = frozenset(
        t.strip().lower() for n, v in pairs if n.lower() == "connection" for t in v.split(",") if t.strip()
    )
    for name, value in pairs:
        low = name.lower()
        if low in HOP_BY_HOP or low in extra:
            continue
        out.add(name, value)
    return out


class AiohttpForwarder:
    """The aiohttp ClientSession implementation: one pooled session per worker."""

    def __init__(self, settings: Settings) -> None:
        opts = settings.upstream_options
        self._base = settings.upstream.rstrip("/")
        self._inspect = opts.max_response_inspect
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=opts.connect_timeout, sock_read=opts.read_timeout
        )
        self._pool_size = opts.pool_size
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created lazily inside the running loop (a session binds to its loop).
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0, ttl_dns_cache=60),
                # security: a shared cookie jar would hand one user's session cookies to the next user.
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=self._timeout,
                auto_decompress=False,  # bodies pass byte for byte, compressed or not
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    def _url(self, request: web.Request) -> URL:
        return URL(self._base + request.raw_path, encoded=True)

    async def _open(
        self, request: web.Request, headers: CIMultiDict[str], data: object
    ) -> tuple[aiohttp.ClientResponse, float]:
        t0 = time.monotonic()
        try:
            resp = await self._client().request(
                request.method, self._url(request), headers=headers, data=data, allow_redirects=False,
                compress=None, chunked=None,
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamError("timeout", type(exc).__name__) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError("unreachable", f"{type(exc).__name__}: {exc}") from exc
        return resp, time.monotonic() - t0

    async def stream(self, request: web.Request, ctx: RequestContext) -> Forwarded:
        headers = upstream_request_headers(request, ctx)
        data = request.content if request.body_exists else None
        resp, elapsed = await self._open(request, headers, data)
        try:
            out = web.StreamResponse(status=resp.status, reason=resp.reason)
            client_response_headers(resp.headers, out.headers)
            await out.prepare(request)
            sent = await _pump(resp, out, b"", Forwarded(out, resp.status, 0, elapsed))
        finally:
            resp.release()
        return Forwarded(out, resp.status, sent, elapsed)

    async def exchange(
        self, request: web.Request, body: bytes, ctx: RequestContext, extra_headers: Mapping[str, str] | None = None
    ) -> UpstreamReply:
        headers = upstream_request_headers(request, ctx)
        # An uncompressed answer, so the outcome (a JSON field) can be read from its first bytes.
        headers.popall("Accept-Encoding", None)
        if extra_headers:
            headers.update(extra_headers)
        if body or "Content-Length" in headers:
            headers["Content-Length"] = str(len(body))
        resp, elapsed = await self._open(request, headers, body if body else None)
        try:
            head = await _read_up_to(resp, self._inspect)
        except (TimeoutError, aiohttp.ClientError) as exc:
            resp.close()
            raise UpstreamError("timeout" if isinstance(exc, TimeoutError) else "unreachable", str(exc)) from exc
        complete = resp.content.at_eof()
        reply_headers = client_response_headers(resp.headers, CIMultiDict())
        if complete:
            resp.release()
        return UpstreamReply(resp.status, reply_headers, head, complete, elapsed, None if complete else resp)

    async def send(
        self, request: web.Request, reply: UpstreamReply, extra_headers: Mapping[str, str] | None = None
    ) -> Forwarded:
        out = web.StreamResponse(status=reply.status)
        out.headers.extend(reply.headers)
        if extra_headers:
            out.headers.update(extra_headers)
        resp = reply._response if isinstance(reply._response, aiohttp.ClientResponse) else None
        try:
            await out.prepare(request)
            sent = await _pump(resp, out, reply.body, Forwarded(out, reply.status, 0, reply.upstream_seconds))
        finally:
            reply.release()
        return Forwarded(out, reply.status, sent, reply.upstream_seconds)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def websocket(self, request: web.Request, ctx: RequestContext) -> Forwarded:
        """Relay a WebSocket session frame by frame in both directions."""
        headers = upstream_request_headers(request, ctx)
        for name in _WS_HANDSHAKE:
            headers.popall(name, None)
        protocols = tuple(p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip())
        t0 = time.monotonic()
        try:
            upstream = await self._client().ws_connect(self._url(request), headers=headers, protocols=protocols)
        except aiohttp.WSServerHandshakeError as exc:
            raise UpstreamError("unreachable", f"websocket handshake: {exc.status}") from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamError("timeout", type(exc).__name__) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError("unreachable", f"{type(exc).__name__}: {exc}") from exc
        elapsed = time.monotonic() - t0
        down = web.WebSocketResponse(protocols=(upstream.protocol,) if upstream.protocol else ())
        await down.prepare(request)
        async with upstream:
            await _relay(down, upstream)
        return Forwarded(down, 101, 0, elapsed)


async def _pump(
    resp: aiohttp.ClientResponse | None, out: web.StreamResponse, first: bytes, progress: Forwarded
) -> int:
    """Copy the body to the client; on failure mark the connection for closing and raise StreamAborted."""
    try:
        if first:
            await out.write(first)
            progress.bytes_sent += len(first)
        if resp is not None:
            async for chunk in resp.content.iter_chunked(_CHUNK):
                await out.write(chunk)
                progress.bytes_sent += len(chunk)
        await out.write_eof()
    except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
        # A half-sent body must not be followed by another response on the same connection.
        out.force_close()
        if resp is not None:
            resp.close()
        raise StreamAborted(progress, exc) from exc
    return progress.bytes_sent


async def _read_up_to(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await resp.content.read(limit - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


async def _relay(down: web.WebSocketResponse, up: aiohttp.ClientWebSocketResponse) -> None:
    async def client_to_upstream() -> None:
        async for msg in down:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await up.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await up.send_bytes(msg.data)
        await up.close()

    async def upstream_to_client() -> None:
        async for msg in up:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await down.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await down.send_bytes(msg.data)
        await down.close()

    tasks = [
        asyncio.create_task(client_to_upstream(), name="ws.client_to_upstream"),
        asyncio.create_task(upstream_to_client(), name="ws.upstream_to_client"),
    ]
    _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
