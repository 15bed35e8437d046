"""redact_text's shortcut (no key word, no regex) masks exactly what the regex alone masks."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shield.observe.logs import MASK, redact_text
from shield.observe.secret_text import _IN_TEXT

WORDS = [
    "password", "passwd", "authorization", "proxy-authorization", "set-cookie", "cookie", "token", "secret",
    "shield-challenge-response", "shield-pass", "x-api-key", "PassWord", "TOKEN", "Cookie", "pass", "host",
]
# Letters IGNORECASE matches to ASCII ones that lower() does not turn into them (long s, Kelvin sign)
UNICODE_TWINS = [
    "pa\u017f\u017fword", "Kelvin", "x-api-\u212aey", "\u017fecret", "to\u212aen", "\u017fhield-pa\u017f\u017f",
]
PIECES = st.sampled_from([*WORDS, *UNICODE_TWINS, ":", "=", " ", '"', "'", ": ", "=x", "127.0.0.1:8080", "é", "\0"])


def reference(text: str) -> str:
    return _IN_TEXT.sub(lambda m: f"{m['key']}{m['sep']}{MASK}", text)


@given(st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=12).map("".join))
@example("pa\u017f\u017fword=hunter2")
@example("x-api-\u212aey: k")
@example("shop.example:8443")
def test_redact_text_is_the_regex(text: str) -> None:
    assert redact_text(text) == reference(text)


@pytest.mark.parametrize("text", ["pa\u017f\u017fword=hunter2", "to\u212aen: abc", "\u017fecret='s'"])
def test_unicode_twins_of_key_names_are_masked(text: str) -> None:
    assert MASK in redact_text(text)


@pytest.mark.parametrize("word", WORDS)
@pytest.mark.parametrize("sep", ["=", ": ", '": "'])
def test_every_key_name_is_masked_as_the_regex_masks_it(word: str, sep: str) -> None:
    text = f"x {word}{sep}v1 y"
    assert redact_text(text) == reference(text)
