"""The differential test of the forwarding leg (issue 12): generated request shapes go over a real
socket through shield, both upstream clients, to an upstream that parses with h11, the
independent oracle. h11 also reads what the client sent; the upstream must see exactly the
requests shield answered for, each with the client's method, target and body bytes (framing
may differ, the body may not), never one more; shield's refusals are 4xx, its answers valid HTTP.

CI runs a bounded number of examples; `./dev fuzz` runs the same properties long
(SHIELD_FUZZ_PROFILE=fuzz, SHIELD_FUZZ_EXAMPLES=N).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fixtures.recorder import Recorded
from tests.fixtures.threaded_shield import CLIENTS, ThreadedShields
from tests.proxy.request_shapes import SMUGGLED, Answer, Parsed, Shape, next_method, oracle, shapes, talk

FUZZ = os.environ.get("SHIELD_FUZZ_PROFILE") == "fuzz"
EXAMPLES = int(os.environ.get("SHIELD_FUZZ_EXAMPLES", "20000")) if FUZZ else 120
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
REFUSED = {400, 413, 414, 431}  # what shield (or its HTTP server) answers instead of forwarding


@pytest.fixture(scope="module")
def shields() -> Iterator[ThreadedShields]:
    with ThreadedShields() as running:
        yield running


def _same(got: Recorded, want: Parsed) -> bool:
    return (got.method, got.target, got.body) == (want.method, want.target, want.body)


def _framing_is_shields(got: Recorded) -> None:
    """One way to read the body, written by shield: never two lengths, never CL with TE."""
    lengths, te = got.header(b"content-length"), got.header(b"transfer-encoding")
    assert len(lengths) <= 1, got.headers
    assert not (lengths and te), got.headers
    assert te in ([], [b"chunked"]), te
    assert len(got.header(b"host")) == 1
    # Shield-* (and its `_` spellings) are shield's own (shield.proxy.header_policy): never the client's
    # to send on. A name that only begins with the word (`Shield`, `Shieldsquare`) is the app's.
    assert not [n for n, _ in got.headers if n.replace(b"_", b"-").startswith(b"shield-")]


def check(shields: ThreadedShields, client: str, shape: Shape) -> list[Answer]:
    parsed, ending, rest = oracle(shape.wire)
    recorder = shields.recorder
    start, errors = len(recorder.requests), len(recorder.errors)
    # One answer per request h11 reads (a HEAD answer has no body), one more for a refused tail.
    methods = [p.method for p in parsed] + ([next_method(rest)] if ending != "clean" else [])
    answers = talk(shields.urls[client], shape, methods, half_close=shape.close_at is not None)
    shields.settle()
    upstream = recorder.requests[start:]
    # The bytes shield wrote upstream are valid HTTP/1.1 to an independent parser.
    assert recorder.errors[errors:] == []
    # No smuggling: the upstream read a prefix of what h11 reads in the client's bytes, in order,
    # body for body; a request h11 does not see (hidden in a body, past a refusal) never arrives.
    assert len(upstream) <= len(parsed), (upstream, parsed, ending)
    assert all(_same(u, p) for u, p in zip(upstream, parsed, strict=False)), (upstream, parsed)
    for got in upstream:
        _framing_is_shields(got)
    for i, answer in enumerate(answers):
        if answer.seen is None:  # shield's own answer: a refusal, and the last on this connection
            assert answer.status in REFUSED, answers
            assert i == len(answers) - 1, answers
        else:  # the upstream's answer: to exactly the request the client sent in this place
            assert i < len(parsed), (answers, parsed)
            assert _same(recorder.requests[answer.seen - 1], parsed[i]), (answers, parsed)
    if ending == "clean" and shape.close_at is None and (not answers or answers[-1].seen is not None):
        assert len(answers) == len(parsed), (answers, parsed)  # nothing accepted went unanswered
    return answers


@pytest.mark.parametrize("client", CLIENTS)
@PROFILE
@given(shape=shapes())
def test_the_upstream_reads_exactly_what_shield_accepted(shields: ThreadedShields, client: str, shape: Shape) -> None:
    check(shields, client, shape)


# -- the classic shapes, pinned: CL.TE, TE.CL, TE.TE obfuscations, length games ---------------

_POST = b"POST /anything HTTP/1.1\r\nHost: x\r\n"
_CHUNKED_SMUGGLE = b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED)
CLASSIC = {
    "cl-te": b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s" % (5 + len(SMUGGLED), SMUGGLED),
    "te-cl": b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" + _CHUNKED_SMUGGLE,
    "te-space-before-colon": b"Transfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\n" + _CHUNKED_SMUGGLE,
    "te-xchunked": b"Transfer-Encoding: xchunked\r\nContent-Length: 3\r\n\r\n" + _CHUNKED_SMUGGLE,
    "te-chunk": b"Transfer-Encoding: chunk\r\nContent-Length: 3\r\n\r\n" + _CHUNKED_SMUGGLE,
    "te-twice-second-bogus": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n" + _CHUNKED_SMUGGLE,
    "te-chunked-identity": b"Transfer-Encoding: chunked, identity\r\nContent-Length: 3\r\n\r\n" + _CHUNKED_SMUGGLE,
    "te-identity-chunked": b"Transfer-Encoding: identity, chunked\r\nContent-Length: 3\r\n\r\n" + _CHUNKED_SMUGGLE,
    "te-vertical-tab": b"Transfer-Encoding:\x0bchunked\r\nContent-Length: 3\r\n\r\n" + _CHUNKED_SMUGGLE,
    "te-nul": b"Transfer-Encoding: chunked\x00\r\nContent-Length: 3\r\n\r\n" + _CHUNKED_SMUGGLE,
    "te-obs-fold": b"Transfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\n" + _CHUNKED_SMUGGLE,
    "te-leading-space-line": b"X: y\r\n Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" + _CHUNKED_SMUGGLE,
    "te-bare-lf": b"X: y\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" + _CHUNKED_SMUGGLE,
    "te-underscore": b"Transfer_Encoding: chunked\r\nContent-Length: 3\r\n\r\n" + _CHUNKED_SMUGGLE,
    "te-quoted": b'Transfer-Encoding: "chunked"\r\nContent-Length: 3\r\n\r\n' + _CHUNKED_SMUGGLE,
    "cl-cl-conflict": b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED),
    "cl-plus": b"Content-Length: +%d\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED),
    "cl-negative": b"Content-Length: -1\r\n\r\n" + SMUGGLED,
    "cl-hex": b"Content-Length: 0x%x\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED),
    "cl-list-conflict": b"Content-Length: 0, %d\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED),
    "cl-space-inside": b"Content-Length: 1 %d\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED),
    "cl-overflow": b"Content-Length: 18446744073709551617\r\n\r\n" + SMUGGLED,
    "chunk-size-overflow": b"Transfer-Encoding: chunked\r\n\r\n10000000000000001\r\nx\r\n0\r\n\r\n" + SMUGGLED,
    "chunk-size-0x": b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n" + SMUGGLED,
    "chunk-bare-lf": b"Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n" + SMUGGLED,
    "chunk-ext-bare-lf": b"Transfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n" + SMUGGLED,
    "connection-content-length": b"Connection: Content-Length\r\nContent-Length: %d\r\n\r\n%s" % (
        len(SMUGGLED), SMUGGLED),
    "connection-transfer-encoding": b"Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n"
    + _CHUNKED_SMUGGLE,
}


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_classic_smuggling_shapes_are_refused(shields: ThreadedShields, client: str, name: str) -> None:
    shape = Shape(_POST + CLASSIC[name], None)
    start = len(shields.recorder.requests)
    answers = check(shields, client, shape)
    assert [a.status for a in answers][:1] == [400], answers
    # This test's requests only: the generated shapes before it may pipeline /smuggled openly (a
    # `cl-short` body of SMUGGLED repeated, cut on a copy's boundary), which shield rightly forwards.
    assert not any(r.target == b"/smuggled" for r in shields.recorder.requests[start:])
