"""Learned shared addresses: a gateway's many successful accounts versus a stuffing run's many failures."""

from __future__ import annotations

import pytest

from shield.facts.shared_address import ADDRESS, CARRIER_ADDRESS, is_shared, shared_facts, success_ratio
from shield.model import FactValue


def counters(dim: str, accounts: int, successes: int, failures: int, window: str = "24h") -> dict[str, FactValue]:
    return {
        f"{dim}.distinct_accounts_{window}": accounts,
        f"{dim}.successes_{window}": successes,
        f"{dim}.failures_{window}": failures,
    }


@pytest.mark.parametrize(
    ("accounts", "successes", "failures", "carrier", "shared"),
    [
        (400, 520, 60, False, True),  # a corporate egress gateway: hundreds of employees, ~90% succeed
        (300, 6, 594, False, False),  # a stuffing run: a 1%-valid list
        (300, 60, 240, False, False),  # a very good list (20% valid) is still far from a gateway
        (12, 15, 1, False, False),  # a family or a small office: not enough accounts to call it a gateway
        (8, 10, 2, True, True),  # a carrier NAT address: a few successful accounts confirm the prior
        (8, 10, 2, False, False),  # ... the same numbers off the carrier list are a household
        (120, 12, 300, True, False),  # a fixed-line attacker inside a carrier's ASN: stuffing-like ratio
        (0, 0, 0, True, False),  # a carrier address never seen: the list alone is no evidence
    ],
    ids=[
        "gateway", "stuffing", "good_list", "small_office", "carrier_nat", "household", "attacker_on_carrier",
        "carrier_unseen",
    ],
)
def test_an_address_is_shared_when_many_accounts_succeed(
    accounts: int, successes: int, failures: int, carrier: bool, shared: bool
) -> None:
    evidence = CARRIER_ADDRESS if carrier else ADDRESS
    assert is_shared(accounts=accounts, successes=successes, failures=failures, evidence=evidence) is shared


def test_facts_for_address_and_subnet() -> None:
    facts = {**counters("ip", 40, 45, 5), **counters("subnet", 40, 45, 5)}
    got = shared_facts(facts)
    assert got["ip.shared"] is True
    assert got["subnet.shared"] is False  # a /24 needs a bigger crowd
    assert got["ip.success_ratio_24h"] == pytest.approx(0.9)


def test_the_carrier_prior_lowers_the_evidence_but_a_stuffing_ratio_refutes_it() -> None:
    base = {**counters("ip", 6, 6, 1), **counters("subnet", 6, 6, 1)}
    assert shared_facts({**base, "ip.carrier": True})["ip.shared"] is True
    assert shared_facts({**base, "ip.carrier": False})["ip.shared"] is False
    stuffed = {**counters("ip", 200, 6, 400), **counters("subnet", 200, 6, 400), "ip.carrier": True}
    assert shared_facts(stuffed)["ip.shared"] is False


def test_an_hour_window_is_used_when_no_day_window_is_configured() -> None:
    got = shared_facts({**counters("ip", 30, 30, 1, "1h"), **counters("subnet", 0, 0, 0, "1h")})
    assert got["ip.shared"] is True
    assert "ip.success_ratio_24h" not in got


def test_no_counters_no_facts() -> None:
    assert shared_facts({}) == {}


def test_ratio_without_finished_logins_is_none() -> None:
    assert success_ratio(0, 0) is None
    assert success_ratio(9, 1) == 0.9
