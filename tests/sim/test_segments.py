"""The real-world segments of the legitimate population: present, plausibly sized, shaped like the world."""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path

import pytest

from shield.facts.enrich.geo import GeoLookup
from shield.settings.schema import DEMO_GEOIP, DEMO_LISTS
from shield.sim import agents, scenario
from shield.sim.campaigns import campaign_events
from shield.sim.draws import draw
from shield.sim.events import LEGIT, Event
from shield.sim.logins import office_hours
from shield.sim.plan import Plan, plan_for_draw
from shield.sim.population import SPRAYED_PASSWORDS

DAY = 86400.0
BUNDLED_LISTS = Path(__file__).resolve().parents[2] / "shield" / "rules" / "bundled" / "lists"
NEW_SEGMENTS = (
    "gateway", "mixed-carrier", "unlisted-carrier", "sprayed-password", "first-browser-login", "return-visit",
    "popular-build", "traveller", "vpn",
)


@pytest.fixture(scope="module", params=[0, 2], ids=["draw-0", "draw-2"])
def plan(request: pytest.FixtureRequest) -> Plan:
    return plan_for_draw(draw(request.param), users=3000, duration=2 * DAY, scenarios=[])


def _legit(plan: Plan) -> list[Event]:
    return [e for e in plan.events if e.actor == LEGIT]


def _asns(path: Path) -> set[int]:
    return {int(line.split("#")[0]) for line in path.read_text().splitlines() if line.split("#")[0].strip()}


def test_every_new_segment_appears_with_a_plausible_share(plan: Plan) -> None:
    legit = _legit(plan)
    counts = Counter(s for e in legit for s in e.segments)
    shares = {seg: counts[seg] / len(legit) for seg in NEW_SEGMENTS}
    for seg in NEW_SEGMENTS:
        assert 0.001 <= shares[seg] <= 0.3, (seg, shares[seg])


def test_gateways_put_many_accounts_behind_one_address_mostly_in_office_hours(plan: Plan) -> None:
    at_gateway = [e for e in _legit(plan) if "gateway" in e.segments]
    accounts: dict[str, set[str]] = {}
    for e in at_gateway:
        accounts.setdefault(e.client_ip, set()).add(e.username)
    assert max(len(a) for a in accounts.values()) >= 15  # a crowd behind one address
    assert all("browser" in e.segments for e in at_gateway)
    assert all(office_hours(e.t) for e in at_gateway if "typo" not in e.segments)
    # right passwords mostly: the typo's first try is the only failure
    assert sum("typo" in e.segments for e in at_gateway) / len(at_gateway) < 0.25


def test_gateways_and_the_unlisted_carrier_are_on_asns_no_list_names(plan: Plan) -> None:
    geo = GeoLookup(country=DEMO_GEOIP, asn=DEMO_GEOIP)
    listed = set().union(*(_asns(p) for d in (BUNDLED_LISTS, DEMO_LISTS) for p in d.glob("*asns.txt")))
    for seg in ("gateway", "unlisted-carrier"):
        asns = {geo.lookup(e.client_ip).asn for e in _legit(plan) if seg in e.segments}
        assert asns, seg
        assert not asns & listed, seg


def test_mixed_carrier_homes_and_phones_share_the_listed_carriers_asn(plan: Plan) -> None:
    geo = GeoLookup(country=DEMO_GEOIP, asn=DEMO_GEOIP)
    mixed = [e for e in _legit(plan) if "mixed-carrier" in e.segments]
    home = {geo.lookup(e.client_ip).asn for e in mixed if "residential" in e.segments}
    mobile = {geo.lookup(e.client_ip).asn for e in mixed if "carrier-nat" in e.segments}
    assert home == mobile == {64500}
    assert 64500 in _asns(DEMO_LISTS / "carrier_nat_asns.txt")


def test_sprayed_password_owners_hold_the_spray_campaigns_passwords(plan: Plan) -> None:
    spray = scenario.load("password-spray")
    assert set(spray.passwords) == set(SPRAYED_PASSWORDS)
    owners = [e for e in _legit(plan) if "sprayed-password" in e.segments]
    assert owners
    assert all(e.password in SPRAYED_PASSWORDS for e in owners if "typo" not in e.segments)


def test_a_first_browser_login_has_no_history_and_its_return_visits_reuse_the_browser(plan: Plan) -> None:
    known = {e.device for e in plan.history}
    fresh = [e for e in _legit(plan) if "first-browser-login" in e.segments]
    assert fresh
    assert not any(e.device in known for e in fresh)
    assert all("browser" in e.segments for e in fresh)
    first_seen: dict[str, float] = {}
    for e in fresh:
        first_seen.setdefault(e.device, e.t)
    returns = [e for e in fresh if "return-visit" in e.segments]
    assert returns
    assert all(e.t > first_seen[e.device] for e in returns)


def test_the_popular_build_is_the_header_set_domestic_proxies_sends(plan: Plan) -> None:
    popular = {e.headers for e in _legit(plan) if "popular-build" in e.segments}
    assert popular == {agents.chrome_headers(*agents.POPULAR_CHROME)}
    attack = scenario.load("domestic-proxies").scaled(0.01)
    assert {e.headers for e in campaign_events(attack, plan.accounts)} == popular


def test_some_travellers_use_the_foreign_networks_the_campaigns_use(plan: Plan) -> None:
    foreign = [ipaddress.ip_network(c) for c in scenario.resolve_subnet("foreign-residential")]
    travellers = [e for e in _legit(plan) if "traveller" in e.segments]
    on_attacker_networks = [e for e in travellers if any(ipaddress.ip_address(e.client_ip) in n for n in foreign)]
    assert 0 < len(on_attacker_networks) < len(travellers)
