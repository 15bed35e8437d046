"""The header table has two views, str (aiohttp forwarder) and bytes (h1 head): they agree."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shield.proxy.header_policy import FRAMING, FROM_TRUSTED_ONLY, HOP_BY_HOP, SET_BY_SHIELD, HeaderPolicy

POLICY = HeaderPolicy.build(tls_fingerprint_header="X-JA4")
TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
KNOWN = sorted(HOP_BY_HOP | SET_BY_SHIELD | FROM_TRUSTED_ONLY | FRAMING | {"shield-score", "x-ja4", "cookie"})


def _spellings(name: str) -> list[str]:
    return [name, name.replace("-", "_"), "x-" + name, name + "_"]


@pytest.mark.parametrize("name", [s for n in KNOWN for s in _spellings(n)])
@pytest.mark.parametrize("trusted", [True, False])
def test_both_views_drop_the_same_known_names(name: str, trusted: bool) -> None:
    assert POLICY.drops(name, trusted=trusted) == POLICY.drops_raw(name.encode(), trusted=trusted)


@given(name=st.text(TCHAR, min_size=1, max_size=24), trusted=st.booleans())
def test_both_views_agree_on_any_name(name: str, trusted: bool) -> None:
    assert POLICY.drops(name, trusted=trusted) == POLICY.drops_raw(name.encode(), trusted=trusted)


@given(st.lists(st.sampled_from(["a=1", " b=2", "shield_pass=x", " shield_pass=y", "c", " d=\"q\"", ""]), max_size=5))
def test_both_views_cut_the_pass_cookie_alike(parts: list[str]) -> None:
    value = ";".join(parts)
    raw = POLICY.cookie_raw(value.encode())
    assert POLICY.cookie(value) == (None if raw is None else raw.decode())
    assert b"shield_pass" not in (raw or b"")


def test_what_shield_sets_and_what_it_never_forwards() -> None:
    assert {n for n in KNOWN if POLICY.drops(n, trusted=False)} == (
        (HOP_BY_HOP | SET_BY_SHIELD | FROM_TRUSTED_ONLY | {"shield-score", "x-ja4"}) - {"cookie"}
    )
    assert {n for n in KNOWN if POLICY.drops(n, trusted=True)} == HOP_BY_HOP | SET_BY_SHIELD | {"shield-score", "x-ja4"}


@pytest.mark.parametrize("name", ["shield", "shieldsquare", "x-shield-score", "shield.score"])
def test_a_name_outside_the_shield_dash_prefix_is_the_apps(name: str) -> None:
    """Only Shield-* (and its `_` spelling) is shield's namespace; the differential test once read
    any name starting with `shield` as shield's and failed on a generated `SHIELD:` header."""
    assert not POLICY.drops(name, trusted=False)
    assert not POLICY.drops_raw(name.encode(), trusted=False)
