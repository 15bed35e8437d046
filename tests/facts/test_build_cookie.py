"""The device cookie a build mints is one value however often it is read, and it reads back as the device."""

from __future__ import annotations

from typing import Any

import pytest

from shield.facts.build import FactBuilder
from shield.facts.enrich.useragent import make_resolver
from shield.facts.identity.device import minted_device_id, read_device
from shield.facts.identity.keyed import Keyer
from shield.settings.schema import DEFAULT_ROUTES, Settings
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
