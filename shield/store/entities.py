"""What the memory store keeps per dimension value: its counters, as bytes while every count fits one.

Most entities (a rotating attacker's IPs, accounts, passwords, pairs) see one attempt and one
outcome, so their counters take one of a few shapes: an entity's counters (its slot in its table's
`refs` column, shield.store.slot_table) are an immutable `bytes` (current, previous per window and
measure; see shield.store.sliding), and the outcomes' shapes are shared by every entity of the same
shape (shield.store.counters). A write reads the counters into a list, counts in it and packs it
back into new bytes (one C call each way: compiled code writing an array's items one by one goes through
the generic item protocol, ~300 instructions an item); a count past a byte keeps the list itself,
the entity's own from then on (a busy network's, a country's, the site's).
"""

from __future__ import annotations

from typing import Any

NARROW_MAX = 255  # the highest count the bytes form holds


def narrowed(counts: list[int]) -> Any:
    """`counts` packed as bytes, or the list itself when a count is past a byte (widened for good)."""
    try:
        return bytes(counts)
    except ValueError:
        return counts
