"""Report maths: shares, compromised accounts, time to first mitigation, real-user segments; the text table."""

from __future__ import annotations

import pytest

from shield.sim.driver import Result
from shield.sim.events import LEGIT
from shield.sim.report import build_report, campaign_row, segment_row
from shield.sim.scenario import Scenario
from shield.sim.table import pct, render

ATTACK = Scenario(name="atk", seed=1, start=1000.0, duration=600.0)


def _atk(t: float, user: str, **kw: object) -> Result:
    return Result(t=t, actor="atk", segments=(), username=user, **kw)  # type: ignore[arg-type]


RESULTS = [
    _atk(1000, "a", success=True),  # before any mitigation, inside the first minute
    _atk(1010, "b"),
    _atk(1030, "c", first_mitigation="challenge", challenged=True, stopped=True),
    _atk(1100, "d", first_mitigation="challenge", challenged=True, solved=True, success=True, transferred=True),
    _atk(1200, "e", first_mitigation="block", stopped=True),
    _atk(1300, "d", success=True),  # the same account again: one compromise
]
BASELINE = [_atk(r.t, r.username, success=r.username in {"a", "d", "f"}) for r in RESULTS] + [
    _atk(1400, "f", success=True)
]


def test_campaign_row_counts_shares_compromises_and_first_mitigation() -> None:
    row = campaign_row(ATTACK, RESULTS, BASELINE)
    assert row.attempts == 6
    assert row.stopped_share == pytest.approx(2 / 6)
    assert row.unchallenged_share == pytest.approx(3 / 6)
    assert row.challenged_share == pytest.approx(2 / 6)
    assert row.solved == 1
    assert row.compromised == 2
    assert row.compromised_baseline == 3
    assert row.compromised_after_first_minute == 1  # "d"; "a" fell inside the first minute
    assert (row.first_mitigation_s, row.first_mitigation_attempts) == (30.0, 3)
    assert row.transfers == 1


def test_campaign_never_mitigated_has_no_first_mitigation() -> None:
    row = campaign_row(ATTACK, RESULTS[:2], None)
    assert (row.first_mitigation_s, row.first_mitigation_attempts, row.compromised_baseline) == (None, None, None)


def _legit(segments: tuple[str, ...], **kw: object) -> Result:
    return Result(t=5.0, actor=LEGIT, segments=segments, username="u", **kw)  # type: ignore[arg-type]


USERS = [
    _legit(("app", "carrier-nat"), success=True),
    _legit(("app", "carrier-nat"), challenged=True, solved=True, success=True),
    _legit(("browser", "traveller"), challenged=True, solved=True, success=True),
    _legit(("browser", "residential"), stopped=True, first_mitigation="block"),
    _legit(("app", "residential", "typo"), delayed=True),
]


@pytest.mark.parametrize(
    ("segment", "logins", "challenged", "blocked", "success"),
    [
        ("all", 5, 2 / 5, 1, 3 / 5),
        ("carrier-nat", 2, 1 / 2, 0, 1.0),
        ("traveller", 1, 1.0, 0, 1.0),
        ("browser", 2, 1 / 2, 1, 1 / 2),
        ("typo", 1, 0.0, 0, 0.0),
        ("vpn", 0, 0.0, 0, 0.0),
    ],
    ids=["all", "carrier-nat", "traveller", "browser", "typo", "empty-segment-is-zero-not-an-error"],
)
def test_segment_rows(segment: str, logins: int, challenged: float, blocked: int, success: float) -> None:
    row = segment_row(segment, USERS)
    assert (row.logins, row.blocked) == (logins, blocked)
    assert row.challenged_share == pytest.approx(challenged)
    assert row.success_share == pytest.approx(success)


def test_delayed_share_counts_tarpitted_logins() -> None:
    assert segment_row("typo", USERS).delayed_share == 1.0


def test_build_report_splits_actors_and_bins_the_timeline() -> None:
    report = build_report(RESULTS + USERS, [ATTACK], duration=3600.0, baseline=BASELINE, bins=60)
    assert [c.name for c in report.campaigns] == ["atk"]
    assert [s.name for s in report.series] == ["atk", "real users"]
    atk, users = report.series
    assert (sum(atk.attempts), sum(atk.stopped), sum(atk.successes), sum(atk.challenged)) == (6, 2, 3, 2)
    assert atk.t0 < ATTACK.start
    assert atk.t0 + atk.bin_s * len(atk.attempts) > ATTACK.start + ATTACK.duration
    assert (users.t0, len(users.attempts), sum(users.attempts)) == (0.0, 60, 5)
    assert report.users[0].logins == 5


@pytest.mark.parametrize(
    ("share", "text"),
    [(0.0, "0%"), (0.0004, "0.04%"), (0.05, "5.00%"), (0.995, "99.5%"), (1.0, "100.0%")],
    ids=["zero", "tiny", "small", "large", "all"],
)
def test_percent_format(share: float, text: str) -> None:
    assert pct(share) == text


def test_rendered_table_is_aligned() -> None:
    text = render(build_report(RESULTS + USERS, [ATTACK], duration=3600.0, baseline=BASELINE))
    campaign_block = text.split("\n\n")[0].splitlines()
    assert len({len(line) for line in campaign_block[:2]}) == 1  # header and rule line up
    assert campaign_block[2].startswith("atk ")
    assert "30s / #3" in campaign_block[2]
