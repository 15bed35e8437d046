from __future__ import annotations

import os

import pytest

from shield.facts.identity.device import DeviceId, cookie_value, mint_device_cookie, minted_device_id, read_device
from shield.facts.identity.keyed import Keyer

KEYER = Keyer(b"test-secret-0123456789abcdef")
GOOD = mint_device_cookie(KEYER, "AAAAAAAAAAAAAAAAAAAAAA")
FOREIGN = mint_device_cookie(Keyer(b"another-secret-0123456789"), "AAAAAAAAAAAAAAAAAAAAAA")


def read(headers: dict[str, str]) -> DeviceId:
    return read_device(headers, device_header="X-Device-Id", cookie_name="shield_device", keyer=KEYER)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, DeviceId(None, False, None)),
        ({"x-device-id": "3f2c9a1e-55aa-4b7d"}, DeviceId("a:3f2c9a1e-55aa-4b7d", True, None)),
        ({"x-device-id": " 3f2c9a1e "}, DeviceId("a:3f2c9a1e", True, None)),
        ({"x-device-id": "x" * 129}, DeviceId(None, True, None)),
        ({"x-device-id": "bad id; drop"}, DeviceId(None, True, None)),
        ({"x-device-id": ""}, DeviceId(None, True, None)),
        ({"cookie": f"shield_device={GOOD}"}, DeviceId("c:AAAAAAAAAAAAAAAAAAAAAA", True, True)),
        ({"cookie": f'a=1; shield_device="{GOOD}"; b=2'}, DeviceId("c:AAAAAAAAAAAAAAAAAAAAAA", True, True)),
        ({"cookie": f"shield_device={FOREIGN}"}, DeviceId(None, True, False)),
        ({"cookie": "shield_device=AAAAAAAAAAAAAAAAAAAAAA"}, DeviceId(None, True, False)),
        ({"cookie": "shield_device=" + "A" * 5000}, DeviceId(None, True, False)),
        ({"cookie": f"shield_device={KEYER.sign('short')}"}, DeviceId(None, True, False)),
        ({"cookie": "other=1; ;;=; shield_devicex=1"}, DeviceId(None, False, None)),
        ({"x-device-id": "app-1", "cookie": f"shield_device={GOOD}"}, DeviceId("a:app-1", True, None)),
    ],
    ids=[
        "nothing",
        "app-header",
        "app-header-trimmed",
        "app-header-too-long",
        "app-header-bad-chars",
        "app-header-empty",
        "cookie",
        "cookie-among-others-quoted",
        "cookie-other-secret",
        "cookie-unsigned",
        "cookie-huge",
        "cookie-signed-but-not-an-id",
        "cookie-lookalikes",
        "header-wins-over-cookie",
    ],
)
def test_read_device(headers: dict[str, str], expected: DeviceId) -> None:
    assert read(headers) == expected


def test_minted_cookie_reads_back_as_a_signed_device() -> None:
    token = mint_device_cookie(KEYER)
    device = read({"cookie": f"shield_device={token}"})
    assert device.signed_ok is True
    assert device.id == f"c:{token.split('.')[0]}"


def test_minted_cookies_are_unique() -> None:
    assert mint_device_cookie(KEYER) != mint_device_cookie(KEYER)


def test_without_device_header_setting_the_app_header_is_ignored() -> None:
    device = read_device({"x-device-id": "app-1"}, device_header=None, cookie_name="shield_device", keyer=KEYER)
    assert device == DeviceId(None, False, None)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("a=1; shield_device=v; b=2", "v"),
        ("shield_device=first; shield_device=second", "first"),
        ("", None),
        ("shield_device", None),
    ],
    ids=["middle", "first-wins", "empty", "no-equals"],
)
def test_cookie_value(header: str, value: str | None) -> None:
    assert cookie_value(header, "shield_device") == value


def test_minted_tokens_look_like_token_urlsafe_and_never_repeat() -> None:
    tokens = [minted_device_id(mint_device_cookie(KEYER)) for _ in range(1000)]  # several random batches
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        value = token.removeprefix("c:")
        assert len(value) == 22
        assert value[-1] in "AQgw"  # 128 bits: the last character carries 2 of them
        assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert read_device({"cookie": f"sid={mint_device_cookie(KEYER, value)}"}, device_header=None,
                           cookie_name="sid", keyer=KEYER).id == token


def test_a_forked_worker_mints_other_tokens_than_its_parent() -> None:
    """security: the random pool is per process; a child must not repeat the parent's next device ids."""
    mint_device_cookie(KEYER)  # the parent's pool is filled
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next token, to the parent
        os.write(write_end, mint_device_cookie(KEYER).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    child = os.read(read_end, 200).decode()
    os.close(read_end)
    assert child != mint_device_cookie(KEYER)
