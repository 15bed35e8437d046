"""shared_facts against a frozen copy of its earlier form (names formatted per call), on any counters."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from shield.facts.shared_address import (
    ADDRESS,
    CARRIER_ADDRESS,
    CARRIER_SUBNET,
    SHARED_WINDOWS,
    SUBNET,
    shared_facts,
)
from shield.model import FactValue


def reference(facts: Mapping[str, FactValue]) -> dict[str, FactValue]:
    window = next((w for w in SHARED_WINDOWS if f"ip.successes_{w}" in facts), None)
    if window is None:
        return {}
    carrier = facts.get("ip.carrier") is True
    out: dict[str, FactValue] = {}
    for dim, plain, prior in (("ip", ADDRESS, CARRIER_ADDRESS), ("subnet", SUBNET, CARRIER_SUBNET)):
        accounts = facts.get(f"{dim}.distinct_accounts_{window}", 0)
        successes = facts.get(f"{dim}.successes_{window}", 0)
        failures = facts.get(f"{dim}.failures_{window}", 0)
        if not isinstance(accounts, int) or not isinstance(successes, int) or not isinstance(failures, int):
            continue
        e = prior if carrier else plain
        finished = successes + failures
        out[f"{dim}.shared"] = (
            accounts >= e.min_accounts and successes >= e.min_successes and successes >= e.min_ratio * finished
        )
        if window == "24h" and finished:
            out[f"{dim}.success_ratio_24h"] = successes / finished
    return out


NAMES = [
    f"{dim}.{kind}_{w}" for dim in ("ip", "subnet") for kind in ("distinct_accounts", "successes", "failures")
    for w in SHARED_WINDOWS
]
VALUES = st.one_of(st.integers(min_value=0, max_value=80), st.just("x"), st.just(1.5))


@given(st.dictionaries(st.sampled_from(NAMES), VALUES), st.sampled_from([None, True, False]))
def test_shared_facts_is_the_reference(counters: dict[str, FactValue], carrier: bool | None) -> None:
    facts: dict[str, FactValue] = dict(counters)
    if carrier is not None:
        facts["ip.carrier"] = carrier
    got = shared_facts(facts)
    assert got == reference(facts)
    assert list(got) == list(reference(facts))  # the same order: facts.update keeps it
