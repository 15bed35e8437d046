"""The detection targets of the default rule pack, checked against measured reports (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from shield.sim.driver import Result
from shield.sim.report import CampaignRow, SegmentRow, segment_row
from shield.sim.table import grid, pct


@dataclass(slots=True, frozen=True)
class Target:
    subject: str  # a campaign name or "real users"
    measure: str
    goal: str  # as written in the README
    measured: str
    met: bool | None  # None: reported, no target


def _stopped(c: CampaignRow, floor: float) -> Target:
    return Target(
        c.name, "attempts stopped before the app", f">= {pct(floor)}", pct(c.stopped_share), c.stopped_share >= floor
    )


def _late(c: CampaignRow) -> Target:
    n = c.compromised_after_first_minute
    return Target(c.name, "accounts compromised after the first minute", "0", str(n), n == 0)


def _campaign_targets(c: CampaignRow) -> list[Target]:
    rules: dict[str, Callable[[CampaignRow], list[Target]]] = {
        "overseas-stuffing": lambda c: [_stopped(c, 0.995), _late(c)],
        "naive": lambda c: [_stopped(c, 0.995), _late(c)],
        "domestic-proxies": lambda c: [_stopped(c, 0.975)],
        "password-spray": lambda c: [_stopped(c, 0.95)],
        "low-and-slow": lambda c: [
            Target(c.name, "attempts challenged", ">= 90%", pct(c.challenged_share), c.challenged_share >= 0.9)
        ],
    }
    if c.name in rules:
        return rules[c.name](c)
    return [Target(c.name, "attempts stopped before the app", "report", pct(c.stopped_share), None)]


def user_targets(users: Mapping[str, SegmentRow]) -> list[Target]:
    a, nat, trav = users["all"], users["carrier-nat"], users["traveller"]
    return [
        Target("real users", "logins challenged", "<= 1%", pct(a.challenged_share), a.challenged_share <= 0.01),
        Target(
            "real users",
            "logins blocked",
            "<= 0.05%",
            f"{pct(a.blocked_share)} ({a.blocked})",
            a.blocked_share <= 0.0005,
        ),
        Target("real users", "carrier-NAT logins blocked", "0", str(nat.blocked), nat.blocked == 0),
        Target(
            "real users",
            "traveller logins blocked (challenges allowed)",
            "0",
            f"{trav.blocked} (challenged {pct(trav.challenged_share)})",
            trav.blocked == 0,
        ),
    ]


def evaluate(campaigns: Sequence[CampaignRow], legit: Sequence[Result]) -> list[Target]:
    """Every target for the measured campaigns, then the real-user targets over all their logins."""
    users = {seg: segment_row(seg, legit) for seg in ("all", "carrier-nat", "traveller")}
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
