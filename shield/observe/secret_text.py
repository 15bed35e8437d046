"""Secrets inside free text: `password=x`, `'password': 'x'`, `"Authorization": "Bearer x"`, `Cookie: a=b`.

Compiled (pyproject [tool.shield] compiled): every log line's text values go through `redact_text`,
the decision line's host (with its port) on every protected request: interpreted, it cost ~1.7k
more instructions per decision line (callgrind, live worker).
"""

from __future__ import annotations

import re

MASK = "[redacted]"

# The same names inside free text (exception messages, reprs): `password=x`, `'password': 'x'`,
# `"Authorization": "Bearer x"`, `Cookie: a=b`.
_IN_TEXT = re.compile(
    r"""(?ix)
    (?P<key>["']?(?:password|passwd|authorization|proxy-authorization|set-cookie|cookie|token|secret
        |shield-challenge-response|shield-pass|x-api-key)["']?)
    (?P<sep>\s*[:=]\s*)
    (?P<val>"[^"]*"|'[^']*'|[^\s,;&}\])]+(?:[ ][^\s,;&}\])]+)?)
    """
)

# Every name `_IN_TEXT` matches contains one of these (lower-case): an ASCII text without any cannot match.
_KEY_WORDS = ("passw", "authorization", "cookie", "token", "secret", "shield-challenge-response", "shield-pass",
              "x-api-key")


def may_match(text: str) -> bool:
    """False when `_IN_TEXT` cannot match `text` (nor any part of it): no `:` or `=`, or ASCII without a key name.

    A host with its port, a user agent with a colon: the regex costs ~7 us on such a text, these
    substring tests well under one. Only for ASCII text: IGNORECASE also matches some non-ASCII letters
    to ASCII ones (the long s to `s`, the Kelvin sign to `k`), which lower() does not."""
    if ":" not in text and "=" not in text:  # the common case (ids, paths, addresses)
        return False
    if not text.isascii():
        return True
    low = text.lower()
    for word in _KEY_WORDS:  # noqa: SIM110 (a generator for any() costs more than the loop)
        if word in low:
            return True
    return False


def redact_text(text: str) -> str:
    """Mask `name=value` style secrets inside free text."""
    if not may_match(text):
        return text
    return _IN_TEXT.sub(lambda m: f"{m['key']}{m['sep']}{MASK}", text)
