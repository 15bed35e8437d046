"""What the memory store keeps per key: a dimension value's counters, or an entry (history, claim).

Most entities (a rotating attacker's IPs, accounts, passwords, pairs) see one attempt and one
outcome, so their counters take one of a few shapes: `Counts.counts` is then an immutable `bytes`
shared by every entity of the same shape (current, previous per window and measure; see
shield.store.sliding), copied on write. The second attempt gives the entity its own byte array,
widened to int32 the first time a count reaches NARROW_MAX + 1.
"""

from __future__ import annotations

from array import array
from collections.abc import MutableSequence
from typing import Any, cast

from shield.store.linked_keyspace import Key, Linked
from shield.store.sampled import SampledSet

NARROW_MAX = 253  # a byte-sized count this high is widened before the next increment


class Counts:
    """One dimension value: two-bucket counters and its distinct sets (see the module docstring).

    `sets` holds the small distinct sets. Until the second attempt, `aside` is the time of the first
    (see born()) and every member was seen then: `sets` is the one member (a dimension with one set) or
    the members in the dimension's set order (None where absent). After, `sets` is flat, (set index,
    member, last seen, ...), and a set outgrowing SMALL members moves to `aside`, a dict of SampledSets
    by set index (shield.store.distinct). One slot for both (a set grows large only after the second
    attempt): a slot is 8 B on each of the millions of entities a rotating attack leaves behind.
    """

    __slots__ = ("aside", "counts", "hits", "key", "newer", "older", "sets", "t")
    key: Key  # these three are set by the key space (shield.store.linked_keyspace)
    older: Linked
    newer: Linked

    def __init__(self, counts: bytes, now: float) -> None:
        self.counts: bytes | array[int] = counts
        self.sets: Any = None
        self.t = now  # the last write: every window's current bucket follows from it
        self.aside: float | dict[int, SampledSet] | None = now  # the first attempt's time, then the large sets
        self.hits = 0  # recorded outcomes: what eviction weighs (shield.store.linked_keyspace)

    def expired(self, now: float, ttl: float) -> bool:
        return now - self.t >= ttl

    @property
    def touched(self) -> float:
        return self.t

    @property
    def units(self) -> int:
        """Members of sampled (large) sets cost a unit each; small sets ride on the entry's unit."""
        big = self.aside
        return 1 + sum(len(d) for d in big.values()) if isinstance(big, dict) else 1

    def big(self) -> dict[int, SampledSet] | None:
        """The sampled (large) sets by set index, if any."""
        big = self.aside
        return big if isinstance(big, dict) else None


def born(entity: Counts) -> float | None:
    """The time of the entity's first attempt until its second one (its members are laid out as then), else None."""
    aside = entity.aside
    return None if aside is None or isinstance(aside, dict) else aside


class Entry:
    """An account history or a challenge claim, with its own expiry."""

    __slots__ = ("expires", "hits", "key", "newer", "older", "touched", "value")
    key: Key  # these three are set by the key space (shield.store.linked_keyspace)
    older: Linked
    newer: Linked

    def __init__(self, value: Any, expires: float, touched: float, hits: int) -> None:
        self.value = value
        self.expires = expires
        self.touched = touched
        self.hits = hits

    def expired(self, now: float, ttl: float) -> bool:
        return now >= self.expires

    @property
    def units(self) -> int:
        return 1


def writable(entity: Counts, *, outcome: bool) -> tuple[MutableSequence[int], bool]:
    """The entity's counters to write, and whether they are a copy of a shared shape to share again.

    A shared shape is copied; it stays shared after an outcome (a one-off entity's second write) and
    becomes the entity's own after a second attempt. A byte-sized count about to overflow widens the
    counters to int32 (then never shared)."""
    counts = entity.counts
    if type(counts) is bytes:
        wide = max(counts) >= NARROW_MAX
        if outcome and not wide:
            return bytearray(counts), True
        # array("i", bytes) would read the bytes as raw int32s: widen value by value.
        entity.counts = own = array("i", list(counts)) if wide else array("B", counts)
        return own, False
    mine = cast("array[int]", counts)
    if mine.typecode == "B" and max(mine) >= NARROW_MAX:
        entity.counts = mine = array("i", mine)
    return mine, False
