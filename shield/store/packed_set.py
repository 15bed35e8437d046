"""A sampled distinct set of int members in two flat buffers: what the memory store keeps per large set.

The same set as shield.store.sampled.SampledSet (exact up to CAP members, then adaptive sampling on the
members' low bits; its docstring has the estimate's error), for members that are ints below 2**63 (the
values' hashes, shield.store.counters.HASHED). Members and their last-seen times are kept in last-seen
order in a bytearray (8 B per member) and an array of doubles (8 B): 16 B a member, where a dict of int
to float cost ~100 B (its entry, the int and the float objects). A set seen by every attempt of a
rotating attack (its subnet's accounts) grows by one member per attempt.

Finding a member is a search of the bytearray (memchr-fast, at most CAP * 8 bytes), keeping only hits
on a member boundary.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_right

from shield.store.sampled import CAP

_ORDER = sys.byteorder  # the members' bytes as array("q") reads them


class PackedSet:
    __slots__ = ("level", "members", "times")

    def __init__(self) -> None:
        self.level = 0  # members kept: those whose `level` low bits are zero, each standing for 2**level
        self.members = bytearray()
        self.times = array("d")  # in step with `members`: in last-seen order

    def __len__(self) -> int:
        return len(self.times)

    def prune(self, horizon: float) -> int:
        """Forget members last seen at or before `horizon`; how many were forgotten."""
        times = self.times
        dropped = 0
        while dropped < len(times) and times[dropped] <= horizon:
            dropped += 1
        if dropped:
            del times[:dropped]
            del self.members[: 8 * dropped]
        if not times:
            self.level = 0  # an empty set can be exact again
        return dropped

    def add(self, member: int, now: float) -> int:
        """Record `member` at `now`; the change in stored members (-CAP..1)."""
        if self.level and member & ((1 << self.level) - 1):
            return 0  # not in the sample at this level
        members, times = self.members, self.times
        needle = member.to_bytes(8, _ORDER)
        at = self._find(needle)
        before = len(times)
        if at >= 0:  # seen again: moves to the back
            del members[8 * at : 8 * at + 8]
            del times[at]
        members += needle
        times.append(now)
        while len(self.times) > CAP:
            self._raise()  # new buffers
        return len(self.times) - before

    def counts_since(self, cutoffs: list[float]) -> list[int]:
        """Per cutoff, the distinct members seen after it (estimated once the set is sampled)."""
        times, level = self.times, self.level
        return [(len(times) - bisect_right(times, cutoff)) << level for cutoff in cutoffs]

    def _find(self, needle: bytes) -> int:
        """The position of the member packed as `needle`, or -1."""
        members = self.members
        pos = members.find(needle)
        while pos > 0 and pos & 7:  # straddling two members: look further
            pos = members.find(needle, pos + 1)
        return pos >> 3 if pos >= 0 else -1

    def _raise(self) -> None:
        """Keep one member in two: the next sampling level."""
        self.level += 1
        mask = (1 << self.level) - 1
        packed = array("q")
        packed.frombytes(self.members)
        kept = [i for i, m in enumerate(packed) if not m & mask]
        self.members = bytearray(array("q", [packed[i] for i in kept]).tobytes())
        self.times = array("d", [self.times[i] for i in kept])
