"""What the memory store keeps per dimension value: its counters, shared while it is a one-off.

Most entities (a rotating attacker's IPs, accounts, passwords, pairs) see one attempt and one
outcome, so their counters take one of a few shapes: an entity's counters (its slot in its table's
`refs` column, shield.store.slot_table) are then an immutable `bytes` shared by every entity of the
same shape (current, previous per window and measure; see shield.store.sliding), copied on write. The
second attempt gives the entity its own byte array, widened to int32 the first time a count reaches
NARROW_MAX + 1.
"""

from __future__ import annotations

from array import array
from collections.abc import MutableSequence
from typing import Any, cast

NARROW_MAX = 253  # a byte-sized count this high is widened before the next increment
# Every byte below NARROW_MAX: byte-sized counters with all of them deleted are empty unless one is this high
# (bytes.translate's C loop; max() over an array boxes and compares each count, ~4,600 instructions a call).
BELOW_NARROW = bytes(range(NARROW_MAX))


def near_full(counts: bytes | bytearray) -> bool:
    """Whether a byte-sized count has reached NARROW_MAX (as max(counts) >= NARROW_MAX)."""
    return bool(counts.translate(None, BELOW_NARROW))


def writable(refs: list[Any], slot: int, *, outcome: bool) -> tuple[MutableSequence[int], bool]:
    """The counters of `slot` to write, and whether they are a copy of a shared shape to share again.

    A shared shape is copied; it stays shared after an outcome (a one-off entity's second write) and
    becomes the entity's own after a second attempt. A byte-sized count about to overflow widens the
    counters to int32 (then never shared)."""
    counts = refs[slot]
    if type(counts) is bytes:
        wide = near_full(counts)
        if outcome and not wide:
            return bytearray(counts), True
        # array("i", bytes) would read the bytes as raw int32s: widen value by value.
        refs[slot] = own = array("i", list(counts)) if wide else array("B", counts)
        return own, False
    mine = cast("array[int]", counts)
    if mine.typecode == "B" and near_full(mine.tobytes()):
        refs[slot] = mine = array("i", mine)
    return mine, False
