"""Stateless proof-of-work challenges: issue a signed puzzle, verify a solution.

The token carries everything needed to verify it (seed, difficulty, expiry and a hash of
the client binding) under an HMAC-SHA256 with the deployment secret, so any worker can
verify a puzzle another one issued. Replay (the same solved token twice) is the caller's
job: `VerifyResult.replay_key` is claimed once through the store. Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from shield.settings.schema import MAX_DIFFICULTY

TOKEN_VERSION = 1
SEED_BYTES = 16
# security: bounds on what we decode and hash, so a huge or crafted header costs no CPU.
MAX_RESPONSE_LEN = 256
MAX_NONCE_DIGITS = 20

RESPONSE_HEADER = "Shield-Challenge-Response"
SOLUTION_COOKIE = "shield_challenge"

_POW_DOMAIN = b"shield/pow/v1\x00"
_BINDING_DOMAIN = b"shield/binding/v1\x00"
_BINDING_BYTES = 16
_MAC_BYTES = 32
# version, seed, difficulty, expires_at, binding hash
_PAYLOAD = struct.Struct(f">B{SEED_BYTES}sBQ{_BINDING_BYTES}s")
_TOKEN_BYTES = _PAYLOAD.size + _MAC_BYTES
_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; raises ValueError on anything else."""
    if not text.isascii() or any(c not in _B64URL for c in text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


@dataclass(slots=True, frozen=True)
class Binding:
    """Who a challenge or pass belongs to: a client (address or subnet), a route, a fingerprint, and
    the account the request names (its keyed id; empty without one).

    security: the account is part of it so that one solved puzzle buys one account's login: a
    stuffing crew that solves a challenge and keeps the pass cookie on its address would otherwise
    try its next accounts at a discount (tuning draw 0 of the simulator: one in twenty-five of the
    domestic-proxy attempts that got through came in on a pass earned for another account).
    """

    client: str
    route: str
    fingerprint: str
    account: str = ""

    @classmethod
    def of(
        cls, *, ip: str, subnet: str, route: str, fingerprint: str, bind: Literal["ip", "subnet"], account: str = ""
    ) -> Binding:
        """The binding for a request; `bind="subnet"` suits mobile carriers that rotate addresses."""
        return cls(client=subnet if bind == "subnet" else ip, route=route, fingerprint=fingerprint, account=account)

    def digest(self) -> bytes:
        h = hashlib.sha256(_BINDING_DOMAIN)
        for part in (self.client, self.route, self.fingerprint, self.account):
            raw = part.encode("utf-8", "surrogatepass")
            # Length-prefixed, so no two different bindings encode to the same bytes.
            h.update(len(raw).to_bytes(4, "big") + raw)
        return h.digest()[:_BINDING_BYTES]


@dataclass(slots=True, frozen=True)
class Challenge:
    """A puzzle as sent to the client (the `challenge` object of the JSON answer)."""

    difficulty: int
    seed: str  # base64url of SEED_BYTES random bytes
    token: str
    expires_at: int
    type: str = "pow"
    algorithm: str = "sha256"

    def as_json(self) -> dict[str, str | int]:
        return {
            "type": self.type,
            "algorithm": self.algorithm,
            "difficulty": self.difficulty,
            "seed": self.seed,
            "token": self.token,
            "expires_at": self.expires_at,
        }


class VerifyStatus(StrEnum):
    OK = "ok"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    WRONG_BINDING = "wrong_binding"
    INSUFFICIENT_WORK = "insufficient_work"


@dataclass(slots=True, frozen=True)
class VerifyResult:
    status: VerifyStatus
    # Claim this once through Store.claim_once(key, ttl=replay_ttl): a second use is a replay.
    replay_key: str | None = None
    replay_ttl: float = 0.0
    difficulty: int = 0

    @property
    def ok(self) -> bool:
        return self.status is VerifyStatus.OK


def _mac(secret: bytes, domain: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, domain + payload, hashlib.sha256).digest()


def issue(secret: bytes, *, binding: Binding, difficulty: int, now: float, ttl: int) -> Challenge:
    """A fresh puzzle bound to `binding`, solvable until now + ttl."""
    difficulty = max(0, min(int(difficulty), MAX_DIFFICULTY))
    seed = secrets.token_bytes(SEED_BYTES)
    expires_at = int(now) + max(1, int(ttl))
    payload = _PAYLOAD.pack(TOKEN_VERSION, seed, difficulty, expires_at, binding.digest())
    token = b64url_encode(payload + _mac(secret, _POW_DOMAIN, payload))
    return Challenge(difficulty=difficulty, seed=b64url_encode(seed), token=token, expires_at=expires_at)


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def work_ok(seed: bytes, nonce: str, difficulty: int) -> bool:
    """True when SHA-256(seed || nonce ASCII) starts with at least `difficulty` zero bits."""
    return leading_zero_bits(hashlib.sha256(seed + nonce.encode("ascii")).digest()) >= difficulty


def _split(value: str) -> tuple[bytes, str] | None:
    if len(value) > MAX_RESPONSE_LEN:
        return None
    token, sep, nonce = value.strip().rpartition(".")
    if not sep or not nonce.isascii() or not nonce.isdigit() or len(nonce) > MAX_NONCE_DIGITS:
        return None
    try:
        raw = b64url_decode(token)
    except ValueError:
        return None
    return (raw, nonce) if len(raw) == _TOKEN_BYTES else None


def verify(secret: bytes, response_header_value: str, *, binding: Binding, now: float) -> VerifyResult:
    """Check a `<token>.<nonce>` solution; cheap checks first, the hash of the work last."""
    parts = _split(response_header_value)
    if parts is None:
        return VerifyResult(VerifyStatus.MALFORMED)
    raw, nonce = parts
    payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    # security: constant-time comparison, so the MAC cannot be guessed byte by byte.
    if not hmac.compare_digest(mac, _mac(secret, _POW_DOMAIN, payload)):
        return VerifyResult(VerifyStatus.BAD_SIGNATURE)
    version, seed, difficulty, expires_at, bound = _PAYLOAD.unpack(payload)
    if version != TOKEN_VERSION or difficulty > MAX_DIFFICULTY:
        return VerifyResult(VerifyStatus.MALFORMED)
    if now >= expires_at:
        return VerifyResult(VerifyStatus.EXPIRED, difficulty=difficulty)
    if not hmac.compare_digest(bound, binding.digest()):
        return VerifyResult(VerifyStatus.WRONG_BINDING, difficulty=difficulty)
    if not work_ok(seed, nonce, difficulty):
        return VerifyResult(VerifyStatus.INSUFFICIENT_WORK, difficulty=difficulty)
    # One key per token (not per nonce): a puzzle has many answers, it earns one request.
    return VerifyResult(
        VerifyStatus.OK, replay_key="pow:" + mac[:16].hex(), replay_ttl=expires_at - now, difficulty=difficulty
    )


def read_solution(headers: Mapping[str, str], cookies: Mapping[str, str]) -> str | None:
    """The solution a request carries: the header (API clients) or the page's cookie (browsers)."""
    return headers.get(RESPONSE_HEADER) or cookies.get(SOLUTION_COOKIE) or None
