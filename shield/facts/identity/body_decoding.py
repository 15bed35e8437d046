"""A decoded copy of a protected request's body, so the account can be read from a compressed
upload. The original bytes are what goes upstream; this copy is only for credential parsing.

Bounded both ways: the copy never grows past `limit` bytes (the route's `max_body`), and never
past `MAX_RATIO` times the compressed size, whichever is smaller, checked while inflating so a
bomb costs at most that much memory and CPU. Pure: no I/O, never raises on client input.
Known encodings: gzip (x-gzip), deflate (zlib-wrapped, or raw as some clients send it), identity.
Anything else (br, zstd, compress, an unknown token, more than two layers) is undecodable: the
request is `malformed` for scoring and still forwarded and decided as any other.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

# A login form or JSON compresses a few times at most; 100x is text padding, i.e. a bomb.
MAX_RATIO = 100
MAX_LAYERS = 2  # `gzip, deflate` is legal and seen; deeper stacks are not
_STEP = 16 * 1024

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class DecodedBody(NamedTuple):
    body: bytes  # the decoded copy (the body itself when there was nothing to decode)
    ok: bool  # False: undecodable, too large or too compressed; `body` is then b""
    reason: str = ""


def decode_body(body: bytes, content_encoding: str, *, limit: int) -> DecodedBody:
    """The body with its Content-Encoding undone, within `limit` and `MAX_RATIO`."""
    if not content_encoding:  # almost every login: nothing to split or undo
        return DecodedBody(body, True)
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return DecodedBody(body, True)
    if len(codings) > MAX_LAYERS:
        return DecodedBody(b"", False, "too_many_encodings")
    cap = min(limit, max(len(body), 1) * MAX_RATIO)
    data = body
    for coding in reversed(codings):  # applied in the order listed, so undone from the last
        wbits = _WBITS.get(coding)
        if wbits is None:
            return DecodedBody(b"", False, "unsupported_encoding")
        out = _inflate(data, wbits, cap)
        if out is None and coding == "deflate":
            out = _inflate(data, -zlib.MAX_WBITS, cap)  # raw deflate without the zlib wrapper
        if out is None:
            return DecodedBody(b"", False, "undecodable")
        if isinstance(out, _TooLarge):
            return DecodedBody(b"", False, "decoded_too_large")
        data = out
    return DecodedBody(data, True)


class _TooLarge:
    pass


def _inflate(data: bytes, wbits: int, cap: int) -> bytes | _TooLarge | None:
    """One layer, never producing more than cap + 1 bytes; None when the stream is not valid."""
    inflater = zlib.decompressobj(wbits)
    parts: list[bytes] = []
    size = 0
    pending = data
    try:
        while not inflater.eof:
            # security: max_length bounds each step, so a bomb never inflates past the cap
            chunk = inflater.decompress(pending, min(_STEP, cap + 1 - size))
            size += len(chunk)
            if size > cap:
                return _TooLarge()
            parts.append(chunk)
            if not chunk and inflater.unconsumed_tail == pending:
                break  # no progress: the stream needs bytes that are not there (truncated)
            pending = inflater.unconsumed_tail
        if not inflater.eof or inflater.unused_data:
            return None  # truncated, or bytes after the end: not one clean stream
    except zlib.error:
        return None
    return b"".join(parts)
