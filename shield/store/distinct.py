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
from typing import Any

from shield.store.linked_keyspace import LinkedKeyspace
from shield.store.packed_set import PackedSet
from shield.store.sampled import SMALL
from shield.store.slot_table import PRESENT, Table

# Per dimension: (set index, the dimension counted, one fact name per window). Only the sets kept
# (shield.store.layout.keeps); a kept set's window that no rule reads is named UNREAD: its count is
# written under that name and dropped from the counters once (cheaper than a test per write).
Specs = list[tuple[int, str, list[str]]]
UNREAD = ""


def count_distinct(
    keys: LinkedKeyspace,
    table: Table,
    slot: int,
    specs: Specs,
    ids: dict[str, int],
    out: dict[str, int],
    now: float,
    horizon: float,
    cutoffs: list[float],
) -> None:
    """Add the attempt's members (`ids`: its values as the store keys them) to the entity's sets and write
    every set's count per window to `out`.

    `horizon`: members last seen at or before it are forgotten; `cutoffs`: per window, the start."""
    born = table.born[slot]
    if born == born:  # the second attempt (born is not NaN): the first one's members laid flat
        small = flat(table, slot, born, specs)
        table.born[slot] = math.nan
        big = None  # a set grows large only after the second attempt
    else:
        small = table.flat.get(slot)
        big = table.big.get(slot) if table.big else None
    # the sets counted small (not sampled) to which the attempt adds a member: set index -> member
    added: dict[Any, int] = {}
    for k, other, names in specs:
        member = ids.get(other)
        sampled = big.get(k) if big else None
        if sampled is None:
            if member is not None:
                added[k] = member
            continue
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
    if not added and not small:
        return
    _count_small(keys, table, slot, specs, small, added, out, now, horizon, cutoffs)


def _count_small(
    keys: LinkedKeyspace,
    table: Table,
    slot: int,
    specs: Specs,
    small: tuple[Any, ...] | None,
    added: dict[Any, int],
    out: dict[str, int],
    now: float,
    horizon: float,
    cutoffs: list[float],
) -> None:
    """The small sets: the attempt's members (`added`), then the entity's others not forgotten, counted per
    window (a set outgrowing SMALL is promoted), laid flat again. Typed locals throughout: compiled code
    then compares and adds machine numbers instead of calling the generic operators."""
    # Members and set indexes pass through as the objects they are (an int-typed local would unbox each and
    # box it again into a new int object); times are read as floats once.
    kept: list[Any] = []
    for k, member in added.items():
        kept.append(k)
        kept.append(member)
        kept.append(now)
    if small:
        for j in range(0, len(small), 3):
            seen: float = small[j + 2]
            if seen > horizon:
                index: object = small[j]
                value: object = small[j + 1]
                ours = added.get(index)
                if ours is None or ours != value:
                    kept.append(index)
                    kept.append(value)
                    kept.append(small[j + 2])
    windows = len(cutoffs)
    tallies: dict[object, list[int]] = {}
    for j in range(0, len(kept), 3):
        index = kept[j]
        seen = kept[j + 2]
        row = tallies.get(index)
        if row is None:
            row = tallies[index] = [0] * (windows + 1)
        row[windows] = row[windows] + 1  # not +=: an augmented item assignment is the generic in-place add
        for wi in range(windows):
            if seen > cutoffs[wi]:
                row[wi] = row[wi] + 1
    for k, _, names in specs:
        row = tallies.get(k)
        if row is None:
            continue
        if row[windows] > SMALL:
            kept = promote(keys, table, slot, k, kept)
            row = table.big[slot][k].counts_since(cutoffs)
        for wi in range(len(names)):
            out[names[wi]] = row[wi]
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
