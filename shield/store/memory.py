"""MemoryStore: the embedded default store. One process, bounded memory, survives nothing.

Everything lives in one LRU (an OrderedDict) of entries: per-dimension counters (with their
distinct-count members), account histories and challenge claims. Every entry and every
distinct member costs one unit of `memory.max_keys`; when the budget is exceeded the least
recently touched entries go first, and expired entries are dropped as they reach the front.
An attacker rotating IPs and accounts therefore pushes out old entries instead of growing
the process. Bans are kept apart (they must not be evicted by a flood of new keys) and are
pruned when they expire.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, cast

from shield.facts import DIMENSIONS, DISTINCT, SITE_WINDOWS
from shield.model import BAN_SCOPES, Ban, BanScope, Outcome
from shield.settings import Settings
from shield.store.base import AccountHistory, Observation, Signals
from shield.store.layout import (
    ACCOUNT_MEASURES,
    MEASURES,
    SITE,
    SITE_MEASURES,
    Plan,
    bucket_width,
)
from shield.store.records import escalated_ttl, harshest, history_from_record, updated_record
from shield.store.sampled import SampledSet
from shield.store.sliding import FF, FU, MEASURE_INDEX, A, F, S, SlidingCounts, U

EXPIRED_SWEEP = 8  # expired entries dropped from the LRU's front per write, amortised


class _Counts:
    """The counters of one dimension value (one SlidingCounts per window) and its distinct sets."""

    __slots__ = ("distinct", "windows")

    def __init__(self, widths: list[float], measures: int) -> None:
        self.windows = [SlidingCounts(w, measures) for w in widths]
        self.distinct: dict[str, SampledSet] = {}


class _Entry:
    __slots__ = ("expires", "units", "value")

    def __init__(self, value: Any, expires: float) -> None:
        self.value = value
        self.expires = expires
        self.units = 1


class MemoryStore:
    """The Store port in process memory (see the module docstring for its limits)."""

    degraded = False  # same attribute as ResilientStore: a memory store is never degraded

    def __init__(self, settings: Settings) -> None:
        self._plan = Plan.build(settings.windows)
        self._max_keys = max(1, settings.memory.max_keys)
        self._history_days = settings.memory.history_days
        self._history_size = settings.memory.history_size
        self._lru: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._units = 0
        self._bans: dict[tuple[BanScope, str], Ban] = {}
        self._offenses: dict[tuple[BanScope, str], tuple[int, float, float]] = {}
        self._zero = dict.fromkeys(self._plan.names, 0)
        self._dim_windows = [(i, w.seconds, bucket_width(w)) for i, w in enumerate(settings.windows)]
        self._site_windows = [(i, w.seconds, bucket_width(w)) for i, w in enumerate(SITE_WINDOWS)]
        measures = {dim: MEASURES + ACCOUNT_MEASURES if dim == "account" else MEASURES for dim in DIMENSIONS}
        self._names = {
            dim: [[(MEASURE_INDEX[m], f"{dim}.{word}_{w.name}") for m, word in measures[dim]] for w in settings.windows]
            for dim in DIMENSIONS
        }
        self._site_names = [
            [(MEASURE_INDEX[m], f"{SITE}.{word}_{w.name}") for m, word in SITE_MEASURES] for w in SITE_WINDOWS
        ]
        dim_widths = [bucket_width(w) for w in settings.windows]
        site_widths = [bucket_width(w) for w in SITE_WINDOWS]
        self._factory = lambda: _Counts(dim_widths, len(MEASURES))
        self._account_factory = lambda: _Counts(dim_widths, len(MEASURES) + len(ACCOUNT_MEASURES))
        self._site_factory = lambda: _Counts(site_widths, len(SITE_MEASURES))
        self._window_names = [w.name for w in settings.windows]
        self._max_dim_window = max(w.seconds for w in settings.windows)
        self._ttl = self._plan.max_window + max(w for _, _, w in (*self._dim_windows, *self._site_windows))

    def __len__(self) -> int:
        """Units in use (entries plus distinct members): never above memory.max_keys."""
        return self._units

    # -- the Store port ------------------------------------------------------------------------

    async def observe(self, obs: Observation, now: float) -> Signals:
        counters = dict(self._zero)
        history = self._history(obs.account, now) if obs.account is not None else None
        for dim in DIMENSIONS:
            value = obs.dimension(dim)
            if value is None:
                continue
            counts = self._counts(dim, value, now)
            for window, names in zip(counts.windows, self._names[dim], strict=True):
                window.add(now, A)
                totals = window.current(now)
                for index, name in names:
                    counters[name] = totals[index]
            for measure, other in DISTINCT.get(dim, {}).items():
                self._distinct(counts, measure, obs.dimension(other), f"{dim}.{measure}", counters, now)
        site = self._counts(SITE, "", now)
        unknown = obs.account is not None and history is None
        for window, names in zip(site.windows, self._site_names, strict=True):
            window.add(now, A)
            if unknown:
                window.add(now, U)
            totals = window.current(now)
            for index, name in names:
                counters[name] = totals[index]
        ban = self._find(_ban_keys(obs), now)
        return Signals(counters=counters, history=history, ban=ban)

    async def record_outcome(self, obs: Observation, outcome: Outcome, *, familiar: bool, now: float) -> None:
        if outcome is Outcome.UNKNOWN:
            return
        index = S if outcome is Outcome.SUCCESS else F
        for dim in DIMENSIONS:
            value = obs.dimension(dim)
            if value is None:
                continue
            extra = FF if familiar else FU
            for window in self._counts(dim, value, now).windows:
                window.add(now, index)
                if dim == "account" and index == F:
                    window.add(now, extra)
        for window in self._counts(SITE, "", now).windows:
            window.add(now, index)
        if outcome is Outcome.SUCCESS and obs.account is not None:
            entry = self._touch(("h", obs.account), now, self._history_days * 86400.0, dict)
            entry.value = updated_record(entry.value, obs, now, days=self._history_days, size=self._history_size)

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
        key = (scope, value)
        count, last, remembered = self._offenses.get(key, (0, 0.0, 0.0))
        offenses = count + 1 if escalate and count and now - last < remembered else 1
        expires = now + escalated_ttl(ttl, offenses, max_ttl) if escalate else now + ttl
        current = self._bans.get(key)
        if current is not None and current.active(now):
            expires = max(expires, current.expires_at)  # never shorten a harsher ban already in place
        ban = Ban(scope, value, reason, created_at=now, expires_at=expires, offenses=offenses, source=source)
        self._bans[key] = ban
        self._offenses[key] = (offenses, now, max(max_ttl, ttl))
        self._prune_bans(now)
        return ban

    async def remove_ban(self, scope: BanScope, value: str) -> bool:
        self._offenses.pop((scope, value), None)  # lifting a ban forgives its offenses too
        return self._bans.pop((scope, value), None) is not None

    async def bans(self, now: float) -> list[Ban]:
        self._prune_bans(now, force=True)
        return sorted(self._bans.values(), key=lambda b: b.created_at)

    async def find_ban(self, keys: Mapping[BanScope, str], now: float) -> Ban | None:
        return self._find(keys, now)

    async def claim_once(self, key: str, *, ttl: float, now: float) -> bool:
        entry = self._lru.get(("o", key))
        if entry is not None and entry.expires > now:
            return False
        self._touch(("o", key), now, ttl, bool)
        return True

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- counters ------------------------------------------------------------------------------

    def _counts(self, dim: str, value: str, now: float) -> _Counts:
        entry = self._lru.get(("c", f"{dim}:{value}"))
        if entry is not None and entry.expires > now:
            # The hot path: an entity seen recently (inlined _touch).
            entry.expires = now + self._ttl
            self._lru.move_to_end(("c", f"{dim}:{value}"))
            counts: _Counts = entry.value
            return counts
        factory = self._site_factory if dim == SITE else self._account_factory if dim == "account" else self._factory
        return cast(_Counts, self._touch(("c", f"{dim}:{value}"), now, self._ttl, factory).value)

    def _distinct(
        self, counts: _Counts, measure: str, member: str | None, prefix: str, out: dict[str, int], now: float
    ) -> None:
        members = counts.distinct.get(measure)
        if members is None:
            members = counts.distinct[measure] = SampledSet()
        self._units -= members.prune(now - self._max_dim_window)
        if member is not None:
            self._charge(members.add(member, now))
        for (_, seconds, _), name in zip(self._dim_windows, self._window_names, strict=True):
            out[f"{prefix}_{name}"] = members.count_since(now - seconds)

    # -- history -------------------------------------------------------------------------------

    def _history(self, account: str, now: float) -> AccountHistory | None:
        entry = self._lru.get(("h", account))
        if entry is None or entry.expires <= now:
            return None
        return history_from_record(entry.value, now, self._history_days)

    # -- the LRU -------------------------------------------------------------------------------

    def _touch(self, key: tuple[str, str], now: float, ttl: float, factory: Any) -> _Entry:
        entry = self._lru.get(key)
        if entry is None or entry.expires <= now:
            if entry is not None:
                self._drop(key)
            entry = _Entry(factory(), now + ttl)
            self._lru[key] = entry
            self._charge(1)
            self._sweep(now)
        else:
            entry.expires = now + ttl
            self._lru.move_to_end(key)
        return entry

    def _charge(self, units: int) -> None:
        self._units += units
        self._evict_over_budget()

    def _drop(self, key: tuple[str, str]) -> None:
        entry = self._lru.pop(key)
        self._units -= 1
        if isinstance(entry.value, _Counts):
            self._units -= sum(len(s) for s in entry.value.distinct.values())

    def _evict_over_budget(self) -> None:
        # The newest entry is never evicted: it is the one being written right now.
        while self._units > self._max_keys and len(self._lru) > 1:
            self._drop(next(iter(self._lru)))

    def _sweep(self, now: float) -> None:
        for _ in range(EXPIRED_SWEEP):
            if not self._lru:
                return
            key = next(iter(self._lru))
            if self._lru[key].expires > now:
                return
            self._drop(key)

    # -- bans ----------------------------------------------------------------------------------

    def _find(self, keys: Mapping[BanScope, str], now: float) -> Ban | None:
        if not self._bans:
            return None
        return harshest((self._bans.get((scope, value)) for scope, value in keys.items()), now)

    def _prune_bans(self, now: float, *, force: bool = False) -> None:
        if not force and len(self._bans) < 1024:
            return
        for key in [k for k, b in self._bans.items() if not b.active(now)]:
            del self._bans[key]
        for key in [k for k, (_, last, kept) in self._offenses.items() if now - last >= kept]:
            del self._offenses[key]


def _ban_keys(obs: Observation) -> dict[BanScope, str]:
    keys: dict[BanScope, str] = {}
    for scope in BAN_SCOPES:
        value = obs.dimension(scope)
        if value is not None:
            keys[scope] = value
    return keys
