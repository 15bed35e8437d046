from __future__ import annotations

import pytest

from shield.facts.build import header_map
from shield.facts.enrich.useragent import UserAgentParser
from shield.facts.identity.fingerprint import Fingerprint, fingerprint, tls_kind
from tests.facts.identity import client_headers as ch

Headers = list[tuple[bytes, bytes]]
JA3 = "cd08e31494f9531f560d64c695473da9"
JA4 = "t13d1516h2_8daaf6152771_02713d6af862"


@pytest.fixture(scope="module")
def parser() -> UserAgentParser:
    return UserAgentParser(app_pattern=r"^DemoPay/")


def fp_of(parser: UserAgentParser, raw: Headers, *, tls_header: str | None = None) -> Fingerprint:
    headers = header_map(raw)
    ua = headers.get("user-agent", "")
    return fingerprint(
        raw, headers, parser.parse(ua), has_ua=bool(ua), tls_header=tls_header, app_version_header="X-App-Version"
    )


def without(raw: Headers, name: bytes) -> Headers:
    return [(k, v) for k, v in raw if k.lower() != name.lower()]


def replace(raw: Headers, name: bytes, value: bytes) -> Headers:
    return [(k, value if k.lower() == name.lower() else v) for k, v in raw]


@pytest.mark.parametrize(
    ("raw", "reasons"),
    [
        (ch.chrome(), set()),
        (ch.firefox(), set()),
        (ch.safari(), set()),
        (ch.app(), set()),
        (ch.app(ua=ch.IOS_APP_UA), set()),
        (ch.curl(), set()),
        (ch.python_requests(), set()),
        (without(ch.chrome(), b"sec-ch-ua"), {"chrome_without_sec_ch_ua"}),
        (without(ch.chrome(), b"Accept-Language"), {"browser_without_accept_language"}),
        (without(ch.firefox(), b"Accept-Language"), {"browser_without_accept_language"}),
        (replace(ch.chrome(), b"Accept-Encoding", b"gzip, deflate"), {"modern_browser_without_br"}),
        (replace(ch.safari(), b"Accept-Encoding", b"gzip"), {"modern_browser_without_br"}),
        (without(ch.firefox(), b"Accept-Encoding"), {"modern_browser_without_br"}),
        (replace(ch.chrome(), b"Accept-Encoding", b"gzip, brotli"), {"modern_browser_without_br"}),
        (replace(ch.chrome(), b"Accept-Encoding", b"gzip, BR;q=0.9"), set()),
        (ch.app(version=False), {"app_without_version_header"}),
        (without(ch.curl(), b"User-Agent"), {"no_user_agent"}),
        (
            [(b"Host", b"x"), (b"User-Agent", ch.CHROME_UA.encode()), (b"Accept", b"*/*")],
            {"chrome_without_sec_ch_ua", "browser_without_accept_language", "modern_browser_without_br"},
        ),
        (
            replace(ch.chrome(), b"User-Agent", ch.CHROME_UA.replace("131.0", "89.0").encode()),
            set(),
        ),
    ],
    ids=[
        "chrome",
        "firefox",
        "safari",
        "app-android",
        "app-ios",
        "curl",
        "python-requests",
        "chrome-without-sec-ch-ua",
        "chrome-without-accept-language",
        "firefox-without-accept-language",
        "chrome-without-br",
        "safari-without-br",
        "firefox-without-accept-encoding",
        "br-is-a-whole-token",
        "br-with-quality-upper-case",
        "app-without-version",
        "no-user-agent",
        "script-claiming-chrome",
        "chrome-89-predates-client-hints",
    ],
)
def test_inconsistencies(parser: UserAgentParser, raw: Headers, reasons: set[str]) -> None:
    fp = fp_of(parser, raw)
    assert fp.reasons == reasons
    assert fp.inconsistent is bool(reasons)


def test_real_chromium_on_localhost_is_consistent(parser: UserAgentParser) -> None:
    captured = ch.headless_chromium()
    assert fp_of(parser, captured).reasons == set()
    as_desktop_chrome = [
        (k, v.replace(b"HeadlessChrome", b"Chrome")) if k == b"User-Agent" else (k, v) for k, v in captured
    ]
    assert parser.parse(dict(as_desktop_chrome)[b"User-Agent"].decode()).family == "Chrome"
    assert fp_of(parser, as_desktop_chrome).reasons == set()


def test_id_is_12_hex_and_stable(parser: UserAgentParser) -> None:
    a, b = fp_of(parser, ch.chrome()), fp_of(parser, ch.chrome())
    assert a.id == b.id
    assert len(a.id) == 12
    int(a.id, 16)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (ch.chrome(), ch.firefox()),
        (ch.chrome(), ch.safari()),
        (ch.curl(), ch.python_requests()),
        (ch.chrome(), replace(ch.chrome(), b"User-Agent", ch.CHROME_UA.replace("131.0", "130.0").encode())),
        (ch.chrome(), replace(ch.chrome(), b"Accept-Language", b"en-US,en;q=0.9")),
        (ch.chrome(), [(k.lower(), v) for k, v in ch.chrome()]),
        (ch.chrome(), list(reversed(ch.chrome()))),
        (ch.chrome(), [*ch.chrome(), (b"DNT", b"1")]),
        (ch.curl(), replace(ch.curl(), b"User-Agent", ch.CHROME_UA.encode())),
    ],
    ids=[
        "chrome-vs-firefox",
        "chrome-vs-safari",
        "curl-vs-requests",
        "major-version",
        "accept-language",
        "header-casing",
        "header-order",
        "extra-header",
        "curl-faking-chrome",
    ],
)
def test_different_clients_get_different_ids(parser: UserAgentParser, a: Headers, b: Headers) -> None:
    assert fp_of(parser, a).id != fp_of(parser, b).id


@pytest.mark.parametrize(
    "changed",
    [
        replace(ch.chrome(), b"Content-Length", b"9999"),
        [*ch.chrome(), (b"Cookie", b"session=abc")],
        [*ch.chrome(), (b"X-Forwarded-For", b"10.10.1.1"), (b"X-Forwarded-Proto", b"https")],
        [*ch.chrome(), (b"X-Request-ID", b"r-123")],
        [*ch.chrome(), (b"Shield-Pass", b"token")],
        [*ch.chrome(), (b"Forwarded", b"for=10.10.1.1")],
        replace(ch.chrome(), b"User-Agent", ch.CHROME_UA.replace("131.0.0.0", "131.0.6778.86").encode()),
        replace(ch.chrome(), b"Referer", b"https://shop.example.jp/other"),
    ],
    ids=[
        "content-length",
        "cookie",
        "x-forwarded",
        "x-request-id",
        "shield-header",
        "forwarded",
        "minor-version",
        "referer-value",
    ],
)
def test_volatile_headers_do_not_change_the_id(parser: UserAgentParser, changed: Headers) -> None:
    assert fp_of(parser, changed).id == fp_of(parser, ch.chrome()).id


@pytest.mark.parametrize(("value", "fact"), [(JA3, "fp.ja3"), (JA4, "fp.ja4")], ids=["ja3", "ja4"])
def test_tls_fingerprint_is_read_and_classified(parser: UserAgentParser, value: str, fact: str) -> None:
    fp = fp_of(parser, [*ch.chrome(), (b"X-JA4", value.encode())], tls_header="X-JA4")
    assert (fp.tls, tls_kind(value)) == (value, fact)
    assert fp.id != fp_of(parser, [*ch.chrome(), (b"X-JA4", b"other")], tls_header="X-JA4").id


def test_tls_header_is_ignored_when_not_configured(parser: UserAgentParser) -> None:
    assert fp_of(parser, [*ch.chrome(), (b"X-JA4", JA4.encode())]).tls is None


def test_thousands_of_headers_are_handled(parser: UserAgentParser) -> None:
    raw = [*ch.curl(), *((f"X-H{i}".encode(), b"v") for i in range(5000))]
    assert len(fp_of(parser, raw).id) == 12
