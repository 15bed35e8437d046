"""MemoryStore: the embedded default store. One process, bounded memory, survives nothing.

Everything lives in a bounded key space (shield.store.linked_keyspace) of entries, one table of
columns per kind (shield.store.slot_table): per-dimension counters (with their distinct-count members;
shield.store.counters), account histories and challenge claims, all keyed by their value's hash
(shield.store.counters.HASHED). Every entry and every distinct member costs one unit of `memory.max_keys`; when
the budget is exceeded, junk (entries with no recorded outcome) goes first, oldest first, then the
entries with the fewest recorded outcomes, so a flood of one-off attempts cannot evict the failure
counters of an account under attack. Expired entries are dropped as they reach the front. An
attacker rotating IPs and accounts therefore pushes out old junk instead of growing the process.
Bans are kept apart (they must not be evicted by a flood of new keys; shield.store.memory_bans).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shield.facts.catalog import DIMENSIONS
from shield.model import BAN_SCOPES, AccountHistory, Ban, BanScope, Observation, Outcome, Signals
from shield.store.base import BanChanges, BanCursor, Retention, check_count
from shield.store.counters import LOW, SHAPES_MAX, Counters
from shield.store.distinct import UNREAD
from shield.store.entities import NARROW_MAX
from shield.store.estimated import estimated
from shield.store.layout import SITE, Plan, unkept, with_shared
from shield.store.linked_keyspace import HITS_MAX, LinkedKeyspace, Table
from shield.store.memory_bans import MemoryBans
from shield.store.records import contradicted, history_from_record, updated_record
from shield.store.sliding import FF, FU, F, S

__all__ = ["NARROW_MAX", "SHAPES_MAX", "MemoryStore"]


class MemoryStore:
    """The Store port in process memory (see the module docstring for its limits)."""

    degraded = False  # same attribute as ResilientStore: a memory store is never degraded

    def __init__(self, retention: Retention = Retention()) -> None:  # noqa: B008 (frozen)
        plan = Plan.build(retention.windows)
        self._history_days = retention.history_days
        self._history_size = retention.history_size
        self._confirm_after = retention.confirm_after
        self._bans = MemoryBans()
        self._plan = plan
        ttl = 2.0 * plan.max_window  # the previous bucket of the longest window
        # One table per kind (each dimension, the site, histories "h", claims "o"), keyed by the value's hash
        # (shield.store.counters.HASHED): no key tuple, no object per entity.
        tables = [Table(kind) for kind in (*DIMENSIONS, SITE)] + [Table(k, expiring=True) for k in ("h", "o")]
        self._keys = LinkedKeyspace(tables, max_units=retention.max_keys, ttl=ttl)
        self._histories, self._claims = self._keys.tables["h"], self._keys.tables["o"]
        kept = with_shared(retention.reads, [w.name for w in retention.windows])
        self._counters = Counters(self._keys, retention.windows, ttl=ttl, reads=kept)
        self._follow: Callable[[], frozenset[str] | None] = lambda: retention.reads
        self._every = False  # estimate every counter whatever the rules read
        self._keep(retention.reads)

    def __len__(self) -> int:
        """Units in use (entries plus members of large distinct sets): never above memory.max_keys."""
        return self._keys.units

    def follow(self, reads: Callable[[], frozenset[str] | None], *, every: bool = False) -> None:
        """Keep the distinct sets `reads()` names and estimate the counters it needs (shield.store.estimated:
        the live rule pack's reads, read per observe: a reload that reads a new set gets it counted from
        then on, a new counter its estimate on the next request), as RedisStore.follow. `every`: estimate
        every counter (a decision log that records the whole catalog)."""
        self._follow = reads
        self._every = every
        self._keep(reads())

    def _keep(self, reads: frozenset[str] | None) -> None:
        self._reads = reads  # as given: observe compares the live pack's reads with it by identity
        windows = [w.name for w in self._plan.windows]
        needed = None if self._every else estimated(reads, windows)
        reads = with_shared(reads, windows)
        self._partial = reads is not None
        names = [n for n in self._plan.names if needed is None or n in needed]
        self._zero = dict.fromkeys(names if reads is None else [n for n in names if not unkept(n, reads)], 0)
        self._counters.keep(reads, needed)

    # -- the Store port ------------------------------------------------------------------------

    async def observe(self, obs: Observation, now: float) -> Signals:
        reads = self._follow()
        if reads is not self._reads:
            self._keep(reads)
        counters = dict(self._zero)
        history = self._history(obs.account, now) if obs.account is not None else None
        self._counters.observe(obs, now, counters, unknown=obs.account is not None and history is None)
        if self._partial:  # the distinct counts no rule reads are absent, as on Redis (see distinct.UNREAD)
            counters.pop(UNREAD, None)
        ban = self._bans.find(_ban_keys(obs), now) if self._bans.any() else None
        return Signals(counters=counters, history=history, ban=ban)

    def count_attempt(self, obs: Observation, now: float) -> None:
        check_count(obs)
        reads = self._follow()
        if reads is not self._reads:
            self._keep(reads)
        self._counters.count(obs, now)

    async def record_outcome(
        self, obs: Observation, outcome: Outcome, *, familiar: bool, now: float, confirmed: bool = True
    ) -> None:
        if outcome is Outcome.UNKNOWN:
            return
        index = S if outcome is Outcome.SUCCESS else F
        self._counters.outcomes(obs, index, (FF if familiar else FU) if index == F else -1, now)
        if obs.account is not None:
            self._learn(obs, outcome, now, confirmed)

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
        return self._bans.add(
            scope, value, ttl=ttl, reason=reason, now=now, source=source, escalate=escalate, max_ttl=max_ttl
        )

    async def remove_ban(self, scope: BanScope, value: str) -> bool:
        return self._bans.remove(scope, value)

    async def bans(self, now: float) -> list[Ban]:
        return self._bans.active(now)

    async def ban_changes(self, cursor: BanCursor | None, now: float) -> BanChanges:
        return self._bans.changes(cursor, now)

    async def find_ban(self, keys: Mapping[BanScope, str], now: float) -> Ban | None:
        return self._bans.find(keys, now)

    def ban_entries(self) -> int:
        """Bans and remembered offenses held (expired ones are pruned as bans are added or listed)."""
        return len(self._bans)

    async def claim_once(self, key: str, *, ttl: float, now: float) -> bool:
        claims, hashed = self._claims, hash(key) & LOW
        slot = claims.find(hashed)
        if slot and claims.born[slot] > now:  # born: when the entry expires
            return False
        self._touch(claims, hashed, now, ttl, bool)
        return True

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- history -------------------------------------------------------------------------------

    def _history(self, account: str, now: float) -> AccountHistory | None:
        histories = self._histories
        slot = histories.find(hash(account) & LOW)
        if not slot or histories.born[slot] <= now:  # born: when the entry expires
            return None
        return history_from_record(
            histories.refs[slot], now, self._history_days, confirm_after=self._confirm_after, size=self._history_size
        )

    def _learn(self, obs: Observation, outcome: Outcome, now: float, confirmed: bool) -> None:
        """A success updates the account's history; a failure forgets its unconfirmed successes."""
        histories, key = self._histories, hash(obs.account) & LOW
        days, size, after = self._history_days, self._history_size, self._confirm_after
        refs = histories.refs
        if outcome is Outcome.SUCCESS:
            slot = self._touch(histories, key, now, days * 86400.0, dict, hits=1)
            refs[slot] = updated_record(
                refs[slot], obs, now, days=days, size=size, confirmed=confirmed, confirm_after=after
            )
            return
        slot = histories.find(key)
        if slot and histories.born[slot] > now:
            forgot = contradicted(refs[slot], now, days=days, size=size, confirm_after=after)
            if forgot is not None:
                refs[slot] = forgot

    def _touch(self, table: Table, key: int, now: float, ttl: float, factory: Any, *, hits: int = 0) -> int:
        """The slot of `key`'s entry (a history or a claim), made with `factory()` if it has none or it
        expired, expiring `ttl` from `now`; `hits` more recorded outcomes."""
        keys = self._keys
        slot = table.find(key)
        if not slot or table.born[slot] <= now:
            if slot:
                keys.drop(table, slot)
            slot = keys.add(table, key, now, t=now, born=now + ttl, hits=hits)
            table.refs[slot] = factory()
        else:
            table.born[slot] = now + ttl
            table.t[slot] = now
            table.hits[slot] = min(table.hits[slot] + hits, HITS_MAX)
            keys.refresh(table, slot)
        return slot


def _ban_keys(obs: Observation) -> dict[BanScope, str]:
    keys: dict[BanScope, str] = {}
    for scope in BAN_SCOPES:
        value = getattr(obs, scope)
        if value is not None:
            keys[scope] = value
    return keys
