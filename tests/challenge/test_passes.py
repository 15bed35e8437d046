"""Passes: a solved challenge's proof, signed and bound like the challenge."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shield.challenge import pow
from shield.challenge.passes import check_pass, issue_pass, pass_cookie, pass_headers, read_pass
from shield.challenge.pow import Binding

SECRET = b"p" * 32
NOW = 1_700_000_000.0
ALICE = Binding(client="10.10.1.2", route="login", fingerprint="fp-a")
VALID = issue_pass(SECRET, binding=ALICE, now=NOW, ttl=3600)


def _tampered(value: str) -> str:
    raw = bytearray(pow.b64url_decode(value))
    raw[5] ^= 0x01  # the expiry: a client extending its own pass
    return pow.b64url_encode(bytes(raw))


@pytest.mark.parametrize(
    ("value", "secret", "binding", "at", "ok"),
    [
        pytest.param(VALID, SECRET, ALICE, NOW, True, id="valid"),
        pytest.param(VALID, SECRET, ALICE, NOW + 3599, True, id="valid-until-the-last-second"),
        pytest.param(VALID, SECRET, ALICE, NOW + 3600, False, id="expired"),
        pytest.param(VALID, b"q" * 32, ALICE, NOW, False, id="signed-by-another-deployment"),
        pytest.param(_tampered(VALID), SECRET, ALICE, NOW, False, id="tampered-expiry"),
        pytest.param(VALID, SECRET, Binding("10.10.1.3", "login", "fp-a"), NOW, False, id="other-ip"),
        pytest.param(VALID, SECRET, Binding("10.10.1.2", "reset", "fp-a"), NOW, False, id="other-route"),
        pytest.param(VALID, SECRET, Binding("10.10.1.2", "login", "fp-b"), NOW, False, id="other-fingerprint"),
        pytest.param(None, SECRET, ALICE, NOW, False, id="none"),
        pytest.param("", SECRET, ALICE, NOW, False, id="empty"),
        pytest.param("A" * 5000, SECRET, ALICE, NOW, False, id="huge"),
        pytest.param("not base64!", SECRET, ALICE, NOW, False, id="garbage"),
        pytest.param(VALID[:-4], SECRET, ALICE, NOW, False, id="truncated"),
    ],
)
def test_check_pass(value: str | None, secret: bytes, binding: Binding, at: float, ok: bool) -> None:
    assert check_pass(secret, value, binding=binding, now=at) is ok


def test_pass_is_not_a_challenge_token() -> None:
    """Domain separation: a pass cannot be replayed as a challenge solution, nor the reverse."""
    challenge = pow.issue(SECRET, binding=ALICE, difficulty=0, now=NOW, ttl=60)
    assert not check_pass(SECRET, challenge.token, binding=ALICE, now=NOW)
    assert pow.verify(SECRET, VALID + ".0", binding=ALICE, now=NOW).status is pow.VerifyStatus.MALFORMED


@pytest.mark.parametrize(
    ("secure", "expected"),
    [
        (False, "shield_pass=V; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax"),
        (True, "shield_pass=V; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax; Secure"),
    ],
    ids=["http", "https"],
)
def test_pass_cookie_attributes(secure: bool, expected: str) -> None:
    assert pass_cookie("V", ttl=3600, secure=secure) == expected
    assert pass_headers("V", ttl=3600, secure=secure) == [("Shield-Pass", "V"), ("Set-Cookie", expected)]


@pytest.mark.parametrize(
    ("headers", "cookies", "expected"),
    [
        ({"Shield-Pass": "h"}, {}, "h"),
        ({}, {"shield_pass": "c"}, "c"),
        ({"Shield-Pass": "h"}, {"shield_pass": "c"}, "h"),
        ({}, {}, None),
    ],
    ids=["header", "cookie", "header-first", "none"],
)
def test_read_pass(headers: dict[str, str], cookies: dict[str, str], expected: str | None) -> None:
    assert read_pass(headers, cookies) == expected


@given(st.text(max_size=300))
def test_check_pass_never_raises(value: str) -> None:
    assert check_pass(SECRET, value, binding=ALICE, now=NOW) is False
