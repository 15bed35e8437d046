"""The request head shield sends upstream, built from the client's raw header bytes.

The same rules as `shield.forward.upstream_request_headers` (hop-by-hop and Shield-* dropped,
X-Forwarded-* and X-Request-ID set by shield), without decoding and re-encoding every header:
the client's bytes go on as they came.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from shield.forward import HOP_BY_HOP, RequestContext

_DROP = frozenset(n.encode() for n in HOP_BY_HOP) | {
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-request-id",
    # The server leg answered the client's 100-continue; the upstream gets the whole body at once.
    b"expect",
}


def request_head(
    request: web.Request,
    ctx: RequestContext,
    *,
    target: bytes,
    default_host: bytes,
    body_length: int | None,
    chunked: bool = False,
    extra: Mapping[str, str] | None = None,
    identity_encoding: bool = False,
) -> bytes:
    """`body_length`: None keeps the client's own Content-Length (streamed body), else it is set.
    `identity_encoding` drops Accept-Encoding so the answer can be read (protected routes)."""
    raw = request.raw_headers
    connection = [v for n, v in raw if n.lower() == b"connection"]
    drop = _DROP | _tokens(connection) if connection else _DROP
    replaced = {k.lower().encode() for k in extra} if extra else set()
    if body_length is not None or chunked:
        replaced.add(b"content-length")
    if identity_encoding:
        replaced.add(b"accept-encoding")
    parts = [request.method.encode(), b" ", target, b" HTTP/1.1\r\n"]
    xff: list[bytes] = []
    proto = host = fwd_host = None
    for name, value in raw:
        low = name.lower()
        if low in drop or low in replaced or low.startswith(b"shield-"):
            # security: Shield-* are shield's own (tags, solutions, passes): never from the client.
            if low == b"x-forwarded-for":
                xff.append(value)
            elif low == b"x-forwarded-proto":
                proto = value
            elif low == b"x-forwarded-host":
                fwd_host = value
            continue
        if low == b"host":
            host = value
        parts += (name, b": ", value, b"\r\n")
    if host is None:
        parts += (b"Host: ", default_host, b"\r\n")
    peer = ctx.peer.encode()
    # security: forwarded headers from an untrusted peer are dropped, never extended.
    prior = b", ".join(xff) if ctx.peer_trusted else b""
    parts += (b"X-Forwarded-For: ", prior + b", " + peer if prior else peer, b"\r\n")
    parts += (b"X-Forwarded-Proto: ", (proto if ctx.peer_trusted and proto else request.scheme.encode()), b"\r\n")
    shown_host = (fwd_host if ctx.peer_trusted else None) or host
    if shown_host:
        parts += (b"X-Forwarded-Host: ", shown_host, b"\r\n")
    parts += (b"X-Request-ID: ", ctx.request_id.encode(), b"\r\n")
    if extra:
        for k, v in extra.items():
            parts += (k.encode("latin-1"), b": ", v.encode("latin-1"), b"\r\n")
    if chunked:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    elif body_length is not None and (body_length or request.method not in ("GET", "HEAD")):
        parts += (b"Content-Length: ", str(body_length).encode(), b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def _tokens(values: list[bytes]) -> frozenset[bytes]:
    """Header names listed in Connection: hop-by-hop for this message only."""
    return frozenset(t.strip().lower() for v in values for t in v.split(b",") if t.strip())
