"""RowReader.estimates answers exactly as the decoder it replaced (kept here as the reference)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from shield.store.packed import Row, RowReader
from shield.store.sliding import weights

ROWS = (Row((60, 600, 3600, 86400), 3), Row((60, 600, 3600, 86400), 5), Row((300, 86400), 4), Row((7,), 1))
INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)


def reference(row: Row, blob: bytes, now: float, weights_now: Sequence[float]) -> list[int]:
    """The decoder before empty previous buckets were skipped (shield 6310ae2), verbatim."""
    pairs = [(2 + 2 * (i * row.measures + j), i) for i in range(len(row.widths)) for j in range(row.measures)]
    values = row.codec().unpack(blob)
    last = values[0]
    w = weights_now if last == now else [1.0 - (last / x - math.floor(last / x)) for x in row.widths]
    floor = math.floor
    return [values[c] + floor(values[c + 1] * w[k] + 0.5) for c, k in pairs]


def answer(f: Callable[[], list[int]]) -> object:
    try:
        return f()
    except Exception as e:  # a NaN or infinite time, a row of another length: the same error both ways
        return type(e)


@st.composite
def rows(draw: st.DrawFn) -> tuple[Row, bytes, float]:
    row = draw(st.sampled_from(ROWS))
    now = draw(st.floats(min_value=0, max_value=4e9, allow_nan=False))
    last = draw(st.one_of(st.just(now), st.floats(min_value=0, max_value=4e9), st.floats()))
    counts = st.one_of(INT32, st.just(0))  # empty previous buckets often
    blob = row.codec().pack(
        last, draw(st.floats()), *draw(st.lists(counts, min_size=row.values - 2, max_size=row.values - 2))
    )
    return row, draw(st.one_of(st.just(blob), st.binary(max_size=row.size + 1))), now


@settings(max_examples=500)
@given(rows())
def test_estimates_equal_the_reference(case: tuple[Row, bytes, float]) -> None:
    row, blob, now = case
    w = weights(now, row.widths)
    new = answer(lambda: RowReader(row).estimates(blob, now, w))
    assert new == answer(lambda: reference(row, blob, now, w))


@st.composite
def new_rows(draw: st.DrawFn) -> tuple[Row, bytes, float]:
    """Rows whose previous buckets are all empty (a new entity's: the reader's short cut)."""
    row = draw(st.sampled_from(ROWS))
    now = draw(st.floats(min_value=0, max_value=4e9, allow_nan=False))
    last = draw(st.one_of(st.just(now), st.floats(min_value=0, max_value=4e9), st.floats()))
    current = draw(st.lists(INT32, min_size=(row.values - 2) // 2, max_size=(row.values - 2) // 2))
    return row, row.codec().pack(last, 0.0, *[x for c in current for x in (c, 0)]), now


@settings(max_examples=300)
@given(new_rows())
def test_estimates_of_a_new_entitys_row_equal_the_reference(case: tuple[Row, bytes, float]) -> None:
    row, blob, now = case
    w = weights(now, row.widths)
    assert answer(lambda: RowReader(row).estimates(blob, now, w)) == answer(lambda: reference(row, blob, now, w))


@settings(max_examples=500)
@given(st.one_of(rows(), new_rows()), st.data())
def test_picked_estimates_are_the_references_at_the_picks(case: tuple[Row, bytes, float], data: st.DataObject) -> None:
    """A reader of some pairs only (the counters needed, shield.store.estimated) answers those, in order."""
    row, blob, now = case
    w = weights(now, row.widths)
    pairs = range((row.values - 2) // 2)
    picks = data.draw(st.lists(st.sampled_from(pairs), unique=True).map(sorted))
    full = answer(lambda: reference(row, blob, now, w))
    picked = answer(lambda: RowReader(row, picks, [str(i) for i in picks]).estimates(blob, now, w))
    assert picked == ([full[i] for i in picks] if isinstance(full, list) else full)
