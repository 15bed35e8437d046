"""The ban table on Redis: RedisStore's ban reads and writes, and one ban's JSON.

`{<prefix>}:bans` maps "<scope>:<value>" to the ban's JSON and `{<prefix>}:offenses` to
"count|last|kept" (lua/ban_add.lua escalates a repeat offender's ttl from it). Writes and the list
are script calls on the bans' master; find_ban is one HMGET of the scopes asked; an observe reads
the bans in its own call (shield.store.redis). Expiry is checked at read time.

Every add and lift also goes into a change log, `{<prefix>}:banlog` (a sorted set: each field at the
sequence number of its last change, the oldest trimmed past 65,536) under `{<prefix>}:banmeta` (its
epoch, last number and floor), so each worker's ban cache reads only what changed since its cursor
(ban_changes: one ZRANGEBYSCORE and an HMGET of the fields changed), not the whole table every
second. `{<prefix>}:banexp` (each field at the time it next expires) lets those calls delete expired
bans and forgotten offenses a few at a time. All in the `{<prefix>}` slot, with the bans.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import attrgetter
from typing import Any, cast

import orjson

from shield.model import Ban, BanScope
from shield.store.base import BanChanges, BanCursor, BanKey
from shield.store.redis_calls import RedisCalls, RedisClient
from shield.store.scripts import LuaCode

_CREATED = attrgetter("created_at")
# security: bounds the bans this process added and no change log read has taken back yet (a process
# whose ban cache does not run): past it they are forgotten, and parsed again if read.
MAX_OWN = 8192


class RedisBanTable(RedisCalls):
    """The Store port's ban methods (RedisStore's base).

    A ban this process adds comes back from the change log a second later (each worker's ban cache
    reads every change, its own too) as the very bytes add_ban's reply had: the Ban made from that
    reply is kept by those bytes until then and handed back instead of parsing them again (~19k
    instructions a ban, callgrind; under a wave nearly every request adds one)."""

    def __init__(self, client: RedisClient, code: LuaCode, *, tag: str, bans_key: str, concurrency: int | None) -> None:
        super().__init__(client, code, tag=tag, bans_key=bans_key, concurrency=concurrency)
        self._own: dict[bytes, Ban] = {}  # the bans added here, by their JSON, until the change log has them

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
        raw = await self._run("ban_add", *args)
        ban = ban_from_json(raw)
        own = self._own
        if len(own) >= MAX_OWN:
            own.clear()
        own[raw] = ban
        return ban

    async def remove_ban(self, scope: BanScope, value: str) -> bool:
        return bool(await self._run("ban_remove", f"{scope}:{value}"))

    async def bans(self, now: float) -> list[Ban]:
        raw: list[bytes] = await self._run("ban_list", repr(now))
        return sorted(_active(raw, now), key=_CREATED)

    async def ban_changes(self, cursor: BanCursor | None, now: float) -> BanChanges:
        args = (repr(now),) if cursor is None else (repr(now), cursor[0], str(cursor[1]))
        # epoch, sequence, 1 and every ban's JSON, or 0 and per change its field and JSON (or nil)
        raw: list[Any] = await self._run("ban_list", *args)
        at = (cast(bytes, raw[0]).decode(), int(raw[1]))
        if raw[2]:
            return BanChanges(at, True, _active(raw, now), [])
        bans: list[Ban] = []
        lifted: list[BanKey] = []
        own = self._own
        for i in range(3, len(raw), 2):
            found = raw[i + 1]
            ban = None if found is None else own.pop(found, None) or ban_from_json(found)
            if ban is not None and now < ban.expires_at:
                bans.append(ban)
            else:
                scope, value = cast(bytes, raw[i]).decode().split(":", 1)
                lifted.append((cast(BanScope, scope), value))
        return BanChanges(at, False, bans, lifted)

    async def find_ban(self, keys: Mapping[BanScope, str], now: float) -> Ban | None:
        fields = [f"{scope}:{value}" for scope, value in keys.items()]
        if not fields:
            return None
        raws = await self._call(self._client.hmget(self._bans_key, fields))
        found = [ban_from_json(r) for r in raws if r]
        active = [b for b in found if b.active(now)]
        return max(active, key=lambda b: b.expires_at, default=None)


def _active(raw: list[Any], now: float) -> list[Ban]:
    """The active bans of a whole table's reply (epoch, sequence, 1, then every ban's JSON)."""
    bans = [ban_from_json(r) for r in raw[3:]]
    return [b for b in bans if now < b.expires_at]


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
