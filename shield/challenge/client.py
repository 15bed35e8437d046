"""The reference client of the challenge protocol, for tests and for app developers.

    answer = await post_with_challenge(session, "https://example.com/api/login", json={...})

On a 403 carrying a `challenge_required` JSON body, it solves the puzzle, repeats the request
once with `Shield-Challenge-Response: <token>.<nonce>` and keeps the `Shield-Pass` it earns
for the next requests (share one PassHolder).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from shield.challenge.passes import PASS_HEADER
from shield.challenge.pow import RESPONSE_HEADER, b64url_decode
from shield.settings.schema import MAX_DIFFICULTY


class ChallengeError(ValueError):
    """The challenge object is not one this client can solve."""


def solve_nonce(seed: bytes, difficulty: int) -> int:
    """The smallest nonce such that SHA-256(seed || str(nonce)) has >= difficulty leading zero bits."""
    if not 0 <= difficulty <= MAX_DIFFICULTY:
        raise ChallengeError(f"difficulty {difficulty} out of range 0..{MAX_DIFFICULTY}")
    # >= difficulty leading zero bits: the first `full` bytes are zero and the next one is below
    # 2**(8 - rem). Byte comparisons instead of an int per digest: 1.4x faster (the simulator's
    # solving attackers and users spend most of a detection run here).
    copy = hashlib.sha256(seed).copy
    full, rem = divmod(difficulty, 8)
    zeros, limit = bytes(full), 1 << (8 - rem)
    nonce = 0
    while True:
        h = copy()
        h.update(b"%d" % nonce)
        digest = h.digest()
        if digest[:full] == zeros and (rem == 0 or digest[full] < limit):
            return nonce
        nonce += 1


def solve(challenge: Mapping[str, Any]) -> str:
    """The `Shield-Challenge-Response` header value (`<token>.<nonce>`) for a challenge object."""
    if challenge.get("type") != "pow" or challenge.get("algorithm") != "sha256":
        raise ChallengeError(f"unsupported challenge {challenge.get('type')}/{challenge.get('algorithm')}")
    try:
        seed = b64url_decode(str(challenge["seed"]))
        difficulty = int(challenge["difficulty"])
        token = str(challenge["token"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ChallengeError(f"malformed challenge: {exc}") from exc
    return f"{token}.{solve_nonce(seed, difficulty)}"


async def _challenge_of(response: aiohttp.ClientResponse) -> Mapping[str, Any] | None:
    if response.status != 403 or response.headers.get("Shield-Mitigated") != "challenge":
        return None
    try:
        body = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return None
    challenge = body.get("challenge") if isinstance(body, dict) else None
    return challenge if isinstance(challenge, Mapping) else None


@dataclass(slots=True)
class PassHolder:
    """Keeps the `Shield-Pass` a solved challenge earned, for a client's next requests."""

    value: str | None = None

    def keep(self, response: aiohttp.ClientResponse) -> None:
        self.value = response.headers.get(PASS_HEADER) or self.value


async def post_with_challenge(
    session: aiohttp.ClientSession, url: str, *, passes: PassHolder | None = None, **kwargs: Any
) -> aiohttp.ClientResponse:
    """POST, and when shield answers with a challenge, solve it and POST once more.

    The body must be replayable (json=, data= as bytes/str/dict), as it is sent twice.
    Share one PassHolder across calls to send the earned pass on the next ones.
    """
    return await request_with_challenge(session, "POST", url, passes=passes, **kwargs)


async def request_with_challenge(
    session: aiohttp.ClientSession, method: str, url: str, *, passes: PassHolder | None = None, **kwargs: Any
) -> aiohttp.ClientResponse:
    passes = passes if passes is not None else PassHolder()
    headers: dict[str, str] = dict(kwargs.pop("headers", None) or {})
    headers.setdefault("Accept", "application/json")
    if passes.value:
        headers[PASS_HEADER] = passes.value
    response = await session.request(method, url, headers=headers, **kwargs)
    challenge = await _challenge_of(response)
    if challenge is None:
        passes.keep(response)
        return response
    response.release()
    headers[RESPONSE_HEADER] = solve(challenge)
    response = await session.request(method, url, headers=headers, **kwargs)
    passes.keep(response)
    return response
