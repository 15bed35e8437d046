"""RedisStore: the shared store for several replicas, one Lua round trip per protected request.

Key layout (every key starts with the hash tag `{<prefix>}:`, default `{shield}:`, so each
script touches one Redis Cluster slot):

  {shield}:c:<dim>:<value>            hash  one entity: "n" last write + expiry armed (packed doubles),
                                            "<i>" window i's counts (packed int32: current, previous
                                            bucket per measure), "<k>|<member>" -> last seen (small
                                            distinct set k, up to 64), "<k>~" a large set's HLL state
  {shield}:site                       hash  the same counters for the site windows (a, f, s, u)
  {shield}:x:<dim>:<value>:<k>:<i>:<b> HLL  set k's members in window i's bucket b (large sets only)
  {shield}:h:<account>                JSON  the account history (shield.store.records)
  {shield}:bans / {shield}:offenses   hash  "<scope>:<value>" -> ban JSON / "count|last|kept"
  {shield}:o:<key>                    str   claim_once expiry

Windows are two-bucket approximations (shield.store.sliding; lua/common.lua mirrors it). Counters
and sets expire (PEXPIRE, re-armed at most hourly) two longest windows plus an hour after the last
write, histories `memory.history_days` after the last success. All window arithmetic uses the
caller's `now`.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import orjson
from redis import exceptions as rexc
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from shield.facts.catalog import DIMENSIONS, DISTINCT, SITE_WINDOWS, Window
from shield.model import BAN_SCOPES, Ban, BanScope, Observation, Outcome, Signals
from shield.store.base import Retention, StoreUnavailable
from shield.store.layout import Plan
from shield.store.records import HISTORY_LISTS, history_from_record

DISTINCT_EXACT = 64  # members counted exactly per distinct set; HyperLogLog above
HLL_REFRESH = 1.0  # seconds between full HyperLogLog merges of one set (cached counts in between)
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Errors that mean "Redis is not answering", as opposed to a bug in a script or an argument.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    rexc.ConnectionError,
    rexc.TimeoutError,
    rexc.BusyLoadingError,
    rexc.ClusterDownError,
    rexc.TryAgainError,
    rexc.MaxConnectionsError,
    rexc.ReadOnlyError,
    OSError,
)

RedisClient = Redis | RedisCluster


class _Script:
    """EVALSHA with a SCRIPT LOAD fallback, counting every command sent (the round trips)."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


class RedisStore:
    """The Store port on Redis (standalone, Sentinel or Cluster): see the module docstring."""

    degraded = False  # ResilientStore's attribute; a bare RedisStore raises StoreUnavailable instead

    def __init__(
        self,
        client: RedisClient,
        retention: Retention = Retention(),  # noqa: B008 (frozen)
        *,
        prefix: str = "shield",
        concurrency: int | None = None,
    ) -> None:
        if not _PREFIX_RE.match(prefix):
            raise ValueError(f"store prefix {prefix!r}: use 1-64 of A-Z a-z 0-9 _ . -")
        self._client = client
        self._plan = Plan.build(retention.windows)
        self._days = retention.history_days
        self._p = "{" + prefix + "}:"
        self._bans_key = self._p + "bans"
        # security: caps in-flight commands where the pool would raise instead of waiting (Cluster,
        # Sentinel), so a flood queues instead of turning into errors.
        self._gate = asyncio.Semaphore(concurrency) if concurrency else None
        prelude = _prelude(self._plan, self._p, retention.history_days, retention.history_size)
        self._scripts = {name: _Script(prelude + _lua(name)) for name in _SCRIPTS}
        self.round_trips = 0  # commands sent to Redis; the benchmark prints it per observe

    # -- the Store port ------------------------------------------------------------------------

    async def observe(self, obs: Observation, now: float) -> Signals:
        counts, hist_raw, ban_raw = await self._run("observe", repr(now), *_values(obs))
        history = history_from_record(orjson.loads(hist_raw), now, self._days) if hist_raw else None
        return Signals(
            counters=dict(zip(self._plan.names, counts, strict=True)),
            history=history,
            ban=_ban(ban_raw) if ban_raw else None,
        )

    async def record_outcome(self, obs: Observation, outcome: Outcome, *, familiar: bool, now: float) -> None:
        if outcome is Outcome.UNKNOWN:
            return
        measure = "s" if outcome is Outcome.SUCCESS else "f"
        located = obs.lat is not None and obs.lon is not None
        lat, lon = (repr(obs.lat), repr(obs.lon)) if located else ("", "")
        await self._run("outcome", repr(now), measure, "1" if familiar else "0", *_values(obs), lat, lon)

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
        return _ban(await self._run("ban_add", *args))

    async def remove_ban(self, scope: BanScope, value: str) -> bool:
        return bool(await self._run("ban_remove", f"{scope}:{value}"))

    async def bans(self, now: float) -> list[Ban]:
        raw: list[bytes] = await self._run("ban_list", repr(now))
        return sorted((_ban(r) for r in raw), key=lambda b: b.created_at)

    async def find_ban(self, keys: Mapping[BanScope, str], now: float) -> Ban | None:
        fields = [f"{scope}:{value}" for scope, value in keys.items()]
        if not fields:
            return None
        raws = await self._call(self._client.hmget(self._bans_key, fields))
        found = [_ban(r) for r in raws if r]
        active = [b for b in found if b.active(now)]
        return max(active, key=lambda b: b.expires_at, default=None)

    async def claim_once(self, key: str, *, ttl: float, now: float) -> bool:
        return bool(await self._run("claim", repr(now), key, repr(float(ttl))))

    async def ping(self) -> None:
        await self._call(self._client.ping())

    async def load_scripts(self) -> None:
        """Register every script now (optional: the first call of each loads it otherwise)."""
        for script in self._scripts.values():
            await self._call(self._client.script_load(script.source))

    async def close(self) -> None:
        await self._client.aclose()

    # -- calls ---------------------------------------------------------------------------------

    async def _run(self, name: str, *args: str) -> Any:
        script = self._scripts[name]
        try:
            return await self._call(self._client.evalsha(script.sha, 1, self._bans_key, *args))
        except rexc.NoScriptError:
            # After a restart or failover the script cache is empty: load once, then retry.
            await self._call(self._client.script_load(script.source))
            return await self._call(self._client.evalsha(script.sha, 1, self._bans_key, *args))

    async def _call(self, command: Any) -> Any:
        self.round_trips += 1
        try:
            if self._gate is None:
                return await command
            async with self._gate:
                return await command
        except UNAVAILABLE_ERRORS as e:
            raise StoreUnavailable(f"redis: {e}") from e


_SCRIPTS = ("observe", "outcome", "ban_add", "ban_list", "ban_remove", "claim")


def _lua(name: str) -> str:
    lua = resources.files("shield.store") / "lua"
    return (lua / "common.lua").read_text() + (lua / f"{name}.lua").read_text()


def _prelude(plan: Plan, prefix: str, days: int, size: int) -> str:
    """The configuration as Lua constants: the scripts are generic, their SHA is per configuration."""
    index = {dim: i + 1 for i, dim in enumerate(DIMENSIONS)}
    distinct = ", ".join(
        "{" + ", ".join(f'{{"{m}", {index[o]}}}' for m, o in DISTINCT.get(dim, {}).items()) + "}" for dim in DIMENSIONS
    )
    rearm = plan.max_window / 24  # seconds between two PEXPIREs of a busy key
    ttl_ms = int((2 * plan.max_window + rearm) * 1000)  # the longest window's previous bucket, + rearm
    return "\n".join(
        (
            f'local P = "{prefix}"',
            "local DIMS = {" + ", ".join(f'"{d}"' for d in DIMENSIONS) + "}",
            "local DW = {" + ", ".join(str(w.seconds) for w in plan.windows) + "}",
            "local SW = {" + ", ".join(str(w.seconds) for w in SITE_WINDOWS) + "}",
            f"local DISTINCT = {{{distinct}}}",
            "local BAN_DIMS = {" + ", ".join(str(index[s]) for s in BAN_SCOPES) + "}",
            "local HISTORY = {" + ", ".join(f'{{"{k}", {index[d]}}}' for k, d in HISTORY_LISTS) + "}",
            f"local ACCOUNT, COUNTRY = {index['account']}, {index['country']}",
            f"local MAXW = {max(w.seconds for w in plan.windows)}",
            f"local NESTED = {'true' if _nested(plan.windows) else 'false'}",
            f"local TTL_MS, REARM = {ttl_ms}, {rearm!r}",
            f"local HDAYS, HSIZE, CAP, REFRESH = {days}, {size}, {DISTINCT_EXACT}, {HLL_REFRESH}",
            "cjson.encode_number_precision(14)  -- the maximum: milliseconds survive",
            "",
        )
    )


def _nested(windows: Sequence[Window]) -> bool:
    """Whether every window's buckets lie inside the next longer window's (sorted, each a multiple)."""
    seconds = [w.seconds for w in windows]
    return seconds == sorted(seconds) and all(b % a == 0 for a, b in itertools.pairwise(seconds))


def _values(obs: Observation) -> Sequence[str]:
    return [obs.dimension(d) or "" for d in DIMENSIONS]


def _ban(raw: bytes | str) -> Ban:
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
