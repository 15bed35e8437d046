"""What of the client's headers reaches the app, on both forwarders (issue 12 item 10): as the
upstream's h11 reads it off the wire (tests/fixtures/recorder.py)."""

from __future__ import annotations

import ipaddress

import pytest

from shield.settings.schema import ClientSettings, IPNetwork
from tests.fixtures.recorder import Recorded, RecordingUpstream
from tests.proxy.conftest import StartProxy
from tests.proxy.test_framing import exchange


@pytest.fixture(params=["h1", "aiohttp"])
def proxy_client(request: pytest.FixtureRequest) -> str:
    client: str = request.param
    return client


LOCAL: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.1/32"),)


async def forwarded(p_url: str, recorder: RecordingUpstream, headers: list[tuple[bytes, bytes]],
                    path: bytes = b"/anything") -> Recorded:
    raw = b"GET %s HTTP/1.1\r\nHost: app.example\r\n" % path
    raw += b"".join(n + b": " + v + b"\r\n" for n, v in headers) + b"\r\n"
    answers = await exchange(p_url, raw)
    assert [a.status_code for a in answers] == [200]
    (seen,) = recorder.requests
    return seen


UNDERSCORED = [b"Shield_Score", b"shield_challenge", b"SHIELD_PASS", b"X_Forwarded_For", b"x_real_ip",
               b"X_Request_ID", b"Transfer_Encoding", b"Content_Length", b"Shield-Tag_x"]


async def test_underscore_spellings_of_shield_and_forwarding_headers_never_reach_the_app(
    start_proxy: StartProxy, recorder: RecordingUpstream
) -> None:
    # WSGI servers read `Shield_Score` as HTTP_SHIELD_SCORE, the same variable as Shield-Score.
    p = await start_proxy(upstream=recorder.url)
    seen = await forwarded(p.url, recorder, [(n, b"forged") for n in UNDERSCORED] + [(b"X_Custom", b"kept")])
    names = {n for n, _ in seen.headers}
    assert names.isdisjoint({n.lower() for n in UNDERSCORED})
    assert seen.header(b"x_custom") == [b"kept"]  # an underscore alone is not a reason to drop
    assert b"forged" not in b"".join(v for _, v in seen.headers)


CLIENT_ADDRESS_HEADERS = [(b"Forwarded", b"for=203.0.113.9;proto=https"), (b"X-Real-IP", b"203.0.113.9"),
                          (b"True-Client-IP", b"203.0.113.9")]


async def test_client_address_headers_from_an_untrusted_peer_are_dropped(
    start_proxy: StartProxy, recorder: RecordingUpstream
) -> None:
    p = await start_proxy(upstream=recorder.url, trusted_proxies=())
    seen = await forwarded(p.url, recorder, CLIENT_ADDRESS_HEADERS)
    assert [seen.header(n) for n, _ in CLIENT_ADDRESS_HEADERS] == [[], [], []]
    assert seen.header(b"x-forwarded-for") == [b"127.0.0.1"]


async def test_client_address_headers_from_a_trusted_proxy_pass_unchanged(
    start_proxy: StartProxy, recorder: RecordingUpstream
) -> None:
    p = await start_proxy(upstream=recorder.url, trusted_proxies=LOCAL)
    seen = await forwarded(p.url, recorder, CLIENT_ADDRESS_HEADERS)
    assert [seen.header(n) for n, _ in CLIENT_ADDRESS_HEADERS] == [[v] for _, v in CLIENT_ADDRESS_HEADERS]


@pytest.mark.parametrize("trusted", [(), LOCAL], ids=["untrusted-peer", "trusted-proxy"])
async def test_tls_fingerprint_header_never_reaches_the_app(
    start_proxy: StartProxy, recorder: RecordingUpstream, trusted: tuple[IPNetwork, ...]
) -> None:
    client = ClientSettings(tls_fingerprint_header="X-JA4")
    p = await start_proxy(upstream=recorder.url, client=client, trusted_proxies=trusted)
    seen = await forwarded(p.url, recorder, [(b"X-JA4", b"t13d1516h2_8daaf6152771_b186095e22b6"),
                                             (b"x_ja4", b"forged")])
    assert (seen.header(b"x-ja4"), seen.header(b"x_ja4")) == ([], [])


COOKIES = [
    (b"a=1; shield_pass=PASS; b=2", b"a=1; b=2"),
    (b"shield_pass=PASS; session=abc", b"session=abc"),
    (b"sid=1;shield_pass=PASS;theme=dark", b"sid=1;theme=dark"),
    (b"not_shield_pass=1; shield_passx=2", b"not_shield_pass=1; shield_passx=2"),
]


@pytest.mark.parametrize(("sent", "kept"), COOKIES, ids=["middle", "first", "no-spaces", "lookalike"])
async def test_the_pass_cookie_is_cut_from_cookie_and_the_rest_kept_byte_for_byte(
    start_proxy: StartProxy, recorder: RecordingUpstream, sent: bytes, kept: bytes
) -> None:
    p = await start_proxy(upstream=recorder.url)
    seen = await forwarded(p.url, recorder, [(b"Cookie", sent)])
    assert seen.header(b"cookie") == [kept]


async def test_a_cookie_header_with_only_the_pass_is_dropped(
    start_proxy: StartProxy, recorder: RecordingUpstream
) -> None:
    p = await start_proxy(upstream=recorder.url)
    seen = await forwarded(p.url, recorder, [(b"Cookie", b"shield_pass=PASS"), (b"Cookie", b"a=1")])
    assert seen.header(b"cookie") == [b"a=1"]


async def test_shield_headers_are_stripped_in_any_case(start_proxy: StartProxy, recorder: RecordingUpstream) -> None:
    p = await start_proxy(upstream=recorder.url)
    seen = await forwarded(p.url, recorder, [(b"Shield-Challenge", b"solved"), (b"sHiElD-sCoRe", b"0")])
    assert {n for n, _ in seen.headers if n.startswith(b"shield")} == set()


async def test_an_h2c_upgrade_never_reaches_the_app(start_proxy: StartProxy, recorder: RecordingUpstream) -> None:
    # h2c smuggling: an upstream that switched protocols would give the client a tunnel past shield.
    p = await start_proxy(upstream=recorder.url)
    seen = await forwarded(p.url, recorder, [(b"Upgrade", b"h2c"), (b"Connection", b"Upgrade, HTTP2-Settings"),
                                             (b"HTTP2-Settings", b"AAMAAABkAAQAAP__")])
    assert [seen.header(n) for n in (b"upgrade", b"connection", b"http2-settings")] == [[], [], []]
