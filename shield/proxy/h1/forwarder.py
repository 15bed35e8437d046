"""`H1Forwarder`: the `Forwarder` on shield's own HTTP/1.1 client (asyncio protocol + httptools).

Measured (`./dev bench proxy`), aiohttp's ClientSession was about 40% of a worker's CPU on
pass-through traffic; this client writes one pre-built head, parses the answer in C and hands
chunks straight to the server leg. WebSocket upgrades go to the aiohttp implementation.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from shield.proxy.aiohttp_client import AiohttpForwarder
from shield.proxy.forwarder import (
    ClientBody,
    ClientBodyFailed,
    Forwarded,
    RequestContext,
    StreamAborted,
    UpstreamError,
    UpstreamReply,
    UpstreamTarget,
    read_client_body,
    response_header_pairs,
)
from shield.proxy.h1.connection import ConnectionClosed, UpstreamConnection
from shield.proxy.h1.head import request_head
from shield.proxy.h1.pool import ConnectionPool, PoolExhausted
from shield.proxy.header_policy import HeaderPolicy

_SMALL_BODY = 64 * 1024


class _Pending:
    """The rest of an answer `exchange` did not read, until `send` streams it or drops it."""

    def __init__(self, conn: UpstreamConnection, pool: ConnectionPool, read_timeout: float) -> None:
        self.conn, self.pool, self.read_timeout = conn, pool, read_timeout
        self._done = False

    def close(self) -> None:
        if not self._done:
            self._done = True
            self.pool.discard(self.conn)

    def finish(self) -> None:
        if not self._done:
            self._done = True
            self.pool.release(self.conn)


class H1Forwarder:
    """One pool of keep-alive connections per worker to a plain-HTTP upstream."""

    def __init__(self, target: UpstreamTarget) -> None:
        url = URL(target.url)
        if url.scheme != "http" or url.host is None:
            raise ValueError("the h1 client speaks plain HTTP to the upstream; use upstream_options.client: aiohttp")
        opts = target.options
        self._host, self._port = url.host, url.port or 80
        self._prefix = url.raw_path.rstrip("/").encode()
        self._default_host = (url.raw_authority or url.host).encode()
        self._connect_timeout, self._read_timeout = opts.connect_timeout, opts.read_timeout
        self._inspect = opts.max_response_inspect
        self._size, self._acquire_timeout = opts.pool_size, opts.pool_acquire_timeout
        self._pool: ConnectionPool | None = None
        self._ws = AiohttpForwarder(target)
        self._policy = HeaderPolicy.build(tls_fingerprint_header=target.tls_fingerprint_header)

    def _conns(self) -> ConnectionPool:
        if self._pool is None:  # created inside the running loop
            self._pool = ConnectionPool(
                self._host, self._port, size=self._size, connect_timeout=self._connect_timeout,
                acquire_timeout=self._acquire_timeout, reserved=self._size // 4,
            )
        return self._pool

    def _target(self, request: web.Request) -> bytes:
        return self._prefix + request.raw_path.encode()

    # -- Forwarder -----------------------------------------------------------------------------

    def _head(
        self, request: web.Request, ctx: RequestContext, body_length: int | None, *, chunked: bool = False,
        extra: Mapping[str, str] | None = None, identity_encoding: bool = False,
    ) -> bytes:
        return request_head(
            request, ctx, target=self._target(request), default_host=self._default_host, body_length=body_length,
            policy=self._policy, chunked=chunked, extra=extra, identity_encoding=identity_encoding,
        )

    async def stream(self, request: web.Request, ctx: RequestContext) -> Forwarded:
        body = request.body_exists
        # aiohttp's own parse of the client's framing: the body it hands over is exactly this long.
        length = request.content_length if body else 0
        chunked = length is None
        pool = self._conns()
        try:
            if length is not None and length <= _SMALL_BODY:
                # A small body (an API call) goes out with its head in one write and can be replayed.
                data = await read_client_body(request) if body else b""
                head = self._head(request, ctx, len(data))
                t0 = time.monotonic()
                conn = await self._open(pool, head + data, None, replayable=True, method=request.method, bulk=True)
            else:
                head = self._head(request, ctx, length, chunked=chunked)
                t0 = time.monotonic()
                conn = await self._open(pool, head, request, replayable=False, chunked=chunked,
                                        method=request.method, length=length, bulk=True)
        except ClientBodyFailed as exc:
            raise exc.aborted() from exc.cause
        elapsed = time.monotonic() - t0
        out = _Answer(status=conn.status, reason=conn.reason or None)
        response_header_pairs(conn.headers, out.headers)
        progress = Forwarded(out, conn.status, 0, elapsed)
        try:
            await out.prepare(request)
            await _pump(conn, out, b"", progress, self._read_timeout)
        except BaseException as exc:
            pool.discard(conn)
            if isinstance(exc, ConnectionClosed | TimeoutError | ConnectionError):
                out.force_close()
                raise StreamAborted(progress, exc) from exc
            raise
        pool.release(conn)
        return progress

    async def exchange(
        self, request: web.Request, body: bytes, ctx: RequestContext, extra_headers: Mapping[str, str] | None = None
    ) -> UpstreamReply:
        head = self._head(request, ctx, len(body), extra=extra_headers, identity_encoding=True)
        pool = self._conns()
        t0 = time.monotonic()
        conn = await self._open(pool, head + body if body else head, None, replayable=True, method=request.method)
        elapsed = time.monotonic() - t0
        try:
            first = await _read_up_to(conn, self._inspect, self._read_timeout)
        except BaseException as exc:
            pool.discard(conn)
            if isinstance(exc, TimeoutError):
                raise UpstreamError("timeout", "reading the answer") from exc
            if isinstance(exc, ConnectionClosed):
                raise UpstreamError("unreachable", str(exc)) from exc
            raise
        headers = response_header_pairs(conn.headers, CIMultiDict())
        complete = conn.drained
        pending = _Pending(conn, pool, self._read_timeout)
        if complete:
            pending.finish()
        return UpstreamReply(conn.status, headers, first, complete, elapsed, None if complete else pending)

    async def send(
        self, request: web.Request, reply: UpstreamReply, extra_headers: Mapping[str, str] | None = None
    ) -> Forwarded:
        out = _Answer(status=reply.status)
        out.headers.extend(reply.headers)
        if extra_headers:
            out.headers.update(extra_headers)
        pending = reply._response
        progress = Forwarded(out, reply.status, 0, reply.upstream_seconds)
        try:
            await out.prepare(request)
            if isinstance(pending, _Pending):
                await _pump(pending.conn, out, reply.body, progress, pending.read_timeout)
                pending.finish()
            else:
                await _pump(None, out, reply.body, progress, self._read_timeout)
        except (ConnectionClosed, TimeoutError, ConnectionError) as exc:
            out.force_close()
            raise StreamAborted(progress, exc) from exc
        finally:
            reply.release()
        return progress

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        await self._ws.close()

    async def websocket(self, request: web.Request, ctx: RequestContext) -> Forwarded:
        return await self._ws.websocket(request, ctx)

    # -- one exchange --------------------------------------------------------------------------

    async def _open(
        self,
        pool: ConnectionPool,
        head: bytes,
        request: web.Request | None,
        *,
        replayable: bool,
        method: str,
        chunked: bool = False,
        length: int | None = None,
        bulk: bool = False,
    ) -> UpstreamConnection:
        """Send the request (head, then the client's body when `request` is given) and wait for
        the answer's head. A reused connection that the upstream had closed is retried once on a
        fresh one when the request can be sent again (no streamed body)."""
        fresh = False
        while True:
            try:
                conn = await pool.acquire(fresh=fresh, bulk=bulk)
            except PoolExhausted as exc:
                detail = f"no free upstream connection within {self._acquire_timeout} s"
                raise UpstreamError("overloaded", detail) from exc
            except TimeoutError as exc:
                raise UpstreamError("timeout", "connecting") from exc
            except OSError as exc:
                raise UpstreamError("unreachable", f"{type(exc).__name__}: {exc}") from exc
            conn.begin(head_request=method == "HEAD")
            try:
                await conn.write(head, self._read_timeout)
                if request is not None and request.body_exists:
                    await _send_body(conn, request, chunked=chunked, length=length, idle_s=self._read_timeout)
                conn.request_sent()
                await conn.head(self._read_timeout)
                return conn
            except ConnectionClosed as exc:
                pool.discard(conn)
                if conn.used and exc.before_response and replayable and not fresh:
                    fresh = True
                    continue
                raise UpstreamError("unreachable", str(exc)) from exc
            except TimeoutError as exc:
                pool.discard(conn)
                raise UpstreamError("timeout", "waiting for the answer") from exc
            except BaseException:
                pool.discard(conn)
                raise


async def _send_body(
    conn: UpstreamConnection, request: web.Request, *, chunked: bool, length: int | None, idle_s: float
) -> None:
    """Stream the client's body on, at the pace both sides allow (the server leg pauses reading
    from the client while its buffer is full; `conn.write` waits while the upstream's is)."""
    sent = 0
    async for data in ClientBody(request):
        sent += len(data)
        if length is not None and sent > length:
            # security: never more bytes than the head announced: the rest would be read upstream
            # as another request. The connection is discarded by the caller.
            raise ClientBodyFailed(ValueError("request body longer than its Content-Length"))
        await conn.write(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data, idle_s)
    if length is not None and sent != length:
        raise ClientBodyFailed(ValueError("request body shorter than its Content-Length"))
    if chunked:
        await conn.write(b"0\r\n\r\n", idle_s)


class _Answer(web.StreamResponse):
    """The client's copy of the upstream's answer. With `_send_headers_immediately` False, aiohttp
    (3.12+) holds the head back until the first body write, so a small answer leaves in one send()
    rather than two (a syscall was ~8% of a worker's CPU); `_pump` flushes the head at once when
    no body is there yet, so a streaming upstream's head never waits for its first chunk."""

    _send_headers_immediately = False


async def _pump(
    conn: UpstreamConnection | None, out: web.StreamResponse, first: bytes, progress: Forwarded, idle_s: float
) -> None:
    if not first and conn is not None and not conn.ready:
        await out.write(b"")  # sends the held-back head alone: the body may be a while (a stream, a long poll)
    if first:
        await out.write(first)
        progress.bytes_sent += len(first)
    if conn is not None:
        while chunk := await conn.read(idle_s):
            await out.write(chunk)
            progress.bytes_sent += len(chunk)
    await out.write_eof()


async def _read_up_to(conn: UpstreamConnection, limit: int, idle_s: float) -> bytes:
    parts: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await conn.read(idle_s)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    data = b"".join(parts)
    if len(data) > limit:  # the overshoot stays queued: `send` streams it after the start
        conn.unread(data[limit:])
        data = data[:limit]
    return data
