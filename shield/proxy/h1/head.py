"""The request head shield sends upstream, built from the client's raw header bytes.

The bytes view of `shield.proxy.header_policy` (the aiohttp forwarder uses its str view): the client's
bytes go on as they came, without decoding and re-encoding every header. Framing is shield's:
Content-Length / Transfer-Encoding are written here from the body shield sends.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from shield.proxy.forwarder import RequestContext
from shield.proxy.header_policy import FRAMING, HeaderPolicy

_FRAMING = frozenset(n.encode() for n in FRAMING)


def request_head(
    request: web.Request,
    ctx: RequestContext,
    *,
    target: bytes,
    default_host: bytes,
    body_length: int | None,
    policy: HeaderPolicy,
    chunked: bool = False,
    extra: Mapping[str, str] | None = None,
    identity_encoding: bool = False,
) -> bytes:
    """`body_length`: the length of the body shield sends (None: no body, or `chunked`).
    `identity_encoding` drops Accept-Encoding so the answer can be read (protected routes)."""
    raw = request.raw_headers
    connection = [v for n, v in raw if n.lower() == b"connection"]
    # security: framing is shield's; the app refuses a Connection naming it (app.framing_refusal), and
    # here too it can only remove end-to-end headers.
    listed = _tokens(connection) - _FRAMING if connection else frozenset()
    trusted = ctx.peer_trusted
    replaced = {k.lower().encode() for k in extra} if extra else set()
    replaced.add(b"content-length")  # security: written below from the body shield sends
    if identity_encoding:
        replaced.add(b"accept-encoding")
    parts = [request.method.encode(), b" ", target, b" HTTP/1.1\r\n"]
    xff: list[bytes] = []
    proto = host = fwd_host = None
    for name, value in raw:
        low = name.lower()
        if low in listed or low in replaced or policy.drops_raw(low, trusted=trusted):
            if low == b"x-forwarded-for":
                xff.append(value)
            elif low == b"x-forwarded-proto":
                proto = value
            elif low == b"x-forwarded-host":
                fwd_host = value
            continue
        if low == b"host":
            host = value
        elif low == b"cookie":
            kept = policy.cookie_raw(value)
            if kept is None:
                continue
            value = kept
        parts += (name, b": ", value, b"\r\n")
    if host is None:
        parts += (b"Host: ", default_host, b"\r\n")
    peer = ctx.peer.encode()
    # security: forwarded headers from an untrusted peer are dropped, never extended.
    prior = b", ".join(xff) if trusted else b""
    parts += (b"X-Forwarded-For: ", prior + b", " + peer if prior else peer, b"\r\n")
    parts += (b"X-Forwarded-Proto: ", (proto if trusted and proto else request.scheme.encode()), b"\r\n")
    shown_host = (fwd_host if trusted else None) or host
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
