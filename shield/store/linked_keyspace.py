"""The memory store's bounded key space: junk is evicted before the counters that protect an account.

Every entry costs units of `memory.max_keys` and lives in one of two tiers, each one LRU per kind:

- junk: entries nothing has been learnt about yet (attempts with no recorded outcome);
- kept: entries with at least one recorded outcome (a failure or a success) and account histories.

Over budget, the oldest junk entry goes first; only when there is none does a kept entry go, and then
the one with the fewest recorded outcomes among the oldest few of each kind (oldest on a tie).

security: a plain LRU let a flood of one-off junk logins push out a victim's failure counters between
two guesses, and the lockout rules forgot the attack (issue 12 item 9). Now junk displaces junk; a junk
login that failed once displaces others like it before an account with many failures; an attacker must
fail on each of max_keys fresh keys more often than on the victim to evict the victim's counters.

Each kind has one plain dict (key -> entry), and each entry carries its key and its neighbours in its
tier's circular list (three slots, 24 B); promotion relinks the entry and leaves the dict alone. The
two OrderedDicts per kind this replaced (tests/store/keyspace_reference.py, still the frozen reference
store's, so tests/store/test_memory_differential.py checks this order against that one) cost ~50 B per
entry, and moving an entry between tiers re-inserted its key.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Protocol

EXPIRED_SWEEP = 8  # expired entries dropped from the LRUs' fronts per write, amortised
KEPT_SAMPLE = 8  # kept entries looked at per kind for the fewest outcomes (the oldest ones)

Key = str | int  # a value, or its hash (shield.store.counters.HASHED)


class Linked(Protocol):
    """What the key space needs of an entry: its key and its place in its tier's list, set by the key space."""

    hits: int  # recorded outcomes: the entry's value as protection (0: junk)
    key: Key
    older: Linked
    newer: Linked

    @property
    def units(self) -> int: ...

    @property
    def touched(self) -> float: ...

    def expired(self, now: float, ttl: float) -> bool: ...


class Head:
    """The sentinel of one circular list: `newer` is its oldest entry, `older` its newest (itself when empty)."""

    __slots__ = ("hits", "key", "newer", "older")

    def __init__(self) -> None:
        self.hits = 0
        self.key: Key = ""
        self.older: Linked = self
        self.newer: Linked = self

    @property
    def units(self) -> int:
        return 0

    @property
    def touched(self) -> float:
        return math.inf

    def expired(self, now: float, ttl: float) -> bool:
        return False


def entries(head: Linked, limit: int) -> Iterator[Linked]:
    """The oldest `limit` entries of `head`'s list, oldest first."""
    item = head.newer
    while item is not head and limit:
        yield item
        item = item.newer
        limit -= 1


class LinkedKeyspace:
    """Two tiers of per-kind LRUs under one unit budget (see the module docstring)."""

    __slots__ = (
        "_current",
        "_kinds",
        "_lists",
        "_now",
        "_sweep_turn",
        "_turn",
        "entries",
        "junk",
        "kept",
        "max_units",
        "tables",
        "ttl",
        "units",
    )

    def __init__(self, kinds: Iterable[str], *, max_units: int, ttl: float) -> None:
        kinds = tuple(kinds)
        self.tables: dict[str, dict[Key, Linked]] = {kind: {} for kind in kinds}
        self.junk: dict[str, Linked] = {kind: Head() for kind in kinds}
        self.kept: dict[str, Linked] = {kind: Head() for kind in kinds}
        self.max_units = max(1, max_units)
        self.ttl = ttl  # counters expire this long after their last write; entries carry their own expiry
        self.entries = 0
        self.units = 0
        self._current: Linked | None = None  # the entry being written: never evicted under its writer
        self._now = -math.inf  # the time of the write under way: its request's fresh entries are not junk yet
        self._kinds = kinds
        self._turn = 0  # the kind the kept-tier search starts at, in turn: evictions spread over every kind
        self._lists = [(kind, tier[kind]) for tier in (self.junk, self.kept) for kind in kinds]
        self._sweep_turn = 0

    def get(self, kind: str, key: Key) -> Linked | None:
        return self.tables[kind].get(key)

    def refresh(self, kind: str, item: Linked) -> None:
        """Mark `item` as just used: the back of its tier's list (the kept one once it has an outcome)."""
        _to_back(item, (self.kept if item.hits else self.junk)[kind])
        self._current = item

    def add(self, kind: str, key: Key, item: Linked, now: float) -> None:
        self.tables[kind][key] = item
        item.key = key
        head = (self.kept if item.hits else self.junk)[kind]
        last = head.older
        item.older, item.newer = last, head
        last.newer = head.older = item
        self.entries += 1
        self._current = item
        self._now = now
        self.charge(item.units)
        self.sweep(now)

    def promote(self, kind: str, item: Linked) -> None:
        """`item` has just recorded an outcome: it moves to (or stays at the back of) the kept tier."""
        _to_back(item, self.kept[kind])

    def drop(self, kind: str, item: Linked) -> None:
        del self.tables[kind][item.key]
        older, newer = item.older, item.newer
        older.newer, newer.older = newer, older
        self.units -= item.units
        self.entries -= 1

    def charge(self, units: int) -> None:
        self.units += units
        while self.units > self.max_units and self.entries > 1:
            victim = self._oldest_junk() or self._least_kept()
            if victim is None:
                return
            self.drop(*victim)

    def release(self, units: int) -> None:
        self.units -= units

    def sweep(self, now: float) -> None:
        """Drop expired entries from the fronts of the next two lists in turn (amortised over writes)."""
        lists, ttl = self._lists, self.ttl
        turn = self._sweep_turn
        for _ in range(2):
            turn = (turn + 1) % len(lists)
            kind, head = lists[turn]
            swept = 0
            while swept < EXPIRED_SWEEP:
                front = head.newer
                if front is head or not front.expired(now, ttl):
                    break
                self.drop(kind, front)
                swept += 1
        self._sweep_turn = turn

    def _oldest_junk(self) -> tuple[str, Linked] | None:
        found, when = None, math.inf
        for kind, head in self.junk.items():
            for item in entries(head, 2):  # the front, or the one behind the entry being written
                if item is self._current:
                    continue
                if item.touched >= self._now:  # made by the request being counted, or newer: not junk yet
                    break
                if item.touched < when:
                    found, when = (kind, item), item.touched
                break
        return found

    def _least_kept(self) -> tuple[str, Linked] | None:
        found, best = None, (math.inf, math.inf)
        kinds = self._kinds
        self._turn = (self._turn + 1) % len(kinds)
        for i in range(len(kinds)):
            kind = kinds[(self._turn + i) % len(kinds)]
            for item in entries(self.kept[kind], KEPT_SAMPLE):
                if item is self._current:
                    continue
                score = (item.hits, item.touched)
                if score < best:
                    found, best = (kind, item), score
                if item.hits <= 1:  # nothing behind it in this kind is worth less and older
                    break
            if best[0] <= 1:  # a single-outcome entry is as little as the kept tier holds
                return found
        return found


def _to_back(item: Linked, head: Linked) -> None:
    """Move `item` (in some list) to the back of `head`'s list, just before `head`."""
    if item.newer is not head:
        older, newer = item.older, item.newer
        older.newer, newer.older = newer, older
        last = head.older
        item.older, item.newer = last, head
        last.newer = head.older = item
