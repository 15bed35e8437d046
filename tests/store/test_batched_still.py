"""A hot tally skips `roll` only where it would move nothing (shield.store.batched._still)."""

from __future__ import annotations

import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from shield.store.batched import Layout, _still
from shield.store.packed import Row
from shield.store.sliding import roll

ROWS = (Row((60, 600, 3600, 86400), 3), Row((300, 86400), 4), Row((7, 11), 2), Row((90, 60), 1))


@st.composite
def moves(draw: st.DrawFn) -> tuple[Layout, float, float]:
    """A write at `last`, then one at `now` > last, both often within a few ulps or a MARGIN of a
    bucket edge (where a float division may round either way)."""
    layout = Layout("d", draw(st.sampled_from(ROWS)))
    edge = float(draw(st.integers(min_value=-(2**40), max_value=2**40)) * draw(st.sampled_from(layout.row.widths)))

    def near(x: float) -> st.SearchStrategy[float]:
        ulps = st.integers(min_value=-4, max_value=4).map(lambda n: _ulps(x, n))
        return st.one_of(ulps, st.floats(min_value=x - 2e-3, max_value=x + 2e-3), st.floats(x - 100, x + 100))

    last = draw(near(edge))
    now = draw(st.one_of(near(edge), near(edge + layout.grain), near(last)).filter(lambda t: t > last))
    return layout, last, now


def _ulps(x: float, n: int) -> float:
    for _ in range(abs(n)):
        x = math.nextafter(x, math.copysign(math.inf, n))
    return x


@settings(max_examples=800)
@given(moves())
# just below 0, an edge: -5e-324 / 60 rounds to -0.0, in the next bucket (a margin of 0 skipped it)
@example((Layout("d", ROWS[0]), -0.001953125, -5e-324))
def test_a_skipped_roll_is_one_that_would_move_nothing(case: tuple[Layout, float, float]) -> None:
    layout, last, now = case
    counts = list(range(1, layout.counts + 1))
    rolled = list(counts)
    roll(rolled, last, now, layout.row.widths, layout.row.measures)
    if _still(last, now, layout.grain):
        assert rolled == counts


def test_a_roll_is_skipped_inside_a_grain_and_not_across_its_edge() -> None:
    layout = Layout("d", Row((60, 600, 3600, 86400), 3))  # grain 60
    assert _still(1_700_000_000.5, 1_700_000_030.0, layout.grain)
    assert not _still(1_700_000_000.5, 1_700_000_040.0, layout.grain)  # 1_700_000_040 is 60 * 28_333_334
    assert not _still(1_700_000_040.0, 1_700_000_041.0, layout.grain)  # on the edge: roll decides
