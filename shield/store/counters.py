"""The memory store's counters: every dimension value's two-bucket windows and distinct sets.

Entities live in the store's key space (shield.store.linked_keyspace), one table per dimension keyed
by the bare value or its hash (HASHED). A one-off entity's counters are a shared shape
(shield.store.entities); the same shape, outcome and unrolled windows always give the same next shape,
remembered in `_steps`.
"""

from __future__ import annotations

import math
from collections.abc import MutableSequence, Sequence
from typing import cast

from shield.facts.catalog import DIMENSIONS
from shield.model import Observation, Window
from shield.store.distinct import count_distinct, flat
from shield.store.entities import NARROW_MAX, Counts, born, writable
from shield.store.layout import SITE
from shield.store.linked_keyspace import LinkedKeyspace
from shield.store.plans import DimPlan, plan
from shield.store.sliding import A, U, roll, weights

SHAPES_MAX = 4096  # shared counter shapes remembered (the cache starts over when full)

# The dimensions whose values are mostly one-off under attack (and members of other dimensions' sets):
# their entities are keyed, and their set members kept, by the low 60 bits of the value's str hash (an
# int of 32 B; 64 bits would take 36) instead of the value (a 40-70 B string the store would otherwise
# keep alive). A value shares its one int between its key and its memberships. Two values of one
# dimension with the same 60 bits share an entity (their counts add up). str hashes are SipHash under a
# per-process random key (unless PYTHONHASHSEED fixes it): an attacker cannot aim a collision, and with
# n live values of a dimension the chance that any two collide is about n**2 / 2**61 (4e-7 for a
# million). The low bits are the str hash's own, so a sampled set samples an int member as its str
# (shield.store.sampled).
HASHED = frozenset({"ip", "account", "password", "pair", "device"})
LOW = (1 << 60) - 1


class Counters:
    """Counting and reading the windows of every dimension value (see the module docstring)."""

    def __init__(
        self, keys: LinkedKeyspace, windows: Sequence[Window], *, ttl: float, reads: frozenset[str] | None
    ) -> None:
        self.keys = keys
        # The key space's tables as this class uses them (a dimension's or the site's holds only Counts):
        # cast once here, not per lookup (cast(Counts | None, ...) builds a union at run time on every call).
        self._tables = cast("dict[str, dict[str | int, Counts]]", keys.tables)
        self.windows = tuple(windows)
        self.plans = {dim: plan(dim, windows, reads) for dim in (*DIMENSIONS, SITE)}
        self.ttl = ttl
        self._shapes: dict[bytes, bytes] = {}  # counter shapes shared by one-off entities
        self._steps: dict[tuple[bytes, int, int], bytes] = {}  # (shape, outcome, extra) -> the next shape
        self._spans = [float(w.seconds) for w in windows]
        self._max_window = max(w.seconds for w in windows)
        # Per `now` (the same for every dimension of one call): the latest bucket start over the
        # dimensions' and the site's windows (see _bucket_start).
        self._now = math.nan
        self._bound = (0.0, 0.0)
        self._dims = [(dim, dim in HASHED) for dim in DIMENSIONS]
        self._widths = self.plans[DIMENSIONS[0]].widths
        self._site_widths = self.plans[SITE].widths

    def keep(self, reads: frozenset[str] | None) -> None:
        """Count the distinct sets `reads` keeps from now on (a rule pack reloaded). A set no longer kept keeps
        its members until they expire, as on Redis; one kept anew starts empty.

        An entity seen once holds its members in the layout of the sets kept then (see Counts): a dimension
        whose sets change has those laid out flat first, a pass over its entities (reloads are rare)."""
        old, self.plans = self.plans, {dim: plan(dim, self.windows, reads) for dim in (*DIMENSIONS, SITE)}
        for dim, before in old.items():
            specs = before.specs
            if [k for k, _, _ in specs] == [k for k, _, _ in self.plans[dim].specs]:
                continue
            for entity in self._tables[dim].values():
                first = born(entity)
                if first is not None:
                    entity.sets, entity.aside = flat(entity.sets, first, specs), None

    def bounds(self, now: float) -> tuple[float, float]:
        """The latest bucket start at `now` of the dimensions' and of the site's windows (see _bucket_start),
        computed once per `now`."""
        if now != self._now:
            self._now = now
            self._bound = (_bucket_start(now, self._widths), _bucket_start(now, self._site_widths))
        return self._bound

    def entity(self, dim: str, value: str | int, now: float) -> tuple[Counts, bool]:
        """The entity of `value`, and whether it was just created."""
        keys = self.keys
        entity = self._tables[dim].get(value)
        if entity is not None:
            if now - entity.t < self.ttl:
                keys.refresh(dim, entity)
                return entity, False
            keys.drop(dim, entity)
        fresh = Counts(self.plans[dim].blank, now)
        keys.add(dim, value, fresh, now)
        return fresh, True

    def observe(self, obs: Observation, now: float, out: dict[str, int], *, unknown: bool) -> None:
        """Count the attempt in every dimension and the site; every estimate into `out`."""
        # The hot path of a protected request: entity() inlined, attributes bound once per call.
        weights_now = weights(now, self._widths)
        horizon, cutoffs = now - self._max_window, [now - span for span in self._spans]
        keys, plans, ttl = self.keys, self.plans, self.ttl
        tables = self._tables
        bound = self.bounds(now)[0]
        ids: dict[str, str | int] = {}  # the attempt's values as the store keys them (see HASHED)
        for dim, hashed in self._dims:
            value = getattr(obs, dim)
            if value is not None:
                ids[dim] = hash(value) & LOW if hashed else value
        for dim, key in ids.items():
            p = plans[dim]
            entity = tables[dim].get(key)
            if entity is not None:
                last = entity.t
                if now - last < ttl:
                    keys.refresh(dim, entity)
                    # add(entity, p, A, -1, now, out, weights_now, site=False) inlined: one call fewer per entity
                    raw = entity.counts
                    counts: MutableSequence[int]
                    if isinstance(raw, bytes) or (raw.typecode == "B" and max(raw) >= NARROW_MAX):
                        counts = writable(entity, outcome=False)[0]
                    else:
                        counts = raw
                    if now > last:
                        if last < bound:  # else every window's bucket is still the current one
                            roll(counts, last, now, p.widths, p.measures)
                        entity.t = now
                    # a late write reads the buckets as of the entity's last write
                    p.attempt(counts, weights(last, p.widths) if now < last else weights_now, out)
                    if p.specs:
                        count_distinct(keys, entity, p.specs, ids, out, now, horizon, cutoffs)
                    continue
                keys.drop(dim, entity)
            # the common case under credential stuffing: a first attempt, one member per set
            entity = Counts(p.blank, now)
            keys.add(dim, key, entity, now)
            self.first(entity, p, ids, out)
        site, _ = self.entity(SITE, "", now)
        sp = self.plans[SITE]
        self.add(site, sp, A, U if unknown else -1, now, out, weights(now, sp.widths), site=True)

    def first(self, entity: Counts, p: DimPlan, ids: dict[str, str | int], out: dict[str, int]) -> None:
        """A new entity's first attempt: one in every window, every set holds its one member."""
        entity.counts = p.first
        for name in p.attempt_names:
            out[name] = 1
        specs = p.specs
        if len(specs) == 1:
            _, other, names = specs[0]
            member = entity.sets = ids.get(other)
            if member is not None:
                for name in names:
                    out[name] = 1
            return
        members: list[str | int | None] = []
        for _, other, names in specs:
            member = ids.get(other)
            members.append(member)
            if member is not None:
                for name in names:
                    out[name] = 1
        if members.count(None) < len(members):
            entity.sets = tuple(members)

    def add(
        self,
        entity: Counts,
        p: DimPlan,
        index: int,
        extra: int,
        now: float,
        out: dict[str, int] | None,
        weights_now: list[float] | None,
        *,
        site: bool,
    ) -> None:
        """Count measure `index` (and `extra` unless -1) in every window; with `out`, write the estimates.

        `site`: the entity is the site's (its own windows)."""
        m = p.measures
        raw = entity.counts
        counts: MutableSequence[int]
        if isinstance(raw, bytes) or (raw.typecode == "B" and max(raw) >= NARROW_MAX):
            counts, shared = writable(entity, outcome=out is None)
        else:
            counts, shared = raw, False
        last = entity.t
        if now > last:
            if now != self._now:
                self.bounds(now)
            if last < self._bound[site]:  # else every window's bucket is still the current one
                roll(counts, last, now, p.widths, m)
            entity.t = now
        if index == A and extra < 0 and out is not None and weights_now is not None:
            # an attempt (never a shared shape: writable() shares only on an outcome): count and read in one pass
            p.attempt(counts, weights(last, p.widths) if now < last else weights_now, out)
            return
        step = 2 * m
        first = 2 * index
        if extra >= 0:
            second = 2 * extra
            for i in range(0, len(counts), step):
                counts[i + first] += 1
                counts[i + second] += 1
        else:
            for i in range(first, len(counts), step):
                counts[i] += 1
        if shared:
            entity.counts = self._shared(bytes(counts))
        if out is None or weights_now is None:
            return
        # a late write reads the buckets as of the entity's last write
        p.estimate(counts, weights(last, p.widths) if now < last else weights_now, out)

    def outcome(self, dim: str, value: str, index: int, extra: int, now: float) -> None:
        """Count an outcome; the entity is now worth keeping (it leaves the junk tier)."""
        keys = self.keys
        key: str | int = hash(value) & LOW if dim in HASHED else value
        entity = self._tables[dim].get(key)
        if entity is None or now - entity.t >= self.ttl:
            entity = self.entity(dim, key, now)[0]
        # else no refresh: promote() below moves it to the back of the kept tier
        p = self.plans[dim]
        site = dim == SITE
        shape, last = entity.counts, entity.t
        if type(shape) is bytes and (now <= last or last >= self.bounds(now)[site]):
            # A one-off entity whose windows do not roll: the same shape and outcome give the same next shape.
            step = (shape, index, extra)
            after = self._steps.get(step)
            if after is None:
                self.add(entity, p, index, extra, now, None, None, site=site)
                if type(entity.counts) is bytes:
                    if len(self._steps) >= SHAPES_MAX:
                        self._steps.clear()
                    self._steps[step] = entity.counts
            else:
                entity.counts = after
                if now > last:
                    entity.t = now
        else:
            self.add(entity, p, index, extra, now, None, None, site=site)
        entity.hits += 1
        keys.promote(dim, entity)

    def _shared(self, counts: bytes) -> bytes:
        """The one shared copy of this counter shape."""
        shapes = self._shapes
        found = shapes.get(counts)
        if found is None:
            if len(shapes) >= SHAPES_MAX:
                shapes.clear()  # entities keep their copies; only the sharing of new ones starts over
            found = shapes[counts] = counts
        return found


def _bucket_start(now: float, widths: Sequence[float]) -> float:
    """The latest start, over `widths`, of the bucket holding `now`.

    A write at t <= now with t >= this start is in the same bucket as `now` in every window (so nothing
    rolls): widths are whole seconds, so floor(now / w) * w is exact and t / w rounds to at least it."""
    bound = -math.inf
    for w in widths:
        start = math.floor(now / w) * w
        if start > bound:
            bound = start
    return bound
