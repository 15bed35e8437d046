from __future__ import annotations

import pytest

from shield.facts.identity.keyed import Keyer

SECRET = b"test-secret-0123456789abcdef"


@pytest.fixture
def keyer() -> Keyer:
    return Keyer(SECRET)


def test_ids_are_stable_for_one_secret(keyer: Keyer) -> None:
    assert keyer.account_id("alice@example.com") == Keyer(SECRET).account_id("alice@example.com")


def test_ids_differ_under_another_secret(keyer: Keyer) -> None:
    assert keyer.account_id("alice") != Keyer(b"another-secret-0123456789").account_id("alice")


def test_kinds_are_domain_separated(keyer: Keyer) -> None:
    assert keyer.account_id("hunter2") != keyer.password_id("hunter2")


@pytest.mark.parametrize(
    ("a", "b"),
    [(("ab", "c"), ("a", "bc")), (("alice", "pw"), ("alice", "pw2")), (("alice", "pw"), ("bob", "pw"))],
    ids=["shifted-boundary", "other-password", "other-account"],
)
def test_pair_ids_do_not_collide(keyer: Keyer, a: tuple[str, str], b: tuple[str, str]) -> None:
    assert keyer.pair_id(*a) != keyer.pair_id(*b)


def test_ids_are_short_url_safe_and_hide_the_input(keyer: Keyer) -> None:
    pid = keyer.password_id("correct horse battery staple")
    assert len(pid) == 22
    assert set(pid) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert "horse" not in pid


def test_lone_surrogate_password_hashes_instead_of_raising(keyer: Keyer) -> None:
    assert keyer.password_id("\ud800") != keyer.password_id("\ud801")


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="SHIELD_SECRET"):
        Keyer(b"short")


def test_signed_value_verifies(keyer: Keyer) -> None:
    assert keyer.verify(keyer.sign("abc")) == "abc"


@pytest.mark.parametrize(
    "token",
    ["", ".", "abc", "abc.", ".sig", "abc.AAAAAAAAAAAAAAAAAAAAAA", "ab\u00e9.x", "a.b.c"],
    ids=["empty", "dot", "no-signature", "empty-signature", "no-value", "wrong-signature", "non-ascii", "extra-dots"],
)
def test_forged_or_malformed_tokens_are_refused(keyer: Keyer, token: str) -> None:
    assert keyer.verify(token) is None


def test_token_signed_under_another_secret_is_refused(keyer: Keyer) -> None:
    assert keyer.verify(Keyer(b"another-secret-0123456789").sign("abc")) is None


def test_tampered_value_is_refused(keyer: Keyer) -> None:
    _, sig = keyer.sign("abc").split(".")
    assert keyer.verify(f"abd.{sig}") is None


@pytest.mark.parametrize("data", [b"", b"alice@example.com", b"x" * 200], ids=["empty", "short", "longer-than-block"])
def test_ids_are_standard_hmac_sha256(data: bytes) -> None:
    import base64
    import hmac

    derived = hmac.digest(SECRET, b"shield/v1/account", "sha256")
    expected = base64.urlsafe_b64encode(hmac.digest(derived, data, "sha256")[:16]).rstrip(b"=").decode()
    assert Keyer(SECRET).account_id(data.decode()) == expected


def test_ids_are_truncated_hmac_sha256_under_a_derived_key(keyer: Keyer) -> None:
    """The ids are store keys that outlive a restart: any faster code must compute exactly these."""
    import base64
    import hmac

    def reference(kind: bytes, data: bytes) -> str:
        key = hmac.digest(SECRET, b"shield/v1/" + kind, "sha256")
        return base64.urlsafe_b64encode(hmac.digest(key, data, "sha256")[:16]).rstrip(b"=").decode()

    for text in ("alice@example.com", "", "\u00e9\u4e2d", "\ud800", "x" * 200):
        raw = text.encode("utf-8", "surrogatepass")
        assert keyer.account_id(text) == reference(b"account", raw)
        assert keyer.password_id(text) == reference(b"password", raw)
        a = b"acct"
        assert keyer.pair_id("acct", text) == reference(b"pair", len(a).to_bytes(4, "big") + a + raw)
    assert keyer.sign("AAAA") == "AAAA." + reference(b"device-cookie", b"AAAA")
