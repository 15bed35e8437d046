"""The memory store as it was before it was split and tuned (commit 7d0a4ff), kept as the oracle of
tests/store/test_memory_differential.py: the new store must count exactly as this one did. Not used by shield."""

# mypy: ignore-errors

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, MutableSequence
from typing import Any, cast

from shield.facts.catalog import DIMENSIONS, DISTINCT, SITE_WINDOWS
from shield.model import BAN_SCOPES, AccountHistory, Ban, BanScope, Observation, Outcome, Signals
from shield.store.base import Retention
from shield.store.layout import ACCOUNT_MEASURES, MEASURES, SITE, SITE_MEASURES, Plan
from shield.store.records import contradicted, escalated_ttl, harshest, history_from_record, updated_record
from shield.store.sampled import SMALL, SampledSet
from shield.store.sliding import FF, FU, MEASURE_INDEX, A, F, S, U, roll, weights
from tests.store.keyspace_reference import Keyspace

NARROW_MAX = 253  # a byte-sized count this high is widened before the next increment
SHAPES_MAX = 4096  # shared counter shapes remembered (the cache starts over when full)


class _Counts:
    """One dimension value: two-bucket counters (shield.store.sliding) and its distinct sets.

    Most entities (a rotating attacker's IPs, accounts, passwords, pairs) see one attempt and one
    outcome, so their counters take one of a few shapes: `counts` is then an immutable `bytes`
    shared by every entity of the same shape (current, previous per window and measure), copied on
    write. The second attempt gives the entity its own byte array, widened to int32 the first time a
    count reaches 254.

    `sets` holds the small distinct sets. Until the second attempt (`born` set), every member was
    seen at `born`: `sets` is then the one member (a dimension with one set) or the members in the
    dimension's set order (None where absent). After, it is flat, (set index, member, last seen, ...).
    A set outgrowing SMALL members moves to `big` as a SampledSet.
    """

    __slots__ = ("big", "born", "counts", "hits", "sets", "t")

    def __init__(self, counts: bytes, now: float) -> None:
        self.counts: bytes | array[int] = counts
        self.sets: Any = None
        self.big: dict[int, SampledSet] | None = None
        self.t = now  # the last write: every window's current bucket follows from it
        self.born: float | None = now  # the first attempt, until the second one (see above)
        self.hits = 0  # recorded outcomes: what eviction weighs (tests.store.keyspace_reference)

    def expired(self, now: float, ttl: float) -> bool:
        return now - self.t >= ttl

    @property
    def touched(self) -> float:
        return self.t

    @property
    def units(self) -> int:
        """Members of sampled (large) sets cost a unit each; small sets ride on the entry's unit."""
        return 1 + sum(len(d) for d in self.big.values()) if self.big else 1


class _Entry:
    __slots__ = ("expires", "hits", "touched", "value")

    def __init__(self, value: Any, expires: float, touched: float, hits: int) -> None:
        self.value = value
        self.expires = expires
        self.touched = touched
        self.hits = hits

    def expired(self, now: float, ttl: float) -> bool:
        return now >= self.expires

    @property
    def units(self) -> int:
        return 1


class MemoryStore:
    """The Store port in process memory (see the module docstring for its limits)."""

    degraded = False  # same attribute as ResilientStore: a memory store is never degraded

    def __init__(self, retention: Retention = Retention()) -> None:  # noqa: B008 (frozen)
        self._plan = Plan.build(retention.windows)
        self._history_days = retention.history_days
        self._history_size = retention.history_size
        self._confirm_after = retention.confirm_after
        self._bans: dict[tuple[BanScope, str], Ban] = {}
        self._offenses: dict[tuple[BanScope, str], tuple[int, float, float]] = {}
        self._zero = dict.fromkeys(self._plan.names, 0)
        self._widths = [float(w.seconds) for w in retention.windows]
        self._site_widths = [float(w.seconds) for w in SITE_WINDOWS]
        self._measures = {dim: len(MEASURES + ACCOUNT_MEASURES if dim == "account" else MEASURES) for dim in DIMENSIONS}
        self._measures[SITE] = len(SITE_MEASURES)
        # Per dimension: (counter position, fact name) for every window's measures, in window order.
        self._names: dict[str, list[list[tuple[int, str]]]] = {}
        for dim in (*DIMENSIONS, SITE):
            m = self._measures[dim]
            pairs = SITE_MEASURES if dim == SITE else MEASURES + ACCOUNT_MEASURES if dim == "account" else MEASURES
            windows = SITE_WINDOWS if dim == SITE else retention.windows
            self._names[dim] = [
                [(2 * (i * m + MEASURE_INDEX[k]), f"{dim}.{word}_{w.name}") for k, word in pairs]
                for i, w in enumerate(windows)
            ]
        # Per dimension: (set index, the dimension counted, one fact name per window).
        self._distinct_specs = {
            dim: [
                (k, other, [f"{dim}.{measure}_{w.name}" for w in retention.windows])
                for k, (measure, other) in enumerate(DISTINCT.get(dim, {}).items())
            ]
            for dim in DIMENSIONS
        }
        self._spans = [float(w.seconds) for w in retention.windows]
        self._attempt_positions = {dim: [names[A][0] for names in self._names[dim]] for dim in DIMENSIONS}
        self._attempt_names = {dim: [names[A][1] for names in self._names[dim]] for dim in DIMENSIONS}
        # Per dimension: the counters of an entity before its first write, and after its first attempt.
        self._blank = {
            dim: bytes(2 * len(self._site_widths if dim == SITE else self._widths) * m)
            for dim, m in self._measures.items()
        }
        self._first_counts = {}
        for dim in DIMENSIONS:
            first = bytearray(self._blank[dim])
            for pos in self._attempt_positions[dim]:
                first[pos] = 1
            self._first_counts[dim] = bytes(first)
        self._shapes: dict[bytes, bytes] = {}  # counter shapes shared by one-off entities (see _Counts)
        self._steps: dict[tuple[bytes, int, int], bytes] = {}  # (shape, outcome, extra) -> the next shape
        self._max_dim_window = max(w.seconds for w in retention.windows)
        self._ttl = 2.0 * self._plan.max_window  # the previous bucket of the longest window
        # One LRU per kind and tier (each dimension, the site, histories "h", claims "o"), keyed by the bare
        # value: no key tuple per entity.
        self._keys = Keyspace((*DIMENSIONS, SITE, "h", "o"), max_units=retention.max_keys, ttl=self._ttl)

    def __len__(self) -> int:
        """Units in use (entries plus members of large distinct sets): never above memory.max_keys."""
        return self._keys.units

    # -- the Store port ------------------------------------------------------------------------

    async def observe(self, obs: Observation, now: float) -> Signals:
        counters = dict(self._zero)
        history = self._history(obs.account, now) if obs.account is not None else None
        weights_now = weights(now, self._widths)
        for dim in DIMENSIONS:
            value = obs.dimension(dim)
            if value is None:
                continue
            entity, new = self._counts(dim, value, now)
            if new:  # the common case under credential stuffing: a first attempt, one member per set
                self._first(entity, dim, obs, counters, now)
                continue
            self._add(entity, dim, A, -1, now, counters, weights_now)
            specs = self._distinct_specs[dim]
            if specs:
                self._distinct(entity, specs, obs, counters, now)
        site, _ = self._counts(SITE, "", now)
        unknown = obs.account is not None and history is None
        self._add(site, SITE, A, U if unknown else -1, now, counters, weights(now, self._site_widths))
        ban = self._find(_ban_keys(obs), now)
        return Signals(counters=counters, history=history, ban=ban)

    async def record_outcome(
        self, obs: Observation, outcome: Outcome, *, familiar: bool, now: float, confirmed: bool = True
    ) -> None:
        if outcome is Outcome.UNKNOWN:
            return
        index = S if outcome is Outcome.SUCCESS else F
        for dim in DIMENSIONS:
            value = obs.dimension(dim)
            if value is None:
                continue
            extra = (FF if familiar else FU) if dim == "account" and index == F else -1
            self._outcome(dim, value, index, extra, now)
        self._outcome(SITE, "", index, -1, now)
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
        entry = self._keys.get("o", key)
        if isinstance(entry, _Entry) and entry.expires > now:
            return False
        self._touch("o", key, now, ttl, bool)
        return True

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- counters ------------------------------------------------------------------------------

    def _counts(self, dim: str, value: str, now: float) -> tuple[_Counts, bool]:
        """The entity of `value`, and whether it was just created."""
        keys = self._keys
        entity = keys.get(dim, value)
        if entity is not None and not entity.expired(now, self._ttl):
            keys.refresh(dim, value, entity)
            return cast(_Counts, entity), False
        if entity is not None:
            keys.drop(dim, value)
        fresh = _Counts(self._blank[dim], now)
        keys.add(dim, value, fresh, now)
        return fresh, True

    def _outcome(self, dim: str, value: str, index: int, extra: int, now: float) -> None:
        """Count an outcome; the entity is now worth keeping (it leaves the junk tier)."""
        entity = self._counts(dim, value, now)[0]
        shape = entity.counts
        if type(shape) is bytes and self._unrolled(dim, entity.t, now):
            # A one-off entity (see _Counts): the same shape and outcome give the same next shape.
            step = (shape, index, extra)
            after = self._steps.get(step)
            if after is None:
                self._add(entity, dim, index, extra, now, None, None)
                if type(entity.counts) is bytes:
                    if len(self._steps) >= SHAPES_MAX:
                        self._steps.clear()
                    self._steps[step] = entity.counts
            else:
                entity.counts = after
                entity.t = max(entity.t, now)
        else:
            self._add(entity, dim, index, extra, now, None, None)
        entity.hits += 1
        self._keys.promote(dim, value, entity)

    def _unrolled(self, dim: str, last: float, now: float) -> bool:
        """Whether a write at `now` finds every window in the bucket of the last write (nothing rolls)."""
        if now <= last:
            return True
        for width in self._site_widths if dim == SITE else self._widths:
            if math.floor(now / width) != math.floor(last / width):
                return False
        return True

    def _first(self, entity: _Counts, dim: str, obs: Observation, out: dict[str, int], now: float) -> None:
        """A new entity's first attempt: one in every window, every set holds its one member."""
        entity.counts = self._first_counts[dim]
        for name in self._attempt_names[dim]:
            out[name] = 1
        specs = self._distinct_specs[dim]
        if len(specs) == 1:
            _, other, names = specs[0]
            member = entity.sets = obs.dimension(other)
            if member is not None:
                for name in names:
                    out[name] = 1
            return
        members: list[str | None] = []
        for _, other, names in specs:
            member = obs.dimension(other)
            members.append(member)
            if member is not None:
                for name in names:
                    out[name] = 1
        if members.count(None) < len(members):
            entity.sets = tuple(members)

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
        m = self._measures[dim]
        raw = entity.counts
        if isinstance(raw, bytes) or (raw.typecode == "B" and max(raw) >= NARROW_MAX):
            counts, shared = _writable(entity, outcome=out is None)
        else:
            counts, shared = raw, False
        if now > entity.t:
            roll(counts, entity.t, now, self._site_widths if dim == SITE else self._widths, m)
            entity.t = now
        for i in range(0, len(counts), 2 * m):
            counts[i + 2 * index] += 1
            if extra >= 0:
                counts[i + 2 * extra] += 1
        if shared:
            entity.counts = self._shared(bytes(counts))
        if out is None or weights_now is None:
            return
        late = now < entity.t  # a late write reads the buckets as of the entity's last write
        ws = weights(entity.t, self._site_widths if dim == SITE else self._widths) if late else weights_now
        for weight, names in zip(ws, self._names[dim], strict=True):
            for pos, name in names:
                c, p = counts[pos], counts[pos + 1]
                if p:
                    c += int(p * weight + 0.5)
                if c:  # out starts at zero
                    out[name] = c

    def _distinct(
        self,
        entity: _Counts,
        specs: list[tuple[int, str, list[str]]],
        obs: Observation,
        out: dict[str, int],
        now: float,
    ) -> None:
        horizon = now - self._max_dim_window
        cutoffs = [now - span for span in self._spans]
        if entity.born is not None:  # the second attempt: the first one's members in the flat layout
            entity.sets, entity.born = _flat(entity.sets, entity.born, specs), None
        big, small = entity.big, entity.sets
        added: list[tuple[int, str]] = []
        for k, other, names in specs:
            member = obs.dimension(other)
            sampled = big.get(k) if big else None
            if sampled is None:
                if member is not None:
                    added.append((k, member))
                continue
            self._keys.release(sampled.prune(horizon))
            if member is not None:
                self._keys.charge(sampled.add(member, now))
            for name, n in zip(names, sampled.counts_since(cutoffs), strict=True):
                out[name] = n
        if not added and not small:
            return
        kept: list[Any] = []
        for k, member in added:
            kept += (k, member, now)
        if small:
            for j in range(0, len(small), 3):
                if small[j + 2] > horizon and (small[j], small[j + 1]) not in added:
                    kept += small[j : j + 3]
        tallies: dict[int, list[int]] = {}
        for j in range(0, len(kept), 3):
            k, seen = kept[j], kept[j + 2]
            row = tallies.get(k)
            if row is None:
                row = tallies[k] = [0] * (len(cutoffs) + 1)
            row[-1] += 1
            for wi, cutoff in enumerate(cutoffs):
                if seen > cutoff:
                    row[wi] += 1
        for k, _, names in specs:
            row = tallies.get(k)
            if row is None:
                continue
            if row[-1] > SMALL:
                kept = self._promote(entity, k, kept)
                row = entity.big[k].counts_since(cutoffs) if entity.big else row
            for name, n in zip(names, row, strict=False):
                out[name] = n
        entity.sets = tuple(kept) or None

    def _shared(self, counts: bytes) -> bytes:
        """The one shared copy of this counter shape."""
        shapes = self._shapes
        found = shapes.get(counts)
        if found is None:
            if len(shapes) >= SHAPES_MAX:
                shapes.clear()  # entities keep their copies; only the sharing of new ones starts over
            found = shapes[counts] = counts
        return found

    def _promote(self, entity: _Counts, k: int, kept: list[Any]) -> list[Any]:
        """Move set k out of the small list into a SampledSet; the small list without it."""
        sampled = SampledSet()
        members = sorted((kept[j + 2], kept[j + 1]) for j in range(0, len(kept), 3) if kept[j] == k)
        for seen, member in members:  # oldest first
            sampled.add(member, seen)
        if entity.big is None:
            entity.big = {}
        entity.big[k] = sampled
        self._keys.charge(len(sampled))
        return [v for j in range(0, len(kept), 3) if kept[j] != k for v in kept[j : j + 3]]

    # -- history -------------------------------------------------------------------------------

    def _history(self, account: str, now: float) -> AccountHistory | None:
        entry = self._keys.get("h", account)
        if not isinstance(entry, _Entry) or entry.expires <= now:
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
        if isinstance(found, _Entry) and found.expires > now:
            forgot = contradicted(found.value, now, days=days, size=size, confirm_after=after)
            if forgot is not None:
                found.value = forgot

    # -- the LRU -------------------------------------------------------------------------------

    def _touch(self, kind: str, key: str, now: float, ttl: float, factory: Any, *, hits: int = 0) -> _Entry:
        keys = self._keys
        entry = cast(_Entry | None, keys.get(kind, key))
        if entry is None or entry.expires <= now:
            if entry is not None:
                keys.drop(kind, key)
            entry = _Entry(factory(), now + ttl, now, hits)
            keys.add(kind, key, entry, now)
        else:
            entry.expires = now + ttl
            entry.touched = now
            entry.hits += hits
            keys.refresh(kind, key, entry)
        return entry

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


def _writable(entity: _Counts, *, outcome: bool) -> tuple[MutableSequence[int], bool]:
    """The entity's counters to write, and whether they are a copy of a shared shape to share again.

    A shared shape (see _Counts) is copied; it stays shared after an outcome (a one-off entity's
    second write) and becomes the entity's own after a second attempt. A byte-sized count about to
    overflow widens the counters to int32 (then never shared)."""
    counts = entity.counts
    if type(counts) is bytes:
        wide = max(counts) >= NARROW_MAX
        if outcome and not wide:
            return bytearray(counts), True
        # array("i", bytes) would read the bytes as raw int32s: widen value by value.
        entity.counts = own = array("i", list(counts)) if wide else array("B", counts)
        return own, False
    mine = cast("array[int]", counts)
    if mine.typecode == "B" and max(mine) >= NARROW_MAX:
        entity.counts = mine = array("i", mine)
    return mine, False


def _flat(sets: Any, born: float, specs: list[tuple[int, str, list[str]]]) -> tuple[Any, ...] | None:
    """A first attempt's members (see _Counts) as flat (set index, member, last seen) triples."""
    if sets is None:
        return None
    if isinstance(sets, str):
        return (specs[0][0], sets, born)
    flat: list[Any] = []
    for (k, _, _), member in zip(specs, sets, strict=True):
        if member is not None:
            flat += (k, member, born)
    return tuple(flat)


def _ban_keys(obs: Observation) -> dict[BanScope, str]:
    keys: dict[BanScope, str] = {}
    for scope in BAN_SCOPES:
        value = obs.dimension(scope)
        if value is not None:
            keys[scope] = value
    return keys
