"""Batched counters: the hot, low-cardinality entities counted in the worker, sent to Redis in batches.

Every protected attempt counts in the site, its country and its ASN: a handful of entities that
nearly every request touches, each on one Redis master. Counted in each observe's script, they
were a third of its Lua work and pinned a Cluster's load on the masters holding them. Instead each
worker counts them itself (attempts and outcomes), as packed rows aligned on absolute time, and
sends its counts at most every FLUSH_INTERVAL: one row per entity, which `lua/hot.lua` adds to the
stored row bucket by bucket. The totals are read back at most every REFRESH seconds per entity
(by the caller's clock: an observe carries the read, no extra round trip) and from each flush's
reply; the worker adds its own counts not yet in the total it read, so one worker is never behind
its own traffic, and another worker's counts reach it within FLUSH_INTERVAL + REFRESH (plus a round
trip). A flush that fails keeps its counts for the next one; `close` sends what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import operator
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import structlog

from shield.store.packed import Row
from shield.store.sliding import roll, weights

FLUSH_INTERVAL: Final = 0.25  # seconds (the loop's clock) between a first unsent count and its flush
REFRESH: Final = 1.0  # seconds (the caller's clock) before an entity's total is read again
# security: bounds a worker's tallies (countries and ASNs are bounded by the GeoIP data, but a
# header-fed value need not be): idle ones are forgotten beyond this, the oldest read first.
MAX_TALLIES: Final = 50_000

# A roll is skipped when the times lie in one grain's interior, this far from its edges (_still).
MARGIN: Final = 1e-3
_STILL_BELOW: Final = 1e12  # seconds: within it a float division's rounding is far under MARGIN

# One flush item: the frame ('s' a site shard, 'd' a dimension's entity), the key, the packed counts.
Item = tuple[str, str, bytes]
_log = structlog.get_logger("shield.store")
Send = Callable[[list[Item]], Awaitable[Sequence[bytes | None]]]


class Layout:
    """A row's shape: the windows and measures of a site shard or a dimension's entity."""

    __slots__ = ("_bumps", "codec", "counts", "frame", "grain", "row", "window_of")

    def __init__(self, frame: str, row: Row) -> None:
        self.frame = frame
        self.row = row
        self.grain = math.gcd(*row.widths)  # every window's buckets start on a multiple of it
        self.codec = row.codec()
        self.counts = row.values - 2
        self.window_of = [k // row.measures for k in range(self.counts // 2)]  # per (window, measure) pair
        self._bumps: dict[tuple[int, ...], list[int]] = {}

    def bumps(self, measures: Sequence[int]) -> list[int]:
        """The current buckets of `measures` in every window (computed once per measures)."""
        key = tuple(measures)
        found = self._bumps.get(key)
        if found is None:
            m = self.row.measures
            found = self._bumps[key] = [2 * (i * m + j) for i in range(len(self.row.widths)) for j in key]
        return found

    def pack(self, last: float, counts: Sequence[int]) -> bytes:
        return self.codec.pack(last, 0.0, *counts)

    def unpack(self, blob: bytes) -> tuple[float, list[int]] | None:
        """A stored row's last write and counts; None for a row of another shape (or none)."""
        if len(blob) != self.row.size:
            return None
        values = self.codec.unpack(blob)
        return values[0], list(values[2:])  # a float and ints already ("<dd" then "i"s)


class Tally:
    """One hot entity as this worker knows it: the total last read, the counts in flight and unsent,
    and their sum (`view`), each a row of counts with the time they were rolled to."""

    __slots__ = ("base", "epoch", "flying", "layout", "pending", "read_at", "view")

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.base: tuple[float, list[int]] = (0.0, [0] * layout.counts)
        self.flying: tuple[float, list[int]] | None = None
        self.pending: tuple[float, list[int]] | None = None
        self.view: tuple[float, list[int]] = (0.0, [0] * layout.counts)  # never the base's list
        self.read_at = -math.inf  # the caller's time of the base's read
        self.epoch = 0  # bumped by every flush: a read sent before it may or may not include it

    def stale(self, now: float) -> bool:
        return not 0 <= now - self.read_at < REFRESH

    def add(self, now: float, measures: Sequence[int]) -> None:
        """One count now of each measure (indexes into the layout's measures)."""
        self.pending = _bump(self.pending, self.layout, now, measures)
        self.view = _bump(self.view, self.layout, now, measures)

    def read(self, last: float, counts: list[int], read_at: float) -> None:
        self.base, self.read_at = (last, counts), read_at
        self.view = _sum((self.base, self.flying, self.pending), self.layout)

    def estimates(self, now: float, weights_now: Sequence[float]) -> list[int]:
        """Every window's measures (window-major), the total plus this worker's counts, at `now`."""
        last, counts = self.view
        if last < now:
            if not _still(last, now, self.layout.grain):
                roll(counts, last, now, self.layout.row.widths, self.layout.row.measures)
            self.view = (now, counts)
        elif last != now:  # a late call reads at the last count (`weights_now` is at now)
            weights_now = weights(last, self.layout.row.widths)
        floor = math.floor  # sliding.estimate, inlined: a call per counter was most of this
        return [
            c + floor(p * weights_now[k] + 0.5) if p else c
            for c, p, k in zip(counts[::2], counts[1::2], self.layout.window_of, strict=True)
        ]

    def rolled(self, now: float) -> list[int]:
        """The view's raw buckets at `now` (at its last count for a late call)."""
        last, counts = self.view
        if last < now:
            if not _still(last, now, self.layout.grain):
                roll(counts, last, now, self.layout.row.widths, self.layout.row.measures)
            self.view = (now, counts)
        return counts


class Batched:
    """The worker's tallies and their flushes (see the module docstring). `send` writes one batch
    and returns each entity's stored row after it (None: not written)."""

    def __init__(self, send: Send, *, flush_interval: float = FLUSH_INTERVAL) -> None:
        self._send = send
        # seconds (the loop's clock) between a first unsent count and its flush: a test that steps a
        # fake clock sets it long, so no flush lands between its calls
        self.flush_interval = flush_interval
        self.tallies: dict[str, Tally] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flight: asyncio.Task[None] | None = None
        self.flushes = 0  # batches sent (for the benchmark and the tests)
        self.failures = 0  # batches that failed (their counts stay for the next one)
        self._failing = False

    def tally(self, key: str, layout: Layout) -> Tally:
        t = self.tallies.get(key)
        if t is None:
            if len(self.tallies) >= MAX_TALLIES:
                self._forget_idle()
            t = self.tallies[key] = Tally(layout)
        return t

    def add(self, tally: Tally, now: float, measures: Sequence[int]) -> None:
        """Count each measure once now in `tally` (sent with the next batch)."""
        tally.add(now, measures)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.flush_interval, self._due)

    async def flush(self) -> None:
        """Send every unsent count now (after the flush in flight, if any)."""
        if self._flight is not None:
            await asyncio.shield(self._flight)
        await self._fly()

    async def close(self, *, grace: float = 1.0) -> None:
        """Shutdown: send what is left (for up to `grace` seconds)."""
        self._disarm()
        with contextlib.suppress(TimeoutError, Exception):
            await asyncio.wait_for(self.flush(), grace)
        self._disarm()  # a failed last flush re-armed it

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _due(self) -> None:
        self._timer = None
        if self._flight is None or self._flight.done():
            self._flight = asyncio.create_task(self._fly(), name="store.batched")

    async def _fly(self) -> None:
        flying = [(key, t) for key, t in self.tallies.items() if t.pending is not None]
        if not flying:
            return
        items: list[Item] = []
        for key, t in flying:
            assert t.pending is not None
            t.flying, t.pending = t.pending, None
            t.epoch += 1
            items.append((t.layout.frame, key, t.layout.pack(*t.flying)))
        self.flushes += 1
        try:
            rows = await self._send(items)
        except BaseException as e:
            for _, t in flying:  # the counts stay: merged back into the unsent ones
                t.pending = _sum((t.flying, t.pending), t.layout)
                t.flying = None
            self._rearm()
            if not isinstance(e, Exception):
                raise
            self.failures += 1
            if not self._failing:  # once per outage: the store's own calls report it too
                _log.warning("store.batch_failed", error=str(e) or type(e).__name__, entities=len(items))
            self._failing = True
            return
        self._failing = False
        for (_, t), blob in zip(flying, rows, strict=True):
            assert t.flying is not None
            read_at = t.flying[0]
            t.flying = None
            stored = t.layout.unpack(blob) if blob else None
            if stored is not None:
                t.read(*stored, read_at=read_at)
        self._rearm()

    def _rearm(self) -> None:
        if self._timer is None and any(t.pending is not None for t in self.tallies.values()):
            with contextlib.suppress(RuntimeError):  # no running loop (closing)
                self._timer = asyncio.get_running_loop().call_later(self.flush_interval, self._due)

    def _forget_idle(self) -> None:
        idle = sorted((t.read_at, key) for key, t in self.tallies.items() if t.pending is None and t.flying is None)
        for _, key in idle[: max(1, len(idle) // 2)]:
            del self.tallies[key]


def _bump(
    row: tuple[float, list[int]] | None, layout: Layout, now: float, measures: Sequence[int]
) -> tuple[float, list[int]]:
    """`row` (None: empty) with one count of each measure at `now` (a late count lands in the
    buckets of the row's last count, as the scripts do); its list is changed in place."""
    shape = layout.row
    if row is None:
        last, counts = now, [0] * layout.counts
    else:
        last, counts = row
        if last < now:
            if not _still(last, now, layout.grain):
                roll(counts, last, now, shape.widths, shape.measures)
            last = now
    for k in layout.bumps(measures):
        counts[k] += 1
    return last, counts


def _sum(rows: Sequence[tuple[float, list[int]] | None], layout: Layout) -> tuple[float, list[int]]:
    """The rows added up, each moved on to the latest of their times."""
    present = [r for r in rows if r is not None]
    if not present:
        return 0.0, [0] * layout.counts
    last = max(r[0] for r in present)
    total: list[int] = []  # a new list, never one of the rows' (map over two lists: no per-item bytecode)
    for t, counts in present:
        if t < last:
            counts = list(counts)
            if not _still(t, last, layout.grain):
                roll(counts, t, last, layout.row.widths, layout.row.measures)
        total = list(map(operator.add, total, counts)) if total else list(counts)
    return last, total


def _still(last: float, now: float, grain: int) -> bool:
    """Whether `roll` from `last` to `now` (> last) would move nothing, cheaply: both lie in one
    grain's interior, at least MARGIN from its edges. Every window's bucket edges are multiples of
    the grain, so no edge lies between them, and within _STILL_BELOW seconds a division's rounding
    (under 2**-53 of the time) is far under MARGIN: each floor(t / width) roll computes is equal.
    Near an edge (or at a time where that is not sure) it says False and roll decides."""
    edge = math.floor(last / grain) * grain
    return edge + MARGIN < last and now < edge + grain - MARGIN and -_STILL_BELOW < edge < _STILL_BELOW
