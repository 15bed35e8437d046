"""The memory store's key space as it was (two OrderedDicts per kind): the frozen reference store of
tests/store/test_memory_differential.py runs on it, so that test checks shield.store.linked_keyspace's
eviction order (the one the store runs on) against this one. The eviction policy (junk before kept,
fewest recorded outcomes among the oldest kept) and its security note are in shield.store.linked_keyspace.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from itertools import islice
from typing import Protocol

EXPIRED_SWEEP = 8  # expired entries dropped from the LRUs' fronts per write, amortised
KEPT_SAMPLE = 8  # kept entries looked at per kind for the fewest outcomes (the oldest ones)


class Item(Protocol):
    """What the key space needs of an entry."""

    hits: int  # recorded outcomes: the entry's value as protection

    @property
    def units(self) -> int: ...

    @property
    def touched(self) -> float: ...

    def expired(self, now: float, ttl: float) -> bool: ...


class Keyspace:
    """Two tiers of per-kind LRUs under one unit budget (see the module docstring)."""

    __slots__ = (
        "_current",
        "_kinds",
        "_lrus",
        "_now",
        "_sweep_turn",
        "_turn",
        "entries",
        "junk",
        "kept",
        "max_units",
        "ttl",
        "units",
    )

    def __init__(self, kinds: Iterable[str], *, max_units: int, ttl: float) -> None:
        kinds = tuple(kinds)
        self.junk: dict[str, OrderedDict[str, Item]] = {kind: OrderedDict() for kind in kinds}
        self.kept: dict[str, OrderedDict[str, Item]] = {kind: OrderedDict() for kind in kinds}
        self.max_units = max(1, max_units)
        self.ttl = ttl  # counters expire this long after their last write; entries carry their own expiry
        self.entries = 0
        self.units = 0
        self._current: Item | None = None  # the entry being written: never evicted under its writer
        self._now = -math.inf  # the time of the write under way: its request's fresh entries are not junk yet
        self._kinds = kinds
        self._turn = 0  # the kind the kept-tier search starts at, in turn: evictions spread over every kind
        self._lrus = [(kind, tier[kind]) for tier in (self.junk, self.kept) for kind in kinds]
        self._sweep_turn = 0

    def get(self, kind: str, key: str) -> Item | None:
        # The kept tier first: the entities seen again (an address, a network, a country) mostly have outcomes.
        item = self.kept[kind].get(key)
        return item if item is not None else self.junk[kind].get(key)

    def refresh(self, kind: str, key: str, item: Item) -> None:
        """Mark `item` as just used (the back of its LRU)."""
        (self.kept if item.hits else self.junk)[kind].move_to_end(key)
        self._current = item

    def add(self, kind: str, key: str, item: Item, now: float) -> None:
        (self.kept if item.hits else self.junk)[kind][key] = item
        self.entries += 1
        self._current = item
        self._now = now
        self.charge(item.units)
        self.sweep(now)

    def promote(self, kind: str, key: str, item: Item) -> None:
        """`item` has just recorded an outcome: it moves to (or stays at the back of) the kept tier."""
        if self.junk[kind].pop(key, None) is not None:
            self.kept[kind][key] = item
        else:
            self.kept[kind].move_to_end(key)

    def drop(self, kind: str, key: str) -> None:
        item = self.junk[kind].pop(key, None)
        if item is None:
            item = self.kept[kind].pop(key)
        self.units -= item.units
        self.entries -= 1

    def charge(self, units: int) -> None:
        self.units += units
        while self.units > self.max_units and self.entries > 1:
            if not self._evict(self._oldest_junk() or self._least_kept()):
                return

    def release(self, units: int) -> None:
        self.units -= units

    def sweep(self, now: float) -> None:
        """Drop expired entries from the fronts of the next two LRUs in turn (amortised over writes)."""
        lrus, ttl = self._lrus, self.ttl
        turn = self._sweep_turn
        for _ in range(2):
            turn = (turn + 1) % len(lrus)
            kind, lru = lrus[turn]
            swept = 0
            while lru and swept < EXPIRED_SWEEP:
                key = next(iter(lru))
                if not lru[key].expired(now, ttl):
                    break
                self.drop(kind, key)
                swept += 1
        self._sweep_turn = turn

    def _evict(self, victim: tuple[str, str] | None) -> bool:
        if victim is None:
            return False
        self.drop(*victim)
        return True

    def _oldest_junk(self) -> tuple[str, str] | None:
        found, when = None, math.inf
        for kind, lru in self.junk.items():
            for key, item in islice(lru.items(), 2):  # the front, or the one behind the entry being written
                if item is self._current:
                    continue
                if item.touched >= self._now:  # made by the request being counted, or newer: not junk yet
                    break
                if item.touched < when:
                    found, when = (kind, key), item.touched
                break
        return found

    def _least_kept(self) -> tuple[str, str] | None:
        found, best = None, (math.inf, math.inf)
        kinds = self._kinds
        self._turn = (self._turn + 1) % len(kinds)
        for i in range(len(kinds)):
            kind = kinds[(self._turn + i) % len(kinds)]
            for key, item in islice(self.kept[kind].items(), KEPT_SAMPLE):
                if item is self._current:
                    continue
                score = (item.hits, item.touched)
                if score < best:
                    found, best = (kind, key), score
                if item.hits <= 1:  # nothing behind it in this kind is worth less and older
                    break
            if best[0] <= 1:  # a single-outcome entry is as little as the kept tier holds
                return found
        return found
