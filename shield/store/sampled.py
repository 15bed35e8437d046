"""Sliding-window distinct counts in bounded memory (the MemoryStore's HyperLogLog).

A set starts as a flat list [member, last_seen, member, last_seen, ...] (SMALL members at most:
the common case, one member, costs one list) and becomes a SampledSet beyond.

SampledSet keeps members with their last-seen time, oldest first, so a window's distinct count
is one binary search. Up to CAP members the count is exact. Beyond, the set switches to adaptive
(Wegman) sampling: it keeps only members whose hash has its `level` low bits zero (one in
2**level), raising the level whenever it overflows, and scales counts by 2**level. The
estimate is unbiased with a relative standard error of about 1/sqrt(CAP/2) (under 9% for
CAP=256), and memory never exceeds CAP members. Python's str hash is per-process salted,
which is fine: the set lives and dies with the process.
"""

from __future__ import annotations

from bisect import bisect_right

CAP = 256
SMALL = 8


class SampledSet:
    __slots__ = ("level", "seen")

    def __init__(self) -> None:
        self.level = 0
        self.seen: dict[str, float] = {}  # member -> last seen, in last-seen order

    def __len__(self) -> int:
        return len(self.seen)

    def prune(self, horizon: float) -> int:
        """Forget members last seen at or before `horizon`; how many were forgotten."""
        seen, dropped = self.seen, 0
        while seen:
            first = next(iter(seen))
            if seen[first] > horizon:
                break
            del seen[first]
            dropped += 1
        if not seen:
            self.level = 0  # an empty set can be exact again
        return dropped

    def add(self, member: str, now: float) -> int:
        """Record `member` at `now`; the change in stored members (-CAP..1)."""
        if self.level and hash(member) & ((1 << self.level) - 1):
            return 0  # not in the sample at this level
        before = len(self.seen)
        self.seen.pop(member, None)
        self.seen[member] = now
        while len(self.seen) > CAP:
            self.level += 1
            mask = (1 << self.level) - 1
            self.seen = {m: t for m, t in self.seen.items() if not hash(m) & mask}
        return len(self.seen) - before

    def count_since(self, cutoff: float) -> int:
        """Distinct members seen after `cutoff` (estimated once the set is sampled)."""
        times = list(self.seen.values())
        return (len(times) - bisect_right(times, cutoff)) << self.level


Distinct = list[object] | SampledSet


def small_add(items: list[object], member: str, now: float, horizon: float) -> Distinct:
    """Record `member` in a small set (dropping members last seen at or before `horizon`)."""
    kept: list[object] = [member, now]
    for j in range(0, len(items), 2):
        seen = items[j + 1]
        if items[j] != member and seen > horizon:  # type: ignore[operator]
            kept += (items[j], seen)
    if len(kept) <= 2 * SMALL:
        return kept
    big = SampledSet()
    for j in range(len(kept) - 2, -1, -2):  # oldest first (kept is newest first)
        big.add(kept[j], kept[j + 1])  # type: ignore[arg-type]
    return big


def small_count_since(items: list[object], cutoff: float) -> int:
    n = 0
    for j in range(1, len(items), 2):
        if items[j] > cutoff:  # type: ignore[operator]
            n += 1
    return n
