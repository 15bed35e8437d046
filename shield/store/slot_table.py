"""One kind of the memory store's entries (a dimension's values, the site, histories or claims) as columns.

An entry is a slot: an int indexing typed arrays (its key, last write, recorded outcomes, list links, first
attempt's time and members) and one list of Python objects (its counters, or a history's record). The
entries of a rotating attack (most of them seen once) thus cost no Python object of their own: about 60 B
each instead of ~190 B as a slotted object, its int key and its dict entry.

Keys are ints (the low 60 bits of the value's str hash: shield.store.counters.HASHED), found through an
open-addressing index (linear probing, an int32 slot per position, at most 2/3 full, grown by half;
deletion shifts the following run back, so there are no tombstones). Freed slots are reused. Slots 0 and 1
are the heads of the key space's two lists (shield.store.linked_keyspace), never indexed.
"""

from __future__ import annotations

import math
from array import array
from typing import Any, Final

from shield.store.packed_set import PackedSet

# Final literals: compiled code inlines them (a plain module global is a dict lookup per use, ~140 instructions)
JUNK: Final = 0  # the heads' slots: junk (no recorded outcome) and kept lists
KEPT: Final = 1
CHUNK: Final = 256  # slots added to every column at once
HITS_MAX: Final = 2147483647  # 2**31 - 1: recorded outcomes saturate here (int32): only eviction weighs them
PRESENT: Final = 4611686018427387904  # 1 << 62: a first member's mark in its column (0: absent); members < 2**60


class Table:
    """One kind's entries as columns, found by key (see the module docstring)."""

    __slots__ = (
        "big",
        "born",
        "expiring",
        "firsts",
        "flat",
        "free",
        "hits",
        "index",
        "keys",
        "kind",
        "newer",
        "older",
        "refs",
        "size",
        "span",
        "t",
        "used",
    )

    def __init__(self, kind: str, *, expiring: bool = False) -> None:
        self.kind = kind
        # `expiring`: an entry expires at its own time (`born` holds it: histories, claims); else `ttl`
        # after its last write (`t`).
        self.expiring = expiring
        self.keys = array("Q", [0, 0])
        self.t = array("d", [math.inf, math.inf])  # the last write (a counter) or the last touch (an entry)
        # counters: the first attempt's time until the second attempt (NaN after); entries: when they expire
        self.born = array("d", [math.nan, math.nan])
        self.hits = array("I", [0, 0])  # recorded outcomes: what eviction weighs
        self.older = array("I", [JUNK, KEPT])
        self.newer = array("I", [JUNK, KEPT])
        self.refs: list[Any] = [None, None]  # the counters (shared bytes or own array), or an entry's value
        self.firsts: list[array[int]] = []  # per distinct set kept: the first attempt's member | PRESENT, or 0
        self.flat: dict[int, tuple[Any, ...]] = {}  # slot -> small sets after the second attempt (distinct.py)
        self.big: dict[int, dict[int, PackedSet]] = {}  # slot -> sampled (large) sets by set index
        self.size = 2  # slots handed out so far (some may be free)
        self.free: list[int] = []
        self.index = array("I", bytes(4 * 8))
        self.span = 8  # len(index)
        self.used = 0

    def __len__(self) -> int:
        return self.used

    def members(self, sets: int) -> None:
        """Keep `sets` first-member columns (a rule pack reloaded: the caller laid the old ones out flat)."""
        self.firsts = [array("Q", bytes(8 * len(self.keys))) for _ in range(sets)]

    def find(self, key: int) -> int:
        """The slot of `key`, or 0."""
        index, keys, span = self.index, self.keys, self.span
        pos = key % span
        while True:
            slot = index[pos]
            if not slot or keys[slot] == key:
                return slot
            pos = (pos + 1) % span

    def insert(self, key: int, pos: int = -1) -> int:
        """A slot for `key` (absent), indexed. `pos`: where a probe for it ended (an empty position), if
        known: no second probe unless the index grows."""
        if 3 * (self.used + 1) > 2 * len(self.index):
            self._grow()
            pos = -1
        free = self.free
        if free:
            slot = free.pop()
        else:
            slot = self.size
            if slot == len(self.keys):
                self._extend()
            self.size = slot + 1
        self.keys[slot] = key
        index = self.index
        if pos < 0:
            span = self.span
            pos = key % span
            while index[pos]:
                pos = (pos + 1) % span
        index[pos] = slot
        self.used += 1
        return slot

    def remove(self, slot: int) -> None:
        """Forget `slot` (indexed): its key, counters and sets; the slot is free for reuse."""
        index, keys, span = self.index, self.keys, self.span
        pos = keys[slot] % span
        while index[pos] != slot:
            pos = (pos + 1) % span
        # Backward-shift deletion: move up each later entry of the run whose home is not after the hole.
        hole, probe = pos, pos
        while True:
            probe = (probe + 1) % span
            other = index[probe]
            if not other:
                break
            home = keys[other] % span
            if (probe - home) % span >= (probe - hole) % span:
                index[hole] = other
                hole = probe
        index[hole] = 0
        self.used -= 1
        self.refs[slot] = None
        self.born[slot] = math.nan
        for column in self.firsts:
            column[slot] = 0
        if self.flat:
            self.flat.pop(slot, None)
        if self.big:
            self.big.pop(slot, None)
        self.free.append(slot)

    def units(self, slot: int) -> int:
        """Members of sampled (large) sets cost a unit each; small sets ride on the entry's unit."""
        big = self.big.get(slot) if self.big else None
        return 1 + sum(len(s) for s in big.values()) if big is not None else 1

    def expired(self, slot: int, now: float, ttl: float) -> bool:
        return now >= self.born[slot] if self.expiring else now - self.t[slot] >= ttl

    def slots(self) -> list[int]:
        """Every live slot (in no particular order)."""
        # tolist(): one C call; compiled code iterating the array itself goes through the generic item
        # protocol (~250 instructions an item)
        return [slot for slot in self.index.tolist() if slot]

    def _extend(self) -> None:
        self.keys.extend(array("Q", bytes(8 * CHUNK)))
        self.t.extend(array("d", bytes(8 * CHUNK)))
        self.born.extend(array("d", [math.nan]) * CHUNK)
        self.hits.extend(array("I", bytes(4 * CHUNK)))
        self.older.extend(array("I", bytes(4 * CHUNK)))
        self.newer.extend(array("I", bytes(4 * CHUNK)))
        self.refs.extend([None] * CHUNK)
        for column in self.firsts:
            column.extend(array("Q", bytes(8 * CHUNK)))

    def _grow(self) -> None:
        size = 3 * len(self.index) // 2  # by half, not doubling: 6-9 B of index per entry, not 6-12
        # Rehashed in lists, made an array once: list items are read and written directly by compiled
        # code, an array's through the generic item protocol (~1,800 instructions an entry this way, ~200
        # in lists). The lists last for this call only.
        keys, span = self.keys.tolist(), size
        index = [0] * size
        for slot in self.index.tolist():
            if slot:
                pos = keys[slot] % span
                while index[pos]:
                    pos = (pos + 1) % span
                index[pos] = slot
        self.index, self.span = array("I", index), span
