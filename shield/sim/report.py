"""Results of a run -> the report: per campaign, for real users by segment, and the timeline for the chart.

Pure: results and the plan in, frozen rows out. Shares are fractions (0..1); the table prints percents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from shield.sim.driver import Result
from shield.sim.events import LEGIT
from shield.sim.scenario import Scenario

SEGMENTS = (
    "all", "app", "browser", "carrier-nat", "mixed-carrier", "unlisted-carrier", "gateway", "residential", "away",
    "new-device", "first-browser-login", "return-visit", "popular-build", "sprayed-password", "traveller", "vpn",
    "typo",
)
FIRST_MINUTE = 60.0


@dataclass(slots=True, frozen=True)
class CampaignRow:
    name: str
    attempts: int
    stopped_share: float  # answered by shield, never seen by the app
    unchallenged_share: float  # reached the app without any challenge
    challenged_share: float
    solved: int  # challenges the attacker paid for
    compromised: int  # distinct accounts logged into, with shield
    compromised_baseline: int | None  # the same traffic straight at the app (None: not run)
    compromised_after_first_minute: int
    first_mitigation_s: float | None  # simulated seconds from the campaign's start
    first_mitigation_attempts: int | None  # attempts sent up to and including the first mitigated one
    transfers: int  # bulk actions done with a taken-over session
    # reached the app tagged for step-up (Shield-Challenge: solved or Shield-Reasons)
    tagged_share: float = 0.0
    challenged_or_tagged_share: float = 0.0  # challenged by shield, or tagged for the app's step-up
    compromised_tagged: int = 0  # accounts whose every takeover carried a step-up tag
    compromised_untagged: int = 0  # accounts taken at least once with no step-up tag: a second factor would not help


@dataclass(slots=True, frozen=True)
class SegmentRow:
    segment: str
    logins: int
    challenged_share: float
    delayed_share: float
    rate_limited_share: float
    blocked_share: float
    blocked: int
    success_share: float


@dataclass(slots=True, frozen=True)
class Series:
    """Counts per time bin (bin i covers [t0 + i * bin_s, t0 + (i + 1) * bin_s) simulated seconds)."""

    name: str
    t0: float
    bin_s: float
    attempts: tuple[int, ...]
    stopped: tuple[int, ...]  # answered by shield
    successes: tuple[int, ...]  # logged in
    challenged: tuple[int, ...]  # got a challenge (solved or not)
    baseline_successes: tuple[int, ...] = ()  # logged in when the same traffic went straight at the app


@dataclass(slots=True, frozen=True)
class Report:
    duration_s: float
    campaigns: tuple[CampaignRow, ...]
    users: tuple[SegmentRow, ...]
    series: tuple[Series, ...]  # one per campaign, then "real users"
    errors: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _compromised(results: Sequence[Result]) -> set[str]:
    return {r.username for r in results if r.success}


def campaign_row(s: Scenario, results: Sequence[Result], baseline: Sequence[Result] | None) -> CampaignRow:
    n = len(results)
    first = next(((i, r) for i, r in enumerate(results) if r.first_mitigation or r.stopped), None)
    late = {r.username for r in results if r.success and r.t > s.start + FIRST_MINUTE}
    taken = _compromised(results)
    untagged = {r.username for r in results if r.success and not r.tagged}
    return CampaignRow(
        name=s.name,
        attempts=n,
        stopped_share=_share(sum(r.stopped for r in results), n),
        unchallenged_share=_share(sum(not r.stopped and not r.challenged for r in results), n),
        challenged_share=_share(sum(r.challenged for r in results), n),
        solved=sum(r.solved for r in results),
        compromised=len(taken),
        compromised_baseline=None if baseline is None else len(_compromised(baseline)),
        compromised_after_first_minute=len(late),
        first_mitigation_s=None if first is None else max(0.0, first[1].t - s.start),
        first_mitigation_attempts=None if first is None else first[0] + 1,
        transfers=sum(r.transferred for r in results),
        tagged_share=_share(sum(r.tagged for r in results), n),
        challenged_or_tagged_share=_share(sum(r.challenged or r.tagged for r in results), n),
        compromised_tagged=len(taken - untagged),
        compromised_untagged=len(untagged),
    )


def segment_row(segment: str, results: Sequence[Result]) -> SegmentRow:
    rows = [r for r in results if segment == "all" or segment in r.segments]
    n = len(rows)
    blocked = sum(r.stopped for r in rows)
    return SegmentRow(
        segment=segment,
        logins=n,
        challenged_share=_share(sum(r.challenged for r in rows), n),
        delayed_share=_share(sum(r.delayed for r in rows), n),
        rate_limited_share=_share(sum(r.rate_limited for r in rows), n),
        blocked_share=_share(blocked, n),
        blocked=blocked,
        success_share=_share(sum(r.success for r in rows), n),
    )


def series(
    name: str, results: Sequence[Result], *, t0: float, t1: float, bins: int, baseline: Sequence[Result] = ()
) -> Series:
    bin_s = max(1.0, (t1 - t0) / bins)
    attempts, stopped, successes, challenged = [0] * bins, [0] * bins, [0] * bins, [0] * bins
    for r in results:
        i = min(bins - 1, max(0, int((r.t - t0) // bin_s)))
        attempts[i] += 1
        stopped[i] += r.stopped
        successes[i] += r.success
        challenged[i] += r.challenged
    base = [0] * bins if baseline else []
    for r in baseline:
        if r.success:
            base[min(bins - 1, max(0, int((r.t - t0) // bin_s)))] += 1
    return Series(name, t0, bin_s, tuple(attempts), tuple(stopped), tuple(successes), tuple(challenged), tuple(base))


def _window(s: Scenario, duration: float) -> tuple[float, float]:
    """The campaign's panel: its own window with a margin of normal traffic either side."""
    pad = max(60.0, 0.1 * s.duration)
    return max(0.0, s.start - pad), min(duration, s.start + s.duration + pad)


def build_report(
    results: Sequence[Result],
    campaigns: Sequence[Scenario],
    *,
    duration: float,
    baseline: Sequence[Result] | None = None,
    bins: int = 96,
) -> Report:
    by_actor: dict[str, list[Result]] = {}
    for r in results:
        by_actor.setdefault(r.actor, []).append(r)
    base_by_actor: dict[str, list[Result]] = {}
    for r in baseline or ():
        base_by_actor.setdefault(r.actor, []).append(r)
    legit = by_actor.get(LEGIT, [])
    return Report(
        duration_s=duration,
        campaigns=tuple(
            campaign_row(s, by_actor.get(s.name, []), None if baseline is None else base_by_actor.get(s.name, []))
            for s in campaigns
        ),
        users=tuple(segment_row(seg, legit) for seg in SEGMENTS),
        series=tuple(
            [
                series(
                    s.name,
                    by_actor.get(s.name, []),
                    t0=_window(s, duration)[0],
                    t1=_window(s, duration)[1],
                    bins=60,
                    baseline=base_by_actor.get(s.name, []),
                )
                for s in campaigns
            ]
            + [series("real users", legit, t0=0.0, t1=duration, bins=bins)]
        ),
        errors=sum(bool(r.error) for r in results),
    )
