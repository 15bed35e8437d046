"""SlidingCounts: one entity's counters over one window, in BUCKETS time buckets.

Each bucket holds a small row of counts (one per measure) and the window keeps running
totals, so reading a window is O(1): buckets that fell out of the window are subtracted as
they leave (they sit at the front, being inserted in time order).
"""

from __future__ import annotations

import math

from shield.store.layout import BUCKETS

# Row positions: attempts, failures, successes, then the account's familiar / unfamiliar
# failures (account entities) or the attempts on unknown accounts (the site entity).
A, F, S, FF, FU = 0, 1, 2, 3, 4
U = 3
MEASURE_INDEX = {"a": A, "f": F, "s": S, "ff": FF, "fu": FU, "u": U}


class SlidingCounts:
    __slots__ = ("buckets", "totals", "width")

    def __init__(self, width: float, measures: int) -> None:
        self.width = width
        self.totals = [0] * measures
        self.buckets: dict[int, list[int]] = {}

    def add(self, now: float, index: int) -> None:
        b = math.floor(now / self.width)
        row = self.buckets.get(b)
        if row is None:
            row = self.buckets[b] = [0] * len(self.totals)
        row[index] += 1
        self.totals[index] += 1

    def current(self, now: float) -> list[int]:
        """The totals over the window ending at `now` (the caller must not modify them)."""
        oldest = math.floor(now / self.width) - BUCKETS
        buckets, totals = self.buckets, self.totals
        while buckets:
            first = next(iter(buckets))
            if first > oldest:
                break
            for i, v in enumerate(buckets.pop(first)):
                totals[i] -= v
        return totals
