"""What one GeoIP database says, cached per leaf network of its search tree.

An .mmdb lookup walks up to 128 tree levels and decodes the whole record into Python dicts
(names in several languages for a City database): the costliest step of a new client address.
`get_with_prefix_len` also says which network the answer holds for (the leaf's prefix), so the
answer is kept for that whole network: the next new address in the same /16 (or /40, /48 ...) is
a dict hit. Exact by construction: every address inside a leaf gets the same record.

Bounded: MAX_ENTRIES answers in all (the cache empties when full), and only the first
MAX_LENGTHS prefix lengths seen per IP version are kept, so a miss costs at most that many
dict probes whatever networks an attacker rotates through.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")

MAX_ENTRIES = 65536
MAX_LENGTHS = 8
_BITS = {4: 32, 6: 128}


class LeafCache(Generic[T]):
    """Values by (IP version, network prefix); `get` returns None on a miss."""

    __slots__ = ("_levels", "_size")

    def __init__(self) -> None:
        # per IP version: (shift, {address >> shift: value}) per prefix length, in the order first seen
        self._levels: dict[int, list[tuple[int, dict[int, T]]]] = {4: [], 6: []}
        self._size = 0

    def get(self, version: int, value: int) -> T | None:
        for shift, found in self._levels[version]:
            hit = found.get(value >> shift)
            if hit is not None:
                return hit
        return None

    def find(self, version: int, value: int) -> tuple[T, int] | None:
        """`get`, with how many low bits of the address its leaf leaves free (the same value for all of them)."""
        for shift, found in self._levels[version]:
            hit = found.get(value >> shift)
            if hit is not None:
                return hit, shift
        return None

    def put(self, version: int, value: int, prefix_len: int, item: T) -> None:
        bits = _BITS[version]
        if not 0 <= prefix_len <= bits:
            return  # a database whose IPv4 subtree is odd: not cached, still answered
        shift = bits - prefix_len
        levels = self._levels[version]
        found = next((level for level_shift, level in levels if level_shift == shift), None)
        if found is None:
            if len(levels) >= MAX_LENGTHS:
                return
            found = {}
            levels.append((shift, found))
        if self._size >= MAX_ENTRIES:
            self.clear()
            self.put(version, value, prefix_len, item)
            return
        found[value >> shift] = item
        self._size += 1

    def clear(self) -> None:
        self._levels = {4: [], 6: []}
        self._size = 0
