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

Each kind is a table of columns (shield.store.slot_table); an entry is a slot, and the two lists of its
kind are circular, threaded through the table's `older` and `newer` columns, with slots 0 (junk) and 1
(kept) as their heads. Promotion relinks the slot and leaves the index alone. The two OrderedDicts per
kind this replaced (tests/store/keyspace_reference.py, still the frozen reference store's, so
tests/store/test_memory_differential.py checks this order against that one) cost ~50 B per entry.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from shield.store.slot_table import HITS_MAX, JUNK, KEPT, Table

__all__ = ["HITS_MAX", "JUNK", "KEPT", "LinkedKeyspace", "Table", "entries"]

EXPIRED_SWEEP = 8  # expired entries dropped from the LRUs' fronts per write, amortised
KEPT_SAMPLE = 8  # kept entries looked at per kind for the fewest outcomes (the oldest ones)


def entries(table: Table, head: int, limit: int) -> Iterator[int]:
    """The oldest `limit` slots of `table`'s list `head` (JUNK or KEPT), oldest first."""
    newer = table.newer
    slot = newer[head]
    while slot != head and limit:
        yield slot
        slot = newer[slot]
        limit -= 1


class LinkedKeyspace:
    """Two tiers of per-kind LRUs under one unit budget (see the module docstring)."""

    __slots__ = (
        "_lists",
        "_now",
        "_order",
        "_sweep_turn",
        "_turn",
        "entries",
        "max_units",
        "tables",
        "ttl",
        "units",
        "writing",
        "writing_table",
    )

    def __init__(self, tables: Iterable[Table], *, max_units: int, ttl: float) -> None:
        order = tuple(tables)
        self.tables = {table.kind: table for table in order}
        self.max_units = max(1, max_units)
        self.ttl = ttl  # counters expire this long after their last write; entries carry their own expiry
        self.entries = 0
        self.units = 0
        # the entry being written: never evicted under its writer
        self.writing_table: Table | None = None
        self.writing = 0
        self._now = -math.inf  # the time of the write under way: its request's fresh entries are not junk yet
        self._order = order
        self._turn = 0  # the kind the kept-tier search starts at, in turn: evictions spread over every kind
        self._lists = [(table, head) for head in (JUNK, KEPT) for table in order]
        self._sweep_turn = 0

    def refresh(self, table: Table, slot: int) -> None:
        """Mark `slot` as just used: the back of its tier's list (the kept one once it has an outcome)."""
        _to_back(table, slot, KEPT if table.hits[slot] else JUNK)
        self.writing_table, self.writing = table, slot

    def add(self, table: Table, key: int, now: float, *, t: float, born: float, hits: int = 0, pos: int = -1) -> int:
        """A new entry for `key` (absent from `table`): its slot, last written (or touched) at `t`. `pos`: see
        Table.insert."""
        slot = table.insert(key, pos)
        table.t[slot] = t
        table.born[slot] = born
        table.hits[slot] = hits
        head = KEPT if hits else JUNK
        older, newer = table.older, table.newer
        last = older[head]
        older[slot], newer[slot] = last, head
        newer[last] = older[head] = slot
        self.entries += 1
        self.writing_table, self.writing = table, slot
        self._now = now
        self.charge(1)
        self.sweep(now)
        return slot

    def promote(self, table: Table, slot: int) -> None:
        """`slot` has just recorded an outcome: it moves to (or stays at the back of) the kept tier."""
        _to_back(table, slot, KEPT)

    def drop(self, table: Table, slot: int) -> None:
        older, newer = table.older, table.newer
        before, after = older[slot], newer[slot]
        newer[before], older[after] = after, before
        self.units -= table.units(slot)
        self.entries -= 1
        table.remove(slot)

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
            table, head = lists[turn]
            newer, swept = table.newer, 0
            # table.expired() inlined: an entry's own expiry (born), or `ttl` after a counter's last write
            expiring, born, t = table.expiring, table.born, table.t
            while swept < EXPIRED_SWEEP:
                front = newer[head]
                if front == head or (born[front] > now if expiring else now - t[front] < ttl):
                    break
                self.drop(table, front)
                swept += 1
        self._sweep_turn = turn

    def _oldest_junk(self) -> tuple[Table, int] | None:
        found, when = None, math.inf
        current_table, current = self.writing_table, self.writing
        for table in self._order:
            for slot in entries(table, JUNK, 2):  # the front, or the one behind the entry being written
                if slot == current and table is current_table:
                    continue
                touched = table.t[slot]
                if touched >= self._now:  # made by the request being counted, or newer: not junk yet
                    break
                if touched < when:
                    found, when = (table, slot), touched
                break
        return found

    def _least_kept(self) -> tuple[Table, int] | None:
        found, best = None, (math.inf, math.inf)
        order, current_table, current = self._order, self.writing_table, self.writing
        self._turn = (self._turn + 1) % len(order)
        for i in range(len(order)):
            table = order[(self._turn + i) % len(order)]
            hits, t = table.hits, table.t
            for slot in entries(table, KEPT, KEPT_SAMPLE):
                if slot == current and table is current_table:
                    continue
                score = (hits[slot], t[slot])
                if score < best:
                    found, best = (table, slot), score
                if hits[slot] <= 1:  # nothing behind it in this kind is worth less and older
                    break
            if best[0] <= 1:  # a single-outcome entry is as little as the kept tier holds
                return found
        return found


def _to_back(table: Table, slot: int, head: int) -> None:
    """Move `slot` (in one of the table's lists) to the back of list `head`, just before the head."""
    older, newer = table.older, table.newer
    if newer[slot] != head:
        before, after = older[slot], newer[slot]
        newer[before], older[after] = after, before
        last = older[head]
        older[slot], newer[slot] = last, head
        newer[last] = older[head] = slot
