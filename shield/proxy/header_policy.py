"""Which of the client's request headers reach the upstream: one table, two views.

The aiohttp forwarder filters `str` names (`shield.proxy.forwarder.upstream_request_headers`), shield's
own client filters raw bytes (`shield.proxy.h1.head`); both ask the `HeaderPolicy` built here from the
same table, so the two cannot drift apart. What shield itself adds (X-Forwarded-*, X-Request-ID)
is written by each view after the filter.

What the upstream gets:
  - hop-by-hop headers and those the client's Connection names: dropped (RFC 9110 7.6.1);
  - X-Forwarded-For/-Proto/-Host and X-Request-ID: shield's own values (a trusted proxy's
    X-Forwarded-For is extended, never an untrusted peer's);
  - Forwarded, X-Real-IP, True-Client-IP: passed only from trusted proxies, dropped otherwise;
  - Shield-* and the TLS fingerprint header (`client.tls_fingerprint_header`): never;
  - a name written with `_` that would read as one of the above with `-` (WSGI servers turn both
    into HTTP_SHIELD_SCORE): never;
  - the `shield_pass` cookie: cut out of Cookie, the other cookies byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from shield.challenge.passes import PASS_COOKIE

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
# Set by shield from what it knows; the client's copies are replaced.
SET_BY_SHIELD = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id"})
# Client addresses as a proxy in front of shield writes them: believed only from a trusted peer.
FROM_TRUSTED_ONLY = frozenset({"forwarded", "x-real-ip", "true-client-ip"})
# The server leg answered the client's 100-continue; the upstream gets the whole body at once.
CONSUMED = frozenset({"expect"})
# How a message is delimited and routed: shield's to write, never the client's to remove.
FRAMING = frozenset({"content-length", "transfer-encoding", "host"})
SHIELD_PREFIX = "shield-"


@dataclass(frozen=True, slots=True)
class HeaderPolicy:
    """The table for one deployment (the configured TLS fingerprint header is one more name)."""

    dropped: frozenset[str]  # never forwarded as the client wrote them
    trusted_only: frozenset[str]
    underscore: frozenset[str]  # `-` spellings whose `_` variants are dropped too
    dropped_b: frozenset[bytes]
    trusted_only_b: frozenset[bytes]
    underscore_b: frozenset[bytes]
    pass_cookie_b: bytes

    @classmethod
    def build(cls, *, tls_fingerprint_header: str | None = None) -> HeaderPolicy:
        extra = {tls_fingerprint_header.lower()} if tls_fingerprint_header else set()
        dropped = HOP_BY_HOP | SET_BY_SHIELD | CONSUMED | extra
        underscore = dropped | FROM_TRUSTED_ONLY | FRAMING
        return cls(
            dropped=frozenset(dropped),
            trusted_only=FROM_TRUSTED_ONLY,
            underscore=frozenset(underscore),
            dropped_b=frozenset(n.encode() for n in dropped),
            trusted_only_b=frozenset(n.encode() for n in FROM_TRUSTED_ONLY),
            underscore_b=frozenset(n.encode() for n in underscore),
            pass_cookie_b=PASS_COOKIE.encode(),
        )

    def drops(self, low: str, *, trusted: bool) -> bool:
        """`low`: a lower-cased header name."""
        # security: Shield-* are shield's own (tags, challenge solutions, passes): a client must not
        # pre-tag itself or hand its pass to the app.
        if low in self.dropped or low.startswith(SHIELD_PREFIX) or (not trusted and low in self.trusted_only):
            return True
        if "_" in low:
            # security: WSGI reads `Shield_Score` as Shield-Score; a spelling shield does not
            # recognise must not become one the app does.
            dashed = low.replace("_", "-")
            return dashed in self.underscore or dashed.startswith(SHIELD_PREFIX)
        return False

    def drops_raw(self, low: bytes, *, trusted: bool) -> bool:
        """The same rule on a raw lower-cased name."""
        if low in self.dropped_b or low.startswith(b"shield-") or (not trusted and low in self.trusted_only_b):
            return True
        if b"_" in low:
            dashed = low.replace(b"_", b"-")
            return dashed in self.underscore_b or dashed.startswith(b"shield-")
        return False

    def cookie(self, value: str) -> str | None:
        """Cookie without shield's pass (None: nothing left)."""
        if PASS_COOKIE not in value:
            return value
        out = self.cookie_raw(value.encode("latin-1"))
        return None if out is None else out.decode("latin-1")

    def cookie_raw(self, value: bytes) -> bytes | None:
        # security: the pass is shield's; the app has no use for it and must not log or relay it.
        if self.pass_cookie_b not in value:
            return value
        kept = [p for p in value.split(b";") if p.split(b"=", 1)[0].strip() != self.pass_cookie_b]
        out = b";".join(kept).lstrip(b" \t")
        return out or None


def connection_tokens(values: list[str]) -> frozenset[str]:
    """Header names listed in Connection (lower-cased): hop-by-hop for this message only."""
    return frozenset(t.strip().lower() for v in values for t in v.split(",") if t.strip())


def names_framing(tokens: frozenset[str]) -> bool:
    """Whether a Connection header asks to remove a header that frames or routes the message."""
    return not tokens.isdisjoint(FRAMING)
