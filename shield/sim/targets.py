"""The detection targets of the default rule pack (issue 13's table), checked against measured reports (pure).

Every target keeps its number (`value`) and which way is worse, so the benchmark can report the
worst case and the median over draws (shield/sim/draws.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from shield.sim.driver import Result
from shield.sim.report import CampaignRow, SegmentRow, segment_row
from shield.sim.table import grid, pct

Unit = Literal["share", "count"]
Better = Literal["high", "low"]
# real-user segments where not a single login may be blocked (a challenge is allowed)
NEVER_BLOCKED = ("gateway", "carrier-nat", "mixed-carrier", "traveller", "sprayed-password")
MAX_BLOCKED = 0.0001
MAX_BROWSER_CHALLENGED = 0.01


@dataclass(slots=True, frozen=True)
class Target:
    subject: str  # a campaign name or "real users"
    measure: str
    goal: str  # as written in the README
    measured: str
    met: bool | None  # None: reported, no target
    value: float = 0.0
    unit: Unit = "share"
    better: Better = "high"

    @property
    def key(self) -> tuple[str, str]:
        return self.subject, self.measure


def show(value: float, unit: Unit) -> str:
    return pct(value) if unit == "share" else f"{value:g}"


def _share(c: CampaignRow, measure: str, value: float, floor: float | None) -> Target:
    goal = "report" if floor is None else f">= {pct(floor)}"
    return Target(c.name, measure, goal, pct(value), None if floor is None else value >= floor, value)


def _count(subject: str, measure: str, n: int, *, must_be_zero: bool, note: str = "") -> Target:
    return Target(subject, measure, "0" if must_be_zero else "report", f"{n}{note}",
                  (n == 0) if must_be_zero else None, float(n), "count", "low")


def _stopped(c: CampaignRow, floor: float | None) -> Target:
    return _share(c, "attempts stopped before the app", c.stopped_share, floor)


def _late(c: CampaignRow) -> Target:
    return _count(c.name, "accounts compromised after the first minute", c.compromised_after_first_minute,
                  must_be_zero=True)


def _step_up(c: CampaignRow, floor: float | None) -> list[Target]:
    return [
        _share(c, "attempts challenged or tagged for step-up", c.challenged_or_tagged_share, floor),
        _count(c.name, "accounts taken over", c.compromised, must_be_zero=False),
        _count(c.name, "accounts taken without a step-up tag", c.compromised_untagged, must_be_zero=False),
    ]


CAMPAIGN_TARGETS: dict[str, Callable[[CampaignRow], list[Target]]] = {
    "overseas-stuffing": lambda c: [_stopped(c, 0.995), _late(c)],
    "naive": lambda c: [_stopped(c, 0.995), _late(c)],
    "domestic-proxies": lambda c: [_stopped(c, 0.975)],
    "password-spray": lambda c: [_stopped(c, 0.95)],
    "low-and-slow": lambda c: _step_up(c, 0.9),
    "careful-attacker": lambda c: [_stopped(c, None), *_step_up(c, None)],
}


def _campaign_targets(c: CampaignRow) -> list[Target]:
    rule = CAMPAIGN_TARGETS.get(c.name)
    return rule(c) if rule else [_stopped(c, None)]


def user_targets(users: Mapping[str, SegmentRow]) -> list[Target]:
    a, browser, app = users["all"], users["browser"], users["app"]
    out = [
        Target("real users", "logins blocked", f"<= {pct(MAX_BLOCKED)}", f"{pct(a.blocked_share)} ({a.blocked})",
               a.blocked_share <= MAX_BLOCKED, a.blocked_share, better="low"),
        Target("real users", "browser logins challenged", f"<= {pct(MAX_BROWSER_CHALLENGED)}",
               pct(browser.challenged_share), browser.challenged_share <= MAX_BROWSER_CHALLENGED,
               browser.challenged_share, better="low"),
        Target("real users", "app logins challenged (solved in the app)", "report", pct(app.challenged_share), None,
               app.challenged_share, better="low"),
    ]
    for seg in NEVER_BLOCKED:
        row = users[seg]
        out.append(_count("real users", f"{seg} logins blocked", row.blocked, must_be_zero=True,
                          note=f" of {row.logins}"))
    return out


def evaluate(campaigns: Sequence[CampaignRow], legit: Sequence[Result]) -> list[Target]:
    """Every target for the measured campaigns, then the real-user targets over all their logins."""
    users = {seg: segment_row(seg, legit) for seg in ("all", "browser", "app", *NEVER_BLOCKED)}
    return [t for c in campaigns for t in _campaign_targets(c)] + user_targets(users)


def targets_table(targets: Sequence[Target]) -> str:
    mark = {True: "yes", False: "NO", None: "-"}
    return grid(
        ["subject", "measure", "target", "measured", "met"],
        [[t.subject, t.measure, t.goal, t.measured, mark[t.met]] for t in targets], left=2,
    )


def targets_markdown(targets: Sequence[Target]) -> str:
    mark = {True: "yes", False: "**no**", None: "-"}
    lines = ["| subject | measure | target | measured | met |", "|---|---|---|---|---|"]
    lines += [f"| {t.subject} | {t.measure} | {t.goal} | {t.measured} | {mark[t.met]} |" for t in targets]
    return "\n".join(lines)
