"""Forwarding to the upstream behind one small interface: the `Forwarder` protocol, what it
returns, and the header rules every implementation applies (`shield.proxy.h1`, the default;
`shield.proxy.aiohttp_client` for TLS upstreams and WebSockets; `shield.proxy.choose` picks one).

`stream` passes a request through with both bodies streamed; `exchange` replays a buffered
protected body and reads the start of the answer so the caller can classify it before `send`.
Failures raise `UpstreamError` ("unreachable" -> 502, "timeout" -> 504, "overloaded": no pooled
connection freed up in time -> 503); the app answers them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from aiohttp import web
from multidict import CIMultiDict

from shield.proxy.header_policy import FRAMING, HOP_BY_HOP, HeaderPolicy, connection_tokens
from shield.settings.schema import Settings, UpstreamSettings

UpstreamErrorKind = Literal["unreachable", "timeout", "overloaded"]


class StreamAborted(Exception):
    """The answer had started when the upstream or the client went away; the connection is closed."""

    def __init__(self, forwarded: Forwarded, cause: BaseException) -> None:
        super().__init__(f"stream aborted: {type(cause).__name__}")
        self.forwarded = forwarded
        self.cause = cause


class ClientBodyFailed(Exception):
    """The client's request body broke off (the client went away mid-upload, or sent bad framing):
    the client's failure, not the upstream's, so it is never a 502."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(f"request body: {type(cause).__name__}")
        self.cause = cause

    def aborted(self) -> StreamAborted:
        """As the request log records it: 499 (nginx's "client closed request"; nobody receives it)
        when the client is gone, 408 when it stalled past limits.body_read_timeout, else 400. The
        connection is not reused: where the body ends is unknown."""
        cause = self.cause
        status = 499 if isinstance(cause, ConnectionError) else 408 if isinstance(cause, TimeoutError) else 400
        resp = web.Response(status=status)
        resp.force_close()
        return StreamAborted(Forwarded(resp, 0, 0, 0.0), self.cause)


class ClientBody:
    """The client's body as the upstream leg reads it, chunk by chunk as it arrives; a failure to
    read it is raised as (and remembered as) `ClientBodyFailed`."""

    __slots__ = ("_content", "failed")

    def __init__(self, request: web.Request) -> None:
        self._content = request.content
        self.failed: ClientBodyFailed | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            try:
                data = await self._content.readany()
            except Exception as exc:
                self.failed = ClientBodyFailed(exc)
                raise self.failed from exc
            if not data:
                return
            yield data


async def read_client_body(request: web.Request) -> bytes:
    """The whole (small) body; ClientBodyFailed when it breaks off."""
    try:
        return await request.read()
    except Exception as exc:
        raise ClientBodyFailed(exc) from exc


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
    # the ban cache's version (BanCache.version) with which the client had no ban, as the connection
    # found when it parsed the head (shield.proxy.ban_wire), or -1: the ban check looks again otherwise
    unbanned: int = -1
    subnet: str | None = None  # the client's subnet (shield.facts.address.subnet_of), when the gate found it


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


@dataclass(slots=True, frozen=True)
class UpstreamTarget:
    """What a forwarder needs of the settings: where the upstream is, how to reach it, and which
    client header a trusted terminator sets (never passed on from a client)."""

    url: str
    options: UpstreamSettings = field(default_factory=UpstreamSettings)
    tls_fingerprint_header: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> UpstreamTarget:
        return cls(settings.upstream, settings.upstream_options, settings.client.tls_fingerprint_header)


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


def upstream_request_headers(request: web.Request, ctx: RequestContext, policy: HeaderPolicy) -> CIMultiDict[str]:
    """The client's headers as `policy` lets them through, plus the X-Forwarded-* and X-Request-ID shield sets
    (the `str` view of the table; `shield.proxy.h1.head` is the bytes view)."""
    src = request.headers
    extra = connection_tokens(src.getall("Connection", [])) - FRAMING  # security: see app.framing_refusal
    trusted = ctx.peer_trusted
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in src.items():
        low = name.lower()
        if low in extra or policy.drops(low, trusted=trusted):
            continue
        if low == "cookie":
            kept = policy.cookie(value)
            if kept is None:
                continue
            value = kept
        out.add(name, value)
    prior_xff = ", ".join(src.getall("X-Forwarded-For", ())) if trusted else ""
    out["X-Forwarded-For"] = f"{prior_xff}, {ctx.peer}" if prior_xff else ctx.peer
    # security: only a trusted proxy may tell the upstream which scheme/host the client used.
    proto = src.get("X-Forwarded-Proto") if trusted else None
    out["X-Forwarded-Proto"] = proto or request.scheme
    host = (src.get("X-Forwarded-Host") if trusted else None) or src.get("Host")
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
