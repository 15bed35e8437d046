"""Targets over several draws: per target the worst case, the draw that produced it, and the median (pure)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from shield.sim.targets import Target, show


@dataclass(slots=True, frozen=True)
class Summary:
    """One target over several draws."""

    target: Target  # as measured in the worst draw
    worst_draw: int
    median: float
    missed_in: tuple[int, ...]  # draws where it was not met


def summarize(by_draw: dict[int, list[Target]]) -> list[Summary]:
    """Per target (in the first draw's order): the worst value and its draw, the median, the draws that missed."""
    keys: dict[tuple[str, str], list[tuple[int, Target]]] = {}
    for number, targets in sorted(by_draw.items()):
        for t in targets:
            keys.setdefault(t.key, []).append((number, t))
    out = []
    for measured in keys.values():
        sign = 1 if measured[0][1].better == "high" else -1
        worst_draw, worst = min(measured, key=lambda nt: (sign * nt[1].value, nt[0]))
        missed = tuple(n for n, t in measured if t.met is False)
        out.append(Summary(worst, worst_draw, statistics.median(t.value for _, t in measured), missed))
    return out


def met_everywhere(s: Summary) -> bool | None:
    return None if s.target.met is None else not s.missed_in


HEADER = ["subject", "measure", "target", "worst (draw)", "median", "met"]


def summary_rows(summaries: list[Summary], *, no: str = "NO") -> list[list[str]]:
    mark = {True: "yes", False: no, None: "-"}
    rows = []
    for s in summaries:
        met = mark[met_everywhere(s)]
        if s.missed_in:
            met += f" (missed in draw {', '.join(map(str, s.missed_in))})"
        worst = f"{s.target.measured} (draw {s.worst_draw})"
        rows.append([s.target.subject, s.target.measure, s.target.goal, worst, show(s.median, s.target.unit), met])
    return rows


def summary_markdown(summaries: list[Summary]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in summary_rows(summaries, no="**no**")]
    return "\n".join(lines)
