from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shield.facts.build import FactBuilder, RequestFacts, observation
from shield.facts.catalog import catalog
from shield.facts.enrich.geoip_build import build_from_csv
from shield.facts.enrich.lists import load_list_folders, load_lists
from shield.facts.enrich.useragent import make_resolver
from shield.facts.identity.keyed import Keyer
from shield.model import NamedList, Observation
from shield.settings.schema import BUNDLED_RULES, DEFAULT_ROUTES, DEMO_CSV, ClientSettings, GeoipSettings, Settings
from shield.sim.world import demo_world
from tests.facts.identity import client_headers as ch

KEYER = Keyer(b"test-secret-0123456789abcdef")
ROUTE = DEFAULT_ROUTES[0]
BODY = b'{"username": " Alice@Example.com", "password": "hunter2-secret"}'
PRODUCED_BY_US = {"identity", "enrich"}
PYTHON_TYPES: dict[str, Any] = {"bool": bool, "int": int, "float": float, "str": str, "ip": str, "strset": frozenset}
CLIENT = ClientSettings(
    app_ua_pattern=r"^DemoPay/",
    app_version_header="X-App-Version",
    device_header="X-Device-Id",
    tls_fingerprint_header="X-JA4",
)


@pytest.fixture(scope="module")
def resolver() -> Any:
    return make_resolver()


@pytest.fixture(scope="module")
def builder(resolver: Any) -> FactBuilder:
    settings_ = demo_world(Settings(client=CLIENT))
    lists = load_list_folders(BUNDLED_RULES / "lists", settings_.extra_lists)
    return FactBuilder.from_settings(settings_, keyer=KEYER, lists=lists, ua_resolver=resolver)


def build(
    builder: FactBuilder,
    raw: list[tuple[bytes, bytes]],
    ip: str,
    body: bytes = BODY,
    query: dict[str, str] | None = None,
    *,
    peer_trusted: bool = True,
    lists: Mapping[str, NamedList] | None = None,
) -> RequestFacts:
    return builder.build(
        request_id="req-1",
        route=ROUTE,
        method="post",
        path="/api/login",
        query=query or {},
        raw_headers=raw,
        body=body,
        client_ip=ip,
        peer_trusted=peer_trusted,
        lists=lists,
    )


def subset(facts: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    return {k: facts.get(k, "<absent>") for k in expected}


@pytest.mark.parametrize(
    ("raw", "ip", "expected"),
    [
        (
            ch.chrome(),
            "2001:db8:1004::5",
            {
                "ip": "2001:db8:1004::5",
                "ip.version": 6,
                "ip.subnet": "2001:db8:1004::/48",
                "ip.country": "JP",
                "ip.asn": 64510,
                "ip.asn_org": "Demo Hikari Fiber JP",
                "ip.overseas": False,
                "ip.hosting": False,
                "ip.tor": False,
                "ua.family": "Chrome",
                "ua.major": 131,
                "ua.os": "Windows",
                "ua.device": "desktop",
                "ua.automation": False,
                "ua.app": False,
                "fp.inconsistent": False,
                "device.present": False,
                "account": "alice@example.com",
                "request.malformed": False,
            },
        ),
        (
            ch.app(),
            "198.18.9.9",
            {
                "ip.country": "JP",
                "ip.asn": 64500,
                "ip.accuracy_km": 50,
                "ip.lat": 35.69,
                "ip.lon": 139.69,
                "ua.app": True,
                "ua.automation": False,
                "ua.device": "mobile",
                "ua.os": "Android",
                "device.id": "a:3f2c9a1e-55aa-4b7d",
                "device.present": True,
                "device.signed_ok": "<absent>",
                "fp.inconsistent": False,
            },
        ),
        (
            ch.app(version=False),
            "198.18.9.9",
            {
                "ua.app": True,
                "fp.inconsistent": True,
                "fp.reasons": frozenset({"app_without_version_header"}),
            },
        ),
        (
            ch.curl(),
            "198.51.100.2",
            {
                "ip.country": "US",
                "ip.continent": "NA",
                "ip.asn": 64540,
                "ip.overseas": True,
                "ip.hosting": True,
                "ua.family": "curl",
                "ua.automation": True,
                "ua.automation_name": "curl",
                "ua.device": "other",
            },
        ),
        (
            ch.python_requests(),
            "::ffff:192.0.2.9",
            {
                "ip": "192.0.2.9",
                "ip.version": 4,
                "ip.tor": True,
                "ip.country": "DE",
                "ip.hosting": False,
                "ua.automation_name": "python-requests",
            },
        ),
        (
            ch.firefox(),
            "2001:db8:1ff:2::9",
            {
                "ip": "2001:db8:1ff:2::9",
                "ip.version": 6,
                "ip.subnet": "2001:db8:1ff::/48",
                "ip.country": "JP",
                "ip.asn": 64500,
                "ip.overseas": False,
                "ua.family": "Firefox",
            },
        ),
        (
            ch.safari(),
            "8.8.8.8",
            {
                "ip.private": False,
                "ip.country": "<absent>",
                "ip.asn": "<absent>",
                "ip.overseas": "<absent>",
                "ip.hosting": "<absent>",
                "ip.tor": False,
                "ip.allowlisted": False,
                "ip.bad": False,
            },
        ),
        (
            [*ch.chrome(), (b"X-JA4", b"t13d1516h2_8daaf6152771_02713d6af862")],
            "2001:db8:1004::5",
            {
                "fp.ja4": "t13d1516h2_8daaf6152771_02713d6af862",
                "fp.ja3": "<absent>",
            },
        ),
        (
            ch.headless_chromium(),
            "2001:db8:5003::3",
            {
                "ua.automation": True,
                "ua.automation_name": "HeadlessChrome",
                "fp.inconsistent": False,
                "ip.hosting": True,
                "ip.asn_org": "Demo VPN JP",
                "ip.overseas": False,
            },
        ),
        (
            [],
            "2001:db8:1004::5",
            {
                "ua": "",
                "fp.reasons": frozenset({"no_user_agent"}),
                "ua.family": "Other",
                "ua.major": "<absent>",
            },
        ),
    ],
    ids=[
        "chrome-home",
        "app-carrier-nat",
        "app-without-version",
        "curl-hosting",
        "requests-over-tor-mapped-v6",
        "firefox-ipv6",
        "safari-unknown-address",
        "tls-fingerprint",
        "headless-chromium-via-vpn",
        "no-headers",
    ],
)
def test_facts_of_real_clients(
    builder: FactBuilder, raw: list[tuple[bytes, bytes]], ip: str, expected: dict[str, Any]
) -> None:
    facts = build(builder, raw, ip).facts
    assert subset(facts, expected) == expected


@pytest.mark.parametrize(
    ("raw", "ip", "body"),
    [
        (ch.chrome(), "2001:db8:1004::5", BODY),
        (ch.app(), "198.18.1.1", BODY),
        (ch.curl(), "2001:db8:300::1", b"{}"),
        ([], "garbage", b"\xff"),
    ],
    ids=["browser", "app", "curl-ipv6-malformed", "nothing-valid"],
)
def test_every_fact_is_in_the_catalog_with_its_type(
    builder: FactBuilder, raw: list[tuple[bytes, bytes]], ip: str, body: bytes
) -> None:
    specs = catalog()
    for name, value in build(builder, raw, ip, body).facts.items():
        assert name in specs, name
        assert specs[name].source in PRODUCED_BY_US, name
        assert type(value) is PYTHON_TYPES[specs[name].type], (name, value)


def test_attempt_and_observation_carry_keyed_ids_only(builder: FactBuilder) -> None:
    rf = build(builder, ch.app(), "198.18.9.9")
    assert rf.attempt.account == "alice@example.com"
    assert rf.attempt.account_id == KEYER.account_id("alice@example.com")
    assert observation(rf) == Observation(
        route="login",
        ip="198.18.9.9",
        subnet="198.18.9.0/24",
        asn="64500",
        country="JP",
        account=KEYER.account_id("alice@example.com"),
        fp=rf.attempt.fingerprint,
        device="a:3f2c9a1e-55aa-4b7d",
        password=KEYER.password_id("hunter2-secret"),
        pair=KEYER.pair_id("alice@example.com", "hunter2-secret"),
        lat=35.69,
        lon=139.69,
    )
    assert "hunter2" not in repr(rf)


def test_unknown_address_has_no_geo_dimensions(builder: FactBuilder) -> None:
    obs = observation(build(builder, ch.curl(), "8.8.8.8"))
    assert (obs.asn, obs.country, obs.lat, obs.lon) == (None, None, None, None)


def test_malformed_body_is_a_fact_not_an_error(builder: FactBuilder) -> None:
    rf = build(builder, ch.curl(), "198.51.100.2", body=b"username bob")  # neither JSON nor a form
    assert rf.attempt.malformed is True
    assert subset(rf.facts, {"request.malformed": True, "account.present": False, "request.body_bytes": 12}) == {
        "request.malformed": True,
        "account.present": False,
        "request.body_bytes": 12,
    }


@pytest.mark.parametrize(
    ("raw", "mints"),
    [
        (ch.chrome(), True),
        (ch.curl(), True),
        (ch.app(), False),
        (ch.app(device=None), False),
        ([(b"X-Device-Id", b"unknown-client")], False),
    ],
    ids=["browser-without-cookie", "curl", "app", "app-without-device-header", "device-header-from-non-app"],
)
def test_new_device_cookie_only_for_browsers_without_one(
    builder: FactBuilder, raw: list[tuple[bytes, bytes]], mints: bool
) -> None:
    assert (build(builder, raw, "2001:db8:1004::5").new_device_cookie is not None) is mints


def test_browser_returning_with_its_cookie_is_recognised(builder: FactBuilder) -> None:
    token = build(builder, ch.chrome(), "2001:db8:1004::5").new_device_cookie
    assert token is not None
    again = build(builder, ch.chrome(cookie=f"theme=dark; shield_device={token}"), "2001:db8:1004::5")
    assert subset(again.facts, {"device.present": True, "device.signed_ok": True}) == {
        "device.present": True,
        "device.signed_ok": True,
    }
    assert again.new_device_cookie is None
    assert again.attempt.device_id == again.facts["device.id"]
    assert again.attempt.fingerprint == build(builder, ch.chrome(), "2001:db8:1004::5").attempt.fingerprint


def test_forged_cookie_is_replaced(builder: FactBuilder) -> None:
    rf = build(builder, ch.chrome(cookie="shield_device=AAAAAAAAAAAAAAAAAAAAAA.forged"), "2001:db8:1004::5")
    assert subset(rf.facts, {"device.signed_ok": False, "device.id": "<absent>"}) == {
        "device.signed_ok": False,
        "device.id": "<absent>",
    }
    assert rf.new_device_cookie is not None


def test_home_countries_decide_overseas(resolver: Any) -> None:
    builder = FactBuilder.from_settings(
        demo_world(Settings(home_countries=frozenset({"US"}))), keyer=KEYER, lists={}, ua_resolver=resolver
    )
    facts = build(builder, ch.curl(), "2001:db8:1001::1").facts
    assert subset(facts, {"ip.overseas": True, "ip.hosting": "<absent>", "ip.tor": "<absent>"}) == {
        "ip.overseas": True,
        "ip.hosting": "<absent>",
        "ip.tor": "<absent>",
    }


def test_without_geoip_the_geo_facts_are_absent(resolver: Any, tmp_path: Path) -> None:
    settings_ = Settings(geoip=GeoipSettings(country=tmp_path / "none.mmdb", asn=None))
    builder = FactBuilder.from_settings(settings_, keyer=KEYER, lists={}, ua_resolver=resolver)
    facts = build(builder, ch.curl(), "2001:db8:1001::1").facts
    assert not any(name in facts for name in ("ip.country", "ip.asn", "ip.lat", "ip.overseas"))
    assert facts["ip"] == "2001:db8:1001::1"


def test_refresh_picks_up_a_replaced_database_and_forgets_cached_addresses(resolver: Any, tmp_path: Path) -> None:
    live = tmp_path / "live.mmdb"
    build_from_csv(DEMO_CSV, live)
    settings_ = Settings(geoip=GeoipSettings(country=live, asn=live))
    builder = FactBuilder.from_settings(settings_, keyer=KEYER, lists={}, ua_resolver=resolver)
    assert build(builder, ch.curl(), "2001:db8:1001::1").facts["ip.country"] == "JP"
    moved = tmp_path / "moved.csv"
    moved.write_text(
        "network,country,continent,latitude,longitude,accuracy_radius,asn,asn_org,note\n"
        "2001:db8:1000::/40,KR,AS,,,,64535,Demo Broadband KR,\n"
    )
    build_from_csv(moved, tmp_path / "new.mmdb")
    os.replace(tmp_path / "new.mmdb", live)
    builder.refresh()
    assert builder.refresh() is True
    assert subset(build(builder, ch.curl(), "2001:db8:1001::1").facts, {"ip.country": "KR", "ip.asn": 64535}) == {
        "ip.country": "KR",
        "ip.asn": 64535,
    }


def test_other_routes_read_their_own_fields(builder: FactBuilder) -> None:
    route = replace(ROUTE, name="reset", account=None, password=None)
    rf = builder.build(
        request_id="r",
        route=route,
        method="GET",
        path="/reset",
        query={},
        raw_headers=ch.curl(),
        body=b"",
        client_ip="2001:db8:1001::1",
        peer_trusted=True,
    )
    assert subset(
        rf.facts,
        {
            "request.route": "reset",
            "request.method": "GET",
            "account.present": False,
            "password.present": False,
            "request.malformed": False,
        },
    ) == {
        "request.route": "reset",
        "request.method": "GET",
        "account.present": False,
        "password.present": False,
        "request.malformed": False,
    }


@settings(max_examples=150, deadline=None)
@given(
    headers=st.lists(st.tuples(st.binary(min_size=1, max_size=20), st.binary(max_size=60)), max_size=12),
    body=st.binary(max_size=200),
    ip=st.sampled_from(["198.18.1.1", "::ffff:198.51.100.1", "2001:db8:100::1", "10.42.0.7", "garbage", ""])
    | st.text(max_size=20),
)
def test_any_request_yields_facts(
    builder: FactBuilder, headers: list[tuple[bytes, bytes]], body: bytes, ip: str
) -> None:
    rf = build(builder, headers, ip, body)
    assert len(rf.attempt.fingerprint) == 12


def test_a_reloaded_packs_lists_replace_the_builders_and_its_cached_addresses(resolver: Any, tmp_path: Path) -> None:
    settings_ = demo_world(Settings(client=CLIENT))
    before = load_list_folders(BUNDLED_RULES / "lists", settings_.extra_lists)
    builder = FactBuilder.from_settings(settings_, keyer=KEYER, lists=before, ua_resolver=resolver)
    assert build(builder, ch.curl(), "2001:db8:4100::1").facts["ip.bad"] is False
    (tmp_path / "bad_cidrs.txt").write_text("2001:db8:4100::/40\n")
    facts = build(builder, ch.curl(), "2001:db8:4100::1", lists=load_lists(tmp_path)).facts
    assert subset(facts, {"ip.bad": True, "ip.tor": "<absent>", "ip.country": "NL"}) == {
        "ip.bad": True,
        "ip.tor": "<absent>",
        "ip.country": "NL",
    }
    assert build(builder, ch.curl(), "2001:db8:4100::1", lists=before).facts["ip.bad"] is False


def test_cached_address_facts_are_not_shared_between_requests(builder: FactBuilder) -> None:
    first = build(builder, ch.curl(), "2001:db8:4200::1").facts
    first["ip.country"] = "XX"
    assert build(builder, ch.curl(), "2001:db8:4200::1").facts["ip.country"] == "SG"


JA4 = b"t13d1516h2_8daaf6152771_02713d6af862"


@pytest.mark.parametrize(
    ("trusted", "expected"), [(True, JA4.decode()), (False, "<absent>")], ids=["trusted", "untrusted"]
)
def test_tls_fingerprint_header_is_believed_only_from_a_trusted_proxy(
    builder: FactBuilder, trusted: bool, expected: str
) -> None:
    # security: any client can write X-JA4; only the TLS terminator in front of shield knows it.
    rf = build(builder, [*ch.chrome(), (b"X-JA4", JA4)], "10.10.4.5", peer_trusted=trusted)
    assert rf.facts.get("fp.ja4", "<absent>") == expected


@pytest.mark.parametrize(
    ("encoding", "body"),
    [("gzip", gzip.compress(BODY)), ("deflate", zlib.compress(BODY))],
    ids=["gzip", "deflate"],
)
def test_a_compressed_login_is_read_from_a_decoded_copy(builder: FactBuilder, encoding: str, body: bytes) -> None:
    plain = build(builder, ch.chrome(), "10.10.4.5")
    packed = build(builder, [*ch.chrome(), (b"Content-Encoding", encoding.encode())], "10.10.4.5", body=body)
    assert packed.attempt.account == "alice@example.com"
    assert (packed.attempt.account_id, packed.attempt.pair_id) == (plain.attempt.account_id, plain.attempt.pair_id)
    assert packed.facts["request.malformed"] is False
    assert packed.facts["request.body_bytes"] == len(body)  # what was received, not what it inflates to


@pytest.mark.parametrize(
    ("encoding", "body"),
    [("br", b"\x1b\x2f\x00"), ("gzip", gzip.compress(b'{"username": "' + b"a" * 200_000 + b'"}'))],
    ids=["no-brotli-decoder", "bomb-over-max-body"],
)
def test_an_undecodable_body_is_malformed_without_an_account(
    builder: FactBuilder, encoding: str, body: bytes
) -> None:
    rf = build(builder, [*ch.chrome(), (b"Content-Encoding", encoding.encode())], "10.10.4.5", body=body)
    assert (rf.attempt.account, rf.facts["request.malformed"]) == (None, True)
