"""The memory store's counters: every dimension value's two-bucket windows and distinct sets.

Entities live in the store's key space (shield.store.linked_keyspace): one table of columns per
dimension (shield.store.slot_table), an entity a slot in it, keyed by its value's hash (HASHED). A
one-off entity's counters are a shared shape (shield.store.entities); the same shape, outcome and
unrolled windows always give the same next shape, remembered in `_steps`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import attrgetter
from typing import Final

from shield.facts.catalog import DIMENSIONS
from shield.model import Observation, Window
from shield.store.distinct import count_distinct, flat
from shield.store.entities import narrowed
from shield.store.layout import SITE
from shield.store.linked_keyspace import HITS_MAX, KEPT, LinkedKeyspace, Table
from shield.store.plans import DimPlan, plan
from shield.store.sliding import A, U, roll_list, weights
from shield.store.slot_table import PRESENT

SHAPES_MAX: Final = 4096  # shared counter shapes remembered (the cache starts over when full)

# Every dimension's entities are keyed, and their values kept as members of other dimensions' sets, by
# the low 60 bits of the value's str hash (an int in a column: no Python object per value) instead of
# the value (a 40-70 B string the store would otherwise keep alive). Two values of one dimension with
# the same 60 bits share an entity (their counts add up). str hashes are SipHash under a per-process
# random key (unless PYTHONHASHSEED fixes it): an attacker cannot aim a collision, and with n live
# values of a dimension the chance that any two collide is about n**2 / 2**61 (4e-7 for a million). The
# low bits are the str hash's own, so a sampled set samples a member as it would its str
# (shield.store.sampled). The site is the one entity of its table, keyed 0.
HASHED = frozenset(DIMENSIONS)
LOW: Final = 1152921504606846975  # (1 << 60) - 1; a Final literal: compiled code inlines it


class Counters:
    """Counting and reading the windows of every dimension value (see the module docstring)."""

    def __init__(
        self,
        keys: LinkedKeyspace,
        windows: Sequence[Window],
        *,
        ttl: float,
        reads: frozenset[str] | None,
        estimated: frozenset[str] | None = None,
    ) -> None:
        self.keys = keys
        self._tables = keys.tables
        self.windows = tuple(windows)
        self.plans = {dim: plan(dim, windows, reads, estimated) for dim in (*DIMENSIONS, SITE)}
        for dim, p in self.plans.items():
            self._tables[dim].members(len(p.specs))
        self.ttl = ttl
        self._shapes: dict[bytes, bytes] = {}  # counter shapes shared by one-off entities
        self._steps: dict[tuple[bytes, int, int], bytes] = {}  # (shape, outcome, extra) -> the next shape
        self._spans = [float(w.seconds) for w in windows]
        self._max_window = max(w.seconds for w in windows)
        # Per `now` (the same for every dimension of one call): the latest bucket start over the
        # dimensions' and the site's windows (see _bucket_start).
        self._now = math.nan
        self._bound = (0.0, 0.0)
        self._dims = [(dim, self._tables[dim]) for dim in DIMENSIONS]
        self._dim_plans = [self.plans[dim] for dim in DIMENSIONS]  # plans by position in DIMENSIONS
        self._values = attrgetter(*DIMENSIONS)  # an Observation's values of DIMENSIONS, as a tuple
        self._widths = self.plans[DIMENSIONS[0]].widths
        self._site_widths = self.plans[SITE].widths

    def keep(self, reads: frozenset[str] | None, estimated: frozenset[str] | None = None) -> None:
        """Count the distinct sets `reads` keeps from now on (a rule pack reloaded), and write the estimates
        of the counters `estimated` names (None: all; shield.store.estimated). A set no longer kept keeps
        its members until they expire, as on Redis; one kept anew starts empty.

        An entity seen once holds its members in columns of the sets kept then (see distinct.py): a
        dimension whose sets change has those laid out flat first, a pass over its entities (reloads are
        rare)."""
        old, self.plans = self.plans, {dim: plan(dim, self.windows, reads, estimated) for dim in (*DIMENSIONS, SITE)}
        self._dim_plans = [self.plans[dim] for dim in DIMENSIONS]
        for dim, before in old.items():
            specs = before.specs
            if [k for k, _, _ in specs] == [k for k, _, _ in self.plans[dim].specs]:
                continue
            table = self._tables[dim]
            for slot in table.slots():
                born = table.born[slot]
                if born == born:  # not NaN: the first attempt's layout
                    laid = flat(table, slot, born, specs)
                    if laid is not None:
                        table.flat[slot] = laid
                    table.born[slot] = math.nan
            table.members(len(self.plans[dim].specs))

    def bounds(self, now: float) -> tuple[float, float]:
        """The latest bucket start at `now` of the dimensions' and of the site's windows (see _bucket_start),
        computed once per `now`."""
        if now != self._now:
            self._now = now
            self._bound = (_bucket_start(now, self._widths), _bucket_start(now, self._site_widths))
        return self._bound

    def entity(self, table: Table, key: int, now: float) -> int:
        """The slot of `key`'s entity, made (with blank counters) if it has none or it expired."""
        keys = self.keys
        slot = table.find(key)
        if slot:
            if now - table.t[slot] < self.ttl:
                keys.refresh(table, slot)
                return slot
            keys.drop(table, slot)
        slot = keys.add(table, key, now, t=now, born=now)
        table.refs[slot] = self.plans[table.kind].blank
        return slot

    def observe(self, obs: Observation, now: float, out: dict[str, int], *, unknown: bool) -> None:
        """Count the attempt in every dimension and the site; the estimates the plans write into `out`."""
        # The hot path of a protected request: entity() inlined, attributes bound once per call.
        weights_now = weights(now, self._widths)
        horizon, cutoffs = now - self._max_window, [now - span for span in self._spans]
        keys, ttl = self.keys, self.ttl
        bound = self.bounds(now)[0]
        values: tuple[str | None, ...] = self._values(obs)  # one C call, not a generic getattr() per dimension
        # the attempt's values as the store keys them (see HASHED), in DIMENSIONS' order (None: absent): a
        # list read by position, not a dict by name, and no tuple per value met
        ids: list[int | None] = [None if value is None else hash(value) & LOW for value in values]
        dims, dim_plans = self._dims, self._dim_plans
        for i in range(len(dims)):
            found = ids[i]
            if found is None:
                continue
            key: int = found
            table = dims[i][1]
            p = dim_plans[i]
            index, keyed, span = table.index, table.keys, table.span  # table.find(key) inlined
            pos = key % span
            while True:
                slot = index[pos]
                if not slot or keyed[slot] == key:
                    break
                pos = (pos + 1) % span
            if slot:
                t = table.t
                last = t[slot]
                if now - last < ttl:
                    keys.refresh(table, slot)  # the back of its list; never evicted under its writer
                    # add(table, slot, p, A, -1, now, out, weights_now, site=False) inlined: one call fewer
                    refs = table.refs
                    raw = refs[slot]
                    counts: list[int] = list(raw) if type(raw) is bytes else raw
                    if now > last:
                        if last < bound:  # else every window's bucket is still the current one
                            roll_list(counts, last, now, p.widths, p.measures)
                        t[slot] = now
                    # a late write reads the buckets as of the entity's last write
                    p.attempt.write(counts, weights(last, p.widths) if now < last else weights_now, out)
                    if type(raw) is bytes:
                        refs[slot] = narrowed(counts)
                    if p.specs:
                        count_distinct(keys, table, slot, p.specs, ids, out, now, horizon, cutoffs)
                    continue
                keys.drop(table, slot)
                pos = -1  # the drop moved the index
            # the common case under credential stuffing: a first attempt, one member per set (first() inlined)
            slot = keys.add(table, key, now, t=now, born=now, pos=pos)
            table.refs[slot] = p.first
            for name in p.attempt_names:
                out[name] = 1
            firsts, specs = table.firsts, p.specs
            for j in range(len(specs)):  # index loops: compiled, a zip() is a generic call and iterator
                spec = specs[j]
                member = ids[spec[1]]
                if member is not None:
                    firsts[j][slot] = member | PRESENT
                    for name in spec[2]:
                        out[name] = 1
        site_table = self._tables[SITE]
        site = self.entity(site_table, 0, now)  # keyed as hash("") & LOW, as outcome() keys it
        sp = self.plans[SITE]
        self.add(site_table, site, sp, A, U if unknown else -1, now, out, weights(now, sp.widths), site=True)

    def count(self, obs: Observation, now: float) -> None:
        """Count the attempt in every dimension and the site as `observe` does (the same buckets rolled,
        the same entities made and kept), estimating nothing: a refusal's count. Its observation has no
        member of any distinct set (shield.store.base.check_count), so the sets are left as they are:
        what observe's pass over them would drop (members past the horizon) the next one drops alike,
        and a first attempt's members are laid flat by the next one as by this one."""
        keys, plans, ttl = self.keys, self.plans, self.ttl
        bound = self.bounds(now)[0]
        values = self._values(obs)
        dims = self._dims
        for i in range(len(dims)):
            value = values[i]
            if value is None:
                continue
            dim, table = dims[i]
            p = plans[dim]
            key = hash(value) & LOW
            slot = table.find(key)
            if slot:
                t = table.t
                last = t[slot]
                if now - last < ttl:
                    keys.refresh(table, slot)
                    refs = table.refs
                    raw = refs[slot]
                    counts: list[int] = list(raw) if type(raw) is bytes else raw
                    if now > last:
                        if last < bound:
                            roll_list(counts, last, now, p.widths, p.measures)
                        t[slot] = now
                    p.attempt.bump(counts)
                    if type(raw) is bytes:
                        refs[slot] = narrowed(counts)
                    continue
                keys.drop(table, slot)
            slot = keys.add(table, key, now, t=now, born=now)
            table.refs[slot] = p.first
        site_table = self._tables[SITE]
        site = self.entity(site_table, 0, now)
        self.add(site_table, site, self.plans[SITE], A, -1, now, None, None, site=True)

    def add(
        self,
        table: Table,
        slot: int,
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
        refs = table.refs
        raw = refs[slot]
        packed = type(raw) is bytes
        counts: list[int] = list(raw) if packed else raw
        last = table.t[slot]
        if now > last:
            if now != self._now:
                self.bounds(now)
            if last < self._bound[site]:  # else every window's bucket is still the current one
                roll_list(counts, last, now, p.widths, m)
            table.t[slot] = now
        if index == A and (extra < 0 or (site and extra == U)) and out is not None and weights_now is not None:
            # an attempt (never a shared shape: writable() shares only on an outcome): count and read in one pass
            attempt = p.attempt if extra < 0 else p.attempt_unknown
            attempt.write(counts, weights(last, p.widths) if now < last else weights_now, out)
            if packed:
                refs[slot] = narrowed(counts)
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
        if packed:  # an outcome's shape is shared (most are a one-off entity's first and only)
            after = narrowed(counts)
            refs[slot] = self._shared(after) if type(after) is bytes else after
        if out is None or weights_now is None:
            return
        # a late write reads the buckets as of the entity's last write
        p.estimate.write(counts, weights(last, p.widths) if now < last else weights_now, out)

    def outcomes(self, obs: Observation, index: int, extra: int, now: float) -> None:
        """Count an outcome (measure `index`, and `extra` unless -1 on the account) in every dimension of
        `obs` and the site; each entity is now worth keeping (it leaves the junk tier)."""
        # The second call of a protected request: outcome() inlined for the dimensions, its find() and
        # promote() too (an attempt reaches nine entities).
        steps, plans, ttl = self._steps, self.plans, self.ttl
        bound = self.bounds(now)[0]
        accounts = self._tables["account"]
        for dim, table in self._dims:
            value = getattr(obs, dim)
            if value is None:
                continue
            key = hash(value) & LOW
            slot = table.find(key)
            t = table.t
            if not slot or now - t[slot] >= ttl:
                slot = self.entity(table, key, now)
            # else no refresh: the promotion below moves it to the back of the kept tier
            more = extra if table is accounts else -1
            refs = table.refs
            shape, last = refs[slot], t[slot]
            if type(shape) is bytes and (now <= last or last >= bound):
                # A one-off entity whose windows do not roll: the same shape and outcome give the same next shape.
                after = steps.get((shape, index, more))
                if after is None:
                    self.step(table, slot, plans[dim], (shape, index, more), now, site=False)
                else:
                    refs[slot] = after
                    if now > last:
                        t[slot] = now
            else:
                self.add(table, slot, plans[dim], index, more, now, None, None, site=False)
            hits = table.hits
            count = hits[slot]
            if count < HITS_MAX:
                hits[slot] = count + 1
            older, newer = table.older, table.newer
            if newer[slot] != KEPT:  # keys.promote(table, slot) inlined
                before, behind = older[slot], newer[slot]
                newer[before], older[behind] = behind, before
                tail = older[KEPT]
                older[slot], newer[slot] = tail, KEPT
                newer[tail] = older[KEPT] = slot
        self.outcome(SITE, "", index, -1, now)

    def outcome(self, dim: str, value: str, index: int, extra: int, now: float) -> None:
        """Count an outcome; the entity is now worth keeping (it leaves the junk tier)."""
        table = self._tables[dim]
        key = hash(value) & LOW  # the site's value is "", whose hash is 0
        slot = table.find(key)
        if not slot or now - table.t[slot] >= self.ttl:
            slot = self.entity(table, key, now)
        # else no refresh: promote() below moves it to the back of the kept tier
        site = dim == SITE
        shape, last = table.refs[slot], table.t[slot]
        if type(shape) is bytes and (now <= last or last >= self.bounds(now)[site]):
            # A one-off entity whose windows do not roll: the same shape and outcome give the same next shape.
            step = (shape, index, extra)
            after = self._steps.get(step)
            if after is None:
                self.step(table, slot, self.plans[dim], step, now, site=site)
            else:
                table.refs[slot] = after
                if now > last:
                    table.t[slot] = now
        else:
            self.add(table, slot, self.plans[dim], index, extra, now, None, None, site=site)
        hits = table.hits[slot]
        if hits < HITS_MAX:
            table.hits[slot] = hits + 1
        self.keys.promote(table, slot)

    def step(
        self, table: Table, slot: int, p: DimPlan, step: tuple[bytes, int, int], now: float, *, site: bool
    ) -> None:
        """Count outcome `step` (shape, measure, extra) on a one-off entity whose windows do not roll, and
        remember the shape it gives."""
        _, index, extra = step
        self.add(table, slot, p, index, extra, now, None, None, site=site)
        after = table.refs[slot]
        if type(after) is bytes:
            if len(self._steps) >= SHAPES_MAX:
                self._steps.clear()
            self._steps[step] = after

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
