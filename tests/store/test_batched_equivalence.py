"""The worker's hot tallies (shield.store.batched) answer exactly as the code they replaced, kept
here verbatim as the reference (shield 6310ae2): the same views, pending counts, reads and estimates
after any sequence of counts, reads and flushes."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from shield.store.batched import Layout, Tally, _sum
from shield.store.packed import Row
from shield.store.sliding import estimate, roll, weights

ROWS = (Row((60, 600, 3600, 86400), 3), Row((300, 86400), 4), Row((7, 11), 2))
T0 = 1_700_000_000.0


def old_unpack(layout: Layout, blob: bytes) -> tuple[float, list[int]] | None:
    if len(blob) != layout.row.size:
        return None
    values = layout.codec.unpack(blob)
    return float(values[0]), [int(v) for v in values[2:]]


def old_bump(
    row: tuple[float, list[int]] | None, layout: Layout, now: float, measures: Sequence[int]
) -> tuple[float, list[int]]:
    shape = layout.row
    if row is None:
        last, counts = now, [0] * layout.counts
    else:
        last, counts = row
        if last < now:
            roll(counts, last, now, shape.widths, shape.measures)
            last = now
    m = shape.measures
    for i in range(len(shape.widths)):
        for j in measures:
            counts[2 * (i * m + j)] += 1
    return last, counts


def old_sum(rows: Sequence[tuple[float, list[int]] | None], layout: Layout) -> tuple[float, list[int]]:
    present = [r for r in rows if r is not None]
    last = max((r[0] for r in present), default=0.0)
    total = [0] * layout.counts
    for t, counts in present:
        if t < last:
            counts = list(counts)
            roll(counts, t, last, layout.row.widths, layout.row.measures)
        total = [a + b for a, b in zip(total, counts, strict=True)]
    return last, total


class OldTally:
    """Tally with the replaced bodies of add, read and estimates; the rest as Tally's (its own copy,
    not a subclass: Tally is compiled, and an interpreted class cannot inherit from a compiled one)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.base: tuple[float, list[int]] = (0.0, [0] * layout.counts)
        self.flying: tuple[float, list[int]] | None = None
        self.pending: tuple[float, list[int]] | None = None
        self.view: tuple[float, list[int]] = (0.0, [0] * layout.counts)
        self.read_at = -math.inf

    def add(self, now: float, measures: Sequence[int]) -> None:
        self.pending = old_bump(self.pending, self.layout, now, measures)
        self.view = old_bump(self.view, self.layout, now, measures)

    def read(self, last: float, counts: list[int], read_at: float) -> None:
        self.base, self.read_at = (last, counts), read_at
        self.view = old_sum((self.base, self.flying, self.pending), self.layout)

    def estimates(self, now: float, weights_now: Sequence[float]) -> list[int]:
        last, counts = self.view
        widths = self.layout.row.widths
        if last < now:
            roll(counts, last, now, widths, self.layout.row.measures)
            self.view = (now, counts)
        else:
            weights_now = weights(last, widths)
        m = self.layout.row.measures
        return [estimate(counts[2 * k], counts[2 * k + 1], weights_now[k // m]) for k in range(len(counts) // 2)]


def state(t: Tally | OldTally) -> tuple[object, ...]:
    return (t.base, t.flying, t.pending, t.view, t.read_at)


@st.composite
def scripts(draw: st.DrawFn) -> tuple[Row, list[tuple[object, ...]]]:
    row = draw(st.sampled_from(ROWS))
    step = st.floats(min_value=-30, max_value=4000, allow_nan=False)  # late calls too
    measure = st.integers(min_value=0, max_value=row.measures - 1)
    count = st.integers(min_value=-(2**31), max_value=2**31 - 1)
    op = st.one_of(
        st.tuples(st.just("add"), step, st.lists(measure, min_size=1, max_size=3)),
        st.tuples(st.just("read"), step, st.lists(count, min_size=row.values - 2, max_size=row.values - 2)),
        st.tuples(st.just("read_blob"), step, st.binary(max_size=row.size + 2)),
        st.tuples(st.just("estimates"), step),
        st.tuples(st.just("fly"), step),
        st.tuples(st.just("flown"), step, st.booleans()),
    )
    return row, draw(st.lists(op, max_size=25))


def play(t: Tally | OldTally, row: Row, ops: list[tuple[object, ...]], unpack: object) -> list[object]:
    seen: list[object] = []
    now = T0
    for op in ops:
        now += op[1]  # type: ignore[operator]
        kind = op[0]
        if kind == "add":
            t.add(now, op[2])  # type: ignore[arg-type]
        elif kind == "read":
            t.read(now - 1.5, list(op[2]), read_at=now)  # type: ignore[call-overload]
        elif kind == "read_blob":
            blob = op[2] if len(op[2]) != row.size else t.layout.pack(now - 0.5, [7] * t.layout.counts)  # type: ignore[arg-type]
            stored = unpack(t.layout, blob)  # type: ignore[operator]
            seen.append(stored)
            t.read(*(stored or (0.0, [0] * t.layout.counts)), read_at=now)
        elif kind == "estimates":
            seen.append(t.estimates(now, weights(now, row.widths)))
        elif kind == "fly" and t.pending is not None:
            t.flying, t.pending = t.pending, None
        elif kind == "flown" and t.flying is not None:
            if op[2]:  # failed: back into the unsent counts
                t.pending = (_sum if not isinstance(t, OldTally) else old_sum)((t.flying, t.pending), t.layout)
            t.flying = None
        seen.append(state(t))
    return seen


@settings(max_examples=300, deadline=None)
@given(scripts())
def test_tallies_equal_the_reference(script: tuple[Row, list[tuple[object, ...]]]) -> None:
    row, ops = script
    new = play(Tally(Layout("d", row)), row, ops, lambda layout, blob: layout.unpack(blob))
    old = play(OldTally(Layout("d", row)), row, ops, old_unpack)
    assert new == old


def test_a_float_time_and_int_counts_come_back_from_a_row() -> None:
    layout = Layout("s", ROWS[1])
    stored = layout.unpack(layout.pack(T0, list(range(layout.counts))))
    assert stored is not None
    assert type(stored[0]) is float
    assert all(type(c) is int for c in stored[1])
    assert math.isclose(stored[0], T0)
