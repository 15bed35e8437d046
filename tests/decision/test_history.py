"""Account history facts: known/new country, ASN and device, familiarity, and impossible travel."""

from __future__ import annotations

import pytest

from shield.decision.history import haversine_km, history_facts
from shield.model import AccountHistory, FactValue

NOW = 1_700_000_000.0
TOKYO = (35.69, 139.69)
OSAKA = (34.69, 135.50)
NEW_YORK = (40.71, -74.00)
HOME = AccountHistory(
    countries=("JP",),
    asns=("64510",),
    devices=("dev-home",),
    fingerprints=("fp-home",),
    subnets=("10.10.1.0/24",),
    last_success_at=NOW - 3600,
    last_lat=TOKYO[0],
    last_lon=TOKYO[1],
    last_country="JP",
)


def req(**facts: FactValue) -> dict[str, FactValue]:
    base: dict[str, FactValue] = {"account.present": True}
    base.update(facts)
    return base


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (
            req(**{"ip.country": "JP", "ip.asn": 64510, "device.id": "dev-home"}),
            {
                "account.new_country": False,
                "account.new_asn": False,
                "account.new_device": False,
                "account.familiar": True,
            },
        ),
        (
            req(**{"ip.country": "CN", "ip.asn": 64530, "device.id": "dev-x", "fp.id": "fp-x"}),
            {
                "account.new_country": True,
                "account.new_asn": True,
                "account.new_device": True,
                "account.familiar": False,
            },
        ),
        (
            req(**{"ip.country": "JP", "ip.asn": 64510, "device.id": "dev-new"}),
            {"account.new_device": True, "account.familiar": True},
        ),
        (
            req(**{"ip.country": "US", "ip.asn": 64536, "device.id": "dev-home"}),
            {"account.new_country": True, "account.familiar": True},
        ),
        (
            req(**{"ip.country": "JP", "ip.asn": 64500, "fp.id": "fp-home"}),
            {"account.new_asn": True, "account.new_device": True, "account.new_fp": False, "account.familiar": False},
        ),
    ],
    ids=[
        "home_device_home_network",
        "attacker_abroad",
        "new_phone_at_home",
        "travelling_with_own_phone",
        "known_fingerprint_without_device_id_is_a_new_device",
    ],
)
def test_known_account_novelty_and_familiarity(facts: dict[str, FactValue], expected: dict[str, FactValue]) -> None:
    got = history_facts(HOME, facts, NOW)
    assert got["account.known"] is True
    assert got["account.known_countries"] == 1
    assert got["account.last_success_age_s"] == 3600
    for name, value in expected.items():
        assert got[name] == value, name


@pytest.mark.parametrize(
    ("subnet", "new"), [("10.10.1.0/24", False), ("10.11.7.0/24", True)], ids=["home_subnet", "another_subnet"]
)
def test_new_subnet_is_against_the_subnets_of_successful_logins(subnet: str, new: bool) -> None:
    got = history_facts(HOME, req(**{"ip.subnet": subnet, "ip.country": "JP", "ip.asn": 64510}), NOW)
    assert got["account.new_subnet"] is new


def test_unknown_account_is_only_known_false() -> None:
    assert history_facts(None, req(**{"ip.country": "JP"}), NOW) == {
        "account.known": False,
        "account.familiar": False,
    }


def test_no_account_in_the_request_gives_no_history_facts() -> None:
    assert history_facts(None, {"account.present": False}, NOW) == {}


def test_facts_that_cannot_be_known_are_absent() -> None:
    got = history_facts(HOME, req(), NOW)
    for absent in ("account.new_country", "account.new_asn", "account.new_fp", "account.travel_kmh"):
        assert absent not in got


def test_a_request_without_a_device_id_is_a_new_device() -> None:
    # security: dropping the cookie must not make the stepup rules' account.new_device absent (false)
    assert history_facts(HOME, req(), NOW)["account.new_device"] is True


def test_a_shared_fingerprint_never_makes_an_attacker_familiar() -> None:
    got = history_facts(HOME, req(**{"fp.id": "fp-home", "device.id": "c:attacker", "ip.subnet": "10.99.0.0/24"}), NOW)
    assert got["account.new_fp"] is False
    assert got["account.new_device"] is True
    assert got["account.familiar"] is False


@pytest.mark.parametrize(
    ("facts", "familiar"),
    [
        ({"ip.subnet": "10.10.1.0/24", "ip.country": "JP", "ip.asn": 64999}, True),
        ({"ip.subnet": "10.77.0.0/24", "ip.country": "JP", "ip.asn": 64510}, True),
        ({"ip.subnet": "10.77.0.0/24", "ip.country": "JP", "ip.asn": 64510, "ip.carrier": True}, False),
        ({"ip.subnet": "10.10.1.0/24", "ip.country": "JP", "ip.asn": 64510, "ip.carrier": True}, True),
    ],
    ids=["known_subnet", "known_country_and_asn", "known_carrier_asn_elsewhere", "known_subnet_on_a_carrier"],
)
def test_familiar_networks_are_subnets_and_asns_that_are_not_carriers(
    facts: dict[str, FactValue], familiar: bool
) -> None:
    assert history_facts(HOME, req(**facts), NOW)["account.familiar"] is familiar


def test_an_account_with_only_unconfirmed_successes_is_known_and_nothing_is_familiar() -> None:
    history = AccountHistory(unconfirmed_at=NOW - 60)
    got = history_facts(history, req(**{"device.id": "dev-x", "ip.subnet": "10.1.0.0/24", "ip.country": "JP"}), NOW)
    assert got["account.known"] is True
    assert got["account.unconfirmed"] is True
    assert got["account.last_success_age_s"] == 60
    assert (got["account.new_device"], got["account.new_subnet"], got["account.new_country"]) == (True, True, True)
    assert got["account.familiar"] is False


@pytest.mark.parametrize(
    ("where", "elapsed_s", "low", "high"),
    [
        (TOKYO, 3600, 0.0, 0.0),
        ((35.90, 139.69), 60, 0.0, 0.0),
        (OSAKA, 3 * 3600, 130.0, 140.0),
        (NEW_YORK, 3600, 10_800.0, 10_900.0),
        (NEW_YORK, 0, 10_000_000.0, float("inf")),
    ],
    ids=[
        "same_city_is_zero",
        "move_under_50km_is_zero",
        "tokyo_osaka_by_train",
        "tokyo_new_york_in_an_hour",
        "same_second_is_huge_not_infinite",
    ],
)
def test_travel_speed(where: tuple[float, float], elapsed_s: float, low: float, high: float) -> None:
    history = AccountHistory(countries=("JP",), last_success_at=NOW - elapsed_s, last_lat=TOKYO[0], last_lon=TOKYO[1])
    speed = history_facts(history, req(**{"ip.lat": where[0], "ip.lon": where[1]}), NOW)["account.travel_kmh"]
    assert isinstance(speed, float)
    assert low <= speed <= high
    assert speed != float("inf")


def test_travel_is_absent_when_the_last_location_is_unknown() -> None:
    history = AccountHistory(countries=("JP",), last_success_at=NOW - 60)
    assert "account.travel_kmh" not in history_facts(history, req(**{"ip.lat": 1.0, "ip.lon": 2.0}), NOW)


def test_haversine_tokyo_new_york() -> None:
    assert haversine_km(*TOKYO, *NEW_YORK) == pytest.approx(10_850, rel=0.01)
