"""Answers for decisions that stop a request, and the tag headers of the ones that go upstream."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.http import HttpVersion, HttpVersion10, HttpVersion11
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from shield.challenge.pow import Binding, issue
from shield.model import Action, Decision, RuleHit
from shield.proxy.respond import (
    Canned,
    _rendered,
    banned,
    banned_wire,
    blocked,
    canned_wire,
    rate_limited,
    refusal,
    strip_shield_headers,
    tag_headers,
    wire_answer,
)

CHALLENGE = issue(b"k" * 32, binding=Binding("10.0.0.1", "login", "fp"), difficulty=4, now=1000.0, ttl=60)


@pytest.mark.parametrize(
    ("decision", "status", "headers", "body"),
    [
        pytest.param(
            Decision(Action.BLOCK, 120),
            403,
            {"Shield-Mitigated": "block"},
            {"error": "blocked", "request_id": "r1"},
            id="block",
        ),
        pytest.param(
            Decision(Action.BLOCK, 90, rate_limited=True, retry_after_s=30),
            429,
            {"Shield-Mitigated": "block", "Retry-After": "30"},
            {"error": "rate_limited", "request_id": "r1"},
            id="rate-limited",
        ),
        pytest.param(
            Decision(Action.BLOCK, 90, rate_limited=True, retry_after_s=0),
            429,
            {"Shield-Mitigated": "block", "Retry-After": "1"},
            {"error": "rate_limited", "request_id": "r1"},
            id="rate-limited-retry-at-least-1s",
        ),
        pytest.param(
            Decision(Action.BAN, 200, ban_scope="ip", ban_ttl=3600, reasons=("stuffing",)),
            403,
            {"Shield-Mitigated": "ban"},
            {"error": "blocked", "request_id": "r1"},
            id="ban-hides-scope-and-reason",
        ),
        pytest.param(
            Decision(Action.CHALLENGE, 60, difficulty=4),
            403,
            {"Shield-Mitigated": "challenge"},
            {"error": "challenge_required", "challenge": CHALLENGE.as_json(), "request_id": "r1"},
            id="challenge",
        ),
    ],
)
def test_refusal_answers(decision: Decision, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
    response = refusal(decision, "r1", challenge=CHALLENGE, accept="application/json")
    assert response is not None
    assert response.status == status
    assert {k: response.headers[k] for k in headers} == headers
    assert response.headers["Cache-Control"] == "no-store"
    assert response.content_type == "application/json"
    assert orjson.loads(response.body) == body  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "decision",
    [
        Decision(Action.ALLOW, 0),
        Decision(Action.TAG, 30),
        Decision(Action.DELAY, 50, delay_s=2),
        Decision(Action.BLOCK, 120, enforced=False),
        Decision(Action.BAN, 200, enforced=False),
    ],
    ids=["allow", "tag", "delay", "block-in-shadow", "ban-in-shadow"],
)
def test_no_refusal_for_forwarded_or_shadow_decisions(decision: Decision) -> None:
    assert refusal(decision, "r1", challenge=CHALLENGE) is None


def test_challenge_without_a_puzzle_fails_closed() -> None:
    response = refusal(Decision(Action.CHALLENGE, 60), "r1")
    assert response is not None
    assert (response.status, response.headers["Shield-Mitigated"]) == (403, "block")


def test_blocked_body_is_exactly_error_and_request_id() -> None:
    assert orjson.loads(blocked("abc").body) == {"error": "blocked", "request_id": "abc"}  # type: ignore[arg-type]


def test_tag_headers_name_score_action_and_matched_rules() -> None:
    decision = Decision(
        Action.TAG,
        35,
        hits=(RuleHit("new_country", 20), RuleHit("hosting_asn", 15)),
        shadow_hits=(RuleHit("experimental", 50, shadow=True),),
    )
    assert tag_headers(decision) == {
        "Shield-Score": "35",
        "Shield-Action": "tag",
        "Shield-Reasons": "new_country,hosting_asn",
    }


def test_tag_reasons_are_bounded() -> None:
    decision = Decision(Action.TAG, 1, hits=tuple(RuleHit(f"r{i}", 1) for i in range(100)))
    assert len(tag_headers(decision)["Shield-Reasons"].split(",")) == 32


def test_client_sent_shield_headers_are_stripped_case_insensitively() -> None:
    incoming = CIMultiDict(
        [
            ("Host", "app"),
            ("shield-score", "0"),
            ("SHIELD-ACTION", "allow"),
            ("Shield-Reasons", "trusted"),
            ("Shield-Pass", "x"),
            ("Shield-Challenge-Response", "t.1"),
            ("X-Shield-Note", "kept: not a Shield-* header"),
            ("Accept", "a"),
            ("Accept", "b"),
        ]
    )
    out = strip_shield_headers(incoming.items())
    assert list(out.items()) == [
        ("Host", "app"),
        ("X-Shield-Note", "kept: not a Shield-* header"),
        ("Accept", "a"),
        ("Accept", "b"),
    ]


@pytest.mark.parametrize(
    ("action", "solved", "expected"),
    [
        pytest.param(Action.TAG, True, "solved", id="tag-after-solving"),
        pytest.param(Action.ALLOW, True, "solved", id="allow-after-solving"),
        pytest.param(Action.DELAY, True, "solved", id="delay-after-solving"),
        pytest.param(Action.TAG, False, None, id="tag-without-solving"),
    ],
)
def test_a_solved_challenge_is_told_upstream_whatever_the_forwarded_action(
    action: Action, solved: bool, expected: str | None
) -> None:
    from shield.proxy.respond import upstream_tags

    decision = Decision(action, 35, hits=(RuleHit("challenge_hard", 75),))
    tags = upstream_tags(decision, solved=solved) or {}
    assert tags.get("Shield-Challenge") == expected
    assert tags["Shield-Reasons"] == "challenge_hard"


# -- the pre-rendered refusals: the very bytes aiohttp would write for the same answer ------------

_SHAPES = [
    pytest.param("GET", "1.1", "", id="http11-keepalive"),
    pytest.param("POST", "1.1", "Connection: close\r\n", id="http11-close"),
    pytest.param("GET", "1.0", "", id="http10"),
    pytest.param("GET", "1.0", "Connection: keep-alive\r\n", id="http10-keepalive"),
    pytest.param("HEAD", "1.1", "", id="head"),
]


def _reference(status: int, error: str, mitigated: str, extra: dict[str, str]) -> web.Response:
    """What respond.py built before the pre-rendered answers: a plain aiohttp Response."""
    headers = {"Shield-Mitigated": mitigated, "Cache-Control": "no-store", "X-Request-ID": "rid-7", **extra}
    body = orjson.dumps({"error": error, "request_id": "rid-7"})
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


async def _answer_bytes(make: Any, method: str, version: str, connection: str) -> bytes:
    async def handler(_request: web.Request) -> web.StreamResponse:
        return make()  # type: ignore[no-any-return]

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.SockSite(runner, socket.create_server(("127.0.0.1", 0)))
    await site.start()
    try:
        port = site._sock.getsockname()[1]  # type: ignore[union-attr]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"{method} /x HTTP/{version}\r\nHost: t\r\n{connection}\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
        body = b"" if method == "HEAD" else await asyncio.wait_for(reader.readexactly(length), 2)
        writer.close()
        return re.sub(rb"Date: [^\r]+", b"Date: -", head + body)
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("method", "version", "connection"), _SHAPES)
@pytest.mark.parametrize(
    ("make", "status", "error", "mitigated", "extra"),
    [
        pytest.param(lambda: banned("rid-7"), 403, "blocked", "ban", {}, id="banned"),
        pytest.param(lambda: blocked("rid-7"), 403, "blocked", "block", {}, id="blocked"),
        pytest.param(lambda: rate_limited("rid-7", 5), 429, "rate_limited", "block", {"Retry-After": "5"}, id="429"),
    ],
)
async def test_a_pre_rendered_refusal_is_byte_for_byte_the_aiohttp_answer(
    make: Any, status: int, error: str, mitigated: str, extra: dict[str, str], method: str, version: str,
    connection: str,
) -> None:
    assert isinstance(make(), Canned)
    canned = await _answer_bytes(make, method, version, connection)
    reference = await _answer_bytes(lambda: _reference(status, error, mitigated, extra), method, version, connection)
    assert canned == reference


def test_a_request_id_that_needs_escaping_is_not_spliced_raw() -> None:
    answer = banned('a"b')
    assert not isinstance(answer, Canned)
    assert orjson.loads(answer.body)["request_id"] == 'a"b'  # type: ignore[arg-type]


_PLAIN_IDS = st.text("abcdefABCDEF0123456789._:+/=-", min_size=1, max_size=128)


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(_PLAIN_IDS, min_size=1, max_size=6), version=st.sampled_from([HttpVersion10, HttpVersion11]),
       keep_alive=st.booleans(), head_only=st.booleans())
def test_the_ban_answer_cut_around_its_id_is_the_answer_rendered_for_that_id(
    ids: list[str], version: HttpVersion, keep_alive: bool, head_only: bool
) -> None:
    """banned_wire renders each shape once a second and joins it around each id: ids of other
    lengths, one after the other, must still get their own Content-Length and body, byte for byte."""
    for rid in ids:
        head, raw = _rendered(403, "blocked", rid, "ban", ())
        expected = wire_answer(version, 403, "Forbidden", head, raw, keep_alive=keep_alive, head_only=head_only)
        assert banned_wire(rid, version, keep_alive=keep_alive, head_only=head_only) == expected


@pytest.mark.parametrize("version", [HttpVersion10, HttpVersion11])
def test_canned_answers_of_one_second_keep_their_own_shape(version: HttpVersion) -> None:
    """Each refusal's bytes come cut from a rendering kept for the second: a 429 of another
    Retry-After, a block, a ban, with ids of one length, one after the other, are each their own."""
    shapes = [(429, "rate_limited", "block", (("Retry-After", "5"),)),
              (429, "rate_limited", "block", (("Retry-After", "30"),)),
              (403, "blocked", "block", ()), (403, "blocked", "ban", ())]
    for rid in ("a" * 24, "b" * 24):
        for status, error, mitigated, extras in shapes:
            head, raw = _rendered(status, error, rid, mitigated, extras)
            reason = "Too Many Requests" if status == 429 else "Forbidden"
            expected = wire_answer(version, status, reason, head, raw, keep_alive=True, head_only=False)
            wire = canned_wire((status, error, mitigated, extras), rid, version, keep_alive=True, head_only=False)
            assert wire == expected
