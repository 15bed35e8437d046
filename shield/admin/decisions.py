"""Admin routes for bans (decisions): list, add, lift. Mounted on the admin listener, which
already requires the bearer token.

    GET    /decisions                   active bans (optionally ?scope=ip)
    POST   /decisions                   {"scope", "value", "ttl": "1h" | seconds, "reason"}
    DELETE /decisions/{scope}/{value}   lift one ban (404 when there is none)

Account bans take the account name in clear and store its keyed hash, like the rules do.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiohttp import web

from shield.model import BAN_SCOPES, Ban, BanScope, Clock
from shield.store.base import Store

MAX_TTL_S = 365 * 86400
_MAX_BODY = 4096
_MAX_REASON = 200
_TTL_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_FP_RE = re.compile(r"^[A-Za-z0-9_.:+/=-]{1,128}$")


class BadDecision(ValueError):
    """An admin request that cannot become a ban; the message is the client's answer."""


def parse_ttl(raw: object) -> float:
    """Seconds from `3600`, `"90s"`, `"30m"`, `"1h"`, `"2d"` or `"1w"` (1 s to 365 days)."""
    if isinstance(raw, bool):
        raise BadDecision("ttl must be seconds or a duration like '1h'")
    if isinstance(raw, int | float):
        seconds = float(raw)
    elif isinstance(raw, str) and (m := _TTL_RE.match(raw)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise BadDecision("ttl must be seconds or a duration like '90s', '30m', '1h', '2d', '1w'")
    if not 1 <= seconds <= MAX_TTL_S:
        raise BadDecision(f"ttl must be between 1 second and {MAX_TTL_S // 86400} days")
    return seconds


def normalize_value(scope: BanScope, value: str, account_key: Callable[[str], str]) -> str:
    """The stored form of a ban's value: canonical addresses and networks, AS numbers, keyed accounts."""
    value = value.strip()
    if not value or len(value) > 256:
        raise BadDecision("value must be 1..256 characters")
    try:
        if scope == "ip":
            return str(ipaddress.ip_address(value))
        if scope == "subnet":
            return str(ipaddress.ip_network(value, strict=False))
    except ValueError as exc:
        kind = "address" if scope == "ip" else "network"
        raise BadDecision(f"{scope} value {value!r} is not a valid {kind}") from exc
    if scope == "asn":
        digits = value.upper().removeprefix("AS")
        if not digits.isdigit() or not 0 < int(digits) < 2**32:
            raise BadDecision(f"asn value {value!r} is not an AS number (e.g. 64500 or AS64500)")
        return str(int(digits))
    if scope == "account":
        return account_key(value)
    if not _FP_RE.match(value):
        raise BadDecision("fp value must be a fingerprint id (letters, digits, -_.:+/=)")
    return value


def parse_scope(raw: object) -> BanScope:
    for scope in BAN_SCOPES:
        if raw == scope:
            return scope
    raise BadDecision(f"scope must be one of {', '.join(BAN_SCOPES)}")


def ban_json(ban: Ban, now: float) -> dict[str, Any]:
    return {
        "scope": ban.scope,
        "value": ban.value,
        "reason": ban.reason,
        "source": ban.source,
        "offenses": ban.offenses,
        "created_at": ban.created_at,
        "expires_at": ban.expires_at,
        "ttl_remaining": max(0, round(ban.expires_at - now)),
    }


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


_ERROR_CODES = {400: "bad_request", 404: "not_found", 413: "too_large"}


def _error(status: int, message: str) -> web.Response:
    """The admin API's error shape (same as shield.admin.app): a stable code and a readable message."""
    return _json({"error": _ERROR_CODES[status], "message": message}, status)


@dataclass(slots=True, frozen=True)
class _Decisions:
    store: Store
    clock: Clock
    account_key: Callable[[str], str]
    on_change: Callable[[], None] | None

    async def list(self, request: web.Request) -> web.Response:
        now = self.clock.now()
        scope = request.query.get("scope")
        bans = [b for b in await self.store.bans(now) if b.active(now) and (scope is None or b.scope == scope)]
        bans.sort(key=lambda b: (b.scope, b.value))
        return _json({"decisions": [ban_json(b, now) for b in bans]})

    async def add(self, request: web.Request) -> web.Response:
        # security: the admin body is bounded like any other input.
        if (request.content_length or 0) > _MAX_BODY:
            return _error(413, f"body larger than {_MAX_BODY} bytes")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, 'body must be JSON: {"scope": ..., "value": ..., "ttl": "1h", "reason": ...}')
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        try:
            scope = parse_scope(body.get("scope"))
            value = normalize_value(scope, str(body.get("value") or ""), self.account_key)
            ttl = parse_ttl(body.get("ttl", "1h"))
            reason = str(body.get("reason") or "admin")[:_MAX_REASON]
        except BadDecision as exc:
            return _error(400, str(exc))
        now = self.clock.now()
        ban = await self.store.add_ban(
            scope, value, ttl=ttl, reason=reason, now=now, source="admin", escalate=False, max_ttl=MAX_TTL_S
        )
        structlog.get_logger("shield.admin.app").info(
            "ban.added", scope=scope, value=value, ttl=ttl, reason=reason, source="admin", expires_at=ban.expires_at
        )
        self._changed()
        return _json(ban_json(ban, now), 201)

    async def delete(self, request: web.Request) -> web.Response:
        try:
            scope = parse_scope(request.match_info["scope"])
            raw = request.match_info["value"]
            # An id from GET /decisions (a keyed account hash) is taken as is; a clear name is keyed.
            candidates = [raw] if scope == "account" else []
            candidates.append(normalize_value(scope, raw, self.account_key))
        except BadDecision as exc:
            return _error(400, str(exc))
        for value in dict.fromkeys(candidates):
            if await self.store.remove_ban(scope, value):
                structlog.get_logger("shield.admin.app").info("ban.lifted", scope=scope, value=value, source="admin")
                self._changed()
                return _json({"lifted": {"scope": scope, "value": value}})
        return _error(404, f"no active {scope} ban for {raw!r}")

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


def decision_routes(
    store: Store,
    clock: Clock,
    *,
    account_key: Callable[[str], str],
    on_change: Callable[[], None] | None = None,
) -> list[web.RouteDef]:
    """The /decisions routes; `account_key` is the deployment's keyed hash of an account name
    (shield.facts.identity.keyed), `on_change` runs after every add/lift (e.g. to refresh a ban cache)."""
    d = _Decisions(store, clock, account_key, on_change)
    return [
        web.get("/decisions", d.list),
        web.post("/decisions", d.add),
        web.delete("/decisions/{scope}/{value:.+}", d.delete),
    ]
