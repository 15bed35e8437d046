"""The proxy application: match the route, stream unprotected traffic, buffer protected bodies.

Protected requests are handed to a `ProtectedHandler` (the pipeline); without one the
buffered body is forwarded byte for byte. Every failure becomes a short JSON answer with the
request id; the detail goes to the log.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any, Protocol

import structlog
from aiohttp import hdrs, web
from aiohttp.http_parser import RawRequestMessage
from multidict import CIMultiDictProxy

from shield.model import Ban, Clock, SystemClock
from shield.observe.logs import RequestLines
from shield.observe.metrics import Metrics
from shield.proxy.choose import make_forwarder
from shield.proxy.client_ip import Address, TrustedProxies, address, forwarded_client
from shield.proxy.client_limits import LimitedRequestHandler
from shield.proxy.clocks import monotonic_of
from shield.proxy.dispatch import DIRECT_KEY
from shield.proxy.forwarder import (
    ClientBodyFailed,
    Forwarded,
    Forwarder,
    RequestContext,
    StreamAborted,
    UpstreamError,
    WebSocketForwarder,
)
from shield.proxy.header_policy import connection_tokens, names_framing
from shield.proxy.message import path_and_query
from shield.proxy.routes import RouteMatcher
from shield.settings.schema import RouteSettings, Settings


class ProtectedHandler(Protocol):
    """Answers a protected request whose body is already read (at most route.max_body bytes)."""

    async def __call__(
        self, request: web.Request, route: RouteSettings, body: bytes, ctx: RequestContext
    ) -> web.StreamResponse: ...


class BanCheck(Protocol):
    """Runs before any body is read: `banned` finds the client's ban (most requests have none: no
    coroutine for them), `refuse` answers a banned client."""

    def banned(self, ctx: RequestContext) -> Ban | None: ...

    async def refuse(
        self, request: web.Request, ctx: RequestContext, route: RouteSettings | None, ban: Ban
    ) -> web.StreamResponse: ...

SETTINGS_KEY = web.AppKey("shield.settings.schema", Settings)
METRICS_KEY = web.AppKey("shield.metrics", Metrics)
FORWARDER_KEY = web.AppKey("shield.forwarder", Forwarder)
PASSTHROUGH = "passthrough"  # the route label of unprotected traffic

# security: an incoming request id is echoed into logs and upstream headers; keep it tame.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")  # an incoming id is echoed, so it must be tame


class BodyTooLarge(Exception):
    pass


def error_response(status: int, error: str, request_id: str) -> web.Response:
    resp = web.json_response({"error": error, "request_id": request_id}, status=status)
    resp.headers["X-Request-ID"] = request_id
    return resp


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as it passes `limit` (declared or actually sent);
    ClientBodyFailed when it breaks off."""
    declared = request._headers.get(hdrs.CONTENT_LENGTH)  # request.content_length, without its descriptor
    if declared is not None and int(declared) > limit:
        raise BodyTooLarge
    parts: list[bytes] = []
    size = 0
    content = request._payload  # request.content
    while True:
        try:
            # A login body usually came with its head: take what is buffered without a wait.
            chunk = content.read_nowait()
            if not chunk and not content.is_eof():
                chunk = await content.readany()
        except Exception as exc:  # the client left, stalled past the body deadline, or broke the framing
            raise ClientBodyFailed(exc) from exc
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:  # security: chunked or lying bodies must not grow memory past the limit
            raise BodyTooLarge
        if not parts and content.at_eof():  # the whole body in one piece: no second read, no join
            return chunk
        parts.append(chunk)


_FAILURE_STATUS = {"unreachable": 502, "timeout": 504, "overloaded": 503}


def upstream_failure(exc: UpstreamError, request_id: str, *, metrics: Metrics, upstream: str) -> web.Response:
    """502 (unreachable), 504 (timeout) or 503 (every pooled connection busy past the acquire
    timeout) with the request id; logged and counted once here."""
    metrics.upstream_error(exc.kind)
    event = "upstream.pool_exhausted" if exc.kind == "overloaded" else "upstream.unreachable"
    structlog.get_logger().error(event, request_id=request_id, kind=exc.kind, detail=exc.detail, upstream=upstream)
    resp = error_response(_FAILURE_STATUS[exc.kind], f"upstream_{exc.kind}", request_id)
    if exc.kind == "overloaded":
        resp.headers["Retry-After"] = "1"
    return resp


def framing_refusal(headers: CIMultiDictProxy[str]) -> str | None:
    """Why a request (its headers) cannot be forwarded as the client framed it, or None."""
    values = headers.getall("Connection", ())
    if values and names_framing(connection_tokens(values)):
        # security: a Connection that names Content-Length, Transfer-Encoding or Host asks the
        # next hop to drop the header that frames or routes the message: refused, never obeyed.
        return "connection_names_framing_header"
    codings = headers.getall("Transfer-Encoding", ())
    if codings and [t.strip().lower() for v in codings for t in v.split(",")] != ["chunked"]:
        # security: Transfer-Encoding is hop-by-hop and shield re-frames the body as chunked; a
        # coding under it (gzip, chunked) would reach the upstream undeclared. nginx refuses too.
        return "transfer_coding_not_chunked"
    return None


def _is_websocket(request: web.Request) -> bool:
    upgrade = request.headers.get("Upgrade", "")
    return upgrade.lower() == "websocket" and "upgrade" in request.headers.get("Connection", "").lower()


class RequestIds:
    """Random request ids (24 hex digits, like secrets.token_hex(12)), 256 of them from one read of the
    system's random source: one getrandom() call per request was ~1.5% of a refusal. One per worker
    (built in it after any fork, so no two workers share a batch)."""

    __slots__ = ("_at", "_hex")

    def __init__(self) -> None:
        self._hex, self._at = "", 0

    def next(self) -> str:
        if self._at >= len(self._hex):
            self._hex, self._at = os.urandom(12 * 256).hex(), 0
        at = self._at
        self._at = at + 24
        return self._hex[at : at + 24]


class ProxyHandler:
    """The catch-all request handler; one instance per app, state only in its fields."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        metrics: Metrics,
        forwarder: Forwarder,
        protected: ProtectedHandler | None,
        ban_check: BanCheck | None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.forwarder = forwarder
        self.protected = protected
        self.ban_check = ban_check
        self.routes = RouteMatcher(settings.routes)
        self.trusted = TrustedProxies(settings.trusted_proxies)
        self.log = structlog.get_logger().bind()
        self._peer = functools.lru_cache(maxsize=4096)(self._peer_uncached)
        self._ids = RequestIds()
        self._monotonic = monotonic_of(clock)

    def _peer_uncached(self, peer: str) -> tuple[Address, bool]:
        found = address(peer)
        if found is None:
            return (peer, 0, 0), False
        return found, self.trusted.holds(found[1], found[2])

    def context(self, request: web.Request, msg: RawRequestMessage, headers: CIMultiDictProxy[str]) -> RequestContext:
        proto = request._protocol
        # the connection's gate (shield.proxy.ban_wire) found the client, and whether it has a ban,
        # as it parsed this head: the same answers from the same peer, headers and trusted proxies
        passed = proto.passed(msg) if isinstance(proto, LimitedRequestHandler) else None
        subnet: str | None = None
        if passed is not None:
            peer, trusted, cip, unbanned = passed.peer, passed.trusted, passed.client_ip, passed.unbanned
            subnet = passed.subnet
        else:
            # Parsing an address costs microseconds; keep-alive clients and proxies repeat theirs.
            found, trusted = self._peer(request.remote or "")
            peer = found[0]
            forwarded = trusted and ("X-Forwarded-For" in headers or "Forwarded" in headers)
            cip = forwarded_client(found, headers, self.trusted)[0] if forwarded else peer
            unbanned = -1
        rid = headers.get("X-Request-ID", "") if trusted else ""
        if not rid or not REQUEST_ID.fullmatch(rid):
            rid = self._ids.next()
        return RequestContext(rid, cip, peer, trusted, self._monotonic(), unbanned=unbanned, subnet=subnet)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # the request line and headers from aiohttp's parsed message (request._message: aiohttp warns on
        # every read of its public `message`), not through the Request's cached properties, each a call
        msg = request._message
        headers = msg.headers
        ctx = self.context(request, msg, headers)
        route = self.routes.match(msg.method, msg.path)  # the raw target: shield decodes it as servers may
        if route is not None:
            ctx.route = route.name
        refusal = framing_refusal(headers)
        if refusal is not None:
            return self._refuse(request, ctx, refusal)
        try:
            if self.ban_check is not None:
                ban = self.ban_check.banned(ctx)
                if ban is not None:
                    return await self.ban_check.refuse(request, ctx, route, ban)
            if route is None:
                return await self._passthrough(request, ctx)
            return await self._protected(request, route, ctx)
        except web.HTTPException:
            raise
        except Exception:
            # security: the client gets a status and the request id, never a traceback.
            self.log.exception("request.failed", request_id=ctx.request_id, path=request.path)
            resp = error_response(500, "internal_error", ctx.request_id)
            self._log_request(request, ctx, resp.status, 0, resp.content_length or 0)
            return resp

    async def _passthrough(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        ctx.route = PASSTHROUGH
        try:
            if _is_websocket(request) and isinstance(self.forwarder, WebSocketForwarder):
                fw = await self.forwarder.websocket(request, ctx)
            else:
                fw = await self.forwarder.stream(request, ctx)
        except UpstreamError as exc:
            return self._upstream_failed(request, ctx, exc)
        except StreamAborted as exc:
            fw = exc.forwarded
            self.log.warning("stream.aborted", request_id=ctx.request_id, cause=type(exc.cause).__name__)
        self._finish(request, ctx, fw)
        return fw.response

    async def _protected(self, request: web.Request, route: RouteSettings, ctx: RequestContext) -> web.StreamResponse:
        try:
            body = await read_body(request, route.max_body)
        except BodyTooLarge:
            resp = error_response(413, "body_too_large", ctx.request_id)
            resp.force_close()  # the rest of the body is never read; do not reuse the connection
            self._log_request(request, ctx, 413, 0, resp.content_length or 0)
            return resp
        except ClientBodyFailed as exc:
            fw = exc.aborted().forwarded
            self._log_request(request, ctx, fw.response.status, 0, 0)
            return fw.response
        if self.protected is not None:
            return await self.protected(request, route, body, ctx)
        try:
            reply = await self.forwarder.exchange(request, body, ctx)
            fw = await self.forwarder.send(request, reply)
        except UpstreamError as exc:
            return self._upstream_failed(request, ctx, exc)
        except StreamAborted as exc:
            fw = exc.forwarded
        self._finish(request, ctx, fw)
        return fw.response

    def _refuse(self, request: web.Request, ctx: RequestContext, reason: str) -> web.Response:
        """400 for a request shield will not forward as framed; its body is never read."""
        resp = error_response(400, "bad_request", ctx.request_id)
        resp.force_close()  # security: where the unread body ends is the client's word, not shield's
        self._log_request(request, ctx, 400, 0, resp.content_length or 0, reason=reason)
        return resp

    def _upstream_failed(self, request: web.Request, ctx: RequestContext, exc: UpstreamError) -> web.Response:
        resp = upstream_failure(exc, ctx.request_id, metrics=self.metrics, upstream=self.settings.upstream)
        self._log_request(request, ctx, resp.status, 0, resp.content_length or 0)
        return resp

    def _finish(self, request: web.Request, ctx: RequestContext, fw: Forwarded) -> None:
        self.metrics.upstream_time(ctx.route, fw.upstream_seconds)
        self._log_request(request, ctx, fw.response.status, fw.upstream_status, fw.bytes_sent)

    def _log_request(
        self, request: web.Request, ctx: RequestContext, status: int, upstream_status: int, nbytes: int,
        *, reason: str | None = None,
    ) -> None:
        self.metrics.request(ctx.route, status)
        if not self.settings.log.requests:
            return
        fields = {
            "request_id": ctx.request_id,
            "client_ip": ctx.client_ip,
            "method": request._message.method,
            "path": path_and_query(request)[0],
            "route": ctx.route,
            "status": status,
            "upstream_status": upstream_status or None,
            "bytes": nbytes,
            "duration_ms": round((self._monotonic() - ctx.started) * 1000, 3),
        }
        if reason is not None:
            fields["reason"] = reason
        if not RequestLines.write(fields):
            self.log.info("request", **fields)


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    metrics: Metrics,
    forwarder: Forwarder | None = None,
    protected: ProtectedHandler | None = None,
    ban_check: BanCheck | None = None,
    **app_kwargs: Any,
) -> web.Application:
    """The proxy app. The forwarder is closed on app cleanup."""
    fwd: Forwarder = forwarder if forwarder is not None else make_forwarder(settings)
    handler = ProxyHandler(
        settings, clock=clock or SystemClock(), metrics=metrics, forwarder=fwd, protected=protected,
        ban_check=ban_check,
    )
    # security: auto_decompress off: request bodies go upstream exactly as received, encoding
    # included (an inflated body under the compressed length was a second request upstream).
    app = web.Application(handler_args={"max_field_size": 16384, "auto_decompress": False}, **app_kwargs)
    app[SETTINGS_KEY] = settings
    app[METRICS_KEY] = metrics
    app[FORWARDER_KEY] = fwd
    app.router.add_route("*", "/{tail:.*}", handler.handle)
    app[DIRECT_KEY] = handler.handle  # shield's listener calls it without the router (shield.proxy.dispatch)

    async def close_forwarder(_app: web.Application) -> None:
        await fwd.close()

    app.on_cleanup.append(close_forwarder)
    return app
