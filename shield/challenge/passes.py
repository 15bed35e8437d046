"""Passes: what a solved challenge earns, so the next requests of that client score lower.

A pass is a signed, stateless value bound like the challenge (client address or subnet,
route, fingerprint) with an expiry. Shield sends it as a `Shield-Pass` response header and
a `shield_pass` cookie; API clients return the header, browsers the cookie. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Mapping

from shield.challenge.pow import Binding, b64url_decode, b64url_encode

PASS_HEADER = "Shield-Pass"  # noqa: S105 (a header name, not a secret)
PASS_COOKIE = "shield_pass"  # noqa: S105 (a cookie name)
PASS_VERSION = 1

_DOMAIN = b"shield/pass/v1\x00"
_MAC_BYTES = 32
_PAYLOAD = struct.Struct(">BQ16s")  # version, expires_at, binding hash
# security: a pass is ~70 characters; anything much longer is refused before decoding.
MAX_PASS_LEN = 128


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, _DOMAIN + payload, hashlib.sha256).digest()


def issue_pass(secret: bytes, *, binding: Binding, now: float, ttl: int) -> str:
    """A pass for `binding`, valid until now + ttl."""
    payload = _PAYLOAD.pack(PASS_VERSION, int(now) + max(1, int(ttl)), binding.digest())
    return b64url_encode(payload + _mac(secret, payload))


def check_pass(secret: bytes, value: str | None, *, binding: Binding, now: float) -> bool:
    """True when `value` is a pass this deployment signed, for this binding, not yet expired."""
    if not value or len(value) > MAX_PASS_LEN:
        return False
    try:
        raw = b64url_decode(value.strip())
    except ValueError:
        return False
    if len(raw) != _PAYLOAD.size + _MAC_BYTES:
        return False
    payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    # security: constant-time comparisons, so neither MAC nor binding leaks through timing.
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        return False
    version, expires_at, bound = _PAYLOAD.unpack(payload)
    return version == PASS_VERSION and now < expires_at and hmac.compare_digest(bound, binding.digest())


def pass_cookie(value: str, *, ttl: int, secure: bool) -> str:
    """The Set-Cookie header value carrying a pass to a browser."""
    # security: HttpOnly keeps page scripts (an XSS) from reading the pass; SameSite=Lax keeps
    # it off cross-site subrequests.
    cookie = f"{PASS_COOKIE}={value}; Max-Age={int(ttl)}; Path=/; HttpOnly; SameSite=Lax"
    return cookie + "; Secure" if secure else cookie


def read_pass(headers: Mapping[str, str], cookies: Mapping[str, str]) -> str | None:
    """The pass a request carries: the header (API clients) first, else the cookie (browsers)."""
    return headers.get(PASS_HEADER) or cookies.get(PASS_COOKIE) or None


def pass_headers(value: str, *, ttl: int, secure: bool) -> list[tuple[str, str]]:
    """Response headers that hand a fresh pass to the client (add them to the upstream's answer)."""
    return [(PASS_HEADER, value), ("Set-Cookie", pass_cookie(value, ttl=ttl, secure=secure))]
