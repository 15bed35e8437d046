"""Per-process tallies of prometheus-client metrics: what the hot path adds to instead of the metrics.

A counter's `inc` or a histogram's `observe` costs ~1 us with several workers (a lock, then a write
into the worker's mmaped file; a histogram also searches its bucket in Python). A tally is a plain
int per label child (a bucket count and a sum for a histogram), handed to prometheus-client by
`flush` (shield.observe.metrics says when). One event loop thread per process adds to them.
"""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import Counter, Histogram


class Count:
    """Increments of one counter child not yet handed to prometheus-client."""

    __slots__ = ("child", "n")

    def __init__(self, child: Counter) -> None:
        self.child = child
        self.n = 0

    def flush(self) -> None:
        if self.n:
            n, self.n = self.n, 0
            self.child.inc(n)


class Observed:
    """Observations of one histogram child not yet handed to prometheus-client: a count per bucket
    (the first bound >= the value, as Histogram.observe picks it) and their sum."""

    __slots__ = ("bounds", "buckets", "child", "sum")

    def __init__(self, child: Histogram) -> None:
        self.child = child
        self.bounds: list[float] = child._upper_bounds
        self.buckets = [0] * len(self.bounds)
        self.sum = 0.0

    def add(self, value: float) -> None:
        self.buckets[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def flush(self) -> None:
        if not any(self.buckets):
            return
        # prometheus-client's own fields (0.26): Histogram.observe adds to _sum and one of _buckets
        buckets, total, self.buckets, self.sum = self.buckets, self.sum, [0] * len(self.bounds), 0.0
        self.child._sum.inc(total)
        for value, n in zip(self.child._buckets, buckets, strict=True):
            if n:
                value.inc(n)


class Counts:
    """The tallies of one labelled counter, by label values."""

    __slots__ = ("_metric", "tallies")

    def __init__(self, metric: Counter) -> None:
        self._metric = metric
        self.tallies: dict[tuple[str, ...], Count] = {}

    def get(self, *values: str) -> Count:
        tally = self.tallies.get(values)
        if tally is None:
            tally = self.tallies[values] = Count(self._metric.labels(*values))
        return tally


class Observations:
    """The tallies of one labelled histogram, by label values."""

    __slots__ = ("_metric", "tallies")

    def __init__(self, metric: Histogram) -> None:
        self._metric = metric
        self.tallies: dict[tuple[str, ...], Observed] = {}

    def get(self, *values: str) -> Observed:
        tally = self.tallies.get(values)
        if tally is None:
            tally = self.tallies[values] = Observed(self._metric.labels(*values))
        return tally
