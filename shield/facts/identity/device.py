"""Device id: the app's own header, or shield's signed long-lived cookie for browsers.

A cookie value is `<22 random base64url chars>.<signature>`; only a value shield signed is
trusted as an id, so a client cannot pick the device id of someone else's known device
without having stolen that cookie.
"""

from __future__ import annotations

import binascii
import os
import re
from collections.abc import Mapping
from typing import NamedTuple

from shield.facts.identity.keyed import Keyer

# security: the device id becomes a store key; anything longer or stranger is not an id.
_APP_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_COOKIE_ID = re.compile(r"[A-Za-z0-9_\-]{22}")


class DeviceId(NamedTuple):
    # A NamedTuple, not a frozen dataclass: built on every request, and 4x cheaper to construct.

    id: str | None  # "a:<app id>" or "c:<cookie id>"; None when absent or not trustworthy
    present: bool  # the request carried a device header or cookie
    signed_ok: bool | None  # for a cookie: is its signature valid; None without a cookie


_ABSENT = DeviceId(id=None, present=False, signed_ok=None)  # a tuple: the same one serves every such request


def cookie_value(cookie_header: str, name: str) -> str | None:
    """The first cookie called `name` in a Cookie header, without ever raising."""
    for part in cookie_header.split(";"):
        key, eq, value = part.partition("=")
        if eq and key.strip() == name:
            return value.strip().strip('"')
    return None


def read_device(headers: Mapping[str, str], *, device_header: str | None, cookie_name: str, keyer: Keyer) -> DeviceId:
    """The device id of a request: the app header wins over the cookie."""
    if device_header:
        app_id = headers.get(device_header.lower())
        if app_id is not None:
            app_id = app_id.strip()
            valid = _APP_ID.fullmatch(app_id) is not None
            return DeviceId(id=f"a:{app_id}" if valid else None, present=True, signed_ok=None)
    cookies = headers.get("cookie")
    if not cookies:  # a stuffing wave's request: no cookie to look through
        return _ABSENT
    token = cookie_value(cookies, cookie_name)
    if token is None:
        return _ABSENT
    value = keyer.verify(token) if len(token) < 128 else None
    ok = value is not None and _COOKIE_ID.fullmatch(value) is not None
    return DeviceId(id=f"c:{value}" if ok else None, present=True, signed_ok=ok)


_URLSAFE = bytes.maketrans(b"+/", b"-_")
_TOKEN_BYTES = 16
_BATCH = 256


class _RandomTokens:
    """`secrets.token_urlsafe(16)` values (22 characters, 128 bits from os.urandom), 256 from one read of the
    system's random source: a stuffing wave mints a cookie per request, and one getrandom() call each cost
    as much as the signature."""

    __slots__ = ("_at", "_pool")

    def __init__(self) -> None:
        self._pool, self._at = b"", 0

    def reset(self) -> None:
        self._pool, self._at = b"", 0

    def next(self) -> str:
        at = self._at
        if at >= len(self._pool):
            self._pool, at = os.urandom(_TOKEN_BYTES * _BATCH), 0
        self._at = at + _TOKEN_BYTES
        raw = self._pool[at : at + _TOKEN_BYTES]
        return binascii.b2a_base64(raw, newline=False)[:22].translate(_URLSAFE).decode("ascii")


_TOKENS = _RandomTokens()
# security: a worker forked after the pool was filled would mint its parent's (and siblings') next device ids.
os.register_at_fork(after_in_child=_TOKENS.reset)


def mint_device_cookie(keyer: Keyer, token: str | None = None) -> str:
    """A new signed cookie value for a browser without one (the caller sets it on the response)."""
    return keyer.sign(token if token is not None else _TOKENS.next())


def minted_device_id(cookie: str) -> str:
    """The device id a cookie made by `mint_device_cookie` carries (what `read_device` will read back)."""
    return f"c:{cookie.rpartition('.')[0]}"
