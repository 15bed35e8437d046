"""Issue 13's targets evaluated on constructed results (pure), and their worst case over draws."""

from __future__ import annotations

from shield.sim.driver import Result
from shield.sim.events import LEGIT
from shield.sim.over_draws import met_everywhere, summarize, summary_markdown
from shield.sim.report import campaign_row
from shield.sim.scenario import Scenario
from shield.sim.targets import Target, evaluate


def _user(*segments: str, **kw: object) -> Result:
    return Result(t=10.0, actor=LEGIT, segments=segments, username="u", **kw)  # type: ignore[arg-type]


def _by_key(targets: list[Target]) -> dict[tuple[str, str], Target]:
    return {t.key: t for t in targets}


# 20,000 real logins, all fine: the baseline every case below changes one thing of
CLEAN = [_user("browser", "residential", success=True)] * 10_000 + [_user("app", "carrier-nat", success=True)] * 10_000


def test_clean_real_users_meet_every_user_target() -> None:
    targets = evaluate([], CLEAN)
    assert all(t.met is not False for t in targets)
    assert _by_key(targets)[("real users", "app logins challenged (solved in the app)")].met is None


def test_one_blocked_gateway_login_misses_its_target_though_the_overall_rate_is_met() -> None:
    legit = [*CLEAN[1:], _user("browser", "gateway", stopped=True)]
    t = _by_key(evaluate([], legit))
    assert t[("real users", "logins blocked")].met  # 1 in 20,000 = 0.005% <= 0.01%
    assert t[("real users", "gateway logins blocked")].met is False
    assert t[("real users", "gateway logins blocked")].measured == "1 of 1"


def test_three_blocked_logins_in_20000_miss_the_overall_target() -> None:
    legit = [*CLEAN[3:], *[_user("browser", "residential", stopped=True)] * 3]
    assert _by_key(evaluate([], legit))[("real users", "logins blocked")].met is False


def test_challenges_count_against_browser_logins_only() -> None:
    # 5% of app logins challenged (solved by the app): reported, never a miss
    apps = [_user("app", "carrier-nat", challenged=True, solved=True, success=True)] * 500
    t = _by_key(evaluate([], CLEAN[:10_000] + apps + CLEAN[10_500:]))
    assert t[("real users", "browser logins challenged")].met
    assert t[("real users", "app logins challenged (solved in the app)")].value == 0.05
    browsers = [_user("browser", "residential", challenged=True, solved=True, success=True)] * 101
    t = _by_key(evaluate([], browsers + CLEAN[101:]))
    assert t[("real users", "browser logins challenged")].met is False


def _atk(name: str, user: str, **kw: object) -> Result:
    return Result(t=100.0, actor=name, segments=(), username=user, **kw)  # type: ignore[arg-type]


def test_low_and_slow_counts_challenged_or_tagged_attempts() -> None:
    s = Scenario(name="low-and-slow", seed=1, start=0.0, duration=1000.0)
    results = [_atk(s.name, f"v{i}", challenged=True, stopped=True) for i in range(8)]
    results += [_atk(s.name, "v8", tagged=True, success=True), _atk(s.name, "v9", success=True)]
    t = _by_key(evaluate([campaign_row(s, results, None)], CLEAN))
    assert t[(s.name, "attempts challenged or tagged for step-up")].value == 0.9
    assert t[(s.name, "attempts challenged or tagged for step-up")].met
    assert t[(s.name, "accounts taken over")].value == 2
    assert t[(s.name, "accounts taken without a step-up tag")].value == 1


def test_careful_attacker_takeovers_are_reported_tagged_or_not() -> None:
    s = Scenario(name="careful-attacker", seed=1, start=0.0, duration=1000.0)
    results = [
        _atk(s.name, "a", challenged=True, solved=True, tagged=True, success=True),
        _atk(s.name, "a", success=True),  # the same account later, untagged: it counts as taken untagged
        _atk(s.name, "b", tagged=True, success=True),
        _atk(s.name, "c", stopped=True),
    ]
    row = campaign_row(s, results, None)
    assert (row.compromised, row.compromised_tagged, row.compromised_untagged) == (2, 1, 1)
    assert row.challenged_or_tagged_share == 0.5
    assert all(t.met is None for t in evaluate([row], CLEAN) if t.subject == s.name)


def _share(subject: str, value: float, floor: float = 0.995) -> Target:
    return Target(subject, "attempts stopped before the app", f">= {floor}", f"{value}", value >= floor, value)


def _count(value: int) -> Target:
    return Target("real users", "gateway logins blocked", "0", str(value), value == 0, float(value), "count", "low")


def test_the_worst_case_over_draws_and_its_draw_and_the_median() -> None:
    by_draw = {
        1: [_share("naive", 0.999), _count(0)],
        2: [_share("naive", 0.990), _count(2)],
        3: [_share("naive", 1.0), _count(0)],
    }
    naive, gateway = summarize(by_draw)
    assert (naive.worst_draw, naive.target.value, naive.median, naive.missed_in) == (2, 0.990, 0.999, (2,))
    assert (gateway.worst_draw, gateway.target.value, gateway.median) == (2, 2.0, 0.0)
    assert met_everywhere(naive) is False
    assert "**no** (missed in draw 2)" in summary_markdown([naive, gateway])


def test_all_draws_met_is_met() -> None:
    (s,) = summarize({1: [_count(0)], 2: [_count(0)]})
    assert met_everywhere(s) is True
