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
from shield.store.layout import ACCOUNT_MEASURES, MEASURES, SITE, SITE_MEASURES, Plan
from shield.store.records import escalated_ttl, harshest, history_from_record, updated_record
from shield.store.sampled import Distinct, SampledSet, small_add, small_count_since
from shield.store.sliding import FF, FU, MEASURE_INDEX, A, F, S, U, estimate, roll, weights

EXPIRED_SWEEP = 8  # expired entries dropped from the LRU's front per write, amortised


class _Counts:
    """One dimension value: two-bucket counters (shield.store.sliding) and its distinct sets."""

    __slots__ = ("counts", "distinct", "expires", "t")

    def __init__(self, size: int, sets: int, now: float, expires: float) -> None:
        self.counts = [0] * size
        self.distinct: list[Distinct | None] | None = [None] * sets if sets else None
        self.t = now  # the last write: every window's current bucket follows from it
        self.expires = expires

    @property
    def units(self) -> int:
        """Members of sampled (large) sets cost a unit each; small sets ride on the entry's unit."""
        return 1 + sum(len(d) for d in self.distinct or () if isinstance(d, SampledSet))


class _Entry:
    __slots__ = ("expires", "value")

    def __init__(self, value: Any, expires: float) -> None:
        self.value = value
        self.expires = expires

    @property
    def units(self) -> int:
        return 1


class MemoryStore:
    """The Store port in process memory (see the module docstring for its limits)."""

    degraded = False  # same attribute as ResilientStore: a memory store is never degraded

    def __init__(self, settings: Settings) -> None:
        self._plan = Plan.build(settings.windows)
        self._max_keys = max(1, settings.memory.max_keys)
        self._history_days = settings.memory.history_days
        self._history_size = settings.memory.history_size
        self._lru: OrderedDict[tuple[str, str], _Counts | _Entry] = OrderedDict()
        self._units = 0
        self._bans: dict[tuple[BanScope, str], Ban] = {}
        self._offenses: dict[tuple[BanScope, str], tuple[int, float, float]] = {}
        self._zero = dict.fromkeys(self._plan.names, 0)
        self._widths = [float(w.seconds) for w in settings.windows]
        self._site_widths = [float(w.seconds) for w in SITE_WINDOWS]
        self._measures = {dim: len(MEASURES + ACCOUNT_MEASURES if dim == "account" else MEASURES) for dim in DIMENSIONS}
        self._measures[SITE] = len(SITE_MEASURES)
        # Per dimension: (counter position, fact name) for every window's measures, in window order.
        self._names: dict[str, list[list[tuple[int, str]]]] = {}
        for dim in (*DIMENSIONS, SITE):
            m = self._measures[dim]
            pairs = SITE_MEASURES if dim == SITE else MEASURES + ACCOUNT_MEASURES if dim == "account" else MEASURES
            windows = SITE_WINDOWS if dim == SITE else settings.windows
            self._names[dim] = [
                [(2 * (i * m + MEASURE_INDEX[k]), f"{dim}.{word}_{w.name}") for k, word in pairs]
                for i, w in enumerate(windows)
            ]
        self._distinct_specs = {
            dim: [
                (k, other, [(w.seconds, f"{dim}.{measure}_{w.name}") for w in settings.windows])
                for k, (measure, other) in enumerate(DISTINCT.get(dim, {}).items())
            ]
            for dim in DIMENSIONS
        }
        self._max_dim_window = max(w.seconds for w in settings.windows)
        self._ttl = 2.0 * self._plan.max_window  # the previous bucket of the longest window

    def __len__(self) -> int:
        """Units in use (entries plus members of large distinct sets): never above memory.max_keys."""
        return self._units

    # -- the Store port ------------------------------------------------------------------------

    async def observe(self, obs: Observation, now: float) -> Signals:
        counters = dict(self._zero)
        history = self._history(obs.account, now) if obs.account is not None else None
        weights_now = weights(now, self._widths)
        for dim in DIMENSIONS:
            value = obs.dimension(dim)
            if value is None:
                continue
            entity = self._counts(dim, value, now)
            self._add(entity, dim, A, -1, now, counters, weights_now)
            specs = self._distinct_specs[dim]
            if specs:
                self._distinct(entity, specs, obs, counters, now)
        site = self._counts(SITE, "", now)
        unknown = obs.account is not None and history is None
        self._add(site, SITE, A, U if unknown else -1, now, counters, weights(now, self._site_widths))
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
            extra = (FF if familiar else FU) if dim == "account" and index == F else -1
            self._add(self._counts(dim, value, now), dim, index, extra, now, None, None)
        self._add(self._counts(SITE, "", now), SITE, index, -1, now, None, None)
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
        key = (dim, value)
        entity = self._lru.get(key)
        if entity is not None and entity.expires > now:
            # The hot path: an entity seen recently.
            entity.expires = now + self._ttl
            self._lru.move_to_end(key)
            return cast(_Counts, entity)
        if entity is not None:
            self._drop(key)
        widths = self._site_widths if dim == SITE else self._widths
        sets = len(self._distinct_specs.get(dim, ()))
        fresh = _Counts(2 * len(widths) * self._measures[dim], sets, now, now + self._ttl)
        self._lru[key] = fresh
        self._charge(1)
        self._sweep(now)
        return fresh

    def _add(
        self,
        entity: _Counts,
        dim: str,
        index: int,
        extra: int,
        now: float,
        out: dict[str, int] | None,
        weights_now: list[float] | None,
    ) -> None:
        """Count measure `index` (and `extra` unless -1) in every window; with `out`, write the estimates."""
        counts, m = entity.counts, self._measures[dim]
        if now > entity.t:
            roll(counts, entity.t, now, self._site_widths if dim == SITE else self._widths, m)
            entity.t = now
        for i in range(0, len(counts), 2 * m):
            counts[i + 2 * index] += 1
            if extra >= 0:
                counts[i + 2 * extra] += 1
        if out is None or weights_now is None:
            return
        late = now < entity.t  # a late write reads the buckets as of the entity's last write
        ws = weights(entity.t, self._site_widths if dim == SITE else self._widths) if late else weights_now
        for weight, names in zip(ws, self._names[dim], strict=True):
            for pos, name in names:
                out[name] = estimate(counts[pos], counts[pos + 1], weight)

    def _distinct(
        self,
        entity: _Counts,
        specs: list[tuple[int, str, list[tuple[int, str]]]],
        obs: Observation,
        out: dict[str, int],
        now: float,
    ) -> None:
        sets = entity.distinct
        assert sets is not None  # every dimension with specs has sets
        horizon = now - self._max_dim_window
        for k, other, windows in specs:
            member = obs.dimension(other)
            members = sets[k]
            if isinstance(members, SampledSet):
                self._units -= members.prune(horizon)
                if member is not None:
                    self._charge(members.add(member, now))
                for seconds, name in windows:
                    out[name] = members.count_since(now - seconds)
                continue
            if member is not None:
                members = sets[k] = small_add(members or [], member, now, horizon)
                if isinstance(members, SampledSet):
                    self._charge(len(members))
                    for seconds, name in windows:
                        out[name] = members.count_since(now - seconds)
                    continue
            if members:
                for seconds, name in windows:
                    out[name] = small_count_since(members, now - seconds)

    # -- history -------------------------------------------------------------------------------

    def _history(self, account: str, now: float) -> AccountHistory | None:
        entry = self._lru.get(("h", account))
        if not isinstance(entry, _Entry) or entry.expires <= now:
            return None
        return history_from_record(entry.value, now, self._history_days)

    # -- the LRU -------------------------------------------------------------------------------

    def _touch(self, key: tuple[str, str], now: float, ttl: float, factory: Any) -> _Entry:
        entry = cast(_Entry | None, self._lru.get(key))
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
        self._units -= self._lru.pop(key).units

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
