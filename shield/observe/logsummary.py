"""What a stretch of shield's log says: decisions per action per minute, top rules, outcomes, takeovers.

Pure: parsed lines in, a LogSummary out (`shield report` reads the files and draws it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shield.model import Action
from shield.observe.logview import field, rule_ids

ACTIONS = tuple(a.value for a in Action)


@dataclass(slots=True, frozen=True)
class LogSummary:
    t0: float  # epoch seconds of the first bin's start
    bin_s: int
    per_bin: Mapping[str, tuple[int, ...]]  # action -> decisions per bin
    actions: Mapping[str, int]
    top_rules: tuple[tuple[str, int], ...]
    outcomes: Mapping[str, int]
    takeovers: int
    decisions: int
    skipped: int  # decision lines without a readable time

    def as_json(self) -> dict[str, Any]:
        return {
            "t0": self.t0, "bin_s": self.bin_s, "decisions": self.decisions, "actions": dict(self.actions),
            "per_bin": {a: list(v) for a, v in self.per_bin.items()}, "top_rules": [list(r) for r in self.top_rules],
            "outcomes": dict(self.outcomes), "takeovers": self.takeovers, "skipped": self.skipped,
        }


def epoch(ts: object) -> float | None:
    """`2026-11-24T20:12:52.578072Z` -> epoch seconds; None when it is not such a time."""
    if not isinstance(ts, str):
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def summarize(lines: Iterable[Mapping[str, Any]], *, bin_s: int = 60, top: int = 10) -> LogSummary:
    timed: list[tuple[float, str]] = []
    rules: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    takeovers = skipped = 0
    for line in lines:
        event = field(line, "event")
        if event == "takeover.suspected":
            takeovers += 1
        if event != "decision":
            continue
        when = epoch(field(line, "ts"))
        if when is None:
            skipped += 1
            continue
        timed.append((when, str(field(line, "action"))))
        rules.update(rule_ids(line))
        outcomes[str(field(line, "outcome"))] += 1
    t0 = min((t for t, _ in timed), default=0.0) // bin_s * bin_s
    bins = int((max((t for t, _ in timed), default=t0) - t0) // bin_s) + 1 if timed else 0
    per_bin = {a: [0] * bins for a in ACTIONS}
    for when, action in timed:
        per_bin.setdefault(action, [0] * bins)[int((when - t0) // bin_s)] += 1
    return LogSummary(
        t0=t0, bin_s=bin_s, per_bin={a: tuple(v) for a, v in per_bin.items()},
        actions={a: sum(v) for a, v in per_bin.items() if sum(v)}, top_rules=tuple(rules.most_common(top)),
        outcomes=dict(outcomes), takeovers=takeovers, decisions=len(timed), skipped=skipped,
    )
