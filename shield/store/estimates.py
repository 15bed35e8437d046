"""One dimension's window estimates as one compiled loop over flat, typed columns.

Every protected request reads the estimates of every counter of the entities it touches (each window's
current count plus the part of its previous bucket still inside the window, shield.store.sliding): a
dozen counters on each of the six or so entities an attempt on a busy network reaches. The counters come
as a list (the caller unpacks an entity's bytes into one, shield.store.entities), read by position: an
array read by index from compiled code goes through the generic item protocol, a list read does not.
(The straight-line code this replaced was generated and exec'd once per plan, and so ran interpreted in
the compiled build: ~12,500 instructions per entity, call included, against ~6,700 for this loop.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final


class Estimator:
    """The estimates of one plan: per window, the (counter position, fact name) of each measure, in
    measure order (as shield.store.plans.plan lists them).

    `write(counters, per-window weights of the previous bucket, out)`: for each name estimated,
    c = current + int(previous * w + 0.5) when previous, written to `out` when non-zero (`out` starts at
    zero). `bump`: the index of a measure counted first, in every window (an attempt: in the list, in
    place), in the same pass; `also`: a second one (the site's attempts on unknown accounts).
    `estimated`: the names written (None: all; shield.store.estimated): a bumped measure is counted in
    every window whether or not its estimate is written."""

    __slots__ = ("bumps", "names", "positions", "windows")

    def __init__(
        self,
        names: Sequence[Sequence[tuple[int, str]]],
        *,
        bump: int | None = None,
        also: int | None = None,
        estimated: frozenset[str] | None = None,
    ) -> None:
        self.positions: Final[list[int]] = []
        self.names: Final[list[str]] = []
        self.windows: Final[list[int]] = []  # per name, its window's index in the weights
        self.bumps: Final[list[int]] = []  # the positions counted first
        for i, window in enumerate(names):
            for j, (pos, name) in enumerate(window):
                if type(pos) is not int or type(name) is not str:  # a plan is positions and names, nothing else
                    raise TypeError(f"counter position {pos!r} and name {name!r}")
                if j in (bump, also):
                    self.bumps.append(pos)
                if estimated is None or name in estimated:
                    self.positions.append(pos)
                    self.names.append(name)
                    self.windows.append(i)

    def bump(self, vals: list[int]) -> None:
        """Count the bumped measures in `vals`, estimating nothing (`write`'s first step)."""
        for pos in self.bumps:
            vals[pos] = vals[pos] + 1

    def write(self, vals: list[int], ws: list[float], out: dict[str, int]) -> None:
        """Count the bumped measures in `vals` (an entity's counters as a list) and write the estimates."""
        for pos in self.bumps:
            vals[pos] = vals[pos] + 1
        positions, names, windows = self.positions, self.names, self.windows
        for k in range(len(positions)):
            pos = positions[k]
            c = vals[pos]
            p = vals[pos + 1]
            if p:
                c += int(p * ws[windows[k]] + 0.5)
            if c:
                out[names[k]] = c


def estimator(
    names: Sequence[Sequence[tuple[int, str]]],
    *,
    bump: int | None = None,
    also: int | None = None,
    estimated: frozenset[str] | None = None,
) -> Estimator:
    """The Estimator of a plan's names (see Estimator)."""
    return Estimator(names, bump=bump, also=also, estimated=estimated)
