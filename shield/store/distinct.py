"""The memory store's distinct counts per entity: exact small sets, sampled large ones.

An entity is a slot of its dimension's table (shield.store.slot_table). Until its second attempt, its
members are its first attempt's, one column per set kept (`firsts`: the member | PRESENT, or 0), all seen
at `born`. From then on its small sets are one flat tuple (set index, member, last seen, ...) of up to
SMALL members per set, in the table's `flat` by slot; a set outgrowing that moves to the table's `big`
as a PackedSet (shield.store.packed_set), whose members cost a unit each of the key space
(shield.store.linked_keyspace). Members are the values' hashes (shield.store.counters.HASHED).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any, Final

from shield.store.linked_keyspace import LinkedKeyspace
from shield.store.packed_set import PackedSet
from shield.store.sampled import SMALL as SAMPLED_SMALL
from shield.store.slot_table import PRESENT, Table

# Per dimension: (set index, the dimension counted (its position in shield.facts.catalog.DIMENSIONS), one
# fact name per window). Only the sets kept
# (shield.store.layout.keeps); a kept set's window that no rule reads is named UNREAD: its count is
# written under that name and dropped from the counters once (cheaper than a test per write).
Specs = list[tuple[int, int, list[str]]]
SMALL: Final = SAMPLED_SMALL  # a Final: compiled code reads a static, not the module's dict
UNREAD = ""


def count_distinct(
    keys: LinkedKeyspace,
    table: Table,
    slot: int,
    specs: Specs,
    ids: list[int | None],
    out: dict[str, int],
    now: float,
    horizon: float,
    cutoffs: list[float],
) -> None:
    """Add the attempt's members (`ids`: its values as the store keys them, by dimension in DIMENSIONS'
    order, None where it has none) to the entity's sets and write every set's count per window to `out`.

    `horizon`: members last seen at or before it are forgotten; `cutoffs`: per window, the start."""
    born = table.born[slot]
    if born == born:  # the second attempt (born is not NaN): the first one's members laid flat
        small = flat(table, slot, born, specs)
        table.born[slot] = math.nan
        big = None  # a set grows large only after the second attempt
    else:
        small = table.flat.get(slot)
        big = table.big.get(slot) if table.big else None
    # per spec, the attempt's member when the set is counted small (not sampled), else None
    added: list[int | None] = []  # an optional int is an object in compiled code: passed through, no new int
    some = False
    for k, other, names in specs:
        member = ids[other]
        sampled = big.get(k) if big else None
        if sampled is None:
            added.append(member)
            some = some or member is not None
            continue
        added.append(None)
        # The hot path of an attempt on a busy network, ASN, country: a sampled set's prune, add and
        # counts_since inlined where they would do nothing (the members' times are in step and the oldest
        # is newer than the horizon; the member is out of the sample), as they would answer.
        times = sampled.times
        if not times or times[0] <= horizon:
            dropped = sampled.prune(horizon)
            if dropped:
                keys.release(dropped)
        if member is not None:
            level = sampled.level
            if level and member & ((1 << level) - 1):
                if keys.units > keys.max_units:
                    keys.charge(0)  # an earlier overrun may be evictable now (as charge(add(...)) did)
            else:
                keys.charge(sampled.add(member, now))  # even 0: an earlier overrun may be evictable now
        times = sampled.times
        size, level = len(times), sampled.level
        oldest = times[0] if times else math.inf
        for wi in range(len(names)):  # index loops: compiled, a zip() is a generic call and iterator
            name, cutoff = names[wi], cutoffs[wi]
            if name:  # an UNREAD window would only be dropped from `out`
                # every member is in a window that starts before the oldest: no search
                out[name] = (size if oldest > cutoff else size - bisect_right(times, cutoff)) << level
    if not some and not small:
        return
    _count_small(keys, table, slot, specs, small, added, out, now, horizon, cutoffs)


def _count_small(
    keys: LinkedKeyspace,
    table: Table,
    slot: int,
    specs: Specs,
    small: tuple[Any, ...] | None,
    added: list[int | None],
    out: dict[str, int],
    now: float,
    horizon: float,
    cutoffs: list[float],
) -> None:
    """The small sets: the attempt's members (`added`, per spec: None for none or a sampled set), then
    the entity's others not forgotten, counted per window (a set outgrowing SMALL is promoted), laid flat
    again. Typed locals throughout: compiled code then compares and adds machine numbers instead of
    calling the generic operators; one flat list of tallies, no dict per set."""
    # Members and set indexes pass through as the objects they are (an int-typed local would unbox each and
    # box it again into a new int object); times are read as floats once.
    windows = len(cutoffs)
    width = windows + 1  # per spec: a tally per window, then every member not forgotten
    nspecs = len(specs)
    tallies = [0] * (nspecs * width)
    kept: list[Any] = []
    for i in range(nspecs):
        member = added[i]
        if member is not None:
            kept.append(specs[i][0])
            kept.append(member)
            kept.append(now)
            for wi in range(i * width, i * width + width):  # seen now: inside every window
                tallies[wi] = 1
    if small:
        for j in range(0, len(small), 3):
            seen: float = small[j + 2]
            if seen <= horizon:
                continue
            index: int = small[j]
            at = 0  # the position of its set in specs, or nspecs: a set no longer kept (its members stay)
            while at < nspecs and specs[at][0] != index:
                at += 1
            value: object = small[j + 1]
            if at < nspecs:
                ours = added[at]
                if ours is not None and ours == value:
                    continue  # seen again now: counted above
                base = at * width
                tallies[base + windows] = tallies[base + windows] + 1
                for wi in range(windows):
                    if seen > cutoffs[wi]:
                        tallies[base + wi] = tallies[base + wi] + 1
            kept.append(small[j])
            kept.append(value)
            kept.append(small[j + 2])
    for i in range(nspecs):
        base = i * width
        if not tallies[base + windows]:
            continue
        k, _, names = specs[i]
        if tallies[base + windows] > SMALL:
            kept = promote(keys, table, slot, k, kept)
            row = table.big[slot][k].counts_since(cutoffs)
            for wi in range(len(names)):
                if names[wi]:
                    out[names[wi]] = row[wi]
            continue
        for wi in range(len(names)):
            name = names[wi]
            if name:  # an UNREAD window would only be dropped from `out`
                out[name] = tallies[base + wi]
    if kept:
        table.flat[slot] = tuple(kept)
    elif small:
        table.flat.pop(slot, None)


def promote(keys: LinkedKeyspace, table: Table, slot: int, k: int, kept: list[Any]) -> list[Any]:
    """Move set k out of the small list into a SampledSet; the small list without it."""
    sampled = PackedSet()
    members = sorted((kept[j + 2], kept[j + 1]) for j in range(0, len(kept), 3) if kept[j] == k)
    for seen, member in members:  # oldest first
        sampled.add(member, seen)
    big = table.big.get(slot)
    if big is None:
        big = table.big[slot] = {}
    big[k] = sampled
    keys.charge(len(sampled))
    return [v for j in range(0, len(kept), 3) if kept[j] != k for v in kept[j : j + 3]]


def flat(table: Table, slot: int, born: float, specs: Specs) -> tuple[Any, ...] | None:
    """A first attempt's members (one column per set of `specs`) as flat (set index, member, last seen)
    triples; their columns are cleared."""
    members: list[Any] = []
    firsts = table.firsts
    for i in range(len(specs)):  # index loops: compiled, a zip() is a generic call and iterator
        column = firsts[i]
        member = column[slot]
        if member:
            members.append(specs[i][0])
            members.append(member ^ PRESENT)
            members.append(born)
            column[slot] = 0
    return tuple(members) or None
