"""Attack campaigns drawn from scenarios: the list, the addresses, the pacing."""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest

from shield.sim import scenario
from shield.sim.campaigns import DAY, campaign_events
from shield.sim.plan import accounts_for
from shield.sim.world import POOLS

ACCOUNTS = accounts_for(2000, 1)
PASSWORDS = {a.username: a.password for a in ACCOUNTS}


def _valid(events) -> int:  # type: ignore[no-untyped-def]
    return sum(PASSWORDS.get(e.username) == e.password for e in events)


@pytest.mark.parametrize("name", scenario.bundled_names())
def test_every_bundled_campaign_generates_attempts_inside_its_window(name: str) -> None:
    s = scenario.load(name).scaled(0.1)
    events = campaign_events(s, ACCOUNTS)
    assert events
    assert all(s.start <= e.t <= s.start + s.duration for e in events)
    assert {e.actor for e in events} == {s.name}
    assert campaign_events(s, ACCOUNTS) == events  # deterministic in the scenario seed


def test_overseas_stuffing_list_has_about_one_percent_valid_pairs_from_the_real_db() -> None:
    accounts = accounts_for(20000, 1)
    passwords = {a.username: a.password for a in accounts}
    events = campaign_events(scenario.load("overseas-stuffing"), accounts)
    assert len(events) == 20000
    assert sum(passwords.get(e.username) == e.password for e in events) == 200
    known = sum(e.username in passwords for e in events)
    assert 0.35 <= known / len(events) <= 0.45


def test_overseas_stuffing_comes_from_abroad_with_few_attempts_per_address() -> None:
    events = campaign_events(scenario.load("overseas-stuffing"), ACCOUNTS)
    foreign = [ipaddress.ip_network(c) for c in POOLS["foreign-hosting"] + POOLS["foreign-residential"]]
    assert all(any(ipaddress.ip_address(e.client_ip) in n for n in foreign) for e in events)
    per_ip = Counter(e.client_ip for e in events)
    assert len(per_ip) > 5000
    assert max(per_ip.values()) <= 8  # a few per address (a rare repeat draw may add some)
    assert len({dict(e.headers)["User-Agent"] for e in events}) > 20
    assert all(e.transfer for e in events)


def test_burst_puts_most_volume_at_the_start() -> None:
    s = scenario.load("overseas-stuffing")
    events = campaign_events(s, ACCOUNTS)
    first_tenth = sum(e.t < s.start + s.duration / 10 for e in events)
    assert first_tenth / len(events) > 0.35


def test_password_spray_tries_each_account_at_most_once_a_day() -> None:
    s = scenario.load("password-spray")
    events = campaign_events(s, ACCOUNTS)
    per_day = Counter((e.username, int((e.t - s.start) // DAY)) for e in events)
    assert max(per_day.values()) == 1
    assert {e.password for e in events} == set(s.passwords)


def test_low_and_slow_makes_one_or_two_attempts_a_day_per_target() -> None:
    s = scenario.load("low-and-slow")
    events = campaign_events(s, ACCOUNTS)
    per_day = Counter((e.username, int((e.t - s.start) // DAY)) for e in events)
    assert len({e.username for e in events}) == s.list_size
    assert set(per_day.values()) <= {1, 2}
    assert _valid(events) == round(s.list_size * s.valid_share)


def test_naive_stays_in_one_hosting_slash_24_with_one_library_agent() -> None:
    events = campaign_events(scenario.load("naive"), ACCOUNTS)
    net = ipaddress.ip_network("198.51.100.0/24")
    assert all(ipaddress.ip_address(e.client_ip) in net for e in events)
    assert {dict(e.headers)["User-Agent"] for e in events} == {dict(events[0].headers)["User-Agent"]}


def test_domestic_proxies_use_one_fixed_header_set_on_real_users_carriers() -> None:
    events = campaign_events(scenario.load("domestic-proxies"), ACCOUNTS)
    assert len({e.headers for e in events}) == 1
    jp = [ipaddress.ip_network(c) for c in POOLS["jp-mobile"] + POOLS["jp-residential"]]
    assert all(any(ipaddress.ip_address(e.client_ip) in n for n in jp) for e in events)


def test_perfect_bot_rotates_consistent_browser_header_sets() -> None:
    events = campaign_events(scenario.load("perfect-bot").scaled(0.2), ACCOUNTS)
    agents = [dict(e.headers) for e in events]
    assert len({a["User-Agent"] for a in agents}) > 5
    for a in agents:
        assert a["User-Agent"].startswith("Mozilla/5.0")
        assert ("sec-ch-ua" in a) == ("Chrome/" in a["User-Agent"])


@pytest.mark.parametrize(
    ("name", "solves"),
    [("overseas-stuffing", False), ("naive", False), ("perfect-bot", True), ("low-and-slow", True)],
    ids=["overseas-does-not-pay", "naive-does-not-pay", "perfect-bot-pays-up-to-20", "low-and-slow-pays-up-to-22"],
)
def test_pow_solve_sets_the_difficulty_the_attacker_pays(name: str, solves: bool) -> None:
    s = scenario.load(name).scaled(0.01)
    e = campaign_events(s, ACCOUNTS)[0]
    assert (e.max_difficulty > 0) is solves
    if solves:
        assert e.max_difficulty == s.pow_solve.max_difficulty


def test_the_careful_attacker_keeps_one_address_browser_and_cookie_jar_per_account() -> None:
    s = scenario.load("careful-attacker").scaled(0.25)
    events = campaign_events(s, ACCOUNTS)
    by_account: dict[str, list] = {}  # type: ignore[type-arg]
    for e in events:
        by_account.setdefault(e.username, []).append(e)
    assert len(by_account) == s.list_size
    for attempts in by_account.values():
        assert 3 <= len(attempts) <= 5
        assert len({(e.client_ip, e.headers, e.device) for e in attempts}) == 1
        assert attempts[0].device
    # the right password on every try for most accounts: it has them
    right = [u for u, attempts in by_account.items() if all(PASSWORDS[u] == e.password for e in attempts)]
    assert len(right) == round(s.list_size * s.valid_share)
    pools = ("jp-residential", "jp-mixed-fixed", "jp-unlisted-fixed")
    home = [ipaddress.ip_network(c) for p in pools for c in POOLS[p]]
    assert all(any(ipaddress.ip_address(e.client_ip) in n for n in home) for e in events)
    assert all(e.max_difficulty >= 20 for e in events)  # it solves any puzzle shield gives
