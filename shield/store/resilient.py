"""ResilientStore: a Redis outage never takes the proxy down.

Every call goes to the primary (Redis) under a short timeout (shield.store.deadlines: cut within
10 ms after it). When it fails or times out, the call is answered by a per-process fallback (a
MemoryStore), `degraded` turns True, the event is logged once (`store.unavailable`) and a named
background probe pings the primary with exponential backoff until it answers (`store.recovered`).
While degraded, calls go straight to the fallback: a dead Redis costs nothing per request.

The pipeline reads `store.degraded` right after `await store.observe(...)` (no await in
between, so it describes that call) and applies the route's `on_store_error` policy.
What the fallback learns during an outage (counters, outcomes, bans) stays in that process.

The ban cache's changes (`ban_changes`) cross a failover without unbanning anyone: the fallback
cannot answer the primary's cursor, and its whole table (the bans made during the outage) is taken
as added to what the cache holds, not instead of it; back on the primary, its whole table is read
again with the fallback's active bans added (lifts made meanwhile on the primary reach the cache on
that first refresh). A lift goes to both stores, so a fallback's copy does not outlive it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import structlog
from redis.exceptions import RedisError

from shield.model import Ban, BanScope, Observation, Outcome, Signals
from shield.store.base import BanChanges, BanCursor, Store, StoreUnavailable
from shield.store.deadlines import Deadlines
from shield.store.redis_counts import AttemptCounts

T = TypeVar("T")
MAX_PROBE_INTERVAL = 30.0
_UNAVAILABLE = (StoreUnavailable, RedisError, OSError)


class ResilientStore:
    """A Store that answers from `fallback` while `primary` is unavailable (see module docstring)."""

    def __init__(
        self,
        primary: Store,
        fallback: Store,
        *,
        call_timeout: float = 0.25,
        probe_interval: float = 0.5,
        on_error: Callable[[str], None] | None = None,
        on_state: Callable[[bool], None] | None = None,
        logger: Any = None,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self._timeout = call_timeout
        self._deadlines = Deadlines(call_timeout)
        self._probe_interval = probe_interval
        self._on_error = on_error
        self._on_state = on_state
        self._log = logger if logger is not None else structlog.get_logger("shield.store")
        self._down = False
        self._probe: asyncio.Task[None] | None = None
        counts = getattr(primary, "_counts", None)  # RedisStore's queued refusal counts (redis_counts)
        if isinstance(counts, AttemptCounts):
            counts.on_lost, counts.on_drop = self._count_lost, self._count_dropped

    @property
    def degraded(self) -> bool:
        """True while the primary is considered unavailable and calls are answered locally."""
        return self._down

    # -- the Store port ------------------------------------------------------------------------

    async def observe(self, obs: Observation, now: float) -> Signals:
        return await self._call("observe", lambda s: s.observe(obs, now))

    def count_attempt(self, obs: Observation, now: float) -> None:
        if not self._down:
            try:
                self.primary.count_attempt(obs, now)  # queued: a batch's failure comes back in _count_lost
                return
            except _UNAVAILABLE as e:
                self._failed("count_attempt", "unavailable", str(e))
        self.fallback.count_attempt(obs, now)

    def _count_lost(self, batch: Sequence[tuple[Observation, float]], error: Exception) -> None:
        """A batch of the primary's queued counts failed: an outage, counted in the fallback (as the
        observes meanwhile are)."""
        if isinstance(error, _UNAVAILABLE):
            self._failed("count_attempt", "unavailable", str(error))
        elif self._on_error is not None:
            self._on_error("count_attempt")
        for obs, now in batch:
            self.fallback.count_attempt(obs, now)

    def _count_dropped(self, n: int) -> None:
        if self._on_error is not None:
            for _ in range(n):
                self._on_error("count_dropped")

    async def record_outcome(
        self, obs: Observation, outcome: Outcome, *, familiar: bool, now: float, confirmed: bool = True
    ) -> None:
        await self._call(
            "record_outcome", lambda s: s.record_outcome(obs, outcome, familiar=familiar, now=now, confirmed=confirmed)
        )

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
        return await self._call(
            "add_ban",
            lambda s: s.add_ban(
                scope, value, ttl=ttl, reason=reason, now=now, source=source, escalate=escalate, max_ttl=max_ttl
            ),
        )

    async def remove_ban(self, scope: BanScope, value: str) -> bool:
        removed = await self._call("remove_ban", lambda s: s.remove_ban(scope, value))
        if not self._down:  # the fallback's copy, from an outage, goes too (answered by it: done)
            removed = await self.fallback.remove_ban(scope, value) or removed
        return removed

    async def bans(self, now: float) -> list[Ban]:
        return await self._call("bans", lambda s: s.bans(now))

    async def ban_changes(self, cursor: BanCursor | None, now: float) -> BanChanges:
        return await self._call("ban_changes", lambda s: self._ban_changes(s, cursor, now))

    async def _ban_changes(self, store: Store, cursor: BanCursor | None, now: float) -> BanChanges:
        changes = await store.ban_changes(cursor, now)
        if not changes.full or cursor is None:
            return changes
        if store is self.fallback:  # an outage: what the cache holds from the primary stays
            return BanChanges(changes.cursor, False, changes.bans, [])
        kept = await self.fallback.bans(now)  # back from one: the bans made during it stay
        if not kept:
            return changes
        merged = {(b.scope, b.value): b for b in changes.bans}
        for ban in kept:
            held = merged.get((ban.scope, ban.value))
            if held is None or ban.expires_at > held.expires_at:
                merged[(ban.scope, ban.value)] = ban
        return BanChanges(changes.cursor, True, list(merged.values()), [])

    async def find_ban(self, keys: Mapping[BanScope, str], now: float) -> Ban | None:
        return await self._call("find_ban", lambda s: s.find_ban(keys, now))

    async def claim_once(self, key: str, *, ttl: float, now: float) -> bool:
        return await self._call("claim_once", lambda s: s.claim_once(key, ttl=ttl, now=now))

    async def ping(self) -> None:
        """Raises StoreUnavailable while degraded (readiness reports that as degraded, not unready)."""
        if self._down:
            raise StoreUnavailable("store unavailable: answering from local counters")
        await self._call("ping", lambda s: s.ping())

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None
        await self.primary.close()
        await self.fallback.close()

    # -- failover ------------------------------------------------------------------------------

    async def _call(self, op: str, call: Callable[[Store], Awaitable[T]]) -> T:
        if not self._down:
            # The deadline is shared with the calls started about now (shield.store.deadlines):
            # asyncio.timeout's timer per call was ~6 us, twice per protected request.
            guard = self._deadlines.arm()
            timed_out = False
            try:
                try:
                    return await call(self.primary)
                finally:
                    timed_out = self._deadlines.disarm(guard)
            except asyncio.CancelledError:
                if not timed_out:  # cancelled from elsewhere (a client gone, a shutdown): propagates
                    raise
                self._failed(op, "timeout", "no answer within call_timeout")
            except TimeoutError:
                self._failed(op, "timeout", "no answer within call_timeout")
            except _UNAVAILABLE as e:
                self._failed(op, "unavailable", str(e))
        return await call(self.fallback)

    def _failed(self, op: str, kind: str, error: str) -> None:
        if self._on_error is not None:
            self._on_error(kind)
        if self._down:
            return
        self._down = True
        self._log.warning("store.unavailable", op=op, kind=kind, error=error)
        if self._on_state is not None:
            self._on_state(False)
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._reconnect(), name="shield.store.probe")

    async def _reconnect(self) -> None:
        delay = self._probe_interval
        loop = asyncio.get_running_loop()
        since = loop.time()
        while True:
            await asyncio.sleep(delay)
            try:
                async with asyncio.timeout(max(self._timeout, 1.0)):
                    await self.primary.ping()
            except (TimeoutError, *_UNAVAILABLE):
                delay = min(delay * 2, MAX_PROBE_INTERVAL)
                continue
            self._down = False
            self._log.info("store.recovered", down_s=round(loop.time() - since, 3))
            if self._on_state is not None:
                self._on_state(True)
            return
