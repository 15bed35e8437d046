"""One dimension's window estimates as straight-line code, compiled once per store and rule pack.

Every protected request reads the estimates of every counter of the entities it touches (each window's
current count plus the part of its previous bucket still inside the window, shield.store.sliding): a
dozen counters on each of the six or so entities an attempt on a busy network reaches. As a loop over
(window, (position, name)) pairs, the iteration and unpacking cost as much as the arithmetic; the same
steps unrolled, with the positions and names as constants, take 40 % less (measured in the commit that
brought this module).

The code is made from the dimension's plan (shield.store.plans): counter positions are ints and names
are written with repr(), so nothing from a configuration is ever read as code.
"""

from __future__ import annotations

from collections.abc import Callable, MutableSequence, Sequence

# (counters, per-window weights of the previous bucket, out): writes every non-zero estimate to `out`
Estimator = Callable[[MutableSequence[int], Sequence[float], dict[str, int]], None]


def estimator(names: Sequence[Sequence[tuple[int, str]]], *, bump: int | None = None) -> Estimator:
    """The estimates of one plan: per window, the (counter position, fact name) of each measure, in measure
    order (as shield.store.plans.plan lists them).

    For each name: c = current + int(previous * w + 0.5) when previous, written when non-zero (`out`
    starts at zero), as the loop it replaces did. `bump`: the index of a measure counted first, in every
    window (an attempt: the counters must be writable), in the same pass."""
    lines = ["def estimate(counts, ws, out):"]
    if not names:
        lines.append("    return None")
    for i, window in enumerate(names):
        lines.append(f"    w = ws[{i}]")
        for j, (pos, name) in enumerate(window):
            if type(pos) is not int or type(name) is not str:  # security: only ints and repr'd strings are code
                raise TypeError(f"counter position {pos!r} and name {name!r}")
            if j == bump:
                lines += [f"    c = counts[{pos}] + 1", f"    counts[{pos}] = c"]
            else:
                lines.append(f"    c = counts[{pos}]")
            lines += [
                f"    p = counts[{pos + 1}]",
                "    if p:",
                "        c += int(p * w + 0.5)",
                "    if c:",
                f"        out[{name!r}] = c",
            ]
    namespace: dict[str, object] = {}
    exec(compile("\n".join(lines), "<shield.store.estimates>", "exec"), namespace)  # noqa: S102 (see docstring)
    made: Estimator = namespace["estimate"]  # type: ignore[assignment]
    return made
