"""What each dimension (or the site) of the memory store counts, precomputed once per store and rule pack.

Counter positions and fact names per window, the distinct sets kept (Retention.reads, shield.store.layout.keeps)
and the shared counter shapes of a new entity (shield.store.counters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shield.facts.catalog import DIMENSIONS, DISTINCT, SITE_WINDOWS
from shield.model import Window
from shield.store.distinct import UNREAD, Specs
from shield.store.estimates import Estimator, estimator
from shield.store.layout import ACCOUNT_MEASURES, MEASURES, SITE, SITE_MEASURES, keeps
from shield.store.sliding import MEASURE_INDEX, A, U


@dataclass(slots=True, frozen=True)
class DimPlan:
    """What one dimension (or the site) counts, precomputed once per store and rule pack."""

    measures: int
    widths: list[float]
    names: list[list[tuple[int, str]]]  # per window: (counter position, fact name) of each measure
    estimate: Estimator  # names' estimates from the counters and the windows' weights (shield.store.estimates)
    attempt: Estimator  # the same, counting an attempt (measure A) first
    attempt_unknown: Estimator  # the site's: counting an attempt on an unknown account (A and U) first
    attempt_names: list[str]  # the attempts counter's name per window, those estimated
    specs: Specs  # its distinct sets
    blank: bytes  # the counters before the first write
    first: bytes  # the counters after the first attempt


def plan(
    dim: str, windows: Sequence[Window], reads: frozenset[str] | None, estimated: frozenset[str] | None = None
) -> DimPlan:
    """`reads`: the counter names the rules read (None: all); a distinct set none of whose windows is kept
    (layout.keeps) is not counted, and a window of a kept set that is not is written as UNREAD.
    `estimated`: the counters whose estimates are written (None: all; shield.store.estimated); every
    window of every measure is counted all the same."""
    pairs = SITE_MEASURES if dim == SITE else MEASURES + ACCOUNT_MEASURES if dim == "account" else MEASURES
    wins = SITE_WINDOWS if dim == SITE else tuple(windows)
    m = len(pairs)
    names = [
        [(2 * (i * m + MEASURE_INDEX[k]), f"{dim}.{word}_{w.name}") for k, word in pairs] for i, w in enumerate(wins)
    ]
    specs: Specs = []
    for k, (measure, other) in enumerate(DISTINCT.get(dim, {}).items()):
        set_names = [f"{dim}.{measure}_{w.name}" if keeps(dim, measure, w.name, reads) else UNREAD for w in windows]
        if any(set_names):
            specs.append((k, DIMENSIONS.index(other), set_names))
    blank = bytes(2 * len(wins) * m)
    first = bytearray(blank)
    for window in names:
        first[window[A][0]] = 1
    return DimPlan(
        measures=m,
        widths=[float(w.seconds) for w in wins],
        names=names,
        estimate=estimator(names, estimated=estimated),
        attempt=estimator(names, bump=A, estimated=estimated),
        attempt_unknown=estimator(names, bump=A, also=U, estimated=estimated),
        attempt_names=[window[A][1] for window in names if estimated is None or window[A][1] in estimated],
        specs=specs,
        blank=blank,
        first=bytes(first),
    )
