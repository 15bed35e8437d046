"""The unrolled window estimates (and an attempt counted with them) answer as the loops they replaced."""

from __future__ import annotations

import random

import pytest

from shield.model import DEFAULT_WINDOWS
from shield.store.estimates import estimator
from shield.store.plans import plan
from shield.store.sliding import A, U, estimate


def looped(counts: list[int], ws: list[float], names: list[list[tuple[int, str]]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for w, window in zip(ws, names, strict=True):
        for pos, name in window:
            value = estimate(counts[pos], counts[pos + 1], w)
            if value:
                out[name] = value
    return out


@pytest.mark.parametrize("dim", ["ip", "account", "site"])
def test_unrolled_estimates_match_the_loop(dim: str) -> None:
    p = plan(dim, DEFAULT_WINDOWS, None)
    rng = random.Random(dim)
    for _ in range(300):
        counts = [rng.choice((0, 0, 1, 7, 250, 100_000)) for _ in range(len(p.blank))]
        ws = [rng.choice((0.0, 0.5, rng.random(), 1.0)) for _ in p.widths]
        out: dict[str, int] = {}
        p.estimate.write(counts, ws, out)
        assert out == looped(counts, ws, p.names)
        bumped = list(counts)
        for i in range(2 * A, len(bumped), 2 * p.measures):  # an attempt, as Counters.add counts one
            bumped[i] += 1
        out = {}
        p.attempt.write(counts, ws, out)
        assert counts == bumped
        assert out == looped(bumped, ws, p.names)


def test_a_plan_with_anything_but_positions_and_names_is_refused() -> None:
    with pytest.raises(TypeError):
        estimator([[(0, "ip.attempts_1m"), ("0); import os; (", "x")]])  # type: ignore[list-item]


def test_the_sites_attempt_on_an_unknown_account_counts_both_measures_in_one_pass() -> None:
    p = plan("site", DEFAULT_WINDOWS, None)
    rng = random.Random("unknown")
    for _ in range(100):
        counts = [rng.choice((0, 1, 7, 250)) for _ in range(len(p.blank))]
        ws = [rng.random() for _ in p.widths]
        bumped = list(counts)
        for i in range(0, len(bumped), 2 * p.measures):
            bumped[i + 2 * A] += 1
            bumped[i + 2 * U] += 1
        out: dict[str, int] = {}
        p.attempt_unknown.write(counts, ws, out)
        assert counts == bumped
        assert out == looped(bumped, ws, p.names)
