"""Two-bucket sliding windows (Cloudflare's approximation), shared arithmetic of both stores.

A window of W seconds keeps two fixed buckets, each W wide and aligned on absolute time: the
current one and the previous one. The estimate over the window ending at `now` is

    current + round(previous * (1 - elapsed / W))

where `elapsed` is how far `now` is into the current bucket: the previous bucket is assumed to
be spread evenly and only the part of it still inside the window is counted. At a steady rate
the estimate is exact up to rounding; for a burst it is off by at most the previous bucket's
count times the part of W the burst was not spread over. One attempt is counted for at least
W/2 and never for 3W/2 or more.

One entity's counters are a flat list: for window i and measure m (M measures) the current
count at 2*(i*M + m) and the previous at 2*(i*M + m) + 1, plus the time of the last write, from
which every window's current bucket follows. The Redis script (lua/common.lua) mirrors this.
"""

from __future__ import annotations

import math
from collections.abc import MutableSequence, Sequence
from typing import Final

# Measure positions: attempts, failures, successes, then the account's familiar / unfamiliar
# failures (account entities) or the attempts on unknown accounts (the site entity).
A: Final = 0  # Final literals: compiled code inlines them
F: Final = 1
S: Final = 2
FF: Final = 3
FU: Final = 4
U: Final = 3
MEASURE_INDEX = {"a": A, "f": F, "s": S, "ff": FF, "fu": FU, "u": U}


def roll(counts: MutableSequence[int], last: float, now: float, widths: Sequence[float], measures: int) -> None:
    """Move every window's buckets from the last write (`last`) to `now` (now > last)."""
    if isinstance(counts, list):
        roll_list(counts, last, now, widths, measures)
        return
    rolled = list(counts)  # any other sequence (an array, a bytearray): item by item
    roll_list(rolled, last, now, widths, measures)
    for i in range(len(rolled)):
        counts[i] = rolled[i]


def roll_list(counts: list[int], last: float, now: float, widths: Sequence[float], measures: int) -> None:
    """roll() of a list: compiled code writes its items directly (an array's or a bytearray's go through
    the generic item protocol)."""
    for i in range(len(widths)):  # an index loop: compiled, iterating a Sequence is the generic protocol
        width = widths[i]
        cur = math.floor(now / width)
        lb = math.floor(last / width)
        if lb == cur:
            continue
        base = 2 * i * measures
        for j in range(base, base + 2 * measures, 2):
            counts[j + 1] = counts[j] if lb == cur - 1 else 0
            counts[j] = 0


def weights(now: float, widths: Sequence[float]) -> list[float]:
    """Per window, the weight of the previous bucket at `now`."""
    out: list[float] = []
    for i in range(len(widths)):  # an index loop: compiled, iterating a Sequence is the generic protocol
        q = now / widths[i]
        out.append(1.0 - (q - math.floor(q)))
    return out


def estimate(current: int, previous: int, weight: float) -> int:
    return current + math.floor(previous * weight + 0.5) if previous else current
