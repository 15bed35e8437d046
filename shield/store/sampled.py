"""Sliding-window distinct counts in bounded memory (the MemoryStore's HyperLogLog).

The MemoryStore keeps sets of up to SMALL members in a flat list of its entity; beyond, a sampled set:
shield.store.packed_set.PackedSet, this SampledSet's algorithm for int members in packed buffers. This
general form (any hashable member) is the one the frozen reference store (tests/store/memory_reference.py)
runs on, and tests/store/test_packed_set.py checks the packed one against it.

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


def sample_bits(member: str | int) -> int:
    """The member's sampling hash: a member the store keeps as the low bits of its str hash
    (shield.store.counters.HASHED) has those bits already, so both forms of one value are sampled alike."""
    return member if type(member) is int else hash(member)


class SampledSet:
    __slots__ = ("level", "seen", "times")

    def __init__(self) -> None:
        self.level = 0
        self.seen: dict[str | int, float] = {}  # member -> last seen, in last-seen order
        # list(seen.values()), kept in step while members are only appended and pruned from the front (a
        # new member, the common case under attack); None after anything else, rebuilt when next read.
        self.times: list[float] | None = []

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
        if dropped and self.times is not None:
            del self.times[:dropped]
        if not seen:
            self.level = 0  # an empty set can be exact again
        return dropped

    def add(self, member: str | int, now: float) -> int:
        """Record `member` at `now`; the change in stored members (-CAP..1)."""
        if self.level and sample_bits(member) & ((1 << self.level) - 1):
            return 0  # not in the sample at this level
        before = len(self.seen)
        if self.seen.pop(member, None) is None and self.times is not None:
            self.times.append(now)
        else:
            self.times = None  # a member seen again moves to the back: rebuilt when next read
        self.seen[member] = now
        while len(self.seen) > CAP:
            self.level += 1
            mask = (1 << self.level) - 1
            self.seen = {m: t for m, t in self.seen.items() if not sample_bits(m) & mask}
            self.times = None
        return len(self.seen) - before

    def count_since(self, cutoff: float) -> int:
        """Distinct members seen after `cutoff` (estimated once the set is sampled)."""
        return self.counts_since([cutoff])[0]

    def counts_since(self, cutoffs: list[float]) -> list[int]:
        """count_since for several cutoffs, reading the set once."""
        times = self.times
        if times is None:
            times = self.times = list(self.seen.values())
        return [(len(times) - bisect_right(times, cutoff)) << self.level for cutoff in cutoffs]
