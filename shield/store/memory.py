"""MemoryStore: the embedded default store. One process, bounded memory, survives nothing.

Everything lives in a bounded key space (shield.store.linked_keyspace) of entries: per-dimension
counters (with their distinct-count members; shield.store.counters), account histories and
challenge claims. Every entry and every distinct member costs one unit of `memory.max_keys`; when
the budget is exceeded, junk (entries with no recorded outcome) goes first, oldest first, then the
entries with the fewest recorded outcomes, so a flood of one-off attempts cannot evict the failure
counters of an account under attack. Expired entries are dropped as they reach the front. An
attacker rotating IPs and accounts therefore pushes out old junk instead of growing the process.
Bans are kept apart (they must not be evicted by a flood of new keys; shield.store.memory_bans).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from shield.facts.catalog import DIMENSIONS
from shield.model import BAN_SCOPES, AccountHistory, Ban, BanScope, Observation, Outcome, Signals
from shield.store.base import Retention
from shield.store.counters import SHAPES_MAX, Counters
from shield.store.distinct import UNREAD
from shield.store.entities import NARROW_MAX, Entry
from shield.store.layout import SITE, Plan, unkept, with_shared
from shield.store.linked_keyspace import LinkedKeyspace
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
        # One table per kind (each dimension, the site, histories "h", claims "o"), keyed by the bare value
        # (or its hash, shield.store.counters.HASHED): no key tuple per entity.
        self._keys = LinkedKeyspace((*DIMENSIONS, SITE, "h", "o"), max_units=retention.max_keys, ttl=ttl)
        kept = with_shared(retention.reads, [w.name for w in retention.windows])
        self._counters = Counters(self._keys, retention.windows, ttl=ttl, reads=kept)
        self._follow: Callable[[], frozenset[str] | None] = lambda: retention.reads
        self._keep(retention.reads)

    def __len__(self) -> int:
        """Units in use (entries plus members of large distinct sets): never above memory.max_keys."""
        return self._keys.units

    def follow(self, reads: Callable[[], frozenset[str] | None]) -> None:
        """Keep the distinct sets `reads()` names (the live rule pack's reads, read per observe: a
        reload that reads a new set gets it counted from then on), as RedisStore.follow."""
        self._follow = reads
        self._keep(reads())

    def _keep(self, reads: frozenset[str] | None) -> None:
        self._reads = reads  # as given: observe compares the live pack's reads with it by identity
        reads = with_shared(reads, [w.name for w in self._plan.windows])
        self._partial = reads is not None
        names = self._plan.names
        self._zero = dict.fromkeys(names if reads is None else [n for n in names if not unkept(n, reads)], 0)
        self._counters.keep(reads)

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

    async def record_outcome(
        self, obs: Observation, outcome: Outcome, *, familiar: bool, now: float, confirmed: bool = True
    ) -> None:
        if outcome is Outcome.UNKNOWN:
            return
        index = S if outcome is Outcome.SUCCESS else F
        count = self._counters.outcome
        for dim in DIMENSIONS:
            value = getattr(obs, dim)
            if value is None:
                continue
            extra = (FF if familiar else FU) if dim == "account" and index == F else -1
            count(dim, value, index, extra, now)
        count(SITE, "", index, -1, now)
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

    async def find_ban(self, keys: Mapping[BanScope, str], now: float) -> Ban | None:
        return self._bans.find(keys, now)

    def ban_entries(self) -> int:
        """Bans and remembered offenses held (expired ones are pruned as bans are added or listed)."""
        return len(self._bans)

    async def claim_once(self, key: str, *, ttl: float, now: float) -> bool:
        entry = self._keys.get("o", key)
        if isinstance(entry, Entry) and entry.expires > now:
            return False
        self._touch("o", key, now, ttl, bool)
        return True

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- history -------------------------------------------------------------------------------

    def _history(self, account: str, now: float) -> AccountHistory | None:
        entry = self._keys.get("h", account)
        if not isinstance(entry, Entry) or entry.expires <= now:
            return None
        return history_from_record(
            entry.value, now, self._history_days, confirm_after=self._confirm_after, size=self._history_size
        )

    def _learn(self, obs: Observation, outcome: Outcome, now: float, confirmed: bool) -> None:
        """A success updates the account's history; a failure forgets its unconfirmed successes."""
        account = cast(str, obs.account)
        days, size, after = self._history_days, self._history_size, self._confirm_after
        if outcome is Outcome.SUCCESS:
            entry = self._touch("h", account, now, days * 86400.0, dict, hits=1)
            entry.value = updated_record(
                entry.value, obs, now, days=days, size=size, confirmed=confirmed, confirm_after=after
            )
            return
        found = self._keys.get("h", account)
        if isinstance(found, Entry) and found.expires > now:
            forgot = contradicted(found.value, now, days=days, size=size, confirm_after=after)
            if forgot is not None:
                found.value = forgot

    def _touch(self, kind: str, key: str, now: float, ttl: float, factory: Any, *, hits: int = 0) -> Entry:
        keys = self._keys
        entry = cast(Entry | None, keys.get(kind, key))
        if entry is None or entry.expires <= now:
            if entry is not None:
                keys.drop(kind, entry)
            entry = Entry(factory(), now + ttl, now, hits)
            keys.add(kind, key, entry, now)
        else:
            entry.expires = now + ttl
            entry.touched = now
            entry.hits += hits
            keys.refresh(kind, entry)
        return entry


def _ban_keys(obs: Observation) -> dict[BanScope, str]:
    keys: dict[BanScope, str] = {}
    for scope in BAN_SCOPES:
        value = getattr(obs, scope)
        if value is not None:
            keys[scope] = value
    return keys
