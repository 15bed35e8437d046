"""What a build hands on besides the facts: its Attempt, its Observation, and the device cookie it mints
(one value however often it is read, and it reads back as the device)."""

from __future__ import annotations

from typing import Any

import pytest

from shield.facts.build import FactBuilder, observation
from shield.facts.enrich.useragent import make_resolver
from shield.facts.identity.device import minted_device_id, read_device
from shield.facts.identity.keyed import Keyer
from shield.model import Attempt, Observation
from shield.settings.schema import DEFAULT_ROUTES, ClientSettings, Settings
from shield.sim.world import demo_world
from tests.facts.identity import client_headers as ch

KEYER = Keyer(b"test-secret-0123456789abcdef")


@pytest.fixture(scope="module")
def resolver() -> Any:
    return make_resolver()


def test_a_minted_device_cookie_is_one_value_on_every_read(resolver: Any) -> None:
    builder = FactBuilder.from_settings(demo_world(Settings()), keyer=KEYER, lists={}, ua_resolver=resolver)
    rf = builder.build(
        request_id="r", route=DEFAULT_ROUTES[0], method="POST", path="/api/login", query={},
        raw_headers=ch.chrome(), body=b"{}", client_ip="198.18.0.1", peer_trusted=False,
    )
    cookie = rf.new_device_cookie
    assert cookie is not None
    assert rf.new_device_cookie == cookie == rf.new_device_cookie
    device = read_device({"cookie": f"shield_device={cookie}"}, device_header=None, cookie_name="shield_device",
                         keyer=KEYER)
    assert device.signed_ok is True
    assert device.id == minted_device_id(cookie)


def test_the_attempt_and_observation_carry_each_value_in_its_own_field(resolver: Any) -> None:
    settings = demo_world(Settings(client=ClientSettings(app_ua_pattern=r"^DemoPay/", device_header="X-Device-Id")))
    builder = FactBuilder.from_settings(settings, keyer=KEYER, lists={}, ua_resolver=resolver)
    rf = builder.build(
        request_id="req-9", route=DEFAULT_ROUTES[0], method="POST", path="/api/login", query={},
        raw_headers=ch.app(), body=b'{"username": "Alice@Example.com", "password": "pw"}',
        client_ip="2001:db8:1001::7", peer_trusted=False,
    )
    facts = rf.facts
    assert rf.attempt == Attempt(
        request_id="req-9", route=DEFAULT_ROUTES[0].name, client_ip="2001:db8:1001::7", subnet="2001:db8:1001::/48",
        account="alice@example.com", account_id=KEYER.account_id("alice@example.com"),
        password_id=KEYER.password_id("pw"), pair_id=KEYER.pair_id("alice@example.com", "pw"),
        fingerprint=str(facts["fp.id"]), device_id="a:3f2c9a1e-55aa-4b7d", malformed=False,
    )
    assert observation(rf) == Observation(
        route=DEFAULT_ROUTES[0].name, ip="2001:db8:1001::7", subnet="2001:db8:1001::/48", asn=str(facts["ip.asn"]),
        country=str(facts["ip.country"]), account=KEYER.account_id("alice@example.com"), fp=str(facts["fp.id"]),
        device="a:3f2c9a1e-55aa-4b7d", password=KEYER.password_id("pw"),
        pair=KEYER.pair_id("alice@example.com", "pw"), lat=facts["ip.lat"], lon=facts["ip.lon"],
    )
    assert isinstance(facts["ip.lat"], float)
