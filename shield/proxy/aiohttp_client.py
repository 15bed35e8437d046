"""`AiohttpForwarder`: the `Forwarder` on aiohttp's ClientSession.

Used for https:// upstreams, for WebSocket upgrades (relayed frame by frame), and when
`upstream_options.client: aiohttp` is chosen; plain-HTTP traffic otherwise goes through
`shield.proxy.h1` (a third less CPU per request).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from types import SimpleNamespace

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from shield.proxy.forwarder import (
    ClientBody,
    Forwarded,
    RequestContext,
    StreamAborted,
    UpstreamError,
    UpstreamReply,
    UpstreamTarget,
    client_response_headers,
    upstream_request_headers,
)
from shield.proxy.header_policy import HeaderPolicy

_CHUNK = 64 * 1024
# The client leg negotiates its own handshake with the upstream.
_WS_HANDSHAKE = ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol")


class AiohttpForwarder:
    """The aiohttp ClientSession implementation: one pooled session per worker."""

    def __init__(self, target: UpstreamTarget) -> None:
        opts = target.options
        self._base = target.url.rstrip("/")
        self._inspect = opts.max_response_inspect
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=opts.connect_timeout, sock_read=opts.read_timeout
        )
        self._acquire_timeout = opts.pool_acquire_timeout
        self._pool_size = opts.pool_size
        # security: streams and WebSockets (held open as long as their client likes) take at most
        # three quarters of the pool; the rest is kept for protected routes' exchanges.
        reserved = opts.pool_size // 4
        self._streams = asyncio.Semaphore(opts.pool_size - reserved) if reserved else None
        self._session: aiohttp.ClientSession | None = None
        self._policy = HeaderPolicy.build(tls_fingerprint_header=target.tls_fingerprint_header)

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
                trace_configs=[_pool_wait_trace()],
            )
        return self._session

    def _url(self, request: web.Request) -> URL:
        return URL(self._base + request.raw_path, encoded=True)

    async def _open(
        self, request: web.Request, headers: CIMultiDict[str], data: bytes | ClientBody | None
    ) -> tuple[aiohttp.ClientResponse, float]:
        t0 = time.monotonic()
        pool_wait = _PoolWait(self._acquire_timeout)
        try:
            # security: slow clients holding every pooled connection get a quick 503, never a hang;
            # the deadline runs only while the request waits in the pool's queue (see _PoolWait).
            async with asyncio.timeout(None) as pool_wait.deadline:
                resp = await self._client().request(
                    request.method, self._url(request), headers=headers, data=data, allow_redirects=False,
                    compress=None, chunked=None, trace_request_ctx=pool_wait,
                )
        except Exception as exc:
            if isinstance(data, ClientBody) and data.failed is not None:
                raise data.failed.aborted() from exc  # the client's body broke off, not the upstream
            if pool_wait.waiting:
                raise UpstreamError(
                    "overloaded", f"no free upstream connection within {self._acquire_timeout} s"
                ) from exc
            if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
                raise UpstreamError("timeout", type(exc).__name__) from exc
            if isinstance(exc, aiohttp.ClientError):
                raise UpstreamError("unreachable", f"{type(exc).__name__}: {exc}") from exc
            raise
        return resp, time.monotonic() - t0

    @contextlib.asynccontextmanager
    async def _stream_slot(self) -> AsyncIterator[None]:
        """One of the pool's slots open to streams, waited for at most the acquire timeout."""
        gate = self._streams
        if gate is None:
            yield
            return
        if gate.locked():
            try:
                async with asyncio.timeout(self._acquire_timeout):
                    await gate.acquire()
            except TimeoutError:
                detail = f"no free upstream connection within {self._acquire_timeout} s"
                raise UpstreamError("overloaded", detail) from None
        else:
            await gate.acquire()
        try:
            yield
        finally:
            gate.release()

    async def stream(self, request: web.Request, ctx: RequestContext) -> Forwarded:
        async with self._stream_slot():
            return await self._stream(request, ctx)

    async def _stream(self, request: web.Request, ctx: RequestContext) -> Forwarded:
        headers = upstream_request_headers(request, ctx, self._policy)
        # security: framing is shield's: one Content-Length, aiohttp's parse of the client's (the
        # body it hands over is exactly that long); without one aiohttp sends chunked.
        declared = headers.popall("Content-Length", None)
        data = ClientBody(request) if request.body_exists else None
        if data is not None and request.content_length is not None:
            headers["Content-Length"] = str(request.content_length)
        elif data is None and declared:
            headers["Content-Length"] = "0"
        resp, elapsed = await self._open(request, headers, data)
        try:
            out = web.StreamResponse(status=resp.status, reason=resp.reason)
            client_response_headers(resp.headers, out.headers)
            sent = await _pump(request, resp, out, b"", Forwarded(out, resp.status, 0, elapsed))
        finally:
            resp.release()
        return Forwarded(out, resp.status, sent, elapsed)

    async def exchange(
        self, request: web.Request, body: bytes, ctx: RequestContext, extra_headers: Mapping[str, str] | None = None
    ) -> UpstreamReply:
        headers = upstream_request_headers(request, ctx, self._policy)
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
            sent = await _pump(request, resp, out, reply.body, Forwarded(out, reply.status, 0, reply.upstream_seconds))
        finally:
            reply.release()
        return Forwarded(out, reply.status, sent, reply.upstream_seconds)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def websocket(self, request: web.Request, ctx: RequestContext) -> Forwarded:
        """Relay a WebSocket session frame by frame in both directions."""
        async with self._stream_slot():
            return await self._websocket(request, ctx)

    async def _websocket(self, request: web.Request, ctx: RequestContext) -> Forwarded:
        headers = upstream_request_headers(request, ctx, self._policy)
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


class _PoolWait:
    """A request's wait in the connector's queue for a pooled connection: aiohttp's own connect
    timeout would lump the wait and the connect together, so the trace hooks below arm a
    deadline when the request is queued and lift it when a connection is handed over."""

    __slots__ = ("acquire_timeout", "deadline", "waiting")

    def __init__(self, acquire_timeout: float) -> None:
        self.acquire_timeout = acquire_timeout
        self.deadline: asyncio.Timeout | None = None
        self.waiting = False


def _pool_wait_trace() -> aiohttp.TraceConfig:
    async def queued(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: object) -> None:
        wait = ctx.trace_request_ctx
        if isinstance(wait, _PoolWait) and wait.deadline is not None:
            wait.waiting = True
            wait.deadline.reschedule(asyncio.get_running_loop().time() + wait.acquire_timeout)

    async def dequeued(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: object) -> None:
        wait = ctx.trace_request_ctx
        if isinstance(wait, _PoolWait) and wait.deadline is not None:
            wait.waiting = False
            wait.deadline.reschedule(None)

    trace = aiohttp.TraceConfig()
    trace.on_connection_queued_start.append(queued)
    trace.on_connection_queued_end.append(dequeued)
    return trace


async def _pump(
    request: web.Request, resp: aiohttp.ClientResponse | None, out: web.StreamResponse, first: bytes,
    progress: Forwarded,
) -> int:
    """Send the head and copy the body to the client; on failure (the client gone before or during
    the answer, the upstream broken off) close both sides and raise StreamAborted."""
    try:
        await out.prepare(request)
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


_WebSocket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse


async def _copy(source: _WebSocket, sink: _WebSocket) -> None:
    """Text and binary messages from one end to the other (aiohttp answers pings itself), then
    close the other end when this one closes."""
    async for msg in source:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
    await sink.close()


async def _relay(down: web.WebSocketResponse, up: aiohttp.ClientWebSocketResponse) -> None:
    tasks = [
        asyncio.create_task(_copy(down, up), name="ws.client_to_upstream"),
        asyncio.create_task(_copy(up, down), name="ws.upstream_to_client"),
    ]
    _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
