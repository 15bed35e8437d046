"""The client cache (ua.* and fp.* per dialect) answers what computing them afresh does, request by request."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shield.facts.build import header_map
from shield.facts.client_facts import ClientFacts, fp_facts, ua_facts
from shield.facts.enrich.useragent import UserAgentParser, make_resolver
from shield.facts.identity.fingerprint import fingerprint
from shield.settings.schema import ClientSettings
from tests.facts.identity import client_headers as ch

Headers = list[tuple[bytes, bytes]]
CLIENT = ClientSettings(app_ua_pattern=r"^DemoPay/", app_version_header="X-App-Version", tls_fingerprint_header="X-JA4")
PARSER = UserAgentParser(app_pattern=CLIENT.app_ua_pattern, resolver=make_resolver())


def _variants() -> list[Headers]:
    """Each client, and each one changed in one thing the facts read (so a stale cache entry would show)."""
    base: list[Callable[[], Headers]] = [ch.chrome, ch.firefox, ch.safari, ch.curl, ch.python_requests, ch.app,
                                         ch.headless_chromium]
    out: list[Headers] = []
    for make in base:
        raw = list(make())
        ja4 = (b"X-JA4", b"t13d1516h2_8daaf6152771_e5627efa2ab1")
        out += [raw, raw[::-1], [(n.upper(), v) for n, v in raw], [*raw, ja4]]
        out.append([(n, v) for n, v in raw if n.lower() not in (b"accept-language", b"sec-ch-ua", b"x-app-version")])
        out.append([(n, v + b", br" if n.lower() == b"accept-encoding" else v) for n, v in raw])
        out.append([(n, b"Mozilla/5.0 " + v if n.lower() == b"user-agent" else v) for n, v in raw])
        out.append([(n, v) for n, v in raw if n.lower() != b"user-agent"])
    return out


@pytest.mark.parametrize("peer_trusted", [True, False])
def test_cached_client_facts_are_the_computed_ones(peer_trusted: bool) -> None:
    clients = ClientFacts(ua_parser=PARSER, client=CLIENT)
    for _ in range(2):  # the second round answers from the cache
        for raw in _variants():
            headers = header_map(raw)
            ua_text = headers.get("user-agent", "")
            ua = PARSER.parse(ua_text)
            fp = fingerprint(raw, headers, ua, has_ua=bool(ua_text.strip()),
                             tls_header=CLIENT.tls_fingerprint_header if peer_trusted else None,
                             app_version_header=CLIENT.app_version_header)
            got = clients.of(raw, headers, peer_trusted=peer_trusted)
            assert (got.ua, got.fp) == (ua, fp)
            assert list(got.facts.items()) == list((ua_facts(ua_text, ua) | fp_facts(fp)).items())


def test_an_untrusted_peers_tls_header_is_not_served_from_a_trusted_ones_entry() -> None:
    clients = ClientFacts(ua_parser=PARSER, client=CLIENT)
    raw = [*ch.chrome(), (b"X-JA4", b"t13d1516h2_8daaf6152771_e5627efa2ab1")]
    assert clients.of(raw, header_map(raw), peer_trusted=True).fp.tls is not None
    assert clients.of(raw, header_map(raw), peer_trusted=False).fp.tls is None


def test_huge_header_sets_are_answered_and_not_kept() -> None:
    clients = ClientFacts(ua_parser=PARSER, client=CLIENT)
    raw = ch.curl() + [(b"X-Pad-%d" % i, b"x") for i in range(100)]
    assert clients.of(raw, header_map(raw), peer_trusted=False).ua.family == "curl"
    assert not clients._cache
