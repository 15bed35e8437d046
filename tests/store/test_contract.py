"""One contract, three stores: memory, a real redis-server and a real 3-master Redis Cluster."""

from __future__ import annotations

import pytest

from shield.facts.catalog import counter_names
from shield.model import DEFAULT_WINDOWS, FakeClock, Observation, Outcome
from shield.store.base import Store

DAY = 86400.0


def attempt(ip: str = "10.30.0.7", account: str | None = "acct-1", **kw: object) -> Observation:
    values: dict[str, object] = {
        "route": "login",
        "ip": ip,
        "subnet": ip.rsplit(".", 1)[0] + ".0/24",
        "asn": "64530",
        "country": "CN",
        "account": account,
        "fp": "fp-1",
        "device": "dev-1",
        "password": "pw-1",
        "pair": f"pair-{account}",
        "lat": 39.9,
        "lon": 116.4,
    }
    values.update(kw)
    return Observation(**values)  # type: ignore[arg-type]


async def test_observe_returns_every_counter_name(store: Store) -> None:
    signals = await store.observe(attempt(), FakeClock().now())
    assert set(signals.counters) == set(counter_names(DEFAULT_WINDOWS))


async def test_attempt_is_counted_in_every_dimension_and_the_site(store: Store) -> None:
    now = FakeClock().now()
    await store.observe(attempt(), now)
    counters = (await store.observe(attempt(), now + 1)).counters
    for dim in ("ip", "subnet", "asn", "country", "account", "fp", "device", "password", "pair"):
        for w in DEFAULT_WINDOWS:
            assert counters[f"{dim}.attempts_{w.name}"] == 2, (dim, w.name)
    assert counters["site.attempts_5m"] == counters["site.attempts_24h"] == 2


async def test_absent_dimension_is_not_counted(store: Store) -> None:
    now = FakeClock().now()
    await store.observe(attempt(account="a"), now)
    counters = (await store.observe(attempt(account=None, pair=None, device=None), now)).counters
    assert counters["account.attempts_1m"] == 0
    assert counters["device.attempts_1m"] == 0
    assert counters["ip.attempts_1m"] == 2


@pytest.mark.parametrize("window", DEFAULT_WINDOWS, ids=[w.name for w in DEFAULT_WINDOWS])
async def test_attempt_leaves_each_window_within_the_stated_error(store: Store, window: object) -> None:
    # Relaxed for the two-bucket approximation (README, Store: Accuracy): an attempt counts fully while
    # its W-wide bucket is current, then with a weight falling linearly over the next W, rounded half up.
    # One attempt is therefore counted for at least W/2 and never for 3W/2 or more.
    seconds = window.seconds  # type: ignore[attr-defined]
    name = window.name  # type: ignore[attr-defined]
    t0 = FakeClock().now() + 3.7  # not aligned on a bucket
    await store.observe(attempt(ip="10.30.0.7"), t0)
    assert (await store.observe(attempt(ip="10.30.0.7"), t0 + seconds / 2 - 1)).counters[f"ip.attempts_{name}"] == 2
    await store.observe(attempt(ip="10.30.0.8"), t0)
    assert (await store.observe(attempt(ip="10.30.0.8"), t0 + seconds * 1.5)).counters[f"ip.attempts_{name}"] == 1


@pytest.mark.parametrize("window", DEFAULT_WINDOWS, ids=[w.name for w in DEFAULT_WINDOWS])
async def test_steady_rate_is_estimated_within_one_previous_bucket_share(store: Store, window: object) -> None:
    # At a steady rate the estimate is exact up to rounding: 24 attempts spread over two windows,
    # then the window ending now holds 12 of them (+ the probe), whatever the alignment.
    seconds = window.seconds  # type: ignore[attr-defined]
    name = window.name  # type: ignore[attr-defined]
    t0 = FakeClock().now() + 3.7
    for i in range(24):
        await store.observe(attempt(ip="10.30.0.9"), t0 + i * seconds / 12)
    probe = await store.observe(attempt(ip="10.30.0.9"), t0 + 24 * seconds / 12 - 0.5)
    assert abs(probe.counters[f"ip.attempts_{name}"] - 13) <= 1


async def test_distinct_counts_are_exact_and_slide(store: Store) -> None:
    now = FakeClock().now()
    for i, account in enumerate(["a", "b", "c", "a"]):
        signals = await store.observe(attempt(ip="10.30.0.7", account=account), now + i)
    assert signals.counters["ip.distinct_accounts_1m"] == 3
    assert signals.counters["password.distinct_accounts_1m"] == 3
    for i, ip in enumerate(["10.31.0.1", "10.31.0.2"]):
        signals = await store.observe(attempt(ip=ip, account="a", asn="64531", country="US"), now + 10 + i)
    assert signals.counters["account.distinct_ips_1m"] == 3
    assert signals.counters["account.distinct_countries_1m"] == 2
    assert signals.counters["account.distinct_asns_1m"] == 2
    assert signals.counters["pair.distinct_ips_1m"] == 3
    later = await store.observe(attempt(ip="10.31.0.2", account="a", asn="64531", country="US"), now + 65)
    assert later.counters["account.distinct_ips_1m"] == 2  # 10.30.0.7 was last seen at now+3
    assert later.counters["account.distinct_ips_10m"] == 3


@pytest.mark.parametrize("members", [64, 200], ids=["exact_at_64", "approx_at_200"])
async def test_large_distinct_counts_stay_within_stated_error(store: Store, members: int) -> None:
    now = FakeClock().now()
    for i in range(members):
        signals = await store.observe(attempt(ip=f"10.30.{i // 250}.{i % 250}", account=f"victim-{i}"), now)
    got = signals.counters["password.distinct_accounts_1h"]
    if members <= 64:
        assert got == members
    else:
        assert abs(got - members) <= members * 0.03, got


@pytest.mark.parametrize(
    ("outcome", "failures", "successes"),
    [(Outcome.FAILURE, 1, 0), (Outcome.SUCCESS, 0, 1), (Outcome.UNKNOWN, 0, 0)],
    ids=["failure", "success", "unknown_is_not_counted"],
)
async def test_outcome_is_counted_per_dimension_and_site(
    store: Store, outcome: Outcome, failures: int, successes: int
) -> None:
    now = FakeClock().now()
    obs = attempt()
    await store.observe(obs, now)
    await store.record_outcome(obs, outcome, familiar=False, now=now)
    counters = (await store.observe(obs, now + 1)).counters
    for dim in ("ip", "account", "password", "pair", "asn"):
        assert counters[f"{dim}.failures_10m"] == failures
        assert counters[f"{dim}.successes_10m"] == successes
    assert counters["site.failures_5m"] == failures
    assert counters["site.successes_24h"] == successes


@pytest.mark.parametrize(("familiar", "expected"), [(True, (1, 0)), (False, (0, 1))], ids=["familiar", "unfamiliar"])
async def test_account_failures_are_split_by_familiarity(
    store: Store, familiar: bool, expected: tuple[int, int]
) -> None:
    now = FakeClock().now()
    await store.record_outcome(attempt(), Outcome.FAILURE, familiar=familiar, now=now)
    counters = (await store.observe(attempt(), now)).counters
    assert (counters["account.failures_familiar_1h"], counters["account.failures_unfamiliar_1h"]) == expected


async def test_history_is_learned_only_from_a_success(store: Store) -> None:
    now = FakeClock().now()
    obs = attempt(country="JP", asn="64510", ip="10.10.0.5", lat=35.69, lon=139.69)
    first = await store.observe(obs, now)
    assert first.history is None
    assert first.counters["site.unknown_5m"] == 1
    await store.record_outcome(obs, Outcome.FAILURE, familiar=False, now=now)
    assert (await store.observe(obs, now + 1)).history is None
    await store.record_outcome(obs, Outcome.SUCCESS, familiar=False, now=now + 2)
    after = await store.observe(obs, now + 3)
    assert after.history is not None
    assert after.history.countries == ("JP",)
    assert after.history.asns == ("64510",)
    assert after.history.devices == ("dev-1",)
    assert after.history.fingerprints == ("fp-1",)
    assert after.history.subnets == (obs.subnet,)
    assert after.history.last_success_at == pytest.approx(now + 2)
    assert (after.history.last_lat, after.history.last_lon) == (pytest.approx(35.69), pytest.approx(139.69))
    assert after.history.last_country == "JP"
    assert after.counters["site.unknown_5m"] == 2  # the two attempts before the success


async def test_history_keeps_newest_entries_and_expires_them_after_90_days(store: Store) -> None:
    now = FakeClock().now()
    for i, country in enumerate(["JP", "KR", "TW", "US"]):
        await store.record_outcome(attempt(country=country), Outcome.SUCCESS, familiar=True, now=now + i * 30 * DAY)
    signals = await store.observe(attempt(), now + 90 * DAY + 1)
    assert signals.history is not None
    assert signals.history.countries == ("US", "TW", "KR")  # history_size=3, JP aged out
    gone = await store.observe(attempt(), now + 3 * 30 * DAY + 90 * DAY + 1)
    assert gone.history is None


async def test_history_keeps_the_newest_subnets(store: Store) -> None:
    now = FakeClock().now()
    for i, ip in enumerate(["10.10.1.5", "10.10.2.5", "10.10.1.9", "10.10.3.5", "10.10.4.5"]):
        await store.record_outcome(attempt(ip=ip), Outcome.SUCCESS, familiar=True, now=now + i)
    signals = await store.observe(attempt(), now + 10)
    assert signals.history is not None
    # history_size=3, newest first; a subnet seen again moves to the front instead of repeating
    assert signals.history.subnets == ("10.10.4.0/24", "10.10.3.0/24", "10.10.1.0/24")


async def test_ban_escalates_for_repeat_offenders_up_to_max_ttl(store: Store) -> None:
    now = FakeClock().now()
    ttls = []
    for i in range(5):
        ban = await store.add_ban("ip", "10.40.0.9", ttl=60, reason="stuffing", now=now + i, max_ttl=600)
        ttls.append((ban.offenses, round(ban.expires_at - ban.created_at)))
    assert ttls == [(1, 60), (2, 120), (3, 240), (4, 480), (5, 600)]


async def test_offenses_are_forgotten_after_max_ttl(store: Store) -> None:
    now = FakeClock().now()
    await store.add_ban("ip", "10.40.0.9", ttl=60, reason="r", now=now, max_ttl=600)
    ban = await store.add_ban("ip", "10.40.0.9", ttl=60, reason="r", now=now + 601, max_ttl=600)
    assert (ban.offenses, ban.expires_at) == (1, now + 661)


async def test_ban_is_honoured_until_it_expires(store: Store) -> None:
    now = FakeClock().now()
    await store.add_ban("account", "acct-1", ttl=100, reason="r", now=now, escalate=False)
    await store.add_ban("ip", "10.30.0.7", ttl=300, reason="r", now=now, escalate=False)
    seen = (await store.observe(attempt(), now + 50)).ban
    assert seen is not None
    assert (seen.scope, seen.value) == ("ip", "10.30.0.7")  # the harshest: lasts longest
    assert (await store.find_ban({"account": "acct-1"}, now + 99)) is not None
    assert (await store.find_ban({"account": "acct-1"}, now + 100)) is None
    assert [b.scope for b in await store.bans(now + 150)] == ["ip"]
    assert (await store.observe(attempt(), now + 300)).ban is None


async def test_ban_remove_and_list(store: Store) -> None:
    now = FakeClock().now()
    await store.add_ban("subnet", "10.30.0.0/24", ttl=60, reason="r", now=now, source="admin")
    [listed] = await store.bans(now)
    assert (listed.scope, listed.value, listed.reason, listed.source) == ("subnet", "10.30.0.0/24", "r", "admin")
    assert await store.remove_ban("subnet", "10.30.0.0/24") is True
    assert await store.remove_ban("subnet", "10.30.0.0/24") is False
    assert await store.bans(now) == []
    assert await store.find_ban({"subnet": "10.30.0.0/24"}, now) is None


async def test_claim_once_refuses_a_replay_within_ttl(store: Store) -> None:
    now = FakeClock().now()
    assert await store.claim_once("nonce-1", ttl=300, now=now) is True
    assert await store.claim_once("nonce-1", ttl=300, now=now + 299) is False
    assert await store.claim_once("nonce-2", ttl=300, now=now + 1) is True
    assert await store.claim_once("nonce-1", ttl=300, now=now + 300) is True


async def test_ping_answers_when_reachable(store: Store) -> None:
    await store.ping()


async def test_large_distinct_counts_slide_out_of_short_windows(store: Store) -> None:
    now = FakeClock().now()
    for i in range(100):
        await store.observe(attempt(ip=f"10.30.1.{i}", account=f"victim-{i}"), now + i * 0.01)
    later = (await store.observe(attempt(ip="10.30.2.1", account="late"), now + 120)).counters
    assert later["password.distinct_accounts_1m"] == 1
    assert abs(later["password.distinct_accounts_10m"] - 101) <= 3


# -- unconfirmed successes (shield.store.records; confirm_after is the Retention default, 24 h) -------------


async def test_unconfirmed_success_makes_the_account_known_but_nothing_familiar(store: Store) -> None:
    now = FakeClock().now()
    obs = attempt(device="dev-attacker")
    await store.record_outcome(obs, Outcome.SUCCESS, familiar=False, now=now, confirmed=False)
    history = (await store.observe(attempt(device="dev-attacker"), now + 60)).history
    assert history is not None
    assert history.unconfirmed_at == pytest.approx(now)
    assert history.last_success_at is None
    assert (history.devices, history.fingerprints, history.subnets, history.asns, history.countries) == (
        (), (), (), (), (),
    )


async def test_unconfirmed_success_is_confirmed_after_a_quiet_day(store: Store) -> None:
    now = FakeClock().now()
    await store.record_outcome(attempt(device="dev-new"), Outcome.SUCCESS, familiar=False, now=now, confirmed=False)
    history = (await store.observe(attempt(), now + DAY + 1)).history
    assert history is not None
    assert history.devices == ("dev-new",)
    assert history.last_success_at == pytest.approx(now)
    assert history.unconfirmed_at is None


async def test_a_failed_login_forgets_unconfirmed_successes(store: Store) -> None:
    now = FakeClock().now()
    await store.record_outcome(attempt(device="dev-home"), Outcome.SUCCESS, familiar=True, now=now)
    await store.record_outcome(attempt(device="dev-x"), Outcome.SUCCESS, familiar=False, now=now + 10, confirmed=False)
    # the owner, whose password the attacker changed, fails from home: a contrary signal
    await store.record_outcome(attempt(device="dev-home"), Outcome.FAILURE, familiar=True, now=now + 3600)
    history = (await store.observe(attempt(), now + 2 * DAY)).history
    assert history is not None
    assert history.devices == ("dev-home",)
    assert history.unconfirmed_at is None


async def test_a_failure_after_confirmation_keeps_what_was_confirmed(store: Store) -> None:
    now = FakeClock().now()
    await store.record_outcome(attempt(device="dev-new"), Outcome.SUCCESS, familiar=False, now=now, confirmed=False)
    await store.record_outcome(attempt(device="dev-new"), Outcome.FAILURE, familiar=True, now=now + DAY + 5)
    history = (await store.observe(attempt(), now + DAY + 10)).history
    assert history is not None
    assert history.devices == ("dev-new",)


async def test_a_confirmed_success_keeps_pending_entries_pending(store: Store) -> None:
    now = FakeClock().now()
    await store.record_outcome(attempt(device="dev-x"), Outcome.SUCCESS, familiar=False, now=now, confirmed=False)
    await store.record_outcome(attempt(device="dev-home"), Outcome.SUCCESS, familiar=True, now=now + 60)
    soon = (await store.observe(attempt(), now + 120)).history
    assert soon is not None
    assert soon.devices == ("dev-home",)
    assert soon.unconfirmed_at == pytest.approx(now)
    later = (await store.observe(attempt(), now + DAY + 1)).history
    assert later is not None
    assert later.devices == ("dev-home", "dev-x")  # ordered by when each was seen: dev-x at now, dev-home at now+60


async def test_matured_entries_are_folded_on_the_next_write(store: Store) -> None:
    now = FakeClock().now()
    await store.record_outcome(attempt(device="dev-a"), Outcome.SUCCESS, familiar=False, now=now, confirmed=False)
    await store.record_outcome(attempt(device="dev-b"), Outcome.SUCCESS, familiar=True, now=now + DAY + 1)
    await store.record_outcome(attempt(device="dev-b"), Outcome.FAILURE, familiar=True, now=now + DAY + 2)
    history = (await store.observe(attempt(), now + DAY + 3)).history
    assert history is not None
    assert history.devices == ("dev-b", "dev-a")
    assert history.last_success_at == pytest.approx(now + DAY + 1)


async def test_the_apps_confirmation_teaches_the_device_at_once(store: Store) -> None:
    now = FakeClock().now()
    obs = attempt(device="dev-new", ip="10.20.0.9")
    await store.record_outcome(obs, Outcome.SUCCESS, familiar=False, now=now, confirmed=False)
    # the app's second factor passed on the next login from that device: Shield-Confirm: 1
    await store.record_outcome(obs, Outcome.SUCCESS, familiar=False, now=now + 60, confirmed=True)
    history = (await store.observe(obs, now + 61)).history
    assert history is not None
    assert history.devices == ("dev-new",)
    assert history.subnets == ("10.20.0.0/24",)
    matured = (await store.observe(obs, now + DAY + 1)).history
    assert matured is not None
    assert matured.devices == ("dev-new",)  # the older pending copy does not repeat it


async def test_pending_entries_are_bounded_by_the_history_size(store: Store) -> None:
    now = FakeClock().now()
    for i in range(5):
        obs = attempt(device=f"dev-{i}")
        await store.record_outcome(obs, Outcome.SUCCESS, familiar=False, now=now + i, confirmed=False)
    history = (await store.observe(attempt(), now + DAY + 10)).history
    assert history is not None
    assert history.devices == ("dev-4", "dev-3", "dev-2")  # history_size=3: the newest pending ones, newest first
