"""Packed counter rows: one entity's window buckets as one binary row, shared by Lua and Python.

A row is two little-endian doubles (the time of the last write, the time the key's expiry was last
armed), then per window and measure the current and the previous bucket as int32 (the order of
shield.store.sliding). The scripts unpack it once, move and bump it, pack it once and return it
as it is: the window estimates are computed here, in the worker, not in Redis (Redis's CPU is the
one every worker shares).

The row is stored in the entity's hash as consecutive fields "c1", "c2", ... of at most 64 bytes
each: Redis keeps a hash whose values are all that small as a listpack; one longer value turns the
whole hash into a hash table, 2-3x the memory. A row whose joined length is not its layout's
(another window configuration, a half-written row) reads as empty.

The layout before this one ("n" plus one field per window) is not read: an upgrade starts the
counters afresh (the distinct sets, HyperLogLogs and histories are kept), and the scripts delete
the old fields the first time they write the entity.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

FIELD_MAX = 64  # bytes: Redis's default hash-max-listpack-value
HEADER = 16  # the two doubles


@dataclass(slots=True, frozen=True)
class Row:
    """The packed row of an entity with `measures` measures over windows of `widths` seconds."""

    widths: tuple[int, ...]
    measures: int

    @property
    def values(self) -> int:
        return 2 + 2 * self.measures * len(self.widths)

    @property
    def size(self) -> int:
        return HEADER + 8 * self.measures * len(self.widths)

    def codec(self) -> struct.Struct:
        return struct.Struct("<dd" + "i" * (self.values - 2))

    def chunks(self) -> list[tuple[str, int, int]]:
        """The hash fields holding the row: name, first and last byte (1-based, inclusive, as
        Lua's string.sub), each at most FIELD_MAX bytes, split at window boundaries."""
        window = 8 * self.measures
        if HEADER + window > FIELD_MAX:
            raise ValueError(f"a window of {self.measures} measures does not fit a {FIELD_MAX}-byte field")
        out: list[tuple[str, int, int]] = []
        first, end = 1, HEADER
        for _ in self.widths:
            if end + window - first + 1 > FIELD_MAX:
                out.append((f"c{len(out) + 1}", first, end))
                first = end + 1
            end += window
        out.append((f"c{len(out) + 1}", first, end))
        return out

    def lua(self) -> str:
        """The chunks as a Lua table literal."""
        return "{" + ", ".join(f"{{'{name}', {a}, {b}}}" for name, a, b in self.chunks()) + "}"


class RowReader:
    """Window estimates from a returned row (the estimate lua/common.lua used to compute): of every
    (window, measure) pair, or of the pairs `picks` lists (their indexes, window-major; the counters
    something reads, shield.store.estimated), in that order; `names`: the pairs' counter names, carried
    for the caller."""

    __slots__ = ("_codec", "_every", "_picks", "_widths", "_window_of", "names")

    def __init__(self, row: Row, picks: Sequence[int] | None = None, names: Sequence[str] = ()) -> None:
        self._codec = row.codec()
        self._widths = row.widths
        every = range(len(row.widths) * row.measures)
        self._every = picks is None or list(picks) == list(every)
        chosen = list(every) if picks is None else list(picks)
        # per pair estimated: its current bucket's index in the unpacked values, and its window
        self._picks = [2 + 2 * i for i in chosen]
        self._window_of = [i // row.measures for i in chosen]
        self.names: list[str] = list(names)

    def estimates(self, blob: bytes, now: float, weights_now: Sequence[float]) -> list[int]:
        """The pairs' estimates: current + round(previous * weight), the weights at `now` (`weights_now`),
        or at the last write for a late one (a write stamped before the last, counted in the last write's
        buckets)."""
        values = self._codec.unpack(blob)
        last = values[0]
        w = weights_now if last == now else [1.0 - (last / x - math.floor(last / x)) for x in self._widths]
        floor = math.floor
        if self._every:
            current, previous = values[2::2], values[3::2]
            if not any(previous):  # every previous bucket empty (a new entity's row): the current ones
                return list(current)
            # An empty previous bucket adds 0 (w is finite: a NaN or infinite time raised above), and
            # skipping its arithmetic halves this for a new entity's row, the common one under attack.
            # (zip over the unpacked halves, no index arithmetic per pair; equal lengths by the codec, and
            # zip's strict= keyword alone costs ~1,000 instructions a call to parse)
            pairs = zip(current, previous, self._window_of)  # noqa: B905
            return [c + floor(p * w[k] + 0.5) if p else c for c, p, k in pairs]
        picks = self._picks
        if not any(values[3::2]):  # a new entity's row: the current buckets picked
            return [values[j] for j in picks]
        return [
            values[j] + floor(p * w[k] + 0.5) if (p := values[j + 1]) else values[j]
            for j, k in zip(picks, self._window_of)  # noqa: B905 (equal by construction)
        ]
