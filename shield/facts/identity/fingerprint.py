"""Client fingerprint: a short stable id of how a client speaks HTTP, and where it contradicts itself.

The id hashes what a client library cannot easily hide: the header names in the order and
casing it sent them, the values of Accept, Accept-Language and Accept-Encoding, the UA
family and major version, and the TLS fingerprint (JA3/JA4) when a terminator passes it.
Headers that change per request (length, cookies, proxy additions) are left out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol


class UserAgentInfo(Protocol):
    """What the fingerprint reads of the parsed user agent (shield.facts.enrich.useragent's
    UserAgentInfo): a protocol, so identity does not import enrichment."""

    @property
    def family(self) -> str: ...

    @property
    def major(self) -> int | None: ...

    @property
    def automation(self) -> bool: ...

    @property
    def app(self) -> bool: ...


# Headers whose presence changes from one request of the same client to the next: a reload omits
# sec-fetch-user, a form post adds origin/referer/cache-control. Counting them would give one
# browser a new fingerprint per navigation (and break challenge bindings).
_VOLATILE = frozenset(
    {
        b"content-length",
        b"content-type",
        b"cookie",
        b"x-request-id",
        b"forwarded",
        b"x-real-ip",
        b"via",
        b"traceparent",
        b"tracestate",
        b"sec-fetch-user",
        b"sec-fetch-site",
        b"sec-fetch-mode",
        b"sec-fetch-dest",
        b"referer",
        b"origin",
        b"cache-control",
        b"pragma",
        b"upgrade-insecure-requests",
        b"priority",
        b"authorization",
        b"if-none-match",
        b"if-modified-since",
        b"purpose",
        b"sec-purpose",
    }
)
_VOLATILE_PREFIXES = (b"x-forwarded-", b"shield-")
# security: a client sending thousands of headers must not make hashing expensive.
_MAX_NAMES = 64

# Chromium browsers that send sec-ch-ua since version 90 (over HTTPS or localhost).
_SEC_CH_UA_FAMILIES = frozenset({"Chrome", "Chrome Mobile", "Chromium", "Edge", "Opera"})
_BROTLI = re.compile(r"(?:^|,)\s*br\s*(?:[;,]|$)", re.IGNORECASE)
# Browser families and the first major version that advertises brotli (over HTTPS).
_BROTLI_SINCE: Mapping[str, int] = {
    "Chrome": 51,
    "Chrome Mobile": 51,
    "Chromium": 51,
    "Edge": 15,
    "Opera": 38,
    "Firefox": 44,
    "Firefox Mobile": 44,
    "Safari": 11,
    "Mobile Safari": 11,
    "Samsung Internet": 5,
}
_BROWSERS = frozenset(
    {*_BROTLI_SINCE, "Chrome Mobile iOS", "Firefox iOS", "Edge Mobile", "Mobile Safari UI/WKWebView", "Yandex Browser"}
)


class Fingerprint(NamedTuple):
    # A NamedTuple, not a frozen dataclass: built on every request, and 4x cheaper to construct.

    id: str  # 12 hex characters
    reasons: frozenset[str]
    tls: str | None

    @property
    def inconsistent(self) -> bool:
        return bool(self.reasons)


def fingerprint_id(
    raw_headers: Sequence[tuple[bytes, bytes]], headers: Mapping[str, str], ua: UserAgentInfo, tls: str | None
) -> str:
    """12 hex characters identifying the client's HTTP dialect (not the person)."""
    names = b",".join(
        [
            name
            for name, _ in raw_headers[:_MAX_NAMES]
            if (lower := name.lower()) not in _VOLATILE and not lower.startswith(_VOLATILE_PREFIXES)
        ]
    )
    get = headers.get
    parts = "\n".join(
        (
            get("accept", "\0"),
            get("accept-language", "\0"),
            get("accept-encoding", "\0"),
            ua.family,
            str(ua.major),
            tls or "",
        )
    )
    # Not a secret: blake2b only for a well-spread short id.
    return hashlib.blake2b(names + b"\n" + parts.encode("utf-8", "replace"), digest_size=6).hexdigest()


def inconsistencies(
    headers: Mapping[str, str], ua: UserAgentInfo, *, has_ua: bool, app_version_header: str | None
) -> frozenset[str]:
    """Where the headers contradict the client the user agent claims (fp.reasons)."""
    reasons: list[str] = []
    if not has_ua:
        reasons.append("no_user_agent")
    browser = ua.family in _BROWSERS and not ua.automation and not ua.app
    major = ua.major or 0
    if browser and ua.family in _SEC_CH_UA_FAMILIES and major >= 90 and "sec-ch-ua" not in headers:
        reasons.append("chrome_without_sec_ch_ua")
    if browser and "accept-language" not in headers:
        reasons.append("browser_without_accept_language")
    since = _BROTLI_SINCE.get(ua.family)
    if browser and since is not None and major >= since and not _BROTLI.search(headers.get("accept-encoding", "")):
        reasons.append("modern_browser_without_br")
    if ua.app and app_version_header and app_version_header.lower() not in headers:
        reasons.append("app_without_version_header")
    return frozenset(reasons)


def fingerprint(
    raw_headers: Sequence[tuple[bytes, bytes]],
    headers: Mapping[str, str],
    ua: UserAgentInfo,
    *,
    has_ua: bool,
    tls_header: str | None,
    app_version_header: str | None,
) -> Fingerprint:
    """The fingerprint id, its inconsistencies and the TLS fingerprint value, if configured and sent."""
    tls = headers.get(tls_header.lower()) if tls_header else None
    tls = tls.strip()[:200] if tls else None
    return Fingerprint(
        id=fingerprint_id(raw_headers, headers, ua, tls),
        reasons=inconsistencies(headers, ua, has_ua=has_ua, app_version_header=app_version_header),
        tls=tls or None,
    )


def tls_kind(value: str) -> str:
    """fp.ja3 for a 32-hex JA3 hash, fp.ja4 for the JA4 `t13d1516h2_..._...` form."""
    if len(value) == 32 and all(c in "0123456789abcdefABCDEF" for c in value):
        return "fp.ja3"
    return "fp.ja4"
