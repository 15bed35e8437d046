"""The legitimate population and the whole timeline: deterministic, shaped like the brief says."""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest

from shield.facts.address import subnet_of
from shield.facts.enrich.geo import GeoLookup
from shield.facts.enrich.geoip_build import parse_csv
from shield.settings.schema import DEMO_CSV, DEMO_GEOIP
from shield.sim import scenario
from shield.sim.events import LEGIT
from shield.sim.plan import accounts_for, make_plan
from shield.sim.world import NETWORKS, POOLS

DAY = 86400.0


@pytest.fixture(scope="module")
def plan():  # type: ignore[no-untyped-def]
    return make_plan(users=1500, seed=5, duration=2 * DAY, scenarios=[scenario.load("overseas-stuffing").scaled(0.05)])


def _in_pool(ip: str, pools: tuple[str, ...]) -> bool:
    return any(ipaddress.ip_address(ip) in ipaddress.ip_network(c) for pool in pools for c in POOLS[pool])


def test_same_seed_gives_the_same_event_stream() -> None:
    chosen = [scenario.load(n).scaled(0.02) for n in ("overseas-stuffing", "password-spray", "low-and-slow")]
    a = make_plan(users=300, seed=9, duration=DAY, scenarios=chosen)
    b = make_plan(users=300, seed=9, duration=DAY, scenarios=chosen)
    assert a.events == b.events
    assert a.accounts == b.accounts


def test_another_seed_gives_another_population() -> None:
    a = make_plan(users=300, seed=1, duration=DAY, scenarios=[])
    b = make_plan(users=300, seed=2, duration=DAY, scenarios=[])
    assert a.events != b.events
    assert accounts_for(300, 1) != accounts_for(300, 2)


def test_timeline_is_sorted_and_covers_both_actors(plan) -> None:  # type: ignore[no-untyped-def]
    times = [e.t for e in plan.events]
    assert times == sorted(times)
    assert {e.actor for e in plan.events} == {LEGIT, "overseas-stuffing"}


def test_typo_share_is_five_to_eight_percent_of_logins(plan) -> None:  # type: ignore[no-untyped-def]
    legit = [e for e in plan.events if e.actor == LEGIT]
    typo_logins = sum("typo" in e.segments for e in legit) / 2  # a typo and its retry
    logins = len(legit) - typo_logins
    assert 0.05 <= typo_logins / logins <= 0.08


def test_every_real_user_segment_is_present(plan) -> None:  # type: ignore[no-untyped-def]
    segments = Counter(s for e in plan.events if e.actor == LEGIT for s in e.segments)
    for seg in ("app", "browser", "carrier-nat", "residential", "away", "new-device", "traveller", "vpn", "typo"):
        assert segments[seg] > 0, seg
    assert segments["app"] > segments["browser"]  # mostly the mobile app


@pytest.mark.parametrize(
    ("segment", "pools"),
    [
        ("carrier-nat", ("jp-mobile", "jp-mobile-unlisted")),
        ("residential", ("jp-residential", "jp-mixed-fixed", "jp-unlisted-fixed")),
        ("traveller", ("travel", "foreign-residential")),
        ("vpn", ("vpn",)),
        ("gateway", ("gateways",)),
        ("mixed-carrier", ("jp-mobile", "jp-mixed-fixed")),
    ],
    ids=[
        "carrier-nat-on-mobile-ranges", "residential-at-home", "travellers-abroad-some-on-attacker-networks",
        "vpn-egress", "gateways-on-business-and-campus-ranges", "mixed-carrier-home-and-mobile",
    ],
)
def test_segment_addresses_come_from_their_world_ranges(plan, segment: str, pools: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    ips = [e.client_ip for e in plan.events if e.actor == LEGIT and segment in e.segments]
    assert ips
    assert all(_in_pool(ip, pools) for ip in ips)


def test_carrier_nat_puts_many_users_behind_one_address(plan) -> None:  # type: ignore[no-untyped-def]
    users_per_ip: dict[str, set[str]] = {}
    for e in plan.events:
        if e.actor == LEGIT and "carrier-nat" in e.segments:
            users_per_ip.setdefault(e.client_ip, set()).add(e.username)
    assert max(len(u) for u in users_per_ip.values()) >= 5


def test_app_logins_carry_app_version_and_device_id(plan) -> None:  # type: ignore[no-untyped-def]
    for e in plan.events:
        if e.actor == LEGIT and "app" in e.segments:
            names = dict(e.headers)
            assert names["User-Agent"].startswith("DemoPay/")
            assert names["X-App-Version"] in names["User-Agent"]
            assert names["X-Device-Id"]


def test_versions_update_during_the_run(plan) -> None:  # type: ignore[no-untyped-def]
    versions = {dict(e.headers).get("X-App-Version") for e in plan.events if e.actor == LEGIT}
    assert {"5.2.1", "5.3.0"} <= versions




def test_chrome_sends_client_hints_and_japanese_accept_language(plan) -> None:  # type: ignore[no-untyped-def]
    chrome = [dict(e.headers) for e in plan.events if e.actor == LEGIT and "Chrome/" in dict(e.headers)["User-Agent"]]
    assert chrome
    for h in chrome:
        assert h["sec-ch-ua"].startswith('"Chromium"')
        assert h["Accept-Language"].startswith("ja-JP")
        assert h["Accept-Encoding"] == "gzip, deflate, br, zstd"


def test_world_table_addresses_are_inside_their_networks() -> None:
    import random

    rng = random.Random(0)
    for cidr, net in NETWORKS.items():
        for _ in range(20):
            assert ipaddress.ip_address(net.address(rng)) in ipaddress.ip_network(cidr)


def test_world_table_mirrors_the_demo_database_csv() -> None:
    rows = parse_csv(DEMO_CSV.read_text(), "demo.csv")
    csv_world = {
        str(r.network): (r.record["country"]["iso_code"], r.record["autonomous_system_number"].value,
                         r.record["autonomous_system_organization"])
        for r in rows
    }
    assert {cidr: (n.country, n.asn, n.org) for cidr, n in NETWORKS.items()} == csv_world


def test_world_addresses_spread_over_as_many_subnets_as_the_old_slash_16s() -> None:
    """A /40 holds 256 of shield's IPv6 subnets (/48) as a /16 held 256 IPv4 /24s: keep them all in use."""
    import random

    rng = random.Random(0)
    geo = GeoLookup(country=DEMO_GEOIP, asn=DEMO_GEOIP)
    for cidr, net in NETWORKS.items():
        addresses = [net.address(rng) for _ in range(400)]
        subnets = {subnet_of(a) for a in addresses}
        assert len(subnets) >= min(150, ipaddress.ip_network(cidr).num_addresses // 256), cidr  # ~200 expected
        assert all(geo.lookup(a).asn == net.asn for a in addresses[:20]), cidr


def test_history_precedes_the_run_with_the_users_own_devices(plan) -> None:  # type: ignore[no-untyped-def]
    assert plan.history
    assert all(-30 * DAY <= e.t < 0 and e.actor == LEGIT for e in plan.history)
    assert [e.t for e in plan.history] == sorted(e.t for e in plan.history)
    known = {e.device for e in plan.history}
    run = [e for e in plan.events if e.actor == LEGIT]
    # most logins in the run come from a device shield saw before; a new device never did
    assert sum(e.device in known for e in run) / len(run) > 0.9
    assert not any(e.device in known for e in run if "new-device" in e.segments)
    assert not any("traveller" in e.segments or "new-device" in e.segments for e in plan.history)


def test_new_devices_are_about_two_percent_of_logins(plan) -> None:  # type: ignore[no-untyped-def]
    run = [e for e in plan.events if e.actor == LEGIT and "typo" not in e.segments]
    share = sum("new-device" in e.segments for e in run) / len(run)
    assert 0.01 <= share <= 0.03


def test_no_history_is_a_shield_deployed_today() -> None:
    assert make_plan(users=50, seed=1, duration=DAY, scenarios=[], history_days=0).history == ()
