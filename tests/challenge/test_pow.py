"""Stateless PoW puzzles: what verifies, and every way a solution is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
import redis.asyncio
from hypothesis import given
from hypothesis import strategies as st

from shield.challenge import pow
from shield.challenge.client import solve, solve_nonce
from shield.challenge.pow import Binding, VerifyStatus, issue, verify
from shield.store.base import Store
from shield.store.memory import MemoryStore
from shield.store.redis import RedisStore

SECRET = b"s" * 32
NOW = 1_700_000_000.0
ALICE = Binding(client="10.10.1.2", route="login", fingerprint="fp-a")


def solved(difficulty: int = 8, binding: Binding = ALICE, ttl: int = 300) -> str:
    return solve(issue(SECRET, binding=binding, difficulty=difficulty, now=NOW, ttl=ttl).as_json())


def unsolved(difficulty: int = 16) -> str:
    """A token with a nonce that does not meet the difficulty."""
    challenge = issue(SECRET, binding=ALICE, difficulty=difficulty, now=NOW, ttl=300)
    seed = pow.b64url_decode(challenge.seed)
    nonce = next(n for n in range(10_000) if not pow.work_ok(seed, str(n), difficulty))
    return f"{challenge.token}.{nonce}"


def test_issued_challenge_has_the_protocol_fields() -> None:
    challenge = issue(SECRET, binding=ALICE, difficulty=12, now=NOW, ttl=300)
    body = challenge.as_json()
    assert set(body) == {"type", "algorithm", "difficulty", "seed", "token", "expires_at"}
    assert (body["type"], body["algorithm"], body["difficulty"], body["expires_at"]) == ("pow", "sha256", 12, NOW + 300)
    assert len(pow.b64url_decode(challenge.seed)) == 16


def test_seeds_are_fresh_for_each_challenge() -> None:
    seeds = {issue(SECRET, binding=ALICE, difficulty=1, now=NOW, ttl=1).seed for _ in range(50)}
    assert len(seeds) == 50


@pytest.mark.parametrize(("asked", "got"), [(-5, 0), (0, 0), (20, 20), (33, 32), (10_000, 32)], ids=str)
def test_difficulty_is_capped(asked: int, got: int) -> None:
    assert issue(SECRET, binding=ALICE, difficulty=asked, now=NOW, ttl=60).difficulty == got


def test_python_client_solution_verifies() -> None:
    result = verify(SECRET, solved(12), binding=ALICE, now=NOW + 1)
    assert result.status is VerifyStatus.OK
    assert result.difficulty == 12
    assert result.replay_key
    assert result.replay_key.startswith("pow:")
    assert result.replay_ttl == 299


def test_solution_meets_the_nonce_rule_by_hand() -> None:
    challenge = issue(SECRET, binding=ALICE, difficulty=10, now=NOW, ttl=60)
    token, nonce = solve(challenge.as_json()).rsplit(".", 1)
    digest = hashlib.sha256(pow.b64url_decode(challenge.seed) + nonce.encode()).digest()
    assert token == challenge.token
    assert nonce.isdigit()
    assert int.from_bytes(digest, "big") >> (256 - 10) == 0


def _forge(value: str) -> str:
    """Same token with a flipped difficulty byte, re-encoded, MAC untouched."""
    token, nonce = value.rsplit(".", 1)
    raw = bytearray(pow.b64url_decode(token))
    raw[17] = 0  # difficulty byte (after version and 16-byte seed)
    return f"{pow.b64url_encode(bytes(raw))}.{nonce}"


def _resigned_with(secret: bytes, value: str) -> str:
    token, nonce = value.rsplit(".", 1)
    payload = pow.b64url_decode(token)[:-32]
    mac = hmac.new(secret, b"shield/pow/v1\x00" + payload, hashlib.sha256).digest()
    return f"{pow.b64url_encode(payload + mac)}.{nonce}"


@pytest.mark.parametrize(
    ("make", "binding", "at", "status"),
    [
        pytest.param(lambda: solved(), ALICE, NOW + 299, VerifyStatus.OK, id="ok-just-before-expiry"),
        pytest.param(lambda: solved(), ALICE, NOW + 300, VerifyStatus.EXPIRED, id="expired-at-expiry"),
        pytest.param(lambda: solved(), ALICE, NOW + 3600, VerifyStatus.EXPIRED, id="expired-long-after"),
        pytest.param(lambda: _forge(solved()), ALICE, NOW, VerifyStatus.BAD_SIGNATURE, id="forged-difficulty"),
        pytest.param(
            lambda: _resigned_with(b"other" * 8, solved()), ALICE, NOW, VerifyStatus.BAD_SIGNATURE, id="other-secret"
        ),
        pytest.param(
            lambda: solved(), Binding("10.10.1.3", "login", "fp-a"), NOW, VerifyStatus.WRONG_BINDING, id="other-ip"
        ),
        pytest.param(
            lambda: solved(), Binding("10.10.1.2", "reset", "fp-a"), NOW, VerifyStatus.WRONG_BINDING, id="other-route"
        ),
        pytest.param(
            lambda: solved(), Binding("10.10.1.2", "login", "fp-b"), NOW, VerifyStatus.WRONG_BINDING, id="other-fp"
        ),
        pytest.param(unsolved, ALICE, NOW, VerifyStatus.INSUFFICIENT_WORK, id="insufficient-work"),
        pytest.param(lambda: "", ALICE, NOW, VerifyStatus.MALFORMED, id="empty"),
        pytest.param(lambda: "abc", ALICE, NOW, VerifyStatus.MALFORMED, id="no-dot"),
        pytest.param(lambda: solved().rsplit(".", 1)[0] + ".12a", ALICE, NOW, VerifyStatus.MALFORMED, id="nonce-hex"),
        pytest.param(lambda: solved().rsplit(".", 1)[0] + ".", ALICE, NOW, VerifyStatus.MALFORMED, id="no-nonce"),
        pytest.param(lambda: solved().rsplit(".", 1)[0] + ".-1", ALICE, NOW, VerifyStatus.MALFORMED, id="neg-nonce"),
        pytest.param(
            lambda: solved().rsplit(".", 1)[0] + "." + "1" * 21, ALICE, NOW, VerifyStatus.MALFORMED, id="long-nonce"
        ),
        pytest.param(lambda: "A" * 10_000 + ".1", ALICE, NOW, VerifyStatus.MALFORMED, id="huge-header"),
        pytest.param(lambda: "AAAA.1", ALICE, NOW, VerifyStatus.MALFORMED, id="short-token"),
        pytest.param(lambda: "!!!!.1", ALICE, NOW, VerifyStatus.MALFORMED, id="not-base64url"),
        pytest.param(
            lambda: base64.b64encode(b"\xff" * 74).decode() + ".1", ALICE, NOW, VerifyStatus.MALFORMED, id="std-base64"
        ),
        pytest.param(lambda: "\u0663\u0663.\u0661", ALICE, NOW, VerifyStatus.MALFORMED, id="unicode-digits"),
    ],
)
def test_verify(make, binding: Binding, at: float, status: VerifyStatus) -> None:  # type: ignore[no-untyped-def]
    result = verify(SECRET, make(), binding=binding, now=at)
    assert result.status is status
    assert (result.replay_key is not None) is (status is VerifyStatus.OK)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Binding("a\x00b", "c", "d"), Binding("a", "b\x00c", "d")),
        (Binding("ab", "c", "d"), Binding("a", "bc", "d")),
        (Binding("", "", "x"), Binding("", "x", "")),
    ],
    ids=["separator-inside", "shifted-boundary", "empty-parts"],
)
def test_different_bindings_never_share_a_digest(a: Binding, b: Binding) -> None:
    assert a.digest() != b.digest()


def test_subnet_binding_accepts_a_new_address_in_the_same_subnet() -> None:
    def bind(ip: str) -> Binding:
        return Binding.of(ip=ip, subnet="100.64.3.0/24", route="login", fingerprint="fp", bind="subnet")

    value = solved(binding=bind("100.64.3.7"))
    assert verify(SECRET, value, binding=bind("100.64.3.200"), now=NOW).ok
    ip_bound = Binding.of(ip="100.64.3.200", subnet="100.64.3.0/24", route="login", fingerprint="fp", bind="ip")
    assert verify(SECRET, value, binding=ip_bound, now=NOW).status is VerifyStatus.WRONG_BINDING


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_replayed_solution_is_refused_by_claim_once(kind: str, request: pytest.FixtureRequest) -> None:
    store: Store = (
        MemoryStore()
        if kind == "memory"
        else RedisStore(redis.asyncio.from_url(request.getfixturevalue("redis_url")))
    )
    value = solved()
    first = verify(SECRET, value, binding=ALICE, now=NOW)
    again = verify(SECRET, value, binding=ALICE, now=NOW + 5)
    assert first.replay_key == again.replay_key
    assert await store.claim_once(first.replay_key or "", ttl=first.replay_ttl, now=NOW)
    assert not await store.claim_once(again.replay_key or "", ttl=again.replay_ttl, now=NOW + 5)
    await store.close()


def test_two_nonces_for_one_token_share_the_replay_key() -> None:
    challenge = issue(SECRET, binding=ALICE, difficulty=0, now=NOW, ttl=60)
    keys = {verify(SECRET, f"{challenge.token}.{n}", binding=ALICE, now=NOW).replay_key for n in range(5)}
    assert len(keys) == 1


def test_solve_nonce_finds_the_smallest_nonce() -> None:
    seed = b"\x01" * 16
    nonce = solve_nonce(seed, 8)
    assert pow.work_ok(seed, str(nonce), 8)
    assert not any(pow.work_ok(seed, str(n), 8) for n in range(nonce))


@pytest.mark.parametrize(
    ("headers", "cookies", "expected"),
    [
        ({"Shield-Challenge-Response": "t.1"}, {}, "t.1"),
        ({}, {"shield_challenge": "t.2"}, "t.2"),
        ({"Shield-Challenge-Response": "t.1"}, {"shield_challenge": "t.2"}, "t.1"),
        ({}, {}, None),
        ({"Shield-Challenge-Response": ""}, {}, None),
    ],
    ids=["header", "cookie", "header-wins", "none", "empty-header"],
)
def test_read_solution(headers: dict[str, str], cookies: dict[str, str], expected: str | None) -> None:
    assert pow.read_solution(headers, cookies) == expected


@given(st.text(max_size=400))
def test_verify_never_raises_on_arbitrary_input(value: str) -> None:
    assert verify(SECRET, value, binding=ALICE, now=NOW).status in set(VerifyStatus)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", max_size=200))
def test_verify_never_raises_on_near_valid_input(value: str) -> None:
    assert verify(SECRET, value, binding=ALICE, now=NOW).status is not VerifyStatus.OK
