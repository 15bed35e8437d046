"""The JSON of a decision line's values, piece by piece, as orjson writes them (tests/observe holds them to it).

The decision line (shield.observe.decision_log) is one `b"".join` of pre-encoded key pieces and the
values' pieces made here, not a dict of ~100 entries handed to orjson: its keys are the same on every
line, and most of its values (a counter's small integer, a bool, an action, a country, a user agent)
recur from line to line. A value whose piece may not recur (a request id, a float) goes through
`orjson.dumps`, so every piece is orjson's own encoding of that value.

security: a text piece is the encoding of the value *masked* as the redaction processor masks free
text (`redact_text`), and is kept by the text before masking: a cached piece never skips the masking.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import orjson

from shield.observe.secret_text import redact_text

T = TypeVar("T")

NULL: Final = b"null"
TRUE: Final = b"true"
FALSE: Final = b"false"
# the pieces of the integers most counters hold, made on first use (a counter's str() and encoding
# cost more than its lookup here)
SMALL_INTS: Final = 4096
_INTS: Final[list[bytes | None]] = [None] * SMALL_INTS
# the pieces of texts that recur (a country, a user agent, a route, a host): kept while they are few
# and short; an attacker's endless new texts only refill them (each miss costs what orjson costs)
MAX_CACHED: Final = 2048
MAX_CACHED_LEN: Final = 256
_TEXTS: Final[dict[str, bytes]] = {}  # masked, by the text before masking
_PLAIN: Final[dict[str, bytes]] = {}  # as is (the line's values made from no free text)
_HITS: Final[dict[str, tuple[int, bytes]]] = {}  # a rule hit's piece by its rule id, with its score


def value(v: Any) -> bytes:
    """`orjson.dumps(v, default=str)` for any value the line holds as is (no masking)."""
    if v is None:
        return NULL
    if v is True:
        return TRUE
    if v is False:
        return FALSE
    cls = type(v)  # type(): a pointer read compiled, where .__class__ is an attribute lookup
    if cls is int:
        return integer(v)
    if cls is str:
        return plain(v)
    return orjson.dumps(v, default=str)


def integer(v: int) -> bytes:
    if 0 <= v < SMALL_INTS:
        piece = _INTS[v]
        if piece is None:
            piece = _INTS[v] = orjson.dumps(v)
        return piece
    return orjson.dumps(v)


def plain(v: str) -> bytes:
    """The piece of a text the line holds as is (an enum value, a rule id, a fingerprint, a scope)."""
    piece = _PLAIN.get(v)
    if piece is None:
        piece = orjson.dumps(v)
        _keep(_PLAIN, v, piece)
    return piece


def text(v: Any) -> bytes:
    """The piece of a free-text value (a TEXT_KEYS value, a fact's text): masked as `_write_vouched`
    masks one (`redact_text` where a `:` or `=` is), then encoded."""
    if v is None:
        return NULL
    if type(v) is not str:
        return orjson.dumps(masked(v), default=str)
    s: str = v
    piece = _TEXTS.get(s)
    if piece is None:
        piece = orjson.dumps(masked(s))
        _keep(_TEXTS, s, piece)
    return piece


def _keep(cache: dict[str, T], key: str, piece: T) -> None:
    """Keep a short text's piece; a full cache starts over (an attacker's endless texts only refill it)."""
    if len(key) <= MAX_CACHED_LEN:
        if len(cache) >= MAX_CACHED:
            cache.clear()
        cache[key] = piece


def masked(v: Any) -> Any:
    """`redact_text(v)` for a string (its regex only where a `:` or `=` is), else v."""
    if isinstance(v, str) and (":" in v or "=" in v):
        return redact_text(v)
    return v


def fresh(v: Any) -> bytes:
    """`value(v)` for a value that seldom recurs (an address, a keyed hash): not kept."""
    if v is None:
        return NULL
    if type(v) is str:
        return orjson.dumps(v)  # no default: its keyword costs a fifth of the call
    return orjson.dumps(v, default=str)


def hits(p: list[bytes], found: tuple[Any, ...]) -> None:
    """`[{"id": h.id, "score": h.score} for h in found]`'s JSON (rule hits), appended to a line's
    pieces: each hit's piece is kept by its rule id with its score (a rule's score seldom changes)."""
    if not found:
        p.append(b"[]")
        return
    sep = b"["
    for h in found:
        rule, score = h.id, h.score
        if type(rule) is str and type(score) is int:
            n: int = score
            kept = _HITS.get(rule)
            if kept is not None and kept[0] == n:
                piece = kept[1]
            else:
                piece = b'{"id":' + plain(rule) + b',"score":' + integer(n) + b"}"
                _keep(_HITS, rule, (n, piece))
        else:
            piece = b'{"id":' + value(rule) + b',"score":' + value(score) + b"}"
        p.append(sep)
        p.append(piece)
        sep = b","
    p.append(b"]")


def fresh_text(v: Any) -> bytes:
    """`text(v)` for a text that seldom recurs (a request id, a device id): not kept."""
    if v is None:
        return NULL
    return orjson.dumps(masked(v), default=str)
