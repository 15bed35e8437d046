"""Regexes written by operators and rule authors, compiled once at load with RE2: matching is linear in the text.

security: a backtracking engine (Python's `re`) spends 2^n steps on `^([a-zA-Z]+)*$` against n letters and a '!'
(29 letters took 20 s) and the event loop, proxy and admin, stall with it. RE2 has no backtracking, so a pattern
that needs it (backreferences, lookaround, atomic groups, possessive quantifiers) is refused at load with the
offset of the construct, and every accepted pattern runs in time proportional to the text.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import re2

RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr as free text


class LinearPattern(Protocol):
    """The part of a compiled pattern shield uses (RE2's and Python's `re` both have it)."""

    def search(self, text: str) -> object | None: ...

    def fullmatch(self, text: str) -> object | None: ...


class RegexRefused(ValueError):
    """A pattern that does not compile, or needs backtracking; `offset` is where in the pattern."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


# The constructs RE2 refuses because they need backtracking, found by their opening text.
_OPENERS = (
    ("(?<=", "lookaround"),
    ("(?<!", "lookaround"),
    ("(?=", "lookaround"),
    ("(?!", "lookaround"),
    ("(?>", "atomic group"),
)


class _Linear:
    """An RE2 pattern that also takes text UTF-8 cannot encode (a lone surrogate reads as U+FFFD)."""

    __slots__ = ("_rx",)

    def __init__(self, rx: Any) -> None:
        self._rx = rx

    def search(self, text: str) -> object | None:
        try:
            return self._rx.search(text)  # type: ignore[no-any-return]
        except UnicodeEncodeError:  # security: a client-sent lone surrogate must not raise out of a rule
            return self._rx.search(_scrub(text))  # type: ignore[no-any-return]

    def fullmatch(self, text: str) -> object | None:
        try:
            return self._rx.fullmatch(text)  # type: ignore[no-any-return]
        except UnicodeEncodeError:
            return self._rx.fullmatch(_scrub(text))  # type: ignore[no-any-return]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _scrub(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)  # one character for one: `.` still matches it


def compile_linear(pattern: str) -> LinearPattern:
    """`pattern` compiled with RE2, or RegexRefused saying why not and where."""
    try:
        compiled = re2.compile(pattern, RE2_OPTIONS)
    except re2.error as exc:
        raise _refusal(pattern, exc) from None
    except UnicodeEncodeError:
        raise RegexRefused("a regular expression must be valid Unicode (no lone surrogates)", 0) from None
    return _Linear(compiled)


def _refusal(pattern: str, exc: Exception) -> RegexRefused:
    try:
        re.compile(pattern)  # only parsed, never run: the syntax errors keep Python's precise message and offset
    except re.error as e:
        return RegexRefused(f"bad regular expression: {e.msg}", e.pos or 0)
    found = backtracking_construct(pattern)
    if found is not None:
        what, offset = found
        return RegexRefused(f"cannot run in linear time (RE2): {what}", offset)
    reason = str(exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc)
    fragment = reason.rsplit(": ", 1)[-1]
    return RegexRefused(f"not supported by RE2: {reason}", max(pattern.find(fragment), 0))


def backtracking_construct(pattern: str) -> tuple[str, int] | None:
    """The first construct of `pattern` that only a backtracking engine can run, and its offset."""
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            escape = _escape(pattern, i)
            if escape is not None and not in_class:
                return escape, i
            i += 2
        elif in_class:
            in_class = c != "]"
            i += 1
        elif c == "[":
            i += 2 if pattern.startswith("[^]", i) else 1
            i += 1 if i < n and pattern[i] == "]" else 0  # a ']' first in a class is a literal
            in_class = True
        elif c == "(":
            for opener, what in _OPENERS:
                if pattern.startswith(opener, i):
                    return f"{what} {opener}", i
            if pattern.startswith("(?P=", i):
                end = pattern.find(")", i)
                return f"backreference {pattern[i : end + 1 if end > 0 else n]}", i
            i += 1
        elif c == "+" and i > 0 and pattern[i - 1] in "*+?}" and (i < 2 or pattern[i - 2] != "\\"):
            return f"possessive quantifier {pattern[i - 1 : i + 1]}", i - 1
        else:
            i += 1
    return None


def _escape(pattern: str, i: int) -> str | None:
    nxt = pattern[i + 1 : i + 2]
    if nxt.isdigit() and nxt != "0":
        return f"backreference \\{nxt}"
    if nxt == "g":
        return "backreference \\g"
    if nxt == "Z":
        return "\\Z (write \\z or $)"
    return None
