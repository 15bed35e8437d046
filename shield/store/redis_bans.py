"""The ban table on Redis: RedisStore's ban reads and writes, and one ban's JSON.

`{<prefix>}:bans` maps "<scope>:<value>" to the ban's JSON and `{<prefix>}:offenses` to
"count|last|kept" (lua/ban_add.lua escalates a repeat offender's ttl from it). Writes and the list
are script calls on the bans' master; find_ban is one HMGET of the scopes asked; an observe reads
the bans in its own call (shield.store.redis). Expiry is checked at read time.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from shield.model import Ban, BanScope
from shield.store.redis_calls import RedisCalls


class RedisBanTable(RedisCalls):
    """The Store port's ban methods (RedisStore's base; RedisStore sets `_listed` to {})."""

    _listed: dict[bytes, Ban]  # the last list's bans by their JSON (`bans`)

    async def add_ban(
        self,
        scope: BanScope,
        value: str,
        *,
        ttl: float,
        reason: str,
        now: float,
        source: str = "rules",
        escalate: bool = True,
        max_ttl: float = 7 * 86400,
    ) -> Ban:
        args = (repr(now), scope, value, repr(float(ttl)), reason, source, "1" if escalate else "0", repr(max_ttl))
        return ban_from_json(await self._run("ban_add", *args))

    async def remove_ban(self, scope: BanScope, value: str) -> bool:
        return bool(await self._run("ban_remove", f"{scope}:{value}"))

    async def bans(self, now: float) -> list[Ban]:
        raw: list[bytes] = await self._run("ban_list", repr(now))
        # Listed every second (shield.store.bancache) and mostly as it was: a ban whose JSON the last
        # list held is that (frozen) Ban again, parsed once; only what this list holds is kept.
        known = self._listed
        self._listed = listed = {r: known.get(r) or ban_from_json(r) for r in raw}
        return sorted(listed.values(), key=lambda b: b.created_at)

    async def find_ban(self, keys: Mapping[BanScope, str], now: float) -> Ban | None:
        fields = [f"{scope}:{value}" for scope, value in keys.items()]
        if not fields:
            return None
        raws = await self._call(self._client.hmget(self._bans_key, fields))
        found = [ban_from_json(r) for r in raws if r]
        active = [b for b in found if b.active(now)]
        return max(active, key=lambda b: b.expires_at, default=None)


def ban_from_json(raw: bytes | str) -> Ban:
    """One ban as the scripts store it (short keys) -> Ban."""
    b = orjson.loads(raw)
    return Ban(
        scope=b["s"],
        value=str(b["v"]),
        reason=b["r"],
        created_at=float(b["c"]),
        expires_at=float(b["e"]),
        offenses=int(b["o"]),
        source=b["src"],
    )
