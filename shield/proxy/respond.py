"""What shield answers instead of the upstream: block, rate limit, ban, challenge; and tag headers.

Public answers are short (a status, an error word and the request id); the reason lives in
the private `decision` log line. Every answer says `Cache-Control: no-store` so no cache
between the client and shield replays a refusal to someone else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson
from aiohttp import web
from multidict import CIMultiDict

from shield.challenge.pages import MITIGATED_HEADER, challenge_response
from shield.challenge.pow import Challenge
from shield.model import Action, Decision

SHIELD_HEADER_PREFIX = "shield-"
# security: bounds of the tag headers, so a rule pack with hundreds of hits cannot blow up a request.
_MAX_REASONS = 32
_MAX_RETRY_AFTER = 86400


def _refusal(status: int, error: str, request_id: str, mitigated: str, extra: Mapping[str, str] = {}) -> web.Response:
    headers = {MITIGATED_HEADER: mitigated, "Cache-Control": "no-store", "X-Request-ID": request_id, **extra}
    body = orjson.dumps({"error": error, "request_id": request_id})
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def blocked(request_id: str) -> web.Response:
    """403 `{"error": "blocked"}` with `Shield-Mitigated: block`."""
    return _refusal(403, "blocked", request_id, "block")


def rate_limited(request_id: str, retry_after_s: int) -> web.Response:
    """429 `{"error": "rate_limited"}` with Retry-After (also the answer when the tarpit is full)."""
    retry = str(min(max(int(retry_after_s), 1), _MAX_RETRY_AFTER))
    return _refusal(429, "rate_limited", request_id, "block", {"Retry-After": retry})


def banned(request_id: str) -> web.Response:
    """403 `{"error": "blocked"}` with `Shield-Mitigated: ban` (the ban's scope and reason stay private)."""
    return _refusal(403, "blocked", request_id, "ban")


def refusal(
    decision: Decision,
    request_id: str,
    *,
    challenge: Challenge | None = None,
    accept: str | None = None,
    method: str = "POST",
) -> web.Response | None:
    """The answer for a decision that stops the request, or None when it goes upstream.

    A CHALLENGE needs the `challenge` the caller issued (pow.issue); without one it is blocked.
    """
    if not decision.enforced:
        return None
    if decision.action is Action.BAN:
        return banned(request_id)
    if decision.action is Action.BLOCK:
        return rate_limited(request_id, decision.retry_after_s) if decision.rate_limited else blocked(request_id)
    if decision.action is Action.CHALLENGE:
        if challenge is None:
            return blocked(request_id)
        return challenge_response(challenge, request_id=request_id, accept=accept, method=method)
    return None


def tag_headers(decision: Decision) -> dict[str, str]:
    """Headers added to the upstream request so the app can step up (ask for a second factor)."""
    reasons = [hit.id for hit in decision.hits[:_MAX_REASONS]]
    return {
        "Shield-Score": str(decision.score),
        "Shield-Action": decision.action.value,
        "Shield-Reasons": ",".join(reasons),
    }


def upstream_tags(decision: Decision, *, solved: bool) -> dict[str, str] | None:
    """The risk headers a forwarded request carries to the app: on a tag, and when the client
    solved the challenge its rules asked for (the solve credit may have brought the action down to
    allow; the app still needs to know why it was asked, to step up with a second factor)."""
    if not decision.enforced:
        return None
    tags = tag_headers(decision) if decision.action is Action.TAG or (solved and decision.hits) else None
    if tags is not None and solved:
        # a tagged client that solved a challenge must say so too: the app steps up knowing both
        tags["Shield-Challenge"] = "solved"
    return tags


def strip_shield_headers(headers: Iterable[tuple[str, str]]) -> CIMultiDict[str]:
    """A copy of the request headers without any `Shield-*` header the client sent.

    security: a client must not pre-tag itself (`Shield-Score: 0`) or pass its pass and
    solution on to the app; shield reads those before and sets its own tags after.
    Apply to every forwarded request, protected or not.
    """
    return CIMultiDict((k, v) for k, v in headers if not k.lower().startswith(SHIELD_HEADER_PREFIX))
